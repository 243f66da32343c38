/*
 * libFuzzer target: the split-virtqueue parser against a guest that writes
 * anything into its rings. The input picks the queue configuration and
 * fills guest RAM; the target pops and pushes until the queue is empty or
 * the parser reports a violation, checking that every request it hands out
 * lies inside guest RAM and stays within its bounds.
 *
 * Input layout:
 *   [0]     bit 0 EVENT_IDX, bit 1 INDIRECT_DESC, bits 2-5 log2(queue size) (mod 11)
 *   [1..2]  desc gpa (le16 & 0x7fff)      [3..4] avail gpa      [5..6] used gpa
 *   [7]     device behaviour seed (written lengths, copy offsets, notify calls)
 *   [8..]   guest RAM: region 0 (RAM0_SIZE) then region 1 (RAM1_SIZE), zero-filled past the input
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gmem.h"
#include "devices/virtio/queue.h"

#define HDR_SIZE 8
#define RAM0_GPA 0x0ULL
#define RAM0_SIZE 0x4000ULL    /* 16 KiB; ring addresses are 15-bit: half inside, half past the end */
#define RAM1_GPA 0x20000ULL    /* a second region behind a hole, for buffers that straddle */
#define RAM1_SIZE 0x1000ULL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                               \
	do {                                                                      \
		if (!(cond)) {                                                    \
			fprintf(stderr, "fuzz_virtq: invariant failed: %s (line %d)\n", #cond, __LINE__); \
			abort();                                                  \
		}                                                                 \
	} while (0)

/* Region backing is malloc'd at its exact size so ASan's redzones catch any stray access. */
static uint8_t *ram0, *ram1;
static struct virtq_req *req;

static bool iov_inside(const struct iovec *v)
{
	uintptr_t b = (uintptr_t)v->iov_base;

	if (b >= (uintptr_t)ram0 && b - (uintptr_t)ram0 < RAM0_SIZE)
		return v->iov_len <= RAM0_SIZE - (b - (uintptr_t)ram0);
	if (b >= (uintptr_t)ram1 && b - (uintptr_t)ram1 < RAM1_SIZE)
		return v->iov_len <= RAM1_SIZE - (b - (uintptr_t)ram1);
	return false;
}

static void check_req(const struct virtq *q)
{
	size_t out = 0, in = 0;

	CHECK(req->head < q->size);
	CHECK(req->nr_out <= VIRTQ_MAX_CHAIN && req->nr_in <= VIRTQ_MAX_CHAIN);
	CHECK(req->nr_out + req->nr_in <= VIRTQ_MAX_CHAIN);
	for (unsigned i = 0; i < req->nr_out + req->nr_in; i++) {
		CHECK(req->iov[i].iov_len > 0);
		CHECK(iov_inside(&req->iov[i]));
		if (i < req->nr_out)
			out += req->iov[i].iov_len;
		else
			in += req->iov[i].iov_len;
	}
	CHECK(out == req->out_len && in == req->in_len);
	CHECK(out <= UINT32_MAX && in <= UINT32_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gmem gm = { 0 };
	struct virtq q;
	uint8_t seed, scratch[256];
	unsigned rounds = 0;
	size_t n;
	int ret;

	if (size < HDR_SIZE)
		return 0;
	if (!ram0) {
		ram0 = malloc(RAM0_SIZE);
		ram1 = malloc(RAM1_SIZE);
		req = malloc(sizeof(*req));
		CHECK(ram0 && ram1 && req);
	}
	/* guest RAM from the input, zeroes after it */
	n = size - HDR_SIZE < RAM0_SIZE ? size - HDR_SIZE : RAM0_SIZE;
	memcpy(ram0, data + HDR_SIZE, n);
	memset(ram0 + n, 0, RAM0_SIZE - n);
	memset(ram1, 0, RAM1_SIZE);
	if (size - HDR_SIZE > RAM0_SIZE) {
		n = size - HDR_SIZE - RAM0_SIZE < RAM1_SIZE ? size - HDR_SIZE - RAM0_SIZE : RAM1_SIZE;
		memcpy(ram1, data + HDR_SIZE + RAM0_SIZE, n);
	}
	gm.regions[0] = (struct gmem_region){ .gpa = RAM0_GPA, .size = RAM0_SIZE, .hva = ram0, .fd = -1 };
	gm.regions[1] = (struct gmem_region){ .gpa = RAM1_GPA, .size = RAM1_SIZE, .hva = ram1, .fd = -1 };
	gm.nr_regions = 2;
	gm.ram_size = RAM0_SIZE + RAM1_SIZE;

	virtq_init(&q, 256);
	/* sizes 1..1024 (over the maximum is the driver's mistake too) */
	q.size = (uint16_t)(1u << ((data[0] >> 2) % 11));
	q.desc_gpa = (data[1] | (uint64_t)data[2] << 8) & 0x7fff;
	q.avail_gpa = (data[3] | (uint64_t)data[4] << 8) & 0x7fff;
	q.used_gpa = (data[5] | (uint64_t)data[6] << 8) & 0x7fff;
	seed = data[7];
	if (virtq_enable(&q, &gm, data[0] & 1, data[0] & 2) < 0)
		return 0;
	CHECK(q.enabled && q.size <= q.max_size);

	/* A well-behaved device: pop until empty or broken, bounded in case
	 * the requests' own writes keep refilling the ring. */
	while (rounds++ < 4u * q.size + 4) {
		bool had_avail = virtq_has_avail(&q);

		ret = virtq_pop(&q, req);
		CHECK(ret == -EINVAL || ret == 0 || ret == 1);
		if (ret < 0)
			break;
		if (ret == 0) {
			CHECK(!had_avail); /* nothing else touched the ring in between */
			if (!virtq_enable_notify(&q))
				break;
			continue;
		}
		check_req(&q);
		/* copies through the parsed buffers, at seed-chosen offsets */
		n = virtq_req_read(req, seed % 64, scratch, sizeof(scratch));
		CHECK(n <= sizeof(scratch) && n <= req->out_len);
		n = virtq_req_write(req, seed % 32, scratch, seed);
		CHECK(n <= seed && n <= req->in_len);
		virtq_push(&q, req, (uint32_t)n + (seed & 0x80 ? 0x10000 : 0));
		if (seed & 1)
			virtq_disable_notify(&q);
		if (seed & 2)
			(void)virtq_needs_interrupt(&q);
		seed = (uint8_t)(seed * 37 + 11);
	}
	(void)virtq_needs_interrupt(&q);
	virtq_reset(&q);
	CHECK(!q.enabled && !virtq_has_avail(&q));
	return 0;
}
