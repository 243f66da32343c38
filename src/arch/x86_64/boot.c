/*
 * x86_boot_load(): recognise the kernel, plan where everything goes, check
 * that it all fits, and only then write guest memory. Nothing is allocated
 * that outlives the call; on failure the caller has nothing to undo beyond
 * the guest RAM contents it owns anyway.
 *
 * Guest physical layout (layout.h):
 *   0x500     GDT                    0x6000   PVH start_info + memmap
 *   0x7000    zero page              0x9000   PML4, PDPT, 4 PDs (to 0xf000)
 *   0x20000   command line           0x9fc00  [EBDA .. 1 MiB) reserved:
 *   0xe0000   ACPI tables (RSDP first)
 *   1 MiB     kernel (bzImage protected-mode code, or PVH ELF segments)
 *   top of low RAM, 4 KiB aligned: initrd
 */
#include "arch/x86_64/boot.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "arch/x86_64/acpi.h"
#include "arch/x86_64/boot_internal.h"
#include "arch/x86_64/bzimage.h"
#include "arch/x86_64/elf.h"
#include "arch/x86_64/layout.h"

/* At the reset vector: mov al, 0xfe; out 0x64, al; cli; hlt; jmp $-2 (a reset, as firmware would). */
static const uint8_t x86_reset_vector_code[] = { 0xb0, I8042_CMD_RESET, 0xe6, X86_PORT_I8042_CMD, 0xfa, 0xf4, 0xeb, 0xfd };
_Static_assert(X86_ACPI_ADDR + X86_ACPI_MAX <= X86_RESET_VECTOR_ADDR, "ACPI tables overlap the reset vector");

_Static_assert(X86_ACPI_ADDR >= X86_EBDA_ADDR && X86_ACPI_ADDR + X86_ACPI_MAX <= X86_HIMEM_ADDR,
	       "ACPI tables live in the e820-reserved [EBDA, 1 MiB)");
_Static_assert(X86_CMDLINE_ADDR + X86_CMDLINE_MAX <= X86_EBDA_ADDR, "command line below the EBDA");

void x86_boot_set_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * Highest 4 KiB-aligned start for @len bytes ending at or below @limit and
 * starting at or above @floor. 0 if it does not fit (0 is never a valid spot).
 */
