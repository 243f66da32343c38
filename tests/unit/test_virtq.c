/* Split virtqueue parser: rings built by hand in guest memory, as a driver would. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/gmem.h"
#include "devices/virtio/queue.h"

#define RAM0_SIZE (1ULL << 20)
#define RAM1_GPA 0x100000000ULL
#define RAM1_SIZE (1ULL << 20)

#define DESC_GPA 0x1000ULL
#define AVAIL_GPA 0x2000ULL
#define USED_GPA 0x3000ULL
#define ITABLE_GPA 0x8000ULL /* indirect tables */
#define DATA_GPA 0x10000ULL  /* buffers */
#define QSIZE 16

struct fx {
	struct gmem *gm;
	struct virtq q;
	struct virtq_req *req;
	uint16_t avail_idx; /* driver's shadow */
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->req = calloc(1, sizeof(*f->req));
	if (!f->req || gmem_create(&f->gm) || gmem_add_region(f->gm, 0, RAM0_SIZE) ||
	    gmem_add_region(f->gm, RAM1_GPA, RAM1_SIZE))
		return -1;
	virtq_init(&f->q, 256);
	f->q.size = QSIZE;
	f->q.desc_gpa = DESC_GPA;
	f->q.avail_gpa = AVAIL_GPA;
	f->q.used_gpa = USED_GPA;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	gmem_destroy(f->gm);
	free(f->req);
	free(f);
	return 0;
}

static void fx_enable(struct fx *f, bool event_idx, bool indirect)
{
	assert_int_equal(virtq_enable(&f->q, f->gm, event_idx, indirect), 0);
}

/* Device reset, then the driver sets the queue up again on zeroed indexes. */
static void fx_reenable(struct fx *f, bool event_idx, bool indirect);

static void put16(struct fx *f, uint64_t gpa, uint16_t v)
{
	v = htole16(v);
	assert_int_equal(gmem_write(f->gm, gpa, &v, 2), 0);
}

static uint16_t get16(struct fx *f, uint64_t gpa)
{
	uint16_t v;

	assert_int_equal(gmem_read(f->gm, gpa, &v, 2), 0);
	return le16toh(v);
}

static uint32_t get32(struct fx *f, uint64_t gpa)
{
	uint32_t v;

	assert_int_equal(gmem_read(f->gm, gpa, &v, 4), 0);
	return le32toh(v);
}

/* Writes descriptor @i of the table at @table. */
static void set_desc(struct fx *f, uint64_t table, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	uint8_t raw[16];
	uint64_t a = htole64(addr);
	uint32_t l = htole32(len);
	uint16_t fl = htole16(flags), n = htole16(next);

	memcpy(raw, &a, 8);
	memcpy(raw + 8, &l, 4);
	memcpy(raw + 12, &fl, 2);
	memcpy(raw + 14, &n, 2);
	assert_int_equal(gmem_write(f->gm, table + 16ULL * i, raw, 16), 0);
}

static void desc(struct fx *f, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	set_desc(f, DESC_GPA, i, addr, len, flags, next);
}

/* Makes chain @head available, as the driver does: ring entry, then idx. */
static void avail_add(struct fx *f, uint16_t head)
{
	put16(f, AVAIL_GPA + 4 + 2 * (f->avail_idx % f->q.size), head);
	f->avail_idx++;
	put16(f, AVAIL_GPA + 2, f->avail_idx);
}

static void set_avail_idx(struct fx *f, uint16_t idx)
{
	f->avail_idx = idx;
	put16(f, AVAIL_GPA + 2, idx);
}

static void fx_reenable(struct fx *f, bool event_idx, bool indirect)
{
	virtq_reset(&f->q);
	f->q.size = QSIZE;
	f->q.desc_gpa = DESC_GPA;
	f->q.avail_gpa = AVAIL_GPA;
	f->q.used_gpa = USED_GPA;
	fx_enable(f, event_idx, indirect);
	set_avail_idx(f, 0);
	put16(f, USED_GPA + 2, 0);
}

static uint16_t used_idx(struct fx *f)
{
	return get16(f, USED_GPA + 2);
}

static void used_elem(struct fx *f, uint16_t slot, uint32_t *id, uint32_t *len)
{
	*id = get32(f, USED_GPA + 4 + 8ULL * slot);
	*len = get32(f, USED_GPA + 8 + 8ULL * slot);
}

