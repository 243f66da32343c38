/*
 * Split virtqueues (virtio 1.x, 2.7): the device side of the rings.
 *
 * The driver may rewrite any ring byte at any moment, so each guest value is
 * loaded once into a local and only the local is checked and used. Indexes
 * are 16-bit and wrap; all index arithmetic is done in uint16_t.
 */
#include "devices/virtio/queue.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "core/gmem.h"
#include "core/log.h"

/* Ring layout (2.7.5-2.7.8). */
#define VIRTQ_DESC_SIZE 16
#define VIRTQ_AVAIL_HDR 4 /* flags, idx */
#define VIRTQ_USED_HDR 4
#define VIRTQ_USED_ELEM 8 /* le32 id, le32 len */

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

static size_t virtq_desc_bytes(uint16_t size)
{
	return (size_t)VIRTQ_DESC_SIZE * size;
}

static size_t virtq_avail_bytes(uint16_t size)
{
	return VIRTQ_AVAIL_HDR + 2 * (size_t)size + 2; /* + used_event */
}

static size_t virtq_used_bytes(uint16_t size)
{
	return VIRTQ_USED_HDR + VIRTQ_USED_ELEM * (size_t)size + 2; /* + avail_event */
}

/* Guest-shared 16/32-bit fields: single loads and stores, never torn or repeated. */
static uint16_t virtq_load16(const void *base, size_t off)
{
	return le16toh(__atomic_load_n((const uint16_t *)((const uint8_t *)base + off), __ATOMIC_RELAXED));
}

static void virtq_store16(void *base, size_t off, uint16_t v)
{
	__atomic_store_n((uint16_t *)((uint8_t *)base + off), htole16(v), __ATOMIC_RELAXED);
}

static void virtq_store32(void *base, size_t off, uint32_t v)
{
	__atomic_store_n((uint32_t *)((uint8_t *)base + off), htole32(v), __ATOMIC_RELAXED);
}

/* avail: flags @0, idx @2, ring[i] @4+2i, used_event @4+2*size */
static uint16_t virtq_avail_flags(const struct virtq *q)
{
	return virtq_load16(q->avail, 0);
}

static uint16_t virtq_avail_idx(const struct virtq *q)
{
	return virtq_load16(q->avail, 2);
}

static uint16_t virtq_avail_ring(const struct virtq *q, uint16_t slot)
{
	return virtq_load16(q->avail, VIRTQ_AVAIL_HDR + 2 * (size_t)slot);
}

static uint16_t virtq_used_event(const struct virtq *q)
{
	return virtq_load16(q->avail, VIRTQ_AVAIL_HDR + 2 * (size_t)q->size);
}

/* used: flags @0, idx @2, ring[i] @4+8i, avail_event @4+8*size */
static void virtq_set_used_flags(struct virtq *q, uint16_t flags)
{
	virtq_store16(q->used, 0, flags);
}

static void virtq_set_avail_event(struct virtq *q, uint16_t idx)
{
	virtq_store16(q->used, VIRTQ_USED_HDR + VIRTQ_USED_ELEM * (size_t)q->size, idx);
}

/*
 * A descriptor is copied out whole, then decoded from the copy. Indirect
 * tables need no particular alignment, hence memcpy rather than wide loads.
 */
static void virtq_desc_load(const void *table, uint16_t i, struct virtq_desc *d)
{
	uint8_t raw[VIRTQ_DESC_SIZE];
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;

	memcpy(raw, (const uint8_t *)table + (size_t)i * VIRTQ_DESC_SIZE, sizeof(raw));
	memcpy(&addr, raw, 8);
	memcpy(&len, raw + 8, 4);
	memcpy(&flags, raw + 12, 2);
	memcpy(&next, raw + 14, 2);
	d->addr = le64toh(addr);
	d->len = le32toh(len);
	d->flags = le16toh(flags);
	d->next = le16toh(next);
}

void virtq_init(struct virtq *q, uint16_t max_size)
{
	memset(q, 0, sizeof(*q));
	q->max_size = max_size;
	q->size = max_size;
}

