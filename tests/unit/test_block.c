/*
 * The raw image backend's vectored reads (backends/block.c) as virtio-blk makes them: one large
 * buffer, Linux's pages, odd sizes with an empty buffer among them, at odd offsets. Every layout
 * must read exactly the file's bytes, and a read past the end of the file is EIO.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/block.h"

#define IMAGE_BYTES (4u << 20)

struct fixture {
	char path[64];
	struct block *b;
	uint8_t *buf;
};

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off * 131 + (off >> 12) * 7 + 1);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	uint8_t *data = malloc(IMAGE_BYTES);
	int fd;

	assert_non_null(f);
	assert_non_null(data);
	snprintf(f->path, sizeof(f->path), "/tmp/bothy-test-block.XXXXXX");
	fd = mkstemp(f->path);
	assert_true(fd >= 0);
	for (uint32_t i = 0; i < IMAGE_BYTES; i++)
		data[i] = pattern(i);
	assert_int_equal(write(fd, data, IMAGE_BYTES), IMAGE_BYTES);
	close(fd);
	free(data);
	assert_int_equal(block_open(f->path, false, &f->b), 0);
	f->buf = malloc(IMAGE_BYTES);
	assert_non_null(f->buf);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	block_close(f->b);
	unlink(f->path);
	free(f->buf);
	free(f);
	return 0;
}

/* Reads @total bytes at @off into f->buf through @n buffers of the sizes sizes[i % nsizes]. */
static int read_layout(struct fixture *f, uint64_t off, size_t total, const size_t *sizes, unsigned nsizes)
{
	struct iovec iov[1100];
	unsigned n = 0;
	size_t at = 0;

	while (at < total) {
		size_t len = sizes[n % nsizes];

		if (len > total - at)
			len = total - at;
		assert_true(n < sizeof(iov) / sizeof(iov[0]));
		iov[n++] = (struct iovec){ f->buf + at, len };
		at += len;
	}
	memset(f->buf, 0, total);
	return block_readv(f->b, iov, n, off);
}

static void assert_pattern(const struct fixture *f, uint64_t off, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (f->buf[i] != pattern(off + i))
			fail_msg("byte %zu of the read at %llu: 0x%02x, want 0x%02x", i, (unsigned long long)off,
				 f->buf[i], pattern(off + i));
}

static void test_one_buffer(void **state)
{
	struct fixture *f = *state;
	const size_t one[] = { 1u << 20 };

	/* One 1 MiB buffer. */
	assert_int_equal(read_layout(f, 4096, 1u << 20, one, 1), 0);
	assert_pattern(f, 4096, 1u << 20);
}

static void test_pages(void **state)
{
	struct fixture *f = *state;
	const size_t page[] = { 4096 };

	/* Linux's usual 1 MiB request: 256 pages. */
	assert_int_equal(read_layout(f, 1u << 20, 1u << 20, page, 1), 0);
	assert_pattern(f, 1u << 20, 1u << 20);
}

static void test_odd_sizes(void **state)
{
	struct fixture *f = *state;
	const size_t odd[] = { 1, 4095, 513, 7000, 0, 4097, 511, 12345 };

	/* Odd sizes, an empty buffer among them, odd totals and offsets. */
	for (size_t total = 256u << 10; total <= (768u << 10) + 3; total += (128u << 10) + 1) {
		uint64_t off = 512 + total % 4096;

		assert_int_equal(read_layout(f, off, total, odd, 8), 0);
		assert_pattern(f, off, total);
	}
}

static void test_small_read(void **state)
{
	struct fixture *f = *state;
	const size_t page[] = { 4096 };

	assert_int_equal(read_layout(f, 8192, 64u << 10, page, 1), 0);
	assert_pattern(f, 8192, 64u << 10);
}

static void test_past_eof(void **state)
{
	struct fixture *f = *state;
	const size_t page[] = { 4096 };

	/* The read runs past the end of the file (it shrank): EIO, not a short read... */
	assert_int_equal(read_layout(f, IMAGE_BYTES - (384u << 10), 512u << 10, page, 1), -EIO);
	/* ...and the backend still reads afterwards. */
	assert_int_equal(read_layout(f, 0, 512u << 10, page, 1), 0);
	assert_pattern(f, 0, 512u << 10);
}

static void test_many_reads(void **state)
{
	struct fixture *f = *state;
	const size_t sizes[] = { 4096, 8192, 2048 };

	for (unsigned i = 0; i < 64; i++) {
		uint64_t off = (uint64_t)(i % 8) * 393216;

		assert_int_equal(read_layout(f, off, 300u << 10, sizes, 3), 0);
		assert_pattern(f, off, 300u << 10);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_one_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_small_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_past_eof, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_reads, setup, teardown),
	};

	return cmocka_run_group_tests_name("block", tests, NULL, NULL);
}
