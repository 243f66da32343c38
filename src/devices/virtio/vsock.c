/*
 * virtio-vsock (virtio 1.x, section 5.10) served in userspace: stream
 * connections between the guest and host Unix sockets (backends/vsock_uds.h).
 *
 * Queues: rx (0) carries every packet to the guest, control and data; tx (1)
 * carries the guest's packets; event (2) is never used (transport resets are
 * only needed after a snapshot restore).
 *
 * Everything runs on the device's worker thread under vdev->lock: queue kicks
 * through the core, host socket events through this file's evloop callbacks.
 * The exception is reset, which the core calls on the vCPU thread of the
 * status write (lock held). That is why every evloop registration here passes
 * the device, not the connection: a callback already picked by the loop
 * looks its connection up by fd under the lock, so a connection freed by a
 * reset meanwhile is simply not found.
 *
 * Flow control (5.10.6.3): each side advertises buf_alloc (its receive
 * buffer) and fwd_cnt (bytes it has consumed); a sender keeps
 * tx_cnt - peer_fwd_cnt <= peer_buf_alloc. We read a host socket only as
 * far as the guest's credit and its rx buffers allow, and we buffer what a
 * host socket cannot take at once only up to the buf_alloc we advertised: a
 * guest that sends beyond it loses that connection (RST).
 *
 * A guest that closes (SHUTDOWN both ways, or RST) while the host socket has
 * not yet taken all it sent loses nothing: the connection drains that buffer
 * first, until the socket has taken nothing for VSOCK_DRAIN_TIMEOUT_MS, and
 * only then closes the socket (and answers a SHUTDOWN with its RST).
 *
 * Memory is bounded: at most VSOCK_MAX_CONNS connections (host clients still
 * sending their CONNECT line and closed connections draining included), each
 * buffering at most VSOCK_BUF_ALLOC bytes, and at most VSOCK_RST_QUEUE
 * answers to packets for unknown connections waiting for rx buffers (tx
 * processing pauses while that queue is full).
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "backends/vsock_uds.h"
#include "core/evloop.h"
#include "core/log.h"
#include "devices/virtio/devices.h"
#include "devices/virtio/virtio.h"

#define VSOCK_RXQ 0
#define VSOCK_TXQ 1
#define VSOCK_EVQ 2
#define VSOCK_NR_QUEUES 3
#define VSOCK_QUEUE_SIZE 128

#define VIRTIO_VSOCK_F_STREAM 0

#define VSOCK_HOST_CID 2
#define VSOCK_TYPE_STREAM 1

enum vsock_op {
	VSOCK_OP_REQUEST = 1,
	VSOCK_OP_RESPONSE = 2,
	VSOCK_OP_RST = 3,
	VSOCK_OP_SHUTDOWN = 4,
	VSOCK_OP_RW = 5,
	VSOCK_OP_CREDIT_UPDATE = 6,
	VSOCK_OP_CREDIT_REQUEST = 7,
};

#define VSOCK_SHUTDOWN_RCV 1  /* the sender will receive no more */
#define VSOCK_SHUTDOWN_SEND 2 /* the sender will send no more */
#define VSOCK_SHUTDOWN_BOTH (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)

#define VSOCK_MAX_CONNS 1024
#define VSOCK_BUF_ALLOC (256u << 10) /* our receive buffer per connection: the guest's credit */
#define VSOCK_MAX_PKT (64u << 10)    /* most payload in one packet to the guest */
#define VSOCK_RST_QUEUE 64
#define VSOCK_HOST_TIMEOUT_MS 5000 /* for a CONNECT line, then for the guest's answer */
#define VSOCK_DRAIN_TIMEOUT_MS 10000 /* a closed guest's host socket taking nothing: dropped */
#define VSOCK_FIRST_HOST_PORT 1024
#define VSOCK_HASH_SIZE 256

struct virtio_vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
} __attribute__((packed));
_Static_assert(sizeof(struct virtio_vsock_hdr) == 44, "virtio 1.x 5.10.6 header");

#define VSOCK_HDR_LEN sizeof(struct virtio_vsock_hdr)

/* Intrusive doubly linked list; an unlinked node points at itself. */
struct vlink {
	struct vlink *prev, *next;
};

static void vlink_init(struct vlink *n)
{
	n->prev = n->next = n;
}

static bool vlink_linked(const struct vlink *n)
{
	return n->next != n;
}

