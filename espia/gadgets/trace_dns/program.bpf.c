// SPDX-License-Identifier: Apache-2.0
/*
 * trace dns: DNS messages over UDP and TCP, IPv4 and IPv6, ports 53 and 5353,
 * in every network namespace.
 *
 * cgroup_skb programs on the cgroup v2 root see every socket's packets, in
 * namespaces that exist now or appear later.  The kernel side only finds DNS
 * messages and copies each (from its header on, DNS_MESSAGE_MAX bytes at
 * most: a longer one is sent cut, with dns_truncated set); user space parses
 * it and pairs responses with queries (see gadget_dns_message in types.h).
 *
 * Over UDP a datagram is a message.  Over TCP each message has a two-byte
 * length prefix and the stream may split it anywhere: each direction of a
 * socket keeps its place in the stream (socket storage), so a message split
 * across segments (its prefix included) is copied whole, and a segment
 * holding several messages gives an event for each.  Segments are taken in
 * sequence order; one seen again (a retransmission) is skipped, what
 * overlaps is skipped, and after a gap (a segment never seen, or a stream
 * joined midway) the next segment is taken to start a message: the message
 * in progress is counted as lost.  A segment that starts more than
 * MAX_MESSAGES messages has the rest counted as lost and the stream resumes
 * at its next segment.
 *
 * Attribution: a sent packet belongs to the current task when that task is in
 * the socket's network namespace (sendmsg runs in the sender); the socket
 * then remembers it as its owner.  A received packet belongs to its socket's
 * owner: on ingress the current task is whoever's softirq delivers it.  A
 * socket also gets an owner when it binds a DNS port (a server receives
 * before it sends), an accepted TCP socket inherits its listener's, and the
 * sockets that existed before the trace started are given their holder by
 * espia once attached (GADGET_SOCKET_OWNERS in net.bpf.h).
 *
 * The task filters (pid, tid, comm) apply to that owner, after the socket
 * learnt it (so a filtered sender still owns its socket for its responses).
 */
#include <espia/gadget.bpf.h>
#include <espia/net.bpf.h>

#define DNS_PORT 53
#define MDNS_PORT 5353
#define DNS_HEADER_SIZE 12
/* Enough for the question and the usual answers; the rest is cut (dns_truncated). */
#define DNS_MESSAGE_MAX 512
/* Messages a TCP segment may start or end (two per segment is already rare). */
#define MAX_MESSAGES 8

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
	gadget_truncated dns_truncated;
	gadget_l4endpoint src;
	gadget_l4endpoint dst;
	gadget_dns_message dns[DNS_MESSAGE_MAX];
};

/*
 * Where one direction of a TCP socket stands: the message being copied
 * (with DNS_MESSAGE_MAX bytes of slack behind it: the verifier cannot relate
 * a copy's length to its offset, but each copy is bounded by the room left,
 * so the slack is never written), the length the prefix announced, how much
 * of it went by, and the half of a prefix split across segments.
 */
struct direction {
	struct event e;
	__u8 slack[DNS_MESSAGE_MAX];
	__u32 next_seq;
	__u32 want;
	__u32 have;   /* bytes of the message that went by */
	__u32 copied; /* of which in e.dns */
	__u8 prefix_high;
	__u8 prefix_half; /* prefix_high holds the prefix's first byte */
	__u8 in_message;  /* a prefix was read: `want` bytes belong to a message */
	__u8 started;     /* next_seq is known */
};

struct stream {
	struct direction sent;
	struct direction received;
};

GADGET_SOCKET_OWNERS();

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct stream);
} streams SEC(".maps");

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
			owner = bpf_sk_storage_get(&gadget_socket_owners, sk, 0,
						   BPF_SK_STORAGE_GET_F_CREATE);
			if (owner)
				*owner = *who;
			return true;
		}
	}
	owner = bpf_sk_storage_get(&gadget_socket_owners, sk, 0, 0);
	if (!owner)
		return false;
	*who = *owner;
	return true;
}

