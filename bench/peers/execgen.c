// SPDX-License-Identifier: Apache-2.0
/*
 * The exec storm: N times fork(2) + execve(2) of PATH (a copy of /bin/true
 * named after the run, so its events are counted by name), each child waited
 * for; then the time per fork+exec+wait on stdout (nanoseconds).
 *
 *   execgen N PATH
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct timespec start, end;
	long n;

	if (argc != 3) {
		fprintf(stderr, "usage: execgen N PATH\n");
		return 2;
	}
	n = atol(argv[1]);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (long i = 0; i < n; i++) {
		pid_t child = fork();

		if (child < 0)
			return 1;
		if (child == 0) {
			char *args[] = { argv[2], NULL };
			char *env[] = { NULL };

			execve(argv[2], args, env);
			_exit(127);
		}
		waitpid(child, NULL, 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	printf("%.1f\n", ((end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec)) / n);
	return 0;
}
