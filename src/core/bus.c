#include "core/bus.h"

#include <errno.h>
#include <string.h>

void bus_init(struct bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_device_ops *ops,
		 void *opaque, const char *name)
{
	unsigned pos = 0;

	if (!len || base + len - 1 < base || !ops)
		return -EINVAL;
	if (bus->nr_ranges == BUS_MAX_RANGES)
		return -ENOSPC;
	while (pos < bus->nr_ranges && bus->ranges[pos].base < base)
		pos++;
	if (pos > 0) {
		const struct bus_range *prev = &bus->ranges[pos - 1];

		if (prev->base + prev->len > base)
			return -EEXIST;
	}
	if (pos < bus->nr_ranges && base + len > bus->ranges[pos].base)
		return -EEXIST;
	memmove(&bus->ranges[pos + 1], &bus->ranges[pos],
		(bus->nr_ranges - pos) * sizeof(bus->ranges[0]));
	bus->ranges[pos] = (struct bus_range){ base, len, ops, opaque, name, 0 };
	bus->nr_ranges++;
	return 0;
}

int bus_unregister(struct bus *bus, uint64_t base)
{
	for (unsigned i = 0; i < bus->nr_ranges; i++) {
		if (bus->ranges[i].base != base)
			continue;
		memmove(&bus->ranges[i], &bus->ranges[i + 1], (bus->nr_ranges - i - 1) * sizeof(bus->ranges[0]));
		bus->nr_ranges--;
		return 0;
	}
	return -ENOENT;
}

const struct bus_range *bus_find(const struct bus *bus, uint64_t addr)
{
	unsigned lo = 0, hi = bus->nr_ranges;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const struct bus_range *r = &bus->ranges[mid];

		if (addr < r->base)
			hi = mid;
		else if (addr - r->base >= r->len)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

bool bus_access(struct bus *bus, uint64_t addr, bool write, void *data, unsigned size)
{
	struct bus_range *r = (struct bus_range *)bus_find(bus, addr); /* the bus is ours to count in */

	/* An access must lie wholly inside the device it starts in. */
	if (!r || size > r->len - (addr - r->base)) {
		__atomic_fetch_add(&bus->unclaimed, 1, __ATOMIC_RELAXED);
		if (!write)
			memset(data, 0xff, size);
		return false;
	}
	__atomic_fetch_add(&r->accesses, 1, __ATOMIC_RELAXED);
	if (write) {
		if (r->ops->write)
			r->ops->write(r->opaque, addr - r->base, data, size);
	} else if (r->ops->read) {
		r->ops->read(r->opaque, addr - r->base, data, size);
	} else {
		memset(data, 0xff, size);
	}
	return true;
}

void bus_print_stats(const struct bus *bus, FILE *out)
{
	for (unsigned i = 0; i < bus->nr_ranges; i++) {
		const struct bus_range *r = &bus->ranges[i];
		unsigned long n = __atomic_load_n(&r->accesses, __ATOMIC_RELAXED);

		if (n)
			fprintf(out, "%s %s 0x%llx+%llu: %lu\n", bus->name, r->name ? r->name : "?",
				(unsigned long long)r->base, (unsigned long long)r->len, n);
	}
	if (__atomic_load_n(&bus->unclaimed, __ATOMIC_RELAXED))
		fprintf(out, "%s unclaimed: %lu\n", bus->name, __atomic_load_n(&bus->unclaimed, __ATOMIC_RELAXED));
}
