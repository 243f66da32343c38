/*
 * virtio-blk (virtio 1.x, 5.2): each request queue is served synchronously by
 * its own worker thread, straight from the guest's buffers to the image with
 * preadv/pwritev (backends/block.c), without the device lock: the queues of a
 * multi-queue disk do their I/O in parallel, and a vCPU touching the device's
 * registers never waits for a disk.
 *
 * A request is a 16-byte header (type, reserved, sector) at the start of the
 * readable part, then data or discard/write-zeroes segments; the status byte
 * is the last byte of the writable part, read data comes before it. No
 * framing is assumed (any split of the header or data across buffers works).
 */
#include "devices/virtio/blk.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/block.h"
#include "core/log.h"
#include "devices/virtio/devices.h"
#include "devices/virtio/virtio.h"

struct virtio_blk_req_hdr {
	uint32_t type; /* le */
	uint32_t reserved;
	uint64_t sector; /* le */
};

struct virtio_blk_dwz_seg {
	uint64_t sector; /* le */
	uint32_t num_sectors; /* le */
	uint32_t flags; /* le */
};

_Static_assert(sizeof(struct virtio_blk_req_hdr) == 16, "request header layout");
_Static_assert(sizeof(struct virtio_blk_dwz_seg) == 16, "discard segment layout");

/* A queue's request scratch, here rather than on the stack: one request at a time per queue. */
struct blk_queue_state {
	struct virtq_req req;
	struct iovec data_iov[VIRTQ_MAX_CHAIN];
	struct virtio_blk_dwz_seg segs[VIRTIO_BLK_MAX_DWZ_SEG];
};

struct virtio_blk {
	struct virtio_dev vdev; /* first: ops->destroy frees the whole device */
	struct block *disk;
	uint64_t sectors;
	bool readonly;
	char serial[VIRTIO_BLK_ID_BYTES]; /* NUL padded, not necessarily terminated */
	uint8_t config[VIRTIO_BLK_CFG_BYTES];
	struct blk_queue_state qs[]; /* one per request queue */
};

static void blk_put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static void blk_put_le64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

/* Host I/O errors are not the guest's doing but repeat per request: rate-limit them too. */
static void blk_log_io_error(struct virtio_blk *blk, const char *what, uint64_t sector, int err)
{
	static struct log_ratelimit rl;

	if (log_ratelimit_ok(&rl))
		log_warn("%s: %s at sector %llu failed: %s", blk->vdev.name, what, (unsigned long long)sector,
			 strerror(-err));
}

/*
 * Describes bytes [skip, skip + len) of @src (which holds at least that many)
 * as iovecs in @dst: the guest's own buffers, no data copied.
 */
