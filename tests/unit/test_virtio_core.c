/*
 * The virtio core's worker threads and device lock, with real workers: a fake
 * device with a worker per queue does "I/O" that blocks until the test lets
 * it go, so the test can look at the device while requests are in flight.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>
#include <time.h>

#include "core/gmem.h"
#include "devices/virtio/virtio.h"
#include "vdrv.h"

#define WAIT_MS 5000

struct fake {
	struct virtio_dev vdev;
	struct vdrv_transport t;
	struct gmem *gm;
	struct vdrv_q q[2];
	struct virtq_req req[2]; /* per queue, as a worker_per_queue device keeps it */
	unsigned in_io;          /* workers between io_begin and io_end */
	unsigned served[2];      /* requests pushed, per queue */
	bool release;            /* lets the "I/O" finish */
};

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Polls *v until it equals @want, for up to WAIT_MS. */
static bool wait_for(unsigned *v, unsigned want)
{
	for (unsigned i = 0; i < WAIT_MS; i++) {
		if (__atomic_load_n(v, __ATOMIC_ACQUIRE) == want)
			return true;
		sleep_ms(1);
	}
	return __atomic_load_n(v, __ATOMIC_ACQUIRE) == want;
}

/* As virtio-blk serves a queue: pop, blocking I/O without the lock, push. */
static void fake_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct fake *f = (struct fake *)vdev;
	bool pushed = false;

	while (!virtio_dev_broken(vdev) && !virtio_dev_draining(vdev)) {
		if (virtq_pop(&vdev->queues[q], &f->req[q]) <= 0)
			break;
		virtio_dev_io_begin(vdev);
		__atomic_add_fetch(&f->in_io, 1, __ATOMIC_RELEASE);
		for (unsigned i = 0; i < WAIT_MS && !__atomic_load_n(&f->release, __ATOMIC_ACQUIRE); i++)
			sleep_ms(1);
		__atomic_sub_fetch(&f->in_io, 1, __ATOMIC_RELEASE);
		virtio_dev_io_end(vdev);
		virtq_push(&vdev->queues[q], &f->req[q], 0);
		__atomic_add_fetch(&f->served[q], 1, __ATOMIC_RELEASE);
		pushed = true;
	}
	if (pushed)
		virtio_dev_queue_done(vdev, q);
}

static const struct virtio_dev_ops fake_per_queue_ops = {
	.worker_per_queue = true,
	.queue_notify = fake_queue_notify,
};

static const struct virtio_dev_ops fake_one_worker_ops = {
	.queue_notify = fake_queue_notify,
};

