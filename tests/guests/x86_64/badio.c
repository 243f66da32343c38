/*
 * badio: a guest that pokes where nothing is. A VMM must answer every access
 * and keep running: unclaimed port reads return all ones (like an ISA bus
 * with nothing on it), writes are dropped, and unclaimed MMIO in the 3-4 GiB
 * hole is absorbed whatever its width, alignment or instruction (string, locked).
 * Prints "badio ok" and exits 0, or one "badio: FAIL: ..." line per
 * mismatch and exits 1. MMIO read values are not checked (bothy and QEMU differ).
 *
 * Ports 0x500-0x507 and 0xfffc-0xffff are free in bothy and in QEMU's
 * microvm and q35; 0xd0000000 is in the MMIO hole of all three.
 */
#include "lib.h"

#define FREE_PORT  0x500
#define HOLE_MMIO  0xd0000000u
#define STRING_LEN 64

static unsigned failures;

static void expect(const char *what, uint32_t port, uint32_t got, uint32_t want)
{
	if (got == want)
		return;
	kprintf("badio: FAIL: %s 0x%x returned 0x%x, expected 0x%x\n", what, port, got, want);
	failures++;
}

static void check_ports(void)
{
	static const uint16_t ports[] = { FREE_PORT, 0xfffc };

	for (unsigned i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		uint16_t p = ports[i];

		outb(p, 0x5a);
		outw((uint16_t)(p + 2), 0xa55a);
		outl(p, 0xdeadbeef);
		expect("inb", p, inb(p), 0xff);
		expect("inb", p + 3u, inb((uint16_t)(p + 3)), 0xff);
		expect("inw", p, inw(p), 0xffff);
		expect("inw", p + 2u, inw((uint16_t)(p + 2)), 0xffff);
		expect("inl", p, inl(p), 0xffffffff);
	}
	/* Accesses that run past the last port: only required not to hurt. */
	(void)inw(0xffff);
	(void)inl(0xfffe);
	(void)inl(0xffff);
	outw(0xffff, 0x1234);
	outl(0xfffd, 0x12345678);
}

static void check_string_io(void)
{
	static uint8_t buf[STRING_LEN];
	void *d;
	uint32_t c;

	for (unsigned width = 1; width <= 4; width *= 2) {
		memset(buf, 0, sizeof(buf));
		d = buf;
		c = STRING_LEN / width;
		if (width == 1)
			__asm__ volatile("rep insb" : "+D"(d), "+c"(c) : "d"(FREE_PORT) : "memory");
		else if (width == 2)
			__asm__ volatile("rep insw" : "+D"(d), "+c"(c) : "d"(FREE_PORT) : "memory");
		else
			__asm__ volatile("rep insl" : "+D"(d), "+c"(c) : "d"(FREE_PORT) : "memory");
		for (unsigned i = 0; i < STRING_LEN; i++)
			if (buf[i] != 0xff) {
				kprintf("badio: FAIL: rep ins%c 0x%x: byte %u is 0x%x, expected 0xff\n",
					width == 1 ? 'b' : width == 2 ? 'w' : 'l', FREE_PORT, i, buf[i]);
				failures++;
				break;
			}
		d = buf;
		c = STRING_LEN / width;
		if (width == 1)
			__asm__ volatile("rep outsb" : "+S"(d), "+c"(c) : "d"(FREE_PORT) : "memory");
		else if (width == 2)
			__asm__ volatile("rep outsw" : "+S"(d), "+c"(c) : "d"(FREE_PORT) : "memory");
		else
			__asm__ volatile("rep outsl" : "+S"(d), "+c"(c) : "d"(FREE_PORT) : "memory");
	}

	/* Backwards (DF=1): fills buf[15] down to buf[0]. */
	memset(buf, 0, sizeof(buf));
	d = &buf[15];
	c = 16;
	__asm__ volatile("std\n\trep insb\n\tcld" : "+D"(d), "+c"(c) : "d"(FREE_PORT) : "memory", "cc");
	for (unsigned i = 0; i < 17; i++) {
		uint8_t want = i < 16 ? 0xff : 0;

		if (buf[i] != want) {
			kprintf("badio: FAIL: std; rep insb 0x%x: byte %u is 0x%x, expected 0x%x\n",
				FREE_PORT, i, buf[i], want);
			failures++;
			break;
		}
	}
}

static void check_mmio(void)
{
	volatile uint8_t *b = phys(HOLE_MMIO);
	volatile uint16_t *w = phys(HOLE_MMIO + 2);
	volatile uint32_t *l = phys(HOLE_MMIO + 4);
	volatile uint32_t *cross = phys(HOLE_MMIO + 0xffe); /* straddles two pages */
	static uint8_t ram[16];
	void *s, *d;
	uint32_t c, v = 0x11223344, lo = 0, hi = 0;

	*b = 0xa5;
	*w = 0xa55a;
	*l = 0xdeadbeef;
	*cross = 0xcafef00d;
	(void)*b;
	(void)*w;
	(void)*l;
	(void)*cross;
	(void)*(volatile uint8_t *)phys(HOLE_MMIO + 0x12345);

	/* String moves between RAM and MMIO, and a string store into MMIO. */
	s = phys(HOLE_MMIO);
	d = ram;
	c = sizeof(ram);
	__asm__ volatile("rep movsb" : "+S"(s), "+D"(d), "+c"(c) : : "memory");
	s = ram;
	d = phys(HOLE_MMIO + 0x100);
	c = sizeof(ram);
	__asm__ volatile("rep movsb" : "+S"(s), "+D"(d), "+c"(c) : : "memory");
	d = phys(HOLE_MMIO + 0x200);
	c = 4;
	__asm__ volatile("rep stosl" : "+D"(d), "+c"(c) : "a"(0x5a5a5a5a) : "memory");

	/* Locked read-modify-writes on MMIO (no atomicity is promised there). */
	__asm__ volatile("xchgl %0, %1" : "+r"(v), "+m"(*(volatile uint32_t *)phys(HOLE_MMIO + 0x300)) : : "memory");
	__asm__ volatile("lock xaddl %0, %1" : "+r"(v), "+m"(*(volatile uint32_t *)phys(HOLE_MMIO + 0x304)) : : "memory");
	__asm__ volatile("lock cmpxchg8b %0"
			 : "+m"(*(volatile uint64_t *)phys(HOLE_MMIO + 0x308)), "+a"(lo), "+d"(hi)
			 : "b"(1u), "c"(2u)
			 : "memory", "cc");
}

int payload_main(const struct hvm_start_info *si)
{
	(void)si;
	check_ports();
	check_string_io();
	check_mmio();
	if (failures) {
		kprintf("badio: %u checks failed\n", failures);
		return 1;
	}
	kprintf("badio ok\n");
	return 0;
}
