/*
 * The virtio-mmio transport, version 2 (virtio 1.x, section 4.2.2; no legacy
 * version 1 layout): a 0x200-byte register window per device and one
 * level-triggered interrupt line. Used on arm64 and riscv64, where device
 * trees describe the windows (virtio_mmio_describe).
 *
 * Every register access takes vdev->lock. The transport's interrupt state is
 * only touched with that lock held (the core calls notify_queue/notify_config
 * with it held), so set_irq is called with vdev->lock held, from a vCPU
 * thread or the device's worker: it must not take vdev->lock itself.
 */
#ifndef BOTHY_DEVICES_VIRTIO_MMIO_H
#define BOTHY_DEVICES_VIRTIO_MMIO_H

#include <stdbool.h>
#include <stdint.h>

#include "core/bus.h"

struct virtio_dev;

#define VIRTIO_MMIO_SIZE 0x200
#define VIRTIO_MMIO_MAGIC 0x74726976  /* "virt" */
#define VIRTIO_MMIO_VERSION 2
#define VIRTIO_MMIO_VENDOR_ID 0x59485442 /* "BTHY" as a little-endian word */

/* Register offsets (4.2.2). All are 32-bit; config space starts at 0x100. */
#define VIRTIO_MMIO_MAGIC_VALUE 0x000
#define VIRTIO_MMIO_VERSION_REG 0x004
#define VIRTIO_MMIO_DEVICE_ID 0x008
#define VIRTIO_MMIO_VENDOR_ID_REG 0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES 0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES 0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL 0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX 0x034
#define VIRTIO_MMIO_QUEUE_NUM 0x038
#define VIRTIO_MMIO_QUEUE_READY 0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS 0x060
#define VIRTIO_MMIO_INTERRUPT_ACK 0x064
#define VIRTIO_MMIO_STATUS 0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW 0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH 0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW 0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH 0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW 0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH 0x0a4
#define VIRTIO_MMIO_SHM_SEL 0x0ac
#define VIRTIO_MMIO_SHM_LEN_LOW 0x0b0
#define VIRTIO_MMIO_SHM_LEN_HIGH 0x0b4
#define VIRTIO_MMIO_SHM_BASE_LOW 0x0b8
#define VIRTIO_MMIO_SHM_BASE_HIGH 0x0bc
#define VIRTIO_MMIO_CONFIG_GENERATION 0x0fc
#define VIRTIO_MMIO_CONFIG 0x100

/* InterruptStatus bits. */
#define VIRTIO_MMIO_INT_VRING 0x1
#define VIRTIO_MMIO_INT_CONFIG 0x2

/* What the platform (arch backend) gives a transport instance. */
struct virtio_mmio_platform {
	uint64_t base; /* guest physical address of the window */
	uint32_t irq;  /* the line's number, for the device tree */
	void *opaque;  /* passed to the callbacks */
	/* Drives the level-triggered line (required). Called with vdev->lock held. */
	void (*set_irq)(void *opaque, bool level);
	/*
	 * Optional fast path: make a 4-byte guest write of @datamatch to @addr (the
	 * QueueNotify register) signal eventfd @fd without a vCPU exit; @assign false
	 * undoes it. Returns 0 or a negative errno; on failure the transport keeps
	 * trapping that queue's notifies and kicks the worker itself.
	 */
	int (*ioeventfd)(void *opaque, int fd, uint64_t addr, uint32_t datamatch, bool assign);
};

/* For the device tree: "virtio,mmio" node with reg = <base size>, interrupts = <irq>. */
struct virtio_mmio_desc {
	uint64_t base, size;
	uint32_t irq;
};

struct virtio_mmio;

/* The register window's handler; opaque is the struct virtio_mmio. */
extern const struct bus_device_ops virtio_mmio_bus_ops;

/*
 * Attaches @vdev (borrowed: it must outlive the transport) and registers the
 * queues' ioeventfds if the platform offers them. @plat is copied. Call
 * virtio_dev_start(vdev) afterwards.
 */
int virtio_mmio_create(struct virtio_dev *vdev, const struct virtio_mmio_platform *plat,
		       struct virtio_mmio **out);
/* Unregisters the ioeventfds and detaches from the device; NULL is a no-op. */
void virtio_mmio_destroy(struct virtio_mmio *m);
/* Claims [base, base + VIRTIO_MMIO_SIZE) on @bus. */
int virtio_mmio_register(struct virtio_mmio *m, struct bus *bus);
void virtio_mmio_describe(const struct virtio_mmio *m, struct virtio_mmio_desc *out);

#endif
