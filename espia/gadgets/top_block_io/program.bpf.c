// SPDX-License-Identifier: Apache-2.0
/*
 * top block-io: block I/O per process, device and direction, per interval:
 * bytes, the number of I/Os and their time on the device, charged to the
 * process that issued each I/O (block.bpf.h), counted when it completes.
 */
#include <espia/gadget.bpf.h>
#include <espia/interval.bpf.h>
#include <espia/block.bpf.h>

struct io_key {
	gadget_pid pid;
	__u32 major;
	__u32 minor;
	char rw[2];
};

struct io_stats {
	__u64 bytes;
	__u64 time;
	__u64 io;
	gadget_mntns_id mntns;
	gadget_comm comm[TASK_COMM_LEN];
};

GADGET_INTERVAL(ios, io_key, io_stats);

static __always_inline void completed(const struct gadget_block_io *io, __u64 now)
{
	struct io_key key = {
		.pid = io->pid,
		.major = gadget_block_major(io->dev),
		.minor = gadget_block_minor(io->dev),
		.rw = { io->write ? 'W' : 'R', '\0' },
	};
	struct io_stats init = { .mntns = io->mntns };
	struct io_stats *stats;

	__builtin_memcpy(init.comm, io->comm, sizeof(init.comm));
	stats = gadget_interval_entry(&ios, &key, &init);
	if (!stats)
		return;
	__sync_fetch_and_add(&stats->bytes, io->bytes);
	__sync_fetch_and_add(&stats->time, (now - io->issue_ns) / 1000);
	__sync_fetch_and_add(&stats->io, 1);
}

GADGET_BLOCK_IO(completed)

char LICENSE[] SEC("license") = "GPL";
