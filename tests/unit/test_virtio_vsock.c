/*
 * virtio-vsock as a guest driver and host programs see it: hand-built rings
 * in guest RAM on one side, real Unix sockets in a temporary directory on
 * the other, the device's worker thread in between.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "backends/vsock_uds.h"
#include "core/gmem.h"
#include "core/log.h"
#include "devices/virtio/devices.h"
#include "devices/virtio/virtio.h"

#define GUEST_CID 3
#define HOST_CID 2
#define QSIZE 128
#define RX_BUF_LEN (44 + 4096)
#define RX_BUFS 32
#define TX_BUF_LEN (44 + 65536)

/* Guest memory layout. */
#define RING_BASE(q) (0x10000ull + 0x10000ull * (q))
#define RX_BUF(i) (0x100000ull + (uint64_t)(i) * 0x2000)
#define TX_BUF(i) (0x200000ull + (uint64_t)(i) * 0x11000)
#define TX_BUFS 8

enum { OP_REQUEST = 1, OP_RESPONSE, OP_RST, OP_SHUTDOWN, OP_RW, OP_CREDIT_UPDATE, OP_CREDIT_REQUEST };

struct hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

struct tq {
	uint64_t desc, avail, used;
	uint16_t avail_idx, used_seen;
};

struct rig {
	struct gmem *gm;
	struct virtio_dev *vdev;
	struct tq q[3];
	unsigned tx_next;
	char dir[64];
	char path[128];
	unsigned irqs;
};

static void rig_notify_queue(struct virtio_dev *vdev, unsigned q)
{
	struct rig *r = vdev->transport_priv;

	(void)q;
	__atomic_add_fetch(&r->irqs, 1, __ATOMIC_RELEASE);
}

static void rig_notify_config(struct virtio_dev *vdev)
{
	(void)vdev;
}