static uint64_t initrd_place(uint64_t floor, uint64_t limit, uint64_t len)
{
	uint64_t start;

	if (len > limit)
		return 0;
	start = X86_ALIGN_DOWN(limit - len, X86_PAGE_SIZE);
	return start >= floor ? start : 0;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static int check_args(const struct gmem *gm, const struct x86_boot_image *img, const struct x86_boot_info *out,
		      uint64_t low_top, char *err, size_t errlen)
{
	if (!gm || !img || !out) {
		x86_boot_set_error(err, errlen, "internal error: missing argument");
		return -EINVAL;
	}
	if (!img->kernel || !img->kernel_len) {
		x86_boot_set_error(err, errlen, "empty kernel image");
		return -ENOEXEC;
	}
	if (img->initrd_len && !img->initrd) {
		x86_boot_set_error(err, errlen, "internal error: initrd length without data");
		return -EINVAL;
	}
	if (img->ncpus < 1 || img->ncpus > X86_ACPI_MAX_CPUS) {
		x86_boot_set_error(err, errlen, "%u vCPUs: the x86 machine supports 1 to %d", img->ncpus,
				   X86_ACPI_MAX_CPUS);
		return -EINVAL;
	}
	/* Boot data lives below 1 MiB and kernels load at 1 MiB: low RAM must cover both. */
	if (low_top <= X86_HIMEM_ADDR) {
		x86_boot_set_error(err, errlen, "guest RAM must start at address 0 and extend past 1 MiB");
		return -EINVAL;
	}
	return 0;
}

int x86_boot_load(struct gmem *gm, const struct x86_boot_image *img, struct x86_boot_info *out,
		  char *err, size_t errlen)
{
	struct x86_e820_entry e820[X86_E820_MAX];
	struct x86_bzimage bz = { 0 };
	struct x86_pvh_elf elf = { 0 };
	struct x86_boot_info info = { 0 };
	const char *cmdline;
	uint64_t low_top, initrd_limit, cmdline_max;
	unsigned e820_nr;
	size_t cmdline_len;
	int is_elf, ret;

	if (err && errlen)
		err[0] = '\0';
	low_top = gm ? x86_low_ram_top(gm) : 0;
	ret = check_args(gm, img, out, low_top, err, errlen);
	if (ret)
		return ret;

	/* 1. What is it? */
	is_elf = x86_elf_probe(img->kernel, img->kernel_len);
	if (is_elf) {
		ret = x86_elf_parse(gm, img->kernel, img->kernel_len, &elf, err, errlen);
		if (ret)
			return ret;
		info.mode = X86_ENTRY_PVH32;
		info.entry = elf.entry;
		info.boot_params = X86_PVH_INFO_ADDR;
		info.kernel_start = elf.start;
		info.kernel_end = elf.end;
		initrd_limit = X86_MMIO_HOLE_START;
		cmdline_max = X86_CMDLINE_MAX - 1;
	} else if (x86_bzimage_probe(img->kernel, img->kernel_len)) {
		ret = x86_bzimage_parse(img->kernel, img->kernel_len, low_top, &bz, err, errlen);
		if (ret)
			return ret;
		info.mode = X86_ENTRY_LINUX64;
		info.entry = bz.entry;
		info.boot_params = X86_ZERO_PAGE_ADDR;
		info.kernel_start = bz.load_addr;
		info.kernel_end = bz.footprint_end;
		initrd_limit = bz.initrd_limit;
		cmdline_max = min_u64(bz.cmdline_max, X86_CMDLINE_MAX - 1);
	} else {
		x86_boot_set_error(err, errlen,
				   img->kernel_len < BZ_MAGIC_OFF + 4
					   ? "not a bzImage or PVH ELF (file too small: %zu bytes)"
					   : "not a bzImage or PVH ELF (%zu bytes, no \"HdrS\" header, no ELF magic)",
				   img->kernel_len);
		return -ENOEXEC;
	}

	/* 2. Command line. */
	cmdline = img->cmdline ? img->cmdline : "";
	cmdline_len = strnlen(cmdline, X86_CMDLINE_MAX);
	if (cmdline_len > cmdline_max) {
		x86_boot_set_error(err, errlen, "kernel command line too long: %s%zu bytes, the limit is %" PRIu64,
				   cmdline_len == X86_CMDLINE_MAX ? "at least " : "", cmdline_len, cmdline_max);
		return -E2BIG;
	}

	/* 3. The initrd: as high as allowed, above the kernel, never in the MMIO hole. */
	if (img->initrd_len) {
		uint64_t limit = min_u64(min_u64(low_top, initrd_limit), X86_MMIO_HOLE_START);

		info.initrd_len = img->initrd_len;
		info.initrd_start = initrd_place(info.kernel_end, limit, img->initrd_len);
		if (!info.initrd_start) {
			x86_boot_set_error(err, errlen,
					   "initrd (%zu bytes) does not fit between the kernel's end 0x%" PRIx64
					   " and 0x%" PRIx64 " (more guest RAM may help)",
					   img->initrd_len, info.kernel_end, limit);
			return -E2BIG;
		}
	}

	/* 4. The memory map, shared by both entries. */
	ret = x86_e820_build(gm, e820, X86_E820_MAX, &e820_nr);
	if (ret) {
		x86_boot_set_error(err, errlen, "guest memory map has more than %d entries", X86_E820_MAX);
		return ret;
	}

	/* 5. Write everything. Every range was checked above; a failure here is a bug. */
	ret = is_elf ? x86_elf_load(gm, &elf) : gmem_write(gm, bz.load_addr, bz.pm, bz.pm_len);
	if (!ret && info.initrd_len)
		ret = gmem_write(gm, info.initrd_start, img->initrd, img->initrd_len);
	if (!ret)
		ret = gmem_fill(gm, X86_CMDLINE_ADDR, 0, X86_CMDLINE_MAX);
	if (!ret)
		ret = gmem_write(gm, X86_CMDLINE_ADDR, cmdline, cmdline_len);
	if (!ret)
		ret = x86_gdt_write(gm, &info.gdt_base, &info.gdt_limit);
	if (!ret)
		ret = x86_pagetables_write(gm);
	if (!ret)
		ret = gmem_write(gm, X86_RESET_VECTOR_ADDR, x86_reset_vector_code, sizeof(x86_reset_vector_code));
	if (ret) {
		x86_boot_set_error(err, errlen, "cannot write the kernel and boot data to guest RAM");
		return ret;
	}
	ret = x86_acpi_build(gm, X86_ACPI_ADDR, X86_ACPI_MAX, img->ncpus, img->pci, &info.rsdp);
	if (ret) {
		x86_boot_set_error(err, errlen, "cannot build the ACPI tables: %s", strerror(-ret));
		return ret;
	}
	if (is_elf) {
		struct x86_pvh_params p = {
			.cmdline_paddr = X86_CMDLINE_ADDR,
			.initrd_start = info.initrd_start,
			.initrd_len = info.initrd_len,
			.rsdp_paddr = info.rsdp,
			.e820 = e820,
			.e820_nr = e820_nr,
		};

		ret = x86_pvh_write_start_info(gm, &p);
		info.cr3 = 0;
	} else {
		struct x86_zeropage_params p = {
			.cmdline_paddr = X86_CMDLINE_ADDR,
			.initrd_start = info.initrd_start,
			.initrd_len = info.initrd_len,
			.rsdp_paddr = info.rsdp,
			.e820 = e820,
			.e820_nr = e820_nr,
		};

		ret = x86_zeropage_write(gm, &bz, &p);
		info.cr3 = X86_PML4_ADDR;
	}
	if (ret) {
		x86_boot_set_error(err, errlen, "cannot write the %s", is_elf ? "PVH start_info" : "zero page");
		return ret;
	}
	*out = info;
	return 0;
}
