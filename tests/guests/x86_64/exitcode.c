/*
 * exitcode: exits with the status given as exit=N on the command line
 * (0..255, decimal or 0x hex; default 42), after printing "exitcode: N".
 * Tests that the debug-exit status reaches the caller of the VMM.
 */
#include "lib.h"

#define DEFAULT_EXIT 42

int payload_main(const struct hvm_start_info *si)
{
	uint32_t code = DEFAULT_EXIT;

	if (!start_info_check(si, "exitcode"))
		return EXIT_SETUP_ERROR;
	if (cmdline_u32(start_info_cmdline(si), "exit", &code) < 0 || code > 255) {
		kprintf("exitcode: exit= wants a number 0..255\n");
		return EXIT_SETUP_ERROR;
	}
	kprintf("exitcode: %u\n", code);
	return (int)code;
}