static const struct virtio_transport_ops rig_transport = {
	.notify_queue = rig_notify_queue,
	.notify_config = rig_notify_config,
};

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * CPU time the whole process (the device's worker included) burns in 500 ms
 * of the test thread sleeping: a device polling a socket it must not read
 * (no rx buffers, no credit) would spin here.
 */
static long long cpu_ms_while_idle(void)
{
	struct timespec a, b;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
	sleep_ms(500);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
	return (b.tv_sec - a.tv_sec) * 1000LL + (b.tv_nsec - a.tv_nsec) / 1000000;
}

static void tq_put(struct rig *r, unsigned qi, uint16_t head, uint64_t gpa, uint32_t len, bool writable)
{
	struct tq *t = &r->q[qi];
	uint8_t desc[16] = { 0 };
	uint16_t flags = writable ? VIRTQ_DESC_F_WRITE : 0, *idx;

	memcpy(desc, &gpa, 8);
	memcpy(desc + 8, &len, 4);
	memcpy(desc + 12, &flags, 2);
	assert_int_equal(gmem_write(r->gm, t->desc + 16u * head, desc, sizeof(desc)), 0);
	assert_int_equal(gmem_write(r->gm, t->avail + 4 + 2u * (t->avail_idx % QSIZE), &head, 2), 0);
	t->avail_idx++;
	idx = gmem_ptr(r->gm, t->avail + 2, 2);
	__atomic_store_n(idx, t->avail_idx, __ATOMIC_RELEASE);
}

static bool tq_used(struct rig *r, unsigned qi, uint32_t *id, uint32_t *len, unsigned ms)
{
	struct tq *t = &r->q[qi];
	uint16_t *idx = gmem_ptr(r->gm, t->used + 2, 2);

	for (unsigned i = 0;; i++) {
		if (__atomic_load_n(idx, __ATOMIC_ACQUIRE) != t->used_seen)
			break;
		if (i >= ms)
			return false;
		sleep_ms(1);
	}
	gmem_read(r->gm, t->used + 4 + 8u * (t->used_seen % QSIZE), id, 4);
	gmem_read(r->gm, t->used + 8 + 8u * (t->used_seen % QSIZE), len, 4);
	t->used_seen++;
	return true;
}

static void rig_post_rx(struct rig *r, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		tq_put(r, 0, (uint16_t)i, RX_BUF(i), RX_BUF_LEN, true);
	virtio_dev_kick(r->vdev, 0);
}

/* Brings the device up as a transport would for a driver: rings at RING_BASE, VERSION_1 + STREAM. */
static void rig_up(struct rig *r)
{
	pthread_mutex_lock(&r->vdev->lock);
	virtio_dev_set_status(r->vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_dev_set_driver_features(r->vdev, 0, 1); /* VIRTIO_VSOCK_F_STREAM */
	virtio_dev_set_driver_features(r->vdev, 1, 1u << (VIRTIO_F_VERSION_1 - 32));
	virtio_dev_set_status(r->vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	for (unsigned qi = 0; qi < 3; qi++) {
		struct virtq *q = &r->vdev->queues[qi];
		struct tq *t = &r->q[qi];

		memset(t, 0, sizeof(*t));
		t->desc = RING_BASE(qi);
		t->avail = t->desc + 16u * QSIZE;
		t->used = t->desc + 0x1000 + 16u * QSIZE;
		gmem_fill(r->gm, RING_BASE(qi), 0, 0x10000);
		q->size = QSIZE;
		q->desc_gpa = t->desc;
		q->avail_gpa = t->avail;
		q->used_gpa = t->used;
		assert_int_equal(virtio_dev_enable_queue(r->vdev, qi), 0);
	}
	virtio_dev_set_status(r->vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
					       VIRTIO_STATUS_DRIVER_OK);
	assert_true(r->vdev->status & VIRTIO_STATUS_DRIVER_OK);
	pthread_mutex_unlock(&r->vdev->lock);
	r->tx_next = 0;
}

static void rig_reset(struct rig *r)
{
	pthread_mutex_lock(&r->vdev->lock);
	virtio_dev_set_status(r->vdev, 0);
	pthread_mutex_unlock(&r->vdev->lock);
}

static int rig_setup(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));
	struct virtio_vsock_params p = { .guest_cid = GUEST_CID };

	assert_non_null(r);
	snprintf(r->dir, sizeof(r->dir), "/tmp/bothy-vsock-XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	snprintf(r->path, sizeof(r->path), "%s/v.sock", r->dir);
	p.uds_path = r->path;
	assert_int_equal(gmem_create(&r->gm), 0);
	assert_int_equal(gmem_add_region(r->gm, 0, 8 << 20), 0);
	assert_int_equal(virtio_vsock_create(r->gm, &p, 0, &r->vdev), 0);
	r->vdev->transport = &rig_transport;
	r->vdev->transport_priv = r;
	rig_up(r);
	assert_int_equal(virtio_dev_start(r->vdev), 0);
	*state = r;
	return 0;
}

static int rig_teardown(void **state)
{
	struct rig *r = *state;
	char cmd[128];

	virtio_dev_destroy(r->vdev);
	gmem_destroy(r->gm);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", r->dir);
	free(r);
	return 0;
}

/* The guest sends one packet on tx and waits until the device has consumed it. */
static void guest_send(struct rig *r, uint16_t op, uint32_t src_port, uint32_t dst_port, const void *data,
		       uint32_t len, uint32_t flags, uint32_t buf_alloc, uint32_t fwd_cnt)
{
	struct hdr h = {
		.src_cid = htole64(GUEST_CID), .dst_cid = htole64(HOST_CID),
		.src_port = htole32(src_port), .dst_port = htole32(dst_port), .len = htole32(len),
		.type = htole16(1), .op = htole16(op), .flags = htole32(flags),
		.buf_alloc = htole32(buf_alloc), .fwd_cnt = htole32(fwd_cnt),
	};
	unsigned slot = r->tx_next++ % TX_BUFS;
	uint32_t id, ulen;

	assert_true(len <= TX_BUF_LEN - sizeof(h));
	assert_int_equal(gmem_write(r->gm, TX_BUF(slot), &h, sizeof(h)), 0);
	if (len)
		assert_int_equal(gmem_write(r->gm, TX_BUF(slot) + sizeof(h), data, len), 0);
	tq_put(r, 1, (uint16_t)slot, TX_BUF(slot), (uint32_t)sizeof(h) + len, false);
	virtio_dev_kick(r->vdev, 1);
	assert_true(tq_used(r, 1, &id, &ulen, 2000));
	assert_int_equal(id, slot);
}

/* A raw header on tx (for malformed packets); @buf_len bytes of buffer. */
static void guest_send_raw(struct rig *r, const struct hdr *h, uint32_t buf_len)
{
	unsigned slot = r->tx_next++ % TX_BUFS;
	uint32_t id, ulen;

	assert_int_equal(gmem_write(r->gm, TX_BUF(slot), h, buf_len < sizeof(*h) ? buf_len : sizeof(*h)), 0);
	tq_put(r, 1, (uint16_t)slot, TX_BUF(slot), buf_len, false);
	virtio_dev_kick(r->vdev, 1);
	assert_true(tq_used(r, 1, &id, &ulen, 2000));
}

/* Takes the next packet from rx (re-posting its buffer); false if none came within @ms. */
static bool guest_recv(struct rig *r, struct hdr *h, void *data, size_t cap, unsigned ms)
{
	uint32_t id, len, plen;

	if (!tq_used(r, 0, &id, &len, ms))
		return false;
	assert_true(id < RX_BUFS);
	assert_true(len >= sizeof(*h));
	assert_int_equal(gmem_read(r->gm, RX_BUF(id), h, sizeof(*h)), 0);
	h->src_cid = le64toh(h->src_cid);
	h->dst_cid = le64toh(h->dst_cid);
	h->src_port = le32toh(h->src_port);
	h->dst_port = le32toh(h->dst_port);
	h->len = le32toh(h->len);
	h->type = le16toh(h->type);
	h->op = le16toh(h->op);
	h->flags = le32toh(h->flags);
	h->buf_alloc = le32toh(h->buf_alloc);
	h->fwd_cnt = le32toh(h->fwd_cnt);
	plen = len - (uint32_t)sizeof(*h);
	assert_int_equal(h->len, plen);
	assert_int_equal(h->src_cid, HOST_CID);
	assert_int_equal(h->dst_cid, GUEST_CID);
	assert_int_equal(h->type, 1);
	if (data) {
		assert_true(plen <= cap);
		assert_int_equal(gmem_read(r->gm, RX_BUF(id) + sizeof(*h), data, plen), 0);
	}
	tq_put(r, 0, (uint16_t)id, RX_BUF(id), RX_BUF_LEN, true);
	virtio_dev_kick(r->vdev, 0);
	return true;
}

/* The next packet that is not a credit update (those may come at any time). */
static bool guest_recv_nc(struct rig *r, struct hdr *h, void *data, size_t cap, unsigned ms)
{
	while (guest_recv(r, h, data, cap, ms))
		if (h->op != OP_CREDIT_UPDATE)
			return true;
	return false;
}

static int host_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

static int host_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { 2, 0 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static int host_accept(int lfd)
{
	struct timeval tv = { 2, 0 };
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	int fd;

	assert_int_equal(poll(&pfd, 1, 2000), 1);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Reads exactly @len bytes (or fails the test). */
static void host_read_all(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);

		assert_true(n > 0);
		got += (size_t)n;
	}
}

/* True if the host end sees EOF (or a reset) within 2 s. */
static bool host_sees_close(int fd)
{
	char c;
	ssize_t n = read(fd, &c, 1);

	return n == 0 || (n < 0 && errno == ECONNRESET);
}

/* The guest connects (guest port @gport) to host port @hport; the host accepts on @lfd. */
static int guest_connect(struct rig *r, int lfd, uint32_t gport, uint32_t hport, uint32_t buf_alloc)
{
	struct hdr h;

	guest_send(r, OP_REQUEST, gport, hport, NULL, 0, 0, buf_alloc, 0);
	assert_true(guest_recv_nc(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, OP_RESPONSE);
	assert_int_equal(h.src_port, hport);
	assert_int_equal(h.dst_port, gport);
	assert_true(h.buf_alloc > 0);
	return host_accept(lfd);
}

static void test_guest_to_host_stream(void **state)
{
	struct rig *r = *state;
	char p1234[160], buf[64];
	struct hdr h;
	int lfd, cfd;

	rig_post_rx(r, RX_BUFS);
	snprintf(p1234, sizeof(p1234), "%s_1234", r->path);
	lfd = host_listen(p1234);
	cfd = guest_connect(r, lfd, 5000, 1234, 65536);

	/* guest -> host */
	guest_send(r, OP_RW, 5000, 1234, "hello", 5, 0, 65536, 0);
	host_read_all(cfd, buf, 5);
	assert_memory_equal(buf, "hello", 5);

	/* host -> guest */
	assert_int_equal(write(cfd, "world!", 6), 6);
	assert_true(guest_recv_nc(r, &h, buf, sizeof(buf), 2000));
	assert_int_equal(h.op, OP_RW);
	assert_int_equal(h.src_port, 1234);
	assert_int_equal(h.dst_port, 5000);
	assert_int_equal(h.len, 6);
	assert_memory_equal(buf, "world!", 6);

	/* host EOF -> SHUTDOWN(SEND) */
	shutdown(cfd, SHUT_WR);
	assert_true(guest_recv_nc(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, OP_SHUTDOWN);
	assert_int_equal(h.flags, 2);

	/* the guest can still send after the host's half close */
	guest_send(r, OP_RW, 5000, 1234, "more", 4, 0, 65536, 6);
	host_read_all(cfd, buf, 4);
	assert_memory_equal(buf, "more", 4);

	/* guest closes both ways -> RST, and the host sees the connection end */
	guest_send(r, OP_SHUTDOWN, 5000, 1234, NULL, 0, 3, 65536, 6);
	assert_true(guest_recv_nc(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, OP_RST);
	assert_int_equal(h.dst_port, 5000);
	assert_true(host_sees_close(cfd));
	close(cfd);
	close(lfd);
}

static void test_guest_connect_missing_port(void **state)
{
	struct rig *r = *state;
	struct hdr h;

	rig_post_rx(r, RX_BUFS);
	guest_send(r, OP_REQUEST, 5001, 4321, NULL, 0, 0, 65536, 0);
	assert_true(guest_recv(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, OP_RST);
	assert_int_equal(h.src_port, 4321);
	assert_int_equal(h.dst_port, 5001);
}

/* A host client connects through <uds_path>: CONNECT, guest REQUEST/RESPONSE, OK, data. */
static void test_host_to_guest_connect(void **state)
{
	struct rig *r = *state;
	char line[32], expect[32], buf[16];
	struct hdr h;
	int cfd, cfd2;
	uint32_t hport;
	ssize_t n;

	rig_post_rx(r, RX_BUFS);
	cfd = host_connect(r->path);
	assert_int_equal(write(cfd, "CONNECT 52\n", 11), 11);
	assert_true(guest_recv(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, OP_REQUEST);
	assert_int_equal(h.dst_port, 52);
	hport = h.src_port;
	assert_true(hport >= 1024);
	/* the client hears nothing until the guest accepts */
	{
		struct pollfd pfd = { .fd = cfd, .events = POLLIN };

		assert_int_equal(poll(&pfd, 1, 50), 0);
	}
	guest_send(r, OP_RESPONSE, 52, hport, NULL, 0, 0, 65536, 0);
	snprintf(expect, sizeof(expect), "OK %u\n", hport);
	n = read(cfd, line, strlen(expect));
	assert_int_equal(n, (ssize_t)strlen(expect));
	assert_memory_equal(line, expect, strlen(expect));

	assert_int_equal(write(cfd, "ping", 4), 4);
	assert_true(guest_recv_nc(r, &h, buf, sizeof(buf), 2000));
	assert_int_equal(h.op, OP_RW);
	assert_int_equal(h.src_port, hport);
	assert_int_equal(h.dst_port, 52);
	assert_memory_equal(buf, "ping", 4);
	guest_send(r, OP_RW, 52, hport, "pong", 4, 0, 65536, 4);
	host_read_all(cfd, buf, 4);
	assert_memory_equal(buf, "pong", 4);

	/* a second client gets its own port; the guest refuses it (RST): the client is closed */
	cfd2 = host_connect(r->path);
	assert_int_equal(write(cfd2, "CONNECT 53\n", 11), 11);
	assert_true(guest_recv_nc(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, OP_REQUEST);
	assert_int_equal(h.dst_port, 53);
	assert_int_not_equal(h.src_port, hport);
	guest_send(r, OP_RST, 53, h.src_port, NULL, 0, 0, 0, 0);
	assert_true(host_sees_close(cfd2));
	close(cfd2);

	/* the first connection is unaffected */
	assert_int_equal(write(cfd, "x", 1), 1);
	assert_true(guest_recv_nc(r, &h, buf, sizeof(buf), 2000));
	assert_int_equal(h.op, OP_RW);
	assert_int_equal(h.src_port, hport);
	close(cfd);
	/* the host closing -> SHUTDOWN for the guest */
	assert_true(guest_recv_nc(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, OP_SHUTDOWN);
	assert_true(h.flags & 2);
}

static void test_host_bad_connect_lines(void **state)
{
	struct rig *r = *state;
	static const char *const bad[] = { "CONNECT abc\n", "CONNECT 99999999999\n", "CONNECT\n",
					   "connect 5\n", "CONNECT 5 6\n", "CONNECT 4294967295\n" };
	char longline[VSOCK_UDS_LINE_MAX + 8];
	struct hdr h;

	rig_post_rx(r, RX_BUFS);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int fd = host_connect(r->path);

		assert_int_equal(write(fd, bad[i], strlen(bad[i])), (ssize_t)strlen(bad[i]));
		assert_true(host_sees_close(fd));
		close(fd);
	}
	/* no newline within the line limit */
	memset(longline, '1', sizeof(longline));
	memcpy(longline, "CONNECT ", 8);
	{
		int fd = host_connect(r->path);

		assert_int_equal(write(fd, longline, sizeof(longline)), (ssize_t)sizeof(longline));
		assert_true(host_sees_close(fd));
		close(fd);
	}
	/* none of them reached the guest */
	assert_false(guest_recv(r, &h, NULL, 0, 100));
}

static void test_host_connect_line_timeout(void **state)
{
	struct rig *r = *state;
	struct timeval tv = { 8, 0 };
	int fd = host_connect(r->path);

	/* half a line, then silence: closed after the timeout (5 s) */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(write(fd, "CONN", 4), 4);
	assert_true(host_sees_close(fd));
	close(fd);
}

/* Host -> guest data never exceeds the credit the guest gave. */
static void test_credit_limits_host_to_guest(void **state)
{
	struct rig *r = *state;
	char p[160], data[1000], buf[4096];
	uint32_t got = 0, asked = 0;
	struct hdr h;
	int lfd, cfd;

	memset(data, 'a', sizeof(data));
	rig_post_rx(r, RX_BUFS);
	snprintf(p, sizeof(p), "%s_77", r->path);
	lfd = host_listen(p);
	cfd = guest_connect(r, lfd, 6000, 77, 100); /* the guest has room for 100 bytes */
	assert_int_equal(write(cfd, data, sizeof(data)), (ssize_t)sizeof(data));
	while (guest_recv(r, &h, buf, sizeof(buf), 200)) {
		if (h.op == OP_RW)
			got += h.len;
		if (h.op == OP_CREDIT_REQUEST)
			asked++;
	}
	assert_int_equal(got, 100);
	assert_int_equal(asked, 1); /* out of credit: the device asks once, then waits */
	assert_true(cpu_ms_while_idle() < 50); /* no credit: the socket is not polled */

	/* the guest consumed 60: 60 more may come */
	guest_send(r, OP_CREDIT_UPDATE, 6000, 77, NULL, 0, 0, 100, 60);
	while (guest_recv(r, &h, buf, sizeof(buf), 200)) {
		if (h.op == OP_RW)
			got += h.len;
	}
	assert_int_equal(got, 160);

	/* a bigger buffer: the rest arrives */
	guest_send(r, OP_CREDIT_UPDATE, 6000, 77, NULL, 0, 0, 4096, 160);
	while (got < sizeof(data) && guest_recv(r, &h, buf, sizeof(buf), 2000)) {
		if (h.op == OP_RW)
			got += h.len;
	}
	assert_int_equal(got, sizeof(data));

	/* CREDIT_REQUEST is answered with our credit */
	guest_send(r, OP_CREDIT_REQUEST, 6000, 77, NULL, 0, 0, 4096, 1000);
	assert_true(guest_recv(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, OP_CREDIT_UPDATE);
	assert_true(h.buf_alloc > 0);
	close(cfd);
	close(lfd);
}

/* A guest that ignores our credit while the host does not read loses the connection. */
static void test_guest_exceeding_credit(void **state)
{
	struct rig *r = *state;
	static char chunk[65536];
	uint64_t sent = 0;
	uint32_t buf_alloc = 0;
	char p[160];
	struct hdr h;
	bool rst = false;
	int lfd, cfd;

	rig_post_rx(r, RX_BUFS);
	snprintf(p, sizeof(p), "%s_88", r->path);
	lfd = host_listen(p);
	guest_send(r, OP_REQUEST, 7000, 88, NULL, 0, 0, 65536, 0);
	assert_true(guest_recv_nc(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, OP_RESPONSE);
	buf_alloc = h.buf_alloc;
	cfd = host_accept(lfd);
	/* the host never reads; the guest never waits for credit */
	for (unsigned i = 0; i < 256 && !rst; i++) {
		guest_send(r, OP_RW, 7000, 88, chunk, sizeof(chunk), 0, 65536, 0);
		sent += sizeof(chunk);
		while (guest_recv(r, &h, NULL, 0, 20))
			if (h.op == OP_RST)
				rst = true;
	}
	assert_true(rst);
	assert_true(sent > buf_alloc); /* only beyond the credit we gave */
	/* later packets on that connection: RST again, no crash */
	guest_send(r, OP_RW, 7000, 88, chunk, 16, 0, 65536, 0);
	assert_true(guest_recv_nc(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, OP_RST);
	close(cfd);
	close(lfd);
}

/* Malformed packets get an RST (or, for a broken ring contract, NEEDS_RESET), never a crash. */
static void test_bad_packets(void **state)
{
	struct rig *r = *state;
	struct hdr good = {
		.src_cid = htole64(GUEST_CID), .dst_cid = htole64(HOST_CID), .src_port = htole32(9000),
		.dst_port = htole32(1), .type = htole16(1), .op = htole16(OP_REQUEST), .buf_alloc = htole32(4096),
	};
	struct hdr b, h;
	char p[160];
	int lfd, cfd;

	rig_post_rx(r, RX_BUFS);
	snprintf(p, sizeof(p), "%s_1", r->path);
	lfd = host_listen(p);

	b = good;
	b.dst_cid = htole64(7); /* not the host */
	guest_send_raw(r, &b, sizeof(b));
	assert_true(guest_recv(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, OP_RST);

	b = good;
	b.src_cid = htole64(GUEST_CID + 1); /* spoofed source */
	guest_send_raw(r, &b, sizeof(b));
	assert_true(guest_recv(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, OP_RST);

	b = good;
	b.type = htole16(2); /* SEQPACKET: not negotiated */
	guest_send_raw(r, &b, sizeof(b));
	assert_true(guest_recv(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, OP_RST);

	b = good;
	b.op = htole16(OP_RW); /* no such connection */
	guest_send_raw(r, &b, sizeof(b));
	assert_true(guest_recv(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, OP_RST);
	assert_int_equal(h.dst_port, 9000);

	b = good;
	b.op = htole16(99); /* unknown op */
	guest_send_raw(r, &b, sizeof(b));
	assert_true(guest_recv(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, OP_RST);

	b = good;
	b.op = htole16(OP_RW);
	b.len = htole32(1000); /* longer than the buffer */
	guest_send_raw(r, &b, sizeof(b) + 10);
	assert_true(guest_recv(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, OP_RST);

	b = good;
	b.op = htole16(OP_RST); /* an RST for nothing: no answer */
	guest_send_raw(r, &b, sizeof(b));
	assert_false(guest_recv(r, &h, NULL, 0, 100));

	/* the device still works */
	cfd = guest_connect(r, lfd, 9000, 1, 4096);
	/* a REQUEST on a live connection resets it */
	guest_send(r, OP_REQUEST, 9000, 1, NULL, 0, 0, 4096, 0);
	assert_true(guest_recv_nc(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, OP_RST);
	assert_true(host_sees_close(cfd));
	close(cfd);
	assert_false(virtio_dev_broken(r->vdev));

	/* a tx buffer too short for a header breaks the ring contract: NEEDS_RESET */
	guest_send_raw(r, &good, 20);
	assert_true(virtio_dev_broken(r->vdev));
	close(lfd);
}

/* A driver reset closes every connection; the device serves again afterwards. */
static void test_reset_closes_everything(void **state)
{
	struct rig *r = *state;
	char p[160];
	struct hdr h;
	int lfd, gfd, hfd, lfd_line;

	rig_post_rx(r, RX_BUFS);
	snprintf(p, sizeof(p), "%s_99", r->path);
	lfd = host_listen(p);
	gfd = guest_connect(r, lfd, 8000, 99, 65536);

	hfd = host_connect(r->path);
	assert_int_equal(write(hfd, "CONNECT 10\n", 11), 11);
	assert_true(guest_recv_nc(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, OP_REQUEST);
	guest_send(r, OP_RESPONSE, 10, h.src_port, NULL, 0, 0, 65536, 0);
	{
		char line[32];

		assert_true(read(hfd, line, sizeof(line)) > 0);
	}
	lfd_line = host_connect(r->path); /* still to send its line */
	sleep_ms(50);

	rig_reset(r);
	assert_true(host_sees_close(gfd));
	assert_true(host_sees_close(hfd));
	assert_true(host_sees_close(lfd_line));
	close(gfd);
	close(hfd);
	close(lfd_line);

	/* up again: old connections are unknown (RST), new ones work */
	rig_up(r);
	rig_post_rx(r, RX_BUFS);
	guest_send(r, OP_RW, 8000, 99, "x", 1, 0, 65536, 0);
	assert_true(guest_recv(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, OP_RST);
	gfd = guest_connect(r, lfd, 8001, 99, 65536);
	guest_send(r, OP_RW, 8001, 99, "y", 1, 0, 65536, 0);
	{
		char c;

		host_read_all(gfd, &c, 1);
		assert_int_equal(c, 'y');
	}
	close(gfd);
	close(lfd);
}

/* Without rx buffers nothing is read from the host; a kick with buffers delivers. */
static void test_rx_starvation_then_kick(void **state)
{
	struct rig *r = *state;
	char p[160], buf[64];
	struct hdr h;
	int lfd, cfd;
	uint32_t id, len;

	snprintf(p, sizeof(p), "%s_5", r->path);
	lfd = host_listen(p);
	/* one buffer: room for the RESPONSE only */
	tq_put(r, 0, 0, RX_BUF(0), RX_BUF_LEN, true);
	virtio_dev_kick(r->vdev, 0);
	guest_send(r, OP_REQUEST, 3000, 5, NULL, 0, 0, 65536, 0);
	assert_true(tq_used(r, 0, &id, &len, 2000));
	cfd = host_accept(lfd);
	assert_int_equal(write(cfd, "data", 4), 4);
	assert_false(tq_used(r, 0, &id, &len, 100));
	assert_true(cpu_ms_while_idle() < 50); /* no rx buffers: the socket is not polled */
	/* the data is still in the socket, not lost */
	rig_post_rx(r, 4);
	assert_true(guest_recv_nc(r, &h, buf, sizeof(buf), 2000));
	assert_int_equal(h.op, OP_RW);
	assert_memory_equal(buf, "data", 4);
	close(cfd);
	close(lfd);
}

static void test_listener_path_rules(void **state)
{
	char dir[] = "/tmp/bothy-vsock-XXXXXX", path[128], file[128];
	struct virtio_vsock_params p = { .guest_cid = GUEST_CID };
	struct virtio_dev *vdev, *vdev2;
	struct gmem *gm;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/l.sock", dir);
	assert_int_equal(gmem_create(&gm), 0);
	assert_int_equal(gmem_add_region(gm, 0, 1 << 20), 0);

	/* a stale socket file (nobody listening) is replaced */
	fd = host_listen(path);
	close(fd);
	p.uds_path = path;
	assert_int_equal(virtio_vsock_create(gm, &p, 0, &vdev), 0);
	/* a live listener is not */
	assert_int_equal(virtio_vsock_create(gm, &p, 1, &vdev2), -EADDRINUSE);
	virtio_dev_destroy(vdev);

	/* nor is a file that is not a socket */
	snprintf(file, sizeof(file), "%s/plain", dir);
	fd = open(file, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	p.uds_path = file;
	assert_int_equal(virtio_vsock_create(gm, &p, 0, &vdev), -EEXIST);
	assert_int_equal(access(file, F_OK), 0);

	/* bad CIDs */
	p.uds_path = path;
	p.guest_cid = 2;
	assert_int_equal(virtio_vsock_create(gm, &p, 0, &vdev), -EINVAL);
	p.guest_cid = 0xffffffffull;
	assert_int_equal(virtio_vsock_create(gm, &p, 0, &vdev), -EINVAL);

	unlink(file);
	unlink(path);
	rmdir(dir);
	gmem_destroy(gm);
}

static void test_config_and_features(void **state)
{
	struct rig *r = *state;
	uint64_t cid = 0;

	pthread_mutex_lock(&r->vdev->lock);
	virtio_dev_config_read(r->vdev, 0, &cid, 8);
	pthread_mutex_unlock(&r->vdev->lock);
	assert_int_equal(le64toh(cid), GUEST_CID);
	assert_int_equal(r->vdev->device_id, VIRTIO_ID_VSOCK);
	assert_true(virtio_dev_features(r->vdev) & 1);      /* STREAM */
	assert_false(virtio_dev_features(r->vdev) & 2);     /* no SEQPACKET */
	assert_int_equal(r->vdev->nr_queues, 3);
	assert_int_equal(r->vdev->queues[0].max_size, 128);
}

static void test_parse_connect(void **state)
{
	uint32_t port = 0;

	(void)state;
	assert_int_equal(vsock_uds_parse_connect("CONNECT 1234\n", 13, &port), 0);
	assert_int_equal(port, 1234);
	assert_int_equal(vsock_uds_parse_connect("CONNECT 7\r\n", 11, &port), 0);
	assert_int_equal(port, 7);
	assert_int_equal(vsock_uds_parse_connect("CONNECT 4294967294\n", 19, &port), 0);
	assert_int_equal(port, 4294967294u);
	assert_int_equal(vsock_uds_parse_connect("CONNECT 4294967295\n", 19, &port), -EINVAL);
	assert_int_equal(vsock_uds_parse_connect("CONNECT \n", 9, &port), -EINVAL);
	assert_int_equal(vsock_uds_parse_connect("CONNECT -1\n", 11, &port), -EINVAL);
	assert_int_equal(vsock_uds_parse_connect("CONNECT 12", 10, &port), -EINVAL);
	assert_int_equal(vsock_uds_parse_connect("CONNECT 00000000001\n", 20, &port), -EINVAL);
}

/* The guest sends @total bytes of a counting pattern on (gport -> hport), in 60000-byte packets. */
static void guest_send_pattern(struct rig *r, uint32_t gport, uint32_t hport, size_t total)
{
	static uint8_t chunk[60000];

	for (size_t off = 0; off < total; off += sizeof(chunk)) {
		size_t n = total - off < sizeof(chunk) ? total - off : sizeof(chunk);

		for (size_t i = 0; i < n; i++)
			chunk[i] = (uint8_t)((off + i) * 7 + (off + i) / 251);
		guest_send(r, OP_RW, gport, hport, chunk, (uint32_t)n, 0, 65536, 0);
	}
}

/* The host reads @total bytes of guest_send_pattern()'s pattern, then EOF. */
static void host_read_pattern(int fd, size_t total)
{
	static uint8_t buf[240000];

	assert_true(total <= sizeof(buf));
	host_read_all(fd, buf, total);
	for (size_t i = 0; i < total; i++)
		if (buf[i] != (uint8_t)(i * 7 + i / 251))
			fail_msg("byte %zu differs", i);
	assert_true(host_sees_close(fd));
}

/*
 * A guest that closes while the host socket still has to take what it sent
 * loses nothing: SHUTDOWN both ways is answered with RST only after the host
 * read it all; after an RST the data still arrives, nothing is answered, and
 * the guest can reuse the port at once. (The socket takes ~200 KiB unread, so
 * 240000 bytes leave some in the device's buffer.)
 */
static void test_guest_close_drains_buffer(void **state)
{
	struct rig *r = *state;
	const size_t total = 240000;
	char p[160];
	struct hdr h;
	int lfd, cfd, cfd2;

	rig_post_rx(r, RX_BUFS);
	snprintf(p, sizeof(p), "%s_77", r->path);
	lfd = host_listen(p);

	cfd = guest_connect(r, lfd, 9000, 77, 65536);
	guest_send_pattern(r, 9000, 77, total);
	guest_send(r, OP_SHUTDOWN, 9000, 77, NULL, 0, 3, 65536, 0);
	assert_false(guest_recv_nc(r, &h, NULL, 0, 300)); /* no RST while bytes wait */
	host_read_pattern(cfd, total);
	assert_true(guest_recv_nc(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, OP_RST);
	assert_int_equal(h.dst_port, 9000);
	close(cfd);

	cfd = guest_connect(r, lfd, 9001, 77, 65536);
	guest_send_pattern(r, 9001, 77, total);
	guest_send(r, OP_RST, 9001, 77, NULL, 0, 0, 65536, 0);
	/* the port is free again while the old connection drains */
	cfd2 = guest_connect(r, lfd, 9001, 77, 65536);
	guest_send(r, OP_RW, 9001, 77, "new", 3, 0, 65536, 0);
	host_read_pattern(cfd, total);
	assert_false(guest_recv_nc(r, &h, NULL, 0, 300)); /* an RST is never answered */
	{
		char buf[3];

		host_read_all(cfd2, buf, 3);
		assert_memory_equal(buf, "new", 3);
	}
	close(cfd);
	close(cfd2);
	close(lfd);
}

/* A host socket that never takes the closed guest's bytes is dropped after 10 s, with an RST. */
static void test_guest_close_drain_timeout(void **state)
{
	struct rig *r = *state;
	struct timespec t0, t1;
	char p[160];
	struct hdr h;
	double secs;
	int lfd, cfd;

	rig_post_rx(r, RX_BUFS);
	snprintf(p, sizeof(p), "%s_78", r->path);
	lfd = host_listen(p);
	cfd = guest_connect(r, lfd, 9100, 78, 65536);
	guest_send_pattern(r, 9100, 78, 240000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	guest_send(r, OP_SHUTDOWN, 9100, 78, NULL, 0, 3, 65536, 0);
	assert_true(guest_recv_nc(r, &h, NULL, 0, 13000));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_int_equal(h.op, OP_RST);
	assert_true(secs > 9.0 && secs < 12.5);
	/* the host gets what fit in its socket, then the end: never a hang */
	{
		static char buf[65536];
		ssize_t n;

		while ((n = read(cfd, buf, sizeof(buf))) > 0)
			;
		assert_int_equal(n, 0);
	}
	close(cfd);
	close(lfd);
}

#define RIG_TEST(fn) cmocka_unit_test_setup_teardown(fn, rig_setup, rig_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_connect),
		cmocka_unit_test(test_listener_path_rules),
		RIG_TEST(test_config_and_features),
		RIG_TEST(test_guest_to_host_stream),
		RIG_TEST(test_guest_connect_missing_port),
		RIG_TEST(test_host_to_guest_connect),
		RIG_TEST(test_host_bad_connect_lines),
		RIG_TEST(test_host_connect_line_timeout),
		RIG_TEST(test_credit_limits_host_to_guest),
		RIG_TEST(test_guest_exceeding_credit),
		RIG_TEST(test_guest_close_drains_buffer),
		RIG_TEST(test_guest_close_drain_timeout),
		RIG_TEST(test_bad_packets),
		RIG_TEST(test_reset_closes_everything),
		RIG_TEST(test_rx_starvation_then_kick),
	};

	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
