/*
 * virtio-blk against a temporary raw image: requests are built as a driver
 * would lay them out (header, data, status byte) in crafted iovecs and handed
 * to the request handler; results are checked in the guest's buffers and in
 * the image file itself.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/block.h"
#include "core/gmem.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/devices.h"
#include "devices/virtio/virtio.h"

#define DISK_SECTORS 64
#define DISK_BYTES (DISK_SECTORS * 512)

struct disk {
	char path[64];
	struct virtio_dev *vdev;
};

static struct virtq_req rq; /* large: not on the stack */

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off * 131 + (off >> 9) * 7 + 1);
}

/* A temporary image of @bytes in @dir filled with pattern(); returns its fd (kept open by the caller). */
static int image_make(char *path, size_t pathlen, const char *dir, size_t bytes)
{
	uint8_t *buf = malloc(bytes ? bytes : 1);
	int fd;

	assert_non_null(buf);
	snprintf(path, pathlen, "%s/bothy-blk-XXXXXX", dir);
	fd = mkstemp(path);
	if (fd < 0) {
		free(buf);
		return -1;
	}
	for (size_t i = 0; i < bytes; i++)
		buf[i] = pattern(i);
	assert_int_equal(pwrite(fd, buf, bytes, 0), (ssize_t)bytes);
	free(buf);
	return fd;
}

static void image_read(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static bool image_matches_pattern(const char *path, uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len);
	bool ok = true;

	assert_non_null(buf);
	image_read(path, off, buf, len);
	for (size_t i = 0; i < len && ok; i++)
		ok = buf[i] == pattern(off + i);
	free(buf);
	return ok;
}

static bool image_is_zero(const char *path, uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len);
	bool ok = true;

	assert_non_null(buf);
	image_read(path, off, buf, len);
	for (size_t i = 0; i < len && ok; i++)
		ok = buf[i] == 0;
	free(buf);
	return ok;
}

static int disk_setup_in(void **state, const char *dir, bool readonly, const char *serial, unsigned nr_queues)
{
	struct disk *d = calloc(1, sizeof(*d));
	struct virtio_blk_params p = { .readonly = readonly, .serial = serial, .nr_queues = nr_queues };
	int fd;

	assert_non_null(d);
	fd = image_make(d->path, sizeof(d->path), dir, DISK_BYTES);
	if (fd < 0) {
		free(d);
		return -1;
	}
	close(fd);
	p.path = d->path;
	assert_int_equal(virtio_blk_create(NULL, &p, 0, &d->vdev), 0);
	*state = d;
	return 0;
}

static int disk_setup(void **state)
{
	return disk_setup_in(state, "/tmp", false, NULL, 0);
}

static int disk_setup_mq(void **state)
{
	return disk_setup_in(state, "/tmp", false, NULL, 4);
}

static int disk_setup_ro(void **state)
{
	return disk_setup_in(state, "/tmp", true, NULL, 0);
}

static int disk_teardown(void **state)
{
	struct disk *d = *state;

	virtio_dev_destroy(d->vdev);
	unlink(d->path);
	free(d);
	return 0;
}

static void rq_reset(void)
{
	memset(&rq, 0, sizeof(rq));
}

static void rq_add(void *buf, size_t len, bool writable)
{
	unsigned i = rq.nr_out + rq.nr_in;

	assert_true(writable || rq.nr_in == 0); /* readable buffers come first */
	rq.iov[i].iov_base = buf;
	rq.iov[i].iov_len = len;
	if (writable) {
		rq.nr_in++;
		rq.in_len += len;
	} else {
		rq.nr_out++;
		rq.out_len += len;
	}
}

static void hdr_make(uint8_t *h, uint32_t type, uint64_t sector)
{
	uint32_t t = htole32(type), zero = 0;
	uint64_t s = htole64(sector);

	memcpy(h, &t, 4);
	memcpy(h + 4, &zero, 4);
	memcpy(h + 8, &s, 8);
}

static void seg_make(uint8_t *seg, uint64_t sector, uint32_t nsect, uint32_t flags)
{
	uint64_t s = htole64(sector);
	uint32_t n = htole32(nsect), f = htole32(flags);

	memcpy(seg, &s, 8);
	memcpy(seg + 8, &n, 4);
	memcpy(seg + 12, &f, 4);
}

/* What a queue's worker does on a kick: the device callback under the device lock. */
static void serve_queue(struct virtio_dev *vdev, unsigned q)
{
	pthread_mutex_lock(&vdev->lock);
	vdev->ops->queue_notify(vdev, q);
	pthread_mutex_unlock(&vdev->lock);
}

static uint32_t cfg32(struct virtio_dev *vdev, uint32_t off)
{
	uint32_t v;

	virtio_dev_config_read(vdev, off, &v, 4);
	return le32toh(v);
}

/* A one-buffer-each request: header, optional readable data, writable data, status. */
static uint8_t simple_req(struct virtio_dev *vdev, uint32_t type, uint64_t sector, void *out, size_t out_len,
			  void *in, size_t in_len, uint32_t *used)
{
	static uint8_t hdr[16];
	static uint8_t status;

	rq_reset();
	hdr_make(hdr, type, sector);
	rq_add(hdr, sizeof(hdr), false);
	if (out_len)
		rq_add(out, out_len, false);
	if (in_len)
		rq_add(in, in_len, true);
	status = 0xee;
	rq_add(&status, 1, true);
	*used = virtio_blk_handle_req(vdev, &rq);
	assert_false(virtio_dev_broken(vdev));
	return status;
}