static void *gpa_ptr(struct fx *f, uint64_t gpa)
{
	return gmem_ptr(f->gm, gpa, 1);
}

static void test_single_buffer(void **state)
{
	struct fx *f = *state;
	uint32_t id, len;

	fx_enable(f, false, false);
	assert_false(virtq_has_avail(&f->q));
	assert_int_equal(virtq_pop(&f->q, f->req), 0);

	desc(f, 3, DATA_GPA, 100, 0, 0);
	avail_add(f, 3);
	assert_true(virtq_has_avail(&f->q));
	assert_int_equal(virtq_pop(&f->q, f->req), 1);
	assert_int_equal(f->req->head, 3);
	assert_int_equal(f->req->nr_out, 1);
	assert_int_equal(f->req->nr_in, 0);
	assert_int_equal(f->req->out_len, 100);
	assert_int_equal(f->req->in_len, 0);
	assert_ptr_equal(f->req->iov[0].iov_base, gpa_ptr(f, DATA_GPA));
	assert_int_equal(f->req->iov[0].iov_len, 100);
	assert_false(virtq_has_avail(&f->q));
	assert_int_equal(virtq_pop(&f->q, f->req), 0);

	virtq_push(&f->q, f->req, 0);
	assert_int_equal(used_idx(f), 1);
	used_elem(f, 0, &id, &len);
	assert_int_equal(id, 3);
	assert_int_equal(len, 0);
}

static void test_out_in_chain(void **state)
{
	struct fx *f = *state;
	uint32_t id, len;

	fx_enable(f, false, false);
	/* 2 readable then 2 writable, in scattered descriptor order, one buffer in the high region */
	desc(f, 5, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 9);
	desc(f, 9, DATA_GPA + 0x100, 512, VIRTQ_DESC_F_NEXT, 0);
	desc(f, 0, RAM1_GPA + 0x40, 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 15);
	desc(f, 15, DATA_GPA + 0x1000, 4096, VIRTQ_DESC_F_WRITE, 0);
	avail_add(f, 5);
	assert_int_equal(virtq_pop(&f->q, f->req), 1);
	assert_int_equal(f->req->head, 5);
	assert_int_equal(f->req->nr_out, 2);
	assert_int_equal(f->req->nr_in, 2);
	assert_int_equal(f->req->out_len, 528);
	assert_int_equal(f->req->in_len, 4097);
	assert_ptr_equal(f->req->iov[0].iov_base, gpa_ptr(f, DATA_GPA));
	assert_ptr_equal(f->req->iov[1].iov_base, gpa_ptr(f, DATA_GPA + 0x100));
	assert_ptr_equal(f->req->iov[2].iov_base, gpa_ptr(f, RAM1_GPA + 0x40));
	assert_int_equal(f->req->iov[2].iov_len, 1);
	assert_ptr_equal(f->req->iov[3].iov_base, gpa_ptr(f, DATA_GPA + 0x1000));

	/* a device that claims more than the driver offered is clamped */
	virtq_push(&f->q, f->req, 999999);
	used_elem(f, 0, &id, &len);
	assert_int_equal(id, 5);
	assert_int_equal(len, 4097);
	assert_int_equal(used_idx(f), 1);
}

