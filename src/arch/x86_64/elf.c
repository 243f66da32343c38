/*
 * PVH ELF loading. The image is an untrusted file: every offset, size and
 * count is checked against the file length and guest RAM, with 64-bit
 * overflow in mind, before anything is copied.
 */
#include "arch/x86_64/elf.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "arch/x86_64/layout.h"

#define FOUR_GIB (1ULL << 32)

/* The headers in one shape, whatever the class. */
struct elf_info {
	int is64;
	uint64_t phoff, shoff;
	unsigned phentsize, phnum, shentsize, shnum;
};

struct elf_range {
	uint32_t type;
	uint64_t offset, filesz, align;
	uint64_t paddr, memsz; /* program headers only */
};

int x86_elf_probe(const uint8_t *img, size_t len)
{
	return img && len >= 4 && memcmp(img, "\x7f" "ELF", 4) == 0;
}

/* Is [off, off + size) inside a file of @len bytes? */
static int in_file(uint64_t off, uint64_t size, size_t len)
{
	return off <= len && size <= len - off;
}

static int elf_read_ehdr(const uint8_t *img, size_t len, struct elf_info *e, char *err, size_t errlen)
{
	uint16_t type, machine;

	if (len < ELF_EI_NIDENT) {
		x86_boot_set_error(err, errlen, "truncated ELF: %zu bytes", len);
		return -ENOEXEC;
	}
	e->is64 = img[ELF_EI_CLASS] == ELF_CLASS64;
	if (img[ELF_EI_CLASS] != ELF_CLASS32 && !e->is64) {
		x86_boot_set_error(err, errlen, "ELF class %u is neither 32- nor 64-bit", img[ELF_EI_CLASS]);
		return -ENOEXEC;
	}
	if (img[ELF_EI_DATA] != ELF_DATA2LSB || img[ELF_EI_VERSION] != ELF_EV_CURRENT) {
		x86_boot_set_error(err, errlen, "not a little-endian version 1 ELF file");
		return -ENOEXEC;
	}
	if (e->is64) {
		struct elf64_ehdr h;

		if (len < sizeof(h)) {
			x86_boot_set_error(err, errlen, "truncated ELF: %zu bytes, header needs %zu", len, sizeof(h));
			return -ENOEXEC;
		}
		memcpy(&h, img, sizeof(h));
		type = h.e_type;
		machine = h.e_machine;
		*e = (struct elf_info){ 1, h.e_phoff, h.e_shoff, h.e_phentsize, h.e_phnum, h.e_shentsize, h.e_shnum };
	} else {
		struct elf32_ehdr h;

		if (len < sizeof(h)) {
			x86_boot_set_error(err, errlen, "truncated ELF: %zu bytes, header needs %zu", len, sizeof(h));
			return -ENOEXEC;
		}
		memcpy(&h, img, sizeof(h));
		type = h.e_type;
		machine = h.e_machine;
		*e = (struct elf_info){ 0, h.e_phoff, h.e_shoff, h.e_phentsize, h.e_phnum, h.e_shentsize, h.e_shnum };
	}
	if (machine != (e->is64 ? ELF_EM_X86_64 : ELF_EM_386)) {
		x86_boot_set_error(err, errlen, "ELF%d file is for machine %u, not x86", e->is64 ? 64 : 32, machine);
		return -ENOEXEC;
	}
	if (type != ELF_ET_EXEC) {
		x86_boot_set_error(err, errlen, "ELF type %u is not an executable (ET_EXEC)", type);
		return -ENOEXEC;
	}
	if (!e->phnum || e->phnum == ELF_PN_XNUM || e->phnum > X86_ELF_MAX_PHDRS) {
		x86_boot_set_error(err, errlen, "ELF has %u program headers (1..%d supported)", e->phnum,
				   X86_ELF_MAX_PHDRS);
		return -ENOEXEC;
	}
	if (e->phentsize != (e->is64 ? sizeof(struct elf64_phdr) : sizeof(struct elf32_phdr))) {
		x86_boot_set_error(err, errlen, "ELF program header size %u is wrong", e->phentsize);
		return -ENOEXEC;
	}
	if (!in_file(e->phoff, (uint64_t)e->phnum * e->phentsize, len)) {
		x86_boot_set_error(err, errlen, "truncated ELF: program headers at 0x%" PRIx64
				   " run past the end of the %zu-byte file", e->phoff, len);
		return -ENOEXEC;
	}
	return 0;
}

static struct elf_range elf_phdr(const uint8_t *img, const struct elf_info *e, unsigned i)
{
	const uint8_t *p = img + e->phoff + (uint64_t)i * e->phentsize;

	if (e->is64) {
		struct elf64_phdr ph;

		memcpy(&ph, p, sizeof(ph));
		return (struct elf_range){ ph.p_type, ph.p_offset, ph.p_filesz, ph.p_align, ph.p_paddr, ph.p_memsz };
	} else {
		struct elf32_phdr ph;

		memcpy(&ph, p, sizeof(ph));
		return (struct elf_range){ ph.p_type, ph.p_offset, ph.p_filesz, ph.p_align, ph.p_paddr, ph.p_memsz };
	}
}

