/*
 * hcall-handler: a small VM-owner hypercall handler for the tests and
 * benchmarks (docs/hypercalls.md, "Forwarding to the VM owner").
 *
 *   hcall-handler [--die-after N] [--garbage] [--delay-ms MS] [--quiet] SOCKET
 *
 * Listens on a SOCK_SEQPACKET Unix socket at SOCKET (removing whatever was
 * there), prints "hcall-handler: listening on SOCKET", accepts one connection
 * (bothy --hcall-handler SOCKET) and answers each VMM_HCALL with a
 * VMM_HCALL_RET of the same token (RM frames, docs/rpc.md) whose results are
 * a fixed function of the request, so a test can predict them:
 *
 *   ret[0] = fid ^ 0xa5a5a5a5     ret[1] = args[0] + args[1]
 *   ret[2] = args[2] ^ args[3] ^ args[16]
 *   ret[3] = args[4] + vcpu + 1 + sum of n * args[n - 1] for n = 7..17
 *
 * in 64 bits (bothy truncates for 32-bit callers). Arguments 7..17 (arm64's X7..X17) are zero
 * unless the guest passed them, so ret[2] echoes X17 and ret[3] holds a checksum of X7..X17 that
 * tells each register from the others; x86 calls get what they got before those existed.
 *
 * One line per request: "hcall-handler: vcpu V fid 0xF args 0xA0 .. 0xA5 flags 0xX seq S",
 * with all 17 arguments when one of 7..17 is set, S being the request's token (unless --quiet,
 * which the benchmarks use).
 * Frames and messages that are not VMM_HCALL are reported and ignored.
 *
 *   --delay-ms MS   sleep MS milliseconds before each reply (timeouts)
 *   --garbage       before each reply, send a 3-byte packet and a reply with a wrong
 *                   token and wrong results (bothy must drop both)
 *   --die-after N   exit 0 as soon as request N has been received, without replying
 *                   (a handler that dies mid-call)
 *
 * Exits 0 when bothy closes the connection; 1 on a usage or socket error.
 * Plain libc and bothy's RM framing (src/rm/wire.c, proto.c, link.c): built
 * static so the busybox test host can run it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "rm/link.h" /* the RM framing bothy speaks, from src/ */
#include "rm/proto.h"

_Noreturn static void usage(void)
{
	fprintf(stderr, "usage: hcall-handler [--die-after N] [--garbage] [--delay-ms MS] [--quiet] SOCKET\n");
	exit(1);
}

static unsigned long number(const char *opt, const char *s)
{
	char *end;
	unsigned long v;

	if (!s)
		usage();
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || end == s || *end || *s == '-') {
		fprintf(stderr, "hcall-handler: %s wants a number, got '%s'\n", opt, s);
		exit(1);
	}
	return v;
}

