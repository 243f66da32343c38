/*
 * libFuzzer target: virtio-net's frame handlers (tx: rings to tap, rx: tap to
 * rings) driven by a script of driver and host actions, with a datagram
 * socketpair (small send buffer, so the tap fills) standing in for the tap.
 *
 * Input: byte 0 picks the driver's features (bit 0 MRG_RXBUF, bit 1
 * EVENT_IDX, bit 2 the avail NO_INTERRUPT flag); then actions, each an
 * opcode byte followed by its arguments:
 *   0 tx chain / 1 rx chain: count byte (1..4 buffers), then per buffer two
 *     length bytes (LE, up to 64 KiB + 32), a flags byte (bit 0 writable,
 *     bit 1 an address outside RAM); tx buffers are filled from the input;
 *   2 host frame: two length bytes, then the bytes, sent to the device;
 *   3 handle_tx, 4 handle_rx, 5 drain the host side, 6 driver reset.
 * Every input starts from a fresh driver (reset, rings re-laid).
 *
 * Checked: no sanitizer report; used entries only name heads the driver
 * made available and never claim more than the chain could hold; a broken
 * device is reset and brought up again, as a driver would.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../unit/vdrv.h"
#include "backends/tap.h"
#include "core/gmem.h"
#include "core/log.h"
#include "devices/virtio/net.h"
#include "devices/virtio/virtio.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_RAM (4u << 20)
#define FZ_RXQ_BASE 0x10000
#define FZ_TXQ_BASE 0x20000
#define FZ_BUF_BASE 0x100000
#define FZ_QSIZE 256
#define FZ_MAX_ACTIONS 128

static struct gmem *fz_gm;
static struct virtio_dev *fz_vdev;
static struct vdrv_transport fz_t;
static struct vdrv_q fz_rx, fz_tx;
static int fz_peer;
static uint32_t fz_cap[2][FZ_QSIZE]; /* writable bytes of the chain at each head, per queue */
static uint8_t fz_frame[VIRTIO_NET_MAX_FRAME + 64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct tap *tap;
	int sv[2], sndbuf = 16384;

	(void)argc;
	(void)argv;
	log_set_level(LOG_ERROR); /* guest complaints would drown the fuzzer's output */
	if (gmem_create(&fz_gm) < 0 || gmem_add_region(fz_gm, 0, FZ_RAM) < 0)
		abort();
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if (tap_open_fd(sv[0], TAP_OFFLOAD_CSUM | TAP_OFFLOAD_TSO4 | TAP_OFFLOAD_TSO6, &tap) < 0)
		abort();
	fz_peer = sv[1];
	if (virtio_net_create_tap(fz_gm, tap, NULL, 0, &fz_vdev) < 0)
		abort();
	vdrv_attach(fz_vdev, &fz_t);
	return 0;
}

static void fz_drain(void)
{
	while (recv(fz_peer, fz_frame, sizeof(fz_frame), MSG_DONTWAIT) >= 0)
		;
}

static void fz_bring_up(uint8_t feat)
{
	uint64_t f = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_NET_F_MAC) |
		     (1ULL << VIRTIO_NET_F_GUEST_CSUM) | (1ULL << VIRTIO_NET_F_CSUM);

	if (feat & 1)
		f |= 1ULL << VIRTIO_NET_F_MRG_RXBUF;
	if (feat & 2)
		f |= 1ULL << VIRTIO_F_RING_EVENT_IDX;
	virtio_dev_set_status(fz_vdev, 0);
	vdrv_q_init(&fz_rx, fz_vdev, VIRTIO_NET_RXQ, FZ_RXQ_BASE, FZ_QSIZE);
	vdrv_q_init(&fz_tx, fz_vdev, VIRTIO_NET_TXQ, FZ_TXQ_BASE, FZ_QSIZE);
	if (feat & 4)
		vdrv_store16(fz_gm, fz_rx.avail, VIRTQ_AVAIL_F_NO_INTERRUPT);
	memset(fz_cap, 0, sizeof(fz_cap));
	if (!(vdrv_bring_up(fz_vdev, f) & VIRTIO_STATUS_DRIVER_OK))
		abort(); /* the device refused a valid driver */
}

/* Checks every new used entry of @d (queue @qi) against what the driver offered. */
static void fz_check_used(struct vdrv_q *d, unsigned qi)
{
	uint32_t id, len;

	while (vdrv_used(d, &id, &len)) {
		if (id >= FZ_QSIZE || len > fz_cap[qi][id])
			abort();
	}
}

static size_t fz_add_chain(struct vdrv_q *d, unsigned qi, const uint8_t *data, size_t size, size_t pos)
{
	struct vdrv_buf b[4];
	unsigned n, writable = 0;
	uint64_t at = FZ_BUF_BASE;
	uint16_t head;

	if (pos >= size)
		return pos;
	n = (data[pos++] & 3) + 1;
	for (unsigned i = 0; i < n; i++) {
		uint32_t len = 0;
		uint8_t flags = 0;

		if (pos + 3 <= size) {
			len = (uint32_t)(data[pos] | data[pos + 1] << 8) % (65536 + 32);
			flags = data[pos + 2];
			pos += 3;
		}
		/* Buffers one after another in RAM, or (bit 1) somewhere the guest has no RAM. */
		b[i] = (struct vdrv_buf){ .gpa = (flags & 2) ? FZ_RAM - 16 : at, .len = len,
					  .writable = flags & 1 };
		at += len;
		if (b[i].writable)
			writable += len;
		if (!b[i].writable && !(flags & 2) && pos < size) {
			size_t take = size - pos < len ? size - pos : len;

			gmem_write(fz_gm, b[i].gpa, data + pos, take);
			pos += take;
		}
	}
	head = vdrv_add(d, b, n);
	/* A head may be reused while the device still holds it (a driver bug): keep the larger bound. */
	if (writable > fz_cap[qi][head])
		fz_cap[qi][head] = writable;
	return pos;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 1;

	if (size < 1)
		return 0;
	fz_drain();
	fz_bring_up(data[0]);
	for (unsigned a = 0; a < FZ_MAX_ACTIONS && pos < size; a++) {
		uint8_t op = data[pos++] % 7;

		pthread_mutex_lock(&fz_vdev->lock);
		switch (op) {
		case 0:
			pos = fz_add_chain(&fz_tx, VIRTIO_NET_TXQ, data, size, pos);
			break;
		case 1:
			pos = fz_add_chain(&fz_rx, VIRTIO_NET_RXQ, data, size, pos);
			break;
		case 2: {
			size_t len = 0;

			if (pos + 2 <= size) {
				len = (size_t)(data[pos] | data[pos + 1] << 8);
				pos += 2;
			}
			if (len > size - pos)
				len = size - pos;
			send(fz_peer, data + pos, len, MSG_DONTWAIT);
			pos += len;
			break;
		}
		case 3:
			virtio_net_handle_tx(fz_vdev);
			break;
		case 4:
			virtio_net_handle_rx(fz_vdev);
			break;
		case 5:
			fz_drain();
			break;
		case 6:
			pthread_mutex_unlock(&fz_vdev->lock);
			fz_bring_up(data[0]);
			pthread_mutex_lock(&fz_vdev->lock);
			break;
		}
		pthread_mutex_unlock(&fz_vdev->lock);
		fz_check_used(&fz_tx, VIRTIO_NET_TXQ);
		fz_check_used(&fz_rx, VIRTIO_NET_RXQ);
		if (fz_vdev->status & VIRTIO_STATUS_NEEDS_RESET)
			fz_bring_up(data[0]);
	}
	return 0;
}
