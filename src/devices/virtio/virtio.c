/*
 * The virtio device core: feature negotiation, status and reset, config
 * space, and each device's worker thread (see virtio.h for the threading
 * rules).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/evloop.h"
#include "core/log.h"
#include "devices/virtio/virtio.h"

/* Ring features every device gets from the core (queue.c implements them). */
#define VIRTIO_CORE_FEATURES                                                                     \
	((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_RING_EVENT_IDX) |                       \
	 (1ULL << VIRTIO_F_RING_INDIRECT_DESC))

static void virtio_on_kick(void *opaque, int fd, uint32_t events)
{
	struct virtio_dev *vdev = opaque;
	uint64_t count;
	unsigned q;

	(void)events;
	if (read(fd, &count, sizeof(count)) != sizeof(count))
		return; /* spurious wake-up: EAGAIN */
	for (q = 0; q < vdev->nr_queues; q++)
		if (vdev->kick_fd[q] == fd)
			break;
	if (q == vdev->nr_queues)
		return;
	pthread_mutex_lock(&vdev->lock);
	if ((vdev->status & VIRTIO_STATUS_DRIVER_OK) && !virtio_dev_broken(vdev) &&
	    vdev->queues[q].enabled && vdev->ops->queue_notify)
		vdev->ops->queue_notify(vdev, q);
	pthread_mutex_unlock(&vdev->lock);
}

int virtio_dev_init(struct virtio_dev *vdev, const char *name, uint32_t device_id, uint64_t features,
		    unsigned nr_queues, const uint16_t *queue_sizes, const struct virtio_dev_ops *ops,
		    void *priv)
{
	int ret;
	unsigned q;

	if (nr_queues == 0 || nr_queues > VIRTIO_MAX_QUEUES)
		return -EINVAL;
	memset(vdev, 0, sizeof(*vdev));
	snprintf(vdev->name, sizeof(vdev->name), "%s", name);
	vdev->device_id = device_id;
	vdev->device_features = features | VIRTIO_CORE_FEATURES;
	vdev->nr_queues = nr_queues;
	vdev->ops = ops;
	vdev->priv = priv;
	vdev->nr_workers = ops->worker_per_queue ? nr_queues : 1;
	for (q = 0; q < VIRTIO_MAX_QUEUES; q++)
		vdev->kick_fd[q] = -1;
	ret = -pthread_mutex_init(&vdev->lock, NULL);
	if (ret)
		return ret;
	ret = -pthread_cond_init(&vdev->io_idle, NULL);
	if (ret)
		goto destroy_lock;
	for (unsigned w = 0; w < vdev->nr_workers; w++) {
		vdev->workers[w].vdev = vdev;
		ret = evloop_create(&vdev->workers[w].loop);
		if (ret)
			goto destroy_loops;
	}
	vdev->loop = vdev->workers[0].loop;
	for (q = 0; q < nr_queues; q++) {
		virtq_init(&vdev->queues[q], queue_sizes[q]);
		vdev->kick_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vdev->kick_fd[q] < 0) {
			ret = -errno;
			goto close_kicks;
		}
		ret = evloop_add(vdev->workers[q % vdev->nr_workers].loop, vdev->kick_fd[q], EPOLLIN, virtio_on_kick,
				 vdev);
		if (ret)
			goto close_kicks;
	}
	return 0;

close_kicks:
	for (q = 0; q < nr_queues; q++)
		if (vdev->kick_fd[q] >= 0)
			close(vdev->kick_fd[q]);
destroy_loops:
	for (unsigned w = 0; w < vdev->nr_workers; w++)
		evloop_destroy(vdev->workers[w].loop);
	pthread_cond_destroy(&vdev->io_idle);
destroy_lock:
	pthread_mutex_destroy(&vdev->lock);
	return ret;
}

static void *virtio_worker(void *arg)
{
	struct virtio_worker *w = arg;
	int ret = evloop_run(w->loop);

	if (ret)
		log_err("%s: event loop failed: %s", w->vdev->name, strerror(-ret));
	return NULL;
}

