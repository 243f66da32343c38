/*
 * The VM owner's hypercall handler as an external process: one SOCK_SEQPACKET
 * Unix socket, one packet per request and per reply (docs/hypercalls.md).
 * The handler is not trusted: a reply that is malformed or late is dropped, a
 * silent handler times out, a dead one makes every later call fail at once;
 * none of it stops the VM.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "hcall/hcall.h"
#include "hcall/wire.h"

struct hcall_socket {
	int fd;
	int stop_fd;
	int timeout_ms;
	bool dead;
	uint64_t seq;
	unsigned long dropped;
};

int hcall_socket_connect(const char *path, int timeout_ms, struct hcall_socket **out)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct hcall_socket *s;
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	memcpy(addr.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		int err = -errno;
		close(fd);
		return err;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		return -ENOMEM;
	}
	s->fd = fd;
	s->stop_fd = -1;
	s->timeout_ms = timeout_ms;
	*out = s;
	return 0;
}

void hcall_socket_set_stop_fd(struct hcall_socket *s, int stop_fd)
{
	s->stop_fd = stop_fd;
}

void hcall_socket_close(struct hcall_socket *s)
{
	if (!s)
		return;
	close(s->fd);
	free(s);
}

unsigned long hcall_socket_dropped(const struct hcall_socket *s)
{
	return s->dropped;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int handler_gone(struct hcall_socket *s, const char *why)
{
	if (!s->dead)
		log_warn("hypercall handler %s: forwarded hypercalls now return NOT_SUPPORTED", why);
	s->dead = true;
	return -EPIPE;
}

int hcall_socket_call(void *opaque, struct hcall_call *c)
{
	struct hcall_socket *s = opaque;
	uint8_t req[HCALL_WIRE_REQ_SIZE], reply[HCALL_WIRE_REPLY_SIZE + 1];
	struct hcall_wire_request rq = { .vcpu = c->vcpu, .fid = c->fid, .flags = c->is64 ? HCALL_WIRE_FLAG_64 : 0 };
	struct hcall_wire_reply rp;
	int64_t deadline = now_ms() + s->timeout_ms;
	uint64_t seq;

	if (s->dead)
		return -EPIPE;
	seq = rq.seq = ++s->seq;
	memcpy(rq.args, c->args, sizeof(rq.args));
	hcall_wire_encode_request(req, &rq);
	if (send(s->fd, req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req))
		return handler_gone(s, "cannot be written to");

	for (;;) {
		struct pollfd p[2] = { { .fd = s->fd, .events = POLLIN }, { .fd = s->stop_fd, .events = POLLIN } };
		int64_t left = deadline - now_ms();
		ssize_t n;
		int r;

		if (left <= 0) {
			log_guest("hypercall handler did not answer 0x%08x within %d ms", c->fid, s->timeout_ms);
			return -ETIMEDOUT;
		}
		r = poll(p, s->stop_fd >= 0 ? 2 : 1, (int)left);
		if (r < 0 && errno != EINTR)
			return handler_gone(s, "cannot be polled");
		if (r <= 0)
			continue;
		if (s->stop_fd >= 0 && (p[1].revents & POLLIN))
			return -ECANCELED; /* the VM is stopping: do not hold its vCPU */
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = recv(s->fd, reply, sizeof(reply), MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return handler_gone(s, n == 0 ? "closed its socket" : "socket failed");
		if (!hcall_wire_decode_reply(reply, (size_t)n, &rp) || rp.seq != seq) {
			s->dropped++; /* malformed, or the late answer to a call that timed out */
			continue;
		}
		memcpy(c->ret, rp.ret, sizeof(c->ret));
		return 0;
	}
}
