// SPDX-License-Identifier: Apache-2.0
/*
 * top file: reads and writes per process and file, counted in the kernel at
 * the exit of each call of the read/write family, with the bytes it returned
 * (a failed call counts nothing; a read at end of file counts a read of 0
 * bytes).  The counters are read and reset per interval (interval.bpf.h).
 *
 * The file is the one behind the call's descriptor in the kernel's table,
 * keyed by device and inode; its path is walked from its dentry once per
 * interval, when the pair (process, file) first appears.  Regular files
 * only, unless all_files (--all-files) adds sockets, pipes and
 * the rest.
 */
#include <espia/gadget.bpf.h>
#include <espia/file.bpf.h>
#include <espia/path.bpf.h>
#include <espia/syscall.bpf.h>
#include <espia/interval.bpf.h>

/* Room for FILE's components: deeper or longer paths are cut visibly. */
#define FILE_SIZE 512

const volatile bool all_files = false;
GADGET_PARAM(all_files);

struct file_key {
	gadget_pid pid;
	__u32 dev;
	__u64 inode;
};

struct file_stats {
	__u64 reads;
	__u64 writes;
	__u64 rbytes;
	__u64 wbytes;
	gadget_mntns_id mntns;
	gadget_comm comm[TASK_COMM_LEN];
	char t[2];
	gadget_truncated file_truncated;
	gadget_path_components file[FILE_SIZE];
};

/* The value a new key starts from, and the slack the path walk needs after it. */
struct file_init {
	struct file_stats stats;
	char slack[FILE_SIZE];
};

GADGET_INTERVAL(files, file_key, file_stats);

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/*
 * The file behind descriptor `fd` of `task`, as a typed kernel pointer: its
 * members are read with plain loads (the verifier makes them fault-safe)
 * rather than a helper call each, which is most of the cost of a counted
 * call.  The table's slot is read the same way, through a typed view of it:
 * struct kiocb starts with its struct file pointer (checked below at
 * compile time against the kernel's BTF; where it did not, the slot would be
 * read with a helper call, as before).
 */
static __always_inline struct file *task_fd_file(struct task_struct *task, int fd)
{
	struct fdtable *fdt = task->files->fdt;
	struct file *file = NULL;
	struct kiocb *slot;

	if (fd < 0 || fd >= fdt->max_fds)
		return NULL;
	if (bpf_core_field_offset(struct kiocb, ki_filp) == 0) {
		slot = bpf_rdonly_cast(&fdt->fd[fd], bpf_core_type_id_kernel(struct kiocb));
		return slot->ki_filp;
	}
	bpf_probe_read_kernel(&file, sizeof(file), &fdt->fd[fd]);
	if (!file)
		return NULL;
	return bpf_rdonly_cast(file, bpf_core_type_id_kernel(struct file));
}
GADGET_SCRATCH(file_init, scratch);

enum direction {
	READ,
	WRITE,
};

static __always_inline char file_type(__u16 mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return 'R';
	case S_IFSOCK:
		return 'S';
	case S_IFIFO:
		return 'P';
	}
	return 'O';
}

static __always_inline void counted(int direction, long ret, const struct gadget_syscall_args *args)
{
	struct file_key key = {};
	struct file_stats *stats;
	struct file_init *init;
	struct task_struct *task;
	struct inode *inode;
	struct file *file;
	char type;

	if (ret < 0)
		return;
	task = bpf_get_current_task_btf();
	file = task_fd_file(task, (int)args->a[0]);
	if (!file)
		return;
	inode = file->f_inode;
	type = file_type(inode->i_mode);
	if (type != 'R' && !all_files)
		return;
	key.pid = task->tgid;
	key.dev = inode->i_sb->s_dev;
	key.inode = inode->i_ino;
	stats = gadget_interval_find(&files, &key);
	if (!stats) {
		init = gadget_scratch(&scratch);
		if (!init)
			return;
		__builtin_memset(&init->stats, 0, offsetof(struct file_stats, file));
		init->stats.mntns = gadget_current_mntns();
		bpf_get_current_comm(init->stats.comm, sizeof(init->stats.comm));
		init->stats.t[0] = type;
		init->stats.t[1] = '\0';
		init->stats.file[0] = '\0';
		init->stats.file[1] = '\0';
		gadget_file_path_components(file, init->stats.file, FILE_SIZE,
					    &init->stats.file_truncated);
		stats = gadget_interval_entry(&files, &key, &init->stats);
		if (!stats)
			return;
	}
	if (direction == READ) {
		__sync_fetch_and_add(&stats->reads, 1);
		__sync_fetch_and_add(&stats->rbytes, ret);
	} else {
		__sync_fetch_and_add(&stats->writes, 1);
		__sync_fetch_and_add(&stats->wbytes, ret);
	}
}

/* Only the descriptor (the first argument) matters: one argument each. */
GADGET_SYSCALL(read, 1, counted, READ)
GADGET_SYSCALL(readv, 1, counted, READ)
GADGET_SYSCALL(pread64, 1, counted, READ)
GADGET_SYSCALL(preadv, 1, counted, READ)
GADGET_SYSCALL(preadv2, 1, counted, READ)
GADGET_SYSCALL(write, 1, counted, WRITE)
GADGET_SYSCALL(writev, 1, counted, WRITE)
GADGET_SYSCALL(pwrite64, 1, counted, WRITE)
GADGET_SYSCALL(pwritev, 1, counted, WRITE)
GADGET_SYSCALL(pwritev2, 1, counted, WRITE)

char LICENSE[] SEC("license") = "GPL";
