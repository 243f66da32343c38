/*
 * virtio-rng (virtio 1.x, section 5.4): one request queue; the device fills
 * the driver's writable buffers with entropy from the host kernel
 * (getrandom) and reports how many bytes it wrote.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/log.h"
#include "devices/virtio/devices.h"
#include "devices/virtio/virtio.h"

#define VIRTIO_RNG_QUEUE_SIZE 64
/* Most entropy one request gets: a guest cannot make one request drain the host pool for long. */
#define VIRTIO_RNG_REQ_MAX (64u << 10)

struct virtio_rng {
	struct virtio_dev vdev; /* first: the core hands back &vdev */
	struct virtq_req req;   /* 16 KiB of iovecs: not on the worker's stack */
};

/* Fills [buf, buf + len) from the kernel's CSPRNG. Bytes written; fewer only on a hard error. */
static size_t virtio_rng_fill(void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = getrandom((uint8_t *)buf + done, len - done, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("virtio-rng: getrandom: %s", strerror(errno));
			break;
		}
		done += (size_t)n; /* short reads (> 256 bytes, signals) just continue */
	}
	return done;
}

/* Bytes written into @req's writable buffers, at most VIRTIO_RNG_REQ_MAX. */
static uint32_t virtio_rng_serve(const struct virtq_req *req)
{
	size_t budget = VIRTIO_RNG_REQ_MAX, written = 0;

	for (unsigned i = req->nr_out; i < req->nr_out + req->nr_in && budget; i++) {
		size_t want = req->iov[i].iov_len < budget ? req->iov[i].iov_len : budget;
		size_t got = virtio_rng_fill(req->iov[i].iov_base, want);

		written += got;
		budget -= got;
		if (got < want)
			break; /* report only what really holds entropy */
	}
	return (uint32_t)written;
}

static void virtio_rng_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_rng *rng = (struct virtio_rng *)vdev;
	struct virtq *vq = &vdev->queues[q];
	const char *broken = NULL;
	unsigned served = 0;
	int ret = 0;

	/* At most one ring's worth per wake-up, so the lock is released between rounds. */
	while (served < vq->size) {
		ret = virtq_pop(vq, &rng->req);
		if (ret < 0)
			broken = "malformed virtio-rng queue";
		if (ret <= 0)
			break;
		if (rng->req.nr_out) {
			/* 5.4.6.1: the driver MUST NOT place device-readable buffers in the queue. */
			broken = "virtio-rng request has device-readable buffers";
			break;
		}
		virtq_push(vq, &rng->req, virtio_rng_serve(&rng->req));
		served++;
	}
	if (served)
		virtio_dev_queue_done(vdev, q);
	if (broken)
		virtio_dev_set_broken(vdev, broken);
	else if (served == vq->size && virtq_has_avail(vq))
		virtio_dev_kick(vdev, q); /* more to do: come back after others had the lock */
}

static void virtio_rng_destroy(struct virtio_dev *vdev)
{
	free((struct virtio_rng *)vdev);
}

static const struct virtio_dev_ops virtio_rng_ops = {
	.queue_notify = virtio_rng_queue_notify,
	.destroy = virtio_rng_destroy,
};

int virtio_rng_create(struct gmem *gm, unsigned index, struct virtio_dev **out)
{
	static const uint16_t sizes[1] = { VIRTIO_RNG_QUEUE_SIZE };
	struct virtio_rng *rng = calloc(1, sizeof(*rng));
	char name[32];
	int ret;

	if (!rng) {
		log_err("virtio-rng%u: out of memory", index);
		return -ENOMEM;
	}
	snprintf(name, sizeof(name), "virtio-rng%u", index);
	ret = virtio_dev_init(&rng->vdev, name, VIRTIO_ID_RNG, 0, 1, sizes, &virtio_rng_ops, rng);
	if (ret) {
		log_err("%s: cannot initialise: %s", name, strerror(-ret));
		free(rng);
		return ret;
	}
	rng->vdev.gmem = gm;
	/* No config space (5.4.4). */
	*out = &rng->vdev;
	return 0;
}
