/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bounded copies of strings from user memory that say when they were cut.
 * bpf_probe_read_user_str() returns the same length for a string that fits
 * its buffer exactly (size - 1 bytes and the NUL) and for a longer one it
 * cut: only the byte after the copy tells them apart.
 */
#ifndef __ESPIA_STRINGS_BPF_H
#define __ESPIA_STRINGS_BPF_H

/*
 * Copies the NUL-terminated user string `src` into `dst` (`size` bytes, NUL
 * included); returns what bpf_probe_read_user_str() returned, and sets
 * *truncated if the string was longer than size - 1 bytes.
 */
static __always_inline long gadget_read_user_str(char *dst, __u64 size, const char *src,
						 __u8 *truncated)
{
	long len = bpf_probe_read_user_str(dst, size, src);
	char next = 0;

	if (len == size && !bpf_probe_read_user(&next, 1, src + size - 1) && next)
		*truncated = 1;
	return len;
}

#endif /* __ESPIA_STRINGS_BPF_H */
