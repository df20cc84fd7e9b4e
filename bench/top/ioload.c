// SPDX-License-Identifier: Apache-2.0
/*
 * Load for the top and profile benchmarks; prints nanoseconds per operation:
 * of CPU time (this process's, in user space and in the kernel, where the
 * tracing programs run on its behalf), then of wall-clock time.  On a shared,
 * loaded machine the CPU time is what measures a tracer's cost per call; the
 * wall-clock time mostly measures the wait for a core.
 *
 *   ioload [-c COMM] write N FILE    N write(2) calls of 64 bytes to a regular file
 *                                    (rewound every 4096 writes, so it stays small)
 *   ioload [-c COMM] direct N DEVICE N O_DIRECT writes of 4 KiB at random aligned
 *                                    offsets of the first 32 MiB of a block device
 *                                    (the pattern of `fio --rw=randwrite --direct=1`)
 *   ioload [-c COMM] getppid N -     N getppid(2) calls: a syscall no gadget traces, which
 *                                    a hook on every syscall's exit still runs on
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double since(clockid_t clock, const struct timespec *start, long n)
{
	struct timespec end;

	clock_gettime(clock, &end);
	return ((end.tv_sec - start->tv_sec) * 1e9 + (end.tv_nsec - start->tv_nsec)) / n;
}

int main(int argc, char **argv)
{
	struct timespec start, cpu;
	char small[64];
	void *block;
	long n;
	int fd, opt;

	while ((opt = getopt(argc, argv, "c:")) != -1) {
		if (opt != 'c')
			return 2;
		prctl(PR_SET_NAME, optarg, 0, 0, 0);
	}
	if (argc - optind != 3) {
		fprintf(stderr, "usage: ioload [-c COMM] write|direct|getppid N PATH\n");
		return 2;
	}
	n = atol(argv[optind + 1]);
	memset(small, 'w', sizeof(small));
	if (!strcmp(argv[optind], "write")) {
		fd = open(argv[optind + 2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &start);
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
		for (long i = 0; i < n; i++) {
			if (write(fd, small, sizeof(small)) != sizeof(small))
				return 1;
			if ((i & 4095) == 4095)
				lseek(fd, 0, SEEK_SET);
		}
	} else if (!strcmp(argv[optind], "getppid")) {
		clock_gettime(CLOCK_MONOTONIC, &start);
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
		for (long i = 0; i < n; i++)
			syscall(SYS_getppid);
	} else {
		fd = open(argv[optind + 2], O_RDWR | O_DIRECT);
		if (fd < 0 || posix_memalign(&block, 4096, 4096))
			return 1;
		memset(block, 'd', 4096);
		srand(1);
		clock_gettime(CLOCK_MONOTONIC, &start);
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
		for (long i = 0; i < n; i++) {
			off_t at = (off_t)(rand() % 8192) * 4096;

			if (pwrite(fd, block, 4096, at) != 4096)
				return 1;
		}
	}
	printf("%.1f %.1f\n", since(CLOCK_PROCESS_CPUTIME_ID, &cpu, n),
	       since(CLOCK_MONOTONIC, &start, n));
	return 0;
}