void virtq_reset(struct virtq *q)
{
	virtq_init(q, q->max_size);
}

static bool virtq_is_pow2(uint16_t v)
{
	return v && !(v & (v - 1));
}

int virtq_enable(struct virtq *q, struct gmem *gm, bool event_idx, bool indirect)
{
	uint16_t size = q->size;
	void *desc, *avail, *used;

	q->enabled = false;
	if (!virtq_is_pow2(size) || size > q->max_size || size > VIRTQ_MAX_SIZE) {
		log_guest("virtqueue size %u invalid (max %u, power of 2)", size, q->max_size);
		return -EINVAL;
	}
	if ((q->desc_gpa & 15) || (q->avail_gpa & 1) || (q->used_gpa & 3)) {
		log_guest("virtqueue rings misaligned: desc %#llx avail %#llx used %#llx",
			  (unsigned long long)q->desc_gpa, (unsigned long long)q->avail_gpa,
			  (unsigned long long)q->used_gpa);
		return -EINVAL;
	}
	desc = gmem_ptr(gm, q->desc_gpa, virtq_desc_bytes(size));
	avail = gmem_ptr(gm, q->avail_gpa, virtq_avail_bytes(size));
	used = gmem_ptr(gm, q->used_gpa, virtq_used_bytes(size));
	if (!desc || !avail || !used) {
		log_guest("virtqueue ring outside RAM: desc %#llx avail %#llx used %#llx size %u",
			  (unsigned long long)q->desc_gpa, (unsigned long long)q->avail_gpa,
			  (unsigned long long)q->used_gpa, size);
		return -EINVAL;
	}
	q->gmem = gm;
	q->desc = desc;
	q->avail = avail;
	q->used = used;
	q->event_idx = event_idx;
	q->indirect = indirect;
	q->last_avail = 0;
	q->used_idx = 0;
	q->signalled_used = 0;
	q->signalled_used_valid = false;
	q->nr_pushed_since_check = 0;
	q->enabled = true;
	return 0;
}

/* Walk state of one request: what has been gathered so far. */
struct virtq_walk {
	struct virtq_req *req;
	unsigned nr_bufs;  /* buffers seen, zero-length ones included */
	uint64_t out_len, in_len;
	bool seen_in;
};

/* Adds one (non-indirect) descriptor's buffer to the request. */
static int virtq_walk_buffer(struct virtq *q, struct virtq_walk *w, const struct virtq_desc *d)
{
	struct virtq_req *req = w->req;
	bool in = d->flags & VIRTQ_DESC_F_WRITE;
	void *p;

	if (++w->nr_bufs > VIRTQ_MAX_CHAIN) {
		log_guest("virtqueue request %u has more than %u buffers", req->head, VIRTQ_MAX_CHAIN);
		return -EINVAL;
	}
	if (!in && w->seen_in) {
		log_guest("virtqueue request %u: readable buffer after a writable one", req->head);
		return -EINVAL;
	}
	w->seen_in |= in;
	if (in)
		w->in_len += d->len;
	else
		w->out_len += d->len;
	if (w->in_len > UINT32_MAX || w->out_len > UINT32_MAX) {
		log_guest("virtqueue request %u longer than 4 GiB", req->head);
		return -EINVAL;
	}
	if (!d->len)
		return 0; /* allowed; nothing to transfer */
	p = gmem_ptr(q->gmem, d->addr, d->len);
	if (!p) {
		log_guest("virtqueue request %u: buffer %#llx+%#x outside RAM", req->head,
			  (unsigned long long)d->addr, d->len);
		return -EINVAL;
	}
	/* nr_bufs bounds the index: at most VIRTQ_MAX_CHAIN iovecs */
	req->iov[req->nr_out + req->nr_in] = (struct iovec){ .iov_base = p, .iov_len = d->len };
	if (in)
		req->nr_in++;
	else
		req->nr_out++;
	return 0;
}

