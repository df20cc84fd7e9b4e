// SPDX-License-Identifier: Apache-2.0
/*
 * trace bind: every bind(2) of an IPv4 or IPv6 socket, failed ones included.
 *
 * The event is sent at the syscall's exit (syscall.bpf.h), when the result
 * is known: the address and port are read from the caller's sockaddr, which
 * is still there; the protocol, options and bound device from the socket
 * behind the descriptor.  After a successful bind the port is the one the
 * kernel bound (its choice, for port 0).
 */
#include <espia/gadget.bpf.h>
#include <espia/net.bpf.h>
#include <espia/process.bpf.h>
#include <espia/syscall.bpf.h>

/*
 * Bits of inet_sock.inet_flags (include/net/inet_sock.h, an anonymous enum,
 * so CO-RE cannot relocate them: they have not moved since the field
 * replaced the bitfields in 6.6; on older kernels these options read 0).
 */
#define INET_FLAGS_FREEBIND_BIT 11
#define INET_FLAGS_TRANSPARENT_BIT 15
#define INET_FLAGS_BIND_ADDRESS_NO_PORT_BIT 18

struct event {
	GADGET_PROCESS_MEMBERS;
	gadget_netns_id netns;
	gadget_ip_proto proto;
	gadget_ip_addr addr;
	__u16 port;
	gadget_bind_opts opts;
	__u32 ifindex;
	gadget_errno err;
};

GADGET_TRACER_MAP(events);
GADGET_TRACER(bind, events, event);

/* --ignore-errors: only the binds that succeeded. */
const volatile bool ignore_errors = false;
GADGET_PARAM(ignore_errors);

static __always_inline __u8 socket_opts(struct sock *sk)
{
	struct inet_sock *inet = (struct inet_sock *)sk;
	unsigned long flags = 0;
	__u8 opts = 0;

	if (BPF_CORE_READ_BITFIELD_PROBED(sk, __sk_common.skc_reuse))
		opts |= GADGET_BIND_REUSEADDR;
	if (BPF_CORE_READ_BITFIELD_PROBED(sk, __sk_common.skc_reuseport))
		opts |= GADGET_BIND_REUSEPORT;
	if (bpf_core_field_exists(inet->inet_flags))
		flags = BPF_CORE_READ(inet, inet_flags);
	if (flags & (1UL << INET_FLAGS_FREEBIND_BIT))
		opts |= GADGET_BIND_FREEBIND;
	if (flags & (1UL << INET_FLAGS_TRANSPARENT_BIT))
		opts |= GADGET_BIND_TRANSPARENT;
	if (flags & (1UL << INET_FLAGS_BIND_ADDRESS_NO_PORT_BIT))
		opts |= GADGET_BIND_ADDRESS_NO_PORT;
	return opts;
}

/* bind(fd, addr, len) returned `ret`. */
static __always_inline void bound(int call, long ret, const struct gadget_syscall_args *args)
{
	struct sockaddr_in6 sa = {};
	struct sock *sk;
	struct event *e;
	__u32 netns;

	if (ignore_errors && ret < 0)
		return;
	/* The longest address first; a short sockaddr at the end of a page is read as IPv4. */
	if (bpf_probe_read_user(&sa, sizeof(sa), (void *)args->a[1]) &&
	    bpf_probe_read_user(&sa, sizeof(struct sockaddr_in), (void *)args->a[1]))
		return;
	if (sa.sin6_family != GADGET_AF_INET && sa.sin6_family != GADGET_AF_INET6)
		return;
	sk = gadget_fd_sock(args->a[0]);
	/* -F netns: the socket's namespace (none known for a descriptor that is not a socket). */
	netns = sk ? gadget_sock_netns(sk) : 0;
	if (gadget_netns_dropped(netns))
		return;
	e = gadget_current_event(&events, event);
	if (!e)
		return;
	if (sa.sin6_family == GADGET_AF_INET)
		gadget_ip_from_v4(e->addr, ((struct sockaddr_in *)&sa)->sin_addr.s_addr);
	else
		__builtin_memcpy(e->addr, &sa.sin6_addr, sizeof(e->addr));
	e->port = bpf_ntohs(sa.sin6_port);
	e->err = ret < 0 ? -ret : 0;
	e->netns = netns;
	e->proto = 0;
	e->opts = 0;
	e->ifindex = 0;
	if (sk) {
		e->proto = BPF_CORE_READ(sk, sk_protocol);
		e->opts = socket_opts(sk);
		e->ifindex = BPF_CORE_READ(sk, __sk_common.skc_bound_dev_if);
		if (!ret)
			e->port = BPF_CORE_READ(sk, __sk_common.skc_num);
	}
	gadget_submit(e);
}

GADGET_SYSCALL(bind, 3, bound, 0)

char LICENSE[] SEC("license") = "GPL";