static void sleep_ms(unsigned long ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Sends one packet; a peer that is gone is not an error here (the next recv sees it). */
static void send_packet(int fd, const void *buf, size_t len, const char *what)
{
	int ret = rm_link_send_frame(fd, buf, len, -1, 0);

	if (ret)
		fprintf(stderr, "hcall-handler: sending %s: %s\n", what, strerror(-ret));
}

/* VMM_HCALL_RET {token, ret}, as bothyd sends it: a notification. */
static void send_reply(int fd, uint32_t token, const uint64_t ret[4], const char *what)
{
	static uint8_t payload[RM_MSG_MAX];
	struct rm_hcall_reply_req r = { .token = token };
	size_t len;
	int err;

	memcpy(r.ret, ret, sizeof(r.ret));
	err = rm_link_encode(&rm_msgs[RM_MSG_VMM_HCALL_RET], RM_TYPE_NOTIFY, 0, &r, payload, &len);
	if (!err)
		err = rm_link_send(fd, RM_TYPE_NOTIFY, 0, RM_ID_VMM_HCALL_RET, payload, len, -1, 0);
	if (err)
		fprintf(stderr, "hcall-handler: sending %s: %s\n", what, strerror(-err));
}

/*
 * Receives the next VMM_HCALL into @rq: 1, or 0 when bothy has closed the connection, -1 on a
 * socket error. Frames and messages that are anything else are reported and skipped.
 */
static int recv_request(int fd, struct rm_reasm *reasm, struct rm_message *msg, struct rm_vm_hcall_ntf *rq)
{
	for (;;) {
		uint8_t frame[RM_FRAME_MAX];
		ssize_t n = rm_link_recv_frame(fd, frame, 0, NULL);
		int r;

		if (n == 0 || n == -ECONNRESET)
			return 0;
		if (n == -EMSGSIZE) {
			printf("hcall-handler: ignoring a packet longer than a frame\n");
			fflush(stdout);
			continue;
		}
		if (n < 0) {
			fprintf(stderr, "hcall-handler: recv: %s\n", strerror((int)-n));
			return -1;
		}
		r = rm_reasm_feed(reasm, frame, (size_t)n, msg);
		if (r == 0)
			continue;
		if (r == 1 && msg->hdr.type == RM_TYPE_NOTIFY && msg->hdr.msg_id == RM_ID_VMM_HCALL &&
		    !rm_decode(rm_msgs[RM_MSG_VMM_HCALL].req, msg->data, msg->len, rq))
			return 1;
		if (r == 1)
			printf("hcall-handler: ignoring a %zu-byte message (type %u msg_id 0x%08" PRIx32 ")\n", msg->len,
			       msg->hdr.type, msg->hdr.msg_id);
		else
			printf("hcall-handler: ignoring a %zd-byte packet (not an RM frame: %s)\n", n, strerror(-r));
		fflush(stdout);
	}
}

int main(int argc, char **argv)
{
	unsigned long die_after = 0, delay_ms = 0, count = 0;
	bool garbage = false, quiet = false;
	const char *path = NULL;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	static struct rm_reasm reasm; /* about 60 KiB: not on the stack */
	static struct rm_message msg;
	int lfd, fd;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--die-after")) {
			die_after = number(argv[i], argv[i + 1]);
			i++;
		} else if (!strcmp(argv[i], "--delay-ms")) {
			delay_ms = number(argv[i], argv[i + 1]);
			i++;
		} else if (!strcmp(argv[i], "--garbage")) {
			garbage = true;
		} else if (!strcmp(argv[i], "--quiet")) {
			quiet = true;
		} else if (argv[i][0] == '-' || path) {
			usage();
		} else {
			path = argv[i];
		}
	}
	if (!path)
		usage();
	if (strlen(path) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "hcall-handler: socket path too long: %s\n", path);
		return 1;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);

	lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		perror("hcall-handler: socket");
		return 1;
	}
	if (unlink(path) && errno != ENOENT) {
		fprintf(stderr, "hcall-handler: cannot remove %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) || listen(lfd, 1)) {
		fprintf(stderr, "hcall-handler: cannot listen on %s: %s\n", path, strerror(errno));
		return 1;
	}
	printf("hcall-handler: listening on %s\n", path);
	fflush(stdout);

	do
		fd = accept(lfd, NULL, NULL);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		perror("hcall-handler: accept");
		return 1;
	}
	close(lfd); /* one connection: one VM */

	rm_reasm_init(&reasm);
	for (;;) {
		struct rm_vm_hcall_ntf rq;
		uint64_t ret[4];
		int r = recv_request(fd, &reasm, &msg, &rq);

		if (r == 0) {
			if (!quiet)
				printf("hcall-handler: bothy disconnected after %lu requests\n", count);
			return 0;
		}
		if (r < 0)
			return 1;
		count++;
		if (!quiet) {
			printf("hcall-handler: vcpu %u fid 0x%08" PRIx32 " args", rq.vcpu, rq.fid);
			for (unsigned i = 0; i < rm_hcall_nargs(&rq); i++)
				printf(" 0x%" PRIx64, rq.args[i]);
			printf(" flags 0x%" PRIx32 " seq %" PRIu32 "\n", rq.flags, rq.token);
			fflush(stdout);
		}
		if (die_after && count == die_after) {
			printf("hcall-handler: exiting after request %lu without replying (--die-after)\n", count);
			return 0;
		}

		ret[0] = (uint64_t)rq.fid ^ 0xa5a5a5a5u;
		ret[1] = rq.args[0] + rq.args[1];
		ret[2] = rq.args[2] ^ rq.args[3] ^ rq.args[16];
		ret[3] = rq.args[4] + rq.vcpu + 1;
		for (unsigned n = 7; n <= RM_HCALL_ARGS; n++)
			ret[3] += n * rq.args[n - 1];
		if (delay_ms)
			sleep_ms(delay_ms);
		if (garbage) {
			static const uint64_t wrong[4] = { 0xdeadbeef, 0xdeadbeef, 0xdeadbeef, 0xdeadbeef };
			static const uint8_t junk[3] = { 0x42, 0x48, 0x43 };

			send_packet(fd, junk, sizeof(junk), "junk");
			send_reply(fd, rq.token + 1000, wrong, "a reply with a wrong token");
		}
		send_reply(fd, rq.token, ret, "the reply");
	}
}