static void virtio_dev_stop_workers(struct virtio_dev *vdev)
{
	for (unsigned w = 0; w < vdev->workers_started; w++)
		evloop_stop(vdev->workers[w].loop);
	for (unsigned w = 0; w < vdev->workers_started; w++)
		pthread_join(vdev->workers[w].thread, NULL);
	vdev->workers_started = 0;
}

int virtio_dev_start(struct virtio_dev *vdev)
{
	sigset_t all, old;
	int ret = 0;

	/*
	 * Workers take no signals: SIGINT/SIGTERM/SIGQUIT are for vm_run()'s signalfd, and a
	 * process-directed signal goes to any thread that does not block it, where its default
	 * action would kill the VMM instead of stopping the VM cleanly.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	while (vdev->workers_started < vdev->nr_workers) {
		struct virtio_worker *w = &vdev->workers[vdev->workers_started];

		ret = -pthread_create(&w->thread, NULL, virtio_worker, w);
		if (ret)
			break;
		vdev->workers_started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		virtio_dev_stop_workers(vdev);
	return ret;
}

void virtio_dev_destroy(struct virtio_dev *vdev)
{
	if (!vdev)
		return;
	virtio_dev_stop_workers(vdev);
	for (unsigned q = 0; q < vdev->nr_queues; q++)
		if (vdev->kick_fd[q] >= 0)
			close(vdev->kick_fd[q]);
	for (unsigned w = 0; w < vdev->nr_workers; w++)
		evloop_destroy(vdev->workers[w].loop);
	pthread_cond_destroy(&vdev->io_idle);
	pthread_mutex_destroy(&vdev->lock);
	if (vdev->ops && vdev->ops->destroy)
		vdev->ops->destroy(vdev); /* frees vdev itself when the device embeds it */
}

uint64_t virtio_dev_features(const struct virtio_dev *vdev)
{
	return vdev->device_features;
}

void virtio_dev_set_driver_features(struct virtio_dev *vdev, unsigned word, uint32_t value)
{
	if (word > 1 || (vdev->status & VIRTIO_STATUS_FEATURES_OK))
		return; /* features are fixed once FEATURES_OK was accepted */
	vdev->driver_features &= ~(0xffffffffULL << (32 * word));
	vdev->driver_features |= (uint64_t)value << (32 * word);
}

bool virtio_dev_has_feature(const struct virtio_dev *vdev, unsigned bit)
{
	return bit < 64 && (vdev->driver_features >> bit) & 1;
}

bool virtio_dev_broken(const struct virtio_dev *vdev)
{
	return vdev->status & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED);
}

static void virtio_dev_reset(struct virtio_dev *vdev)
{
	/* The driver may reuse its buffers once it reads status 0: no I/O may still fill them. */
	vdev->io_drain = true;
	while (vdev->io_inflight)
		pthread_cond_wait(&vdev->io_idle, &vdev->lock);
	vdev->io_drain = false;
	if (vdev->ops->reset)
		vdev->ops->reset(vdev);
	for (unsigned q = 0; q < vdev->nr_queues; q++)
		virtq_reset(&vdev->queues[q]);
	vdev->driver_features = 0;
	vdev->status = 0;
}

int virtio_dev_enable_queue(struct virtio_dev *vdev, unsigned q)
{
	if (q >= vdev->nr_queues)
		return -EINVAL;
	if (virtq_enable(&vdev->queues[q], vdev->gmem, virtio_dev_has_feature(vdev, VIRTIO_F_RING_EVENT_IDX),
			 virtio_dev_has_feature(vdev, VIRTIO_F_RING_INDIRECT_DESC)) < 0) {
		virtio_dev_set_broken(vdev, "invalid queue configuration");
		return -EINVAL;
	}
	return 0;
}

