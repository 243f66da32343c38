/*
 * virtio-net internals shared with the unit tests and the fuzz target: the
 * constructor over an already opened tap (or a stand-in fd) and the frame
 * handlers the worker runs.
 */
#ifndef BOTHY_DEVICES_VIRTIO_NET_H
#define BOTHY_DEVICES_VIRTIO_NET_H

#include <stdint.h>

#include "backends/tap.h"

struct gmem;
struct virtio_dev;

/* Feature bits (virtio 1.x 5.1.3). */
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16

#define VIRTIO_NET_S_LINK_UP 1

#define VIRTIO_NET_RXQ 0
#define VIRTIO_NET_TXQ 1
#define VIRTIO_NET_QUEUE_SIZE 256

/* struct virtio_net_hdr_v1: 12 bytes, num_buffers (le16) at offset 10. */
#define VIRTIO_NET_HDR_LEN TAP_VNET_HDR_LEN
#define VIRTIO_NET_HDR_NUM_BUFFERS 10
/* Largest frame either way: a 64 KiB GSO packet plus an Ethernet/VLAN header, plus ours. */
#define VIRTIO_NET_MAX_FRAME (65550 + VIRTIO_NET_HDR_LEN)

/* Config space (5.1.4), little-endian. */
#define VIRTIO_NET_CONFIG_MAC 0
#define VIRTIO_NET_CONFIG_STATUS 6
#define VIRTIO_NET_CONFIG_MAX_VQ_PAIRS 8
#define VIRTIO_NET_CONFIG_SIZE 10

/*
 * Like virtio_net_create over an open backend: takes ownership of @tap (also
 * on failure). @mac NULL: a locally administered address from @index and the pid.
 */
int virtio_net_create_tap(struct gmem *gm, struct tap *tap, const uint8_t *mac, unsigned index,
			  struct virtio_dev **out);

/*
 * The frame handlers (vdev->lock held, device running): move frames from
 * the tx queue to the tap until the queue is empty or the tap is full, and
 * from the tap into rx buffers until the tap is empty or buffers run out.
 */
void virtio_net_handle_tx(struct virtio_dev *vdev);
void virtio_net_handle_rx(struct virtio_dev *vdev);

/* Events the device currently waits for on the tap fd (EPOLLIN/EPOLLOUT): for tests. */
uint32_t virtio_net_tap_events(const struct virtio_dev *vdev);

#endif