static void test_full_length_chain(void **state)
{
	struct fx *f = *state;

	fx_enable(f, false, false);
	/* every descriptor once: exactly the queue size is allowed */
	for (uint16_t i = 0; i < QSIZE; i++)
		desc(f, i, DATA_GPA + 64ULL * i, 64, i + 1 < QSIZE ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	avail_add(f, 0);
	assert_int_equal(virtq_pop(&f->q, f->req), 1);
	assert_int_equal(f->req->nr_out, QSIZE);
	assert_int_equal(f->req->out_len, 64 * QSIZE);
}

static void test_loops(void **state)
{
	struct fx *f = *state;

	fx_enable(f, false, false);
	desc(f, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	desc(f, 1, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 0); /* back to the head */
	avail_add(f, 0);
	assert_int_equal(virtq_pop(&f->q, f->req), -EINVAL);

	fx_reenable(f, false, false);
	desc(f, 2, DATA_GPA, 8, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2); /* self loop */
	avail_add(f, 2);
	assert_int_equal(virtq_pop(&f->q, f->req), -EINVAL);
}

static void test_chain_longer_than_queue(void **state)
{
	struct fx *f = *state;

	/* a 4-entry queue whose chain runs through 5 descriptors must revisit one */
	f->q.size = 4;
	fx_enable(f, false, false);
	desc(f, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	desc(f, 1, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 2);
	desc(f, 2, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 3);
	desc(f, 3, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	avail_add(f, 0);
	assert_int_equal(virtq_pop(&f->q, f->req), -EINVAL);
}

static void test_index_out_of_range(void **state)
{
	struct fx *f = *state;

	fx_enable(f, false, false);
	avail_add(f, QSIZE); /* head == size */
	assert_int_equal(virtq_pop(&f->q, f->req), -EINVAL);

	fx_reenable(f, false, false);
	desc(f, 1, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 0xffff);
	avail_add(f, 1);
	assert_int_equal(virtq_pop(&f->q, f->req), -EINVAL);
}

static void test_indirect_valid(void **state)
{
	struct fx *f = *state;

	fx_enable(f, false, true);
	/* 3 entries, walked from entry 0: [0] out -> [2] out -> [1] in */
	set_desc(f, ITABLE_GPA, 0, DATA_GPA, 10, VIRTQ_DESC_F_NEXT, 2);
	set_desc(f, ITABLE_GPA, 2, DATA_GPA + 0x10, 20, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, ITABLE_GPA, 1, RAM1_GPA, 30, VIRTQ_DESC_F_WRITE, 0);
	desc(f, 4, ITABLE_GPA, 48, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(f, 4);
	assert_int_equal(virtq_pop(&f->q, f->req), 1);
	assert_int_equal(f->req->head, 4);
	assert_int_equal(f->req->nr_out, 2);
	assert_int_equal(f->req->nr_in, 1);
	assert_int_equal(f->req->out_len, 30);
	assert_int_equal(f->req->in_len, 30);
	assert_ptr_equal(f->req->iov[0].iov_base, gpa_ptr(f, DATA_GPA));
	assert_ptr_equal(f->req->iov[1].iov_base, gpa_ptr(f, DATA_GPA + 0x10));
	assert_ptr_equal(f->req->iov[2].iov_base, gpa_ptr(f, RAM1_GPA));

	/* a direct readable buffer, then an indirect table (2.7.5.3.2: the device MUST accept this);
	 * WRITE on the indirect descriptor itself is ignored */
	desc(f, 7, DATA_GPA + 0x800, 4, VIRTQ_DESC_F_NEXT, 8);
	set_desc(f, ITABLE_GPA + 0x100, 0, DATA_GPA + 0x20, 6, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, ITABLE_GPA + 0x100, 1, DATA_GPA + 0x40, 7, VIRTQ_DESC_F_WRITE, 0);
	desc(f, 8, ITABLE_GPA + 0x100, 32, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
	avail_add(f, 7);
	assert_int_equal(virtq_pop(&f->q, f->req), 1);
	assert_int_equal(f->req->head, 7);
	assert_int_equal(f->req->nr_out, 2);
	assert_int_equal(f->req->nr_in, 1);
	assert_int_equal(f->req->out_len, 10);
	assert_int_equal(f->req->in_len, 7);
	assert_ptr_equal(f->req->iov[0].iov_base, gpa_ptr(f, DATA_GPA + 0x800));
	assert_ptr_equal(f->req->iov[1].iov_base, gpa_ptr(f, DATA_GPA + 0x20));
	assert_ptr_equal(f->req->iov[2].iov_base, gpa_ptr(f, DATA_GPA + 0x40));
}

/* Pops one request whose head descriptor 0 is @flags over [addr, addr+len); returns virtq_pop's result. */
static int pop_one(struct fx *f, bool indirect, uint64_t addr, uint32_t len, uint16_t flags)
{
	fx_reenable(f, false, indirect);
	desc(f, 0, addr, len, flags, 1);
	desc(f, 1, DATA_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
	avail_add(f, 0);
	return virtq_pop(&f->q, f->req);
}

static void test_indirect_invalid(void **state)
{
	struct fx *f = *state;
	const uint16_t ind = VIRTQ_DESC_F_INDIRECT;

	set_desc(f, ITABLE_GPA, 0, DATA_GPA, 8, 0, 0);
	set_desc(f, ITABLE_GPA, 1, DATA_GPA, 8, 0, 0);
	assert_int_equal(pop_one(f, true, ITABLE_GPA, 32, ind), 1); /* the baseline is fine */
	assert_int_equal(pop_one(f, false, ITABLE_GPA, 32, ind), -EINVAL); /* not negotiated */
	assert_int_equal(pop_one(f, true, ITABLE_GPA, 0, ind), -EINVAL);  /* empty */
	assert_int_equal(pop_one(f, true, ITABLE_GPA, 24, ind), -EINVAL); /* not a multiple of 16 */
	assert_int_equal(pop_one(f, true, ITABLE_GPA, 16 * (VIRTQ_MAX_CHAIN + 1), ind), -EINVAL);
	assert_int_equal(pop_one(f, true, 0x200000, 32, ind), -EINVAL);                /* hole */
	assert_int_equal(pop_one(f, true, RAM0_SIZE - 16, 32, ind), -EINVAL);         /* region end */
	assert_int_equal(pop_one(f, true, ITABLE_GPA, 32, ind | VIRTQ_DESC_F_NEXT), -EINVAL);

	/* nested table */
	set_desc(f, ITABLE_GPA, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, ITABLE_GPA, 1, ITABLE_GPA + 0x100, 16, ind, 0);
	set_desc(f, ITABLE_GPA + 0x100, 0, DATA_GPA, 8, 0, 0);
	assert_int_equal(pop_one(f, true, ITABLE_GPA, 32, ind), -EINVAL);
	/* loop inside the table */
	set_desc(f, ITABLE_GPA, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, ITABLE_GPA, 1, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 0);
	assert_int_equal(pop_one(f, true, ITABLE_GPA, 32, ind), -EINVAL);
	/* next beyond the table's own entries (though < queue size) */
	set_desc(f, ITABLE_GPA, 1, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 2);
	assert_int_equal(pop_one(f, true, ITABLE_GPA, 32, ind), -EINVAL);
	/* a readable buffer in the table after a writable direct one */
	set_desc(f, ITABLE_GPA, 0, DATA_GPA, 8, 0, 0);
	fx_reenable(f, false, true);
	desc(f, 0, DATA_GPA, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	desc(f, 1, ITABLE_GPA, 16, ind, 0);
	avail_add(f, 0);
	assert_int_equal(virtq_pop(&f->q, f->req), -EINVAL);
}

static void test_buffers_outside_ram(void **state)
{
	struct fx *f = *state;

	assert_int_equal(pop_one(f, false, DATA_GPA, 8, VIRTQ_DESC_F_NEXT), 1);
	/* last bytes of each region are fine */
	assert_int_equal(pop_one(f, false, RAM0_SIZE - 8, 8, VIRTQ_DESC_F_NEXT), 1);
	assert_int_equal(pop_one(f, false, RAM1_GPA + RAM1_SIZE - 1, 1, VIRTQ_DESC_F_NEXT), 1);
	/* one byte too far, the hole, spanning into the next region's gpa space, far away, wrap */
	assert_int_equal(pop_one(f, false, RAM0_SIZE - 8, 9, VIRTQ_DESC_F_NEXT), -EINVAL);
	assert_int_equal(pop_one(f, false, RAM0_SIZE, 8, VIRTQ_DESC_F_NEXT), -EINVAL);
	assert_int_equal(pop_one(f, false, RAM1_GPA - 8, 16, VIRTQ_DESC_F_NEXT), -EINVAL);
	assert_int_equal(pop_one(f, false, RAM1_GPA + RAM1_SIZE - 1, 2, VIRTQ_DESC_F_NEXT), -EINVAL);
	assert_int_equal(pop_one(f, false, 1ULL << 50, 8, VIRTQ_DESC_F_NEXT), -EINVAL);
	assert_int_equal(pop_one(f, false, ~0ULL - 3, 8, VIRTQ_DESC_F_NEXT), -EINVAL);
}

static void test_total_length_over_4g(void **state)
{
	struct fx *f = *state;
	const uint64_t big = 0x200000000ULL;

	/* 3 GiB of untouched RAM: two readable buffers inside it add up to 6 GiB */
	assert_int_equal(gmem_add_region(f->gm, big, 3ULL << 30), 0);
	fx_enable(f, false, false);
	desc(f, 0, big, 0xc0000000u, VIRTQ_DESC_F_NEXT, 1);
	desc(f, 1, big, 0xc0000000u, 0, 0);
	avail_add(f, 0);
	assert_int_equal(virtq_pop(&f->q, f->req), -EINVAL);
	/* one of them alone is fine */
	desc(f, 0, big, 0xc0000000u, 0, 0);
	f->q.last_avail = 0;
	assert_int_equal(virtq_pop(&f->q, f->req), 1);
	assert_int_equal(f->req->out_len, 0xc0000000u);
}

static void test_zero_length_buffers(void **state)
{
	struct fx *f = *state;

	fx_enable(f, false, false);
	desc(f, 0, 0xdead00000000ULL, 0, VIRTQ_DESC_F_NEXT, 1); /* zero length: address never used */
	desc(f, 1, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 2);
	desc(f, 2, DATA_GPA, 0, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 3);
	desc(f, 3, DATA_GPA + 8, 4, VIRTQ_DESC_F_WRITE, 0);
	avail_add(f, 0);
	assert_int_equal(virtq_pop(&f->q, f->req), 1);
	assert_int_equal(f->req->nr_out, 1);
	assert_int_equal(f->req->nr_in, 1);
	assert_int_equal(f->req->out_len, 8);
	assert_int_equal(f->req->in_len, 4);
	assert_ptr_equal(f->req->iov[1].iov_base, gpa_ptr(f, DATA_GPA + 8));
}

static void test_readable_after_writable(void **state)
{
	struct fx *f = *state;

	fx_enable(f, false, false);
	desc(f, 0, DATA_GPA, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	desc(f, 1, DATA_GPA, 8, 0, 0);
	avail_add(f, 0);
	assert_int_equal(virtq_pop(&f->q, f->req), -EINVAL);
}

static void test_index_wraparound(void **state)
{
	struct fx *f = *state;
	uint32_t id, len;

	fx_enable(f, true, false);
	/* as if 65534 requests had gone through already */
	f->q.last_avail = f->q.used_idx = 65534;
	set_avail_idx(f, 65534);
	put16(f, USED_GPA + 2, 65534);
	for (uint16_t i = 0; i < 4; i++) {
		desc(f, i, DATA_GPA + 16ULL * i, 16, VIRTQ_DESC_F_WRITE, 0);
		avail_add(f, i);
	}
	assert_int_equal(f->avail_idx, 2);
	put16(f, AVAIL_GPA + 4 + 2 * QSIZE, 0); /* used_event: interrupt once idx passes 0 */
	for (uint16_t i = 0; i < 4; i++) {
		assert_int_equal(virtq_pop(&f->q, f->req), 1);
		assert_int_equal(f->req->head, i);
		virtq_push(&f->q, f->req, 16 - i);
	}
	assert_int_equal(virtq_pop(&f->q, f->req), 0);
	assert_int_equal(used_idx(f), 2);
	/* slots 14, 15, 0, 1 */
	used_elem(f, 14, &id, &len);
	assert_int_equal(id, 0);
	assert_int_equal(len, 16);
	used_elem(f, 1, &id, &len);
	assert_int_equal(id, 3);
	assert_int_equal(len, 13);
	/* 65534 -> 2 crossed used_event 0 */
	assert_true(virtq_needs_interrupt(&f->q));
}

static void test_avail_idx_jump(void **state)
{
	struct fx *f = *state;
	int n = 0;

	fx_enable(f, false, false);
	for (uint16_t i = 0; i < QSIZE; i++) {
		desc(f, i, DATA_GPA, 8, 0, 0);
		put16(f, AVAIL_GPA + 4 + 2 * i, i);
	}
	set_avail_idx(f, QSIZE + 1);
	assert_int_equal(virtq_pop(&f->q, f->req), -EINVAL);
	/* exactly a full ring is fine */
	set_avail_idx(f, QSIZE);
	while (virtq_pop(&f->q, f->req) == 1)
		n++;
	assert_int_equal(n, QSIZE);
	/* moving backwards is a jump of almost 65536 */
	set_avail_idx(f, QSIZE - 1);
	assert_int_equal(virtq_pop(&f->q, f->req), -EINVAL);
}

static void push_n(struct fx *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		desc(f, 0, DATA_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
		avail_add(f, 0);
		assert_int_equal(virtq_pop(&f->q, f->req), 1);
		virtq_push(&f->q, f->req, 8);
	}
}

static void test_interrupt_no_interrupt_flag(void **state)
{
	struct fx *f = *state;

	fx_enable(f, false, false);
	assert_false(virtq_needs_interrupt(&f->q)); /* nothing pushed */
	push_n(f, 1);
	assert_true(virtq_needs_interrupt(&f->q));
	assert_false(virtq_needs_interrupt(&f->q)); /* the count was reset */
	put16(f, AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT);
	push_n(f, 2);
	assert_false(virtq_needs_interrupt(&f->q));
	put16(f, AVAIL_GPA, 0);
	push_n(f, 1);
	assert_true(virtq_needs_interrupt(&f->q));
}

static void test_interrupt_event_idx(void **state)
{
	struct fx *f = *state;
	const uint64_t used_event = AVAIL_GPA + 4 + 2 * QSIZE;

	fx_enable(f, true, false);
	/* the flag means nothing with EVENT_IDX; used_event 0: interrupt when idx goes 0 -> 1 */
	put16(f, AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT);
	push_n(f, 1);
	assert_true(virtq_needs_interrupt(&f->q));
	/* wants to hear when entry 5 is used: 1 -> 3 no, 3 -> 6 yes */
	put16(f, used_event, 5);
	push_n(f, 2);
	assert_false(virtq_needs_interrupt(&f->q));
	push_n(f, 3);
	assert_true(virtq_needs_interrupt(&f->q));
	/* event already behind us: no more interrupts */
	push_n(f, 4);
	assert_false(virtq_needs_interrupt(&f->q));
	/* crossing exactly onto event + 1 */
	put16(f, used_event, 10);
	push_n(f, 1);
	assert_true(virtq_needs_interrupt(&f->q));
}

static void test_enable_rejects(void **state)
{
	struct fx *f = *state;
	static const uint16_t bad_sizes[] = { 0, 3, 12, 512 };

	for (unsigned i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
		f->q.size = bad_sizes[i];
		assert_int_equal(virtq_enable(&f->q, f->gm, false, false), -EINVAL);
		assert_false(f->q.enabled);
	}
	f->q.size = 256; /* max_size */
	assert_int_equal(virtq_enable(&f->q, f->gm, false, false), 0);
	f->q.size = 1;
	assert_int_equal(virtq_enable(&f->q, f->gm, false, false), 0);

	f->q.size = QSIZE;
	f->q.desc_gpa = DESC_GPA + 8;
	assert_int_equal(virtq_enable(&f->q, f->gm, false, false), -EINVAL);
	assert_false(f->q.enabled);
	assert_false(virtq_has_avail(&f->q));
	assert_int_equal(virtq_pop(&f->q, f->req), 0);
	f->q.desc_gpa = DESC_GPA;
	f->q.avail_gpa = AVAIL_GPA + 1;
	assert_int_equal(virtq_enable(&f->q, f->gm, false, false), -EINVAL);
	f->q.avail_gpa = AVAIL_GPA;
	f->q.used_gpa = USED_GPA + 2;
	assert_int_equal(virtq_enable(&f->q, f->gm, false, false), -EINVAL);
	/* a used ring (4 + 8*16 + 2 bytes) one byte over the end of RAM, in the hole, beyond */
	f->q.used_gpa = RAM0_SIZE - 132;
	assert_int_equal(virtq_enable(&f->q, f->gm, false, false), -EINVAL);
	f->q.used_gpa = RAM0_SIZE - 136;
	assert_int_equal(virtq_enable(&f->q, f->gm, false, false), 0);
	f->q.used_gpa = USED_GPA;
	f->q.desc_gpa = 0x200000;
	assert_int_equal(virtq_enable(&f->q, f->gm, false, false), -EINVAL);
	f->q.desc_gpa = ~0xfULL;
	assert_int_equal(virtq_enable(&f->q, f->gm, false, false), -EINVAL);
	f->q.desc_gpa = RAM1_GPA; /* rings may live in any region */
	assert_int_equal(virtq_enable(&f->q, f->gm, false, false), 0);
	assert_true(f->q.enabled);

	virtq_reset(&f->q);
	assert_false(f->q.enabled);
	assert_int_equal(f->q.size, 256);
	assert_int_equal(f->q.last_avail, 0);
}

static void test_notify_suppression(void **state)
{
	struct fx *f = *state;
	const uint64_t avail_event = USED_GPA + 4 + 8 * QSIZE;

	fx_enable(f, false, false);
	virtq_disable_notify(&f->q);
	assert_int_equal(get16(f, USED_GPA), VIRTQ_USED_F_NO_NOTIFY);
	assert_false(virtq_enable_notify(&f->q));
	assert_int_equal(get16(f, USED_GPA), 0);
	desc(f, 0, DATA_GPA, 8, 0, 0);
	avail_add(f, 0);
	virtq_disable_notify(&f->q);
	assert_true(virtq_enable_notify(&f->q)); /* arrived meanwhile: poll again */

	fx_reenable(f, true, false);
	push_n(f, 3);
	put16(f, avail_event, 0xbeef);
	assert_false(virtq_enable_notify(&f->q));
	assert_int_equal(get16(f, avail_event), 3); /* kick me when entry 3 arrives */
	avail_add(f, 0);
	assert_true(virtq_enable_notify(&f->q));
}

static void test_req_copy(void **state)
{
	struct fx *f = *state;
	uint8_t src[64], dst[64], back[64];

	for (unsigned i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7 + 1);
	fx_enable(f, false, false);
	assert_int_equal(gmem_write(f->gm, DATA_GPA, src, 5), 0);
	assert_int_equal(gmem_write(f->gm, RAM1_GPA, src + 5, 10), 0);
	desc(f, 0, DATA_GPA, 5, VIRTQ_DESC_F_NEXT, 1);
	desc(f, 1, RAM1_GPA, 10, VIRTQ_DESC_F_NEXT, 2);
	desc(f, 2, DATA_GPA + 0x100, 3, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 3);
	desc(f, 3, DATA_GPA + 0x200, 6, VIRTQ_DESC_F_WRITE, 0);
	avail_add(f, 0);
	assert_int_equal(virtq_pop(&f->q, f->req), 1);

	memset(dst, 0, sizeof(dst));
	assert_int_equal(virtq_req_read(f->req, 0, dst, sizeof(dst)), 15);
	assert_memory_equal(dst, src, 15);
	assert_int_equal(virtq_req_read(f->req, 3, dst, 4), 4); /* spans the two buffers */
	assert_memory_equal(dst, src + 3, 4);
	assert_int_equal(virtq_req_read(f->req, 14, dst, 8), 1);
	assert_int_equal(dst[0], src[14]);
	assert_int_equal(virtq_req_read(f->req, 15, dst, 8), 0);
	assert_int_equal(virtq_req_read(f->req, 1000, dst, 8), 0);

	/* writes go to the writable buffers only: 3 + 6 bytes */
	assert_int_equal(virtq_req_write(f->req, 1, src, 64), 8);
	assert_int_equal(gmem_read(f->gm, DATA_GPA + 0x101, back, 2), 0);
	assert_memory_equal(back, src, 2);
	assert_int_equal(gmem_read(f->gm, DATA_GPA + 0x200, back, 6), 0);
	assert_memory_equal(back, src + 2, 6);
	assert_int_equal(gmem_read(f->gm, DATA_GPA + 0x206, back, 1), 0);
	assert_int_equal(back[0], 0); /* nothing past the last buffer */
	assert_int_equal(virtq_req_write(f->req, 9, src, 1), 0);
	/* the readable buffers were not touched */
	assert_int_equal(gmem_read(f->gm, DATA_GPA, back, 5), 0);
	assert_memory_equal(back, src, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
		T(test_single_buffer),
		T(test_out_in_chain),
		T(test_full_length_chain),
		T(test_loops),
		T(test_chain_longer_than_queue),
		T(test_index_out_of_range),
		T(test_indirect_valid),
		T(test_indirect_invalid),
		T(test_buffers_outside_ram),
		T(test_total_length_over_4g),
		T(test_zero_length_buffers),
		T(test_readable_after_writable),
		T(test_index_wraparound),
		T(test_avail_idx_jump),
		T(test_interrupt_no_interrupt_flag),
		T(test_interrupt_event_idx),
		T(test_enable_rejects),
		T(test_notify_suppression),
		T(test_req_copy),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
