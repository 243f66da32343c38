/*
 * Address-space dispatch for exits: one bus for x86 port I/O, one for MMIO.
 * Devices are registered while the VM is being built and the set is fixed
 * once vCPUs run, so lookups take no lock; each device serialises itself.
 */
#ifndef BOTHY_CORE_BUS_H
#define BOTHY_CORE_BUS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct bus_device_ops {
	/* @offset is relative to the registered base; @size is 1, 2, 4 or 8. */
	void (*read)(void *opaque, uint64_t offset, void *data, unsigned size);
	void (*write)(void *opaque, uint64_t offset, const void *data, unsigned size);
};

struct bus_range {
	uint64_t base, len;
	const struct bus_device_ops *ops;
	void *opaque;
	const char *name;
	unsigned long accesses; /* counted by bus_access (relaxed atomics: vCPUs share it) */
};

#define BUS_MAX_RANGES 64

struct bus {
	const char *name;
	struct bus_range ranges[BUS_MAX_RANGES]; /* sorted by base, disjoint */
	unsigned nr_ranges;
	unsigned long unclaimed; /* accesses no device took */
};

void bus_init(struct bus *bus, const char *name);
/* -EINVAL for an empty/wrapping range, -EEXIST on overlap, -ENOSPC when full. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_device_ops *ops,
		 void *opaque, const char *name);
/* Removes the range registered at @base (before vCPUs run or after they stopped); -ENOENT if none. */
int bus_unregister(struct bus *bus, uint64_t base);
const struct bus_range *bus_find(const struct bus *bus, uint64_t addr);
/*
 * Performs one access and counts it. Reads of unclaimed addresses return
 * all-ones, writes are dropped, as on real buses. Returns false if nothing
 * claimed @addr.
 */
bool bus_access(struct bus *bus, uint64_t addr, bool write, void *data, unsigned size);
/* One line per device that was accessed, and the unclaimed count: "pio uart 0x3f8+8: 1234". */
void bus_print_stats(const struct bus *bus, FILE *out);

#endif
