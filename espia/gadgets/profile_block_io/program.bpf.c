// SPDX-License-Identifier: Apache-2.0
/*
 * profile block-io: a histogram of block I/O latency (issue to completion,
 * in microseconds, log2 buckets) per device, kept in the kernel: one
 * counter per (device, bucket), and with per_container
 * (--per-container) per mount namespace of the issuing process too.
 */
#include <espia/gadget.bpf.h>
#include <espia/interval.bpf.h>
#include <espia/block.bpf.h>

const volatile bool per_container = false;
GADGET_PARAM(per_container);

struct bucket_key {
	gadget_mntns_id mntns;
	__u32 major;
	__u32 minor;
	__u32 bucket;
};

struct bucket_count {
	__u64 count;
};

GADGET_INTERVAL(latencies, bucket_key, bucket_count);

static __always_inline void completed(const struct gadget_block_io *io, __u64 now)
{
	struct bucket_count init = {};
	struct bucket_count *counted;
	struct bucket_key key;

	/* The padding at its end is part of the key: zeroed, not left to chance. */
	__builtin_memset(&key, 0, sizeof(key));
	key.mntns = per_container ? io->mntns : 0;
	key.major = gadget_block_major(io->dev);
	key.minor = gadget_block_minor(io->dev);
	key.bucket = gadget_log2_bucket((now - io->issue_ns) / 1000);
	counted = gadget_interval_entry(&latencies, &key, &init);

	if (counted)
		__sync_fetch_and_add(&counted->count, 1);
}

GADGET_BLOCK_IO(completed)

char LICENSE[] SEC("license") = "GPL";
