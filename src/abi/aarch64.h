/*
 * Locators of aarch64 ABI registers (struct abi_reg.key): the KVM ONE_REG id
 * of the register, so a backend passes the key to KVM_{GET,SET}_ONE_REG as is.
 */
#ifndef BOTHY_ABI_AARCH64_H
#define BOTHY_ABI_AARCH64_H

#include <stdint.h>

/*
 * ONE_REG id constants, with the values of include/uapi/linux/kvm.h
 * (KVM_REG_ARM64, KVM_REG_SIZE_U64) and arch/arm64/include/uapi/asm/kvm.h
 * (KVM_REG_ARM_COPROC_SHIFT, KVM_REG_ARM64_SYSREG, KVM_REG_ARM64_SYSREG_*_SHIFT
 * and _MASK, KVM_REG_ARM_FW_FEAT_BMAP), restated so this header builds
 * without kernel headers.
 */
#define AARCH64_KVM_REG_ARM64 0x6000000000000000ull
#define AARCH64_KVM_REG_SIZE_U64 0x0030000000000000ull
#define AARCH64_KVM_COPROC_SHIFT 16
#define AARCH64_KVM_COPROC_MASK (0xffffull << AARCH64_KVM_COPROC_SHIFT)
#define AARCH64_KVM_SYSREG (0x0013ull << AARCH64_KVM_COPROC_SHIFT)
#define AARCH64_KVM_FW_FEAT_BMAP (0x0016ull << AARCH64_KVM_COPROC_SHIFT)

#define AARCH64_SYSREG_OP0_SHIFT 14 /* mask 0xc000 */
#define AARCH64_SYSREG_OP1_SHIFT 11 /* mask 0x3800 */
#define AARCH64_SYSREG_CRN_SHIFT 7  /* mask 0x0780 */
#define AARCH64_SYSREG_CRM_SHIFT 3  /* mask 0x0078 */
#define AARCH64_SYSREG_OP2_SHIFT 0  /* mask 0x0007 */

/* A 64-bit system register, exactly KVM's ARM64_SYS_REG(op0, op1, crn, crm, op2). */
#define AARCH64_SYSREG_KEY(op0, op1, crn, crm, op2)                                                        \
	(AARCH64_KVM_REG_ARM64 | AARCH64_KVM_REG_SIZE_U64 | AARCH64_KVM_SYSREG |                        \
	 (((uint64_t)(op0) << AARCH64_SYSREG_OP0_SHIFT) & 0xc000) |                                     \
	 (((uint64_t)(op1) << AARCH64_SYSREG_OP1_SHIFT) & 0x3800) |                                     \
	 (((uint64_t)(crn) << AARCH64_SYSREG_CRN_SHIFT) & 0x0780) |                                     \
	 (((uint64_t)(crm) << AARCH64_SYSREG_CRM_SHIFT) & 0x0078) |                                     \
	 (((uint64_t)(op2) << AARCH64_SYSREG_OP2_SHIFT) & 0x0007))

/*
 * A firmware feature bitmap register, exactly KVM's KVM_REG_ARM_FW_FEAT_BMAP_REG(n):
 * 0 KVM_REG_ARM_STD_BMAP, 1 KVM_REG_ARM_STD_HYP_BMAP, 2 KVM_REG_ARM_VENDOR_HYP_BMAP,
 * 3 KVM_REG_ARM_VENDOR_HYP_BMAP_2.
 */
#define AARCH64_FW_BMAP_KEY(n)                                                            \
	(AARCH64_KVM_REG_ARM64 | AARCH64_KVM_REG_SIZE_U64 | AARCH64_KVM_FW_FEAT_BMAP | \
	 ((uint64_t)(n) & 0xffff))

#define AARCH64_KEY_IS_SYSREG(k) (((k) & AARCH64_KVM_COPROC_MASK) == AARCH64_KVM_SYSREG)
#define AARCH64_KEY_IS_FW_BMAP(k) (((k) & AARCH64_KVM_COPROC_MASK) == AARCH64_KVM_FW_FEAT_BMAP)
#define AARCH64_KEY_OP0(k) ((unsigned)(((k) >> AARCH64_SYSREG_OP0_SHIFT) & 0x3))
#define AARCH64_KEY_OP1(k) ((unsigned)(((k) >> AARCH64_SYSREG_OP1_SHIFT) & 0x7))
#define AARCH64_KEY_CRN(k) ((unsigned)(((k) >> AARCH64_SYSREG_CRN_SHIFT) & 0xf))
#define AARCH64_KEY_CRM(k) ((unsigned)(((k) >> AARCH64_SYSREG_CRM_SHIFT) & 0xf))
#define AARCH64_KEY_OP2(k) ((unsigned)(((k) >> AARCH64_SYSREG_OP2_SHIFT) & 0x7))
#define AARCH64_KEY_FW_BMAP_INDEX(k) ((unsigned)((k) & 0xffff))

#endif
