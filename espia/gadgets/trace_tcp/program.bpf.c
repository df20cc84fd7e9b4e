// SPDX-License-Identifier: Apache-2.0
/*
 * trace tcp: TCP connect (with its outcome), accept and close, IPv4 and IPv6.
 *
 * Without kprobes, the socket state tracepoint (sock/inet_sock_set_state)
 * carries most of it, at the cost of one program run per state change:
 *
 * - connect: CLOSE -> SYN_SENT runs in the connecting task (connect(2)),
 *   which is remembered for the socket; the event is sent at the outcome,
 *   SYN_SENT -> ESTABLISHED (ERR 0) or SYN_SENT -> CLOSE (ERR from sk_err:
 *   ECONNREFUSED, ETIMEDOUT...), which run in softirq or timer context:
 *   the remembered task is the one shown;
 * - close: ESTABLISHED -> FIN_WAIT1 and CLOSE_WAIT -> LAST_ACK run in
 *   close(2) or shutdown(2), in the closing task; ESTABLISHED or CLOSE_WAIT
 *   -> CLOSE is an abort or a reset (ERR ECONNRESET...), shown with the
 *   socket's remembered task when there is one;
 * - accept: no state changes in the accepting task (the handshake ends in
 *   softirq), so accept(2) and accept4(2) are traced at their exit, where the
 *   new descriptor leads to the socket.
 */
#include <espia/gadget.bpf.h>
#include <espia/net.bpf.h>


enum tcp_event_type {
	connect = 1,
	accept = 2,
	close = 3,
};

struct event {
	gadget_timestamp timestamp;
	gadget_mntns_id mntns;
	gadget_netns_id netns;
	enum tcp_event_type type;
	gadget_pid pid;
	gadget_tid tid;
	gadget_comm comm[TASK_COMM_LEN];
	__u8 ip;
	gadget_ip_addr saddr;
	gadget_ip_addr daddr;
	__u16 sport;
	__u16 dport;
	gadget_errno err;
};

/* The task each socket belongs to, from connect(2) or accept(2) on. */
GADGET_SOCKET_OWNER_MAP(owners);

GADGET_TRACER_MAP(events);
GADGET_TRACER(tcp, events, event);

/* Sends one event; `local` and `remote` as gadget_sock_endpoints() gives them. */
static __always_inline void send(enum tcp_event_type type, struct sock *sk, __u16 family,
				 const gadget_l4endpoint *local, const gadget_l4endpoint *remote,
				 const struct gadget_task_ident *who, __u32 err)
{
	struct event *e;
	__u32 netns;

	if (family != GADGET_AF_INET && family != GADGET_AF_INET6)
		return;
	netns = gadget_sock_netns(sk);
	if (gadget_netns_dropped(netns))
		return;
	e = gadget_reserve(&events, sizeof(*e));
	if (!e)
		return;
	e->timestamp = bpf_ktime_get_boot_ns();
	e->mntns = who->mntns;
	e->netns = netns;
	e->type = type;
	e->pid = who->pid;
	e->tid = who->tid;
	__builtin_memcpy(e->comm, who->comm, sizeof(e->comm));
	e->ip = family == GADGET_AF_INET ? 4 : 6;
	__builtin_memcpy(e->saddr, local->addr, sizeof(e->saddr));
	__builtin_memcpy(e->daddr, remote->addr, sizeof(e->daddr));
	e->sport = local->port;
	e->dport = remote->port;
	e->err = err;
	gadget_submit(e);
}

/* The current task, if the in-kernel filters keep it. */
static __always_inline bool current_kept(struct gadget_task_ident *who)
{
	if (gadget_should_discard_current())
		return false;
	gadget_current_ident(who);
	return true;
}

SEC("tracepoint/sock/inet_sock_set_state")
int tcp_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	struct sock *sk = (struct sock *)ctx->skaddr;
	__u64 key = (__u64)ctx->skaddr;
	struct gadget_task_ident who = {}, *owner;
	int old = ctx->oldstate, new = ctx->newstate;
	gadget_l4endpoint local = {}, remote = {};
	__u16 family = ctx->family;

	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	/*
	 * The tracepoint's copy of the endpoints (IPv4 already IPv4-mapped): by
	 * the time a socket enters CLOSE, its local port is released from it.
	 * (A ctx array is read through the helper: the verifier refuses loads
	 * from a ctx pointer plus an offset.)
	 */
	bpf_probe_read_kernel(local.addr, sizeof(local.addr), ctx->saddr_v6);
	bpf_probe_read_kernel(remote.addr, sizeof(remote.addr), ctx->daddr_v6);
	local.port = ctx->sport;
	remote.port = ctx->dport;
	if (old == TCP_CLOSE && new == TCP_SYN_SENT) {
		if (current_kept(&who))
			bpf_map_update_elem(&owners, &key, &who, BPF_ANY);
		return 0;
	}
	owner = bpf_map_lookup_elem(&owners, &key);
	if (old == TCP_SYN_SENT && (new == TCP_ESTABLISHED || new == TCP_CLOSE)) {
		if (owner)
			send(connect, sk, family, &local, &remote, owner,
			     new == TCP_CLOSE ? BPF_CORE_READ(sk, sk_err) : 0);
	} else if ((old == TCP_ESTABLISHED && new == TCP_FIN_WAIT1) ||
		   (old == TCP_CLOSE_WAIT && new == TCP_LAST_ACK)) {
		if (current_kept(&who))
			send(close, sk, family, &local, &remote, &who, 0);
	} else if ((old == TCP_ESTABLISHED || old == TCP_CLOSE_WAIT) && new == TCP_CLOSE) {
		if (owner)
			send(close, sk, family, &local, &remote, owner, BPF_CORE_READ(sk, sk_err));
		else if (current_kept(&who))
			send(close, sk, family, &local, &remote, &who, BPF_CORE_READ(sk, sk_err));
	}
	if (new == TCP_CLOSE && owner)
		bpf_map_delete_elem(&owners, &key);
	return 0;
}

static __always_inline int accepted(long fd)
{
	struct gadget_task_ident who = {};
	gadget_l4endpoint local = {}, remote = {};
	__u16 family;
	struct sock *sk;
	__u64 key;

	if (fd < 0 || !current_kept(&who))
		return 0;
	sk = gadget_fd_sock(fd);
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	key = (__u64)sk;
	bpf_map_update_elem(&owners, &key, &who, BPF_ANY);
	family = gadget_sock_endpoints(sk, &local, &remote);
	send(accept, sk, family, &local, &remote, &who, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int tcp_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return accepted(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int tcp_accept(struct trace_event_raw_sys_exit *ctx)
{
	return accepted(ctx->ret);
}

char LICENSE[] SEC("license") = "GPL";
