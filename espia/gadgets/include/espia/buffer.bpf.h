/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ring buffer that carries a gadget's events to user space, and the
 * count of events it could not carry.  Nothing is lost silently: every failed
 * reserve or output adds one to gadget_lost, which user space reads through
 * the mmapped .bss and reports.
 */
#ifndef __ESPIA_BUFFER_BPF_H
#define __ESPIA_BUFFER_BPF_H

/* The default size; user space resizes the map before load (--buffer-size). */
#define GADGET_DEFAULT_BUFFER_SIZE (16 * 1024 * 1024)

#define GADGET_TRACER_MAP(name)                     \
	struct {                                        \
		__uint(type, BPF_MAP_TYPE_RINGBUF);         \
		__uint(max_entries, GADGET_DEFAULT_BUFFER_SIZE); \
	} name SEC(".maps")

/* Events the kernel produced but could not hand over. */
__u64 gadget_lost SEC(".bss") = 0;

static __always_inline void gadget_count_lost(void)
{
	__sync_fetch_and_add(&gadget_lost, 1);
}

/* Copies `size` bytes of `data` into `map`; counts the event as lost if full. */
static __always_inline int gadget_output(void *map, const void *data, __u64 size)
{
	int err = bpf_ringbuf_output(map, (void *)data, size, 0);

	if (err)
		gadget_count_lost();
	return err;
}

/* Reserves a fixed-size record in `map`; counts the event as lost if full. */
static __always_inline void *gadget_reserve(void *map, __u64 size)
{
	void *record = bpf_ringbuf_reserve(map, size, 0);

	if (!record)
		gadget_count_lost();
	return record;
}

static __always_inline void gadget_submit(void *record)
{
	bpf_ringbuf_submit(record, 0);
}

/*
 * A per-CPU scratch record for events too large for the 512-byte stack; the
 * record is then sent with gadget_output() cut to its used length.
 */
#define GADGET_SCRATCH(event_struct, name)                          \
	struct {                                                \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);            \
		__uint(max_entries, 1);                             \
		__type(key, __u32);                                 \
		__type(value, struct event_struct);                         \
	} name SEC(".maps")

static __always_inline void *gadget_scratch(void *map)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(map, &zero);
}

#endif /* __ESPIA_BUFFER_BPF_H */
