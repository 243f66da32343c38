/*
 * virtio-net: frames between a driver (tests/unit/vdrv.h) and a datagram
 * socketpair standing in for the tap (one datagram per frame, like a tap);
 * and, when this host allows it, a real tap.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/tap.h"
#include "core/gmem.h"
#include "devices/virtio/devices.h"
#include "devices/virtio/net.h"
#include "devices/virtio/virtio.h"
#include "vdrv.h"

#define RAM_SIZE (4u << 20)
#define RXQ_BASE 0x10000
#define TXQ_BASE 0x20000
#define BUF_BASE 0x100000

#define F(bit) (1ULL << (bit))
#define NET_FEATURES (F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS))

struct net_fx {
	struct gmem *gm;
	struct virtio_dev *vdev;
	int peer;   /* the host network's end */
	int tap_fd; /* the device's end (owned by the device) */
	struct vdrv_transport t;
	struct vdrv_q rx, tx;
};

static void fx_up(struct net_fx *fx, uint64_t features)
{
	static const uint8_t mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
	struct tap *tap;
	int sv[2];

	memset(fx, 0, sizeof(*fx));
	assert_int_equal(gmem_create(&fx->gm), 0);
	assert_int_equal(gmem_add_region(fx->gm, 0, RAM_SIZE), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(tap_open_fd(sv[0], TAP_OFFLOAD_CSUM | TAP_OFFLOAD_TSO4, &tap), 0);
	fx->peer = sv[1];
	fx->tap_fd = sv[0];
	assert_int_equal(virtio_net_create_tap(fx->gm, tap, mac, 0, &fx->vdev), 0);
	vdrv_attach(fx->vdev, &fx->t);
	vdrv_q_init(&fx->rx, fx->vdev, VIRTIO_NET_RXQ, RXQ_BASE, 256);
	vdrv_q_init(&fx->tx, fx->vdev, VIRTIO_NET_TXQ, TXQ_BASE, 256);
	assert_true(vdrv_bring_up(fx->vdev, features) & VIRTIO_STATUS_DRIVER_OK);
}

static void fx_down(struct net_fx *fx)
{
	virtio_dev_destroy(fx->vdev);
	close(fx->peer);
	gmem_destroy(fx->gm);
}

static void fx_tx(struct net_fx *fx)
{
	pthread_mutex_lock(&fx->vdev->lock);
	virtio_net_handle_tx(fx->vdev);
	pthread_mutex_unlock(&fx->vdev->lock);
}

static void fx_rx(struct net_fx *fx)
{
	pthread_mutex_lock(&fx->vdev->lock);
	virtio_net_handle_rx(fx->vdev);
	pthread_mutex_unlock(&fx->vdev->lock);
}

static void fill_pattern(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + seed);
}

static bool broken(struct net_fx *fx)
{
	return fx->vdev->status & VIRTIO_STATUS_NEEDS_RESET;
}

static void test_net_config_and_features(void **state)
{
	struct net_fx fx;
	uint8_t cfg[VIRTIO_NET_CONFIG_SIZE];
	uint64_t f;

	(void)state;
	fx_up(&fx, NET_FEATURES);
	virtio_dev_config_read(fx.vdev, 0, cfg, sizeof(cfg));
	assert_memory_equal(cfg, ((uint8_t[]){ 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 }), 6);
	assert_int_equal(cfg[VIRTIO_NET_CONFIG_STATUS] | cfg[VIRTIO_NET_CONFIG_STATUS + 1] << 8,
			 VIRTIO_NET_S_LINK_UP);
	f = virtio_dev_features(fx.vdev);
	assert_true(f & F(VIRTIO_NET_F_MRG_RXBUF));
	assert_true(f & F(VIRTIO_NET_F_GUEST_CSUM));
	assert_true(f & F(VIRTIO_NET_F_GUEST_TSO4));
	/* The stand-in "tap" accepted neither TSO6 nor ECN: not offered to the guest. */
	assert_false(f & F(VIRTIO_NET_F_GUEST_TSO6));
	assert_false(f & F(VIRTIO_NET_F_GUEST_ECN));
	assert_int_equal(fx.vdev->device_id, VIRTIO_ID_NET);
	fx_down(&fx);
}

