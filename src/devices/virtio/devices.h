/*
 * Constructors of the virtio devices. Each returns 0 and a device ready to
 * be attached to a transport (then virtio_dev_start), or a negative errno
 * after printing (log_err) a message a user can act on: the image that
 * does not exist, the tap that cannot be opened. Strings are borrowed.
 */
#ifndef BOTHY_DEVICES_VIRTIO_DEVICES_H
#define BOTHY_DEVICES_VIRTIO_DEVICES_H

#include <stdbool.h>
#include <stdint.h>

struct gmem;
struct virtio_dev;

struct virtio_blk_params {
	const char *path; /* raw image */
	bool readonly;
	const char *serial; /* VIRTIO_BLK_T_GET_ID; NULL: derived from the file name */
	/*
	 * Request queues (VIRTIO_BLK_F_MQ), 1..VIRTIO_MAX_QUEUES; 0 means 1. One per vCPU lets the
	 * guest complete each request on the CPU that issued it, without an IPI.
	 */
	unsigned nr_queues;
};
int virtio_blk_create(struct gmem *gm, const struct virtio_blk_params *p, unsigned index,
		      struct virtio_dev **out);

struct virtio_net_params {
	const char *tap; /* interface name: opened if it exists, created otherwise */
	uint8_t mac[6];
	bool has_mac; /* else a locally administered MAC derived from the index */
};
int virtio_net_create(struct gmem *gm, const struct virtio_net_params *p, unsigned index,
		      struct virtio_dev **out);

int virtio_rng_create(struct gmem *gm, unsigned index, struct virtio_dev **out);

struct virtio_console_params {
	int in_fd, out_fd; /* the host side of hvc0 (borrowed) */
};
int virtio_console_create(struct gmem *gm, const struct virtio_console_params *p, unsigned index,
			  struct virtio_dev **out);

struct virtio_vsock_params {
	uint64_t guest_cid; /* >= 3 */
	const char *uds_path; /* host side: guest→host port P connects to "<uds_path>_P";
			       * host→guest: connect to uds_path and send "CONNECT P\n" */
};
int virtio_vsock_create(struct gmem *gm, const struct virtio_vsock_params *p, unsigned index,
			struct virtio_dev **out);

#endif
