// SPDX-License-Identifier: Apache-2.0
/*
 * catalog_load CALL N: N calls of the syscall a catalog gadget hooks, each
 * as cheap as it can be, so that a hook's cost shows, or doing the work the
 * call is for, so that its cost on a real call shows.  Prints ns per call.
 *
 *   bind     bind(2) of a socket already bound (EINVAL)       trace bind
 *   bindok   a UDP socket bound to 127.0.0.1:0, then closed (socket(2),
 *            bind(2), close(2))                               trace bind
 *   kill     kill(self, SIGUSR1), ignored: kill(2) and a generated signal
 *                                                             trace signal
 *   killed   kill(self, SIGUSR1) delivered to a handler       trace signal
 *   setuid   setuid(0) as root: a CAP_SETUID check            trace capabilities
 *   umount   umount2(2) of a missing path (ENOENT)            trace mount
 *   mount    mount(2) of a tmpfs, then umount2(2) of it, in a mount
 *            namespace of its own                             trace mount
 *   send     send(2) of one byte on loopback TCP, read by a child
 *                                                             trace tcpretrans, sni
 *   getppid  getppid(2), which no gadget hooks
 *
 * Time is the process's CPU time, not the wall clock: on a shared machine
 * the wall clock also counts the time other work held the CPU.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <sched.h>
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

static void caught(int sig)
{
	(void)sig;
}

enum op { BIND, BINDOK, KILL, KILLED, SETUID, UMOUNT, MOUNT, SEND, GETPPID };

static const char *const ops[] = {
	[BIND] = "bind", [BINDOK] = "bindok", [KILL] = "kill", [KILLED] = "killed", [SETUID] = "setuid",
	[UMOUNT] = "umount", [MOUNT] = "mount", [SEND] = "send", [GETPPID] = "getppid",
};

int main(int argc, char **argv)
{
	char dir[] = "/tmp/espia-bench-mount-XXXXXX";
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	const char *call = argc > 1 ? argv[1] : "";
	long n = argc > 2 ? atol(argv[2]) : 1000000;
	struct timespec start, end;
	int fd = -1, child = 0, s;
	int op = 0;

	while (op < (int)(sizeof(ops) / sizeof(ops[0])) && strcmp(call, ops[op]))
		op++;
	switch (op) {
	case BIND:
		fd = socket(AF_INET, SOCK_STREAM, 0);
		bind(fd, (struct sockaddr *)&addr, sizeof(addr));
		break;
	case KILL:
		signal(SIGUSR1, SIG_IGN);
		break;
	case KILLED:
		signal(SIGUSR1, caught);
		break;
	case BINDOK:
	case SETUID:
	case UMOUNT:
	case GETPPID:
		break;
	case MOUNT:
		/* Its mounts are its own: none reaches the machine's mount table. */
		if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    !mkdtemp(dir)) {
			perror("catalog_load mount");
			return 1;
		}
		break;
	case SEND:
		fd = loopback_pair(&child);
		break;
	default:
		fprintf(stderr, "usage: catalog_load bind|bindok|kill|killed|setuid|umount|mount|"
				"send|getppid N\n");
		return 2;
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &start);
	for (long i = 0; i < n; i++) {
		switch (op) {
		case BIND:
			bind(fd, (struct sockaddr *)&addr, sizeof(addr));
			break;
		case BINDOK:
			s = socket(AF_INET, SOCK_DGRAM, 0);
			bind(s, (struct sockaddr *)&addr, sizeof(addr));
			close(s);
			break;
		case KILL:
		case KILLED:
			kill(getpid(), SIGUSR1);
			break;
		case SETUID:
			setuid(0);
			break;
		case UMOUNT:
			umount2("/nonexistent-espia-bench", 0);
			break;
		case MOUNT:
			if (mount("espia-bench", dir, "tmpfs", 0, "size=64k") || umount2(dir, 0)) {
				perror("catalog_load mount");
				return 1;
			}
			break;
		case SEND:
			send(fd, "x", 1, 0);
			break;
		case GETPPID:
			getppid();
			break;
		}
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &end);
	if (op == MOUNT)
		rmdir(dir);
	if (child) {
		close(fd);
		waitpid(child, NULL, 0);
	}
	printf("%.1f\n", ((end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec)) / n);
	return 0;
}