static void test_net_tx_frame(void **state)
{
	struct net_fx fx;
	uint8_t frame[1500], got[2000];
	struct vdrv_buf b[2] = {
		{ .gpa = BUF_BASE, .len = VIRTIO_NET_HDR_LEN },
		{ .gpa = BUF_BASE + 0x1000, .len = sizeof(frame) - VIRTIO_NET_HDR_LEN },
	};
	uint32_t id, len;
	uint16_t head;

	(void)state;
	fx_up(&fx, NET_FEATURES);
	fill_pattern(frame, sizeof(frame), 1);
	gmem_write(fx.gm, b[0].gpa, frame, b[0].len);
	gmem_write(fx.gm, b[1].gpa, frame + b[0].len, b[1].len);
	head = vdrv_add(&fx.tx, b, 2);
	fx_tx(&fx);
	/* Header and payload leave as one frame, byte for byte. */
	assert_int_equal(recv(fx.peer, got, sizeof(got), MSG_DONTWAIT), sizeof(frame));
	assert_memory_equal(got, frame, sizeof(frame));
	assert_true(vdrv_used(&fx.tx, &id, &len));
	assert_int_equal(id, head);
	assert_int_equal(len, 0);
	assert_int_equal(vdrv_irqs(&fx.t, VIRTIO_NET_TXQ), 1);
	assert_false(broken(&fx));
	fx_down(&fx);
}