static unsigned blk_iov_window(struct iovec *dst, const struct iovec *src, unsigned count, size_t skip,
			       size_t len)
{
	unsigned n = 0;

	for (unsigned i = 0; i < count && len; i++) {
		size_t l = src[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		dst[n].iov_base = (uint8_t *)src[i].iov_base + skip;
		dst[n].iov_len = l - skip < len ? l - skip : len;
		len -= dst[n].iov_len;
		skip = 0;
		n++;
	}
	return n;
}

/* [sector, sector + nsect) inside the disk, without overflowing. */
static bool blk_range_ok(const struct virtio_blk *blk, uint64_t sector, uint64_t nsect)
{
	return sector <= blk->sectors && nsect <= blk->sectors - sector;
}

/* T_IN / T_OUT. *written: data bytes put into the guest's buffers. */
static uint8_t blk_do_rw(struct virtio_blk *blk, struct blk_queue_state *bq, const struct virtq_req *req,
			 bool write, uint64_t sector, uint32_t *written)
{
	size_t len = write ? req->out_len - sizeof(struct virtio_blk_req_hdr) : req->in_len - 1;
	unsigned n;
	int ret;

	if (len % BLOCK_SECTOR_SIZE || !blk_range_ok(blk, sector, len / BLOCK_SECTOR_SIZE))
		return VIRTIO_BLK_S_IOERR;
	if (write && blk->readonly)
		return VIRTIO_BLK_S_IOERR;
	if (!len)
		return VIRTIO_BLK_S_OK;
	if (write)
		n = blk_iov_window(bq->data_iov, req->iov, req->nr_out, sizeof(struct virtio_blk_req_hdr), len);
	else
		n = blk_iov_window(bq->data_iov, req->iov + req->nr_out, req->nr_in, 0, len);
	if (write)
		ret = block_writev(blk->disk, bq->data_iov, n, sector << BLOCK_SECTOR_SHIFT);
	else
		ret = block_readv(blk->disk, bq->data_iov, n, sector << BLOCK_SECTOR_SHIFT);
	if (ret) {
		blk_log_io_error(blk, write ? "write" : "read", sector, ret);
		return VIRTIO_BLK_S_IOERR;
	}
	if (!write)
		*written = (uint32_t)len;
	return VIRTIO_BLK_S_OK;
}

/* T_DISCARD / T_WRITE_ZEROES: segments after the header, all checked before any is applied. */
static uint8_t blk_do_dwz(struct virtio_blk *blk, struct blk_queue_state *bq, const struct virtq_req *req,
			  bool zeroes)
{
	size_t bytes = req->out_len - sizeof(struct virtio_blk_req_hdr);
	size_t nseg = bytes / sizeof(struct virtio_blk_dwz_seg);
	uint32_t bad_flags = zeroes ? ~VIRTIO_BLK_DWZ_F_UNMAP : ~0u; /* discard: UNMAP is not allowed */
	size_t max_seg = zeroes ? VIRTIO_BLK_MAX_WZ_SEG : VIRTIO_BLK_MAX_DISCARD_SEG;
	uint32_t max_sectors = zeroes ? VIRTIO_BLK_MAX_WZ_SECTORS : VIRTIO_BLK_MAX_DISCARD_SECTORS;

	if (blk->readonly || !bytes || bytes % sizeof(struct virtio_blk_dwz_seg) || nseg > max_seg)
		return VIRTIO_BLK_S_IOERR;
	/* One copy: the guest cannot change a segment between its check and its use. */
	virtq_req_read(req, sizeof(struct virtio_blk_req_hdr), bq->segs, bytes);
	for (size_t i = 0; i < nseg; i++) {
		struct virtio_blk_dwz_seg *s = &bq->segs[i];

		s->sector = le64toh(s->sector);
		s->num_sectors = le32toh(s->num_sectors);
		s->flags = le32toh(s->flags);
		if (s->flags & bad_flags)
			return VIRTIO_BLK_S_UNSUPP;
		if (s->num_sectors > max_sectors || !blk_range_ok(blk, s->sector, s->num_sectors))
			return VIRTIO_BLK_S_IOERR;
	}
	for (size_t i = 0; i < nseg; i++) {
		const struct virtio_blk_dwz_seg *s = &bq->segs[i];
		uint64_t off = s->sector << BLOCK_SECTOR_SHIFT;
		uint64_t len = (uint64_t)s->num_sectors << BLOCK_SECTOR_SHIFT;
		int ret;

		if (zeroes)
			ret = block_write_zeroes(blk->disk, off, len, s->flags & VIRTIO_BLK_DWZ_F_UNMAP);
		else
			ret = block_discard(blk->disk, off, len);
		if (ret) {
			blk_log_io_error(blk, zeroes ? "write-zeroes" : "discard", s->sector, ret);
			return VIRTIO_BLK_S_IOERR;
		}
	}
	return VIRTIO_BLK_S_OK;
}

/*
 * One request on @bq's scratch, without the device lock: it touches only the
 * request's buffers and the device's fixed state. A request that cannot even
 * be answered sets *unanswerable (why) and returns 0.
 */
static uint32_t blk_serve(struct virtio_blk *blk, struct blk_queue_state *bq, const struct virtq_req *req,
			  const char **unanswerable)
{
	struct virtio_blk_req_hdr hdr;
	uint32_t written = 0;
	uint8_t *status = NULL;
	uint8_t st;

	/* queue.c guarantees these; a crafted request (tests, fuzzing) must not get further either. */
	if (req->nr_out > VIRTQ_MAX_CHAIN || req->nr_in > VIRTQ_MAX_CHAIN - req->nr_out) {
		*unanswerable = "request with too many buffers";
		return 0;
	}
	/* The status byte: the last byte of the last non-empty writable buffer. */
	for (unsigned i = req->nr_out + req->nr_in; i > req->nr_out; i--) {
		const struct iovec *v = &req->iov[i - 1];

		if (v->iov_len) {
			status = (uint8_t *)v->iov_base + v->iov_len - 1;
			break;
		}
	}
	if (!status || !req->in_len) {
		*unanswerable = "block request without a status byte";
		return 0;
	}
	if (req->out_len < sizeof(hdr)) {
		log_guest("%s: block request header of %zu bytes", blk->vdev.name, req->out_len);
		*status = VIRTIO_BLK_S_IOERR;
		return 1;
	}
	virtq_req_read(req, 0, &hdr, sizeof(hdr));
	hdr.type = le32toh(hdr.type);
	hdr.sector = le64toh(hdr.sector);

	switch (hdr.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		st = blk_do_rw(blk, bq, req, hdr.type == VIRTIO_BLK_T_OUT, hdr.sector, &written);
		break;
	case VIRTIO_BLK_T_FLUSH:
		st = VIRTIO_BLK_S_OK;
		if (!blk->readonly) {
			int ret = block_flush(blk->disk);

			if (ret) {
				blk_log_io_error(blk, "flush", 0, ret);
				st = VIRTIO_BLK_S_IOERR;
			}
		}
		break;
	case VIRTIO_BLK_T_GET_ID: {
		size_t n = req->in_len - 1 < VIRTIO_BLK_ID_BYTES ? req->in_len - 1 : VIRTIO_BLK_ID_BYTES;

		written = (uint32_t)virtq_req_write(req, 0, blk->serial, n);
		st = VIRTIO_BLK_S_OK;
		break;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		st = blk_do_dwz(blk, bq, req, hdr.type == VIRTIO_BLK_T_WRITE_ZEROES);
		break;
	default:
		st = VIRTIO_BLK_S_UNSUPP;
		break;
	}
	*status = st;
	return written + 1;
}

uint32_t virtio_blk_handle_req(struct virtio_dev *vdev, const struct virtq_req *req)
{
	struct virtio_blk *blk = vdev->priv;
	const char *unanswerable = NULL;
	uint32_t used = blk_serve(blk, &blk->qs[0], req, &unanswerable);

	if (unanswerable)
		virtio_dev_set_broken(vdev, unanswerable);
	return used;
}

/* Request queue @q, on its own worker: a batch at a time, one interrupt per batch. */
static void blk_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_blk *blk = vdev->priv;
	struct blk_queue_state *bq = &blk->qs[q];
	struct virtq *vq = &vdev->queues[q];
	bool pushed = false;

	while (!virtio_dev_broken(vdev) && !virtio_dev_draining(vdev)) {
		const char *unanswerable = NULL;
		uint32_t used;
		int ret = virtq_pop(vq, &bq->req);

		if (ret == 0)
			break;
		if (ret < 0) {
			virtio_dev_set_broken(vdev, "malformed descriptor chain");
			break;
		}
		virtio_dev_io_begin(vdev);
		used = blk_serve(blk, bq, &bq->req, &unanswerable);
		virtio_dev_io_end(vdev);
		if (unanswerable)
			virtio_dev_set_broken(vdev, unanswerable);
		if (virtio_dev_broken(vdev))
			break;
		virtq_push(vq, &bq->req, used);
		pushed = true;
	}
	if (pushed)
		virtio_dev_queue_done(vdev, q);
}

static void blk_destroy(struct virtio_dev *vdev)
{
	struct virtio_blk *blk = vdev->priv;

	block_close(blk->disk);
	free(blk);
}

static const struct virtio_dev_ops blk_ops = {
	.worker_per_queue = true,
	.queue_notify = blk_queue_notify,
	.destroy = blk_destroy,
};

static int blk_set_serial(struct virtio_blk *blk, const struct virtio_blk_params *p)
{
	const char *s = p->serial;
	size_t len;

	if (s) {
		len = strlen(s);
		if (len > VIRTIO_BLK_ID_BYTES) {
			log_err("disk %s: serial \"%s\" is longer than %u bytes", p->path, s, VIRTIO_BLK_ID_BYTES);
			return -EINVAL;
		}
	} else {
		const char *slash = strrchr(p->path, '/');

		s = slash ? slash + 1 : p->path;
		len = strlen(s);
		if (len > VIRTIO_BLK_ID_BYTES)
			len = VIRTIO_BLK_ID_BYTES; /* a serial is only an identifier: the start is enough */
	}
	memset(blk->serial, 0, sizeof(blk->serial));
	memcpy(blk->serial, s, len);
	return 0;
}

static void blk_fill_config(struct virtio_blk *blk, unsigned nr_queues)
{
	uint8_t *c = blk->config;

	memset(c, 0, sizeof(blk->config));
	blk_put_le64(c + VIRTIO_BLK_CFG_CAPACITY, blk->sectors);
	c[VIRTIO_BLK_CFG_NUM_QUEUES] = (uint8_t)nr_queues; /* le16; at most VIRTIO_MAX_QUEUES */
	blk_put_le32(c + VIRTIO_BLK_CFG_SEG_MAX, VIRTIO_BLK_SEG_MAX);
	blk_put_le32(c + VIRTIO_BLK_CFG_BLK_SIZE, BLOCK_SECTOR_SIZE);
	if (blk->readonly)
		return; /* no discard or write-zeroes offered */
	blk_put_le32(c + VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS, VIRTIO_BLK_MAX_DISCARD_SECTORS);
	blk_put_le32(c + VIRTIO_BLK_CFG_MAX_DISCARD_SEG, VIRTIO_BLK_MAX_DISCARD_SEG);
	blk_put_le32(c + VIRTIO_BLK_CFG_DISCARD_ALIGNMENT, block_discard_granularity(blk->disk) / BLOCK_SECTOR_SIZE);
	blk_put_le32(c + VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS, VIRTIO_BLK_MAX_WZ_SECTORS);
	blk_put_le32(c + VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SEG, VIRTIO_BLK_MAX_WZ_SEG);
	c[VIRTIO_BLK_CFG_WRITE_ZEROES_MAY_UNMAP] = 1;
}

int virtio_blk_create(struct gmem *gm, const struct virtio_blk_params *p, unsigned index,
		      struct virtio_dev **out)
{
	uint16_t sizes[VIRTIO_MAX_QUEUES];
	struct virtio_blk *blk;
	unsigned nr_queues;
	uint64_t features;
	char name[32];
	int ret;

	if (!p || !p->path || p->nr_queues > VIRTIO_MAX_QUEUES)
		return -EINVAL;
	nr_queues = p->nr_queues ? p->nr_queues : 1;
	for (unsigned q = 0; q < nr_queues; q++)
		sizes[q] = VIRTIO_BLK_QUEUE_SIZE;
	blk = calloc(1, sizeof(*blk) + nr_queues * sizeof(blk->qs[0]));
	if (!blk)
		return -ENOMEM;
	ret = blk_set_serial(blk, p);
	if (ret)
		goto free_blk;
	ret = block_open(p->path, p->readonly, &blk->disk);
	if (ret)
		goto free_blk;
	blk->sectors = block_sectors(blk->disk);
	blk->readonly = p->readonly;
	blk_fill_config(blk, nr_queues);

	features = (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) | (1ULL << VIRTIO_BLK_F_FLUSH);
	if (nr_queues > 1)
		features |= 1ULL << VIRTIO_BLK_F_MQ;
	if (p->readonly)
		features |= 1ULL << VIRTIO_BLK_F_RO;
	else
		features |= (1ULL << VIRTIO_BLK_F_DISCARD) | (1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
	snprintf(name, sizeof(name), "virtio-blk%u", index);
	ret = virtio_dev_init(&blk->vdev, name, VIRTIO_ID_BLOCK, features, nr_queues, sizes, &blk_ops, blk);
	if (ret) {
		log_err("%s: cannot create the device: %s", name, strerror(-ret));
		goto close_disk;
	}
	/* After init, which clears the common part. */
	blk->vdev.gmem = gm;
	blk->vdev.config = blk->config;
	blk->vdev.config_size = sizeof(blk->config);
	*out = &blk->vdev;
	return 0;

close_disk:
	block_close(blk->disk);
free_blk:
	free(blk);
	return ret;
}
