/*
 * Host side of virtio-net: a Linux tap interface opened with a virtio-net
 * header in front of every frame (IFF_VNET_HDR), so the guest's header passes
 * through unchanged in both directions. The fd is non-blocking and close-on-exec.
 */
#ifndef BOTHY_BACKENDS_TAP_H
#define BOTHY_BACKENDS_TAP_H

#include <stdbool.h>

/* Size of the header in front of every frame: struct virtio_net_hdr_v1 (VERSION_1: with num_buffers). */
#define TAP_VNET_HDR_LEN 12

/* Guest-receive offloads the tap may hand us (TUNSETOFFLOAD bits, kept numerically equal). */
#define TAP_OFFLOAD_CSUM 0x01
#define TAP_OFFLOAD_TSO4 0x02
#define TAP_OFFLOAD_TSO6 0x04
#define TAP_OFFLOAD_TSO_ECN 0x08

struct tap {
	int fd;
	bool is_tap;          /* false for an injected stand-in fd (tests): no ioctls */
	unsigned offloads_ok; /* TAP_OFFLOAD_* the kernel accepted when probed */
	char name[16];        /* IFNAMSIZ */
};

/*
 * Opens (or creates) tap interface @name with a 12-byte vnet header and
 * probes which offloads it accepts, leaving them all off. Returns 0 or
 * -errno after a log_err saying what to do: no /dev/net/tun, no
 * CAP_NET_ADMIN, interface busy, name too long.
 */
int tap_open(const char *name, struct tap **out);
/* Wraps an fd standing in for a tap (a socketpair or pipe end): takes ownership of @fd. */
int tap_open_fd(int fd, unsigned offloads_ok, struct tap **out);
/* Closes the fd. NULL is a no-op. */
void tap_close(struct tap *tap);
/* Sets the guest-receive offloads (TAP_OFFLOAD_* subset of offloads_ok). 0 or -errno. */
int tap_set_offloads(struct tap *tap, unsigned offloads);

#endif
