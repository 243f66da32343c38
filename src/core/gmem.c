#include "core/gmem.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#define PAGE_MASK 0xfffULL

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

int gmem_create(struct gmem **out)
{
	struct gmem *gm = calloc(1, sizeof(*gm));

	if (!gm)
		return -ENOMEM;
	*out = gm;
	return 0;
}

void gmem_set_shared(struct gmem *gm, bool shared)
{
	gm->shared = shared;
}

void gmem_destroy(struct gmem *gm)
{
	if (!gm)
		return;
	for (unsigned i = 0; i < gm->nr_regions; i++) {
		munmap(gm->regions[i].hva, gm->regions[i].size);
		if (gm->regions[i].fd >= 0)
			close(gm->regions[i].fd);
	}
	free(gm);
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

int gmem_add_region(struct gmem *gm, uint64_t gpa, uint64_t size)
{
	struct gmem_region *r;
	void *hva;
	int fd, ret;

	if (!size || (gpa | size) & PAGE_MASK || gpa + size < gpa)
		return -EINVAL;
	if (gm->nr_regions == GMEM_MAX_REGIONS)
		return -ENOSPC;
	for (unsigned i = 0; i < gm->nr_regions; i++)
		if (ranges_overlap(gpa, size, gm->regions[i].gpa, gm->regions[i].size))
			return -EINVAL;

	if (gm->shared) {
		fd = memfd_create("bothy-ram", MFD_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (ftruncate(fd, (off_t)size) < 0) {
			ret = -errno;
			goto close_fd;
		}
		hva = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	} else {
		fd = -1;
		hva = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		/* Name it in /proc/PID/maps as the memfd would be (best effort: 5.17+). */
		if (hva != MAP_FAILED)
			prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)hva, size, "bothy-ram");
	}
	if (hva == MAP_FAILED) {
		ret = -errno;
		goto close_fd;
	}
	/* Guest RAM is large and not worth a core dump; huge pages spare the TLB and NPT faults. */
	madvise(hva, size, MADV_DONTDUMP);
	madvise(hva, size, MADV_HUGEPAGE);

	r = &gm->regions[gm->nr_regions++];
	r->gpa = gpa;
	r->size = size;
	r->hva = hva;
	r->fd = fd;
	gm->ram_size += size;
	return 0;

close_fd:
	if (fd >= 0)
		close(fd);
	return ret;
}

void *gmem_ptr(const struct gmem *gm, uint64_t gpa, size_t len)
{
	for (unsigned i = 0; i < gm->nr_regions; i++) {
		const struct gmem_region *r = &gm->regions[i];

		if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
			return r->hva + (gpa - r->gpa);
	}
	return NULL;
}

int gmem_read(const struct gmem *gm, uint64_t gpa, void *buf, size_t len)
{
	const void *p = gmem_ptr(gm, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(buf, p, len);
	return 0;
}

int gmem_write(struct gmem *gm, uint64_t gpa, const void *buf, size_t len)
{
	void *p = gmem_ptr(gm, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(p, buf, len);
	return 0;
}

int gmem_fill(struct gmem *gm, uint64_t gpa, int byte, size_t len)
{
	void *p = gmem_ptr(gm, gpa, len);

	if (!p)
		return -EFAULT;
	memset(p, byte, len);
	return 0;
}

int gmem_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	case '\0': break;
	default: return -EINVAL;
	}
	if (*end == 'i' && shift)
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end)
		return -EINVAL;
	if (shift && v > (~0ULL >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}