static void test_config_and_features(void **state)
{
	struct disk *d = *state;
	uint64_t f = virtio_dev_features(d->vdev);
	uint64_t cap;

	assert_int_equal(d->vdev->device_id, VIRTIO_ID_BLOCK);
	assert_int_equal(d->vdev->nr_queues, 1);
	assert_int_equal(d->vdev->queues[0].max_size, VIRTIO_BLK_QUEUE_SIZE);
	assert_false(f & (1ULL << VIRTIO_BLK_F_MQ)); /* one queue: num_queues is not offered */
	assert_true(f & (1ULL << VIRTIO_BLK_F_SEG_MAX));
	assert_true(f & (1ULL << VIRTIO_BLK_F_BLK_SIZE));
	assert_true(f & (1ULL << VIRTIO_BLK_F_FLUSH));
	assert_true(f & (1ULL << VIRTIO_BLK_F_DISCARD));
	assert_true(f & (1ULL << VIRTIO_BLK_F_WRITE_ZEROES));
	assert_false(f & (1ULL << VIRTIO_BLK_F_RO));
	assert_true(f & (1ULL << VIRTIO_F_VERSION_1));
	assert_int_equal(d->vdev->config_size, 60);
	virtio_dev_config_read(d->vdev, 0, &cap, 8);
	assert_int_equal(le64toh(cap), DISK_SECTORS);
	/* seg_max: a 1 MiB request of 4 KiB pages fits in one request, and the queue parser takes it. */
	assert_true(cfg32(d->vdev, 12) >= 256);
	assert_true(cfg32(d->vdev, 12) + 2 <= VIRTQ_MAX_CHAIN);
	assert_int_equal(cfg32(d->vdev, 20), 512);                        /* blk_size */
	assert_true(cfg32(d->vdev, 36) >= 8);                              /* max_discard_sectors */
	assert_true(cfg32(d->vdev, 40) >= 1);                              /* max_discard_seg */
	assert_true(cfg32(d->vdev, 44) >= 1);                              /* discard_sector_alignment */
	assert_true(cfg32(d->vdev, 48) >= 8);                              /* max_write_zeroes_sectors */
	assert_true(cfg32(d->vdev, 52) >= 1);                              /* max_write_zeroes_seg */
	assert_int_equal(d->vdev->config[56], 1);                          /* write_zeroes_may_unmap */
}

static void test_read_returns_image_data(void **state)
{
	struct disk *d = *state;
	uint8_t buf[1024];
	uint32_t used;

	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_IN, 3, NULL, 0, buf, sizeof(buf), &used),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(used, sizeof(buf) + 1);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], pattern(3 * 512 + i));
}

/* Header split 5+11, data over odd-sized buffers, status sharing the last read buffer. */
static void test_write_read_round_trip_any_layout(void **state)
{
	struct disk *d = *state;
	static uint8_t hdr[16], data[1536], back[1536 + 1];
	uint8_t status = 0xee;
	uint32_t used;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 3 + 5);
	rq_reset();
	hdr_make(hdr, VIRTIO_BLK_T_OUT, 10);
	rq_add(hdr, 5, false);
	rq_add(hdr + 5, 11, false);
	rq_add(data, 100, false);
	rq_add(data + 100, 0, false);
	rq_add(data + 100, 1000, false);
	rq_add(data + 1100, 436, false);
	rq_add(&status, 1, true);
	used = virtio_blk_handle_req(d->vdev, &rq);
	assert_int_equal(status, VIRTIO_BLK_S_OK);
	assert_int_equal(used, 1);
	image_read(d->path, 10 * 512, back, sizeof(data));
	assert_memory_equal(back, data, sizeof(data));
	assert_true(image_matches_pattern(d->path, 0, 10 * 512));
	assert_true(image_matches_pattern(d->path, 13 * 512, DISK_BYTES - 13 * 512));

	/* Read it back: data in two buffers, the status byte the last byte of the second. */
	memset(back, 0, sizeof(back));
	rq_reset();
	hdr_make(hdr, VIRTIO_BLK_T_IN, 10);
	rq_add(hdr, 16, false);
	rq_add(back, 700, true);
	rq_add(back + 700, sizeof(back) - 700, true);
	back[sizeof(back) - 1] = 0xee;
	used = virtio_blk_handle_req(d->vdev, &rq);
	assert_int_equal(back[sizeof(back) - 1], VIRTIO_BLK_S_OK);
	assert_int_equal(used, sizeof(data) + 1);
	assert_memory_equal(back, data, sizeof(data));
}

static void test_out_of_range_is_ioerr(void **state)
{
	struct disk *d = *state;
	static uint8_t buf[1024];
	uint32_t used;

	/* Last sector is fine, one past it is not. */
	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_IN, DISK_SECTORS - 1, NULL, 0, buf, 512, &used),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_IN, DISK_SECTORS - 1, NULL, 0, buf, 1024, &used),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(used, 1);
	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_IN, DISK_SECTORS, NULL, 0, buf, 512, &used),
			 VIRTIO_BLK_S_IOERR);
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_OUT, DISK_SECTORS - 1, buf, 1024, NULL, 0, &used),
			 VIRTIO_BLK_S_IOERR);
	/* A refused write touches nothing, not even the part that was in range. */
	assert_true(image_matches_pattern(d->path, 0, DISK_BYTES));
	{
		struct stat st;

		assert_int_equal(stat(d->path, &st), 0);
		assert_int_equal(st.st_size, DISK_BYTES);
	}
}

