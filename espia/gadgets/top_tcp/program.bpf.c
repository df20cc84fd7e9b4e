// SPDX-License-Identifier: Apache-2.0
/*
 * top tcp: bytes sent and received per process and TCP connection, per
 * interval.  The sock:sock_send_length and sock:sock_recv_length tracepoints
 * fire in the socket layer (sock_sendmsg, sock_recvmsg), in the context of
 * the process that sent or received, with the bytes the call moved: every
 * path that reaches a socket (send, write, sendfile and splice, io_uring)
 * passes there.  A peek (MSG_PEEK) moves nothing and is not counted.
 */
#include <espia/gadget.bpf.h>
#include <espia/net.bpf.h>
#include <espia/interval.bpf.h>

#define IPPROTO_TCP 6
#define MSG_PEEK 2

struct conn_key {
	gadget_pid pid;
	gadget_ip_addr saddr;
	gadget_ip_addr daddr;
	__u16 sport;
	__u16 dport;
	__u8 ip;
};

struct conn_stats {
	__u64 sent;
	__u64 received;
	gadget_mntns_id mntns;
	gadget_netns_id netns;
	gadget_comm comm[TASK_COMM_LEN];
};

GADGET_INTERVAL(conns, conn_key, conn_stats);

static __always_inline void counted(struct trace_event_raw_sock_msg_length *ctx, bool sent)
{
	struct sock *sk = ctx->sk;
	gadget_l4endpoint local = {}, remote = {};
	struct conn_key key = {};
	struct conn_stats init = {};
	struct conn_stats *stats;
	__u32 netns;
	__u16 family;

	if (ctx->protocol != IPPROTO_TCP || ctx->ret <= 0 || (!sent && (ctx->flags & MSG_PEEK)))
		return;
	if (gadget_should_discard_current())
		return;
	netns = gadget_sock_netns(sk);
	if (gadget_netns_dropped(netns))
		return;
	family = gadget_sock_endpoints(sk, &local, &remote);
	if (family != GADGET_AF_INET && family != GADGET_AF_INET6)
		return;
	key.pid = bpf_get_current_pid_tgid() >> 32;
	__builtin_memcpy(key.saddr, local.addr, sizeof(key.saddr));
	__builtin_memcpy(key.daddr, remote.addr, sizeof(key.daddr));
	key.sport = local.port;
	key.dport = remote.port;
	key.ip = family == GADGET_AF_INET ? 4 : 6;
	stats = gadget_interval_find(&conns, &key);
	if (!stats) {
		init.mntns = gadget_current_mntns();
		init.netns = netns;
		bpf_get_current_comm(init.comm, sizeof(init.comm));
		stats = gadget_interval_entry(&conns, &key, &init);
		if (!stats)
			return;
	}
	if (sent)
		__sync_fetch_and_add(&stats->sent, ctx->ret);
	else
		__sync_fetch_and_add(&stats->received, ctx->ret);
}

SEC("tracepoint/sock/sock_send_length")
int sock_send_length(struct trace_event_raw_sock_msg_length *ctx)
{
	counted(ctx, true);
	return 0;
}

SEC("tracepoint/sock/sock_recv_length")
int sock_recv_length(struct trace_event_raw_sock_msg_length *ctx)
{
	counted(ctx, false);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
