// SPDX-License-Identifier: Apache-2.0
/* N getppid(2) calls: a syscall no gadget traces.  Prints ns per call. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct timespec start, end;
	long n = argc > 1 ? atol(argv[1]) : 1000000;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	clock_gettime(CLOCK_MONOTONIC, &end);
	printf("%.1f\n", ((end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec)) / n);
	return 0;
}
