/*
 * The virtio device model (virtio 1.x) shared by the transports (pci.c on
 * x86-64, mmio.c on arm64/riscv64) and the devices (blk, net, console, rng,
 * vsock). A transport owns the register layout; this core owns status,
 * feature negotiation, reset and the device's worker thread; a device owns
 * its config space and what its queues mean.
 *
 * Threads. Each device has a worker thread running its own event loop
 * (evloop): queue kicks (ioeventfds, or eventfds the transport writes on a
 * trapped notify) and the device's backend fds (tap, sockets) wake it, so a
 * slow or misbehaving device never stalls another or a vCPU. A device whose
 * ops ask for it (worker_per_queue: virtio-blk) has one worker per queue
 * instead, so requests of different queues run in parallel. Transport
 * register accesses run on vCPU threads. vdev->lock serialises them all: the
 * transport holds it for every register access, a worker for every callback
 * below. A worker may drop it around blocking backend I/O on a popped
 * request (virtio_dev_io_begin/end); a reset waits for that I/O to end, so a
 * device never touches the driver's buffers after the driver reads status 0
 * back. Interrupts leave through the transport (irqfd).
 */
#ifndef BOTHY_DEVICES_VIRTIO_VIRTIO_H
#define BOTHY_DEVICES_VIRTIO_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio/queue.h"

struct gmem;
struct evloop;

/* Device status bits (2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER 0x02
#define VIRTIO_STATUS_DRIVER_OK 0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

/* Transport/ring feature bits (6). */
#define VIRTIO_F_RING_INDIRECT_DESC 28
#define VIRTIO_F_RING_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_ACCESS_PLATFORM 33

/* Device ids (5). */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4
#define VIRTIO_ID_VSOCK 19

#define VIRTIO_MAX_QUEUES 8
#define VIRTIO_NO_VECTOR 0xffff

struct virtio_dev;

/* What a device implements. Every callback runs with vdev->lock held. */
struct virtio_dev_ops {
	/* One worker thread per queue rather than one per device: queue_notify runs for different
	 * queues concurrently whenever the device drops the lock (virtio_dev_io_begin), so its
	 * per-request state must be per queue. Backend fds stay on vdev->loop (queue 0's). */
	bool worker_per_queue;
	/* Queue @q was kicked (worker thread). */
	void (*queue_notify)(struct virtio_dev *vdev, unsigned q);
	/* DRIVER_OK (on the vCPU thread of the status write): the queues the driver made ready are
	 * enabled; start serving (e.g. watch backend fds). A negative return marks the device
	 * NEEDS_RESET. Each enabled queue then gets one kick. Optional. */
	int (*activate)(struct virtio_dev *vdev);
	/* The driver reset the device: drop in-flight state. Queues are reset by the core. Optional. */
	void (*reset)(struct virtio_dev *vdev);
	/* Config space writes (reads come from vdev->config). Optional: without it writes are ignored. */
	void (*config_write)(struct virtio_dev *vdev, uint32_t offset, const void *data, unsigned size);
	/* Frees the device's private state (after the worker has stopped). */
	void (*destroy)(struct virtio_dev *vdev);
};

/* What a transport provides to the core and devices. */
struct virtio_transport_ops {
	/* Raise queue @q's used-buffer interrupt. */
	void (*notify_queue)(struct virtio_dev *vdev, unsigned q);
	/* Raise the configuration-change interrupt. */
	void (*notify_config)(struct virtio_dev *vdev);
};

struct virtio_dev {
	char name[32];      /* "virtio-blk0": for messages */
	uint32_t device_id; /* VIRTIO_ID_* */
	uint64_t device_features; /* offered; the core adds VERSION_1, EVENT_IDX, INDIRECT_DESC */
	uint64_t driver_features; /* accepted by the driver (a subset: checked at FEATURES_OK) */
	uint8_t status;
	uint32_t config_generation;
	uint8_t *config; /* device config space (device-owned buffer) */
	uint32_t config_size;

	unsigned nr_queues;
	struct virtq queues[VIRTIO_MAX_QUEUES];
	int kick_fd[VIRTIO_MAX_QUEUES]; /* eventfd per queue: ioeventfd target, watched by the worker */