static void vlink_add_tail(struct vlink *head, struct vlink *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

static void vlink_del(struct vlink *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	vlink_init(n);
}

#define vlink_entry(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

enum vsock_conn_state {
	VSOCK_CONN_HOST_LINE,    /* host client accepted, reading its "CONNECT <port>\n" */
	VSOCK_CONN_HOST_REQUEST, /* REQUEST queued or sent to the guest, awaiting RESPONSE */
	VSOCK_CONN_ESTABLISHED,
	VSOCK_CONN_DRAINING,     /* the guest closed; the socket still takes what it sent */
	VSOCK_CONN_CLOSING,      /* socket closed; an RST to the guest is pending */
};

/* Control packets a connection owes the guest (one rx buffer each). */
#define VSOCK_CTL_RST 0x01
#define VSOCK_CTL_REQUEST 0x02
#define VSOCK_CTL_RESPONSE 0x04
#define VSOCK_CTL_SHUTDOWN 0x08
#define VSOCK_CTL_CREDIT 0x10
#define VSOCK_CTL_CREDIT_REQ 0x20

struct vsock_conn {
	int fd;
	enum vsock_conn_state state;
	uint32_t host_port, guest_port;

	/* Host -> guest credit: the guest's buffer and consumption, our sent count. */
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	/* Guest -> host: bytes received, bytes written to the socket, fwd_cnt last told. */
	uint32_t rx_cnt, fwd_cnt, fwd_cnt_sent;

	/* Guest bytes the socket has not taken yet: [obuf + ohead, + olen). */
	uint8_t *obuf;
	size_t ohead, olen, ocap;

	unsigned ctl;        /* VSOCK_CTL_* */
	uint32_t shut_flags; /* what our SHUTDOWN says */
	uint32_t guest_shut; /* what the guest's SHUTDOWNs said */
	bool host_eof;       /* the host side will send no more */
	bool shut_wr_pending; /* shutdown(SHUT_WR) once the buffer drains */
	bool credit_blocked; /* the guest has no room: not reading the socket */
	bool guest_gone;     /* the guest sent RST: it owes nothing, is owed nothing */
	uint32_t watched;    /* events registered with the loop (0: none) */

	char line[VSOCK_UDS_LINE_MAX]; /* HOST_LINE */
	unsigned line_len;
	long long deadline_ms; /* HOST_LINE / HOST_REQUEST / DRAINING */

	struct vsock_conn *port_next, *fd_next; /* hash chains */
	struct vlink all;  /* every connection */
	struct vlink ctl_link; /* owes control packets */
	struct vlink rx_link;  /* socket readable: data for the guest */
};

struct vsock_rst {
	uint32_t host_port, guest_port;
};

struct virtio_vsock {
	struct virtio_dev vdev; /* first: the core hands back &vdev */
	uint64_t guest_cid;
	uint8_t config[8]; /* le64 guest_cid */
	char uds_path[108];
	int listen_fd, timer_fd;
	bool timer_armed;
	bool loop_gone; /* destroy: the core freed the loop already */

	unsigned nr_conns;
	unsigned nr_timed; /* connections with a deadline: what the timer watches */
	uint32_t next_host_port;
	struct vsock_conn *by_port[VSOCK_HASH_SIZE];
	struct vsock_conn *by_fd[VSOCK_HASH_SIZE];
	struct vlink conns, ctl_list, rx_list;

	struct vsock_rst rst[VSOCK_RST_QUEUE]; /* answers to packets for no connection */
	unsigned rst_head, rst_count;
	bool tx_stalled; /* tx stopped because the RST queue was full */

	struct virtq_req req; /* 16 KiB of iovecs each: not on the worker's stack */
	struct iovec iov[VIRTQ_MAX_CHAIN];
};

static long long vsock_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static unsigned vsock_hash_port(uint32_t host_port, uint32_t guest_port)
{
	return (host_port * 2654435761u ^ guest_port * 40503u) % VSOCK_HASH_SIZE;
}

static unsigned vsock_hash_fd(int fd)
{
	return (unsigned)fd % VSOCK_HASH_SIZE;
}

static struct vsock_conn *vsock_find_port(struct virtio_vsock *vs, uint32_t host_port, uint32_t guest_port)
{
	struct vsock_conn *c = vs->by_port[vsock_hash_port(host_port, guest_port)];

	while (c && (c->host_port != host_port || c->guest_port != guest_port))
		c = c->port_next;
	return c;
}

static struct vsock_conn *vsock_find_fd(struct virtio_vsock *vs, int fd)
{
	struct vsock_conn *c = vs->by_fd[vsock_hash_fd(fd)];

	while (c && c->fd != fd)
		c = c->fd_next;
	return c;
}

static void vsock_hash_add_port(struct virtio_vsock *vs, struct vsock_conn *c)
{
	struct vsock_conn **head = &vs->by_port[vsock_hash_port(c->host_port, c->guest_port)];

	c->port_next = *head;
	*head = c;
}

static void vsock_hash_del_port(struct virtio_vsock *vs, struct vsock_conn *c)
{
	struct vsock_conn **p = &vs->by_port[vsock_hash_port(c->host_port, c->guest_port)];

	while (*p && *p != c)
		p = &(*p)->port_next;
	if (*p)
		*p = c->port_next;
	c->port_next = NULL;
}

static void vsock_hash_add_fd(struct virtio_vsock *vs, struct vsock_conn *c)
{
	struct vsock_conn **head = &vs->by_fd[vsock_hash_fd(c->fd)];

	c->fd_next = *head;
	*head = c;
}

static void vsock_hash_del_fd(struct virtio_vsock *vs, struct vsock_conn *c)
{
	struct vsock_conn **p = &vs->by_fd[vsock_hash_fd(c->fd)];

	while (*p && *p != c)
		p = &(*p)->fd_next;
	if (*p)
		*p = c->fd_next;
	c->fd_next = NULL;
}

/* The guest can address @c: it knows (or is being told of) the connection. */
static bool vsock_in_port_hash(const struct vsock_conn *c)
{
	return c->state != VSOCK_CONN_HOST_LINE && !c->guest_gone;
}

/* @c ends at c->deadline_ms unless it moves on first. */
static bool vsock_timed(const struct vsock_conn *c)
{
	return c->state == VSOCK_CONN_HOST_LINE || c->state == VSOCK_CONN_HOST_REQUEST ||
	       c->state == VSOCK_CONN_DRAINING;
}

static void vsock_on_conn(void *opaque, int fd, uint32_t events);

/* Stops watching @c's socket. */
static void vsock_conn_unwatch(struct virtio_vsock *vs, struct vsock_conn *c)
{
	if (c->watched && !vs->loop_gone)
		evloop_del(vs->vdev.loop, c->fd);
	c->watched = 0;
}

static void vsock_conn_reset(struct virtio_vsock *vs, struct vsock_conn *c);

/* Watches exactly the events @c can act on now: never a readable socket we would not read. */
static void vsock_conn_update_watch(struct virtio_vsock *vs, struct vsock_conn *c)
{
	uint32_t want = 0;
	int ret;

	if (c->fd < 0 || vs->loop_gone)
		return;
	if (c->state == VSOCK_CONN_HOST_LINE) {
		want = EPOLLIN;
	} else if (c->state == VSOCK_CONN_ESTABLISHED) {
		if (!vlink_linked(&c->rx_link) && !c->credit_blocked && !c->host_eof &&
		    !(c->guest_shut & VSOCK_SHUTDOWN_RCV))
			want |= EPOLLIN;
		if (c->olen)
			want |= EPOLLOUT;
	} else if (c->state == VSOCK_CONN_DRAINING) {
		want = EPOLLOUT;
	}
	if (want == c->watched)
		return;
	if (!want) {
		vsock_conn_unwatch(vs, c);
		return;
	}
	if (c->watched)
		ret = evloop_mod(vs->vdev.loop, c->fd, want);
	else
		ret = evloop_add(vs->vdev.loop, c->fd, want, vsock_on_conn, vs);
	if (ret) {
		log_err("%s: cannot watch a connection: %s", vs->vdev.name, strerror(-ret));
		vsock_conn_reset(vs, c);
		return;
	}
	c->watched = want;
}

static void vsock_conn_close_fd(struct virtio_vsock *vs, struct vsock_conn *c)
{
	if (c->fd < 0)
		return;
	vsock_conn_unwatch(vs, c);
	vsock_hash_del_fd(vs, c);
	close(c->fd);
	c->fd = -1;
}

static void vsock_conn_free(struct virtio_vsock *vs, struct vsock_conn *c)
{
	vsock_conn_close_fd(vs, c);
	if (vsock_in_port_hash(c))
		vsock_hash_del_port(vs, c);
	if (vsock_timed(c))
		vs->nr_timed--;
	vlink_del(&c->all);
	if (vlink_linked(&c->ctl_link))
		vlink_del(&c->ctl_link);
	if (vlink_linked(&c->rx_link))
		vlink_del(&c->rx_link);
	free(c->obuf);
	free(c);
	vs->nr_conns--;
}

static void vsock_conn_set_state(struct virtio_vsock *vs, struct vsock_conn *c, enum vsock_conn_state s)
{
	if (vsock_timed(c))
		vs->nr_timed--;
	c->state = s;
	if (vsock_timed(c))
		vs->nr_timed++;
}

static void vsock_conn_queue_ctl(struct virtio_vsock *vs, struct vsock_conn *c, unsigned ctl)
{
	c->ctl |= ctl;
	if (!vlink_linked(&c->ctl_link))
		vlink_add_tail(&vs->ctl_list, &c->ctl_link);
}

/*
 * Ends @c: closes the socket (after one last try at what it still holds) and,
 * if the guest knows the connection, queues an RST; the connection is freed
 * once that went out.
 */
static void vsock_conn_reset(struct virtio_vsock *vs, struct vsock_conn *c)
{
	if (c->state == VSOCK_CONN_CLOSING)
		return;
	if (c->state == VSOCK_CONN_HOST_LINE || c->guest_gone ||
	    (c->state == VSOCK_CONN_HOST_REQUEST && (c->ctl & VSOCK_CTL_REQUEST))) {
		vsock_conn_free(vs, c); /* the guest never heard of it, or forgot it */
		return;
	}
	if (c->fd >= 0 && c->olen)
		(void)!send(c->fd, c->obuf + c->ohead, c->olen, MSG_DONTWAIT | MSG_NOSIGNAL);
	vsock_conn_close_fd(vs, c);
	if (vlink_linked(&c->rx_link))
		vlink_del(&c->rx_link);
	free(c->obuf);
	c->obuf = NULL;
	c->olen = c->ohead = c->ocap = 0;
	vsock_conn_set_state(vs, c, VSOCK_CONN_CLOSING);
	c->ctl = 0;
	vsock_conn_queue_ctl(vs, c, VSOCK_CTL_RST);
}

static struct vsock_conn *vsock_conn_new(struct virtio_vsock *vs, int fd, enum vsock_conn_state state)
{
	struct vsock_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->fd = fd;
	c->state = state;
	vlink_init(&c->all);
	vlink_init(&c->ctl_link);
	vlink_init(&c->rx_link);
	vlink_add_tail(&vs->conns, &c->all);
	vsock_hash_add_fd(vs, c);
	if (vsock_timed(c))
		vs->nr_timed++;
	vs->nr_conns++;
	return c;
}

/* Room the guest has for our data (0 if its numbers make no sense). */
static uint32_t vsock_peer_credit(const struct vsock_conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt; /* wraps like the counters do */

	return in_flight > c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

static void vsock_conn_maybe_credit(struct virtio_vsock *vs, struct vsock_conn *c)
{
	if (c->fwd_cnt - c->fwd_cnt_sent >= VSOCK_BUF_ALLOC / 4)
		vsock_conn_queue_ctl(vs, c, VSOCK_CTL_CREDIT);
}

static void vsock_queue_rst(struct virtio_vsock *vs, uint32_t host_port, uint32_t guest_port)
{
	if (vs->rst_count == VSOCK_RST_QUEUE)
		return; /* tx pauses before this can happen; stay bounded regardless */
	vs->rst[(vs->rst_head + vs->rst_count) % VSOCK_RST_QUEUE] =
		(struct vsock_rst){ .host_port = host_port, .guest_port = guest_port };
	vs->rst_count++;
}

static void vsock_arm_timer(struct virtio_vsock *vs, bool on)
{
	struct itimerspec its = { 0 };

	if (vs->timer_armed == on || vs->timer_fd < 0)
		return;
	if (on) {
		its.it_value.tv_sec = 1;
		its.it_interval.tv_sec = 1;
	}
	if (timerfd_settime(vs->timer_fd, 0, &its, NULL) == 0)
		vs->timer_armed = on;
}

/* Slices @len bytes from offset @skip of @iov[0..cnt) into @out; returns the entries used. */
static unsigned vsock_iov_slice(const struct iovec *iov, unsigned cnt, size_t skip, size_t len,
				struct iovec *out)
{
	unsigned n = 0;

	for (unsigned i = 0; i < cnt && len; i++) {
		size_t l = iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		l -= skip;
		if (l > len)
			l = len;
		out[n].iov_base = (uint8_t *)iov[i].iov_base + skip;
		out[n].iov_len = l;
		n++;
		len -= l;
		skip = 0;
	}
	return n;
}

static bool vsock_queue_ready(const struct virtio_vsock *vs, unsigned q)
{
	const struct virtio_dev *vdev = &vs->vdev;

	return (vdev->status & VIRTIO_STATUS_DRIVER_OK) && !virtio_dev_broken(vdev) && vdev->queues[q].enabled;
}

/* ---- Packets to the guest (rx queue) ---- */

static void vsock_hdr_fill(const struct virtio_vsock *vs, struct virtio_vsock_hdr *h, uint32_t host_port,
			   uint32_t guest_port, uint16_t op)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = htole64(VSOCK_HOST_CID);
	h->dst_cid = htole64(vs->guest_cid);
	h->src_port = htole32(host_port);
	h->dst_port = htole32(guest_port);
	h->type = htole16(VSOCK_TYPE_STREAM);
	h->op = htole16(op);
	h->buf_alloc = htole32(VSOCK_BUF_ALLOC);
}

/* A header for @c: carries our credit, which the guest now knows. */
static void vsock_conn_hdr(const struct virtio_vsock *vs, struct vsock_conn *c, struct virtio_vsock_hdr *h,
			   uint16_t op)
{
	vsock_hdr_fill(vs, h, c->host_port, c->guest_port, op);
	h->fwd_cnt = htole32(c->fwd_cnt);
	c->fwd_cnt_sent = c->fwd_cnt;
}

/* The next control packet @c owes, written into @h; frees @c after its RST. */
static void vsock_build_ctl(struct virtio_vsock *vs, struct vsock_conn *c, struct virtio_vsock_hdr *h)
{
	vlink_del(&c->ctl_link);
	if (c->ctl & VSOCK_CTL_RST) {
		vsock_conn_hdr(vs, c, h, VSOCK_OP_RST);
		vsock_conn_free(vs, c);
		return;
	}
	if (c->ctl & VSOCK_CTL_REQUEST) {
		c->ctl &= ~VSOCK_CTL_REQUEST;
		vsock_conn_hdr(vs, c, h, VSOCK_OP_REQUEST);
	} else if (c->ctl & VSOCK_CTL_RESPONSE) {
		c->ctl &= ~VSOCK_CTL_RESPONSE;
		vsock_conn_hdr(vs, c, h, VSOCK_OP_RESPONSE);
	} else if (c->ctl & VSOCK_CTL_SHUTDOWN) {
		c->ctl &= ~VSOCK_CTL_SHUTDOWN;
		vsock_conn_hdr(vs, c, h, VSOCK_OP_SHUTDOWN);
		h->flags = htole32(c->shut_flags);
	} else if (c->ctl & VSOCK_CTL_CREDIT) {
		c->ctl &= ~VSOCK_CTL_CREDIT;
		vsock_conn_hdr(vs, c, h, VSOCK_OP_CREDIT_UPDATE);
	} else {
		c->ctl &= ~VSOCK_CTL_CREDIT_REQ;
		vsock_conn_hdr(vs, c, h, VSOCK_OP_CREDIT_REQUEST);
	}
	if (c->ctl)
		vlink_add_tail(&vs->ctl_list, &c->ctl_link);
}

/*
 * The first connection on the rx list with data the guest has room for;
 * settles the others (EOF, nothing to read, no credit) on the way.
 */
static struct vsock_conn *vsock_next_data(struct virtio_vsock *vs)
{
	while (vlink_linked(&vs->rx_list)) {
		struct vsock_conn *c = vlink_entry(vs->rx_list.next, struct vsock_conn, rx_link);
		char byte;
		ssize_t n;

		if (c->state != VSOCK_CONN_ESTABLISHED || c->host_eof || (c->guest_shut & VSOCK_SHUTDOWN_RCV)) {
			vlink_del(&c->rx_link);
			vsock_conn_update_watch(vs, c);
			continue;
		}
		if (vsock_peer_credit(c) == 0) {
			/*
			 * Wait for the guest's next credit update (asking for one, in case
			 * it only sends them on request); meanwhile the socket is not watched.
			 */
			vlink_del(&c->rx_link);
			c->credit_blocked = true;
			vsock_conn_queue_ctl(vs, c, VSOCK_CTL_CREDIT_REQ);
			vsock_conn_update_watch(vs, c);
			continue;
		}
		/* Peek first: a popped rx buffer cannot be handed back unused. */
		n = recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n > 0)
			return c;
		vlink_del(&c->rx_link);
		if (n == 0) {
			/* Host EOF: the host side sends no more. */
			c->host_eof = true;
			c->shut_flags |= VSOCK_SHUTDOWN_SEND;
			vsock_conn_queue_ctl(vs, c, VSOCK_CTL_SHUTDOWN);
			vsock_conn_update_watch(vs, c);
		} else if (errno == EAGAIN || errno == EINTR) {
			vsock_conn_update_watch(vs, c);
		} else {
			vsock_conn_reset(vs, c);
		}
	}
	return NULL;
}

