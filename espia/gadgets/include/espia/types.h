/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Semantic types for gadget event fields.
 *
 * espia reads an event's layout from the BTF of its struct; these typedef
 * names survive in BTF and tell user space what a field means, so that one
 * renderer and one enricher serve every gadget (built-in or user-written):
 * a gadget_errno is shown with its name, a gadget_file_flags as
 * O_WRONLY|O_CREAT, and so on (espia/semantic/ holds what each type means).
 * Which namespace member ties events to containers is the gadget's choice,
 * declared in gadget.yaml (`join: mntns`).  A field of a plain type (__u32,
 * char[]) is shown as it is.
 */
#ifndef __ESPIA_TYPES_H
#define __ESPIA_TYPES_H

/* Nanoseconds since boot (bpf_ktime_get_boot_ns); shown as wall-clock time. */
typedef __u64 gadget_timestamp;
/* Mount namespace inode: the key that ties an event to its container. */
typedef __u64 gadget_mntns_id;
/* Network namespace inode: the key for network gadgets. */
typedef __u32 gadget_netns_id;
/* A task's command name (char[16]). */
typedef char gadget_comm;
/*
 * The task that caused the event (the current task where it is recorded):
 * equality filters on these are applied in the kernel, before any copy.
 */
typedef __u32 gadget_pid;
typedef __u32 gadget_tid;
typedef __u32 gadget_ppid;
typedef __u32 gadget_uid;
typedef __u32 gadget_gid;
/* A positive errno value, 0 on success; its name is available too. */
typedef __u32 gadget_errno;
/* A syscall return value: negative errno on failure. */
typedef __s32 gadget_syscall_ret;
/* open(2) flags, shown as O_WRONLY|O_CREAT. */
typedef __u32 gadget_file_flags;
/* A file mode, shown in octal with its type bits. */
typedef __u16 gadget_file_mode;
/*
 * NUL-separated strings (an argv), shown shell-quoted and joined by spaces.
 * A gadget_truncated member named <field>_truncated marks the list as cut
 * short, and the list is shown with a trailing " [...]" marker (which a
 * quoted argument can never look like).
 */
typedef char gadget_string_list;
/*
 * Non-zero when a bounded copy was cut short; named <field>_truncated after the
 * member it marks, which is then shown with a marker: a string list or a char
 * array ends with " [...]", a gadget_path_components starts with "[...]/".
 */
typedef __u8 gadget_truncated;
/*
 * A path as NUL-separated components from the leaf up to the root, ended by
 * an empty one: walking dentries upwards is all the verifier has to check,
 * user space reverses it (see path.bpf.h).
 */
typedef char gadget_path_components;
/*
 * Packed: a gadget_path_components member right before the event's last one
 * (its variable-length tail), with a __u16 member <name>_size, occupies only
 * <name>_size bytes of the record and the tail follows right after them
 * (0 bytes: no path at all).  The program writes the tail at that offset and
 * sends the record cut there, so an absent or short path costs no room.
 *
 * Any member <name>_size (an unsigned integer) beside a string member <name>
 * is that string's length in the record: the decoder reads it, no output
 * shows it (it is layout, not something the traced system did).
 */

/*
 * An IP address, IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d), so that one field
 * holds either family; shown as 10.0.0.1 or fd00::1.
 */
typedef __u8 gadget_ip_addr[16];
/* An IP address and a port (host byte order), shown as 10.0.0.1:53 or [fd00::1]:53. */
struct gadget_l4endpoint_t {
	gadget_ip_addr addr;
	__u16 port;
};
typedef struct gadget_l4endpoint_t gadget_l4endpoint;
/* An IP protocol number (IPPROTO_TCP...), shown as TCP, UDP... */
typedef __u8 gadget_ip_proto;
/*
 * Where a packet goes, as skb->pkt_type says (PACKET_HOST...): HOST,
 * BROADCAST, MULTICAST, OTHERHOST, OUTGOING, LOOPBACK.
 */
