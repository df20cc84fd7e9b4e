// SPDX-License-Identifier: Apache-2.0
/*
 * The load generator: N openat(2) calls on one path as fast as possible, then
 * the time per call on stdout (nanoseconds).  Static, so that it runs inside a
 * busybox container too.
 *
 *   loadgen [-c COMM] [-w] N PATH
 *     -c COMM   set the process name first (what `-F comm:` filters on)
 *     -w        open for writing (O_WRONLY|O_CREAT), else O_RDONLY
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int flags = O_RDONLY, opt;
	struct timespec start, end;
	long n;

	while ((opt = getopt(argc, argv, "c:w")) != -1) {
		if (opt == 'c')
			prctl(PR_SET_NAME, optarg, 0, 0, 0);
		else if (opt == 'w')
			flags = O_WRONLY | O_CREAT;
		else
			return 2;
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: loadgen [-c COMM] [-w] N PATH\n");
		return 2;
	}
	n = atol(argv[optind]);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (long i = 0; i < n; i++) {
		int fd = openat(AT_FDCWD, argv[optind + 1], flags, 0644);

		if (fd >= 0)
			close(fd);
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	printf("%.1f\n", ((end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec)) / n);
	return 0;
}