/* Reads from @c's socket into @req after the header; returns the header to write. */
static void vsock_build_data(struct virtio_vsock *vs, struct vsock_conn *c, const struct virtq_req *req,
			     struct virtio_vsock_hdr *h, uint32_t *written)
{
	size_t room = req->in_len - VSOCK_HDR_LEN, max = vsock_peer_credit(c);
	struct msghdr msg = { .msg_iov = vs->iov };
	ssize_t n;

	if (max > room)
		max = room;
	if (max > VSOCK_MAX_PKT)
		max = VSOCK_MAX_PKT;
	msg.msg_iovlen = vsock_iov_slice(req->iov + req->nr_out, req->nr_in, VSOCK_HDR_LEN, max, vs->iov);
	n = max ? recvmsg(c->fd, &msg, MSG_DONTWAIT) : 0;
	/* Round robin between readable connections. */
	vlink_del(&c->rx_link);
	if (n <= 0) {
		/* Nothing after all: the buffer still carries something useful, our credit. */
		vsock_conn_hdr(vs, c, h, VSOCK_OP_CREDIT_UPDATE);
		*written = VSOCK_HDR_LEN;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			vsock_conn_reset(vs, c);
		else
			vlink_add_tail(&vs->rx_list, &c->rx_link);
		return;
	}
	vsock_conn_hdr(vs, c, h, VSOCK_OP_RW);
	h->len = htole32((uint32_t)n);
	c->tx_cnt += (uint32_t)n;
	*written = VSOCK_HDR_LEN + (uint32_t)n;
	vlink_add_tail(&vs->rx_list, &c->rx_link);
}

