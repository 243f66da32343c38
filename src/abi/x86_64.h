/* Locators of x86-64 ABI registers (struct abi_reg.key). */
#ifndef BOTHY_ABI_X86_64_H
#define BOTHY_ABI_X86_64_H

#include <stdint.h>

enum { X86_EAX, X86_EBX, X86_ECX, X86_EDX };

/* Bits 63:32 leaf, MSR index or bitmap, 31:8 subleaf, bit 5 "a hypercall bitmap", bit 4 "an MSR",
 * bits 1:0 register. */
#define X86_KEY_MSR (1ull << 4)
/* A CPUID output register: leaf, subleaf (0 when the leaf has none), register. */
#define X86_CPUID_KEY(leaf, subleaf, r) (((uint64_t)(leaf) << 32) | ((uint64_t)(subleaf) << 8) | (r))
#define X86_MSR_KEY(index) (X86_KEY_MSR | ((uint64_t)(index) << 32))

#define X86_KEY_HCALL (1ull << 5)
/* bothy's hypercall service bitmap @n (src/abi/hcall_bitmaps.def). */
#define X86_HCALL_KEY(n) (X86_KEY_HCALL | ((uint64_t)(n) << 32))

#define X86_KEY_IS_MSR(k) (((k) & X86_KEY_MSR) != 0)
#define X86_KEY_IS_HCALL(k) (((k) & X86_KEY_HCALL) != 0)
#define X86_KEY_IS_CPUID(k) (!X86_KEY_IS_MSR(k) && !X86_KEY_IS_HCALL(k))
#define X86_KEY_LEAF(k) ((uint32_t)((k) >> 32))
#define X86_KEY_SUBLEAF(k) ((uint32_t)(((k) >> 8) & 0xffffff))
#define X86_KEY_REGNO(k) ((unsigned)((k) & 0x3))
#define X86_KEY_MSR_INDEX(k) ((uint32_t)((k) >> 32))

#endif
