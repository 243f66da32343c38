/*
 * idregs: the AArch64 ID registers as the guest sees them, read with MRS at EL1 (KVM answers
 * from the VM's values, so a field the guest ABI lowered reads back lowered). Prints one line per
 * register, "ID <name> <value>" with 16 hex digits, then "ID done", and powers off. The test
 * (tests/integration/aarch64/payload-arm64-idregs.test) compares the lines with the host's
 * fingerprint and with a template's changes.
 */
#include <stdint.h>

#include "lib.h"

/*
 * MRS by encoding (S<op0>_<op1>_C<n>_C<m>_<op2>): older assemblers lack the names of the newer
 * registers (ID_AA64ISAR2_EL1, ID_AA64SMFR0_EL1). All are op0 3, op1 0, CRn 0.
 */
#define READ_ID(crm, op2)                                                            \
	({                                                                           \
		uint64_t v_;                                                         \
		__asm__ volatile("mrs %0, S3_0_C0_C" #crm "_" #op2 : "=r"(v_)); \
		v_;                                                                  \
	})

static void show(const char *name, uint64_t value)
{
	puts_uart("ID ");
	puts_uart(name);
	putc_uart(' ');
	puthex(value);
	puts_uart("\r\n");
}

int main(void)
{
	/* Names as the guest-ABI tables (src/abi/aarch64.def) spell them. */
	show("id_aa64pfr0_el1", READ_ID(4, 0));
	show("id_aa64pfr1_el1", READ_ID(4, 1));
	show("id_aa64zfr0_el1", READ_ID(4, 4));
	show("id_aa64smfr0_el1", READ_ID(4, 5));
	show("id_aa64dfr0_el1", READ_ID(5, 0));
	show("id_aa64isar0_el1", READ_ID(6, 0));
	show("id_aa64isar1_el1", READ_ID(6, 1));
	show("id_aa64isar2_el1", READ_ID(6, 2));
	show("id_aa64mmfr0_el1", READ_ID(7, 0));
	show("id_aa64mmfr1_el1", READ_ID(7, 1));
	show("id_aa64mmfr2_el1", READ_ID(7, 2));
	puts_uart("ID done\r\n");
	return 0;
}
