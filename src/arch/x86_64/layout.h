/*
 * The x86-64 machine bothy builds: guest physical layout and the fixed ports
 * and addresses its platform devices answer at. One place, so the boot data
 * (e820, ACPI) and the devices always agree.
 */
#ifndef BOTHY_ARCH_X86_64_LAYOUT_H
#define BOTHY_ARCH_X86_64_LAYOUT_H

#include "devices/platform.h" /* the power device the FADT describes */

/* Low memory used by the loader; all below the EBDA and reserved in e820 where noted. */
#define X86_GDT_ADDR        0x500ULL    /* boot GDT: null, code32, code64, data, tss */
#define X86_PVH_INFO_ADDR   0x6000ULL   /* struct hvm_start_info + memmap (PVH entry) */
#define X86_ZERO_PAGE_ADDR  0x7000ULL   /* struct boot_params (Linux 64-bit entry) */
#define X86_PML4_ADDR       0x9000ULL   /* identity page tables: PML4, PDPT, 4 PDs */
#define X86_PDPT_ADDR       0xa000ULL
#define X86_PD_ADDR         0xb000ULL   /* 4 pages: 0..4 GiB in 2 MiB pages */
#define X86_CMDLINE_ADDR    0x20000ULL
#define X86_CMDLINE_MAX     0x10000ULL  /* incl. NUL */
#define X86_EBDA_ADDR       0x9fc00ULL  /* [EBDA, 1 MiB) reserved */
#define X86_ACPI_ADDR       0xe0000ULL  /* RSDP first, tables after; Linux also scans here */
#define X86_ACPI_MAX        0x1f000ULL
/*
 * Real-mode reset vector f000:fff0. Linux's reboot falls back to jumping here
 * (machine_real_restart) when it finds no EFI on a HW-reduced ACPI machine;
 * bothy has no BIOS, so code placed there pulses the i8042 reset line.
 */
#define X86_RESET_VECTOR_ADDR 0xffff0ULL
#define X86_HIMEM_ADDR      0x100000ULL /* kernels and payloads load at or above 1 MiB */

/* RAM above this moves to 4 GiB, leaving a hole for LAPIC, IOAPIC and MMIO devices. */
#define X86_MMIO_HOLE_START 0xc0000000ULL
#define X86_MMIO_HOLE_END   0x100000000ULL
/* PCI BARs are placed in [PCI_MMIO_BASE, IOAPIC): described by the host bridge's _CRS. */
#define X86_PCI_MMIO_BASE   X86_MMIO_HOLE_START
#define X86_PCI_MMIO_SIZE   (X86_IOAPIC_ADDR - X86_PCI_MMIO_BASE)
#define X86_IOAPIC_ADDR     0xfec00000ULL
#define X86_LAPIC_ADDR      0xfee00000ULL

/* Legacy ISA interrupt lines. */
#define X86_IRQ_COM1        4

/* Ports. */
#define X86_PORT_COM1       0x3f8
#define X86_PORT_I8042_DATA 0x60
#define X86_PORT_I8042_CMD  0x64
#define X86_PORT_RTC        0x70        /* index; data at 0x71 */
#define X86_PORT_POST       0x80        /* POST code / I/O delay */
#define X86_PORT_RESET_CTL  0xcf9       /* PC reset control register */
#define X86_PORT_DEBUG_EXIT 0xf4        /* --debug-exit: a write ends the VM with that status */
#define X86_PORT_HCALL 0xe0             /* hypercall gate: a 32-bit OUT or IN (docs/hypercalls.md) */
/*
 * HW-reduced ACPI power device (described by the FADT): sleep control and
 * status registers and the reset register, one byte each.
 */
#define X86_PORT_ACPI_SLEEP_CTL 0x600
#define X86_PORT_ACPI_SLEEP_STS 0x601
#define X86_PORT_ACPI_RESET     0x602
#define X86_ACPI_RESET_VALUE    ACPI_POWER_RESET_VALUE
#define X86_ACPI_S5_TYPE        ACPI_POWER_S5_TYPE /* SLP_TYP of _S5, written with SLP_EN */

/* Boot GDT selectors (Linux requires __BOOT_CS 0x10, __BOOT_DS 0x18). */
#define X86_SEL_CODE32      0x08
#define X86_SEL_CODE64      0x10
#define X86_SEL_DATA        0x18
#define X86_SEL_TSS         0x20

#endif
