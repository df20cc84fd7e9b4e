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

/* The socket behind file descriptor `fd` of the current task, or NULL. */
static __always_inline struct sock *gadget_fd_sock(int fd)
{
	struct file *file = gadget_fd_file(fd);
	struct socket *sock;

	if (!file)
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
	__u8 proto;           /* IPPROTO_TCP or IPPROTO_UDP */
};

/*
 * Reads the IP and TCP/UDP headers of a cgroup_skb packet (data starts at
 * the network header).  IPv6 extension headers and IPv4 fragments past the
 * first are not followed: false, as for any other protocol.
 */
static __always_inline bool gadget_skb_parse(struct __sk_buff *skb, struct gadget_packet *p)
{
	__u32 l4, total;
	__u16 ports[2];

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
		total = sizeof(ip6) + bpf_ntohs(ip6.payload_len);
		__builtin_memcpy(p->src.addr, &ip6.saddr, 16);
		__builtin_memcpy(p->dst.addr, &ip6.daddr, 16);
	} else {
		return false;
	}
	if (p->proto != IPPROTO_UDP && p->proto != IPPROTO_TCP)
		return false;
	if (bpf_skb_load_bytes(skb, l4, ports, sizeof(ports)))
		return false;
	p->src.port = bpf_ntohs(ports[0]);
	p->dst.port = bpf_ntohs(ports[1]);
	if (p->proto == IPPROTO_UDP) {
		p->payload_offset = l4 + sizeof(struct udphdr);
	} else {
		__u8 doff;

		/* The data offset is the high nibble of byte 12 of the TCP header. */
		if (bpf_skb_load_bytes(skb, l4 + 12, &doff, 1))
			return false;
		p->payload_offset = l4 + (doff >> 4) * 4;
	}
	p->payload_length = total > p->payload_offset ? total - p->payload_offset : 0;
	return true;
}

#endif /* __ESPIA_NET_BPF_H */
