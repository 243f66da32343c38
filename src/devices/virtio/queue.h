/*
 * Split virtqueues (virtio 1.x, section 2.7). This file and queue.c are the
 * ONLY code that reads or writes a guest's rings: every value the driver
 * controls (ring addresses, queue size, descriptor indexes, chain shape,
 * indirect tables, buffer addresses and lengths, the avail index) is
 * validated here, where it enters. A device sees a request only as a list of
 * host iovecs that lie wholly inside guest RAM.
 *
 * A violation returns -EINVAL (after one rate-limited log line naming it);
 * the caller then marks the device NEEDS_RESET (virtio_dev_set_broken) and
 * stops using the queue. Nothing the guest writes can make these functions
 * read or write outside guest RAM, loop forever, or overflow a buffer.
 *
 * Threading: a queue belongs to its device's worker thread once enabled;
 * the transport configures it (set_* fields, virtq_enable/virtq_reset) only
 * under the device lock while the worker is not using it.
 */
#ifndef BOTHY_DEVICES_VIRTIO_QUEUE_H
#define BOTHY_DEVICES_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct gmem;

#define VIRTQ_MAX_SIZE 1024  /* largest queue a device may offer (spec: 32768) */
#define VIRTQ_MAX_CHAIN 1024 /* most buffers in one request, indirect ones included */

/* Descriptor flags (virtio 1.x 2.7.5). */
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
/* avail->flags / used->flags */
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1

struct virtq {
	/* Driver-written configuration (through the transport); checked by virtq_enable(). */
	uint16_t size; /* number of descriptors: a power of 2, 1..max_size */
	uint64_t desc_gpa, avail_gpa, used_gpa;

	/* Device-side state. */
	uint16_t max_size;   /* what the device offers (transport reports it as the maximum) */
	bool enabled;        /* virtq_enable() succeeded */
	bool event_idx;      /* VIRTIO_F_RING_EVENT_IDX negotiated */
	bool indirect;       /* VIRTIO_F_RING_INDIRECT_DESC negotiated */
	uint16_t last_avail; /* next avail ring entry the device consumes */
	uint16_t used_idx;   /* next used ring entry the device writes (shadow of used->idx) */
	uint16_t signalled_used;    /* used_idx when the driver was last interrupted (EVENT_IDX) */
	bool signalled_used_valid;
	uint32_t nr_pushed_since_check; /* pushes not yet considered by virtq_needs_interrupt */
	bool notify_off;     /* the device turned the driver's kicks off (virtq_disable_notify) */

	/* Host views of the rings, valid while enabled (bounds checked at enable time). */
	struct gmem *gmem;
	void *desc, *avail, *used;
};

/* One buffer of a request: a host pointer into guest RAM and its length. */
struct virtq_req {
	uint16_t head;        /* descriptor index that names this request in the used ring */
	unsigned nr_out;      /* device-readable buffers: iov[0 .. nr_out) */
	unsigned nr_in;       /* device-writable buffers: iov[nr_out .. nr_out + nr_in) */
	size_t out_len, in_len; /* total bytes of each kind (fit in 32 bits: checked) */
	struct iovec iov[VIRTQ_MAX_CHAIN];
};

/* Sets the queue to its reset state with @max_size offered (a power of 2 <= VIRTQ_MAX_SIZE). */
void virtq_init(struct virtq *q, uint16_t max_size);
/* Back to the reset state (device reset): disabled, indexes zero, size = max_size. */
void virtq_reset(struct virtq *q);

/*
 * Validates the driver's configuration and maps the rings: size a power of 2
 * in 1..max_size, desc 16-byte, avail 2-byte and used 4-byte aligned, each
 * ring wholly inside one RAM region. 0 or -EINVAL (queue stays disabled).
 */
int virtq_enable(struct virtq *q, struct gmem *gm, bool event_idx, bool indirect);

/*
 * Takes the next available request. Returns 1 with *req filled, 0 when the
 * ring is empty (with EVENT_IDX, having asked the driver to kick at its next
 * buffer unless kicks were turned off), -EINVAL when the driver broke the rules (the avail index
 * moved by more than the queue size, a head or next index out of range, a
 * loop or chain longer than the queue, a nested or misplaced indirect table,
 * a readable buffer after a writable one, a buffer outside RAM, a total length
 * over 4 GiB). After -EINVAL the queue must not be used until reset.
 */
int virtq_pop(struct virtq *q, struct virtq_req *req);

/* Gives @req back to the driver with @written bytes written into its writable buffers. */
void virtq_push(struct virtq *q, const struct virtq_req *req, uint32_t written);

/*
 * After one or more pushes: true if the driver asked to be interrupted
 * (no NO_INTERRUPT flag, or with EVENT_IDX the used event index was crossed).
 * Resets the push count.
 */
bool virtq_needs_interrupt(struct virtq *q);

/*
 * For a device about to sleep waiting for buffers (net receive, vsock):
 * enables/disables the driver's kicks (NO_NOTIFY flag or avail event index).
 * virtq_enable_notify returns true if buffers arrived meanwhile (poll again).
 */
void virtq_disable_notify(struct virtq *q);
bool virtq_enable_notify(struct virtq *q);

/* True if the driver has made buffers available that virtq_pop has not taken. */
bool virtq_has_avail(struct virtq *q);

/* Copy helpers over a request's buffers: bytes copied (stops at the end of the buffers). */
size_t virtq_req_read(const struct virtq_req *req, size_t offset, void *dst, size_t len);  /* from readable */
size_t virtq_req_write(const struct virtq_req *req, size_t offset, const void *src, size_t len); /* to writable */

#endif
