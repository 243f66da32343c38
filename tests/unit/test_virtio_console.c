/*
 * virtio-console: a driver (tests/unit/vdrv.h) against the device's worker
 * thread, with pipes as the host side of hvc0.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/gmem.h"
#include "devices/virtio/devices.h"
#include "devices/virtio/virtio.h"
#include "vdrv.h"

#define RAM_SIZE (4u << 20)
#define RXQ 0
#define TXQ 1
#define RXQ_BASE 0x10000
#define TXQ_BASE 0x20000
#define BUF_BASE 0x100000
#define FEATURES (1ULL << VIRTIO_F_VERSION_1)

struct con_fx {
	struct gmem *gm;
	struct virtio_dev *vdev;
	int in[2], out[2]; /* in[1]: the host types; out[0]: the host reads */
	struct vdrv_transport t;
	struct vdrv_q rx, tx;
};

static void fx_up(struct con_fx *fx)
{
	struct virtio_console_params p;

	memset(fx, 0, sizeof(*fx));
	assert_int_equal(gmem_create(&fx->gm), 0);
	assert_int_equal(gmem_add_region(fx->gm, 0, RAM_SIZE), 0);
	assert_int_equal(pipe2(fx->in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(fx->out, O_CLOEXEC), 0);
	p.in_fd = fx->in[0];
	p.out_fd = fx->out[1];
	assert_int_equal(virtio_console_create(fx->gm, &p, 0, &fx->vdev), 0);
	vdrv_attach(fx->vdev, &fx->t);
	vdrv_q_init(&fx->rx, fx->vdev, RXQ, RXQ_BASE, 128);
	vdrv_q_init(&fx->tx, fx->vdev, TXQ, TXQ_BASE, 128);
	assert_true(vdrv_bring_up(fx->vdev, FEATURES) & VIRTIO_STATUS_DRIVER_OK);
}

static void fx_down(struct con_fx *fx)
{
	virtio_dev_destroy(fx->vdev);
	for (unsigned i = 0; i < 2; i++) {
		if (fx->in[i] >= 0)
			close(fx->in[i]);
		if (fx->out[i] >= 0)
			close(fx->out[i]);
	}
	gmem_destroy(fx->gm);
}

/* Adds a buffer with the driver's usual care: under the device lock, then a kick. */
static uint16_t fx_post(struct con_fx *fx, struct vdrv_q *q, unsigned qi, uint64_t gpa, uint32_t len,
			bool writable)
{
	uint16_t head;

	pthread_mutex_lock(&fx->vdev->lock);
	head = vdrv_add1(q, gpa, len, writable);
	pthread_mutex_unlock(&fx->vdev->lock);
	virtio_dev_kick(fx->vdev, qi);
	return head;
}

static void msleep(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static bool wait_broken(struct con_fx *fx)
{
	for (unsigned i = 0; i < 2000; i++) {
		if (__atomic_load_n(&fx->vdev->status, __ATOMIC_SEQ_CST) & VIRTIO_STATUS_NEEDS_RESET)
			return true;
		msleep(1);
	}
	return false;
}

static void test_console_config(void **state)
{
	struct con_fx fx;
	uint16_t cols, rows;

	(void)state;
	fx_up(&fx);
	assert_int_equal(fx.vdev->device_id, VIRTIO_ID_CONSOLE);
	assert_true(virtio_dev_features(fx.vdev) & 1); /* VIRTIO_CONSOLE_F_SIZE */
	assert_false(virtio_dev_features(fx.vdev) & 2); /* no MULTIPORT */
	virtio_dev_config_read(fx.vdev, 0, &cols, 2);
	virtio_dev_config_read(fx.vdev, 2, &rows, 2);
	/* A pipe has no window size: the classic terminal. */
	assert_int_equal(cols, 80);
	assert_int_equal(rows, 25);
	fx_down(&fx);
}

static void test_console_output(void **state)
{
	struct con_fx fx;
	struct vdrv_buf b[2] = {
		{ .gpa = BUF_BASE, .len = 6 },
		{ .gpa = BUF_BASE + 0x1000, .len = 5 },
	};
	struct pollfd pf;
	char got[32] = { 0 };
	uint32_t id, len;
	uint16_t head;
	size_t have = 0;

	(void)state;
	fx_up(&fx);
	assert_int_equal(virtio_dev_start(fx.vdev), 0);
	gmem_write(fx.gm, b[0].gpa, "hello ", 6);
	gmem_write(fx.gm, b[1].gpa, "world", 5);
	pthread_mutex_lock(&fx.vdev->lock);
	head = vdrv_add(&fx.tx, b, 2);
	pthread_mutex_unlock(&fx.vdev->lock);
	virtio_dev_kick(fx.vdev, TXQ);
	while (have < 11) {
		pf = (struct pollfd){ .fd = fx.out[0], .events = POLLIN };
		assert_int_equal(poll(&pf, 1, 2000), 1);
		ssize_t n = read(fx.out[0], got + have, sizeof(got) - 1 - have);
		assert_true(n > 0);
		have += (size_t)n;
	}
	assert_string_equal(got, "hello world");
	assert_true(vdrv_wait_used(&fx.tx, &id, &len, 2000));
	assert_int_equal(id, head);
	assert_int_equal(len, 0);
	fx_down(&fx);
}

static void test_console_input(void **state)
{
	struct con_fx fx;
	char got[64];
	uint32_t id, len;
	uint16_t head;

	(void)state;
	fx_up(&fx);
	head = vdrv_add1(&fx.rx, BUF_BASE, sizeof(got), true);
	assert_int_equal(write(fx.in[1], "abc", 3), 3);
	/* The kick DRIVER_OK left pending is served once the worker runs. */
	assert_int_equal(virtio_dev_start(fx.vdev), 0);
	assert_true(vdrv_wait_used(&fx.rx, &id, &len, 2000));
	assert_int_equal(id, head);
	assert_int_equal(len, 3);
	gmem_read(fx.gm, BUF_BASE, got, len);
	assert_memory_equal(got, "abc", 3);
	assert_true(vdrv_irqs(&fx.t, RXQ) >= 1);
	fx_down(&fx);
}

/* Input waits in the pipe while the guest has no buffers, and arrives after its kick. */
static void test_console_input_waits_for_buffers(void **state)
{
	struct con_fx fx;
	char got[16];
	uint32_t id, len;
	int pending = 0;

	(void)state;
	fx_up(&fx);
	assert_int_equal(virtio_dev_start(fx.vdev), 0);
	assert_int_equal(write(fx.in[1], "xyz", 3), 3);
	msleep(50);
	assert_false(vdrv_used(&fx.rx, &id, &len));
	assert_int_equal(ioctl(fx.in[0], FIONREAD, &pending), 0);
	assert_int_equal(pending, 3); /* nothing read and lost */
	fx_post(&fx, &fx.rx, RXQ, BUF_BASE, sizeof(got), true);
	assert_true(vdrv_wait_used(&fx.rx, &id, &len, 2000));
	assert_int_equal(len, 3);
	gmem_read(fx.gm, BUF_BASE, got, len);
	assert_memory_equal(got, "xyz", 3);

	/* More input than one buffer holds: split over buffers, in order. */
	assert_int_equal(write(fx.in[1], "0123456789", 10), 10);
	fx_post(&fx, &fx.rx, RXQ, BUF_BASE + 0x1000, 4, true);
	fx_post(&fx, &fx.rx, RXQ, BUF_BASE + 0x2000, 8, true);
	assert_true(vdrv_wait_used(&fx.rx, &id, &len, 2000));
	assert_int_equal(len, 4);
	assert_true(vdrv_wait_used(&fx.rx, &id, &len, 2000));
	assert_int_equal(len, 6);
	gmem_read(fx.gm, BUF_BASE + 0x1000, got, 4);
	gmem_read(fx.gm, BUF_BASE + 0x2000, got + 4, 6);
	assert_memory_equal(got, "0123456789", 10);
	fx_down(&fx);
}

static void test_console_input_eof(void **state)
{
	struct con_fx fx;
	struct vdrv_buf b = { .gpa = BUF_BASE, .len = 5 };
	char got[8] = { 0 };
	uint32_t id, len;

	(void)state;
	fx_up(&fx);
	assert_int_equal(virtio_dev_start(fx.vdev), 0);
	close(fx.in[1]);
	fx.in[1] = -1;
	fx_post(&fx, &fx.rx, RXQ, BUF_BASE + 0x3000, 16, true);
	msleep(50);
	/* EOF gives the guest nothing, breaks nothing, and output still flows. */
	assert_false(vdrv_used(&fx.rx, &id, &len));
	assert_false(fx.vdev->status & VIRTIO_STATUS_NEEDS_RESET);
	gmem_write(fx.gm, b.gpa, "still", 5);
	pthread_mutex_lock(&fx.vdev->lock);
	vdrv_add(&fx.tx, &b, 1);
	pthread_mutex_unlock(&fx.vdev->lock);
	virtio_dev_kick(fx.vdev, TXQ);
	assert_true(vdrv_wait_used(&fx.tx, &id, &len, 2000));
	assert_int_equal(read(fx.out[0], got, sizeof(got)), 5);
	assert_string_equal(got, "still");
	fx_down(&fx);
}

static void test_console_output_reader_gone(void **state)
{
	struct con_fx fx;
	uint32_t id, len;

	(void)state;
	fx_up(&fx);
	assert_int_equal(virtio_dev_start(fx.vdev), 0);
	close(fx.out[0]);
	fx.out[0] = -1;
	/* EPIPE, not a SIGPIPE that kills the VMM; the guest gets its buffers back. */
	gmem_write(fx.gm, BUF_BASE, "lost", 4);
	fx_post(&fx, &fx.tx, TXQ, BUF_BASE, 4, false);
	fx_post(&fx, &fx.tx, TXQ, BUF_BASE, 4, false);
	assert_true(vdrv_wait_used(&fx.tx, &id, &len, 2000));
	assert_true(vdrv_wait_used(&fx.tx, &id, &len, 2000));
	assert_false(fx.vdev->status & VIRTIO_STATUS_NEEDS_RESET);
	fx_down(&fx);
}

static void test_console_bad_buffers_break(void **state)
{
	struct con_fx fx;
	uint32_t id, len;

	(void)state;
	fx_up(&fx);
	assert_int_equal(virtio_dev_start(fx.vdev), 0);
	fx_post(&fx, &fx.tx, TXQ, BUF_BASE, 4, true); /* transmit buffer the device may write */
	assert_true(wait_broken(&fx));
	assert_false(vdrv_used(&fx.tx, &id, &len));
	assert_int_equal(__atomic_load_n(&fx.t.config_irqs, __ATOMIC_SEQ_CST), 1);
	fx_down(&fx);

	fx_up(&fx);
	assert_int_equal(virtio_dev_start(fx.vdev), 0);
	assert_int_equal(write(fx.in[1], "q", 1), 1);
	fx_post(&fx, &fx.rx, RXQ, BUF_BASE, 4, false); /* receive buffer the device may only read */
	assert_true(wait_broken(&fx));
	assert_false(vdrv_used(&fx.rx, &id, &len));
	fx_down(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_console_config),
		cmocka_unit_test(test_console_output),
		cmocka_unit_test(test_console_input),
		cmocka_unit_test(test_console_input_waits_for_buffers),
		cmocka_unit_test(test_console_input_eof),
		cmocka_unit_test(test_console_output_reader_gone),
		cmocka_unit_test(test_console_bad_buffers_break),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
