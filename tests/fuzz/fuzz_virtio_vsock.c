/*
 * libFuzzer target: virtio-vsock fed arbitrary tx packets through real split
 * rings in guest RAM (so queue.c's parser is in the path), with host
 * services listening on "<uds>_1" and "<uds>_2" so REQUESTs can succeed and
 * RW data reaches real sockets.
 *
 * Input: records of
 *   u8  ctl: bit 0 address the host properly (guest CID, host CID, STREAM,
 *            ports folded onto a few values so packets hit live connections);
 *            bit 1 post rx buffers and let the device fill them;
 *            bit 2 split the packet over two descriptors
 *   44  header bytes (zeros past the input's end)
 *   u16 payload length (at most 4096), then the payload bytes.
 * Each input starts from a freshly reset device.
 *
 * Checked: no sanitizer report, and the device never declares itself broken:
 * every tx buffer here holds a whole header and every rx buffer is big
 * enough, so nothing a packet says may break the ring contract.
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/gmem.h"
#include "core/log.h"
#include "devices/virtio/devices.h"
#include "devices/virtio/virtio.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CID 3
#define FUZZ_QSIZE 128
#define FUZZ_HDR 44
#define FUZZ_MAX_PAYLOAD 4096
#define FUZZ_RX_BUFS 16
#define FUZZ_RX_LEN (FUZZ_HDR + 512)
#define FUZZ_RING(q) (0x10000ull + 0x10000ull * (q))
#define FUZZ_TX_BUF(i) (0x100000ull + (uint64_t)(i) * 0x2000)
#define FUZZ_RX_BUF(i) (0x300000ull + (uint64_t)(i) * 0x1000)

struct fuzz_q {
	uint64_t desc, avail, used;
	uint16_t avail_idx;
};

static struct gmem *fuzz_gm;
static struct virtio_dev *fuzz_vdev;
static struct fuzz_q fuzz_qs[3];
static char fuzz_dir[] = "/tmp/bothy-fuzz-vsock-XXXXXX";
static char fuzz_path[96], fuzz_svc[2][112];
static int fuzz_listen[2] = { -1, -1 };

static void fuzz_cleanup(void)
{
	if (fuzz_vdev)
		virtio_dev_destroy(fuzz_vdev); /* removes fuzz_path */
	for (unsigned i = 0; i < 2; i++) {
		if (fuzz_listen[i] >= 0)
			close(fuzz_listen[i]);
		unlink(fuzz_svc[i]);
	}
	rmdir(fuzz_dir);
}

static int fuzz_listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
		perror("fuzz_virtio_vsock: host service socket");
		abort();
	}
	return fd;
}

/* Accepts and closes what the device connected to the host services. */
static void fuzz_drain_services(void)
{
	for (unsigned i = 0; i < 2; i++) {
		int fd;

		while ((fd = accept4(fuzz_listen[i], NULL, NULL, SOCK_CLOEXEC)) >= 0)
			close(fd);
	}
}

static void fuzz_put(unsigned qi, uint16_t head, uint64_t gpa, uint32_t len, uint16_t flags, uint16_t next)
{
	struct fuzz_q *q = &fuzz_qs[qi];
	uint8_t desc[16];

	memcpy(desc, &gpa, 8);
	memcpy(desc + 8, &len, 4);
	memcpy(desc + 12, &flags, 2);
	memcpy(desc + 14, &next, 2);
	gmem_write(fuzz_gm, q->desc + 16u * head, desc, sizeof(desc));
}

static void fuzz_publish(unsigned qi, uint16_t head)
{
	struct fuzz_q *q = &fuzz_qs[qi];

	gmem_write(fuzz_gm, q->avail + 4 + 2u * (q->avail_idx % FUZZ_QSIZE), &head, 2);
	q->avail_idx++;
	gmem_write(fuzz_gm, q->avail + 2, &q->avail_idx, 2);
}

static uint16_t fuzz_used_idx(unsigned qi)
{
	uint16_t idx;

	gmem_read(fuzz_gm, fuzz_qs[qi].used + 2, &idx, 2);
	return idx;
}