typedef __u8 gadget_packet_type;
/*
 * A DNS message from its header on (a char array, last in the event: its
 * length is the record's).  User space parses it into the fields ID, QR,
 * QTYPE, NAME, RCODE, NUMANSWERS, ADDRESSES and pairs each response with its
 * query within the event's gadget_netns_id, by id and by the two
 * gadget_l4endpoint members (source first), which gives NAMESERVER, LATENCY
 * and a record for a query that got no answer (UNANSWERED).
 */
typedef __u8 gadget_dns_message;

/*
 * Signals, capabilities, syscalls, socket options, mounts, TCP and TLS: their
 * meaning is in espia/semantic/ (signals.py, capabilities.py, process.py,
 * net.py, mounts.py, tcp.py, tls.py).
 */

/* A signal number, shown as SIGKILL, SIGRTMIN+3. */
typedef __u32 gadget_signal;
/*
 * What the kernel did with a generated signal (the result of the
 * signal/signal_generate tracepoint): delivered, ignored, pending (already
 * pending, merged), overflow (the queue was full), lost-info (queued without
 * its siginfo); 255 for no signal (a failed kill call): shown empty.
 */
typedef __u8 gadget_signal_result;
#define GADGET_SIGNAL_NOT_SENT 255
/* A capability number (CAP_NET_RAW is 13), shown as CAP_NET_RAW. */
typedef __u32 gadget_capability;
/* The outcome of a capability check: 0 allow, 1 deny; shown as allow, deny. */
typedef __u8 gadget_cap_verdict;
/* A syscall number of this machine, shown by name (bind); -1 when none (a kernel thread). */
typedef __s32 gadget_syscall_nr;
/*
 * Options of a socket at bind(2), one bit each (espia's own, not a kernel
 * layout): 1 REUSEADDR, 2 REUSEPORT, 4 FREEBIND, 8 TRANSPARENT,
 * 16 BIND_ADDRESS_NO_PORT; shown as REUSEADDR|REUSEPORT.
 */
typedef __u8 gadget_bind_opts;
#define GADGET_BIND_REUSEADDR 1
#define GADGET_BIND_REUSEPORT 2
#define GADGET_BIND_FREEBIND 4
#define GADGET_BIND_TRANSPARENT 8
#define GADGET_BIND_ADDRESS_NO_PORT 16
/*
 * A mount-related syscall, shown by name: 0 mount, 1 umount, 2 fsopen,
 * 3 fsmount, 4 move_mount, 5 open_tree, 6 fspick, 7 mount_setattr.
 */
typedef __u8 gadget_mount_call;
#define GADGET_MOUNT 0
#define GADGET_UMOUNT 1
#define GADGET_FSOPEN 2
#define GADGET_FSMOUNT 3
#define GADGET_MOVE_MOUNT 4
#define GADGET_OPEN_TREE 5
#define GADGET_FSPICK 6
#define GADGET_MOUNT_SETATTR 7
/*
 * The flags argument of a mount-related syscall: each call has its own flag
 * names (MS_NOSUID for mount, MNT_DETACH for umount...), so the call
 * (gadget_mount_call) is in the high 32 bits, the flags in the low 32;
 * shown as MS_NOSUID|MS_NODEV.
 */
typedef __u64 gadget_mount_flags;
/* A TCP state (TCP_ESTABLISHED...), shown as ESTABLISHED, SYN_SENT... */
typedef __u8 gadget_tcp_state;
/* The flags of a TCP segment (the header's byte 13), shown as SYN|ACK. */
typedef __u8 gadget_tcp_flags;
/* What a TCP retransmission resent: 0 a segment, 1 a SYN-ACK; shown as RETRANSMIT, SYNACK. */
typedef __u8 gadget_tcp_retransmit_kind;
/*
 * A TLS ClientHello from its record header on (a byte array, last in the
 * event: its length is the record's, and it may be cut short).  User space
 * reads the fields NAME (the server name, SNI), VERSION (the highest
 * offered: TLS1.3 when supported_versions lists it) and ALPN from it.
 */
typedef __u8 gadget_tls_client_hello;

#endif /* __ESPIA_TYPES_H */