/* Fills the guest's rx buffers: RSTs first, then other control packets, then data. */
static void vsock_rx_fill(struct virtio_vsock *vs)
{
	struct virtq *q = &vs->vdev.queues[VSOCK_RXQ];
	struct virtq_req *req = &vs->req;
	bool pushed = false;

	if (!vsock_queue_ready(vs, VSOCK_RXQ))
		return;
	for (;;) {
		struct vsock_conn *data = NULL;
		struct virtio_vsock_hdr h;
		uint32_t written = VSOCK_HDR_LEN;
		int ret;

		if (!vs->rst_count && !vlink_linked(&vs->ctl_list)) {
			data = vsock_next_data(vs);
			/* Settling the rx list may have queued control packets (SHUTDOWN, RST). */
			if (!data && !vlink_linked(&vs->ctl_list))
				break;
		}
		ret = virtq_pop(q, req);
		if (ret < 0) {
			virtio_dev_set_broken(&vs->vdev, "invalid rx queue");
			break;
		}
		if (ret == 0)
			break; /* no buffers: the guest's rx kick brings us back */
		if (req->in_len < VSOCK_HDR_LEN) {
			virtio_dev_set_broken(&vs->vdev, "rx buffer smaller than a packet header");
			break;
		}
		if (vs->rst_count) {
			struct vsock_rst *r = &vs->rst[vs->rst_head];

			vsock_hdr_fill(vs, &h, r->host_port, r->guest_port, VSOCK_OP_RST);
			vs->rst_head = (vs->rst_head + 1) % VSOCK_RST_QUEUE;
			vs->rst_count--;
		} else if (data) {
			vsock_build_data(vs, data, req, &h, &written);
		} else {
			vsock_build_ctl(vs, vlink_entry(vs->ctl_list.next, struct vsock_conn, ctl_link), &h);
		}
		virtq_req_write(req, 0, &h, sizeof(h));
		virtq_push(q, req, written);
		pushed = true;
	}
	if (pushed)
		virtio_dev_queue_done(&vs->vdev, VSOCK_RXQ);
}

