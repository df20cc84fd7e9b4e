/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Work the kernel begins in one hook and ends in another (a block I/O, from
 * its start to its completion), kept in gadget_inflight between the two, and
 * accounted for whole: every piece of work recorded at its beginning is
 * either seen ending or counted lost.
 *
 *     GADGET_INFLIGHT(__u64, struct gadget_block_io, 10240);
 *     if (gadget_inflight_open()) gadget_inflight_begin(&gadget_inflight, &key, &value);
 *     v = bpf_map_lookup_elem(&gadget_inflight, &key); ... delete at the end
 *
 * The kernel can run the beginning's program and not the end's (seen: a
 * block completion in a softirq that no BPF program saw, and that no
 * counter of the kernel's recorded).  Such an entry would stay in the map
 * unnoticed, so:
 *  - a key that begins again while still in the map ended unseen before
 *    (keys are the kernel's own objects, reused once done): counted lost,
 *    then recorded anew;
 *  - at the end of a run, user space sets gadget_draining (nothing new
 *    begins), waits a moment for what is in flight to end, and counts what
 *    is still in the map as lost (espia/engine/interval.py).
 */
#ifndef __ESPIA_INFLIGHT_BPF_H
#define __ESPIA_INFLIGHT_BPF_H

#define GADGET_EEXIST 17

/* Set by user space at the end of a run: no new work is recorded. */
volatile __u32 gadget_draining SEC(".bss") = 0;

#define GADGET_INFLIGHT(key_type, value_type, entries) \
	struct {                                        \
		__uint(type, BPF_MAP_TYPE_HASH);        \
		__uint(max_entries, entries);           \
		__type(key, key_type);                  \
		__type(value, value_type);              \
	} gadget_inflight SEC(".maps")

/* False once the run is ending: work that begins now is not this run's. */
static __always_inline bool gadget_inflight_open(void)
{
	return !gadget_draining;
}

/*
 * Records work that begins in `map` (the gadget_inflight of GADGET_INFLIGHT);
 * what cannot be recorded, or was never seen ending, is lost.
 */
static __always_inline void gadget_inflight_begin(void *map, const void *key, const void *value)
{
	long err = bpf_map_update_elem(map, key, value, BPF_NOEXIST);

	if (!err)
		return;
	/* A full table would let this work go unseen; a key still there ended unseen. */
	gadget_count_lost();
	if (err == -GADGET_EEXIST)
		bpf_map_update_elem(map, key, value, BPF_ANY);
}

#endif /* __ESPIA_INFLIGHT_BPF_H */
