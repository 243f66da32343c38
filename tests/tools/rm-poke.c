/*
 * rm-poke: send raw packets to bothyd and print what comes back, for the
 * integration tests (garbage, partial frames, interleaving, exact bytes).
 *
 *   rm-poke [--wait MS] [--count N] SOCKET [HEXPACKET...]
 *
 * Connects to the SOCK_SEQPACKET Unix socket SOCKET, sends each HEXPACKET as
 * one packet (hex digits; spaces, colons, dots, dashes and underscores between
 * them are ignored, so "21 01 0100 00100056" works; "" sends an empty packet),
 * then prints every packet it receives as lowercase hex on a line of its own,
 * until MS milliseconds pass without one (--wait, default 500), the peer
 * closes, or N packets have arrived (--count). File descriptors that come with
 * a packet (SCM_RIGHTS) are closed and reported on stderr as
 * "rm-poke: packet N carried K fd(s)".
 *
 * Exit status: 0 when everything was sent; 1 when the connection or a send
 * failed; 2 on a usage error (bad option, bad hex).
 * Plain libc: built static so the busybox test host can run it.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define PACKET_MAX 65536
#define MAX_FDS 16

static void usage(void)
{
	fprintf(stderr, "usage: rm-poke [--wait MS] [--count N] SOCKET [HEXPACKET...]\n");
	exit(2);
}

static long parse_num(const char *s, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > max)
		usage();
	return v;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Hex text to bytes; returns the length, or -1 for a bad character or an odd number of digits. */
static long parse_hex(const char *s, unsigned char *out, size_t cap)
{
	size_t n = 0;
	int hi = -1;

	for (; *s; s++) {
		int v = hexval(*s);

		if (v < 0) {
			if (strchr(" \t\n:.-_", *s))
				continue;
			return -1;
		}
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (n == cap)
			return -1;
		out[n++] = (unsigned char)(hi << 4 | v);
		hi = -1;
	}
	return hi < 0 ? (long)n : -1;
}

static void print_hex(const unsigned char *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		putchar(digits[p[i] >> 4]);
		putchar(digits[p[i] & 15]);
	}
	putchar('\n');
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static unsigned char buf[PACKET_MAX];
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	long wait_ms = 500, count = -1, received = 0;
	const char *path;
	int i, fd, status = 0;

	for (i = 1; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else if (!strcmp(argv[i], "--wait") && i + 1 < argc) {
			wait_ms = parse_num(argv[++i], INT_MAX);
		} else if (!strcmp(argv[i], "--count") && i + 1 < argc) {
			count = parse_num(argv[++i], LONG_MAX);
		} else {
			usage();
		}
	}
	if (i >= argc)
		usage();
	path = argv[i++];
	if (strlen(path) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "rm-poke: socket path too long: %s\n", path);
		return 2;
	}
	/* check every packet before connecting, so a typo sends nothing */
	for (int j = i; j < argc; j++) {
		if (parse_hex(argv[j], buf, sizeof(buf)) < 0) {
			fprintf(stderr, "rm-poke: not a hex packet: '%s'\n", argv[j]);
			return 2;
		}
	}

	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		fprintf(stderr, "rm-poke: connect %s: %s\n", path, strerror(errno));
		return 1;
	}

	for (; i < argc; i++) {
		long n = parse_hex(argv[i], buf, sizeof(buf));

		if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n) {
			fprintf(stderr, "rm-poke: send packet %d: %s\n", i, strerror(errno));
			status = 1;
			break;
		}
	}

	while (count < 0 || received < count) {
		union {
			struct cmsghdr hdr;
			char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
		} ctl;
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctl,
				      .msg_controllen = sizeof(ctl) };
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;
		int r = poll(&pfd, 1, (int)wait_ms);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break; /* quiet for MS milliseconds, or poll failed */
		n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* the peer closed, or the connection broke */
		received++;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			int fds[MAX_FDS];

			memcpy(fds, CMSG_DATA(c), nfds * sizeof(int));
			for (size_t k = 0; k < nfds; k++)
				close(fds[k]);
			fprintf(stderr, "rm-poke: packet %ld carried %zu fd(s)\n", received, nfds);
		}
		if (msg.msg_flags & MSG_TRUNC)
			fprintf(stderr, "rm-poke: packet %ld truncated to %zd bytes\n", received, n);
		print_hex(buf, (size_t)n);
	}
	close(fd);
	return status;
}