/* ---- Packets from the guest (tx queue) ---- */

static int vsock_obuf_append(struct vsock_conn *c, const struct virtq_req *req, size_t off, size_t len)
{
	if (c->ohead + c->olen + len > c->ocap) {
		size_t need = c->olen + len, cap = c->ocap ? c->ocap : 4096;
		uint8_t *nb;

		if (c->ohead) {
			memmove(c->obuf, c->obuf + c->ohead, c->olen);
			c->ohead = 0;
		}
		while (cap < need)
			cap *= 2;
		if (cap > c->ocap) {
			nb = realloc(c->obuf, cap);
			if (!nb)
				return -ENOMEM;
			c->obuf = nb;
			c->ocap = cap;
		}
	}
	virtq_req_read(req, off, c->obuf + c->ohead + c->olen, len);
	c->olen += len;
	return 0;
}

/* Writes what the socket takes of @c's buffer. */
static void vsock_conn_flush(struct virtio_vsock *vs, struct vsock_conn *c)
{
	while (c->olen) {
		ssize_t n = send(c->fd, c->obuf + c->ohead, c->olen, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				vsock_conn_reset(vs, c);
			return;
		}
		c->ohead += (size_t)n;
		c->olen -= (size_t)n;
		c->fwd_cnt += (uint32_t)n;
	}
	/* Drained: give the memory back (idle connections hold none). */
	free(c->obuf);
	c->obuf = NULL;
	c->ohead = c->ocap = 0;
	if (c->shut_wr_pending) {
		shutdown(c->fd, SHUT_WR);
		c->shut_wr_pending = false;
	}
}

static void vsock_guest_rw(struct virtio_vsock *vs, struct vsock_conn *c, const struct virtq_req *req,
			   uint32_t len)
{
	uint32_t buffered = c->rx_cnt - c->fwd_cnt;
	size_t done = 0;

	if (c->state != VSOCK_CONN_ESTABLISHED || (c->guest_shut & VSOCK_SHUTDOWN_SEND)) {
		vsock_conn_reset(vs, c);
		return;
	}
	if (len == 0)
		return;
	if (buffered > VSOCK_BUF_ALLOC || len > VSOCK_BUF_ALLOC - buffered) {
		log_guest("%s: port %u sent %u bytes beyond its credit", vs->vdev.name, c->guest_port,
			  len - (VSOCK_BUF_ALLOC - buffered));
		vsock_conn_reset(vs, c);
		return;
	}
	c->rx_cnt += len;
	if (!c->olen) {
		struct msghdr msg = { .msg_iov = vs->iov };
		ssize_t n;

		msg.msg_iovlen = vsock_iov_slice(req->iov, req->nr_out, VSOCK_HDR_LEN, len, vs->iov);
		n = sendmsg(c->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			vsock_conn_reset(vs, c);
			return;
		}
		if (n > 0)
			done = (size_t)n;
		c->fwd_cnt += (uint32_t)done;
	}
	if (done < len && vsock_obuf_append(c, req, VSOCK_HDR_LEN + done, len - done) < 0) {
		log_err("%s: out of memory buffering a connection", vs->vdev.name);
		vsock_conn_reset(vs, c);
		return;
	}
	vsock_conn_update_watch(vs, c);
	vsock_conn_maybe_credit(vs, c);
}

/*
 * The guest closed @c: with an RST (@rst; it expects no answer and may reuse
 * the port) or a SHUTDOWN both ways (it waits for our RST). What it sent
 * before still goes to the host socket, then the socket closes.
 */
static void vsock_guest_closed(struct virtio_vsock *vs, struct vsock_conn *c, bool rst)
{
	if (rst) {
		vsock_hash_del_port(vs, c);
		c->guest_gone = true;
		c->ctl = 0;
		if (vlink_linked(&c->ctl_link))
			vlink_del(&c->ctl_link);
	}
	if (c->state == VSOCK_CONN_DRAINING && c->olen)
		return; /* still draining; the deadline stands */
	if (c->state != VSOCK_CONN_ESTABLISHED || !c->olen) {
		vsock_conn_reset(vs, c);
		return;
	}
	if (vlink_linked(&c->rx_link))
		vlink_del(&c->rx_link);
	c->credit_blocked = false;
	c->deadline_ms = vsock_now_ms() + VSOCK_DRAIN_TIMEOUT_MS;
	vsock_conn_set_state(vs, c, VSOCK_CONN_DRAINING);
	vsock_arm_timer(vs, true);
	vsock_conn_update_watch(vs, c);
}

