/*
 * xfer: move a verifiable byte stream over one stream socket and time it.
 * Built twice (Makefile): /bin/vsock-test in the stock guest's initramfs
 * fragment (virtio-linux.cpio.gz) and vsock-host beside the payloads, the
 * host side of bothy's hybrid vsock (docs/test-guests.md). Static, plain libc.
 *
 *   xfer [-t SECS] [-r SECS] listen ADDR MODE [SIZE]
 *   xfer [-t SECS] [-r SECS] connect ADDR MODE [SIZE]
 *
 * ADDR
 *   vsock:CID:PORT   AF_VSOCK (listen: vsock:PORT, any CID)
 *   tcp:IP:PORT      IPv4 (listen: tcp:PORT, any address)
 *   unix:PATH        a Unix stream socket (listen removes a stale PATH)
 *   hybrid:PATH:PORT connect only: bothy's hybrid vsock, host to guest. Connect
 *                    to PATH, send "CONNECT PORT\n", expect "OK <n>\n", then
 *                    the stream is the guest's port PORT.
 * MODE
 *   send SIZE   write SIZE bytes of the pattern, shut down writing, wait for EOF
 *   recv [SIZE] read to EOF; every byte must match the pattern (and the count SIZE)
 *   echo        write back whatever arrives until EOF, then shut down writing
 *   ping SIZE   send SIZE pattern bytes while reading them back (the peer echoes)
 * SIZE takes K, M, G suffixes (binary).
 *
 * The pattern is a fixed pseudo-random sequence with a prime period, so lost,
 * duplicated or reordered chunks show up. listen accepts one connection and
 * prints "<prog>: listening on ADDR" first (flushed; tests wait for it).
 * -r SECS retries a refused or dropped connect (hybrid: no "OK") for SECS.
 * -t SECS (default 120) is a watchdog for the whole run.
 *
 * Prints "<prog>: ok MODE N bytes in S s, R MB/s" and exits 0, or
 * "<prog>: FAIL: why" and exits 1 (2 on usage errors).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_DIRECT, usleep */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "parse_size.h"

#define PATTERN_PERIOD 65521u		/* prime: does not divide any chunk size */
#define CHUNK (256u * 1024u)

static const char *prog = "xfer";
static unsigned char pattern[PATTERN_PERIOD + CHUNK];
static unsigned char iobuf[CHUNK];

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
	va_list ap;

	printf("%s: FAIL: ", prog);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(1);
}

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
	fprintf(stderr, "usage: %s [-t SECS] [-r SECS] listen|connect ADDR send SIZE|recv [SIZE]|echo|ping SIZE\n"
		"  ADDR: vsock:CID:PORT, tcp:IP:PORT, unix:PATH, hybrid:PATH:PORT (listen: vsock:PORT, tcp:PORT)\n",
		prog);
	exit(2);
}

static void on_alarm(int sig)
{
	static const char msg[] = ": FAIL: watchdog expired (-t)\n";

	(void)sig;
	if (write(1, prog, strlen(prog)) < 0 || write(1, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	_exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void pattern_init(void)
{
	uint32_t x = 0x2545f491u;
	size_t i;

	for (i = 0; i < PATTERN_PERIOD; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		pattern[i] = (unsigned char)(x >> 11);
	}
	/* The tail repeats the start: pattern_at(off) is valid for CHUNK bytes. */
	for (; i < sizeof(pattern); i++)
		pattern[i] = pattern[i - PATTERN_PERIOD];
}

static const unsigned char *pattern_at(uint64_t off)
{
	return pattern + off % PATTERN_PERIOD;
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || end == s || *end || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

struct addr {
	struct sockaddr_storage ss;
	socklen_t len;
	bool hybrid;
	uint32_t hybrid_port;
};

/* "kind:rest": fills a; listen forms omit the CID / IP. */
static int addr_parse(const char *spec, bool listening, struct addr *a)
{
	const char *rest, *colon;
	char host[64];

	memset(a, 0, sizeof(*a));
	if (!strncmp(spec, "vsock:", 6)) {
		struct sockaddr_vm *vm = (struct sockaddr_vm *)&a->ss;
		uint32_t cid = VMADDR_CID_ANY, port;

		rest = spec + 6;
		colon = strchr(rest, ':');
		if (colon) {
			if ((size_t)(colon - rest) >= sizeof(host))
				return -1;
			memcpy(host, rest, colon - rest);
			host[colon - rest] = 0;
			if (parse_u32(host, &cid))
				return -1;
			rest = colon + 1;
		} else if (!listening) {
			return -1;
		}
		if (parse_u32(rest, &port))
			return -1;
		vm->svm_family = AF_VSOCK;
		vm->svm_cid = cid;
		vm->svm_port = port;
		a->len = sizeof(*vm);
		return 0;
	}
	if (!strncmp(spec, "tcp:", 4)) {
		struct sockaddr_in *in = (struct sockaddr_in *)&a->ss;
		uint32_t port;

		rest = spec + 4;
		colon = strrchr(rest, ':');
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_ANY);
		if (colon) {
			if ((size_t)(colon - rest) >= sizeof(host))
				return -1;
			memcpy(host, rest, colon - rest);
			host[colon - rest] = 0;
			if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
				return -1;
			rest = colon + 1;
		} else if (!listening) {
			return -1;
		}
		if (parse_u32(rest, &port) || port > 65535)
			return -1;
		in->sin_port = htons((uint16_t)port);
		a->len = sizeof(*in);
		return 0;
	}
	if (!strncmp(spec, "unix:", 5) || !strncmp(spec, "hybrid:", 7)) {
		struct sockaddr_un *un = (struct sockaddr_un *)&a->ss;
		size_t n;

		a->hybrid = spec[0] == 'h';
		rest = strchr(spec, ':') + 1;
		n = strlen(rest);
		if (a->hybrid) {
			if (listening)
				return -1;
			colon = strrchr(rest, ':');
			if (!colon || parse_u32(colon + 1, &a->hybrid_port))
				return -1;
			n = colon - rest;
		}
		if (n == 0 || n >= sizeof(un->sun_path))
			return -1;
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, rest, n);
		a->len = sizeof(*un);
		return 0;
	}
	return -1;
}

static void write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail("write: %s", n < 0 ? strerror(errno) : "wrote nothing");
		p += n;
		len -= (size_t)n;
	}
}

