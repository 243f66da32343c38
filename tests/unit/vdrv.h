/*
 * A minimal virtio driver for device unit tests and fuzz targets: lays out
 * split rings in test guest memory, adds descriptor chains, reads the used
 * ring, and walks a device through feature negotiation to DRIVER_OK, the way
 * a guest driver would. Header-only (static functions) so every test owns its copy.
 */
#ifndef BOTHY_TESTS_UNIT_VDRV_H
#define BOTHY_TESTS_UNIT_VDRV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "core/gmem.h"
#include "devices/virtio/virtio.h"

#define VDRV_QUEUE_BYTES 0x4000 /* room for rings of up to 256 entries */

struct vdrv_q {
	struct gmem *gm;
	uint64_t desc, avail, used;
	uint16_t size;
	uint16_t avail_idx; /* next avail entry we write */
	uint16_t used_seen; /* used entries consumed */
	uint16_t next_desc; /* descriptors are handed out round-robin */
};

struct vdrv_buf {
	uint64_t gpa;
	uint32_t len;
	bool writable;
};

struct vdrv_transport {
	unsigned queue_irqs[VIRTIO_MAX_QUEUES];
	unsigned config_irqs;
};

static inline void vdrv_notify_queue(struct virtio_dev *vdev, unsigned q)
{
	struct vdrv_transport *t = vdev->transport_priv;

	__atomic_add_fetch(&t->queue_irqs[q], 1, __ATOMIC_SEQ_CST);
}

static inline void vdrv_notify_config(struct virtio_dev *vdev)
{
	struct vdrv_transport *t = vdev->transport_priv;

	__atomic_add_fetch(&t->config_irqs, 1, __ATOMIC_SEQ_CST);
}

static const struct virtio_transport_ops vdrv_transport_ops = {
	.notify_queue = vdrv_notify_queue,
	.notify_config = vdrv_notify_config,
};

static inline void vdrv_attach(struct virtio_dev *vdev, struct vdrv_transport *t)
{
	memset(t, 0, sizeof(*t));
	vdev->transport = &vdrv_transport_ops;
	vdev->transport_priv = t;
}

static inline unsigned vdrv_irqs(struct vdrv_transport *t, unsigned q)
{
	return __atomic_load_n(&t->queue_irqs[q], __ATOMIC_SEQ_CST);
}

/* Lays out queue @qi's rings at @base (VDRV_QUEUE_BYTES of zeroed RAM) and tells the device. */
static inline void vdrv_q_init(struct vdrv_q *d, struct virtio_dev *vdev, unsigned qi, uint64_t base,
			       uint16_t size)
{
	struct virtq *vq = &vdev->queues[qi];

	memset(d, 0, sizeof(*d));
	d->gm = vdev->gmem;
	d->size = size;
	d->desc = base;
	d->avail = base + 16u * size;
	d->used = (d->avail + 6u + 2u * size + 0xfffu) & ~0xfffull;
	gmem_fill(d->gm, base, 0, VDRV_QUEUE_BYTES);
	vq->size = size;
	vq->desc_gpa = d->desc;
	vq->avail_gpa = d->avail;
	vq->used_gpa = d->used;
}

static inline void vdrv_store16(struct gmem *gm, uint64_t gpa, uint16_t v)
{
	uint16_t *p = gmem_ptr(gm, gpa, 2);

	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline uint16_t vdrv_load16(struct gmem *gm, uint64_t gpa)
{
	uint16_t *p = gmem_ptr(gm, gpa, 2);

	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* Adds a chain of @n buffers; returns its head. */
static inline uint16_t vdrv_add(struct vdrv_q *d, const struct vdrv_buf *b, unsigned n)
{
	uint16_t head = d->next_desc;

	for (unsigned i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % d->size);
		uint16_t next = (uint16_t)((idx + 1) % d->size);
		uint8_t desc[16];
		uint16_t flags = (uint16_t)((b[i].writable ? VIRTQ_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));

		memcpy(desc, &b[i].gpa, 8);
		memcpy(desc + 8, &b[i].len, 4);
		memcpy(desc + 12, &flags, 2);
		memcpy(desc + 14, &next, 2);
		gmem_write(d->gm, d->desc + 16u * idx, desc, sizeof(desc));
	}
	d->next_desc = (uint16_t)((head + n) % d->size);
	gmem_write(d->gm, d->avail + 4u + 2u * (d->avail_idx % d->size), &head, 2);
	d->avail_idx++;
	vdrv_store16(d->gm, d->avail + 2, d->avail_idx);
	return head;
}

static inline uint16_t vdrv_add1(struct vdrv_q *d, uint64_t gpa, uint32_t len, bool writable)
{
	struct vdrv_buf b = { .gpa = gpa, .len = len, .writable = writable };

	return vdrv_add(d, &b, 1);
}

/* Takes the next used entry: true with its id and length, false if there is none. */
static inline bool vdrv_used(struct vdrv_q *d, uint32_t *id, uint32_t *len)
{
	uint16_t idx = vdrv_load16(d->gm, d->used + 2);
	uint64_t elem = d->used + 4u + 8u * (d->used_seen % d->size);

	if (idx == d->used_seen)
		return false;
	gmem_read(d->gm, elem, id, 4);
	gmem_read(d->gm, elem + 4, len, 4);
	d->used_seen++;
	return true;
}

/* Polls for a used entry for up to @ms milliseconds (device worker running). */
static inline bool vdrv_wait_used(struct vdrv_q *d, uint32_t *id, uint32_t *len, unsigned ms)
{
	for (unsigned i = 0; i < ms; i++) {
		if (vdrv_used(d, id, len))
			return true;
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	return vdrv_used(d, id, len);
}

/* ACKNOWLEDGE, DRIVER, features, FEATURES_OK, queues ready, DRIVER_OK: returns the final status. */
static inline uint8_t vdrv_bring_up(struct virtio_dev *vdev, uint64_t features)
{
	uint8_t st = VIRTIO_STATUS_ACKNOWLEDGE;
	uint8_t ret;

	pthread_mutex_lock(&vdev->lock);
	virtio_dev_set_status(vdev, st);
	st |= VIRTIO_STATUS_DRIVER;
	virtio_dev_set_status(vdev, st);
	virtio_dev_set_driver_features(vdev, 0, (uint32_t)features);
	virtio_dev_set_driver_features(vdev, 1, (uint32_t)(features >> 32));
	st |= VIRTIO_STATUS_FEATURES_OK;
	virtio_dev_set_status(vdev, st);
	/* Queue ready, as the transport reports it, for every queue laid out with vdrv_q_init. */
	for (unsigned q = 0; q < vdev->nr_queues; q++)
		if (vdev->queues[q].desc_gpa)
			virtio_dev_enable_queue(vdev, q);
	st |= VIRTIO_STATUS_DRIVER_OK;
	virtio_dev_set_status(vdev, st);
	ret = vdev->status;
	pthread_mutex_unlock(&vdev->lock);
	return ret;
}

#endif