static void test_net_tx_bad_length_dropped(void **state)
{
	struct net_fx fx;
	uint8_t got[16];
	uint32_t id, len;
	uint16_t short_head, long_head;

	(void)state;
	fx_up(&fx, NET_FEATURES);
	/* Shorter than the header, and longer than the largest frame: both dropped, both returned. */
	short_head = vdrv_add1(&fx.tx, BUF_BASE, VIRTIO_NET_HDR_LEN - 1, false);
	long_head = vdrv_add1(&fx.tx, BUF_BASE, VIRTIO_NET_MAX_FRAME + 1, false);
	fx_tx(&fx);
	assert_int_equal(recv(fx.peer, got, sizeof(got), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
	assert_true(vdrv_used(&fx.tx, &id, &len));
	assert_int_equal(id, short_head);
	assert_true(vdrv_used(&fx.tx, &id, &len));
	assert_int_equal(id, long_head);
	assert_false(broken(&fx));
	/* The device still works afterwards. */
	vdrv_add1(&fx.tx, BUF_BASE, 60, false);
	fx_tx(&fx);
	assert_int_equal(recv(fx.peer, got, sizeof(got), MSG_DONTWAIT | MSG_TRUNC), 60);
	fx_down(&fx);
}

static void test_net_tx_writable_buffer_breaks(void **state)
{
	struct net_fx fx;
	struct vdrv_buf b[2] = {
		{ .gpa = BUF_BASE, .len = 100 },
		{ .gpa = BUF_BASE + 0x1000, .len = 100, .writable = true },
	};
	uint8_t got[256];
	uint32_t id, len;

	(void)state;
	fx_up(&fx, NET_FEATURES);
	vdrv_add(&fx.tx, b, 2);
	fx_tx(&fx);
	assert_true(broken(&fx));
	assert_int_equal(fx.t.config_irqs, 1);
	assert_int_equal(recv(fx.peer, got, sizeof(got), MSG_DONTWAIT), -1);
	assert_false(vdrv_used(&fx.tx, &id, &len));
	fx_down(&fx);
}

/* A full tap keeps the frame, waits for EPOLLOUT, and sends every frame in order. */
static void test_net_tx_backpressure(void **state)
{
	enum { NR = 40 };
	struct net_fx fx;
	uint8_t frame[600], got[2000];
	uint32_t id, len;
	unsigned used = 0, received = 0;
	int sndbuf = 4096;

	(void)state;
	fx_up(&fx, NET_FEATURES);
	/* A small send buffer: the stand-in tap fills after a few frames. */
	assert_int_equal(setsockopt(fx.tap_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
	for (unsigned i = 0; i < NR; i++) {
		fill_pattern(frame, sizeof(frame), i);
		gmem_write(fx.gm, BUF_BASE + i * 0x1000u, frame, sizeof(frame));
		vdrv_add1(&fx.tx, BUF_BASE + i * 0x1000u, sizeof(frame), false);
	}
	fx_tx(&fx);
	while (vdrv_used(&fx.tx, &id, &len))
		used++;
	/* The peer's queue filled before all frames went out. */
	assert_true(used > 0);
	assert_true(used < NR);
	assert_true(virtio_net_tap_events(fx.vdev) & EPOLLOUT);
	/* Drain on the host side while the worker resumes on EPOLLOUT. */
	assert_int_equal(virtio_dev_start(fx.vdev), 0);
	for (unsigned spins = 0; received < NR && spins < 5000; spins++) {
		ssize_t n = recv(fx.peer, got, sizeof(got), MSG_DONTWAIT);

		if (n < 0) {
			struct timespec ts = { 0, 1000000 };

			nanosleep(&ts, NULL);
			continue;
		}
		assert_int_equal(n, sizeof(frame));
		fill_pattern(frame, sizeof(frame), received);
		assert_memory_equal(got, frame, sizeof(frame));
		received++;
	}
	assert_int_equal(received, NR);
	while (used < NR && vdrv_wait_used(&fx.tx, &id, &len, 1000))
		used++;
	assert_int_equal(used, NR);
	assert_false(broken(&fx));
	fx_down(&fx);
}

static void test_net_rx_mergeable(void **state)
{
	struct net_fx fx;
	uint8_t frame[2500], got[3000];
	uint16_t heads[3], nb;
	uint32_t id, len;

	(void)state;
	fx_up(&fx, NET_FEATURES | F(VIRTIO_NET_F_MRG_RXBUF));
	for (unsigned i = 0; i < 3; i++)
		heads[i] = vdrv_add1(&fx.rx, BUF_BASE + i * 0x1000u, 1000, true);
	fill_pattern(frame, sizeof(frame), 3);
	assert_int_equal(send(fx.peer, frame, sizeof(frame), 0), sizeof(frame));
	fx_rx(&fx);
	for (unsigned i = 0; i < 3; i++) {
		assert_true(vdrv_used(&fx.rx, &id, &len));
		assert_int_equal(id, heads[i]);
		assert_int_equal(len, i < 2 ? 1000 : 500);
		gmem_read(fx.gm, BUF_BASE + i * 0x1000u, got + i * 1000, len);
	}
	assert_false(vdrv_used(&fx.rx, &id, &len));
	memcpy(&nb, got + VIRTIO_NET_HDR_NUM_BUFFERS, 2);
	assert_int_equal(nb, 3);
	assert_memory_equal(got, frame, VIRTIO_NET_HDR_NUM_BUFFERS);
	assert_memory_equal(got + VIRTIO_NET_HDR_LEN, frame + VIRTIO_NET_HDR_LEN,
			    sizeof(frame) - VIRTIO_NET_HDR_LEN);
	assert_int_equal(vdrv_irqs(&fx.t, VIRTIO_NET_RXQ), 1);
	fx_down(&fx);
}

/* Buffers run out mid-frame and before the next: nothing is lost, nothing spins. */
static void test_net_rx_starved_then_kicked(void **state)
{
	struct net_fx fx;
	uint8_t frame[2500], second[300], got[3000];
	uint16_t nb;
	uint32_t id, len;

	(void)state;
	fx_up(&fx, NET_FEATURES | F(VIRTIO_NET_F_MRG_RXBUF));
	vdrv_add1(&fx.rx, BUF_BASE, 1000, true);
	fill_pattern(frame, sizeof(frame), 5);
	fill_pattern(second, sizeof(second), 6);
	assert_int_equal(send(fx.peer, frame, sizeof(frame), 0), sizeof(frame));
	assert_int_equal(send(fx.peer, second, sizeof(second), 0), sizeof(second));
	fx_rx(&fx);
	/* The first chain is filled but not returned: the frame needs two more. */
	assert_false(vdrv_used(&fx.rx, &id, &len));
	assert_false(virtio_net_tap_events(fx.vdev) & EPOLLIN);

	assert_int_equal(virtio_dev_start(fx.vdev), 0);
	pthread_mutex_lock(&fx.vdev->lock);
	vdrv_add1(&fx.rx, BUF_BASE + 0x1000, 1000, true);
	vdrv_add1(&fx.rx, BUF_BASE + 0x2000, 1000, true);
	vdrv_add1(&fx.rx, BUF_BASE + 0x3000, 1000, true);
	pthread_mutex_unlock(&fx.vdev->lock);
	virtio_dev_kick(fx.vdev, VIRTIO_NET_RXQ);
	for (unsigned i = 0; i < 3; i++) {
		assert_true(vdrv_wait_used(&fx.rx, &id, &len, 2000));
		assert_int_equal(id, i);
		gmem_read(fx.gm, BUF_BASE + i * 0x1000u, got + i * 1000, len);
	}
	memcpy(&nb, got + VIRTIO_NET_HDR_NUM_BUFFERS, 2);
	assert_int_equal(nb, 3);
	assert_memory_equal(got + VIRTIO_NET_HDR_LEN, frame + VIRTIO_NET_HDR_LEN,
			    sizeof(frame) - VIRTIO_NET_HDR_LEN);
	/* The second frame went to the fourth chain. */
	assert_true(vdrv_wait_used(&fx.rx, &id, &len, 2000));
	assert_int_equal(id, 3);
	assert_int_equal(len, sizeof(second));
	gmem_read(fx.gm, BUF_BASE + 0x3000, got, len);
	assert_memory_equal(got + VIRTIO_NET_HDR_LEN, second + VIRTIO_NET_HDR_LEN,
			    sizeof(second) - VIRTIO_NET_HDR_LEN);
	memcpy(&nb, got + VIRTIO_NET_HDR_NUM_BUFFERS, 2);
	assert_int_equal(nb, 1);
	assert_false(broken(&fx));
	fx_down(&fx);
}

static void test_net_rx_too_big_without_mrg(void **state)
{
	struct net_fx fx;
	uint8_t big[200], small[80], got[100];
	uint16_t head, nb;
	uint32_t id, len;

	(void)state;
	fx_up(&fx, NET_FEATURES);
	head = vdrv_add1(&fx.rx, BUF_BASE, 100, true);
	fill_pattern(big, sizeof(big), 7);
	fill_pattern(small, sizeof(small), 8);
	assert_int_equal(send(fx.peer, big, sizeof(big), 0), sizeof(big));
	assert_int_equal(send(fx.peer, small, sizeof(small), 0), sizeof(small));
	fx_rx(&fx);
	/* The big frame was dropped; the chain then took the small one. */
	assert_true(vdrv_used(&fx.rx, &id, &len));
	assert_int_equal(id, head);
	assert_int_equal(len, sizeof(small));
	gmem_read(fx.gm, BUF_BASE, got, len);
	assert_memory_equal(got + VIRTIO_NET_HDR_LEN, small + VIRTIO_NET_HDR_LEN,
			    sizeof(small) - VIRTIO_NET_HDR_LEN);
	memcpy(&nb, got + VIRTIO_NET_HDR_NUM_BUFFERS, 2);
	assert_int_equal(nb, 1);
	assert_false(vdrv_used(&fx.rx, &id, &len));
	assert_false(broken(&fx));
	fx_down(&fx);
}

static void test_net_rx_bad_buffers_break(void **state)
{
	struct net_fx fx;
	uint8_t frame[100] = { 0 };
	uint32_t id, len;

	(void)state;
	/* A device-readable rx buffer. */
	fx_up(&fx, NET_FEATURES);
	vdrv_add1(&fx.rx, BUF_BASE, 1000, false);
	assert_int_equal(send(fx.peer, frame, sizeof(frame), 0), sizeof(frame));
	fx_rx(&fx);
	assert_true(broken(&fx));
	assert_false(vdrv_used(&fx.rx, &id, &len));
	fx_down(&fx);

	/* A mergeable buffer too small for the header. */
	fx_up(&fx, NET_FEATURES | F(VIRTIO_NET_F_MRG_RXBUF));
	vdrv_add1(&fx.rx, BUF_BASE, VIRTIO_NET_HDR_LEN - 2, true);
	assert_int_equal(send(fx.peer, frame, sizeof(frame), 0), sizeof(frame));
	fx_rx(&fx);
	assert_true(broken(&fx));
	fx_down(&fx);
}

static void test_net_reset_forgets_pending(void **state)
{
	struct net_fx fx;
	uint8_t frame[2500] = { 0 };
	uint32_t id, len;

	(void)state;
	fx_up(&fx, NET_FEATURES | F(VIRTIO_NET_F_MRG_RXBUF));
	vdrv_add1(&fx.rx, BUF_BASE, 1000, true);
	assert_int_equal(send(fx.peer, frame, sizeof(frame), 0), sizeof(frame));
	fx_rx(&fx);
	pthread_mutex_lock(&fx.vdev->lock);
	virtio_dev_set_status(fx.vdev, 0);
	pthread_mutex_unlock(&fx.vdev->lock);
	assert_int_equal(virtio_net_tap_events(fx.vdev), 0);
	/* A new driver instance starts clean: its first buffer gets a fresh frame. */
	vdrv_q_init(&fx.rx, fx.vdev, VIRTIO_NET_RXQ, RXQ_BASE, 256);
	vdrv_q_init(&fx.tx, fx.vdev, VIRTIO_NET_TXQ, TXQ_BASE, 256);
	assert_true(vdrv_bring_up(fx.vdev, NET_FEATURES | F(VIRTIO_NET_F_MRG_RXBUF)) &
		    VIRTIO_STATUS_DRIVER_OK);
	vdrv_add1(&fx.rx, BUF_BASE, 1000, true);
	assert_int_equal(send(fx.peer, frame, 64, 0), 64);
	fx_rx(&fx);
	assert_true(vdrv_used(&fx.rx, &id, &len));
	assert_int_equal(len, 64);
	fx_down(&fx);
}

static void test_tap_errors(void **state)
{
	struct tap *tap;

	(void)state;
	assert_int_equal(tap_open("a-name-far-too-long-for-ifnamsiz", &tap), -ENAMETOOLONG);
	assert_int_equal(tap_open("", &tap), -EINVAL);
}

static void test_net_real_tap(void **state)
{
	struct virtio_net_params p = { 0 };
	struct virtio_dev *vdev;
	struct gmem *gm;
	struct tap *tap;
	char name[16];
	int ret;

	(void)state;
	snprintf(name, sizeof(name), "bthy%d", (int)getpid() % 100000);
	ret = tap_open(name, &tap);
	if (ret < 0) {
		fprintf(stderr, "SKIP test_net_real_tap: cannot open tap %s: %s "
				"(needs /dev/net/tun and CAP_NET_ADMIN)\n", name, strerror(-ret));
		skip();
	}
	assert_true(tap->fd >= 0);
	assert_true(tap->is_tap);
	/* Any Linux tap accepts checksum offload. */
	assert_true(tap->offloads_ok & TAP_OFFLOAD_CSUM);
	assert_int_equal(tap_set_offloads(tap, TAP_OFFLOAD_CSUM), 0);
	assert_int_equal(tap_set_offloads(tap, 0), 0);
	tap_close(tap);

	assert_int_equal(gmem_create(&gm), 0);
	assert_int_equal(gmem_add_region(gm, 0, RAM_SIZE), 0);
	p.tap = name;
	assert_int_equal(virtio_net_create(gm, &p, 3, &vdev), 0);
	assert_true(virtio_dev_features(vdev) & F(VIRTIO_NET_F_GUEST_CSUM));
	assert_int_equal(vdev->config[0], 0x02); /* locally administered default MAC */
	assert_int_equal(vdev->config[5], 3);
	virtio_dev_destroy(vdev);
	gmem_destroy(gm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_net_config_and_features),
		cmocka_unit_test(test_net_tx_frame),
		cmocka_unit_test(test_net_tx_bad_length_dropped),
		cmocka_unit_test(test_net_tx_writable_buffer_breaks),
		cmocka_unit_test(test_net_tx_backpressure),
		cmocka_unit_test(test_net_rx_mergeable),
		cmocka_unit_test(test_net_rx_starved_then_kicked),
		cmocka_unit_test(test_net_rx_too_big_without_mrg),
		cmocka_unit_test(test_net_rx_bad_buffers_break),
		cmocka_unit_test(test_net_reset_forgets_pending),
		cmocka_unit_test(test_tap_errors),
		cmocka_unit_test(test_net_real_tap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
