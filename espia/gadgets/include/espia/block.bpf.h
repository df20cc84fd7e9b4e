/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Block I/O requests, from issue to completion, charged to the process that
 * issued them: the request is recorded at block_io_start, which runs in the
 * context of the task that submitted the I/O, and found again at
 * block_rq_complete, which runs wherever the device completes it (an
 * interrupt, a kworker, the loop driver's worker): the task running there is
 * not the one to charge.  The time of an I/O runs from block_rq_issue (handed
 * to the device) to its completion, as biotop and biolatency measure it.
 *
 * A request grows after it starts: bios that follow it on the disk are merged
 * into it, and a scheduler (mq-deadline) merges whole requests, the one merged
 * away freed without a completion (block_rq_merge).  So its bytes are read at
 * issue, when merging is over, and a request merged away leaves the table
 * there and then: its bytes complete with the one it joined, charged to that
 * one's issuer, as the kernel counts them.
 *
 * Raw tracepoints: their first argument is the struct request itself.  The
 * requests in flight are kept in gadget_inflight (inflight.bpf.h), so that one
 * whose completion no program saw is counted lost, not forgotten.
 *
 *     static void completed(const struct gadget_block_io *io, __u64 now);
 *     GADGET_BLOCK_IO(completed)
 */
#ifndef __ESPIA_BLOCK_BPF_H
#define __ESPIA_BLOCK_BPF_H

#include <espia/inflight.bpf.h>

#define GADGET_BLOCK_INFLIGHT 10240
#define GADGET_REQ_OP_MASK 0xff
#define GADGET_REQ_OP_READ 0
#define GADGET_REQ_OP_WRITE 1

/* One request in flight: who issued it, when, and what it is. */
struct gadget_block_io {
	__u64 mntns;
	__u64 start_ns;
	__u64 issue_ns;
	__u32 pid;
	__u32 dev; /* the kernel's encoding, major << 20 | minor */
	__u32 bytes;
	__u8 write;
	char comm[TASK_COMM_LEN];
};

GADGET_INFLIGHT(__u64, struct gadget_block_io, GADGET_BLOCK_INFLIGHT);

static __always_inline __u32 gadget_block_major(__u32 dev)
{
	return dev >> 20;
}

static __always_inline __u32 gadget_block_minor(__u32 dev)
{
	return dev & ((1U << 20) - 1);
}

/*
 * The device a request goes to: its bio's (a partition's, where it has any),
 * else the disk's.  (rq->part is set only after block_io_start.)
 */
static __always_inline __u32 gadget_block_dev(struct request *rq)
{
	struct bio *bio = BPF_CORE_READ(rq, bio);
	struct gendisk *disk;

	if (bio)
		return BPF_CORE_READ(bio, bi_bdev, bd_dev);
	disk = BPF_CORE_READ(rq, q, disk);
	return ((__u32)BPF_CORE_READ(disk, major) << 20) | BPF_CORE_READ(disk, first_minor);
}

/*
 * Reads and writes that move data only: flushes (an fsync's empty write with
 * REQ_PREFLUSH) and discards move none of the process's bytes.
 */
static __always_inline int gadget_block_started(struct request *rq)
{
	__u64 key = (__u64)rq;
	struct gadget_block_io io = {};
	__u32 op = BPF_CORE_READ(rq, cmd_flags) & GADGET_REQ_OP_MASK;

	if (op != GADGET_REQ_OP_READ && op != GADGET_REQ_OP_WRITE)
		return 0;
	if (!BPF_CORE_READ(rq, __data_len))
		return 0;
	if (!gadget_inflight_open() || gadget_should_discard_current())
		return 0;
	io.mntns = gadget_current_mntns();
	io.pid = bpf_get_current_pid_tgid() >> 32;
	io.start_ns = bpf_ktime_get_ns();
	io.dev = gadget_block_dev(rq);
	io.bytes = BPF_CORE_READ(rq, __data_len);
	io.write = op == GADGET_REQ_OP_WRITE;
	bpf_get_current_comm(io.comm, sizeof(io.comm));
	gadget_inflight_begin(&gadget_inflight, &key, &io);
	return 0;
}

static __always_inline int gadget_block_issued(struct request *rq)
{
	__u64 key = (__u64)rq;
	struct gadget_block_io *io = bpf_map_lookup_elem(&gadget_inflight, &key);

	if (!io)
		return 0;
	io->issue_ns = bpf_ktime_get_ns();
	io->bytes = BPF_CORE_READ(rq, __data_len);
	return 0;
}

/*
 * The completion and the merge come first: programs attach in the order they
 * are defined, and an I/O that began while its end was not watched yet would
 * be counted lost.
 */
#define GADGET_BLOCK_IO(handler)                                             \
	SEC("raw_tp/block_rq_complete")                                      \
	int block_rq_complete(struct bpf_raw_tracepoint_args *ctx)           \
	{                                                                    \
		__u64 key = ctx->args[0];                                    \
		struct gadget_block_io *io;                                  \
		__u64 now = bpf_ktime_get_ns();                              \
		io = bpf_map_lookup_elem(&gadget_inflight, &key);            \
		if (!io)                                                     \
			return 0;                                            \
		if (!io->issue_ns)                                           \
			io->issue_ns = io->start_ns;                         \
		handler(io, now);                                            \
		bpf_map_delete_elem(&gadget_inflight, &key);                 \
		return 0;                                                    \
	}                                                                    \
	SEC("raw_tp/block_rq_merge")                                         \
	int block_rq_merge(struct bpf_raw_tracepoint_args *ctx)              \
	{                                                                    \
		__u64 key = ctx->args[0];                                    \
		bpf_map_delete_elem(&gadget_inflight, &key);                 \
		return 0;                                                    \
	}                                                                    \
	SEC("raw_tp/block_rq_issue")                                         \
	int block_rq_issue(struct bpf_raw_tracepoint_args *ctx)              \
	{                                                                    \
		return gadget_block_issued((struct request *)ctx->args[0]);  \
	}                                                                    \
	SEC("raw_tp/block_io_start")                                         \
	int block_io_start(struct bpf_raw_tracepoint_args *ctx)              \
	{                                                                    \
		return gadget_block_started((struct request *)ctx->args[0]); \
	}

#endif /* __ESPIA_BLOCK_BPF_H */
