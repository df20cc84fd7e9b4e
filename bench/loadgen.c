// SPDX-License-Identifier: Apache-2.0
/*
 * The load generator: N openat(2) calls on one path as fast as possible, then
 * the time per call on stdout (nanoseconds).  Static, so that it runs inside a
 * busybox container too.
 *
 *   loadgen [-c COMM] [-w] [-r RATE] N PATH
 *     -c COMM   set the process name first (what `-F comm:` filters on)
 *     -w        open for writing (O_WRONLY|O_CREAT), else O_RDONLY
 *     -r RATE   at most RATE calls per second (paced every 100 calls)
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
	long n, rate = 0;

	while ((opt = getopt(argc, argv, "c:wr:")) != -1) {
		if (opt == 'c')
			prctl(PR_SET_NAME, optarg, 0, 0, 0);
		else if (opt == 'w')
			flags = O_WRONLY | O_CREAT;
		else if (opt == 'r')
			rate = atol(optarg);
		else
			return 2;
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: loadgen [-c COMM] [-w] [-r RATE] N PATH\n");
		return 2;
	}
	n = atol(argv[optind]);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (long i = 0; i < n; i++) {
		int fd;

		if (rate > 0 && i % 100 == 0) {
			long long due = (long long)start.tv_sec * 1000000000LL + start.tv_nsec +
					(long long)(i * (1e9 / rate));
			struct timespec at = { due / 1000000000LL, due % 1000000000LL };

			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL);
		}
		fd = openat(AT_FDCWD, argv[optind + 1], flags, 0644);
		if (fd >= 0)
			close(fd);
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	printf("%.1f\n", ((end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec)) / n);
	return 0;
}
