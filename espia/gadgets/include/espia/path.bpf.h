/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Paths of kernel objects (a task's cwd, an open file), for tracepoint
 * programs that have no bpf_d_path(): walk the dentries up to the root,
 * crossing mount points, and write each name as it is met, leaf first.  The
 * result is a gadget_path_components field: user space reverses it.  Writing
 * in walk order keeps every write at a growing offset, which is all the
 * verifier needs to see.
 *
 * A path that does not fit is cut visibly: the components kept are the ones
 * nearest the leaf, whole (never a partial name), and *truncated is set, so
 * that user space shows where the cut is.  Fitting is exact: a path of
 * exactly `size` bytes is whole, one byte more is cut.
 */
#ifndef __ESPIA_PATH_BPF_H
#define __ESPIA_PATH_BPF_H

/* Steps of the walk (a component, or a mount point crossed): 32 + 8 = 40. */
#define GADGET_PATH_DEPTH 32
#define GADGET_PATH_MOUNTS 8

/*
 * Writes the components of `path` into `buf` (`size` bytes, a power of two),
 * from offset `start` (what the caller wrote before them stays).
 * `buf` must be followed by `size` bytes of slack in the same map value: the
 * verifier cannot relate the remaining room to the offset, but the slack is
 * never written since each read is bounded by the room actually left.
 * An empty component (a second NUL) ends the list, unless the list fills
 * `buf` exactly.  The root (no component) is written "\0/", to tell it from
 * an absent path, which a caller leaves as "\0\0".  Returns the bytes the
 * list occupies (its end included: a packed member is sent as that many,
 * see types.h); sets *truncated if the path did not fit (too long, or more
 * steps than the walk takes).
 */
static __always_inline __u32 gadget_path_walk(struct path *path, char *buf, __u32 size,
					      __u8 *truncated, __u32 start)
{
	struct dentry *dentry = BPF_CORE_READ(path, dentry);
	struct vfsmount *vfsmnt = BPF_CORE_READ(path, mnt);
	struct mount *mnt = container_of(vfsmnt, struct mount, mnt);
	__u32 off = start;
	int i;

	for (i = 0; i < GADGET_PATH_DEPTH + GADGET_PATH_MOUNTS; i++) {
		struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
		struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
		__u64 room; /* 64 bits: the register checked is the one passed */
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
		/* A component is left: is there room for it? */
		if (off >= size) {
			*truncated = 1;
			return off;
		}
		/* Bounds the verifier can follow: the mask must survive optimisation. */
		asm volatile("" : "+r"(off));
		off &= size - 1;
		room = size - off;
		asm volatile("" : "+r"(room));
		if (room > size)
			break;
		len = bpf_probe_read_kernel_str(buf + off, room, BPF_CORE_READ(dentry, d_name.name));
		if (len <= 0) {
			*truncated = 1;
			break;
		}
		/* The read stops at the room left: a name longer than what came is cut. */
		if (len - 1 < BPF_CORE_READ(dentry, d_name.len)) {
			*truncated = 1;
			buf[off] = '\0';
			return off;
		}
		off += len;
		dentry = parent;
	}
	/* Out of steps: whole only if the next step would have found the root. */
	if (i == GADGET_PATH_DEPTH + GADGET_PATH_MOUNTS &&
	    dentry != BPF_CORE_READ(dentry, d_parent) &&
	    !(dentry == BPF_CORE_READ(vfsmnt, mnt_root) && BPF_CORE_READ(mnt, mnt_parent) == mnt))
		*truncated = 1;
	if (off == start) {
		buf[1] = '/'; /* no component: the root, told apart from no path at all */
		buf[0] = '\0';
		return 2;
	}
	if (off >= size)
		return size;
	buf[off & (size - 1)] = '\0';
	return off + 1;
}

/* The components of `path` from offset 0 (see gadget_path_walk above). */
static __always_inline __u32 gadget_path_components_of(struct path *path, char *buf,
						       __u32 size, __u8 *truncated)
{
	return gadget_path_walk(path, buf, size, truncated, 0);
}

#define GADGET_SOCKFS_MAGIC 0x534F434B
#define GADGET_PIPEFS_MAGIC 0x50495045
#define GADGET_ANON_INODE_FS_MAGIC 0x09041934

/*
 * A pseudo file (a socket, a pipe, an anonymous inode such as an eventfd, a
 * memfd) has no path: its dentry is its own parent and no mount's root, and
 * a walk would find only "/" for each of them, all alike.  It is named as
 * the kernel names it in /proc/PID/fd (the filesystems' d_dname), by user
 * space from what is written here after the marker "\0:", which no list of
 * components starts with (espia/semantic/files.py):
 *   'S' or 'P' and the inode number, 8 bytes: "socket:[INODE]", "pipe:[INODE]";
 *   'A' and the dentry's name: "anon_inode:NAME";
 *   'N' and the dentry's name, as it is (a memfd's "memfd:NAME").
 * The number is formatted in user space: no bpf_snprintf (5.13), which the
 * gadgets of older kernels (trace open, trace exec) must not need.  Returns
 * the bytes written, as gadget_path_components_of; sets *truncated if the
 * name did not fit.
 */
static __always_inline __u32 gadget_pseudo_file_name(struct file *file, char *buf, __u32 size,
						     __u8 *truncated)
{
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	unsigned long magic = BPF_CORE_READ(inode, i_sb, s_magic);
	const unsigned char *name = BPF_CORE_READ(file, f_path.dentry, d_name.name);
	__u64 ino;
	long len;

	buf[0] = '\0';
	buf[1] = ':';
	if (magic == GADGET_SOCKFS_MAGIC || magic == GADGET_PIPEFS_MAGIC) {
		buf[2] = magic == GADGET_SOCKFS_MAGIC ? 'S' : 'P';
		ino = BPF_CORE_READ(inode, i_ino);
		__builtin_memcpy(buf + 3, &ino, sizeof(ino));
		return 3 + sizeof(ino);
	}
	buf[2] = magic == GADGET_ANON_INODE_FS_MAGIC ? 'A' : 'N';
	len = bpf_probe_read_kernel_str(buf + 3, size - 3, name);
	if (len <= 0) {
		*truncated = 1;
		buf[3] = '\0';
		return 4;
	}
	if (len - 1 < BPF_CORE_READ(file, f_path.dentry, d_name.len))
		*truncated = 1;
	return len + 3;
}

/*
 * The components of the path `file` was opened at (see above), or its pseudo
 * name.  A file deleted (unlinked) while open starts its list with the
 * component "/", which no name can be: user space marks the path as
 * deleted, as /proc/PID/fd does, rather than show a path that is no
 * longer there (or is another file now).
 */
static __always_inline __u32 gadget_file_path_components(struct file *file, char *buf,
							  __u32 size, __u8 *truncated)
{
	struct path path = BPF_CORE_READ(file, f_path);

	if (path.dentry == BPF_CORE_READ(path.dentry, d_parent) &&
	    path.dentry != BPF_CORE_READ(path.mnt, mnt_root))
		return gadget_pseudo_file_name(file, buf, size, truncated);
	if (!BPF_CORE_READ(path.dentry, d_hash.pprev)) {
		buf[0] = '/';
		buf[1] = '\0';
		return gadget_path_walk(&path, buf, size, truncated, 2);
	}
	return gadget_path_components_of(&path, buf, size, truncated);
}

#endif /* __ESPIA_PATH_BPF_H */
