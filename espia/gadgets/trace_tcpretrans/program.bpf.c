// SPDX-License-Identifier: Apache-2.0
/*
 * trace tcpretrans: every TCP retransmission (of a segment, or of a
 * SYN-ACK), IPv4 and IPv6, with the process that owns the socket.
 *
 * Retransmissions run in softirq or timer context, where the current task
 * is anybody.  So a socket's owner is recorded where the context is right:
 * tcp_sendmsg_locked runs in the task that sends, and its raw form gives
 * the socket.  A socket that has sent nothing since the trace started (a
 * SYN, a listener's SYN-ACK) has no owner yet: PID 0.  The in-kernel
 * filters are applied to the sender there, so a filtered-out process never
 * becomes an owner.  A TCP connection belongs to a network namespace, so
 * the container columns are the pod's (gadget.yaml joins by netns; the
 * owner's mount namespace is shown as it is).
 *
 * A tail loss probe that resends a segment is a LOSS PROBE: the kernel has
 * no tracepoint of its own for probes, but tcp_send_loss_probe() resends
 * through __tcp_retransmit_skb(), where tcp:tcp_retransmit_skb fires, and
 * the socket then tells it from other resends (retransmit_kind()).  A probe
 * that sends new data instead is a first transmission: not shown.
 */
#include <espia/gadget.bpf.h>
#include <espia/net.bpf.h>

#define TCP_SYN_RECV_STATE 3 /* include/net/tcp_states.h */
#define TCPHDR_SYN_ACK 0x12  /* include/net/tcp.h: TCPHDR_SYN | TCPHDR_ACK */
#define ICSK_TIME_LOSS_PROBE 5 /* include/net/inet_connection_sock.h, since 3.10 */

/* TYPE (gadget_tcp_retransmit_kind, espia/semantic/tcp.py). */
#define KIND_RETRANSMIT 0
#define KIND_SYNACK 1
#define KIND_LOSS_PROBE 2

struct event {
	gadget_timestamp timestamp;
	gadget_netns_id netns;
	gadget_mntns_id mntns; /* the owner's; containers are joined by netns (gadget.yaml) */
	gadget_pid pid;
	gadget_tid tid;
	gadget_comm comm[TASK_COMM_LEN];
	gadget_l4endpoint src;
	gadget_l4endpoint dst;
	gadget_tcp_state state;
	gadget_tcp_flags tcpflags;
	gadget_tcp_retransmit_kind type;
	__u16 segs;
	gadget_errno err;
};

/* The task that last sent through each socket. */
GADGET_SOCKET_OWNER_MAP(owners);

GADGET_TRACER_MAP(events);
GADGET_TRACER(tcpretrans, events, event);

/* tcp_sendmsg_locked(struct sock *sk, struct msghdr *msg, struct sk_buff *skb, int size_goal) */
SEC("raw_tracepoint/tcp_sendmsg_locked")
int tcp_send(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 key = ctx->args[0];
	struct gadget_task_ident who = {}, *owner;

	if (gadget_should_discard_current())
		return 0;
	/* Most sends are by the socket's owner already known: a lookup, no write. */
	owner = bpf_map_lookup_elem(&owners, &key);
	if (owner && owner->tid == (__u32)bpf_get_current_pid_tgid())
		return 0;
	gadget_current_ident(&who);
	bpf_map_update_elem(&owners, &key, &who, BPF_ANY);
	return 0;
}

/*
 * One event for socket `sk`: the endpoints as the tracepoint copied them
 * (IPv4 as IPv4-mapped IPv6 already; a ctx array is read through the
 * helper, the verifier refuses loads from a ctx pointer plus an offset).
 */
static __always_inline void send(struct sock *sk, const __u8 *saddr, const __u8 *daddr,
				 __u16 sport, __u16 dport, __u8 state, __u8 flags, __u8 type,
				 __u16 segs, int err)
{
	__u64 key = (__u64)sk;
	struct gadget_task_ident *owner = bpf_map_lookup_elem(&owners, &key);
	__u32 netns = gadget_sock_netns(sk);
	struct event *e;

	if (gadget_netns_dropped(netns))
		return;
	e = gadget_reserve(&events, sizeof(*e));
	if (!e)
		return;
	e->timestamp = bpf_ktime_get_boot_ns();
	e->netns = netns;
	if (owner) {
		e->mntns = owner->mntns;
		e->pid = owner->pid;
		e->tid = owner->tid;
		__builtin_memcpy(e->comm, owner->comm, sizeof(e->comm));
	} else {
		e->mntns = 0;
		e->pid = 0;
		e->tid = 0;
		__builtin_memset(e->comm, 0, sizeof(e->comm));
	}
	bpf_probe_read_kernel(e->src.addr, sizeof(e->src.addr), saddr);
	bpf_probe_read_kernel(e->dst.addr, sizeof(e->dst.addr), daddr);
	e->src.port = sport;
	e->dst.port = dport;
	e->state = state;
	e->tcpflags = flags;
	e->type = type;
	e->segs = segs;
	e->err = err < 0 ? -err : 0;
	gadget_submit(e);
}

/*
 * Whether the resend of `cb`'s segment by `sk` is a tail loss probe.  The
 * loss-probe timer calls tcp_send_loss_probe() with icsk_pending still
 * ICSK_TIME_LOSS_PROBE, and the probe records tlp_high_seq only after its
 * resend; it resends the last segment sent (its end is snd_nxt), cut to one
 * MSS.  A fast retransmit can run while the probe timer is pending (an ACK
 * that reports a hole), so the timer alone does not tell: the hole is not the
 * last segment, which no later segment's delivery can show lost.
 */
static __always_inline __u8 retransmit_kind(struct sock *sk, struct tcp_skb_cb *cb)
{
	struct inet_connection_sock *icsk = (void *)sk;
	struct tcp_sock *tp = (void *)sk;

	if (BPF_CORE_READ(icsk, icsk_pending) == ICSK_TIME_LOSS_PROBE &&
	    !BPF_CORE_READ(tp, tlp_high_seq) && BPF_CORE_READ(cb, tcp_gso_segs) <= 1 &&
	    BPF_CORE_READ(cb, end_seq) == BPF_CORE_READ(tp, snd_nxt))
		return KIND_LOSS_PROBE;
	return KIND_RETRANSMIT;
}

SEC("tracepoint/tcp/tcp_retransmit_skb")
int tcp_retransmit(struct trace_event_raw_tcp_retransmit_skb *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx->skbaddr;
	/* TCP_SKB_CB(skb): the TCP part of the skb's control buffer. */
	struct tcp_skb_cb *cb = (void *)skb + bpf_core_field_offset(struct sk_buff, cb);
	int err = 0;

	if (bpf_core_field_exists(ctx->err))
		err = ctx->err;
	send((struct sock *)ctx->skaddr, ctx->saddr_v6, ctx->daddr_v6, ctx->sport, ctx->dport,
	     ctx->state, BPF_CORE_READ(cb, tcp_flags), retransmit_kind((struct sock *)ctx->skaddr, cb),
	     BPF_CORE_READ(cb, tcp_gso_segs), err);
	return 0;
}

SEC("tracepoint/tcp/tcp_retransmit_synack")
int tcp_retransmit_synack(struct trace_event_raw_tcp_retransmit_synack *ctx)
{
	send((struct sock *)ctx->skaddr, ctx->saddr_v6, ctx->daddr_v6, ctx->sport, ctx->dport,
	     TCP_SYN_RECV_STATE, TCPHDR_SYN_ACK, KIND_SYNACK, 1, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
