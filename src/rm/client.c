/* The resource manager's client library (rm/client.h). */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "rm/client.h"
#include "rm/link.h"

/* The union of struct rm_notification holds any notification payload. */
#define NOTIFICATION_ROOM (sizeof(struct rm_notification) - offsetof(struct rm_notification, status))

/* A request in flight: its reply, once it has come, waits here for rm_client_wait(). */
struct rm_pending {
	bool used;
	bool done;      /* the reply is in data/len */
	bool abandoned; /* nobody waits: drop the reply */
	bool nomem;
	uint16_t seq;
	uint32_t msg_id;
	int fd; /* came with the reply's first frame, or -1 */
	size_t len;
	uint8_t *data; /* u32 error + reply payload */
};

struct rm_client {
	int fd;
	bool eof;
	uint16_t next_seq;
	int timeout_ms;
	struct rm_pending pending[RM_CLIENT_MAX_INFLIGHT];
	struct rm_reasm *reasm;
	struct rm_message *msg; /* the message being dispatched */
	uint8_t *tx;            /* encoded request */
	void *scratch;          /* decodes a reply nobody wants the contents of */
	struct rm_notification *queue;
	unsigned queue_head, queue_count;
	unsigned long lost, dropped;
};

const char *rm_client_socket_path(const char *path)
{
	const char *env;

	if (path && *path)
		return path;
	env = getenv(RM_CLIENT_SOCKET_ENV);
	return env && *env ? env : RM_CLIENT_DEFAULT_SOCKET;
}

int rm_client_from_fd(int fd, struct rm_client **out)
{
	struct rm_client *c;
	int type = 0;
	socklen_t tlen = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0)
		return -errno;
	if (type != SOCK_SEQPACKET)
		return -EPROTOTYPE;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->reasm = malloc(sizeof(*c->reasm));
	c->msg = malloc(sizeof(*c->msg));
	c->tx = malloc(RM_MSG_MAX);
	c->scratch = malloc(rm_payload_max());
	c->queue = calloc(RM_CLIENT_NOTIFY_QUEUE, sizeof(*c->queue));
	if (!c->reasm || !c->msg || !c->tx || !c->scratch || !c->queue) {
		c->fd = -1;
		rm_client_close(c);
		return -ENOMEM;
	}
	rm_reasm_init(c->reasm);
	for (unsigned i = 0; i < RM_CLIENT_MAX_INFLIGHT; i++)
		c->pending[i].fd = -1;
	c->fd = fd;
	c->next_seq = 1;
	c->timeout_ms = RM_CLIENT_DEFAULT_TIMEOUT_MS;
	*out = c;
	return 0;
}

int rm_client_connect(const char *path, struct rm_client **out)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd, r;

	path = rm_client_socket_path(path);
	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	r = rm_client_from_fd(fd, out);
	if (r)
		close(fd);
	return r;
}

static void pending_free(struct rm_pending *p)
{
	if (p->fd >= 0)
		close(p->fd);
	free(p->data);
	*p = (struct rm_pending){ .fd = -1 };
}

void rm_client_close(struct rm_client *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < RM_CLIENT_MAX_INFLIGHT; i++)
		pending_free(&c->pending[i]);
	if (c->fd >= 0)
		close(c->fd);
	free(c->reasm);
	free(c->msg);
	free(c->tx);
	free(c->scratch);
	free(c->queue);
	free(c);
}

int rm_client_fd(const struct rm_client *c)
{
	return c->fd;
}

void rm_client_set_timeout(struct rm_client *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms;
}

unsigned rm_client_notifications_queued(const struct rm_client *c)
{
	return c->queue_count;
}

unsigned long rm_client_notifications_lost(const struct rm_client *c)
{
	return c->lost;
}

unsigned long rm_client_messages_dropped(const struct rm_client *c)
{
	return c->dropped;
}

static struct rm_pending *pending_find(struct rm_client *c, uint16_t seq)
{
	for (unsigned i = 0; i < RM_CLIENT_MAX_INFLIGHT; i++)
		if (c->pending[i].used && c->pending[i].seq == seq)
			return &c->pending[i];
	return NULL;
}

/* --- sending ------------------------------------------------------------------------------ */

int rm_client_send(struct rm_client *c, uint32_t msg_id, const void *req, uint16_t *seq)
{
	static const struct rm_empty empty;
	const struct rm_msg_desc *desc = rm_msg_find(msg_id);
	struct rm_pending *p = NULL;
	size_t len;
	int r;

	if (!desc || desc->kind != RM_KIND_REQ || (!req && desc->req->nr_fields))
		return -EINVAL;
	if (c->eof)
		return -ECONNRESET;
	r = rm_link_encode(desc, RM_TYPE_REQUEST, RM_OK, req ? req : &empty, c->tx, &len);
	if (r)
		return r == -E2BIG ? -E2BIG : -EINVAL;
	for (unsigned i = 0; i < RM_CLIENT_MAX_INFLIGHT && !p; i++)
		if (!c->pending[i].used)
			p = &c->pending[i];
	if (!p)
		return -EBUSY;
	/* 16-bit and cyclic; never a seq whose reply is still owed (at most 16, so this ends). */
	while (pending_find(c, c->next_seq))
		c->next_seq++;
	*p = (struct rm_pending){ .used = true, .seq = c->next_seq++, .msg_id = msg_id, .fd = -1 };
	r = rm_link_send(c->fd, RM_TYPE_REQUEST, p->seq, msg_id, c->tx, len, -1, 0);
	if (r) {
		pending_free(p);
		return r == -EPIPE || r == -ECONNRESET ? -ECONNRESET : r;
	}
	*seq = p->seq;
	return 0;
}

