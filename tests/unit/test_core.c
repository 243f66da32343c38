/* Guest memory, buses and the ordered setup table. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/bus.h"
#include "core/gmem.h"
#include "core/setup.h"

static void test_gmem_regions_and_bounds(void **state)
{
	struct gmem *gm;
	uint8_t buf[16] = { 1, 2, 3, 4 }, back[16];

	(void)state;
	assert_int_equal(gmem_create(&gm), 0);
	assert_int_equal(gmem_add_region(gm, 0, 1 << 20), 0);
	assert_int_equal(gmem_add_region(gm, 4ULL << 30, 2 << 20), 0);
	assert_int_equal(gm->ram_size, 3 << 20);

	/* overlap, misalignment, empty, wrap */
	assert_int_equal(gmem_add_region(gm, 0x80000, 1 << 20), -EINVAL);
	assert_int_equal(gmem_add_region(gm, 0x200001, 4096), -EINVAL);
	assert_int_equal(gmem_add_region(gm, 0x200000, 0), -EINVAL);
	assert_int_equal(gmem_add_region(gm, ~0xfffULL, 0x2000), -EINVAL);

	assert_int_equal(gmem_write(gm, 0x1000, buf, sizeof(buf)), 0);
	assert_int_equal(gmem_read(gm, 0x1000, back, sizeof(back)), 0);
	assert_memory_equal(buf, back, sizeof(buf));
	/* last bytes of a region are reachable; one past is not */
	assert_int_equal(gmem_write(gm, (1 << 20) - 16, buf, 16), 0);
	assert_int_equal(gmem_write(gm, (1 << 20) - 15, buf, 16), -EFAULT);
	/* the hole between regions and far beyond */
	assert_null(gmem_ptr(gm, 2 << 20, 1));
	assert_null(gmem_ptr(gm, ~0ULL - 4, 8));
	assert_null(gmem_ptr(gm, 0, (size_t)-1));
	assert_non_null(gmem_ptr(gm, (4ULL << 30) + (2 << 20) - 1, 1));
	assert_null(gmem_ptr(gm, (4ULL << 30) + (2 << 20), 1));
	/* a range may not span two regions even if both exist */
	assert_int_equal(gmem_fill(gm, (1 << 20) - 8, 0, 16), -EFAULT);
	gmem_destroy(gm);
	gmem_destroy(NULL);
}

static void test_gmem_shared_regions_are_memfds(void **state)
{
	struct gmem *gm;
	uint32_t v = 0x12345678, back = 0;

	(void)state;
	assert_int_equal(gmem_create(&gm), 0);
	assert_int_equal(gmem_add_region(gm, 0, 1 << 20), 0);
	assert_int_equal(gm->regions[0].fd, -1);
	gmem_set_shared(gm, true);
	assert_int_equal(gmem_add_region(gm, 1 << 20, 1 << 20), 0);
	assert_true(gm->regions[1].fd >= 0);
	/* the memfd sees what the guest wrote: another process could map it */
	assert_int_equal(gmem_write(gm, (1 << 20) + 8, &v, 4), 0);
	assert_int_equal(pread(gm->regions[1].fd, &back, 4, 8), 4);
	assert_int_equal(back, v);
	gmem_destroy(gm);
}