/* What a packet's messages share: set once per packet. */
struct packet_context {
	struct gadget_task_ident who;
	struct gadget_packet packet;
	__u32 netns;
	__u8 type;
};

/*
 * Fills the fields every event of the packet has, and sends the message `e`
 * holds: `copied` bytes of one of `size`.
 */
static __always_inline void send(struct event *e, const struct packet_context *ctx, __u32 size,
				 __u64 copied)
{
	if (copied > DNS_MESSAGE_MAX)
		copied = DNS_MESSAGE_MAX;
	if (copied < DNS_HEADER_SIZE)
		return; /* not a DNS message: no header */
	e->timestamp = bpf_ktime_get_boot_ns();
	e->mntns = ctx->who.mntns;
	e->netns = ctx->netns;
	e->pid = ctx->who.pid;
	e->tid = ctx->who.tid;
	__builtin_memcpy(e->comm, ctx->who.comm, sizeof(e->comm));
	e->type = ctx->type;
	e->proto = ctx->packet.proto;
	e->size = size;
	e->dns_truncated = copied < size;
	e->src = ctx->packet.src;
	e->dst = ctx->packet.dst;
	gadget_output(&events, e, offsetof(struct event, dns) + copied);
}

/* A UDP datagram: one message, copied from the packet into the per-CPU scratch event. */
static __always_inline void datagram(struct __sk_buff *skb, const struct packet_context *ctx)
{
	__u32 offset = ctx->packet.payload_offset, length = ctx->packet.payload_length;
	__u32 present = skb->len > offset ? skb->len - offset : 0;
	__u64 copied; /* 64 bits: the register checked is the one passed */
	struct event *e;

	copied = length < present ? length : present;
	if (copied > DNS_MESSAGE_MAX)
		copied = DNS_MESSAGE_MAX;
	/* Check the bound on the very register passed on (the verifier needs it). */
	asm volatile("" : "+r"(copied));
	if (copied < DNS_HEADER_SIZE || copied > DNS_MESSAGE_MAX)
		return;
	e = gadget_scratch(&scratch);
	if (!e || bpf_skb_load_bytes(skb, offset, e->dns, copied))
		return;
	send(e, ctx, length, copied);
}

/*
 * The bytes of `d`'s message from packet offset `at`: `n` of them go by,
 * those that fit in the copy are copied.
 */
static __always_inline void take(struct __sk_buff *skb, struct direction *d, __u32 at, __u32 n)
{
	__u32 have = d->have;
	__u64 copy, offset; /* 64 bits: the register checked is the one passed */

	d->have = have + n;
	if (have >= DNS_MESSAGE_MAX)
		return;
	copy = DNS_MESSAGE_MAX - have;
	if (copy > n)
		copy = n;
	asm volatile("" : "+r"(copy));
	if (copy < 1 || copy > DNS_MESSAGE_MAX)
		return;
	/* have < DNS_MESSAGE_MAX already: the mask only shows the verifier so (the
	 * barrier keeps the compiler from dropping it as redundant). */
	offset = have;
	asm volatile("" : "+r"(offset));
	if (!bpf_skb_load_bytes(skb, at, &d->e.dns[offset & (DNS_MESSAGE_MAX - 1)], copy))
		d->copied = have + copy;
}

/*
 * One step through a TCP segment, from packet offset `at` to `end`: a
 * length prefix (or its half) and the bytes of the message that follow, up
 * to the message's end (then it is sent) or the segment's.  Returns where
 * the next step starts, or -1 to stop.  A function of its own (global), so
 * that the verifier checks it once rather than once per step of the loop.
 */
