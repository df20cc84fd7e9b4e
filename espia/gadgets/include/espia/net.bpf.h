/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Packets and sockets, for network gadgets.
 *
 * cgroup_skb programs on the cgroup v2 root see the packets of every socket
 * of every network namespace, but not always in the right task: on ingress
 * over a veth the current task is often the *sender* on the other side, whose
 * softirq delivers the packet.  So a socket carries its owner (the task that
 * last sent through it, or bound it) and a received packet is attributed
 * through its socket, never through the current task.
 */
#ifndef __ESPIA_NET_BPF_H
#define __ESPIA_NET_BPF_H

#include <bpf/bpf_endian.h>
#include <espia/file.bpf.h>

#define GADGET_ETH_P_IP 0x0800
#define GADGET_ETH_P_IPV6 0x86DD
#define GADGET_AF_INET 2
#define GADGET_AF_INET6 10
#define GADGET_PACKET_OUTGOING 4

/*
 * -F netns:N, pushed into the kernel (0: any).  A network event belongs to
 * its socket's namespace, known where the current task may be anybody, so
 * this is checked on the event's netns, not the current task's.
 */
const volatile __u32 gadget_filter_netns = 0;

static __always_inline bool gadget_netns_dropped(__u32 netns)
{
	return gadget_filter_netns && netns != gadget_filter_netns;
}

/* The process a packet or a socket belongs to. */
struct gadget_task_ident {
	__u64 mntns;
	__u32 netns;
	__u32 pid;
	__u32 tid;
	char comm[TASK_COMM_LEN];
};

/*
 * Two ways for a gadget to remember the owner of each socket, by program type:
 *
 * - GADGET_SOCKET_OWNERS(): socket-local storage (BPF_MAP_TYPE_SK_STORAGE),
 *   for programs handed a struct bpf_sock (cgroup_skb, cgroup/bind): freed
 *   with the socket, inherited by the sockets a listener accepts (CLONE),
 *   and filled by espia at start, once attached, with the processes holding
 *   the sockets that already exist (espia.engine.sockets): a server that
 *   has not sent since espia started is known from its first packet.  The
 *   name is the convention espia finds it by.
 * - GADGET_SOCKET_OWNER_MAP(name): an LRU hash keyed by the kernel's socket
 *   address, for tracepoints and raw tracepoints, which see a struct sock *
 *   (not a pointer the socket-storage helpers take).
 */
#define GADGET_SOCKET_OWNERS()                                           \
	struct {                                                         \
		__uint(type, BPF_MAP_TYPE_SK_STORAGE);                   \
		__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);      \
		__type(key, int);                                        \
		__type(value, struct gadget_task_ident);                 \
	} gadget_socket_owners SEC(".maps")

#define GADGET_SOCKET_OWNERS_MAX 65536
#define GADGET_SOCKET_OWNER_MAP(name)                                    \
	struct {                                                         \
		__uint(type, BPF_MAP_TYPE_LRU_HASH);                     \
		__uint(max_entries, GADGET_SOCKET_OWNERS_MAX);           \
		__type(key, __u64);                                      \
		__type(value, struct gadget_task_ident);                 \
	} name SEC(".maps")

/*
 * The full socket a cgroup_skb packet belongs to, or NULL (a request or
 * time-wait socket, or none).
 */
static __always_inline struct bpf_sock *gadget_skb_fullsock(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;

	return sk ? bpf_sk_fullsock(sk) : NULL;
}

/*
 * The current task, read from its task_struct: cgroup_skb programs have no
 * bpf_get_current_pid_tgid() before Linux 6.x, but they may read kernel memory.
 */
static __always_inline void gadget_current_ident(struct gadget_task_ident *who)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	who->pid = BPF_CORE_READ(task, tgid);
	who->tid = BPF_CORE_READ(task, pid);
	who->mntns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	who->netns = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
	BPF_CORE_READ_STR_INTO(&who->comm, task, comm);
}

/*
 * The kernel's struct sock behind a bpf_sock.  The verifier forbids
 * arithmetic on socket pointers, which CO-RE reads need; copying the pointer
 * through memory turns it into a plain address (root may read addresses).
 */
static __always_inline struct sock *gadget_kernel_sock(struct bpf_sock *sk)
{
	struct sock *kernel = NULL;

	bpf_probe_read_kernel(&kernel, sizeof(kernel), &sk);
	return kernel;
}