static void test_gmem_parse_size(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(gmem_parse_size("512M", &v), 0);
	assert_int_equal(v, 512ULL << 20);
	assert_int_equal(gmem_parse_size("2G", &v), 0);
	assert_int_equal(v, 2ULL << 30);
	assert_int_equal(gmem_parse_size("64MiB", &v), 0);
	assert_int_equal(v, 64ULL << 20);
	assert_int_equal(gmem_parse_size("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(gmem_parse_size("", &v), -EINVAL);
	assert_int_equal(gmem_parse_size("-1G", &v), -EINVAL);
	assert_int_equal(gmem_parse_size("12X", &v), -EINVAL);
	assert_int_equal(gmem_parse_size("1G2", &v), -EINVAL);
	assert_int_equal(gmem_parse_size("99999999999999999999", &v), -EINVAL);
	assert_int_equal(gmem_parse_size("17179869184T", &v), -ERANGE);
}

struct dev {
	uint64_t last_off;
	uint8_t last_val;
	unsigned reads, writes;
};

static void dev_read(void *opaque, uint64_t off, void *data, unsigned size)
{
	struct dev *d = opaque;

	d->reads++;
	d->last_off = off;
	memset(data, 0x5a, size);
}

static void dev_write(void *opaque, uint64_t off, const void *data, unsigned size)
{
	struct dev *d = opaque;

	(void)size;
	d->writes++;
	d->last_off = off;
	d->last_val = *(const uint8_t *)data;
}

static const struct bus_device_ops dev_ops = { dev_read, dev_write };

static void test_bus_dispatch(void **state)
{
	struct bus bus;
	struct dev a = { 0 }, b = { 0 };
	uint32_t v = 0;
	uint8_t w = 7;

	(void)state;
	bus_init(&bus, "test");
	assert_int_equal(bus_register(&bus, 0x3f8, 8, &dev_ops, &a, "a"), 0);
	assert_int_equal(bus_register(&bus, 0x60, 1, &dev_ops, &b, "b"), 0);
	assert_int_equal(bus_register(&bus, 0x3f0, 9, &dev_ops, &b, "overlap"), -EEXIST);
	assert_int_equal(bus_register(&bus, 0x3ff, 1, &dev_ops, &b, "overlap"), -EEXIST);
	assert_int_equal(bus_register(&bus, 0x100, 0, &dev_ops, &b, "empty"), -EINVAL);
	assert_int_equal(bus_register(&bus, ~0ULL, 2, &dev_ops, &b, "wrap"), -EINVAL);
	assert_int_equal(bus_register(&bus, 0x400, 1, &dev_ops, &b, "after"), 0);

	assert_true(bus_access(&bus, 0x3fd, false, &v, 1));
	assert_int_equal(a.last_off, 5);
	assert_int_equal(v & 0xff, 0x5a);
	assert_true(bus_access(&bus, 0x60, true, &w, 1));
	assert_int_equal(b.last_val, 7);

	/* unclaimed: reads float high, writes vanish */
	v = 0;
	assert_false(bus_access(&bus, 0x500, false, &v, 4));
	assert_int_equal(v, 0xffffffff);
	/* an access straddling the end of a device is not delivered to it */
	a.reads = 0;
	assert_false(bus_access(&bus, 0x3fe, false, &v, 4));
	assert_int_equal(a.reads, 0);

	/* every access is counted, per device and unclaimed */
	{
		char *txt = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&txt, &len);

		assert_non_null(f);
		bus_print_stats(&bus, f);
		fclose(f);
		assert_non_null(strstr(txt, "test a 0x3f8+8: 1\n"));
		assert_non_null(strstr(txt, "test b 0x60+1: 1\n"));
		assert_non_null(strstr(txt, "test unclaimed: 2\n"));
		assert_null(strstr(txt, "after"));
		free(txt);
	}

	/* unregistering frees the range and keeps the others in order */
	assert_int_equal(bus_unregister(&bus, 0x3f9), -ENOENT);
	assert_int_equal(bus_unregister(&bus, 0x3f8), 0);
	assert_false(bus_access(&bus, 0x3fd, false, &v, 1));
	assert_true(bus_access(&bus, 0x400, true, &w, 1));
	assert_true(bus_access(&bus, 0x60, true, &w, 1));
	assert_int_equal(bus_register(&bus, 0x3f0, 9, &dev_ops, &a, "a again"), 0);
}

static int calls[8], order_pos;
static int order[16];

static int step_ok(void *ctx)
{
	int i = *(int *)ctx;

	order[order_pos++] = i;
	calls[i]++;
	(*(int *)ctx)++;
	return 0;
}

static int step_fail(void *ctx)
{
	(void)ctx;
	return -ENOSPC;
}

static void undo(void *ctx)
{
	int i = --(*(int *)ctx);

	order[order_pos++] = 100 + i;
}

static void test_setup_unwinds_in_reverse(void **state)
{
	const struct setup_step steps[] = {
		{ "a", step_ok, undo },
		{ "b", step_ok, NULL },
		{ "c", step_ok, undo },
		{ "d", step_fail, undo },
		{ "e", step_ok, undo },
	};
	const char *failed = NULL;
	int ctx = 0;

	(void)state;
	order_pos = 0;
	assert_int_equal(setup_run(steps, 5, &ctx, &failed), -ENOSPC);
	assert_string_equal(failed, "d");
	/* a b c ran, then c and a were undone (b has nothing to undo), e never ran */
	assert_int_equal(order_pos, 5);
	assert_int_equal(order[0], 0);
	assert_int_equal(order[1], 1);
	assert_int_equal(order[2], 2);
	assert_int_equal(order[3], 102);
	assert_int_equal(order[4], 101);

	ctx = 0;
	order_pos = 0;
	assert_int_equal(setup_run(steps, 3, &ctx, &failed), 0);
	assert_null(failed);
	setup_unwind(steps, 3, &ctx);
	assert_int_equal(ctx, 1); /* b has no fini: two undos from 3 */
}

static int step_positive(void *ctx)
{
	(void)ctx;
	return 1;
}

static void test_setup_positive_return_is_failure(void **state)
{
	const struct setup_step steps[] = { { "bad", step_positive, NULL } };
	const char *failed;

	(void)state;
	assert_int_equal(setup_run(steps, 1, NULL, &failed), -EIO);
	assert_string_equal(failed, "bad");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gmem_regions_and_bounds),
		cmocka_unit_test(test_gmem_shared_regions_are_memfds),
		cmocka_unit_test(test_gmem_parse_size),
		cmocka_unit_test(test_bus_dispatch),
		cmocka_unit_test(test_setup_unwinds_in_reverse),
		cmocka_unit_test(test_setup_positive_return_is_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