/* Reset, then the driver's bring-up: STREAM + VERSION_1, three queues, DRIVER_OK. */
static void fuzz_bring_up(void)
{
	const uint8_t ok = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;

	virtio_dev_set_status(fuzz_vdev, 0);
	virtio_dev_set_status(fuzz_vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_dev_set_driver_features(fuzz_vdev, 0, 1);
	virtio_dev_set_driver_features(fuzz_vdev, 1, 1u << (VIRTIO_F_VERSION_1 - 32));
	virtio_dev_set_status(fuzz_vdev, ok);
	for (unsigned qi = 0; qi < 3; qi++) {
		struct virtq *vq = &fuzz_vdev->queues[qi];
		struct fuzz_q *q = &fuzz_qs[qi];

		q->desc = FUZZ_RING(qi);
		q->avail = q->desc + 16u * FUZZ_QSIZE;
		q->used = q->desc + 0x1000 + 16u * FUZZ_QSIZE;
		q->avail_idx = 0;
		gmem_fill(fuzz_gm, FUZZ_RING(qi), 0, 0x10000);
		vq->size = FUZZ_QSIZE;
		vq->desc_gpa = q->desc;
		vq->avail_gpa = q->avail;
		vq->used_gpa = q->used;
		if (virtio_dev_enable_queue(fuzz_vdev, qi) < 0)
			abort();
	}
	virtio_dev_set_status(fuzz_vdev, ok | VIRTIO_STATUS_DRIVER_OK);
	if (!(fuzz_vdev->status & VIRTIO_STATUS_DRIVER_OK))
		abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct virtio_vsock_params p = { .guest_cid = FUZZ_CID };

	(void)argc;
	(void)argv;
	log_set_level(LOG_ERROR); /* guest complaints would drown the fuzzer's output */
	if (!mkdtemp(fuzz_dir)) {
		perror("fuzz_virtio_vsock: mkdtemp");
		abort();
	}
	snprintf(fuzz_path, sizeof(fuzz_path), "%s/v", fuzz_dir);
	for (unsigned i = 0; i < 2; i++) {
		snprintf(fuzz_svc[i], sizeof(fuzz_svc[i]), "%s_%u", fuzz_path, i + 1);
		fuzz_listen[i] = fuzz_listen_on(fuzz_svc[i]);
	}
	p.uds_path = fuzz_path;
	if (gmem_create(&fuzz_gm) < 0 || gmem_add_region(fuzz_gm, 0, 4 << 20) < 0 ||
	    virtio_vsock_create(fuzz_gm, &p, 0, &fuzz_vdev) < 0)
		abort();
	atexit(fuzz_cleanup);
	/* No worker thread: the target calls the device's handlers itself, deterministically. */
	return 0;
}

static void fuzz_post_rx(void)
{
	uint16_t used = fuzz_used_idx(0);

	while ((uint16_t)(fuzz_qs[0].avail_idx - used) < FUZZ_RX_BUFS) {
		uint16_t slot = fuzz_qs[0].avail_idx % FUZZ_RX_BUFS;

		fuzz_put(0, slot, FUZZ_RX_BUF(slot), FUZZ_RX_LEN, VIRTQ_DESC_F_WRITE, 0);
		fuzz_publish(0, slot);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 0;
	unsigned nr = 0;

	pthread_mutex_lock(&fuzz_vdev->lock);
	fuzz_bring_up();
	while (pos < size && nr < 64) {
		uint8_t ctl = data[pos++], hdr[FUZZ_HDR] = { 0 };
		size_t have = size - pos < FUZZ_HDR ? size - pos : FUZZ_HDR;
		uint16_t plen = 0, slot = (uint16_t)(nr % 32), head = (uint16_t)(2 * slot);
		uint64_t buf = FUZZ_TX_BUF(slot);

		memcpy(hdr, data + pos, have);
		pos += have;
		if (pos + 2 <= size) {
			plen = (uint16_t)((data[pos] | data[pos + 1] << 8) % (FUZZ_MAX_PAYLOAD + 1));
			pos += 2;
		}
		if (ctl & 1) {
			uint64_t src = FUZZ_CID, dst = 2;
			uint16_t type = 1;
			uint32_t port;

			memcpy(hdr, &src, 8);
			memcpy(hdr + 8, &dst, 8);
			memcpy(&port, hdr + 16, 4);
			port %= 4;
			memcpy(hdr + 16, &port, 4);
			memcpy(&port, hdr + 20, 4);
			port = port % 3 + 1; /* 1 and 2 have services; 3 has none */
			memcpy(hdr + 20, &port, 4);
			memcpy(hdr + 28, &type, 2);
		}
		gmem_write(fuzz_gm, buf, hdr, FUZZ_HDR);
		gmem_fill(fuzz_gm, buf + FUZZ_HDR, 0, plen);
		have = size - pos < plen ? size - pos : plen;
		gmem_write(fuzz_gm, buf + FUZZ_HDR, data + pos, have);
		pos += have;
		if ((ctl & 4) && plen) {
			fuzz_put(1, head, buf, FUZZ_HDR, VIRTQ_DESC_F_NEXT, (uint16_t)(head + 1));
			fuzz_put(1, (uint16_t)(head + 1), buf + FUZZ_HDR, plen, 0, 0);
		} else {
			fuzz_put(1, head, buf, (uint32_t)FUZZ_HDR + plen, 0, 0);
		}
		fuzz_publish(1, head);
		fuzz_vdev->ops->queue_notify(fuzz_vdev, 1);
		if (ctl & 2) {
			fuzz_post_rx();
			fuzz_vdev->ops->queue_notify(fuzz_vdev, 0);
		}
		if (virtio_dev_broken(fuzz_vdev))
			__builtin_trap(); /* whole headers, big rx buffers: nothing may break the device */
		nr++;
	}
	/* The driver resets: every connection closes. */
	virtio_dev_set_status(fuzz_vdev, 0);
	pthread_mutex_unlock(&fuzz_vdev->lock);
	fuzz_drain_services();
	return 0;
}