__noinline int dns_tcp_step(struct __sk_buff *skb, struct direction *d,
			    const struct packet_context *ctx, __u32 at, __u32 end)
{
	__u8 prefix[2];
	__u32 n;

	if (!skb || !d || !ctx || at >= end)
		return -1;
	if (!d->in_message) {
		if (d->prefix_half) {
			if (bpf_skb_load_bytes(skb, at, prefix, 1))
				return -1;
			d->want = d->prefix_high << 8 | prefix[0];
			d->prefix_half = 0;
			at += 1;
		} else if (end - at >= 2) {
			if (bpf_skb_load_bytes(skb, at, prefix, 2))
				return -1;
			d->want = prefix[0] << 8 | prefix[1];
			at += 2;
		} else {
			if (bpf_skb_load_bytes(skb, at, prefix, 1))
				return -1;
			d->prefix_high = prefix[0];
			d->prefix_half = 1;
			return -1;
		}
		d->have = 0;
		d->copied = 0;
		d->in_message = 1;
	}
	n = d->want - d->have;
	if (n > end - at)
		n = end - at;
	take(skb, d, at, n);
	at += n;
	if (d->have >= d->want) {
		send(&d->e, ctx, d->want, d->copied);
		d->in_message = 0;
	}
	return at;
}

/* A TCP segment of one direction of a stream: its messages, whole or in part. */
static __always_inline void segment(struct __sk_buff *skb, struct direction *d,
				    const struct packet_context *ctx)
{
	bool fresh = !d->started;

	__u32 seq = ctx->packet.seq, length = ctx->packet.payload_length;
	__u32 end = ctx->packet.payload_offset + length;
	__s32 ahead = (__s32)(seq - d->next_seq);
	int at = ctx->packet.payload_offset;

	if (!fresh && ahead < 0) {
		/* Seen already, whole or in part: only what is new is taken. */
		if (-(__s64)ahead >= length)
			return;
		at += -ahead;
	} else if (!fresh && ahead > 0) {
		/* A gap: the message in progress cannot be whole. */
		if (d->in_message)
			gadget_count_lost();
		d->in_message = 0;
		d->prefix_half = 0;
	}
	d->next_seq = seq + length;
	d->started = 1;
	for (int i = 0; i < MAX_MESSAGES && at >= 0; i++)
		at = dns_tcp_step(skb, d, ctx, at, end);
	if (at >= 0 && at < end) {
		/* More messages than one segment may start: lost, and the place with them. */
		gadget_count_lost();
		d->in_message = 0;
		d->prefix_half = 0;
	}
}

static __always_inline int handle(struct __sk_buff *skb, bool egress)
{
	struct packet_context ctx = {};
	struct stream *stream;
	struct bpf_sock *sk;

	if (!gadget_skb_parse(skb, &ctx.packet) ||
	    !(dns_port(ctx.packet.src.port) || dns_port(ctx.packet.dst.port)))
		return 1;
	/* A bare ACK or a datagram without a whole header carries no message. */
	if (!ctx.packet.payload_length ||
	    (ctx.packet.proto == IPPROTO_UDP && ctx.packet.payload_length < DNS_HEADER_SIZE))
		return 1;
	sk = gadget_skb_fullsock(skb);
	if (!sk)
		return 1;
	ctx.netns = gadget_sock_netns(gadget_kernel_sock(sk));
	if (gadget_netns_dropped(ctx.netns))
		return 1;
	if (!attribute(sk, ctx.netns, egress, &ctx.who))
		__builtin_memset(&ctx.who, 0, sizeof(ctx.who));
	if (gadget_should_discard_task(ctx.who.pid, ctx.who.tid, ctx.who.comm))
		return 1;
	ctx.type = egress ? GADGET_PACKET_OUTGOING : skb->pkt_type;
	if (ctx.packet.proto == IPPROTO_UDP) {
		datagram(skb, &ctx);
		return 1;
	}
	stream = bpf_sk_storage_get(&streams, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!stream)
		return 1;
	segment(skb, egress ? &stream->sent : &stream->received, &ctx);
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
	owner = bpf_sk_storage_get(&gadget_socket_owners, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
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