void rm_client_abandon(struct rm_client *c, uint16_t seq)
{
	struct rm_pending *p = pending_find(c, seq);

	if (!p)
		return;
	if (p->done)
		pending_free(p);
	else
		p->abandoned = true;
}

/* --- receiving ---------------------------------------------------------------------------- */

static void dispatch_reply(struct rm_client *c, const struct rm_message *m)
{
	struct rm_pending *p = pending_find(c, m->hdr.seq);

	/* A reply nobody asked for (unknown seq, wrong msg_id, a duplicate) is dropped, as the RM does. */
	if (!p || p->msg_id != m->hdr.msg_id || p->done) {
		c->dropped++;
		return;
	}
	if (p->abandoned) {
		pending_free(p);
		return;
	}
	p->done = true;
	p->data = malloc(m->len ? m->len : 1);
	if (!p->data) {
		p->nomem = true;
		return;
	}
	memcpy(p->data, m->data, m->len);
	p->len = m->len;
}

static void dispatch_notification(struct rm_client *c, const struct rm_message *m)
{
	const struct rm_msg_desc *desc = rm_msg_find(m->hdr.msg_id);
	struct rm_notification *n;

	if (!desc || desc->kind != RM_KIND_NOTIFY || desc->req->size > NOTIFICATION_ROOM) {
		c->dropped++;
		return;
	}
	if (c->queue_count == RM_CLIENT_NOTIFY_QUEUE) {
		c->lost++;
		return;
	}
	n = &c->queue[(c->queue_head + c->queue_count) % RM_CLIENT_NOTIFY_QUEUE];
	memset(n, 0, sizeof(*n));
	if (rm_decode(desc->req, m->data, m->len, &n->status)) {
		c->dropped++;
		return;
	}
	n->msg_id = m->hdr.msg_id;
	c->queue_count++;
}

/*
 * An fd belongs to the reply whose first frame carried it; it is parked on the request until
 * the reply is complete. Any other fd (a notification's, an unasked reply's) is closed.
 */
static void park_fd(struct rm_client *c, const uint8_t *frame, size_t len, int fd)
{
	struct rm_pending *p;
	struct rm_hdr h;

	if (rm_hdr_decode(frame, len, &h) == 0 && h.type == RM_TYPE_REPLY) {
		p = pending_find(c, h.seq);
		if (p && p->msg_id == h.msg_id && !p->done) {
			if (p->fd >= 0)
				close(p->fd);
			p->fd = fd;
			return;
		}
	}
	close(fd);
}

/* One packet: 1 handled, 0 none waiting, -ECONNRESET the link is gone. */
static int receive_one(struct rm_client *c)
{
	uint8_t frame[RM_FRAME_MAX];
	ssize_t n;
	int fd, r;

	if (c->eof)
		return -ECONNRESET;
	n = rm_link_recv_frame(c->fd, frame, MSG_DONTWAIT, &fd);
	if (n == -EAGAIN)
		return 0;
	if (n == -EMSGSIZE) { /* longer than any frame may be */
		c->dropped++;
		return 1;
	}
	if (n <= 0) {
		c->eof = true;
		return -ECONNRESET;
	}
	if (fd >= 0)
		park_fd(c, frame, (size_t)n, fd);
	r = rm_reasm_feed(c->reasm, frame, (size_t)n, c->msg);
	if (r < 0) {
		c->dropped++;
		return 1;
	}
	if (r == 0)
		return 1;
	switch (c->msg->hdr.type) {
	case RM_TYPE_REPLY:
		dispatch_reply(c, c->msg);
		break;
	case RM_TYPE_NOTIFY:
		dispatch_notification(c, c->msg);
		break;
	default: /* bothyd sends clients no requests */
		c->dropped++;
		break;
	}
	return 1;
}

int rm_client_process(struct rm_client *c)
{
	int count = 0, r;

	while ((r = receive_one(c)) > 0)
		count++;
	return r < 0 ? r : count;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Reads what has arrived; when nothing has, sleeps in poll() until more does or @deadline (ms,
 * -1: none) passes. 0: something may have changed; -ETIMEDOUT; -ECONNRESET.
 */
static int pump(struct rm_client *c, int64_t deadline)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	int r, wait_ms;

	r = rm_client_process(c);
	if (r)
		return r < 0 ? r : 0;
	if (deadline < 0) {
		wait_ms = -1;
	} else {
		int64_t left = deadline - now_ms();

		if (left <= 0)
			return -ETIMEDOUT;
		wait_ms = left > 1000000 ? 1000000 : (int)left;
	}
	r = poll(&pfd, 1, wait_ms);
	if (r < 0 && errno != EINTR)
		return -errno;
	return 0;
}

