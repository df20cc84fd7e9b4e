// SPDX-License-Identifier: Apache-2.0
/*
 * trace dns: DNS messages over UDP and TCP, IPv4 and IPv6, ports 53 and 5353,
 * in every network namespace.
 *
 * cgroup_skb programs on the cgroup v2 root see every socket's packets, in
 * namespaces that exist now or appear later.  The kernel side only finds DNS
 * packets and copies the message (from its header on, the TCP length prefix
 * skipped); user space parses it and pairs responses with queries (see
 * gadget_dns_message in types.h).
 *
 * Attribution: a sent packet belongs to the current task when that task is in
 * the socket's network namespace (sendmsg runs in the sender); the socket
 * then remembers it as its owner.  A received packet belongs to its socket's
 * owner: on ingress the current task is whoever's softirq delivers it.  A
 * socket also gets an owner when it binds a DNS port (a server receives
 * before it sends), and an accepted TCP socket inherits its listener's.
 *
 * The task filters (pid, tid, comm) apply to that owner, after the socket
 * learnt it (so a filtered sender still owns its socket for its responses).
 */
#include <espia/gadget.bpf.h>
#include <espia/net.bpf.h>

#define DNS_PORT 53
#define MDNS_PORT 5353
#define DNS_HEADER_SIZE 12
#define TCP_LENGTH_PREFIX 2
/* Enough for the question and the usual answers; the rest is cut. */
#define DNS_MESSAGE_MAX 512

struct event {
	gadget_timestamp timestamp;
	gadget_mntns_id mntns; /* of the process; containers are joined by netns (gadget.yaml) */
	gadget_netns_id netns;
	gadget_pid pid;
	gadget_tid tid;
	gadget_comm comm[TASK_COMM_LEN];
	gadget_packet_type type;
	gadget_ip_proto proto;
	__u16 size;
	gadget_l4endpoint src;
	gadget_l4endpoint dst;
	gadget_dns_message dns[DNS_MESSAGE_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct gadget_task_ident);
} owners SEC(".maps");

GADGET_TRACER_MAP(events);
GADGET_SCRATCH(event, scratch);
GADGET_TRACER(dns, events, event);

static __always_inline bool dns_port(__u16 port)
{
	return port == DNS_PORT || port == MDNS_PORT;
}

/* Who the packet belongs to (see the top of this file); false if unknown. */
static __always_inline bool attribute(struct bpf_sock *sk, __u32 netns, bool egress,
				      struct gadget_task_ident *who)
{
	struct gadget_task_ident *owner;

	if (egress) {
		gadget_current_ident(who);
		if (who->netns == netns) {
			owner = bpf_sk_storage_get(&owners, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
			if (owner)
				*owner = *who;
			return true;
		}
	}
	owner = bpf_sk_storage_get(&owners, sk, 0, 0);
	if (!owner)
		return false;
	*who = *owner;
	return true;
}

static __always_inline int handle(struct __sk_buff *skb, bool egress)
{
	struct gadget_task_ident who = {};
	struct gadget_packet packet;
	struct bpf_sock *sk;
	struct event *e;
	__u32 offset, length;
	__u64 copied; /* 64 bits: the register checked is the one passed */
	__u32 netns;

	if (!gadget_skb_parse(skb, &packet) ||
	    !(dns_port(packet.src.port) || dns_port(packet.dst.port)))
		return 1;
	offset = packet.payload_offset;
	length = packet.payload_length;
	if (packet.proto == IPPROTO_TCP) {
		/* A segment without a whole header (or a bare ACK) carries no message. */
		if (length < TCP_LENGTH_PREFIX + DNS_HEADER_SIZE)
			return 1;
		offset += TCP_LENGTH_PREFIX;
		length -= TCP_LENGTH_PREFIX;
	}
	if (length < DNS_HEADER_SIZE)
		return 1;
	sk = skb->sk;
	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return 1;
	netns = gadget_sock_netns(gadget_kernel_sock(sk));
	if (gadget_netns_dropped(netns))
		return 1;
	e = gadget_scratch(&scratch);
	if (!e)
		return 1;
	if (!attribute(sk, netns, egress, &who))
		__builtin_memset(&who, 0, sizeof(who));
	if (gadget_should_discard_task(who.pid, who.tid, who.comm))
		return 1;
	e->timestamp = bpf_ktime_get_boot_ns();
	e->mntns = who.mntns;
	e->netns = netns;
	e->pid = who.pid;
	e->tid = who.tid;
	__builtin_memcpy(e->comm, who.comm, sizeof(e->comm));
	e->type = egress ? GADGET_PACKET_OUTGOING : skb->pkt_type;
	e->proto = packet.proto;
	e->size = length;
	e->src = packet.src;
	e->dst = packet.dst;
	copied = length < DNS_MESSAGE_MAX ? length : DNS_MESSAGE_MAX;
	/* Check the bound on the very register passed on (the verifier needs it). */
	asm volatile("" : "+r"(copied));
	if (copied < DNS_HEADER_SIZE || copied > DNS_MESSAGE_MAX)
		return 1;
	if (bpf_skb_load_bytes(skb, offset, e->dns, copied))
		return 1;
	gadget_output(&events, e, offsetof(struct event, dns) + copied);
	return 1;
}

SEC("cgroup_skb/egress")
int dns_egress(struct __sk_buff *skb)
{
	return handle(skb, true);
}

SEC("cgroup_skb/ingress")
int dns_ingress(struct __sk_buff *skb)
{
	return handle(skb, false);
}

/* A server that binds a DNS port owns its socket before it sends anything. */
static __always_inline int bound(struct bpf_sock_addr *ctx)
{
	struct gadget_task_ident *owner;

	if (!dns_port(bpf_ntohs(ctx->user_port)))
		return 1;
	owner = bpf_sk_storage_get(&owners, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (owner)
		gadget_current_ident(owner);
	return 1;
}

SEC("cgroup/bind4")
int dns_bind4(struct bpf_sock_addr *ctx)
{
	return bound(ctx);
}

SEC("cgroup/bind6")
int dns_bind6(struct bpf_sock_addr *ctx)
{
	return bound(ctx);
}

char LICENSE[] SEC("license") = "GPL";