	struct gmem *gmem;
	pthread_mutex_t lock;
	struct evloop *loop; /* the (first) worker's event loop: kicks and backend fds */
	unsigned nr_workers; /* 1, or nr_queues with ops->worker_per_queue; queue q is worker q % n's */
	unsigned workers_started;
	struct virtio_worker {
		struct virtio_dev *vdev;
		struct evloop *loop; /* workers[0].loop == loop */
		pthread_t thread;
	} workers[VIRTIO_MAX_QUEUES];
	unsigned io_inflight;   /* workers inside virtio_dev_io_begin/end (lock dropped) */
	bool io_drain;          /* a reset waits for them: start no more requests */
	pthread_cond_t io_idle; /* io_inflight reached 0 */

	const struct virtio_dev_ops *ops;
	const struct virtio_transport_ops *transport;
	void *transport_priv;
	void *priv; /* the device's own state */
};

/*
 * Initialises the common part and the per-queue kick eventfds. Devices call
 * it from their _create function; @queue_sizes[i] is queue i's maximum size.
 * It zeroes *vdev: set vdev->gmem, config and config_size after it.
 */
int virtio_dev_init(struct virtio_dev *vdev, const char *name, uint32_t device_id, uint64_t features,
		    unsigned nr_queues, const uint16_t *queue_sizes, const struct virtio_dev_ops *ops,
		    void *priv);
/* Starts the worker threads (after the transport attached). */
int virtio_dev_start(struct virtio_dev *vdev);
/* Stops the worker, calls ops->destroy, frees the common part. NULL is a no-op. */
void virtio_dev_destroy(struct virtio_dev *vdev);

/* Transport-facing (lock held by the caller). */
uint64_t virtio_dev_features(const struct virtio_dev *vdev); /* offered, with the core's bits */
void virtio_dev_set_driver_features(struct virtio_dev *vdev, unsigned word, uint32_t value);
/* Applies a driver status write: FEATURES_OK checks the subset and VERSION_1, DRIVER_OK enables
 * the queues and activates, 0 resets. */
void virtio_dev_set_status(struct virtio_dev *vdev, uint8_t status);
void virtio_dev_config_read(struct virtio_dev *vdev, uint32_t offset, void *data, unsigned size);
void virtio_dev_config_write(struct virtio_dev *vdev, uint32_t offset, const void *data, unsigned size);
/* The driver made queue @q ready (PCI queue_enable, MMIO QueueReady): validates and maps its rings
 * with the negotiated ring features. -EINVAL marks the device NEEDS_RESET. */
int virtio_dev_enable_queue(struct virtio_dev *vdev, unsigned q);
/* A trapped queue notify (no ioeventfd): wakes the worker as an ioeventfd would. */
void virtio_dev_kick(struct virtio_dev *vdev, unsigned q);

/* Device-facing (lock held). */
/* The driver broke the rules: log once (rate-limited) why, set NEEDS_RESET, raise a config
 * interrupt, and stop serving until reset. The VM lives on. */
void virtio_dev_set_broken(struct virtio_dev *vdev, const char *why);
bool virtio_dev_broken(const struct virtio_dev *vdev);
bool virtio_dev_has_feature(const struct virtio_dev *vdev, unsigned bit); /* negotiated */
/* Blocking backend I/O for a request popped from a queue (worker thread, lock held): drops
 * vdev->lock until virtio_dev_io_end, which takes it back. In between only the request's own
 * buffers and the device's thread-safe backend may be used. */
void virtio_dev_io_begin(struct virtio_dev *vdev);
void virtio_dev_io_end(struct virtio_dev *vdev);
/* A reset is waiting for the I/O in flight: push what completed, pop nothing more. */
bool virtio_dev_draining(const struct virtio_dev *vdev);
/* After pushes to queue @q: interrupts the driver if it asked for one. */
void virtio_dev_queue_done(struct virtio_dev *vdev, unsigned q);
/* Config space changed (e.g. capacity): bumps the generation and notifies. */
void virtio_dev_config_changed(struct virtio_dev *vdev);

#endif