/* Follows an indirect table (2.7.5.3): its own chain, indexes local to the table. */
static int virtq_walk_indirect(struct virtq *q, struct virtq_walk *w, const struct virtq_desc *d)
{
	uint16_t head = w->req->head;
	const void *table;
	unsigned n, visited = 0;
	struct virtq_desc id;
	uint16_t i = 0;
	int ret;

	if (!q->indirect) {
		log_guest("virtqueue request %u uses an indirect table without the feature", head);
		return -EINVAL;
	}
	if (d->flags & VIRTQ_DESC_F_NEXT) {
		log_guest("virtqueue request %u: indirect descriptor also has NEXT", head);
		return -EINVAL;
	}
	if (!d->len || d->len % VIRTQ_DESC_SIZE || d->len / VIRTQ_DESC_SIZE > VIRTQ_MAX_CHAIN) {
		log_guest("virtqueue request %u: indirect table length %#x invalid", head, d->len);
		return -EINVAL;
	}
	n = d->len / VIRTQ_DESC_SIZE;
	table = gmem_ptr(q->gmem, d->addr, d->len);
	if (!table) {
		log_guest("virtqueue request %u: indirect table %#llx+%#x outside RAM", head,
			  (unsigned long long)d->addr, d->len);
		return -EINVAL;
	}
	for (;;) {
		/* n entries can be visited at most once each: more means a loop */
		if (++visited > n) {
			log_guest("virtqueue request %u: indirect chain loops or exceeds its %u entries", head, n);
			return -EINVAL;
		}
		virtq_desc_load(table, i, &id);
		if (id.flags & VIRTQ_DESC_F_INDIRECT) {
			log_guest("virtqueue request %u: nested indirect table", head);
			return -EINVAL;
		}
		ret = virtq_walk_buffer(q, w, &id);
		if (ret)
			return ret;
		if (!(id.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (id.next >= n) {
			log_guest("virtqueue request %u: indirect next %u out of range (%u entries)", head,
				  id.next, n);
			return -EINVAL;
		}
		i = id.next;
	}
}

int virtq_pop(struct virtq *q, struct virtq_req *req)
{
	struct virtq_walk w = { .req = req };
	uint16_t avail_idx, pending, head, i;
	unsigned visited = 0;
	struct virtq_desc d;
	int ret;

	if (!q->enabled)
		return 0;
	avail_idx = virtq_avail_idx(q);
	pending = (uint16_t)(avail_idx - q->last_avail);
	if (!pending && q->event_idx) {
		/*
		 * Drained: with EVENT_IDX the driver kicks only when its avail idx crosses
		 * avail_event, so ask for a kick at the next buffer (unless a device turned
		 * kicks off with virtq_disable_notify), then look once more so a buffer the
		 * driver added meanwhile is not left waiting for a kick that never comes.
		 */
		if (!q->notify_off) {
			virtq_set_avail_event(q, q->last_avail);
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			avail_idx = virtq_avail_idx(q);
			pending = (uint16_t)(avail_idx - q->last_avail);
		}
	}
	if (!pending)
		return 0;
	if (pending > q->size) {
		log_guest("virtqueue avail idx %u is %u ahead of %u (size %u)", avail_idx, pending,
			  q->last_avail, q->size);
		return -EINVAL;
	}
	/* the ring entry and descriptors were written before avail->idx */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	head = virtq_avail_ring(q, q->last_avail & (q->size - 1));
	if (head >= q->size) {
		log_guest("virtqueue head %u out of range (size %u)", head, q->size);
		return -EINVAL;
	}
	req->head = head;
	req->nr_out = req->nr_in = 0;
	req->out_len = req->in_len = 0;
	for (i = head;;) {
		/* a chain visits each of the size descriptors at most once: more means a loop */
		if (++visited > q->size) {
			log_guest("virtqueue request %u loops or is longer than the queue (%u)", head, q->size);
			return -EINVAL;
		}
		virtq_desc_load(q->desc, i, &d);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			/* ends the direct chain (NEXT is rejected there) */
			ret = virtq_walk_indirect(q, &w, &d);
			if (ret)
				return ret;
			break;
		}
		ret = virtq_walk_buffer(q, &w, &d);
		if (ret)
			return ret;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		if (d.next >= q->size) {
			log_guest("virtqueue request %u: next %u out of range (size %u)", head, d.next, q->size);
			return -EINVAL;
		}
		i = d.next;
	}
	req->out_len = w.out_len;
	req->in_len = w.in_len;
	q->last_avail++;
	return 1;
}

void virtq_push(struct virtq *q, const struct virtq_req *req, uint32_t written)
{
	size_t elem;

	if (!q->enabled)
		return;
	/* never tell the driver more was written than it offered */
	if (written > req->in_len)
		written = (uint32_t)req->in_len;
	elem = VIRTQ_USED_HDR + VIRTQ_USED_ELEM * (size_t)(q->used_idx & (q->size - 1));
	virtq_store32(q->used, elem, req->head);
	virtq_store32(q->used, elem + 4, written);
	/* the element is visible before the index that publishes it */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	q->used_idx++;
	virtq_store16(q->used, 2, q->used_idx);
	q->nr_pushed_since_check++;
}

/* 2.7.10: the driver wants an interrupt when used idx moves from old past event. */
static bool virtq_need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

bool virtq_needs_interrupt(struct virtq *q)
{
	uint32_t pushed = q->nr_pushed_since_check;
	uint16_t new_idx = q->used_idx;
	uint16_t old_idx = (uint16_t)(new_idx - pushed);

	if (!q->enabled)
		return false;
	q->nr_pushed_since_check = 0;
	q->signalled_used = new_idx;
	q->signalled_used_valid = true;
	if (!pushed)
		return false;
	/* our used->idx store is ordered before the driver's flag/event reads */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!q->event_idx)
		return !(virtq_avail_flags(q) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	if (pushed > UINT16_MAX)
		return true; /* the 16-bit window cannot tell: interrupt to be safe */
	return virtq_need_event(virtq_used_event(q), new_idx, old_idx);
}

void virtq_disable_notify(struct virtq *q)
{
	if (!q->enabled)
		return;
	/* With EVENT_IDX the driver kicks only when crossing avail_event, which we then leave behind. */
	q->notify_off = true;
	if (!q->event_idx)
		virtq_set_used_flags(q, VIRTQ_USED_F_NO_NOTIFY);
}

bool virtq_enable_notify(struct virtq *q)
{
	if (!q->enabled)
		return false;
	q->notify_off = false;
	if (q->event_idx)
		virtq_set_avail_event(q, q->last_avail);
	else
		virtq_set_used_flags(q, 0);
	/* publish the request for kicks before re-reading avail idx, or a kick can be missed */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return virtq_has_avail(q);
}

bool virtq_has_avail(struct virtq *q)
{
	return q->enabled && virtq_avail_idx(q) != q->last_avail;
}

/* Copies between @buf and the iovecs [first, first + n) starting @offset bytes in; bytes copied. */
static size_t virtq_iov_copy(const struct iovec *iov, unsigned n, size_t offset, uint8_t *buf, size_t len,
			     bool to_iov)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t chunk;

		if (offset >= iov[i].iov_len) {
			offset -= iov[i].iov_len;
			continue;
		}
		chunk = iov[i].iov_len - offset;
		if (chunk > len - done)
			chunk = len - done;
		if (to_iov)
			memcpy((uint8_t *)iov[i].iov_base + offset, buf + done, chunk);
		else
			memcpy(buf + done, (const uint8_t *)iov[i].iov_base + offset, chunk);
		done += chunk;
		offset = 0;
	}
	return done;
}

size_t virtq_req_read(const struct virtq_req *req, size_t offset, void *dst, size_t len)
{
	return virtq_iov_copy(req->iov, req->nr_out, offset, dst, len, false);
}

size_t virtq_req_write(const struct virtq_req *req, size_t offset, const void *src, size_t len)
{
	/* The buffer is only read when copying to the iovecs. */
	return virtq_iov_copy(req->iov + req->nr_out, req->nr_in, offset, (uint8_t *)(uintptr_t)src, len, true);
}
