// SPDX-License-Identifier: Apache-2.0
/*
 * trace sni: the TLS ClientHello of every TCP connection a process opens,
 * IPv4 and IPv6, any port; user space reads the server name (SNI), the
 * version offered and ALPN from it (gadget_tls_client_hello).
 *
 * A cgroup_skb egress program on the cgroup v2 root sees every socket's
 * sent packets, in every network namespace.  A segment whose payload starts
 * a TLS handshake record holding a ClientHello starts a copy in the
 * socket's storage; the socket's next segments (in TCP order: each must
 * start where the last ended) are appended until the record is whole, or
 * HELLO_MAX bytes are, and the copy is sent as one event.  So a ClientHello
 * split across segments (a large one, or one the client writes in pieces)
 * is read whole.
 *
 * Attribution as in trace dns: the first segment of a ClientHello is sent
 * from connect(2)'s or send(2)'s context, where the current task is the
 * sender if it is in the socket's network namespace; the in-kernel filters
 * are applied to it there (bpf_get_current_pid_tgid() and friends in
 * cgroup_skb programs: Linux 6.x).  Otherwise the owner is unknown: PID 0.
 */
#include <espia/gadget.bpf.h>
#include <espia/net.bpf.h>

/* The server name is near the start; 2 KiB holds the usual ClientHello whole. */
#define HELLO_MAX 2048
/* A ClientHello spread over more segments than this is sent as far as it got. */
#define MAX_SEGMENTS 8
#define TLS_RECORD_HEADER 5
#define TLS_HANDSHAKE 0x16
#define TLS_CLIENT_HELLO 0x01

struct event {
	gadget_timestamp timestamp;
	gadget_mntns_id mntns; /* the sender's; containers are joined by netns (gadget.yaml) */
	gadget_netns_id netns;
	gadget_pid pid;
	gadget_tid tid;
	gadget_comm comm[TASK_COMM_LEN];
	gadget_l4endpoint src;
	gadget_l4endpoint dst;
	__u16 size;
	__u8 segments;
	gadget_tls_client_hello hello[HELLO_MAX];
};

/*
 * A ClientHello being copied: the event, HELLO_MAX bytes of slack behind it
 * (the verifier cannot relate a copy's length to its offset, but the slack
 * is never written, each copy being bounded by the room left), and where
 * the copy stands.
 */
struct hello_copy {
	struct event e;
	__u8 slack[HELLO_MAX];
	__u32 next_seq;
	__u32 want;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct hello_copy);
} copies SEC(".maps");

/*
 * Sockets whose ClientHello was sent already: a resend of it (the first copy
 * was lost on the way) is not a second ClientHello.  A byte per TLS socket,
 * freed with the socket, where the copy's 4 KiB is freed at once.
 */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u8);
} sent SEC(".maps");

GADGET_TRACER_MAP(events);
GADGET_TRACER(sni, events, event);

/* Appends the segment's payload to `copy`; true once the copy is done (whole or given up). */
static __always_inline bool append(struct __sk_buff *skb, struct hello_copy *copy,
				   const struct gadget_packet *packet, __u32 seq)
{
	__u32 have = copy->e.size;
	__u64 n = copy->want - have; /* 64 bits: the register checked is the one passed */

	if (n > packet->payload_length)
		n = packet->payload_length;
	asm volatile("" : "+r"(n));
	if (have >= HELLO_MAX || n < 1 || n > HELLO_MAX)
		return true;
	/* have < HELLO_MAX already: the mask only shows the verifier so. */
	if (bpf_skb_load_bytes(skb, packet->payload_offset, &copy->e.hello[have & (HELLO_MAX - 1)],
			       n))
		return true;
	copy->e.size = have + n;
	copy->next_seq = seq + packet->payload_length;
	copy->e.segments++;
	return copy->e.size >= copy->want || copy->e.segments >= MAX_SEGMENTS;
}

/* A segment that starts a ClientHello: a new copy, or NULL (not one, or not kept). */
static __always_inline struct hello_copy *start(struct __sk_buff *skb, struct bpf_sock *sk,
						const struct gadget_packet *packet)
{
	struct gadget_task_ident who = {};
	struct hello_copy *copy;
	__u8 header[TLS_RECORD_HEADER + 1];
	__u32 netns, want;

	if (packet->payload_length < sizeof(header) ||
	    bpf_skb_load_bytes(skb, packet->payload_offset, header, sizeof(header)))
		return NULL;
	if (header[0] != TLS_HANDSHAKE || header[1] != 3 || header[5] != TLS_CLIENT_HELLO)
		return NULL;
	if (bpf_sk_storage_get(&sent, sk, 0, 0))
		return NULL;
	netns = gadget_sock_netns(gadget_kernel_sock(sk));
	if (gadget_netns_dropped(netns))
		return NULL;
	gadget_current_ident(&who);
	if (who.netns == netns) {
		if (gadget_should_discard_current())
			return NULL;
	} else {
		__builtin_memset(&who, 0, sizeof(who));
	}
	copy = bpf_sk_storage_get(&copies, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!copy)
		return NULL;
	want = TLS_RECORD_HEADER + ((__u32)header[3] << 8 | header[4]);
	copy->want = want < HELLO_MAX ? want : HELLO_MAX;
	copy->e.timestamp = bpf_ktime_get_boot_ns();
	copy->e.mntns = who.mntns;
	copy->e.netns = netns;
	copy->e.pid = who.pid;
	copy->e.tid = who.tid;
	__builtin_memcpy(copy->e.comm, who.comm, sizeof(copy->e.comm));
	copy->e.src = packet->src;
	copy->e.dst = packet->dst;
	copy->e.size = 0;
	copy->e.segments = 0;
	return copy;
}

SEC("cgroup_skb/egress")
int sni_egress(struct __sk_buff *skb)
{
	struct gadget_packet packet;
	struct hello_copy *copy;
	struct bpf_sock *sk;

	if (!gadget_skb_parse(skb, &packet) || packet.proto != IPPROTO_TCP ||
	    !packet.payload_length)
		return 1;
	sk = gadget_skb_fullsock(skb);
	if (!sk)
		return 1;
	copy = bpf_sk_storage_get(&copies, sk, 0, 0);
	if (copy && packet.seq != copy->next_seq)
		return 1; /* a resend of what was copied already, or out of order */
	if (!copy) {
		copy = start(skb, sk, &packet);
		if (!copy)
			return 1;
	}
	if (append(skb, copy, &packet, packet.seq)) {
		__u64 size = copy->e.size;

		if (size > HELLO_MAX)
			size = HELLO_MAX;
		gadget_output(&events, &copy->e, offsetof(struct event, hello) + size);
		bpf_sk_storage_delete(&copies, sk);
		bpf_sk_storage_get(&sent, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	}
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
