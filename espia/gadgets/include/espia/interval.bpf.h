/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Counters kept in the kernel and read per interval (the top gadgets, profile
 * block-io): a hash map of `struct key` to `struct value`, which user space
 * reads and empties at the end of each interval.
 *
 *     GADGET_INTERVAL(files, file_key, file_stats);
 *     struct file_stats *v = gadget_interval_entry(&files, &key, &init);
 *     if (v) __sync_fetch_and_add(&v->reads, 1);
 *
 * Reading a live map and resetting it would race with the programs updating
 * it: an update between the read and the delete would vanish, or land in an
 * element already freed.  So there are two maps, and the program finds the
 * one in use through a one-slot array of maps.  At the end of an interval
 * user space points the slot at the other map; the kernel returns from that
 * update only after every program that could still hold the old map has
 * finished (a map-in-map update waits for an RCU grace period), so the old
 * map is quiet when it is read and emptied: nothing is counted twice, and
 * nothing is lost between intervals.
 *
 * A process that ended is in the map of the interval it ended in, and in no
 * other: each interval starts empty, so nothing is kept for months on a
 * node.  The maps are bounded (GADGET_INTERVAL_ENTRIES keys per interval);
 * an update that finds its map full is counted in gadget_lost and reported.
 * The members of `struct value` a program does not count (a comm, a path)
 * are set once, from `init`, when the key first appears in an interval.
 *
 * GADGET_INTERVAL also leaves the marker gadget_interval__<name> in BTF:
 * user space reads the rows' layout (key members, then value members) from
 * it, as GADGET_TRACER does for a stream.
 */
#ifndef __ESPIA_INTERVAL_BPF_H
#define __ESPIA_INTERVAL_BPF_H

#define GADGET_INTERVAL_ENTRIES 10240

#define GADGET_INTERVAL(name, key_type, value_type)                                      \
	struct gadget_interval_##name {                                                 \
		__uint(type, BPF_MAP_TYPE_HASH);                                        \
		__uint(max_entries, GADGET_INTERVAL_ENTRIES);                           \
		__uint(map_flags, BPF_F_NO_PREALLOC);                                   \
		__type(key, struct key_type);                                           \
		__type(value, struct value_type);                                       \
	} name##_0 SEC(".maps"), name##_1 SEC(".maps");                                \
	struct {                                                                        \
		__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);                               \
		__uint(max_entries, 1);                                                 \
		__type(key, __u32);                                                     \
		__array(values, struct gadget_interval_##name);                         \
	} name SEC(".maps") = { .values = { &name##_0 } };                              \
	const struct {                                                                  \
		const struct key_type *key;                                             \
		const struct value_type *value;                                         \
	} *const volatile gadget_interval__##name SEC(".rodata") = 0

/*
 * The value of `key` in the current interval's map, created from `init` if
 * the key is new; NULL if the map is full (counted as lost).
 */
static __always_inline void *gadget_interval_entry(void *slots, const void *key,
						   const void *init)
{
	__u32 zero = 0;
	void *map = bpf_map_lookup_elem(slots, &zero);
	void *value;
	long err;

	if (!map)
		return NULL;
	value = bpf_map_lookup_elem(map, key);
	if (value)
		return value;
	/* Another CPU may create it first (-EEXIST): then its entry is the one. */
	err = bpf_map_update_elem(map, key, init, BPF_NOEXIST);
	if (err && err != -17) {
		gadget_count_lost();
		return NULL;
	}
	value = bpf_map_lookup_elem(map, key);
	if (!value)
		gadget_count_lost();
	return value;
}

/* The value of `key` if it is already counted in the current interval, else NULL. */
static __always_inline void *gadget_interval_find(void *slots, const void *key)
{
	__u32 zero = 0;
	void *map = bpf_map_lookup_elem(slots, &zero);

	return map ? bpf_map_lookup_elem(map, key) : NULL;
}

/*
 * The log2 bucket of `value` in a histogram: floor(log2(value)), 0 for 0 and 1.
 * Bucket 0 holds 0 and 1, bucket i > 0 holds 2^i to 2^(i+1) - 1 (user space
 * shows these bounds).
 */
static __always_inline __u32 gadget_log2_bucket(__u64 value)
{
	__u32 bucket = 0;

	for (int bit = 32; bit > 0; bit >>= 1) {
		if (value >> bit) {
			value >>= bit;
			bucket += bit;
		}
	}
	return bucket;
}

#endif /* __ESPIA_INTERVAL_BPF_H */
