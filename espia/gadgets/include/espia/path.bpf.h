/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Paths of kernel objects (a task's cwd), for tracepoint programs that have
 * no bpf_d_path(): walk the dentries up to the root, crossing mount points,
 * and write each name as it is met, leaf first.  The result is a
 * gadget_path_components field: user space reverses it.  Writing in walk
 * order keeps every write at a growing offset, which is all the verifier
 * needs to see.
 */
#ifndef __ESPIA_PATH_BPF_H
#define __ESPIA_PATH_BPF_H

#define GADGET_PATH_DEPTH 32

/*
 * Writes the components of `path` into `buf` (`size` bytes, a power of two).
 * `buf` must be followed by `size` bytes of slack in the same map value: the
 * verifier cannot relate the remaining room to the offset, but the slack is
 * never written since each read is bounded by the room actually left.
 * An empty component (a second NUL) ends the list.  Returns the bytes
 * written; sets *truncated if the path did not fit.
 */
static __always_inline __u32 gadget_path_components_of(struct path *path, char *buf,
						       __u32 size, __u8 *truncated)
{
	struct dentry *dentry = BPF_CORE_READ(path, dentry);
	struct vfsmount *vfsmnt = BPF_CORE_READ(path, mnt);
	struct mount *mnt = container_of(vfsmnt, struct mount, mnt);
	__u32 off = 0;

	for (int i = 0; i < GADGET_PATH_DEPTH; i++) {
		struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
		struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
		const unsigned char *name;
		long len;

		if (dentry == mnt_root) {
			struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

			if (mnt_parent == mnt)
				break; /* the root of the root mount */
			dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = mnt_parent;
			vfsmnt = &mnt->mnt;
			continue;
		}
		if (dentry == parent)
			break;
		name = BPF_CORE_READ(dentry, d_name.name);
		off &= size - 1;
		len = bpf_probe_read_kernel_str(buf + off, size - off, name);
		if (len <= 0)
			break;
		if (off + len >= size) {
			*truncated = 1;
			return size;
		}
		off += len;
		dentry = parent;
		if (i == GADGET_PATH_DEPTH - 1)
			*truncated = 1;
	}
	buf[off & (size - 1)] = '\0';
	return off;
}

#endif /* __ESPIA_PATH_BPF_H */