static struct elf_range elf_shdr(const uint8_t *img, const struct elf_info *e, unsigned i)
{
	const uint8_t *p = img + e->shoff + (uint64_t)i * e->shentsize;

	if (e->is64) {
		struct elf64_shdr sh;

		memcpy(&sh, p, sizeof(sh));
		return (struct elf_range){ sh.sh_type, sh.sh_offset, sh.sh_size, sh.sh_addralign, 0, 0 };
	} else {
		struct elf32_shdr sh;

		memcpy(&sh, p, sizeof(sh));
		return (struct elf_range){ sh.sh_type, sh.sh_offset, sh.sh_size, sh.sh_addralign, 0, 0 };
	}
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/*
 * Looks for the Xen PHYS32_ENTRY note in one note area. Returns 1 with
 * *entry set, 0 if the area has no such note, -ENOEXEC if it is malformed.
 */
static int elf_find_pvh_note(const uint8_t *img, size_t len, const struct elf_range *r, uint64_t *entry,
			     char *err, size_t errlen)
{
	const uint8_t *area = img + r->offset;
	uint64_t align = r->align == 8 ? 8 : 4; /* 8-byte notes exist (GNU properties); Xen's are 4 */
	uint64_t off = 0;

	if (!in_file(r->offset, r->filesz, len)) {
		x86_boot_set_error(err, errlen, "truncated ELF: note area at 0x%" PRIx64
				   " runs past the end of the %zu-byte file", r->offset, len);
		return -ENOEXEC;
	}
	while (off <= r->filesz && r->filesz - off >= sizeof(struct elf_nhdr)) {
		struct elf_nhdr n;
		uint64_t name, desc;

		memcpy(&n, area + off, sizeof(n));
		name = off + sizeof(n);
		desc = name + align_up(n.n_namesz, align);
		if (desc > r->filesz || n.n_descsz > r->filesz - desc) {
			x86_boot_set_error(err, errlen, "malformed ELF note at file offset 0x%" PRIx64,
					   r->offset + off);
			return -ENOEXEC;
		}
		if (n.n_type == XEN_ELFNOTE_PHYS32_ENTRY && n.n_namesz == 4 &&
		    memcmp(area + name, "Xen", 4) == 0) {
			uint64_t v = 0;

			if (n.n_descsz != 4 && n.n_descsz != 8) {
				x86_boot_set_error(err, errlen, "PVH entry note has a %u-byte value (4 or 8 expected)",
						   n.n_descsz);
				return -ENOEXEC;
			}
			memcpy(&v, area + desc, n.n_descsz);
			if (v >= FOUR_GIB) {
				x86_boot_set_error(err, errlen, "PVH entry 0x%" PRIx64 " is not a 32-bit address", v);
				return -ENOEXEC;
			}
			*entry = v;
			return 1;
		}
		off = desc + align_up(n.n_descsz, align);
	}
	return 0;
}

/* PT_NOTE segments first, then SHT_NOTE sections (stripped program notes). */
static int elf_find_entry(const uint8_t *img, size_t len, const struct elf_info *e, uint64_t *entry,
			  char *err, size_t errlen)
{
	int ret;

	for (unsigned i = 0; i < e->phnum; i++) {
		struct elf_range r = elf_phdr(img, e, i);

		if (r.type != ELF_PT_NOTE)
			continue;
		ret = elf_find_pvh_note(img, len, &r, entry, err, errlen);
		if (ret)
			return ret;
	}
	if (!e->shoff || !e->shnum)
		return 0;
	if (e->shentsize != (e->is64 ? sizeof(struct elf64_shdr) : sizeof(struct elf32_shdr)) ||
	    e->shnum > X86_ELF_MAX_SHDRS || !in_file(e->shoff, (uint64_t)e->shnum * e->shentsize, len)) {
		x86_boot_set_error(err, errlen, "truncated or corrupt ELF: bad section header table at 0x%" PRIx64,
				   e->shoff);
		return -ENOEXEC;
	}
	for (unsigned i = 0; i < e->shnum; i++) {
		struct elf_range r = elf_shdr(img, e, i);

		if (r.type != ELF_SHT_NOTE)
			continue;
		ret = elf_find_pvh_note(img, len, &r, entry, err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

static int elf_check_load(const struct gmem *gm, size_t len, unsigned i, const struct elf_range *r,
			  char *err, size_t errlen)
{
	uint64_t end = r->paddr + r->memsz;

	if (r->filesz > r->memsz) {
		x86_boot_set_error(err, errlen,
				   "ELF segment %u: p_filesz 0x%" PRIx64 " is larger than p_memsz 0x%" PRIx64, i,
				   r->filesz, r->memsz);
		return -ENOEXEC;
	}
	if (!in_file(r->offset, r->filesz, len)) {
		x86_boot_set_error(err, errlen,
				   "truncated ELF: segment %u's data (0x%" PRIx64 " bytes at 0x%" PRIx64
				   ") runs past the end of the %zu-byte file",
				   i, r->filesz, r->offset, len);
		return -ENOEXEC;
	}
	if (end < r->paddr) {
		x86_boot_set_error(err, errlen, "ELF segment %u: address 0x%" PRIx64 " + size 0x%" PRIx64 " overflows",
				   i, r->paddr, r->memsz);
		return -ENOEXEC;
	}
	if (r->paddr < X86_HIMEM_ADDR) {
		x86_boot_set_error(err, errlen,
				   "ELF segment %u at 0x%" PRIx64 " is below 1 MiB, where bothy keeps boot data", i,
				   r->paddr);
		return -ENOEXEC;
	}
	if (end > FOUR_GIB) {
		x86_boot_set_error(err, errlen,
				   "ELF segment %u [0x%" PRIx64 ", 0x%" PRIx64 ") is above 4 GiB, out of reach of the 32-bit PVH entry",
				   i, r->paddr, end);
		return -ENOEXEC;
	}
	if (!gmem_ptr(gm, r->paddr, (size_t)r->memsz)) {
		if (end <= X86_MMIO_HOLE_START) {
			x86_boot_set_error(err, errlen,
					   "ELF segment %u [0x%" PRIx64 ", 0x%" PRIx64 ") lies beyond guest RAM (low RAM ends at %" PRIu64 " MiB)",
					   i, r->paddr, end, x86_low_ram_top(gm) >> 20);
			return -E2BIG;
		}
		x86_boot_set_error(err, errlen,
				   "ELF segment %u [0x%" PRIx64 ", 0x%" PRIx64 ") overlaps the MMIO hole [0x%llx, 4 GiB)",
				   i, r->paddr, end, X86_MMIO_HOLE_START);
		return -ENOEXEC;
	}
	return 0;
}

int x86_elf_parse(const struct gmem *gm, const uint8_t *img, size_t len, struct x86_pvh_elf *out,
		  char *err, size_t errlen)
{
	struct elf_info e;
	uint64_t entry = 0;
	int ret, found = 0;

	ret = elf_read_ehdr(img, len, &e, err, errlen);
	if (ret)
		return ret;
	ret = elf_find_entry(img, len, &e, &entry, err, errlen);
	if (ret < 0)
		return ret;
	if (!ret) {
		x86_boot_set_error(err, errlen,
				   "ELF kernel has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); bothy boots ELF kernels only through PVH");
		return -ENOEXEC;
	}
	memset(out, 0, sizeof(*out));
	out->is64 = e.is64;
	out->start = UINT64_MAX;

	for (unsigned i = 0; i < e.phnum; i++) {
		struct elf_range r = elf_phdr(img, &e, i);
		struct x86_elf_segment *s;

		if (r.type != ELF_PT_LOAD || (!r.memsz && !r.filesz))
			continue;
		ret = elf_check_load(gm, len, i, &r, err, errlen);
		if (ret)
			return ret;
		for (unsigned j = 0; j < out->nr_segs; j++) {
			const struct x86_elf_segment *o = &out->segs[j];

			if (r.paddr < o->paddr + o->memsz && o->paddr < r.paddr + r.memsz) {
				x86_boot_set_error(err, errlen, "ELF segment %u overlaps another loaded segment at 0x%" PRIx64,
						   i, o->paddr);
				return -ENOEXEC;
			}
		}
		if (out->nr_segs == X86_ELF_MAX_LOADS) {
			x86_boot_set_error(err, errlen, "ELF has more than %d loadable segments", X86_ELF_MAX_LOADS);
			return -ENOEXEC;
		}
		s = &out->segs[out->nr_segs++];
		*s = (struct x86_elf_segment){ r.paddr, img + r.offset, r.filesz, r.memsz };
		if (r.paddr < out->start)
			out->start = r.paddr;
		if (r.paddr + r.memsz > out->end)
			out->end = r.paddr + r.memsz;
	}
	if (!out->nr_segs) {
		x86_boot_set_error(err, errlen, "ELF has no loadable (PT_LOAD) segments");
		return -ENOEXEC;
	}

	for (unsigned i = 0; i < out->nr_segs && !found; i++)
		found = entry >= out->segs[i].paddr && entry - out->segs[i].paddr < out->segs[i].filesz;
	if (!found) {
		x86_boot_set_error(err, errlen, "PVH entry 0x%" PRIx64 " is not inside a loaded segment's code", entry);
		return -ENOEXEC;
	}
	out->entry = entry;
	return 0;
}

int x86_elf_load(struct gmem *gm, const struct x86_pvh_elf *elf)
{
	int ret;

	for (unsigned i = 0; i < elf->nr_segs; i++) {
		const struct x86_elf_segment *s = &elf->segs[i];

		ret = gmem_write(gm, s->paddr, s->data, (size_t)s->filesz);
		if (!ret)
			ret = gmem_fill(gm, s->paddr + s->filesz, 0, (size_t)(s->memsz - s->filesz));
		if (ret)
			return ret;
	}
	return 0;
}
