/*
 * lib.h: the little runtime shared by bothy's x86-64 test payloads.
 *
 * Payloads are 32-bit freestanding C (gcc -m32 -ffreestanding; no libc, no
 * libgcc), entered through the PVH ABI by entry.S: protected mode, paging
 * off, interrupts off, flat segments (our own GDT), ESP on a 16 KiB stack.
 * They rely only on what any PVH-capable x86 VMM offers: the PVH start_info,
 * a 16550 UART at COM1, an xAPIC at its usual address, ACPI tables, and an
 * isa-debug-exit style device at port 0xf4.
 */
#ifndef PAYLOAD_LIB_H
#define PAYLOAD_LIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fixed ports and addresses (see docs/test-guests.md). */
#define COM1_PORT        0x3f8
#define DEBUG_EXIT_PORT  0xf4
/* Exit status a payload uses when its own setup fails (bad start_info, no ACPI, bad argument). */
#define EXIT_SETUP_ERROR 99

/* struct hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h), version 0/1. */
#define HVM_START_MAGIC 0x336ec578u
struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;     /* version >= 1 */
	uint64_t memmap_paddr;   /* version >= 1 */
	uint32_t memmap_entries; /* version >= 1 */
	uint32_t reserved;
};
_Static_assert(offsetof(struct hvm_start_info, cmdline_paddr) == 24, "start_info layout");
_Static_assert(offsetof(struct hvm_start_info, rsdp_paddr) == 32, "start_info layout");
_Static_assert(offsetof(struct hvm_start_info, memmap_paddr) == 40, "start_info layout");
_Static_assert(offsetof(struct hvm_start_info, memmap_entries) == 48, "start_info layout");

/*
 * Each payload defines payload_main(); entry.S enters payload_start() with
 * EBX from the PVH entry, which sets up the UART, calls payload_main() and
 * writes its return value to the debug-exit port.
 */
int payload_main(const struct hvm_start_info *si);
__attribute__((noreturn)) void payload_start(const struct hvm_start_info *si);

/* Port I/O. */
static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/* MMIO and physical memory (paging is off: a physical address is a pointer). */
static inline void *phys(uint32_t pa)
{
	/* Opaque to gcc, which otherwise warns about pointers made from small constants. */
	__asm__("" : "+r"(pa));
	return (void *)(uintptr_t)pa;
}
static inline uint32_t mmio_read32(uint32_t pa) { return *(volatile uint32_t *)phys(pa); }
static inline void mmio_write32(uint32_t pa, uint32_t v) { *(volatile uint32_t *)phys(pa) = v; }

static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
__attribute__((noreturn)) void halt_forever(void); /* cli; hlt loop */

/* Serial console (COM1, polled). Lines end in "\r\n", as a real UART driver sends them. */
void uart_init(void);
void uart_putc(char c);
void uart_puts(const char *s);
/* %s %c %d %u %x (with optional '0' flag and width), %%. */
__attribute__((format(printf, 1, 2))) void kprintf(const char *fmt, ...);

/* Simple test-and-set spinlock (xchg); used to keep lines of different CPUs apart. */
struct spinlock { volatile uint32_t locked; };
void spin_lock(struct spinlock *l);
void spin_unlock(struct spinlock *l);
extern struct spinlock console_lock;

/* Writes code to the debug-exit port; halts if the VMM ignores it. */
__attribute__((noreturn)) void debug_exit(uint8_t code);

/* Local APIC, xAPIC mode (MMIO). */
#define LAPIC_DEFAULT_BASE 0xfee00000u
#define LAPIC_ID        0x020
#define LAPIC_SVR       0x0f0
#define LAPIC_ICR_LO    0x300
#define LAPIC_ICR_HI    0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TMICT     0x380
#define LAPIC_TMCCT     0x390
#define LAPIC_TDCR      0x3e0
extern uint32_t lapic_base; /* LAPIC_DEFAULT_BASE unless a payload learns better (MADT) */
static inline uint32_t lapic_read(uint32_t reg) { return mmio_read32(lapic_base + reg); }
static inline void lapic_write(uint32_t reg, uint32_t v) { mmio_write32(lapic_base + reg, v); }
static inline uint32_t lapic_id(void) { return lapic_read(LAPIC_ID) >> 24; }
/*
 * The LAPIC timer as a polled stopwatch: one-shot, LVT masked, divide by 16.
 * KVM's in-kernel LAPIC and QEMU's both run the timer at 1 GHz, so one count
 * is 16 ns (real hardware differs; only delays and timeouts depend on it).
 * lapic_timer_start() returns false if the timer does not count down.
 */
#define LAPIC_TIMER_HZ 62500000u
bool lapic_timer_start(uint32_t count);
static inline uint32_t lapic_timer_remaining(void) { return lapic_read(LAPIC_TMCCT); }
/* LAPIC timer counts (16 ns) as microseconds, and as ns per item for @n items (no 64-bit division). */
uint32_t lapic_counts_to_us(uint32_t counts);
uint32_t lapic_counts_per_item_ns(uint32_t counts, uint32_t n);
/* Busy-waits about us microseconds (LAPIC timer; a plain loop if it does not count). */
void udelay(uint32_t us);

/*
 * The start_info, checked: returns NULL (after printing why) if EBX does not
 * point at a valid PVH start_info.
 */
const struct hvm_start_info *start_info_check(const struct hvm_start_info *si, const char *who);
/* The command line ("" if none); at most CMDLINE_MAX bytes are ever read. */
#define CMDLINE_MAX 65536
const char *start_info_cmdline(const struct hvm_start_info *si);
/*
 * Looks up "key=VALUE" as a whole word of the command line; VALUE is decimal
 * or 0x-prefixed hex. Returns 1 (found, *val set), 0 (absent) or -1 (malformed).
 */
int cmdline_u32(const char *cmdline, const char *key, uint32_t *val);
/* True if word (e.g. "fault=de") is a whole word of the command line. */
bool cmdline_has(const char *cmdline, const char *word);

/*
 * String helpers (freestanding: no libc). gcc may emit calls to memcpy and
 * memset on its own, so they keep their standard names.
 */
size_t strlen(const char *s);
int memcmp(const void *a, const void *b, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);

#endif