/* The hybrid handshake: "CONNECT PORT\n" out, "OK <n>\n" back. 0, or -1 when bothy dropped us. */
static int hybrid_handshake(int fd, uint32_t port)
{
	char line[64];
	size_t n = 0;

	snprintf(line, sizeof(line), "CONNECT %" PRIu32 "\n", port);
	write_all(fd, line, strlen(line));
	for (;;) {
		ssize_t r = read(fd, line + n, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if (line[n] == '\n')
			break;
		if (++n == sizeof(line) - 1)
			fail("hybrid handshake: reply longer than %zu bytes", n);
	}
	line[n] = 0;
	if (strncmp(line, "OK ", 3))
		fail("hybrid handshake: expected \"OK <port>\", got \"%s\"", line);
	return 0;
}

static int open_connect(const struct addr *a, const char *spec, double retry)
{
	double until = now() + retry;

	for (;;) {
		int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			fail("socket(%s): %s", spec, strerror(errno));
		if (!connect(fd, (const struct sockaddr *)&a->ss, a->len) &&
		    (!a->hybrid || !hybrid_handshake(fd, a->hybrid_port)))
			return fd;
		if (now() >= until)
			fail("connect %s: %s", spec, errno ? strerror(errno) : "closed during the handshake");
		close(fd);
		errno = 0;
		usleep(200 * 1000);
	}
}

static int open_listen(const struct addr *a, const char *spec)
{
	int one = 1, lfd, fd;

	if (a->ss.ss_family == AF_UNIX)
		unlink(((const struct sockaddr_un *)&a->ss)->sun_path);
	lfd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		fail("socket(%s): %s", spec, strerror(errno));
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (const struct sockaddr *)&a->ss, a->len) || listen(lfd, 1))
		fail("listen %s: %s", spec, strerror(errno));
	printf("%s: listening on %s\n", prog, spec);
	fflush(stdout);
	do
		fd = accept(lfd, NULL, NULL);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		fail("accept %s: %s", spec, strerror(errno));
	close(lfd);
	return fd;
}

/* Reads one chunk and checks it continues the pattern at *off. 0 at EOF. */
static size_t recv_check(int fd, uint64_t *off)
{
	ssize_t n;

	do
		n = read(fd, iobuf, sizeof(iobuf));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		fail("read after %" PRIu64 " bytes: %s", *off, strerror(errno));
	if (n > 0 && memcmp(iobuf, pattern_at(*off), (size_t)n)) {
		ssize_t i = 0;

		while (iobuf[i] == pattern_at(*off)[i])
			i++;
		fail("data mismatch at byte %" PRIu64 ": got 0x%02x, expected 0x%02x", *off + i, iobuf[i],
		     pattern_at(*off)[i]);
	}
	*off += (uint64_t)n;
	return (size_t)n;
}

static uint64_t do_send(int fd, uint64_t size)
{
	uint64_t off = 0;

	while (off < size) {
		size_t n = size - off < CHUNK ? (size_t)(size - off) : CHUNK;

		write_all(fd, pattern_at(off), n);
		off += n;
	}
	shutdown(fd, SHUT_WR);
	/* Wait for the peer to close: then it has read everything. */
	for (;;) {
		ssize_t n = read(fd, iobuf, sizeof(iobuf));

		if (n == 0)
			break;
		if (n < 0 && errno != EINTR)
			fail("after sending %" PRIu64 " bytes: %s", off, strerror(errno));
	}
	return off;
}

