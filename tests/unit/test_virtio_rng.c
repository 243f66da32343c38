/*
 * virtio-rng against a hand-built split ring in guest RAM: what a driver
 * sees in its buffers and in the used ring.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "core/gmem.h"
#include "devices/virtio/devices.h"
#include "devices/virtio/virtio.h"

#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define BUF 0x10000
#define QSIZE 64

struct rig {
	struct gmem *gm;
	struct virtio_dev *vdev;
	uint16_t avail_idx;
	unsigned queue_irqs, config_irqs; /* the fake transport's interrupts (lock held) */
};

static void rig_notify_queue(struct virtio_dev *vdev, unsigned q)
{
	struct rig *r = vdev->transport_priv;

	(void)q;
	__atomic_add_fetch(&r->queue_irqs, 1, __ATOMIC_RELEASE);
}

static void rig_notify_config(struct virtio_dev *vdev)
{
	struct rig *r = vdev->transport_priv;

	r->config_irqs++;
}

static const struct virtio_transport_ops rig_transport = {
	.notify_queue = rig_notify_queue,
	.notify_config = rig_notify_config,
};

/* Brings the device up as a transport would on a driver's behalf: VERSION_1 only, queue 0 at DESC/AVAIL/USED. */
static void rig_setup(struct rig *r)
{
	struct virtq *q;

	memset(r, 0, sizeof(*r));
	assert_int_equal(gmem_create(&r->gm), 0);
	assert_int_equal(gmem_add_region(r->gm, 0, 1 << 20), 0);
	assert_int_equal(virtio_rng_create(r->gm, 0, &r->vdev), 0);
	r->vdev->transport = &rig_transport;
	r->vdev->transport_priv = r;

	pthread_mutex_lock(&r->vdev->lock);
	virtio_dev_set_status(r->vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_dev_set_driver_features(r->vdev, 1, 1u << (VIRTIO_F_VERSION_1 - 32));
	virtio_dev_set_status(r->vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	q = &r->vdev->queues[0];
	q->size = QSIZE;
	q->desc_gpa = DESC;
	q->avail_gpa = AVAIL;
	q->used_gpa = USED;
	assert_int_equal(virtio_dev_enable_queue(r->vdev, 0), 0);
	virtio_dev_set_status(r->vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
						  VIRTIO_STATUS_DRIVER_OK);
	assert_true(r->vdev->status & VIRTIO_STATUS_DRIVER_OK);
	pthread_mutex_unlock(&r->vdev->lock);
}

static void rig_teardown(struct rig *r)
{
	virtio_dev_destroy(r->vdev);
	gmem_destroy(r->gm);
}

static void put_desc(struct rig *r, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t d[16];

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
	assert_int_equal(gmem_write(r->gm, DESC + 16u * i, d, sizeof(d)), 0);
}

/* Makes the chain at @head available, as a driver does: ring entry, then the index. */
static void make_avail(struct rig *r, uint16_t head)
{
	uint16_t *idx = gmem_ptr(r->gm, AVAIL + 2, 2);

	assert_int_equal(gmem_write(r->gm, AVAIL + 4 + 2u * (r->avail_idx % QSIZE), &head, 2), 0);
	r->avail_idx++;
	__atomic_store_n(idx, r->avail_idx, __ATOMIC_RELEASE);
}

static uint16_t used_idx(struct rig *r)
{
	return __atomic_load_n((uint16_t *)gmem_ptr(r->gm, USED + 2, 2), __ATOMIC_ACQUIRE);
}

static void used_elem(struct rig *r, uint16_t n, uint32_t *id, uint32_t *len)
{
	assert_int_equal(gmem_read(r->gm, USED + 4 + 8u * (n % QSIZE), id, 4), 0);
	assert_int_equal(gmem_read(r->gm, USED + 8 + 8u * (n % QSIZE), len, 4), 0);
}

/* Runs the device's queue handler as its worker would after a kick. */
static void serve(struct rig *r)
{
	pthread_mutex_lock(&r->vdev->lock);
	r->vdev->ops->queue_notify(r->vdev, 0);
	pthread_mutex_unlock(&r->vdev->lock);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void test_identity(void **state)
{
	struct rig r;
	const uint64_t core = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_RING_EVENT_IDX) |
			      (1ULL << VIRTIO_F_RING_INDIRECT_DESC);

	(void)state;
	rig_setup(&r);
	assert_int_equal(r.vdev->device_id, VIRTIO_ID_RNG);
	assert_int_equal(r.vdev->nr_queues, 1);
	assert_int_equal(r.vdev->queues[0].max_size, QSIZE);
	/* no device features of its own, no config space */
	assert_int_equal(virtio_dev_features(r.vdev) & ~core, 0);
	assert_int_equal(r.vdev->config_size, 0);
	assert_string_equal(r.vdev->name, "virtio-rng0");
	rig_teardown(&r);
}

static void test_fills_writable_buffers(void **state)
{
	struct rig r;
	uint8_t a[100], b[300], a2[100];
	uint32_t id, len;

	(void)state;
	rig_setup(&r);
	/* one request of two writable buffers */
	put_desc(&r, 5, BUF, sizeof(a), VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 9);
	put_desc(&r, 9, BUF + 0x1000, sizeof(b), VIRTQ_DESC_F_WRITE, 0);
	make_avail(&r, 5);
	serve(&r);
	assert_int_equal(used_idx(&r), 1);
	used_elem(&r, 0, &id, &len);
	assert_int_equal(id, 5);
	assert_int_equal(len, sizeof(a) + sizeof(b));
	assert_int_equal(r.queue_irqs, 1);
	assert_int_equal(gmem_read(r.gm, BUF, a, sizeof(a)), 0);
	assert_int_equal(gmem_read(r.gm, BUF + 0x1000, b, sizeof(b)), 0);
	assert_false(all_zero(a, sizeof(a)));
	assert_false(all_zero(b, sizeof(b)));
	/* nothing written past the buffers */
	assert_true(all_zero(gmem_ptr(r.gm, BUF + sizeof(a), 16), 16));
	assert_true(all_zero(gmem_ptr(r.gm, BUF + 0x1000 + sizeof(b), 16), 16));

	/* the same buffers again: different bytes */
	make_avail(&r, 5);
	serve(&r);
	assert_int_equal(used_idx(&r), 2);
	used_elem(&r, 1, &id, &len);
	assert_int_equal(id, 5);
	assert_int_equal(len, 400);
	assert_int_equal(gmem_read(r.gm, BUF, a2, sizeof(a2)), 0);
	assert_memory_not_equal(a, a2, sizeof(a));

	/* an empty ring: nothing pushed, no interrupt */
	serve(&r);
	assert_int_equal(used_idx(&r), 2);
	assert_int_equal(r.queue_irqs, 2);
	rig_teardown(&r);
}

static void test_request_cap(void **state)
{
	struct rig r;
	uint32_t id, len;
	uint8_t *buf;

	(void)state;
	rig_setup(&r);
	/* 128 KiB asked for in one request: 64 KiB given, and said so */
	put_desc(&r, 0, BUF, 128 << 10, VIRTQ_DESC_F_WRITE, 0);
	make_avail(&r, 0);
	serve(&r);
	assert_int_equal(used_idx(&r), 1);
	used_elem(&r, 0, &id, &len);
	assert_int_equal(id, 0);
	assert_int_equal(len, 64 << 10);
	buf = gmem_ptr(r.gm, BUF, 128 << 10);
	assert_false(all_zero(buf + (64 << 10) - 64, 64));
	assert_true(all_zero(buf + (64 << 10), 64 << 10));
	rig_teardown(&r);
}

static void test_many_requests_one_kick(void **state)
{
	struct rig r;
	uint32_t id, len;

	(void)state;
	rig_setup(&r);
	for (uint16_t i = 0; i < 10; i++) {
		put_desc(&r, i, BUF + 0x100u * i, 16 + i, VIRTQ_DESC_F_WRITE, 0);
		make_avail(&r, i);
	}
	serve(&r);
	assert_int_equal(used_idx(&r), 10);
	for (uint16_t i = 0; i < 10; i++) {
		used_elem(&r, i, &id, &len);
		assert_int_equal(id, i);
		assert_int_equal(len, 16 + i);
	}
	rig_teardown(&r);
}

static void test_readable_buffer_breaks_device(void **state)
{
	struct rig r;
	uint8_t zero[32] = { 0 };

	(void)state;
	rig_setup(&r);
	put_desc(&r, 0, BUF, 32, 0, 0); /* device-readable */
	make_avail(&r, 0);
	serve(&r);
	assert_int_equal(used_idx(&r), 0);
	assert_true(r.vdev->status & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(r.config_irqs, 1);
	assert_memory_equal(gmem_ptr(r.gm, BUF, 32), zero, 32);

	/* a fresh device: a buffer outside RAM breaks it too */
	rig_teardown(&r);
	rig_setup(&r);
	put_desc(&r, 0, 0x7fff0000, 32, VIRTQ_DESC_F_WRITE, 0);
	make_avail(&r, 0);
	serve(&r);
	assert_int_equal(used_idx(&r), 0);
	assert_true(r.vdev->status & VIRTIO_STATUS_NEEDS_RESET);
	rig_teardown(&r);
}

/* The whole path: a kick wakes the worker thread, which fills the buffer and interrupts. */
static void test_worker_serves_kick(void **state)
{
	struct rig r;
	uint32_t id, len;
	int i;

	(void)state;
	rig_setup(&r);
	assert_int_equal(virtio_dev_start(r.vdev), 0);
	put_desc(&r, 3, BUF, 64, VIRTQ_DESC_F_WRITE, 0);
	make_avail(&r, 3);
	pthread_mutex_lock(&r.vdev->lock);
	virtio_dev_kick(r.vdev, 0);
	pthread_mutex_unlock(&r.vdev->lock);
	for (i = 0; i < 2000 && used_idx(&r) != 1; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	assert_int_equal(used_idx(&r), 1);
	used_elem(&r, 0, &id, &len);
	assert_int_equal(id, 3);
	assert_int_equal(len, 64);
	for (i = 0; i < 2000 && !__atomic_load_n(&r.queue_irqs, __ATOMIC_ACQUIRE); i++)
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	assert_int_equal(__atomic_load_n(&r.queue_irqs, __ATOMIC_ACQUIRE), 1);
	rig_teardown(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_fills_writable_buffers),
		cmocka_unit_test(test_request_cap),
		cmocka_unit_test(test_many_requests_one_kick),
		cmocka_unit_test(test_readable_buffer_breaks_device),
		cmocka_unit_test(test_worker_serves_kick),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