static void test_sector_overflow_is_ioerr(void **state)
{
	struct disk *d = *state;
	static uint8_t buf[1024];
	uint32_t used;

	/* sector + count wraps to a small value; sector * 512 wraps to a small offset. */
	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_IN, UINT64_MAX, NULL, 0, buf, 1024, &used),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_IN, 1ULL << 55, NULL, 0, buf, 512, &used),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_OUT, (1ULL << 55) + 1, buf, 512, NULL, 0, &used),
			 VIRTIO_BLK_S_IOERR);
	assert_true(image_matches_pattern(d->path, 0, DISK_BYTES));
}

static void test_partial_sector_is_ioerr(void **state)
{
	struct disk *d = *state;
	static uint8_t buf[1024];
	uint32_t used;

	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_IN, 0, NULL, 0, buf, 513, &used), VIRTIO_BLK_S_IOERR);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_OUT, 0, buf, 100, NULL, 0, &used), VIRTIO_BLK_S_IOERR);
	assert_true(image_matches_pattern(d->path, 0, 1024));
}

static void test_readonly_refuses_writes(void **state)
{
	struct disk *d = *state;
	static uint8_t buf[512], seg[16];
	uint64_t f = virtio_dev_features(d->vdev);
	uint32_t used;

	assert_true(f & (1ULL << VIRTIO_BLK_F_RO));
	assert_false(f & (1ULL << VIRTIO_BLK_F_DISCARD));
	assert_false(f & (1ULL << VIRTIO_BLK_F_WRITE_ZEROES));
	memset(buf, 0, sizeof(buf));
	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_OUT, 0, buf, 512, NULL, 0, &used), VIRTIO_BLK_S_IOERR);
	seg_make(seg, 0, 8, 0);
	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, 16, NULL, 0, &used),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_DISCARD, 0, seg, 16, NULL, 0, &used),
			 VIRTIO_BLK_S_IOERR);
	assert_true(image_matches_pattern(d->path, 0, DISK_BYTES));
	/* Reads and flushes still work. */
	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_IN, 0, NULL, 0, buf, 512, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(buf[7], pattern(7));
	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL, 0, &used), VIRTIO_BLK_S_OK);
}

static void test_flush(void **state)
{
	struct disk *d = *state;
	uint32_t used;

	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL, 0, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 1);
}

static void test_get_id_from_file_name(void **state)
{
	struct disk *d = *state;
	const char *base = strrchr(d->path, '/') + 1;
	uint8_t id[20];
	uint32_t used;

	memset(id, 0xff, sizeof(id));
	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_GET_ID, 0, NULL, 0, id, sizeof(id), &used),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(used, 21);
	assert_memory_equal(id, base, strlen(base)); /* "bothy-blk-XXXXXX": 16 bytes */
	for (size_t i = strlen(base); i < sizeof(id); i++)
		assert_int_equal(id[i], 0);
}

static void test_get_id_given_serial(void **state)
{
	struct disk *d;
	uint8_t id[20];
	uint32_t used;

	assert_int_equal(disk_setup_in(state, "/tmp", false, "0123456789abcdefghij", 0), 0);
	d = *state;
	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_GET_ID, 0, NULL, 0, id, sizeof(id), &used),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(id, "0123456789abcdefghij", 20);
	/* A short buffer gets what fits, and the status byte stays separate. */
	memset(id, 0, sizeof(id));
	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_GET_ID, 0, NULL, 0, id, 4, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 5);
	assert_memory_equal(id, "0123", 4);
	assert_int_equal(id[4], 0);
	disk_teardown(state);
}

static void test_serial_too_long_refused(void **state)
{
	char path[64];
	struct virtio_blk_params p = { .path = path, .serial = "0123456789abcdefghijk" };
	struct virtio_dev *vdev = NULL;
	int fd = image_make(path, sizeof(path), "/tmp", 4096);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(virtio_blk_create(NULL, &p, 0, &vdev), -EINVAL);
	unlink(path);
}

static bool punch_hole_works(const char *dir)
{
	char path[64];
	int fd = image_make(path, sizeof(path), dir, 8192);
	bool ok;

	assert_true(fd >= 0);
	ok = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096) == 0;
	close(fd);
	unlink(path);
	return ok;
}

static void test_discard(void **state)
{
	struct disk *d = *state;
	static uint8_t segs[32];
	struct stat st;
	uint32_t used;

	seg_make(segs, 8, 8, 0);
	seg_make(segs + 16, 32, 16, 0);
	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_DISCARD, 0, segs, 32, NULL, 0, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 1);
	/* Outside the ranges nothing changed; the size neither. */
	assert_true(image_matches_pattern(d->path, 0, 8 * 512));
	assert_true(image_matches_pattern(d->path, 16 * 512, 16 * 512));
	assert_true(image_matches_pattern(d->path, 48 * 512, 16 * 512));
	assert_int_equal(stat(d->path, &st), 0);
	assert_int_equal(st.st_size, DISK_BYTES);
	/* Where the file system punches holes, discarded sectors read back as zeros. */
	if (punch_hole_works("/tmp")) {
		assert_true(image_is_zero(d->path, 8 * 512, 8 * 512));
		assert_true(image_is_zero(d->path, 32 * 512, 16 * 512));
	}
}

