/*
 * virtio-blk internals shared with the unit tests and the fuzz target: the
 * request handler, callable without a worker thread or rings.
 */
#ifndef BOTHY_DEVICES_VIRTIO_BLK_H
#define BOTHY_DEVICES_VIRTIO_BLK_H

#include <stdint.h>

#include "devices/virtio/queue.h"

struct virtio_dev;

/* Feature bits (virtio 1.x 5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types and status values (5.2.6). */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_DWZ_F_UNMAP 1u /* virtio_blk_discard_write_zeroes.flags */
#define VIRTIO_BLK_ID_BYTES 20

#define VIRTIO_BLK_QUEUE_SIZE 256
/*
 * Data buffers per request besides header and status. More than the queue
 * holds: drivers use indirect tables (the core always offers them; Linux
 * always takes them), and a 1 MiB request of 4 KiB pages (256 buffers) then
 * goes in one request instead of two. Well inside queue.c's VIRTQ_MAX_CHAIN.
 */
#define VIRTIO_BLK_SEG_MAX (VIRTQ_MAX_CHAIN / 2 - 2)
/*
 * Discard is a metadata operation (a punched hole); write-zeroes may fall back
 * to writing zeros, which holds the worker (and the device lock) meanwhile:
 * its limits keep one request at 256 MiB at most.
 */
#define VIRTIO_BLK_MAX_DISCARD_SEG 64
#define VIRTIO_BLK_MAX_DISCARD_SECTORS (1u << 22) /* 2 GiB per segment */
#define VIRTIO_BLK_MAX_WZ_SEG 8
#define VIRTIO_BLK_MAX_WZ_SECTORS (1u << 16) /* 32 MiB per segment */
#define VIRTIO_BLK_MAX_DWZ_SEG VIRTIO_BLK_MAX_DISCARD_SEG /* the larger of the two */

/* Config space offsets (5.2.4); every field little-endian. */
#define VIRTIO_BLK_CFG_CAPACITY 0
#define VIRTIO_BLK_CFG_SIZE_MAX 8
#define VIRTIO_BLK_CFG_SEG_MAX 12
#define VIRTIO_BLK_CFG_BLK_SIZE 20
#define VIRTIO_BLK_CFG_NUM_QUEUES 34
#define VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS 36
#define VIRTIO_BLK_CFG_MAX_DISCARD_SEG 40
#define VIRTIO_BLK_CFG_DISCARD_ALIGNMENT 44
#define VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS 48
#define VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SEG 52
#define VIRTIO_BLK_CFG_WRITE_ZEROES_MAY_UNMAP 56
#define VIRTIO_BLK_CFG_BYTES 60

/*
 * Serves one request of @vdev (a virtio-blk device) synchronously and
 * writes its status byte. Returns the used length: bytes written into the
 * request's writable buffers, status included. A request the handler
 * cannot even answer (no writable byte for the status) marks the device
 * broken (virtio_dev_set_broken) and returns 0; the caller checks
 * virtio_dev_broken() and must not push it. @req's iovecs are read only.
 * Uses queue 0's scratch: for callers that serve one request at a time
 * outside the workers (tests, fuzzing); the workers serve each queue alone.
 */
uint32_t virtio_blk_handle_req(struct virtio_dev *vdev, const struct virtq_req *req);

#endif
