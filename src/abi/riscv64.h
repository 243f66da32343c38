/*
 * Locators of riscv64 ABI registers (struct abi_reg.key).
 *
 * The ISA and SBI extension sets are bitmaps of 64-bit words: word w holds
 * the KVM extension ids 64*w .. 64*w+63, bit (id % 64). That is the layout of
 * KVM's MULTI_EN / MULTI_DIS ONE_REG registers on rv64, so the key of a word
 * is the ONE_REG id of its MULTI_EN register (reading it gives the enabled
 * set; writing it enables the set bits). The matching MULTI_DIS register
 * disables the set bits.
 */
#ifndef BOTHY_ABI_RISCV64_H
#define BOTHY_ABI_RISCV64_H

#include <stdint.h>

/* ONE_REG id fields (include/uapi/linux/kvm.h, arch/riscv/include/uapi/asm/kvm.h). */
#define RISCV64_REG_RISCV 0x8000000000000000ull	   /* KVM_REG_RISCV */
#define RISCV64_REG_SIZE_U64 0x0030000000000000ull /* KVM_REG_SIZE_U64: unsigned long on rv64 */
#define RISCV64_REG_TYPE_MASK 0x00000000ff000000ull /* KVM_REG_RISCV_TYPE_MASK */
#define RISCV64_REG_SUBTYPE_MASK 0x0000000000ff0000ull /* KVM_REG_RISCV_SUBTYPE_MASK */
#define RISCV64_REG_ISA_EXT (0x07ull << 24)	   /* KVM_REG_RISCV_ISA_EXT */
#define RISCV64_REG_SBI_EXT (0x08ull << 24)	   /* KVM_REG_RISCV_SBI_EXT */
#define RISCV64_REG_MULTI_EN (0x1ull << 16)	   /* KVM_REG_RISCV_{ISA,SBI}_MULTI_EN */
#define RISCV64_REG_MULTI_DIS (0x2ull << 16)	   /* KVM_REG_RISCV_{ISA,SBI}_MULTI_DIS */
#define RISCV64_REG_WORD_MASK 0x000000000000ffffull /* word index within a MULTI register */

/* Word w of the ISA extension bitmap: 0x8030000007010000 | w. */
#define RISCV64_ISA_MULTI_KEY(w) \
	(RISCV64_REG_RISCV | RISCV64_REG_SIZE_U64 | RISCV64_REG_ISA_EXT | RISCV64_REG_MULTI_EN | (uint64_t)(w))
/* Word w of the SBI extension bitmap: 0x8030000008010000 | w. */
#define RISCV64_SBI_MULTI_KEY(w) \
	(RISCV64_REG_RISCV | RISCV64_REG_SIZE_U64 | RISCV64_REG_SBI_EXT | RISCV64_REG_MULTI_EN | (uint64_t)(w))

#define RISCV64_KEY_IS_ISA(k) (((k) & RISCV64_REG_TYPE_MASK) == RISCV64_REG_ISA_EXT)
#define RISCV64_KEY_IS_SBI(k) (((k) & RISCV64_REG_TYPE_MASK) == RISCV64_REG_SBI_EXT)
#define RISCV64_KEY_WORD(k) ((unsigned)((k) & RISCV64_REG_WORD_MASK))
/* The MULTI_DIS register of the same word. */
#define RISCV64_KEY_MULTI_DIS(k) (((k) & ~RISCV64_REG_SUBTYPE_MASK) | RISCV64_REG_MULTI_DIS)

/* Extension ids known to the tables: KVM_RISCV_ISA_EXT_MAX and KVM_RISCV_SBI_EXT_MAX as of Linux 6.18. */
#define RISCV64_ISA_EXT_COUNT 75
#define RISCV64_SBI_EXT_COUNT 13

#endif