static __always_inline __u32 gadget_sock_netns(struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

/*
 * The socket behind file descriptor `fd` of the current task, or NULL (also
 * where the descriptor is no socket: another file's private_data is not one).
 */
static __always_inline struct sock *gadget_fd_sock(int fd)
{
	struct file *file = gadget_fd_file(fd);
	struct socket *sock;

	if (!file || (BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	return sock ? BPF_CORE_READ(sock, sk) : NULL;
}

/* The IPv4-mapped IPv6 form of an IPv4 address (network order). */
static __always_inline void gadget_ip_from_v4(gadget_ip_addr addr, __u32 v4)
{
	__builtin_memset(addr, 0, 10);
	addr[10] = 0xff;
	addr[11] = 0xff;
	__builtin_memcpy(&addr[12], &v4, 4);
}

/*
 * The local and remote endpoints of an inet socket; returns its family
 * (GADGET_AF_INET or GADGET_AF_INET6; anything else leaves them unset).
 */
static __always_inline __u16 gadget_sock_endpoints(struct sock *sk, gadget_l4endpoint *local,
						   gadget_l4endpoint *remote)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	if (family == GADGET_AF_INET) {
		gadget_ip_from_v4(local->addr, BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr));
		gadget_ip_from_v4(remote->addr, BPF_CORE_READ(sk, __sk_common.skc_daddr));
	} else if (family == GADGET_AF_INET6) {
		BPF_CORE_READ_INTO(&local->addr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&remote->addr, sk, __sk_common.skc_v6_daddr);
	} else {
		return family;
	}
	local->port = BPF_CORE_READ(sk, __sk_common.skc_num);
	remote->port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	return family;
}

/* What gadget_skb_parse() found in a packet. */
struct gadget_packet {
	gadget_l4endpoint src;
	gadget_l4endpoint dst;
	__u32 payload_offset; /* from the network header */
	__u32 payload_length;
	__u32 seq;            /* TCP: the sequence number of the payload's first byte */
	__u8 proto;           /* IPPROTO_TCP or IPPROTO_UDP */
};

#define GADGET_IPV6_HOPOPTS 0
#define GADGET_IPV6_ROUTING 43
#define GADGET_IPV6_FRAGMENT 44
#define GADGET_IPV6_DSTOPTS 60
/* Extension headers followed before giving up (RFC 8200 expects a handful at most). */
#define GADGET_IPV6_MAX_EXTENSIONS 6

/*
 * Follows the IPv6 extension headers from *offset (just past the fixed header),
 * `*next` the first one's type: on return they point at the transport header.
 * False for a fragment past the first (no transport header: it is not
 * parsed, as for an IPv4 fragment past the first) or too many headers.
 * Hop-by-hop, routing and destination options say their length in 8-byte
 * units, not counting the first 8; a fragment header is 8 bytes.
 */
static __always_inline bool gadget_ipv6_skip_extensions(struct __sk_buff *skb, __u32 *offset,
							 __u8 *next)
{
	for (int i = 0; i < GADGET_IPV6_MAX_EXTENSIONS; i++) {
		__u8 header[4];

		if (*next != GADGET_IPV6_HOPOPTS && *next != GADGET_IPV6_ROUTING &&
		    *next != GADGET_IPV6_DSTOPTS && *next != GADGET_IPV6_FRAGMENT)
			return true;
		if (bpf_skb_load_bytes(skb, *offset, header, sizeof(header)))
			return false;
		if (*next == GADGET_IPV6_FRAGMENT) {
			/* Offset: the upper 13 bits of bytes 2-3. */
			if ((header[2] << 8 | header[3]) & 0xfff8)
				return false;
			*offset += 8;
		} else {
			*offset += (header[1] + 1) * 8;
		}
		*next = header[0];
	}
	return false;
}

/*
 * Reads the IP and TCP/UDP headers of a cgroup_skb packet (data starts at
 * the network header), IPv6 extension headers followed.  cgroup_skb sees
 * datagrams whole (egress runs before fragmentation, ingress after
 * reassembly), so a fragment is rare here; one past the first gives false,
 * as any other protocol does.
 */
static __always_inline bool gadget_skb_parse(struct __sk_buff *skb, struct gadget_packet *p)
{
	__u32 l4, total;
	__u8 l4_header[16]; /* ports, then for TCP seq, ack and the data offset */

	if (skb->protocol == bpf_htons(GADGET_ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			return false;
		if (ip.frag_off & bpf_htons(0x1fff))
			return false;
		p->proto = ip.protocol;
		l4 = ip.ihl * 4;
		total = bpf_ntohs(ip.tot_len);
		gadget_ip_from_v4(p->src.addr, ip.saddr);
		gadget_ip_from_v4(p->dst.addr, ip.daddr);
	} else if (skb->protocol == bpf_htons(GADGET_ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return false;
		p->proto = ip6.nexthdr;
		l4 = sizeof(ip6);
		if (!gadget_ipv6_skip_extensions(skb, &l4, &p->proto))
			return false;
		total = sizeof(ip6) + bpf_ntohs(ip6.payload_len);
		__builtin_memcpy(p->src.addr, &ip6.saddr, 16);
		__builtin_memcpy(p->dst.addr, &ip6.daddr, 16);
	} else {
		return false;
	}
	if (p->proto == IPPROTO_UDP) {
		if (bpf_skb_load_bytes(skb, l4, l4_header, sizeof(struct udphdr)))
			return false;
		p->payload_offset = l4 + sizeof(struct udphdr);
		p->seq = 0;
	} else if (p->proto == IPPROTO_TCP) {
		if (bpf_skb_load_bytes(skb, l4, l4_header, sizeof(l4_header)))
			return false;
		/* The data offset is the high nibble of byte 12 of the TCP header. */
		p->payload_offset = l4 + (l4_header[12] >> 4) * 4;
		p->seq = bpf_ntohl(*(__u32 *)&l4_header[4]);
	} else {
		return false;
	}
	p->src.port = l4_header[0] << 8 | l4_header[1];
	p->dst.port = l4_header[2] << 8 | l4_header[3];
	p->payload_length = total > p->payload_offset ? total - p->payload_offset : 0;
	return true;
}

#endif /* __ESPIA_NET_BPF_H */