static void vsock_guest_shutdown(struct virtio_vsock *vs, struct vsock_conn *c, uint32_t flags)
{
	c->guest_shut |= flags & VSOCK_SHUTDOWN_BOTH;
	if (c->guest_shut == VSOCK_SHUTDOWN_BOTH) {
		vsock_guest_closed(vs, c, false);
		return;
	}
	if (c->state != VSOCK_CONN_ESTABLISHED) {
		vsock_conn_reset(vs, c);
		return;
	}
	if (flags & VSOCK_SHUTDOWN_RCV) {
		/* The host peer's further writes fail (EPIPE) instead of piling up. */
		shutdown(c->fd, SHUT_RD);
		if (vlink_linked(&c->rx_link))
			vlink_del(&c->rx_link);
	}
	if (flags & VSOCK_SHUTDOWN_SEND) {
		if (c->olen)
			c->shut_wr_pending = true;
		else
			shutdown(c->fd, SHUT_WR);
	}
	vsock_conn_update_watch(vs, c);
}

/* The guest's REQUEST to host port @h->dst_port: connect "<uds_path>_<port>". */
static void vsock_guest_connect(struct virtio_vsock *vs, uint32_t host_port, uint32_t guest_port,
				uint32_t buf_alloc, uint32_t fwd_cnt)
{
	struct vsock_conn *c;
	int fd, ret;

	if (vs->nr_conns >= VSOCK_MAX_CONNS) {
		log_guest("%s: connection limit (%u) reached", vs->vdev.name, VSOCK_MAX_CONNS);
		vsock_queue_rst(vs, host_port, guest_port);
		return;
	}
	ret = vsock_uds_connect(vs->uds_path, host_port, &fd);
	if (ret) {
		log_debug("%s: guest port %u -> %s_%u: %s", vs->vdev.name, guest_port, vs->uds_path, host_port,
			  strerror(-ret));
		vsock_queue_rst(vs, host_port, guest_port);
		return;
	}
	c = vsock_conn_new(vs, fd, VSOCK_CONN_ESTABLISHED);
	if (!c) {
		close(fd);
		vsock_queue_rst(vs, host_port, guest_port);
		return;
	}
	c->host_port = host_port;
	c->guest_port = guest_port;
	c->peer_buf_alloc = buf_alloc;
	c->peer_fwd_cnt = fwd_cnt;
	vsock_hash_add_port(vs, c);
	vsock_conn_queue_ctl(vs, c, VSOCK_CTL_RESPONSE);
	vsock_conn_update_watch(vs, c);
}

/* The guest accepted a host client's connection: tell the client and start streaming. */
static void vsock_guest_accepted(struct virtio_vsock *vs, struct vsock_conn *c)
{
	char line[32];
	int len = snprintf(line, sizeof(line), "OK %u\n", c->host_port);

	vsock_conn_set_state(vs, c, VSOCK_CONN_ESTABLISHED);
	/* A fresh socket we never wrote to takes a short line whole; anything else means it is gone. */
	if (send(c->fd, line, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL) != len) {
		vsock_conn_reset(vs, c);
		return;
	}
	vsock_conn_update_watch(vs, c);
}

static void vsock_tx_packet(struct virtio_vsock *vs, const struct virtq_req *req)
{
	struct virtio_vsock_hdr h;
	/* Guest-controlled, all of them: */
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len, flags;
	uint16_t type, op;
	struct vsock_conn *c;

	if (req->out_len < VSOCK_HDR_LEN) {
		virtio_dev_set_broken(&vs->vdev, "tx packet shorter than its header");
		return;
	}
	virtq_req_read(req, 0, &h, sizeof(h));
	src_cid = le64toh(h.src_cid);
	dst_cid = le64toh(h.dst_cid);
	src_port = le32toh(h.src_port);
	dst_port = le32toh(h.dst_port);
	len = le32toh(h.len);
	type = le16toh(h.type);
	op = le16toh(h.op);
	flags = le32toh(h.flags);

	if (src_cid != vs->guest_cid || dst_cid != VSOCK_HOST_CID || type != VSOCK_TYPE_STREAM ||
	    len > req->out_len - VSOCK_HDR_LEN) {
		log_guest("%s: bad packet (cid %llu -> %llu, type %u, len %u)", vs->vdev.name,
			  (unsigned long long)src_cid, (unsigned long long)dst_cid, type, len);
		if (op != VSOCK_OP_RST) /* never answer an RST: two ends could ping-pong */
			vsock_queue_rst(vs, dst_port, src_port);
		return;
	}
	c = vsock_find_port(vs, dst_port, src_port);
	if (!c) {
		if (op == VSOCK_OP_REQUEST)
			vsock_guest_connect(vs, dst_port, src_port, le32toh(h.buf_alloc), le32toh(h.fwd_cnt));
		else if (op != VSOCK_OP_RST)
			vsock_queue_rst(vs, dst_port, src_port);
		return;
	}
	if (c->state == VSOCK_CONN_CLOSING)
		return; /* our RST is on its way */

	/* Every packet carries the guest's current credit. */
	c->peer_buf_alloc = le32toh(h.buf_alloc);
	c->peer_fwd_cnt = le32toh(h.fwd_cnt);
	if (c->credit_blocked && vsock_peer_credit(c)) {
		c->credit_blocked = false;
		if (!vlink_linked(&c->rx_link))
			vlink_add_tail(&vs->rx_list, &c->rx_link);
	}

	switch (op) {
	case VSOCK_OP_RESPONSE:
		if (c->state == VSOCK_CONN_HOST_REQUEST && !(c->ctl & VSOCK_CTL_REQUEST))
			vsock_guest_accepted(vs, c);
		else
			vsock_conn_reset(vs, c);
		break;
	case VSOCK_OP_RST:
		vsock_guest_closed(vs, c, true); /* never answered */
		break;
	case VSOCK_OP_SHUTDOWN:
		vsock_guest_shutdown(vs, c, flags);
		break;
	case VSOCK_OP_RW:
		vsock_guest_rw(vs, c, req, len);
		break;
	case VSOCK_OP_CREDIT_UPDATE:
		break;
	case VSOCK_OP_CREDIT_REQUEST:
		vsock_conn_queue_ctl(vs, c, VSOCK_CTL_CREDIT);
		break;
	default: /* REQUEST on a live connection, unknown ops */
		log_guest("%s: unexpected op %u on port %u", vs->vdev.name, op, src_port);
		vsock_conn_reset(vs, c);
		break;
	}
}