static int64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

/* Hands a complete reply to its waiter and frees the seq. */
static int collect(struct rm_client *c, struct rm_pending *p, uint32_t *rm_err, void *rep, int *fd)
{
	const struct rm_msg_desc *desc = rm_msg_find(p->msg_id);
	uint32_t err = 0;
	int r = 0;

	if (fd)
		*fd = -1;
	if (p->nomem)
		r = -ENOMEM;
	else if (p->len < 4)
		r = -EBADMSG;
	else
		err = rm_get32(p->data);
	/* An error reply is the u32 alone (anything after it is ignored); success carries the layout. */
	if (!r && err == RM_OK && rm_decode(desc->rep, p->data + 4, p->len - 4, rep ? rep : c->scratch))
		r = -EBADMSG;
	if (!r) {
		if (rm_err)
			*rm_err = err;
		if (err == RM_OK && fd) {
			*fd = p->fd;
			p->fd = -1;
		}
	}
	pending_free(p);
	return r;
}

int rm_client_wait(struct rm_client *c, uint16_t seq, int timeout_ms, uint32_t *rm_err, void *rep, int *fd)
{
	struct rm_pending *p = pending_find(c, seq);
	int64_t deadline = deadline_of(timeout_ms);
	int r;

	if (!p || p->abandoned)
		return -ENOENT;
	for (;;) {
		if (p->done)
			return collect(c, p, rm_err, rep, fd);
		if (c->eof)
			return -ECONNRESET;
		r = pump(c, deadline);
		if (r == -ETIMEDOUT)
			return r;
		if (r < 0 && r != -ECONNRESET)
			return r;
	}
}

int rm_client_call(struct rm_client *c, uint32_t msg_id, const void *req, uint32_t *rm_err, void *rep, int *fd)
{
	uint16_t seq;
	int r;

	r = rm_client_send(c, msg_id, req, &seq);
	if (r)
		return r;
	r = rm_client_wait(c, seq, c->timeout_ms, rm_err, rep, fd);
	if (r == -ETIMEDOUT)
		rm_client_abandon(c, seq);
	return r;
}

int rm_client_next_notification(struct rm_client *c, struct rm_notification *n, int timeout_ms)
{
	int64_t deadline = deadline_of(timeout_ms);
	int r;

	for (;;) {
		if (c->queue_count) {
			*n = c->queue[c->queue_head];
			c->queue_head = (c->queue_head + 1) % RM_CLIENT_NOTIFY_QUEUE;
			c->queue_count--;
			return 0;
		}
		if (c->eof)
			return -ECONNRESET;
		r = pump(c, deadline);
		if (r == -ETIMEDOUT)
			return r;
		if (r < 0 && r != -ECONNRESET)
			return r;
	}
}

/* --- parsing helpers ---------------------------------------------------------------------- */

/* A whole string as an unsigned number (0x hex, else decimal) no larger than @max. */
static int parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	char buf[32], *end;
	unsigned long long v;

	if (!len || len >= sizeof(buf) || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	v = strtoull(buf, &end, buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'X') ? 16 : 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int rm_client_parse_reg(const char *s, struct rm_boot_context_req *out)
{
	const char *eq = strchr(s, '='), *colon;
	size_t set_len;
	uint64_t set, index = 0, value;
	bool named = true;

	if (!eq)
		return -EINVAL;
	colon = memchr(s, ':', (size_t)(eq - s));
	set_len = (size_t)((colon ? colon : eq) - s);
	if (set_len == 1 && !strncasecmp(s, "x", 1)) {
		set = RM_REG_SET_X;
	} else if (set_len == 2 && !strncasecmp(s, "pc", 2)) {
		set = RM_REG_SET_PC;
	} else if (set_len == 2 && !strncasecmp(s, "sp", 2)) {
		set = RM_REG_SET_SP;
	} else {
		if (parse_u64(s, set_len, 255, &set))
			return -EINVAL;
		named = false;
	}
	if (colon) {
		if (parse_u64(colon + 1, (size_t)(eq - colon - 1), 255, &index))
			return -EINVAL;
	} else if (named && set == RM_REG_SET_X) {
		return -EINVAL; /* which general register? */
	}
	/* PC and SP are single registers: index 0 (Gunyah's numbering). */
	if (named && set != RM_REG_SET_X && index)
		return -EINVAL;
	if (parse_u64(eq + 1, strlen(eq + 1), UINT64_MAX, &value))
		return -EINVAL;
	out->reg_set = (uint8_t)set;
	out->reg_index = (uint8_t)index;
	out->value = value;
	return 0;
}

int rm_client_parse_state(const char *s)
{
	for (unsigned state = 0; state <= RM_VM_STATE_MAX; state++) {
		const char *name = rm_vm_state_name(state);

		if (strcmp(name, "?") && !strcasecmp(name, s))
			return (int)state;
	}
	return -EINVAL;
}