static void test_discard_rejects(void **state)
{
	struct disk *d = *state;
	static uint8_t segs[(VIRTIO_BLK_MAX_DWZ_SEG + 1) * 16];
	uint32_t used;

	seg_make(segs, 0, 8, VIRTIO_BLK_DWZ_F_UNMAP); /* UNMAP is for write-zeroes only */
	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_DISCARD, 0, segs, 16, NULL, 0, &used),
			 VIRTIO_BLK_S_UNSUPP);
	seg_make(segs, 0, 8, 0x80); /* unknown flag */
	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_WRITE_ZEROES, 0, segs, 16, NULL, 0, &used),
			 VIRTIO_BLK_S_UNSUPP);
	seg_make(segs, DISK_SECTORS - 4, 8, 0); /* past the end */
	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_DISCARD, 0, segs, 16, NULL, 0, &used),
			 VIRTIO_BLK_S_IOERR);
	seg_make(segs, UINT64_MAX - 3, 8, 0); /* wraps */
	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_WRITE_ZEROES, 0, segs, 16, NULL, 0, &used),
			 VIRTIO_BLK_S_IOERR);
	seg_make(segs, 0, 8, 0);
	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_WRITE_ZEROES, 0, segs, 15, NULL, 0, &used),
			 VIRTIO_BLK_S_IOERR); /* not whole segments */
	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_WRITE_ZEROES, 0, NULL, 0, NULL, 0, &used),
			 VIRTIO_BLK_S_IOERR); /* no segment */
	for (unsigned i = 0; i <= VIRTIO_BLK_MAX_DWZ_SEG; i++)
		seg_make(segs + 16 * i, i % 8, 1, 0);
	/* More segments than the config space allows: the limits a driver reads are the limits. */
	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_DISCARD, 0, segs, 16 * (cfg32(d->vdev, 40) + 1), NULL, 0,
				    &used),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_WRITE_ZEROES, 0, segs, 16 * (cfg32(d->vdev, 52) + 1),
				    NULL, 0, &used),
			 VIRTIO_BLK_S_IOERR);
	/* A good segment followed by a bad one: nothing is applied. */
	seg_make(segs, 0, 8, 0);
	seg_make(segs + 16, DISK_SECTORS, 1, 0);
	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_WRITE_ZEROES, 0, segs, 32, NULL, 0, &used),
			 VIRTIO_BLK_S_IOERR);
	assert_true(image_matches_pattern(d->path, 0, DISK_BYTES));
	/* Exactly max_write_zeroes_seg segments is fine. */
	for (unsigned i = 0; i < cfg32(d->vdev, 52); i++)
		seg_make(segs + 16 * i, 2 * i, 1, 0);
	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_WRITE_ZEROES, 0, segs, 16 * cfg32(d->vdev, 52), NULL, 0,
				    &used),
			 VIRTIO_BLK_S_OK);
	assert_true(image_is_zero(d->path, 0, 512));
	assert_true(image_matches_pattern(d->path, 512, 512));
	assert_true(image_is_zero(d->path, 2 * (cfg32(d->vdev, 52) - 1) * 512, 512));
}

static void check_write_zeroes(struct disk *d)
{
	static uint8_t segs[48];
	uint32_t used;

	seg_make(segs, 1, 1, 0);
	seg_make(segs + 16, 8, 16, VIRTIO_BLK_DWZ_F_UNMAP);
	seg_make(segs + 32, DISK_SECTORS - 2, 2, 0);
	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_WRITE_ZEROES, 0, segs, sizeof(segs), NULL, 0, &used),
			 VIRTIO_BLK_S_OK);
	assert_true(image_matches_pattern(d->path, 0, 512));
	assert_true(image_is_zero(d->path, 512, 512));
	assert_true(image_matches_pattern(d->path, 2 * 512, 6 * 512));
	assert_true(image_is_zero(d->path, 8 * 512, 16 * 512));
	assert_true(image_matches_pattern(d->path, 24 * 512, (DISK_SECTORS - 26) * 512));
	assert_true(image_is_zero(d->path, (DISK_SECTORS - 2) * 512, 2 * 512));
}

static void test_write_zeroes(void **state)
{
	check_write_zeroes(*state);
}

/* tmpfs has no ZERO_RANGE: the backend falls back to writing zeros. */
static void test_write_zeroes_fallback(void **state)
{
	if (access("/dev/shm", W_OK) != 0 || disk_setup_in(state, "/dev/shm", false, NULL, 0) != 0)
		skip();
	check_write_zeroes(*state);
	disk_teardown(state);
}