static void vsock_tx_process(struct virtio_vsock *vs)
{
	struct virtq *q = &vs->vdev.queues[VSOCK_TXQ];
	bool pushed = false;

	vs->tx_stalled = false;
	while (vsock_queue_ready(vs, VSOCK_TXQ)) {
		int ret;

		/* Each packet may need an RST answer: pause while they cannot be queued. */
		if (vs->rst_count == VSOCK_RST_QUEUE) {
			vs->tx_stalled = true;
			break;
		}
		ret = virtq_pop(q, &vs->req);
		if (ret < 0) {
			virtio_dev_set_broken(&vs->vdev, "invalid tx queue");
			break;
		}
		if (ret == 0)
			break;
		vsock_tx_packet(vs, &vs->req);
		virtq_push(q, &vs->req, 0);
		pushed = true;
	}
	if (pushed)
		virtio_dev_queue_done(&vs->vdev, VSOCK_TXQ);
}

/* Serves both directions until neither can progress. */
static void vsock_run(struct virtio_vsock *vs)
{
	for (;;) {
		vsock_rx_fill(vs);
		if (!vs->tx_stalled || vs->rst_count == VSOCK_RST_QUEUE)
			break;
		vsock_tx_process(vs);
	}
}

/* ---- Host side ---- */

/* True if a connection other than @c already uses @c->host_port. */
static bool vsock_host_port_used(struct virtio_vsock *vs, const struct vsock_conn *c)
{
	for (struct vlink *l = vs->conns.next; l != &vs->conns; l = l->next) {
		const struct vsock_conn *o = vlink_entry(l, struct vsock_conn, all);

		if (o != c && vsock_in_port_hash(o) && o->host_port == c->host_port)
			return true;
	}
	return false;
}

/* Reads a host client's CONNECT line a byte at a time: nothing after the newline is consumed. */
static void vsock_host_line(struct virtio_vsock *vs, struct vsock_conn *c)
{
	uint32_t port;

	while (c->line_len < sizeof(c->line)) {
		ssize_t n = recv(c->fd, &c->line[c->line_len], 1, MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			vsock_conn_free(vs, c);
			return;
		}
		if (c->line[c->line_len++] == '\n')
			break;
	}
	if (vsock_uds_parse_connect(c->line, c->line_len, &port) < 0) {
		log_warn("%s: host client sent a bad CONNECT line; closing it", vs->vdev.name);
		vsock_conn_free(vs, c);
		return;
	}
	/* A local port no other connection uses (at most VSOCK_MAX_CONNS tries). */
	do {
		c->host_port = vs->next_host_port;
		vs->next_host_port = vs->next_host_port == UINT32_MAX - 1 ? VSOCK_FIRST_HOST_PORT
									  : vs->next_host_port + 1;
	} while (vsock_host_port_used(vs, c));
	c->guest_port = port;
	vsock_conn_set_state(vs, c, VSOCK_CONN_HOST_REQUEST);
	c->deadline_ms = vsock_now_ms() + VSOCK_HOST_TIMEOUT_MS;
	vsock_hash_add_port(vs, c);
	vsock_conn_queue_ctl(vs, c, VSOCK_CTL_REQUEST);
	vsock_conn_update_watch(vs, c); /* not read until the guest accepts */
}

static void vsock_on_conn(void *opaque, int fd, uint32_t events)
{
	struct virtio_vsock *vs = opaque;
	struct vsock_conn *c;

	pthread_mutex_lock(&vs->vdev.lock);
	c = vsock_find_fd(vs, fd); /* NULL: freed (reset) after the loop picked the event */
	if (!c)
		goto out;
	if (c->state == VSOCK_CONN_HOST_LINE) {
		vsock_host_line(vs, c);
	} else if (c->state == VSOCK_CONN_ESTABLISHED) {
		if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && c->olen) {
			vsock_conn_flush(vs, c);
			if (c->state != VSOCK_CONN_ESTABLISHED)
				goto run;
			vsock_conn_maybe_credit(vs, c);
		}
		if ((c->watched & EPOLLIN) && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) &&
		    !vlink_linked(&c->rx_link))
			vlink_add_tail(&vs->rx_list, &c->rx_link);
		vsock_conn_update_watch(vs, c);
	} else if (c->state == VSOCK_CONN_DRAINING) {
		size_t before = c->olen;

		vsock_conn_flush(vs, c);
		if (c->state == VSOCK_CONN_DRAINING && !c->olen)
			vsock_conn_reset(vs, c); /* all delivered: close, and answer a SHUTDOWN */
		else if (c->state == VSOCK_CONN_DRAINING && c->olen < before)
			c->deadline_ms = vsock_now_ms() + VSOCK_DRAIN_TIMEOUT_MS; /* a slow reader, not a dead one */
	}
run:
	vsock_run(vs);
out:
	pthread_mutex_unlock(&vs->vdev.lock);
}

static void vsock_on_listen(void *opaque, int fd, uint32_t events)
{
	struct virtio_vsock *vs = opaque;

	(void)events;
	pthread_mutex_lock(&vs->vdev.lock);
	for (unsigned i = 0; i < 16; i++) { /* a few per wake-up: fair to the other fds */
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct vsock_conn *c;

		if (cfd < 0)
			break;
		if (vs->nr_conns >= VSOCK_MAX_CONNS) {
			log_warn("%s: connection limit (%u) reached; refusing a host client", vs->vdev.name,
				 VSOCK_MAX_CONNS);
			close(cfd);
			continue;
		}
		c = vsock_conn_new(vs, cfd, VSOCK_CONN_HOST_LINE);
		if (!c) {
			close(cfd);
			continue;
		}
		c->deadline_ms = vsock_now_ms() + VSOCK_HOST_TIMEOUT_MS;
		vsock_conn_update_watch(vs, c);
		vsock_arm_timer(vs, true);
	}
	pthread_mutex_unlock(&vs->vdev.lock);
}

