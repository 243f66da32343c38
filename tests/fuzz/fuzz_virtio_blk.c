/*
 * libFuzzer target: the virtio-blk request decoder fed arbitrary requests.
 *
 * Input: byte 0 = number of readable buffers (low 3 bits) and writable
 * buffers (next 3 bits); then two bytes (little-endian) of length per buffer,
 * lengths up to 4 KiB; the remaining bytes fill the readable buffers (header,
 * data, segments) in order. The disk is a 64 KiB temporary image, so every
 * request does bounded I/O.
 *
 * Checked: no sanitizer report, a used length within the writable bytes,
 * and a defined status byte unless the device declared itself broken (then
 * it is reset, as a driver would, and fuzzing goes on).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/devices.h"
#include "devices/virtio/virtio.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_IMAGE_BYTES (64 * 1024)
#define FUZZ_MAX_BUF 4096
#define FUZZ_MAX_BUFS 7

static struct virtio_dev *fuzz_vdev;
static struct virtq_req fuzz_req;
static uint8_t fuzz_arena[2 * FUZZ_MAX_BUFS * FUZZ_MAX_BUF];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char path[] = "/tmp/bothy-fuzz-blk-XXXXXX";
	struct virtio_blk_params p = { .path = path };
	int fd;

	(void)argc;
	(void)argv;
	log_set_level(LOG_ERROR); /* guest complaints would drown the fuzzer's output */
	fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, FUZZ_IMAGE_BYTES) < 0) {
		perror("fuzz_virtio_blk: temporary image");
		abort();
	}
	close(fd);
	if (virtio_blk_create(NULL, &p, 0, &fuzz_vdev) < 0)
		abort();
	unlink(path); /* the open image stays usable; nothing left behind */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct virtq_req *req = &fuzz_req;
	size_t pos, arena = 0, fill = 0;
	unsigned nr_out, nr_in, n;
	uint32_t used;
	uint8_t *status = NULL;

	if (size < 1)
		return 0;
	nr_out = data[0] & 7;
	nr_in = (data[0] >> 3) & 7;
	if (nr_out > FUZZ_MAX_BUFS)
		nr_out = FUZZ_MAX_BUFS;
	if (nr_in > FUZZ_MAX_BUFS)
		nr_in = FUZZ_MAX_BUFS;
	pos = 1;
	memset(req, 0, offsetof(struct virtq_req, iov));
	for (n = 0; n < nr_out + nr_in; n++) {
		size_t len = 0;

		if (pos + 2 <= size) {
			len = (data[pos] | (size_t)data[pos + 1] << 8) % (FUZZ_MAX_BUF + 1);
			pos += 2;
		}
		req->iov[n].iov_base = fuzz_arena + arena;
		req->iov[n].iov_len = len;
		arena += len;
		if (n < nr_out)
			req->out_len += len;
		else
			req->in_len += len;
	}
	req->nr_out = nr_out;
	req->nr_in = nr_in;
	/* Readable bytes from the input (zeros past its end); writable ones a known junk value. */
	for (n = 0; n < nr_out; n++) {
		uint8_t *b = req->iov[n].iov_base;
		size_t len = req->iov[n].iov_len;
		size_t have = pos + fill < size ? size - pos - fill : 0;

		if (have > len)
			have = len;
		memcpy(b, data + pos + fill, have);
		memset(b + have, 0, len - have);
		fill += have;
	}
	for (; n < nr_out + nr_in; n++) {
		memset(req->iov[n].iov_base, 0xa5, req->iov[n].iov_len);
		if (req->iov[n].iov_len)
			status = (uint8_t *)req->iov[n].iov_base + req->iov[n].iov_len - 1;
	}

	used = virtio_blk_handle_req(fuzz_vdev, req);
	if (virtio_dev_broken(fuzz_vdev)) {
		if (used != 0 || status)
			__builtin_trap(); /* only a request without a status byte may break the device */
		virtio_dev_set_status(fuzz_vdev, 0);
		return 0;
	}
	if (!status || used < 1 || used > req->in_len || *status > VIRTIO_BLK_S_UNSUPP)
		__builtin_trap();
	return 0;
}
