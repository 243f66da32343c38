/*
 * ACPI tables for bothy's x86-64 machine: a HW-reduced ACPI platform whose
 * only fixed hardware is the sleep control/status and reset registers of
 * layout.h. Stock Linux kernels without an MP table find their CPUs and the
 * I/O APIC in the MADT and power off through _S5 and the sleep register.
 */
#ifndef BOTHY_ARCH_X86_64_ACPI_H
#define BOTHY_ARCH_X86_64_ACPI_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/gmem.h"

/* xAPIC ids 0..ncpus-1 for the CPUs, ncpus for the I/O APIC, 0xff is broadcast. */
#define X86_ACPI_MAX_CPUS 254

/*
 * Writes RSDP (at @base, 16-byte aligned), RSDT, XSDT, FADT, MADT and DSDT
 * into [base, base + max_len) of guest RAM and returns the RSDP address in
 * *rsdp_out. The range should be e820-reserved (layout.h: X86_ACPI_ADDR).
 * Returns 0, -EINVAL (ncpus not 1..X86_ACPI_MAX_CPUS, base misaligned),
 * -ENOSPC (the tables need more than max_len), -EFAULT (range not in RAM)
 * or -ENOMEM. With @pci the DSDT describes the PCI host bridge (bus 0, the
 * configuration ports, I/O and the BAR window of layout.h).
 */
int x86_acpi_build(struct gmem *gm, uint64_t base, uint64_t max_len, unsigned ncpus, bool pci, uint64_t *rsdp_out);

/*
 * AML PkgLength (ACPI 6.5 section 20.2.4) for a package whose contents after
 * the PkgLength are @body bytes: writes 1 to 4 bytes to @out and returns how
 * many, or 0 if the package would be too large. Exposed for unit tests.
 */
size_t x86_acpi_encode_pkglen(uint8_t out[4], size_t body);

#endif
