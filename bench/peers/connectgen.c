// SPDX-License-Identifier: Apache-2.0
/*
 * The TCP connect storm on loopback: a listener on 127.0.0.1:PORT, then N
 * times socket(2) + connect(2) + accept(2) + close(2) of both ends; the time
 * per connection on stdout (nanoseconds).  SO_LINGER 0 on the client ends
 * each connection with a reset, so no TIME_WAIT socket piles up over a run.
 *
 *   connectgen N PORT
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	struct linger hard = { .l_onoff = 1, .l_linger = 0 };
	struct timespec start, end;
	int listener, one = 1;
	long n;

	if (argc != 3) {
		fprintf(stderr, "usage: connectgen N PORT\n");
		return 2;
	}
	n = atol(argv[1]);
	addr.sin_port = htons(atoi(argv[2]));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	listener = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(listener, (struct sockaddr *)&addr, sizeof(addr)) || listen(listener, 128)) {
		perror("listen");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (long i = 0; i < n; i++) {
		int client = socket(AF_INET, SOCK_STREAM, 0), server;

		if (client < 0 || connect(client, (struct sockaddr *)&addr, sizeof(addr))) {
			perror("connect");
			return 1;
		}
		server = accept(listener, NULL, NULL);
		setsockopt(client, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
		close(client);
		close(server);
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	printf("%.1f\n", ((end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec)) / n);
	return 0;
}
