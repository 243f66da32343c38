/*
 * defs.h: constants shared by the payloads' C and assembly sources.
 * (Only #defines: included from .S files too.)
 */
#ifndef PAYLOAD_DEFS_H
#define PAYLOAD_DEFS_H

/* Selectors of the payloads' own GDT (entry.S); independent of the VMM's boot GDT. */
#define SEL_CODE32 0x08
#define SEL_DATA   0x10
#define GDT_LIMIT  (3 * 8 - 1) /* null, code, data */

#define BOOT_STACK_SIZE 16384

/*
 * smp: the real-mode AP trampoline is copied to this page (SIPI vector
 * AP_TRAMPOLINE >> 12). 0x3000 is free in bothy's layout (which uses 0x500,
 * 0x6000-0x7fff, 0x9000-0xefff, 0x20000-0x2ffff and 0xe0000+) and is plain
 * RAM under QEMU's PVH loaders too.
 */
#define AP_TRAMPOLINE   0x3000
#define MAX_APS         255     /* every xAPIC id but the BSP's */
#define AP_STACK_SHIFT  11
#define AP_STACK_SIZE   (1 << AP_STACK_SHIFT)

#endif
