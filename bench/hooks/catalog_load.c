// SPDX-License-Identifier: Apache-2.0
/*
 * catalog_load CALL N: N calls of the syscall a catalog gadget hooks, each
 * as cheap as it can be, so that a hook's cost shows.  Prints ns per call.
 *
 *   bind     bind(2) of a socket already bound (EINVAL)       trace bind
 *   kill     kill(self, SIGUSR1), ignored: kill(2) and a generated signal
 *                                                             trace signal
 *   setuid   setuid(0) as root: a CAP_SETUID check            trace capabilities
 *   umount   umount2(2) of a missing path (ENOENT)            trace mount
 *   send     send(2) of one byte on loopback TCP, read by a child
 *                                                             trace tcpretrans, sni
 *   getppid  getppid(2), which no gadget hooks
 *
 * Time is the process's CPU time, not the wall clock: on a shared machine
 * the wall clock also counts the time other work held the CPU.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int loopback_pair(int *child)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(addr);
	int listener = socket(AF_INET, SOCK_STREAM, 0), client, server;
	char buf[65536];

	bind(listener, (struct sockaddr *)&addr, sizeof(addr));
	listen(listener, 1);
	getsockname(listener, (struct sockaddr *)&addr, &len);
	client = socket(AF_INET, SOCK_STREAM, 0);
	connect(client, (struct sockaddr *)&addr, sizeof(addr));
	server = accept(listener, NULL, NULL);
	*child = fork();
	if (*child == 0) {
		close(client);
		while (read(server, buf, sizeof(buf)) > 0)
			;
		_exit(0);
	}
	close(server);
	close(listener);
	return client;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	const char *call = argc > 1 ? argv[1] : "";
	long n = argc > 2 ? atol(argv[2]) : 1000000;
	struct timespec start, end;
	int fd = -1, child = 0;

	if (!strcmp(call, "bind")) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	} else if (!strcmp(call, "kill")) {
		signal(SIGUSR1, SIG_IGN);
	} else if (!strcmp(call, "send")) {
		fd = loopback_pair(&child);
	} else if (strcmp(call, "setuid") && strcmp(call, "umount") && strcmp(call, "getppid")) {
		fprintf(stderr, "usage: catalog_load bind|kill|setuid|umount|send|getppid N\n");
		return 2;
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &start);
	for (long i = 0; i < n; i++) {
		switch (call[0]) {
		case 'b':
			bind(fd, (struct sockaddr *)&addr, sizeof(addr));
			break;
		case 'k':
			kill(getpid(), SIGUSR1);
			break;
		case 's':
			if (call[1] == 'e' && call[2] == 't')
				setuid(0);
			else
				send(fd, "x", 1, 0);
			break;
		case 'u':
			umount2("/nonexistent-espia-bench", 0);
			break;
		case 'g':
			getppid();
			break;
		}
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &end);
	if (child) {
		close(fd);
		waitpid(child, NULL, 0);
	}
	printf("%.1f\n", ((end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec)) / n);
	return 0;
}