static void test_unknown_type_unsupp(void **state)
{
	struct disk *d = *state;
	static uint8_t buf[512];
	uint32_t used;

	assert_int_equal(simple_req(d->vdev, 2, 0, NULL, 0, buf, sizeof(buf), &used), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(used, 1);
	assert_int_equal(simple_req(d->vdev, 0xffffffffu, 0, NULL, 0, NULL, 0, &used), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(simple_req(d->vdev, 14 /* SECURE_ERASE, not offered */, 0, NULL, 0, NULL, 0, &used),
			 VIRTIO_BLK_S_UNSUPP);
}

static void test_short_header_ioerr(void **state)
{
	struct disk *d = *state;
	static uint8_t hdr[16];
	uint8_t status = 0xee;

	rq_reset();
	hdr_make(hdr, VIRTIO_BLK_T_OUT, 0);
	rq_add(hdr, 8, false);
	rq_add(&status, 1, true);
	assert_int_equal(virtio_blk_handle_req(d->vdev, &rq), 1);
	assert_int_equal(status, VIRTIO_BLK_S_IOERR);
	assert_false(virtio_dev_broken(d->vdev));
	/* No readable part at all. */
	rq_reset();
	status = 0xee;
	rq_add(&status, 1, true);
	assert_int_equal(virtio_blk_handle_req(d->vdev, &rq), 1);
	assert_int_equal(status, VIRTIO_BLK_S_IOERR);
	assert_false(virtio_dev_broken(d->vdev));
}

static void test_missing_status_breaks_device(void **state)
{
	struct disk *d = *state;
	static uint8_t hdr[16], data[512];

	rq_reset();
	hdr_make(hdr, VIRTIO_BLK_T_OUT, 0);
	rq_add(hdr, 16, false);
	rq_add(data, sizeof(data), false);
	assert_int_equal(virtio_blk_handle_req(d->vdev, &rq), 0);
	assert_true(virtio_dev_broken(d->vdev));
	assert_true(d->vdev->status & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(image_matches_pattern(d->path, 0, DISK_BYTES));
}

static void test_empty_writable_buffer_breaks_device(void **state)
{
	struct disk *d = *state;
	static uint8_t hdr[16], none[1];

	rq_reset();
	hdr_make(hdr, VIRTIO_BLK_T_FLUSH, 0);
	rq_add(hdr, 16, false);
	rq_add(none, 0, true);
	assert_int_equal(virtio_blk_handle_req(d->vdev, &rq), 0);
	assert_true(virtio_dev_broken(d->vdev));
}

/* The image shrank under the VM: a read of the vanished part fails, not the VMM. */
static void test_truncated_image_read_ioerr(void **state)
{
	struct disk *d = *state;
	static uint8_t buf[1024];
	uint32_t used;

	assert_int_equal(truncate(d->path, 8 * 512 + 100), 0);
	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_IN, 8, NULL, 0, buf, 1024, &used), VIRTIO_BLK_S_IOERR);
	assert_int_equal(simple_req(d->vdev, VIRTIO_BLK_T_IN, 7, NULL, 0, buf, 512, &used), VIRTIO_BLK_S_OK);
}

static void test_create_errors(void **state)
{
	char path[64], dir[64];
	struct virtio_blk_params p = { .path = "/nonexistent/bothy-no-such-image" };
	struct virtio_dev *a = NULL;
	int fd;

	(void)state;
	assert_int_equal(virtio_blk_create(NULL, &p, 0, &a), -ENOENT);

	snprintf(dir, sizeof(dir), "/tmp/bothy-blkdir-XXXXXX");
	assert_non_null(mkdtemp(dir));
	p.path = dir;
	assert_int_equal(virtio_blk_create(NULL, &p, 0, &a), -EISDIR);
	p.readonly = true;
	assert_int_equal(virtio_blk_create(NULL, &p, 0, &a), -EISDIR);
	rmdir(dir);

	fd = image_make(path, sizeof(path), "/tmp", 100); /* less than a sector */
	assert_true(fd >= 0);
	close(fd);
	p.path = path;
	p.readonly = false;
	assert_int_equal(virtio_blk_create(NULL, &p, 0, &a), -EINVAL);
	unlink(path);
}

static void test_size_rounded_down(void **state)
{
	char path[64];
	struct virtio_blk_params p = { .path = path };
	struct virtio_dev *vdev = NULL;
	uint64_t cap;
	int fd = image_make(path, sizeof(path), "/tmp", 3 * 512 + 300);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(virtio_blk_create(NULL, &p, 0, &vdev), 0);
	virtio_dev_config_read(vdev, 0, &cap, 8);
	assert_int_equal(le64toh(cap), 3);
	virtio_dev_destroy(vdev);
	unlink(path);
}

static void test_lock_conflicts(void **state)
{
	char path[64];
	struct virtio_blk_params rw = { .path = path }, ro = { .path = path, .readonly = true };
	struct virtio_dev *a = NULL, *b = NULL, *c = NULL;
	int fd = image_make(path, sizeof(path), "/tmp", 4096);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	/* One writer excludes another writer and readers. */
	assert_int_equal(virtio_blk_create(NULL, &rw, 0, &a), 0);
	assert_int_equal(virtio_blk_create(NULL, &rw, 1, &b), -EBUSY);
	assert_int_equal(virtio_blk_create(NULL, &ro, 1, &b), -EBUSY);
	virtio_dev_destroy(a);
	/* Readers share; a writer waits for them all to go. */
	assert_int_equal(virtio_blk_create(NULL, &ro, 0, &a), 0);
	assert_int_equal(virtio_blk_create(NULL, &ro, 1, &b), 0);
	assert_int_equal(virtio_blk_create(NULL, &rw, 2, &c), -EBUSY);
	virtio_dev_destroy(a);
	assert_int_equal(virtio_blk_create(NULL, &rw, 2, &c), -EBUSY);
	virtio_dev_destroy(b);
	assert_int_equal(virtio_blk_create(NULL, &rw, 2, &c), 0);
	virtio_dev_destroy(c);
	unlink(path);
}

/* Through a real split ring in guest memory: the worker's path (pop, handle, push, one interrupt). */
#define RING_DESC 0x1000
#define RING_AVAIL 0x3000
#define RING_USED 0x4000
#define RING_BUFS 0x10000
#define RING_SIZE 16

static unsigned notify_queue_calls, notify_config_calls, notify_last_queue;

static void fake_notify_queue(struct virtio_dev *vdev, unsigned q)
{
	(void)vdev;
	notify_last_queue = q;
	notify_queue_calls++;
}

static void fake_notify_config(struct virtio_dev *vdev)
{
	(void)vdev;
	notify_config_calls++;
}

static const struct virtio_transport_ops fake_transport = {
	.notify_queue = fake_notify_queue,
	.notify_config = fake_notify_config,
};

struct ring {
	struct gmem *gm;
	struct virtio_dev *vdev;
	uint16_t next_desc, avail_idx;
	uint64_t next_buf;
};

/* A ring of RING_SIZE on the device's queue @q. */
static void ring_setup_q(struct ring *r, struct disk *d, unsigned q)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(gmem_create(&r->gm), 0);
	assert_int_equal(gmem_add_region(r->gm, 0, 1 << 20), 0);
	r->vdev = d->vdev;
	r->vdev->gmem = r->gm;
	r->vdev->transport = &fake_transport;
	r->vdev->queues[q].size = RING_SIZE;
	r->vdev->queues[q].desc_gpa = RING_DESC;
	r->vdev->queues[q].avail_gpa = RING_AVAIL;
	r->vdev->queues[q].used_gpa = RING_USED;
	assert_int_equal(virtq_enable(&r->vdev->queues[q], r->gm, false, false), 0);
	r->next_buf = RING_BUFS;
	notify_queue_calls = notify_config_calls = notify_last_queue = 0;
}

