// SPDX-License-Identifier: Apache-2.0
/*
 * trace mount: mount(2) and umount2(2), and the calls of the new mount API
 * (fsopen, fsmount, move_mount, open_tree, fspick, mount_setattr), failed
 * ones included.
 *
 * Each is traced at its exit (syscall.bpf.h), when its result is known; the
 * strings it was given are read there, from the caller's memory.  The
 * flags keep their call in the high half (types.h, gadget_mount_flags),
 * since each call has flags of its own.  fsconfig(2), which sets an fsopen
 * context's options one at a time, is not traced.
 */
#include <espia/gadget.bpf.h>
#include <espia/process.bpf.h>
#include <espia/syscall.bpf.h>

#define FS_SIZE 64
#define PATH_SIZE 256
#define DATA_SIZE 256

struct event {
	GADGET_PROCESS_MEMBERS;
	gadget_mount_call call;
	gadget_errno err;
	__s32 ret;
	gadget_mount_flags flags;
	char src[PATH_SIZE];
	char dest[PATH_SIZE];
	char fs[FS_SIZE];
	char data[DATA_SIZE];
};

GADGET_TRACER_MAP(events);
GADGET_TRACER(mount, events, event);

/* A user string into `buf`, or "" if there is none (a NULL pointer, an unmapped one). */
static __always_inline void user_string(char *buf, __u32 size, unsigned long pointer)
{
	if (!pointer || bpf_probe_read_user_str(buf, size, (const void *)pointer) < 0)
		buf[0] = '\0';
}

/*
 * Which argument is which, per call: the source, the destination, the
 * filesystem type, the options and the flags (-1: the call has none).
 */
struct mount_args {
	int src, dest, fs, data, flags;
};

static __always_inline struct mount_args arguments(int call)
{
	switch (call) {
	case GADGET_MOUNT: /* mount(source, target, fstype, flags, data) */
		return (struct mount_args){ 0, 1, 2, 4, 3 };
	case GADGET_UMOUNT: /* umount2(target, flags) */
		return (struct mount_args){ -1, 0, -1, -1, 1 };
	case GADGET_FSOPEN: /* fsopen(fsname, flags) */
		return (struct mount_args){ -1, -1, 0, -1, 1 };
	case GADGET_FSMOUNT: /* fsmount(fs_fd, flags, attr_flags) */
		return (struct mount_args){ -1, -1, -1, -1, 1 };
	case GADGET_MOVE_MOUNT: /* move_mount(from_dfd, from_path, to_dfd, to_path, flags) */
		return (struct mount_args){ 1, 3, -1, -1, 4 };
	case GADGET_OPEN_TREE: /* open_tree(dfd, path, flags) */
		return (struct mount_args){ 1, -1, -1, -1, 2 };
	default: /* fspick(dfd, path, flags), mount_setattr(dfd, path, flags, attr, size) */
		return (struct mount_args){ -1, 1, -1, -1, 2 };
	}
}

static __always_inline unsigned long argument(const struct gadget_syscall_args *args, int i)
{
	return i >= 0 && i < 5 ? args->a[i] : 0;
}

static __always_inline void mounted(int call, long ret, const struct gadget_syscall_args *args)
{
	struct mount_args which = arguments(call);
	struct event *e;

	e = gadget_current_event(&events, event);
	if (!e)
		return;
	e->call = call;
	e->ret = ret;
	e->err = ret < 0 ? -ret : 0;
	e->flags = ((__u64)call << 32) | (__u32)argument(args, which.flags);
	user_string(e->src, sizeof(e->src), argument(args, which.src));
	user_string(e->dest, sizeof(e->dest), argument(args, which.dest));
	user_string(e->fs, sizeof(e->fs), argument(args, which.fs));
	user_string(e->data, sizeof(e->data), argument(args, which.data));
	gadget_submit(e);
}

GADGET_SYSCALL(mount, 5, mounted, GADGET_MOUNT)
GADGET_SYSCALL(umount, 2, mounted, GADGET_UMOUNT)
GADGET_SYSCALL(fsopen, 2, mounted, GADGET_FSOPEN)
GADGET_SYSCALL(fsmount, 3, mounted, GADGET_FSMOUNT)
GADGET_SYSCALL(move_mount, 5, mounted, GADGET_MOVE_MOUNT)
GADGET_SYSCALL(open_tree, 3, mounted, GADGET_OPEN_TREE)
GADGET_SYSCALL(fspick, 3, mounted, GADGET_FSPICK)
GADGET_SYSCALL(mount_setattr, 5, mounted, GADGET_MOUNT_SETATTR)

char LICENSE[] SEC("license") = "GPL";
