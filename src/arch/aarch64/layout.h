/*
 * The arm64 machine bothy builds: guest physical layout and interrupt numbers. One place, so the
 * device tree, the loader and the devices always agree. docs/arm64.md draws the map.
 *
 *   0x0800_0000  GICv3 distributor (64 KiB)
 *   0x080a_0000  GICv3 redistributors, 128 KiB per vCPU (up to VM_MAX_CPUS: 8 MiB)
 *   0x0900_0000  16550A UART (8 byte registers), SPI 1
 *   0x0a00_0000  virtio-mmio slots, 512 bytes each (32: 16 KiB), SPIs 16..47
 *   0x4000_0000  RAM (--memory bytes): the kernel at its base + text_offset, the device tree in the
 *                top 2 MiB, the initrd right below it
 */
#ifndef BOTHY_ARCH_AARCH64_LAYOUT_H
#define BOTHY_ARCH_AARCH64_LAYOUT_H

#define ARM64_GIC_DIST_BASE     0x08000000ULL
#define ARM64_GIC_DIST_SIZE     0x10000ULL
#define ARM64_GIC_REDIST_BASE   0x080a0000ULL
#define ARM64_GIC_REDIST_STRIDE 0x20000ULL /* RD_base + SGI_base frames of one vCPU */
#define ARM64_UART_BASE         0x09000000ULL
#define ARM64_UART_SIZE         8ULL       /* 16550 registers, one byte apart (reg-shift 0) */
#define ARM64_UART_CLOCK        1843200u
#define ARM64_VIRTIO_MMIO_BASE  0x0a000000ULL
#define ARM64_VIRTIO_MMIO_SLOTS 32u        /* >= VM_MAX_VIRTIO; slot i at base + i * VIRTIO_MMIO_SIZE */
#define ARM64_RAM_BASE          0x40000000ULL
/* The highest RAM end: the default 40-bit IPA space KVM gives a VM. */
#define ARM64_IPA_LIMIT         (1ULL << 40)

/* GIC interrupt ids: SPIs start at 32; the arch timer's PPIs are 16 + n. */
#define ARM64_SPI_BASE          32u
#define ARM64_UART_SPI          1u  /* interrupt id 33 */
#define ARM64_VIRTIO_SPI        16u /* virtio-mmio slot i: SPI 16 + i (interrupt id 48 + i) */
#define ARM64_PPI_BASE          16u
#define ARM64_TIMER_PPI_SEC     13u /* secure physical */
#define ARM64_TIMER_PPI_PHYS    14u /* non-secure physical */
#define ARM64_TIMER_PPI_VIRT    11u
#define ARM64_TIMER_PPI_HYP     10u

/* Linux's arm64 boot protocol (Documentation/arch/arm64/booting.rst). */
#define ARM64_KERNEL_ALIGN      0x200000ULL /* the image's base: 2 MiB aligned */
#define ARM64_DTB_MAX           0x200000ULL /* the device tree: at most 2 MiB, 8-byte aligned */

#endif