static void ring_setup(struct ring *r, struct disk *d)
{
	ring_setup_q(r, d, 0);
}

/* Guest buffer of @len bytes; returns its address. */
static uint64_t ring_buf(struct ring *r, const void *src, uint32_t len)
{
	uint64_t gpa = r->next_buf;

	if (src)
		assert_int_equal(gmem_write(r->gm, gpa, src, len), 0);
	else
		assert_int_equal(gmem_fill(r->gm, gpa, 0xee, len), 0);
	r->next_buf += (len + 15) & ~15u;
	return gpa;
}

/* Appends a descriptor chained to the next one unless @last; returns its index. */
static uint16_t ring_desc(struct ring *r, uint64_t gpa, uint32_t len, bool writable, bool last)
{
	uint16_t i = r->next_desc++;
	uint8_t d[16];
	uint64_t a = htole64(gpa);
	uint32_t l = htole32(len);
	uint16_t flags = htole16((writable ? VIRTQ_DESC_F_WRITE : 0) | (last ? 0 : VIRTQ_DESC_F_NEXT));
	uint16_t next = htole16((uint16_t)(i + 1));

	memcpy(d, &a, 8);
	memcpy(d + 8, &l, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
	assert_int_equal(gmem_write(r->gm, RING_DESC + 16ULL * i, d, 16), 0);
	return i;
}

static void ring_make_avail(struct ring *r, uint16_t head)
{
	uint16_t h = htole16(head), idx;

	assert_int_equal(gmem_write(r->gm, RING_AVAIL + 4 + 2ULL * (r->avail_idx % RING_SIZE), &h, 2), 0);
	r->avail_idx++;
	idx = htole16(r->avail_idx);
	assert_int_equal(gmem_write(r->gm, RING_AVAIL + 2, &idx, 2), 0);
}

static uint16_t ring_used_idx(struct ring *r)
{
	uint16_t idx;

	assert_int_equal(gmem_read(r->gm, RING_USED + 2, &idx, 2), 0);
	return le16toh(idx);
}

static void ring_used_elem(struct ring *r, unsigned n, uint32_t *id, uint32_t *len)
{
	uint32_t e[2];

	assert_int_equal(gmem_read(r->gm, RING_USED + 4 + 8ULL * n, e, 8), 0);
	*id = le32toh(e[0]);
	*len = le32toh(e[1]);
}

static uint8_t ring_byte(struct ring *r, uint64_t gpa)
{
	uint8_t b;

	assert_int_equal(gmem_read(r->gm, gpa, &b, 1), 0);
	return b;
}

static void test_ring_batch_one_interrupt(void **state)
{
	struct disk *d = *state;
	struct ring r;
	uint8_t hdr[16], data[1024], back[1024];
	uint64_t st_w, st_r, st_id, buf_r, buf_id;
	uint16_t h_w, h_r, h_id;
	uint32_t id, len;

	ring_setup(&r, d);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(0x40 + i % 61);
	hdr_make(hdr, VIRTIO_BLK_T_OUT, 20);
	h_w = ring_desc(&r, ring_buf(&r, hdr, 16), 16, false, false);
	ring_desc(&r, ring_buf(&r, data, sizeof(data)), sizeof(data), false, false);
	ring_desc(&r, st_w = ring_buf(&r, NULL, 1), 1, true, true);
	hdr_make(hdr, VIRTIO_BLK_T_IN, 20);
	h_r = ring_desc(&r, ring_buf(&r, hdr, 16), 16, false, false);
	ring_desc(&r, buf_r = ring_buf(&r, NULL, sizeof(back)), sizeof(back), true, false);
	ring_desc(&r, st_r = ring_buf(&r, NULL, 1), 1, true, true);
	hdr_make(hdr, VIRTIO_BLK_T_GET_ID, 0);
	h_id = ring_desc(&r, ring_buf(&r, hdr, 16), 16, false, false);
	ring_desc(&r, buf_id = ring_buf(&r, NULL, 20), 20, true, false);
	ring_desc(&r, st_id = ring_buf(&r, NULL, 1), 1, true, true);
	ring_make_avail(&r, h_w);
	ring_make_avail(&r, h_r);
	ring_make_avail(&r, h_id);

	serve_queue(d->vdev, 0);

	assert_false(virtio_dev_broken(d->vdev));
	assert_int_equal(ring_used_idx(&r), 3);
	assert_int_equal(notify_queue_calls, 1); /* one interrupt for the batch */
	ring_used_elem(&r, 0, &id, &len);
	assert_int_equal(id, h_w);
	assert_int_equal(len, 1);
	ring_used_elem(&r, 1, &id, &len);
	assert_int_equal(id, h_r);
	assert_int_equal(len, sizeof(back) + 1);
	ring_used_elem(&r, 2, &id, &len);
	assert_int_equal(id, h_id);
	assert_int_equal(len, 21);
	assert_int_equal(ring_byte(&r, st_w), VIRTIO_BLK_S_OK);
	assert_int_equal(ring_byte(&r, st_r), VIRTIO_BLK_S_OK);
	assert_int_equal(ring_byte(&r, st_id), VIRTIO_BLK_S_OK);
	assert_int_equal(gmem_read(r.gm, buf_r, back, sizeof(back)), 0);
	assert_memory_equal(back, data, sizeof(data));
	assert_int_equal(ring_byte(&r, buf_id), 'b'); /* "bothy-blk-..." */
	image_read(d->path, 20 * 512, back, sizeof(back));
	assert_memory_equal(back, data, sizeof(data));

	/* Nothing new available: no push, no interrupt. */
	serve_queue(d->vdev, 0);
	assert_int_equal(ring_used_idx(&r), 3);
	assert_int_equal(notify_queue_calls, 1);
	d->vdev->gmem = NULL;
	gmem_destroy(r.gm);
}

/* VIRTIO_BLK_F_MQ: num_queues request queues, each served on its own kick, its own interrupt. */
static void test_multiqueue(void **state)
{
	struct disk *d = *state;
	struct virtio_blk_params p = { .path = d->path, .nr_queues = VIRTIO_MAX_QUEUES + 1 };
	struct virtio_dev *vdev = NULL;
	struct ring r;
	uint8_t hdr[16], back[512];
	uint64_t st, buf;
	uint16_t h, nq;
	uint32_t id, len;

	assert_int_equal(d->vdev->nr_queues, 4);
	assert_true(virtio_dev_features(d->vdev) & (1ULL << VIRTIO_BLK_F_MQ));
	virtio_dev_config_read(d->vdev, VIRTIO_BLK_CFG_NUM_QUEUES, &nq, 2);
	assert_int_equal(le16toh(nq), 4);
	for (unsigned q = 0; q < 4; q++)
		assert_int_equal(d->vdev->queues[q].max_size, VIRTIO_BLK_QUEUE_SIZE);
	assert_int_equal(virtio_blk_create(NULL, &p, 0, &vdev), -EINVAL); /* more than a device has */

	ring_setup_q(&r, d, 3);
	hdr_make(hdr, VIRTIO_BLK_T_IN, 2);
	h = ring_desc(&r, ring_buf(&r, hdr, 16), 16, false, false);
	ring_desc(&r, buf = ring_buf(&r, NULL, sizeof(back)), sizeof(back), true, false);
	ring_desc(&r, st = ring_buf(&r, NULL, 1), 1, true, true);
	ring_make_avail(&r, h);
	serve_queue(d->vdev, 3);
	assert_int_equal(ring_used_idx(&r), 1);
	ring_used_elem(&r, 0, &id, &len);
	assert_int_equal(id, h);
	assert_int_equal(len, sizeof(back) + 1);
	assert_int_equal(ring_byte(&r, st), VIRTIO_BLK_S_OK);
	assert_int_equal(gmem_read(r.gm, buf, back, sizeof(back)), 0);
	for (size_t i = 0; i < sizeof(back); i++)
		assert_int_equal(back[i], pattern(2 * 512 + i));
	assert_int_equal(notify_queue_calls, 1);
	assert_int_equal(notify_last_queue, 3);
	d->vdev->gmem = NULL;
	gmem_destroy(r.gm);
}

static void test_ring_malformed_chain_breaks(void **state)
{
	struct disk *d = *state;
	struct ring r;
	uint8_t hdr[16], data[512];
	uint16_t h_ok, h_bad;

	ring_setup(&r, d);
	d->vdev->status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
			  VIRTIO_STATUS_DRIVER_OK;
	hdr_make(hdr, VIRTIO_BLK_T_FLUSH, 0);
	h_ok = ring_desc(&r, ring_buf(&r, hdr, 16), 16, false, false);
	ring_desc(&r, ring_buf(&r, NULL, 1), 1, true, true);
	/* A write whose data buffer lies outside guest RAM. */
	memset(data, 0, sizeof(data));
	hdr_make(hdr, VIRTIO_BLK_T_OUT, 0);
	h_bad = ring_desc(&r, ring_buf(&r, hdr, 16), 16, false, false);
	ring_desc(&r, 1ULL << 40, sizeof(data), false, false);
	ring_desc(&r, ring_buf(&r, NULL, 1), 1, true, true);
	ring_make_avail(&r, h_ok);
	ring_make_avail(&r, h_bad);

	serve_queue(d->vdev, 0);

	assert_true(virtio_dev_broken(d->vdev));
	assert_int_equal(notify_config_calls, 1); /* the driver learns about NEEDS_RESET */
	assert_int_equal(ring_used_idx(&r), 1);   /* the good request before it completed */
	assert_int_equal(notify_queue_calls, 1);
	assert_true(image_matches_pattern(d->path, 0, DISK_BYTES));
	d->vdev->gmem = NULL;
	gmem_destroy(r.gm);
}

/* The advertised seg_max, as Linux sends it: one indirect table with header, seg_max buffers, status. */
static void test_ring_indirect_seg_max(void **state)
{
	struct disk *d = *state;
	struct ring r;
	uint32_t seg_max = cfg32(d->vdev, 12);
	uint32_t n = seg_max + 2, total = 32 * 512;
	uint8_t hdr[16], *data, *table, *back;
	uint64_t table_gpa, data_gpa, st, off = 0;
	uint32_t id, len;

	ring_setup(&r, d);
	r.vdev->queues[0].enabled = false;
	assert_int_equal(virtq_enable(&r.vdev->queues[0], r.gm, false, true), 0);
	data = malloc(total);
	table = calloc(n, 16);
	back = malloc(total);
	assert_non_null(data);
	assert_non_null(table);
	assert_non_null(back);
	for (uint32_t i = 0; i < total; i++)
		data[i] = (uint8_t)(i * 7 + 3);
	hdr_make(hdr, VIRTIO_BLK_T_OUT, 16);
	data_gpa = ring_buf(&r, data, total);
	st = ring_buf(&r, NULL, 1);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t a;
		uint32_t l;
		uint16_t f = htole16(i + 1 < n ? VIRTQ_DESC_F_NEXT : VIRTQ_DESC_F_WRITE), next = htole16((uint16_t)(i + 1));

		if (i == 0) {
			a = ring_buf(&r, hdr, 16);
			l = 16;
		} else if (i + 1 == n) {
			a = st;
			l = 1;
		} else {
			/* seg_max buffers: all 32 bytes but the last, which takes the rest of the 16 KiB. */
			l = i + 2 < n ? 32 : (uint32_t)(total - off);
			a = data_gpa + off;
			off += l;
		}
		a = htole64(a);
		l = htole32(l);
		memcpy(table + 16 * i, &a, 8);
		memcpy(table + 16 * i + 8, &l, 4);
		memcpy(table + 16 * i + 12, &f, 2);
		memcpy(table + 16 * i + 14, &next, 2);
	}
	assert_int_equal(off, total);
	table_gpa = ring_buf(&r, table, n * 16);
	{
		uint16_t head = r.next_desc++;
		uint8_t desc[16];
		uint64_t a = htole64(table_gpa);
		uint32_t l = htole32(n * 16);
		uint16_t f = htole16(VIRTQ_DESC_F_INDIRECT), z = 0;

		memcpy(desc, &a, 8);
		memcpy(desc + 8, &l, 4);
		memcpy(desc + 12, &f, 2);
		memcpy(desc + 14, &z, 2);
		assert_int_equal(gmem_write(r.gm, RING_DESC + 16ULL * head, desc, 16), 0);
		ring_make_avail(&r, head);
	}

	serve_queue(d->vdev, 0);

	assert_false(virtio_dev_broken(d->vdev));
	assert_int_equal(ring_used_idx(&r), 1);
	ring_used_elem(&r, 0, &id, &len);
	assert_int_equal(len, 1);
	assert_int_equal(ring_byte(&r, st), VIRTIO_BLK_S_OK);
	image_read(d->path, 16 * 512, back, total);
	assert_memory_equal(back, data, total);
	free(data);
	free(table);
	free(back);
	d->vdev->gmem = NULL;
	gmem_destroy(r.gm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_and_features, disk_setup, disk_teardown),
		cmocka_unit_test_setup_teardown(test_read_returns_image_data, disk_setup, disk_teardown),
		cmocka_unit_test_setup_teardown(test_write_read_round_trip_any_layout, disk_setup, disk_teardown),
		cmocka_unit_test_setup_teardown(test_out_of_range_is_ioerr, disk_setup, disk_teardown),
		cmocka_unit_test_setup_teardown(test_sector_overflow_is_ioerr, disk_setup, disk_teardown),
		cmocka_unit_test_setup_teardown(test_partial_sector_is_ioerr, disk_setup, disk_teardown),
		cmocka_unit_test_setup_teardown(test_readonly_refuses_writes, disk_setup_ro, disk_teardown),
		cmocka_unit_test_setup_teardown(test_flush, disk_setup, disk_teardown),
		cmocka_unit_test_setup_teardown(test_get_id_from_file_name, disk_setup, disk_teardown),
		cmocka_unit_test(test_get_id_given_serial),
		cmocka_unit_test(test_serial_too_long_refused),
		cmocka_unit_test_setup_teardown(test_discard, disk_setup, disk_teardown),
		cmocka_unit_test_setup_teardown(test_discard_rejects, disk_setup, disk_teardown),
		cmocka_unit_test_setup_teardown(test_write_zeroes, disk_setup, disk_teardown),
		cmocka_unit_test(test_write_zeroes_fallback),
		cmocka_unit_test_setup_teardown(test_unknown_type_unsupp, disk_setup, disk_teardown),
		cmocka_unit_test_setup_teardown(test_short_header_ioerr, disk_setup, disk_teardown),
		cmocka_unit_test_setup_teardown(test_missing_status_breaks_device, disk_setup, disk_teardown),
		cmocka_unit_test_setup_teardown(test_empty_writable_buffer_breaks_device, disk_setup, disk_teardown),
		cmocka_unit_test_setup_teardown(test_truncated_image_read_ioerr, disk_setup, disk_teardown),
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_size_rounded_down),
		cmocka_unit_test(test_lock_conflicts),
		cmocka_unit_test_setup_teardown(test_ring_batch_one_interrupt, disk_setup, disk_teardown),
		cmocka_unit_test_setup_teardown(test_multiqueue, disk_setup_mq, disk_teardown),
		cmocka_unit_test_setup_teardown(test_ring_malformed_chain_breaks, disk_setup, disk_teardown),
		cmocka_unit_test_setup_teardown(test_ring_indirect_seg_max, disk_setup, disk_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