static uint64_t do_recv(int fd, bool have_size, uint64_t size)
{
	uint64_t off = 0;

	while (recv_check(fd, &off))
		if (have_size && off > size)
			fail("more than the %" PRIu64 " bytes expected", size);
	if (have_size && off != size)
		fail("connection closed after %" PRIu64 " of %" PRIu64 " bytes", off, size);
	return off;
}

static uint64_t do_echo(int fd)
{
	uint64_t total = 0;
	ssize_t n;

	for (;;) {
		n = read(fd, iobuf, sizeof(iobuf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail("read after %" PRIu64 " bytes: %s", total, strerror(errno));
		if (n == 0)
			break;
		write_all(fd, iobuf, (size_t)n);
		total += (uint64_t)n;
	}
	shutdown(fd, SHUT_WR);
	return total;
}

/* Send and read back at once, so neither side's buffers fill up and deadlock. */
static uint64_t do_ping(int fd, uint64_t size)
{
	uint64_t sent = 0, got = 0;
	bool wr_done = false;

	while (got < size) {
		struct pollfd p = { .fd = fd, .events = POLLIN | (wr_done ? 0 : POLLOUT) };

		if (poll(&p, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			fail("poll: %s", strerror(errno));
		}
		if (p.revents & POLLIN || (p.revents & (POLLHUP | POLLERR) && wr_done)) {
			if (!recv_check(fd, &got))
				fail("connection closed after %" PRIu64 " of %" PRIu64 " echoed bytes", got, size);
			if (got > sent)
				fail("received %" PRIu64 " bytes, only %" PRIu64 " sent", got, sent);
			continue;
		}
		if (p.revents & POLLOUT) {
			size_t n = size - sent < CHUNK / 4 ? (size_t)(size - sent) : CHUNK / 4;
			ssize_t w = send(fd, pattern_at(sent), n, MSG_DONTWAIT | MSG_NOSIGNAL);

			if (w < 0 && errno != EAGAIN && errno != EINTR)
				fail("write after %" PRIu64 " bytes: %s", sent, strerror(errno));
			if (w > 0)
				sent += (uint64_t)w;
			if (sent == size) {
				shutdown(fd, SHUT_WR);
				wr_done = true;
			}
			continue;
		}
		if (p.revents & (POLLHUP | POLLERR))
			fail("connection error after %" PRIu64 " bytes sent, %" PRIu64 " echoed", sent, got);
	}
	return got;
}

int main(int argc, char **argv)
{
	const char *slash, *role, *spec, *mode;
	double t0, secs, retry = 0;
	uint64_t size = 0, moved;
	bool have_size = false, listening;
	struct addr a;
	unsigned limit = 120;
	int opt, fd;

	slash = strrchr(argv[0], '/');
	prog = slash ? slash + 1 : argv[0];
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "+t:r:")) != -1) {
		switch (opt) {
		case 't':
			limit = (unsigned)atoi(optarg);
			break;
		case 'r':
			retry = atof(optarg);
			break;
		default:
			usage();
		}
	}
	if (argc - optind < 3)
		usage();
	role = argv[optind];
	spec = argv[optind + 1];
	mode = argv[optind + 2];
	if (argc - optind > 3) {
		if (parse_size(argv[optind + 3], &size))
			usage();
		have_size = true;
	}
	if (!strcmp(role, "listen"))
		listening = true;
	else if (!strcmp(role, "connect"))
		listening = false;
	else
		usage();
	if ((!strcmp(mode, "send") || !strcmp(mode, "ping")) && !have_size)
		usage();
	if (strcmp(mode, "send") && strcmp(mode, "recv") && strcmp(mode, "echo") && strcmp(mode, "ping"))
		usage();
	if (addr_parse(spec, listening, &a)) {
		fprintf(stderr, "%s: bad address '%s' for %s\n", prog, spec, role);
		usage();
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_alarm);
	alarm(limit);
	pattern_init();

	fd = listening ? open_listen(&a, spec) : open_connect(&a, spec, retry);
	t0 = now();
	if (!strcmp(mode, "send"))
		moved = do_send(fd, size);
	else if (!strcmp(mode, "recv"))
		moved = do_recv(fd, have_size, size);
	else if (!strcmp(mode, "echo"))
		moved = do_echo(fd);
	else
		moved = do_ping(fd, size);
	secs = now() - t0;
	close(fd);
	printf("%s: ok %s %" PRIu64 " bytes in %.3f s, %.1f MB/s\n", prog, mode, moved, secs,
	       secs > 0 ? moved / secs / 1e6 : 0.0);
	return 0;
}
