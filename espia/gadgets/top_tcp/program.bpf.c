// SPDX-License-Identifier: Apache-2.0
/*
 * top tcp: bytes sent and received per process and TCP connection, per
 * interval.  The sock:sock_send_length and sock:sock_recv_length tracepoints
 * fire in the socket layer (sock_sendmsg, sock_recvmsg), in the context of
 * the process that sent or received, with the bytes the call moved: every
 * path that reaches a socket (send, write, sendfile and splice, io_uring)
 * passes there.  A peek (MSG_PEEK) moves nothing and is not counted, nor
 * is a read of the error queue (MSG_ERRQUEUE): what it returns is not the
 * peer's bytes but the kernel's notices, such as the copy of a sent packet
 * a transmit timestamp comes with.
 *
 * One way in does not pass there: TCP hands what it received to a pipe
 * (splice) with tcp_splice_read, which reads the
 * socket's queue directly.  Those bytes are counted at the exit of the
 * syscall, when the descriptor it read from is a TCP socket (a socket
 * without its own splice_read reads through sock_recvmsg, and is counted
 * there already).  io_uring's splice is not a syscall, and is not counted.
 */
#include <espia/gadget.bpf.h>
#include <espia/net.bpf.h>
#include <espia/syscall.bpf.h>
#include <espia/interval.bpf.h>

#define IPPROTO_TCP 6
#define MSG_PEEK 2
#define MSG_ERRQUEUE 0x2000

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

/* `bytes` moved by the current process over `sk`, a TCP socket, the filters passed. */
static __always_inline void counted(struct sock *sk, long bytes, bool sent)
{
	gadget_l4endpoint local = {}, remote = {};
	struct conn_key key = {};
	struct conn_stats init = {};
	struct conn_stats *stats;
	__u32 netns;
	__u16 family;

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
		__sync_fetch_and_add(&stats->sent, bytes);
	else
		__sync_fetch_and_add(&stats->received, bytes);
}

static __always_inline void moved(struct trace_event_raw_sock_msg_length *ctx, bool sent)
{
	if (ctx->protocol != IPPROTO_TCP || ctx->ret <= 0)
		return;
	if (!sent && (ctx->flags & (MSG_PEEK | MSG_ERRQUEUE)))
		return;
	if (gadget_should_discard_current())
		return;
	counted(ctx->sk, ctx->ret, sent);
}

/*
 * A splice that moved `ret` bytes from descriptor args->a[0].  (sendfile
 * refuses a socket to read from: splice is the only way.)
 */
static __always_inline void spliced(int call, long ret, const struct gadget_syscall_args *args)
{
	struct sock *sk;

	if (ret <= 0)
		return;
	sk = gadget_fd_sock((int)args->a[0]);
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return;
	counted(sk, ret, false);
}

SEC("tracepoint/sock/sock_send_length")
int sock_send_length(struct trace_event_raw_sock_msg_length *ctx)
{
	moved(ctx, true);
	return 0;
}

SEC("tracepoint/sock/sock_recv_length")
int sock_recv_length(struct trace_event_raw_sock_msg_length *ctx)
{
	moved(ctx, false);
	return 0;
}

/* splice(fd_in, ...): only the descriptor read from matters. */
GADGET_SYSCALL(splice, 1, spliced, 0)

char LICENSE[] SEC("license") = "GPL";
