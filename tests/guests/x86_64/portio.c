/*
 * portio: n=N (default 100000) one-byte writes to an unclaimed port
 * (port=P, default 0x500), then "portio done" and exit 0. Each write is a
 * full exit to the VMM and back: the run measures the exit round trip.
 * Nothing is printed before or during the loop. With timing=1, the loop is
 * also timed with the LAPIC timer (1 GHz on KVM and QEMU) and one more line
 * is printed before "portio done":
 *
 *   portio: N writes to port 0xP in U us (D ns each)
 *
 * 0x500 is free in bothy and in QEMU's microvm and q35 (0x510, the example
 * port of the brief, is fw_cfg in QEMU).
 */
#include "lib.h"

#define DEFAULT_N    100000
#define DEFAULT_PORT 0x500

int payload_main(const struct hvm_start_info *si)
{
	uint32_t n = DEFAULT_N, port = DEFAULT_PORT, timing = 0, elapsed = 0;
	bool timed;
	const char *cl;

	if (!start_info_check(si, "portio"))
		return EXIT_SETUP_ERROR;
	cl = start_info_cmdline(si);
	if (cmdline_u32(cl, "n", &n) < 0 || cmdline_u32(cl, "port", &port) < 0 || port > 0xffff ||
	    cmdline_u32(cl, "timing", &timing) < 0) {
		kprintf("portio: usage: n=COUNT port=PORT timing=0|1\n");
		return EXIT_SETUP_ERROR;
	}
	timed = timing && lapic_timer_start(0xffffffffu);
	for (uint32_t i = 0; i < n; i++)
		outb((uint16_t)port, (uint8_t)i);
	if (timed) {
		elapsed = 0xffffffffu - lapic_timer_remaining(); /* 16 ns counts, < 68.7 s */
		kprintf("portio: %u writes to port 0x%x in %u us (%u ns each)\n", n, port,
			lapic_counts_to_us(elapsed), lapic_counts_per_item_ns(elapsed, n));
	} else if (timing) {
		kprintf("portio: no LAPIC timer, not timed\n");
	}
	kprintf("portio done\n");
	return 0;
}
