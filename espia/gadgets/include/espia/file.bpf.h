/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Files of the current task, by descriptor: what a syscall's fd argument or
 * return value refers to, read from the kernel's table rather than from the
 * task's memory (which the task may change at any time).
 */
#ifndef __ESPIA_FILE_BPF_H
#define __ESPIA_FILE_BPF_H

/* An inode's type bits (i_mode), as stat(2) has them. */
#define S_IFMT 0170000
#define S_IFREG 0100000
#define S_IFIFO 0010000
#define S_IFSOCK 0140000

/* The file behind descriptor `fd` of the current task, or NULL. */
static __always_inline struct file *gadget_fd_file(int fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = NULL;

	if (fd < 0 || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	return file;
}

#endif /* __ESPIA_FILE_BPF_H */