void virtio_dev_set_status(struct virtio_dev *vdev, uint8_t status)
{
	uint8_t old = vdev->status;
	uint8_t added = status & ~old;

	if (status == 0) {
		virtio_dev_reset(vdev);
		return;
	}
	/* Bits are only ever added by the driver (other than by a reset). */
	if (old & ~status) {
		log_guest("%s: status 0x%02x clears bits of 0x%02x without a reset", vdev->name, status, old);
		return;
	}
	if (added & VIRTIO_STATUS_FEATURES_OK) {
		uint64_t extra = vdev->driver_features & ~vdev->device_features;

		if (extra || !virtio_dev_has_feature(vdev, VIRTIO_F_VERSION_1)) {
			log_guest("%s: features 0x%llx refused (%s)", vdev->name,
				  (unsigned long long)vdev->driver_features,
				  extra ? "not offered" : "no VERSION_1");
			status &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK; /* the driver reads it back and gives up */
		}
	}
	if ((added & VIRTIO_STATUS_DRIVER_OK) && !(status & VIRTIO_STATUS_FEATURES_OK)) {
		log_guest("%s: DRIVER_OK without FEATURES_OK", vdev->name);
		status &= (uint8_t)~VIRTIO_STATUS_DRIVER_OK;
	}
	vdev->status = status;
	if ((added & VIRTIO_STATUS_DRIVER_OK) && (status & VIRTIO_STATUS_DRIVER_OK)) {
		if (vdev->ops->activate && vdev->ops->activate(vdev) < 0) {
			virtio_dev_set_broken(vdev, "device could not start");
			return;
		}
		/* Buffers made available before DRIVER_OK (or kicks we ignored) get served now. */
		for (unsigned q = 0; q < vdev->nr_queues; q++)
			if (vdev->queues[q].enabled)
				virtio_dev_kick(vdev, q);
	}
}

void virtio_dev_config_read(struct virtio_dev *vdev, uint32_t offset, void *data, unsigned size)
{
	if (offset > vdev->config_size || size > vdev->config_size - offset) {
		memset(data, 0, size);
		return;
	}
	memcpy(data, vdev->config + offset, size);
}

void virtio_dev_config_write(struct virtio_dev *vdev, uint32_t offset, const void *data, unsigned size)
{
	if (offset > vdev->config_size || size > vdev->config_size - offset)
		return;
	if (vdev->ops->config_write)
		vdev->ops->config_write(vdev, offset, data, size);
}

void virtio_dev_kick(struct virtio_dev *vdev, unsigned q)
{
	uint64_t one = 1;

	if (q >= vdev->nr_queues)
		return;
	if (write(vdev->kick_fd[q], &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, the worker wakes anyway. */
	}
}

void virtio_dev_set_broken(struct virtio_dev *vdev, const char *why)
{
	if (vdev->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	log_guest("%s: %s; device needs reset", vdev->name, why);
	vdev->status |= VIRTIO_STATUS_NEEDS_RESET;
	if ((vdev->status & VIRTIO_STATUS_DRIVER_OK) && vdev->transport)
		vdev->transport->notify_config(vdev);
}

void virtio_dev_io_begin(struct virtio_dev *vdev)
{
	vdev->io_inflight++;
	pthread_mutex_unlock(&vdev->lock);
}

void virtio_dev_io_end(struct virtio_dev *vdev)
{
	pthread_mutex_lock(&vdev->lock);
	if (--vdev->io_inflight == 0 && vdev->io_drain)
		pthread_cond_broadcast(&vdev->io_idle);
}

bool virtio_dev_draining(const struct virtio_dev *vdev)
{
	return vdev->io_drain;
}

void virtio_dev_queue_done(struct virtio_dev *vdev, unsigned q)
{
	if (q < vdev->nr_queues && virtq_needs_interrupt(&vdev->queues[q]) && vdev->transport)
		vdev->transport->notify_queue(vdev, q);
}

void virtio_dev_config_changed(struct virtio_dev *vdev)
{
	vdev->config_generation++;
	if ((vdev->status & VIRTIO_STATUS_DRIVER_OK) && vdev->transport)
		vdev->transport->notify_config(vdev);
}