/* Once a second while host clients wait: drop those that never finished their line or were never answered. */
static void vsock_on_timer(void *opaque, int fd, uint32_t events)
{
	struct virtio_vsock *vs = opaque;
	long long now = vsock_now_ms();
	uint64_t ticks;
	struct vlink *l, *next;

	(void)events;
	if (read(fd, &ticks, sizeof(ticks)) < 0) {
		/* EAGAIN: nothing expired; sweep anyway, it is cheap. */
	}
	pthread_mutex_lock(&vs->vdev.lock);
	for (l = vs->conns.next; l != &vs->conns; l = next) {
		struct vsock_conn *c = vlink_entry(l, struct vsock_conn, all);

		next = l->next;
		if (!vsock_timed(c) || now < c->deadline_ms)
			continue;
		if (c->state == VSOCK_CONN_DRAINING)
			log_warn("%s: host socket of guest port %u took no more for %d s; dropping the %zu bytes "
				 "the guest sent before closing",
				 vs->vdev.name, c->guest_port, VSOCK_DRAIN_TIMEOUT_MS / 1000, c->olen);
		else
			log_warn("%s: host client %s; closing it", vs->vdev.name,
				 c->state == VSOCK_CONN_HOST_LINE ? "sent no CONNECT line in time"
								   : "got no answer from the guest");
		vsock_conn_reset(vs, c);
	}
	if (!vs->nr_timed)
		vsock_arm_timer(vs, false);
	vsock_run(vs);
	pthread_mutex_unlock(&vs->vdev.lock);
}

/* ---- Device ops ---- */

static void vsock_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_vsock *vs = (struct virtio_vsock *)vdev;

	if (q == VSOCK_TXQ)
		vsock_tx_process(vs);
	/* rx: new buffers; tx: maybe control packets to send. The event queue needs nothing. */
	vsock_run(vs);
}

/* Closes every connection (the listener stays): driver reset and destroy. */
static void vsock_close_all(struct virtio_vsock *vs)
{
	while (vlink_linked(&vs->conns))
		vsock_conn_free(vs, vlink_entry(vs->conns.next, struct vsock_conn, all));
	vs->rst_head = vs->rst_count = 0;
	vs->tx_stalled = false;
}

static void vsock_reset(struct virtio_dev *vdev)
{
	vsock_close_all((struct virtio_vsock *)vdev);
}

static void vsock_destroy(struct virtio_dev *vdev)
{
	struct virtio_vsock *vs = (struct virtio_vsock *)vdev;

	vs->loop_gone = true; /* the core destroyed the loop before calling us */
	vsock_close_all(vs);
	if (vs->listen_fd >= 0) {
		close(vs->listen_fd);
		unlink(vs->uds_path);
	}
	if (vs->timer_fd >= 0)
		close(vs->timer_fd);
	free(vs);
}

static const struct virtio_dev_ops vsock_ops = {
	.queue_notify = vsock_queue_notify,
	.reset = vsock_reset,
	.destroy = vsock_destroy,
};

int virtio_vsock_create(struct gmem *gm, const struct virtio_vsock_params *p, unsigned index,
			struct virtio_dev **out)
{
	static const uint16_t sizes[VSOCK_NR_QUEUES] = { VSOCK_QUEUE_SIZE, VSOCK_QUEUE_SIZE, VSOCK_QUEUE_SIZE };
	struct virtio_vsock *vs;
	uint64_t cid_le;
	char name[32];
	int ret;

	if (!gm || !p || !p->uds_path) {
		log_err("vsock: a socket path is required");
		return -EINVAL;
	}
	/* 0-2 are the hypervisor, the local host and the host; the top of 32 bits is "any". */
	if (p->guest_cid < 3 || p->guest_cid >= UINT32_MAX) {
		log_err("vsock: guest CID %llu is not valid (3 to %u)", (unsigned long long)p->guest_cid,
			UINT32_MAX - 1);
		return -EINVAL;
	}
	vs = calloc(1, sizeof(*vs));
	if (!vs)
		return -ENOMEM;
	vs->listen_fd = vs->timer_fd = -1;
	vs->guest_cid = p->guest_cid;
	vs->next_host_port = VSOCK_FIRST_HOST_PORT;
	vlink_init(&vs->conns);
	vlink_init(&vs->ctl_list);
	vlink_init(&vs->rx_list);
	if (strlen(p->uds_path) >= sizeof(vs->uds_path)) {
		log_err("vsock: socket path '%s' is too long", p->uds_path);
		free(vs);
		return -ENAMETOOLONG;
	}
	strcpy(vs->uds_path, p->uds_path);

	snprintf(name, sizeof(name), "virtio-vsock%u", index);
	ret = virtio_dev_init(&vs->vdev, name, VIRTIO_ID_VSOCK, 1ULL << VIRTIO_VSOCK_F_STREAM, VSOCK_NR_QUEUES,
			      sizes, &vsock_ops, vs);
	if (ret) {
		free(vs);
		return ret;
	}
	vs->vdev.gmem = gm;
	cid_le = htole64(vs->guest_cid);
	memcpy(vs->config, &cid_le, sizeof(cid_le));
	vs->vdev.config = vs->config;
	vs->vdev.config_size = sizeof(vs->config);

	/* From here on virtio_dev_destroy() undoes everything, through vsock_destroy(). */
	ret = vsock_uds_listen(vs->uds_path, &vs->listen_fd);
	if (ret)
		goto destroy;
	vs->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (vs->timer_fd < 0) {
		ret = -errno;
		log_err("vsock: timerfd: %s", strerror(-ret));
		goto destroy;
	}
	ret = evloop_add(vs->vdev.loop, vs->listen_fd, EPOLLIN, vsock_on_listen, vs);
	if (!ret)
		ret = evloop_add(vs->vdev.loop, vs->timer_fd, EPOLLIN, vsock_on_timer, vs);
	if (ret) {
		log_err("vsock: event loop: %s", strerror(-ret));
		goto destroy;
	}
	*out = &vs->vdev;
	return 0;

destroy:
	virtio_dev_destroy(&vs->vdev);
	return ret;
}
