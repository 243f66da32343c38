/*
 * Guest physical memory: a small set of RAM regions, each mapped once into
 * the VMM. Regions are private anonymous memory by default, which transparent
 * huge pages back (a third off a stock kernel's boot under nested KVM, where
 * every guest page fault is costly); "shared" regions are memfds instead, for
 * handing guest RAM to another process (device backends, the resource manager). Every access from device or loader code goes
 * through the bounds-checked accessors below; no raw guest pointer escapes
 * except via gmem_ptr(), which checks the whole [gpa, gpa+len) range.
 */
#ifndef BOTHY_CORE_GMEM_H
#define BOTHY_CORE_GMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GMEM_MAX_REGIONS 8

struct gmem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
	int fd; /* memfd backing a shared region; -1 for anonymous memory */
};

struct gmem {
	struct gmem_region regions[GMEM_MAX_REGIONS];
	unsigned nr_regions;
	uint64_t ram_size; /* sum of region sizes */
	bool shared;       /* new regions are memfd-backed */
};

/* Smallest and largest RAM a VM may have (bytes). */
#define GMEM_MIN_SIZE (4ULL << 20)
#define GMEM_MAX_SIZE (1ULL << 40)

int gmem_create(struct gmem **out);
/* Back regions added from now on with memfds (MAP_SHARED) instead of anonymous memory. */
void gmem_set_shared(struct gmem *gm, bool shared);
void gmem_destroy(struct gmem *gm);

/*
 * Adds a RAM region at @gpa of @size bytes (both page aligned, no overlap
 * with existing regions). Returns 0, -EINVAL, -ENOSPC or an errno from
 * memfd_create/ftruncate/mmap.
 */
int gmem_add_region(struct gmem *gm, uint64_t gpa, uint64_t size);

/* Copy to/from guest RAM. -EFAULT unless [gpa, gpa+len) lies in one region. */
int gmem_read(const struct gmem *gm, uint64_t gpa, void *buf, size_t len);
int gmem_write(struct gmem *gm, uint64_t gpa, const void *buf, size_t len);
int gmem_fill(struct gmem *gm, uint64_t gpa, int byte, size_t len);

/* Host pointer to [gpa, gpa+len) if wholly inside one region, else NULL. */
void *gmem_ptr(const struct gmem *gm, uint64_t gpa, size_t len);

/* Parses "512M", "2G", "1048576"... into bytes; -EINVAL on junk or overflow. */
int gmem_parse_size(const char *s, uint64_t *out);

#endif
