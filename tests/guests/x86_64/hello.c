/*
 * hello: the smallest end-to-end check of a VMM's PVH boot. Prints a greeting
 * on COM1, then the command line found through the PVH start_info, then
 * exits with status 0 through the debug-exit port.
 *
 *   bothy payload: hello
 *   cmdline: <the command line, verbatim>
 */
#include "lib.h"

int payload_main(const struct hvm_start_info *si)
{
	kprintf("bothy payload: hello\n");
	if (!start_info_check(si, "hello"))
		return EXIT_SETUP_ERROR;
	kprintf("cmdline: %s\n", start_info_cmdline(si));
	return 0;
}
