/*
 * cpuid: prints what the guest discovers through CPUID, one line per leaf the
 * guest-ABI tests compare against bothy's manifest:
 *
 *   cpuid 0x00000007.0: eax=00000002 ebx=219c07ab ecx=0040069c edx=00000000
 *
 * Leaves above the reported maximum (basic, hypervisor, extended) are skipped.
 */
#include "lib.h"

struct regs {
	uint32_t eax, ebx, ecx, edx;
};

static struct regs cpuid(uint32_t leaf, uint32_t sub)
{
	struct regs r;

	__asm__ volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(sub));
	return r;
}

static void show(uint32_t leaf, uint32_t sub)
{
	struct regs r = cpuid(leaf, sub);

	kprintf("cpuid 0x%08x.%u: eax=%08x ebx=%08x ecx=%08x edx=%08x\n", leaf, sub, r.eax, r.ebx, r.ecx, r.edx);
}

int payload_main(const struct hvm_start_info *si)
{
	static const struct {
		uint32_t leaf, sub;
	} leaves[] = {
		{ 0x0, 0 },	     { 0x1, 0 },	  { 0x6, 0 },	       { 0x7, 0 },	    { 0x7, 1 },
		{ 0xd, 0 },	     { 0xd, 1 },	  { 0x40000000, 0 },  { 0x40000001, 0 }, { 0x80000000, 0 },
		{ 0x80000001, 0 }, { 0x80000007, 0 }, { 0x80000008, 0 },
	};
	uint32_t max_basic = cpuid(0, 0).eax, max_hv = cpuid(0x40000000, 0).eax, max_ext = cpuid(0x80000000, 0).eax;

	kprintf("bothy payload: cpuid\n");
	if (!start_info_check(si, "cpuid"))
		return EXIT_SETUP_ERROR;
	for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
		uint32_t leaf = leaves[i].leaf;
		uint32_t max = leaf >= 0x80000000u ? max_ext : leaf >= 0x40000000u ? max_hv : max_basic;

		if (leaf <= max)
			show(leaf, leaves[i].sub);
	}
	kprintf("cpuid done\n");
	return 0;
}
