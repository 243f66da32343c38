/*
 * idle: a guest that stays up until it is stopped, for the resource manager's tests and
 * benchmarks (VMs that run while bothyd stops, pauses, kills and resets them). Prints a greeting
 * on COM1 and halts with interrupts off, so its vCPU sleeps in KVM and costs nothing.
 *
 *   bothy payload: idle
 */
#include "lib.h"

int payload_main(const struct hvm_start_info *si)
{
	kprintf("bothy payload: idle\n");
	if (!start_info_check(si, "idle"))
		return EXIT_SETUP_ERROR;
	halt_forever();
}
