/* The VM owner as a peer on an RM link: VMM_HCALL out, VMM_HCALL_RET back (rm/hcall_peer.h). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "rm/hcall_peer.h"
#include "rm/link.h"
#include "rm/proto.h"

_Static_assert(sizeof(((struct rm_vm_hcall_ntf *)0)->args) == sizeof(((struct hcall_call *)0)->args),
	       "VMM_HCALL carries every argument a call has");

struct hcall_peer {
	int fd;
	bool own_fd;
	int stop_fd;
	int timeout_ms;
	bool dead;
	uint32_t next_token;
	unsigned long dropped;
	struct rm_reasm reasm;
	struct rm_message msg;
	uint8_t buf[RM_MSG_MAX];
};

int hcall_peer_open(int fd, int timeout_ms, struct hcall_peer **out)
{
	struct hcall_peer *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->fd = fd;
	p->stop_fd = -1;
	p->timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
	rm_reasm_init(&p->reasm);
	*out = p;
	return 0;
}

int hcall_peer_connect(const char *path, int timeout_ms, struct hcall_peer **out)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd, ret;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	memcpy(addr.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		ret = -errno;
		close(fd);
		return ret;
	}
	ret = hcall_peer_open(fd, timeout_ms, out);
	if (ret) {
		close(fd);
		return ret;
	}
	(*out)->own_fd = true;
	return 0;
}

void hcall_peer_close(struct hcall_peer *p)
{
	if (!p)
		return;
	if (p->own_fd)
		close(p->fd);
	free(p);
}

void hcall_peer_set_stop_fd(struct hcall_peer *p, int stop_fd)
{
	p->stop_fd = stop_fd;
}

unsigned long hcall_peer_dropped(const struct hcall_peer *p)
{
	return p->dropped;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int peer_gone(struct hcall_peer *p, const char *why)
{
	if (!p->dead)
		log_warn("hypercall handler %s: forwarded hypercalls now return NOT_SUPPORTED", why);
	p->dead = true;
	return -EPIPE;
}

/* Is p->msg the answer to @token? Then its results go to @c. */
static bool take_answer(struct hcall_peer *p, uint32_t token, struct hcall_call *c)
{
	struct rm_hcall_reply_req ret;

	if (p->msg.hdr.type != RM_TYPE_NOTIFY || p->msg.hdr.msg_id != RM_ID_VMM_HCALL_RET ||
	    rm_decode(rm_msgs[RM_MSG_VMM_HCALL_RET].req, p->msg.data, p->msg.len, &ret) || ret.token != token)
		return false;
	memcpy(c->ret, ret.ret, sizeof(c->ret));
	return true;
}

int hcall_peer_call(void *peer, struct hcall_call *c)
{
	struct hcall_peer *p = peer;
	struct rm_vm_hcall_ntf ntf = { .vcpu = (uint16_t)c->vcpu, .fid = c->fid,
				       .flags = c->is64 ? HCALL_WIRE_FLAG_64 : 0 };
	int64_t deadline = now_ms() + p->timeout_ms;
	size_t len;

	if (p->dead)
		return -EPIPE;
	ntf.token = ++p->next_token;
	memcpy(ntf.args, c->args, sizeof(ntf.args));
	if (rm_link_encode(&rm_msgs[RM_MSG_VMM_HCALL], RM_TYPE_NOTIFY, 0, &ntf, p->buf, &len))
		return -EINVAL;
	if (rm_link_send(p->fd, RM_TYPE_NOTIFY, 0, RM_ID_VMM_HCALL, p->buf, len, -1, 0))
		return peer_gone(p, "cannot be written to");

	for (;;) {
		struct pollfd fds[2] = { { .fd = p->fd, .events = POLLIN }, { .fd = p->stop_fd, .events = POLLIN } };
		uint8_t frame[RM_FRAME_MAX];
		int64_t left = deadline - now_ms();
		ssize_t n;
		int r;

		if (left <= 0) {
			log_guest("hypercall handler did not answer 0x%08x within %d ms", c->fid, p->timeout_ms);
			return -ETIMEDOUT;
		}
		r = poll(fds, p->stop_fd >= 0 ? 2 : 1, (int)left);
		if (r < 0 && errno != EINTR)
			return peer_gone(p, "cannot be polled");
		if (r <= 0)
			continue;
		if (p->stop_fd >= 0 && (fds[1].revents & POLLIN))
			return -ECANCELED; /* the VM is stopping: do not hold its vCPU */
		if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = rm_link_recv_frame(p->fd, frame, MSG_DONTWAIT, NULL);
		if (n == -EAGAIN)
			continue;
		if (n == 0)
			return peer_gone(p, "closed its socket");
		if (n < 0 && n != -EMSGSIZE)
			return peer_gone(p, "socket failed");
		r = n < 0 ? (int)n : rm_reasm_feed(&p->reasm, frame, (size_t)n, &p->msg);
		if (r == 0)
			continue; /* more frames to come */
		if (r == 1 && take_answer(p, ntf.token, c))
			return 0;
		p->dropped++; /* malformed, or the late answer to a call that timed out */
	}
}