static struct fake *fake_up(const struct virtio_dev_ops *ops)
{
	static const uint16_t sizes[2] = { 16, 16 };
	struct fake *f = test_calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(gmem_create(&f->gm), 0);
	assert_int_equal(gmem_add_region(f->gm, 0, 1 << 20), 0);
	assert_int_equal(virtio_dev_init(&f->vdev, "fake0", 0x1234, 0, 2, sizes, ops, f), 0);
	f->vdev.gmem = f->gm;
	vdrv_attach(&f->vdev, &f->t);
	vdrv_q_init(&f->q[0], &f->vdev, 0, 0x10000, 16);
	vdrv_q_init(&f->q[1], &f->vdev, 1, 0x20000, 16);
	assert_true(vdrv_bring_up(&f->vdev, 1ULL << VIRTIO_F_VERSION_1) & VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(virtio_dev_start(&f->vdev), 0);
	return f;
}

static void fake_down(struct fake *f)
{
	__atomic_store_n(&f->release, true, __ATOMIC_RELEASE);
	virtio_dev_destroy(&f->vdev);
	gmem_destroy(f->gm);
	test_free(f);
}

static void *reset_thread(void *arg)
{
	struct virtio_dev *vdev = arg;

	pthread_mutex_lock(&vdev->lock);
	virtio_dev_set_status(vdev, 0); /* as the transport applies a status write of 0 */
	pthread_mutex_unlock(&vdev->lock);
	return NULL;
}

static void test_worker_counts(void **state)
{
	struct fake *f = fake_up(&fake_one_worker_ops);

	(void)state;
	assert_int_equal(f->vdev.nr_workers, 1);
	assert_int_equal(f->vdev.workers_started, 1);
	fake_down(f);
	f = fake_up(&fake_per_queue_ops);
	assert_int_equal(f->vdev.nr_workers, 2);
	assert_int_equal(f->vdev.workers_started, 2);
	assert_ptr_equal(f->vdev.loop, f->vdev.workers[0].loop);
	fake_down(f);
}

/* A one-buffer request on queue @q, and the driver's kick. */
static void submit(struct fake *f, unsigned q, uint64_t gpa)
{
	vdrv_add1(&f->q[q], gpa, 512, true);
	virtio_dev_kick(&f->vdev, q);
}

/* Two queues' requests are in their I/O at once, and the device lock is free meanwhile. */
static void test_queues_in_parallel_without_the_lock(void **state)
{
	struct fake *f = fake_up(&fake_per_queue_ops);
	uint32_t id, len;

	(void)state;
	submit(f, 0, 0x40000);
	submit(f, 1, 0x41000);
	assert_true(wait_for(&f->in_io, 2));
	/* A vCPU's register access would get the lock now, not wait for the disk. */
	assert_int_equal(pthread_mutex_trylock(&f->vdev.lock), 0);
	pthread_mutex_unlock(&f->vdev.lock);
	__atomic_store_n(&f->release, true, __ATOMIC_RELEASE);
	assert_true(vdrv_wait_used(&f->q[0], &id, &len, WAIT_MS) && vdrv_wait_used(&f->q[1], &id, &len, WAIT_MS));
	assert_true(vdrv_irqs(&f->t, 0) >= 1 && vdrv_irqs(&f->t, 1) >= 1);
	fake_down(f);
}

/* With one worker, a blocked queue holds up the other: the parallel case above is the per-queue design. */
static void test_one_worker_serves_queues_in_turn(void **state)
{
	struct fake *f = fake_up(&fake_one_worker_ops);
	uint32_t id, len;

	(void)state;
	submit(f, 0, 0x40000);
	assert_true(wait_for(&f->in_io, 1));
	submit(f, 1, 0x41000);
	sleep_ms(50);
	assert_int_equal(__atomic_load_n(&f->in_io, __ATOMIC_ACQUIRE), 1);
	assert_int_equal(__atomic_load_n(&f->served[1], __ATOMIC_ACQUIRE), 0);
	__atomic_store_n(&f->release, true, __ATOMIC_RELEASE);
	assert_true(vdrv_wait_used(&f->q[0], &id, &len, WAIT_MS) && vdrv_wait_used(&f->q[1], &id, &len, WAIT_MS));
	fake_down(f);
}

/*
 * A reset waits for the I/O in flight (the driver may reuse its buffers as soon
 * as it reads status 0 back), the request in flight is completed before the
 * rings go, and nothing more is popped once the reset is waiting.
 */
static void test_reset_waits_for_io(void **state)
{
	struct fake *f = fake_up(&fake_per_queue_ops);
	pthread_t t;

	(void)state;
	vdrv_add1(&f->q[0], 0x40000, 512, true);
	submit(f, 0, 0x41000);
	assert_true(wait_for(&f->in_io, 1));
	assert_int_equal(pthread_create(&t, NULL, reset_thread, &f->vdev), 0);
	sleep_ms(50);
	pthread_mutex_lock(&f->vdev.lock);
	assert_true(f->vdev.status & VIRTIO_STATUS_DRIVER_OK); /* not reset yet */
	assert_true(virtio_dev_draining(&f->vdev));
	pthread_mutex_unlock(&f->vdev.lock);
	__atomic_store_n(&f->release, true, __ATOMIC_RELEASE);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(f->vdev.status, 0);
	assert_false(virtio_dev_draining(&f->vdev));
	assert_int_equal(f->vdev.io_inflight, 0);
	/* The first request was completed into the rings; the second was never taken. */
	assert_int_equal(__atomic_load_n(&f->served[0], __ATOMIC_ACQUIRE), 1);
	assert_int_equal(vdrv_load16(f->gm, f->q[0].used + 2), 1);
	assert_false(f->vdev.queues[0].enabled);
	fake_down(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_worker_counts),
		cmocka_unit_test(test_queues_in_parallel_without_the_lock),
		cmocka_unit_test(test_one_worker_serves_queues_in_turn),
		cmocka_unit_test(test_reset_waits_for_io),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
