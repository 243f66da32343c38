/*
 * abi-frozen: the arm64 guest ABI's write rules against real KVM, through bothy's own code: the KVM
 * backend (src/hv/kvm.c), the host limit and register writer of src/arch/aarch64/abi.c and the
 * engine (src/abi/abi.c). A one-page guest powers off with PSCI SYSTEM_OFF; around its only run:
 *
 *   before: an unknown bit in each firmware bitmap register is refused (engine and KVM: EINVAL);
 *           a manifest hiding TRNG (fw.std_bmap) and lowering a writable ID field is accepted;
 *   after:  a different value in that bitmap register and that ID register is refused (EBUSY),
 *           the same value is accepted, and the guest-visible values are the manifest's.
 *
 * Prints "ok: ..." or "FAIL: ..." per check and "abi-frozen: N checks, M failed"; exit status 0 when
 * every check passed, 1 otherwise, 77 when it cannot run (no /dev/kvm). Used by
 * tests/integration/aarch64/payload-arm64-abi-frozen.test.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "abi/abi.h"
#include "arch/aarch64/machine.h"
#include "arch/arch.h"
#include "hv/hv.h"

#define RAM_BASE 0x40000000ull
#define RAM_SIZE 0x10000ull
#define PSTATE_EL1H_DAIF 0x3c5ull

/* x0 = PSCI SYSTEM_OFF (0x84000008); hvc #0; b . */
static const uint32_t guest_code[] = { 0xd2800100, 0xf2b08000, 0xd4000002, 0x14000000 };

static const struct hv_ops *ops = &hv_kvm_ops;
static unsigned checks, failed;

static void check(bool ok, const char *what, int got)
{
	checks++;
	if (!ok)
		failed++;
	printf("%s: %s (%s)\n", ok ? "ok" : "FAIL", what, got ? strerror(-got) : "accepted");
}

/* The ID field to lower: rndr if the host has it, else the first writable lower-safe field that is not 0. */
static int pick_id_field(const struct abi_manifest *limit)
{
	const struct abi_arch *arch = limit->arch;
	int rndr = abi_find_field(arch, "rndr");
	int found = -1;

	for (size_t fi = 0; fi < arch->nfields; fi++) {
		const struct abi_field *f = &arch->fields[fi];

		if (arch->regs[f->reg].kind != ABI_REG_FEATURE || !limit->present[f->reg] || f->is_signed ||
		    (abi_field_flags(arch, fi, limit) & ABI_F_FIXED) ||
		    abi_field_rule(arch, fi, NULL) != ABI_RULE_LOWER_SAFE || abi_field_get(f, limit->val[f->reg]) <= 0)
			continue;
		if ((int)fi == rndr)
			return rndr;
		if (found < 0)
			found = (int)fi;
	}
	return found;
}

/* Runs the vCPU to its PSCI SYSTEM_OFF. */
static int run_guest(struct hv_vcpu *vcpu)
{
	struct hv_exit exit;
	int ret;

	for (int i = 0; i < 16; i++) {
		ret = ops->vcpu_run(vcpu, &exit);
		if (ret == -EINTR)
			continue;
		if (ret)
			return ret;
		if (exit.reason == HV_EXIT_SYSTEM_EVENT && exit.system_event.type == HV_SYSTEM_SHUTDOWN)
			return 0;
		if (exit.reason != HV_EXIT_INTR) {
			fprintf(stderr, "abi-frozen: unexpected exit %d\n", (int)exit.reason);
			return -EIO;
		}
	}
	return -ETIMEDOUT;
}

static void before_run(struct hv_vcpu *vcpu, const struct abi_manifest *limit)
{
	const struct abi_arch *arch = limit->arch;

	for (unsigned reg = 0; reg < arch->nregs; reg++) {
		struct abi_manifest m = *limit;
		char what[128];
		int ret;

		if (arch->regs[reg].kind != ABI_REG_BITMAP || !limit->present[reg])
			continue;
		/* Bit 63: no SMCCC service bitmap defines it. */
		m.val[reg] |= 1ull << 63;
		ret = abi_check(&m, limit, NULL);
		snprintf(what, sizeof(what), "%s: an unknown bit is refused by the engine", arch->regs[reg].name);
		check(ret == -EINVAL, what, ret);
		ret = arm64_abi_write_reg(ops, vcpu, 0, &m, reg);
		snprintf(what, sizeof(what), "%s: an unknown bit is refused by KVM before the first run",
			 arch->regs[reg].name);
		check(ret == -EINVAL, what, ret);
	}
}

int main(void)
{
	static struct abi_manifest limit, m;
	struct hv *hv;
	struct hv_vm *vm;
	struct hv_vcpu *vcpu;
	int trng, bmap, field, idreg, ret;
	unsigned nmasks = 0;
	uint64_t v;
	void *ram;

	ret = ops->open(&hv);
	if (ret) {
		printf("abi-frozen: cannot open KVM: %s\n", strerror(-ret));
		return 77;
	}
	ret = arch_abi_limit(ops, hv, &limit);
	if (ret) {
		printf("abi-frozen: cannot read the host limit: %s\n", strerror(-ret));
		return 1;
	}
	for (unsigned reg = 0; reg < limit.arch->nregs; reg++)
		nmasks += limit.writable_known[reg];
	printf("abi-frozen: host limit read, %u ID registers with KVM's writable masks\n", nmasks);

	trng = abi_find_field(limit.arch, "trng");
	bmap = limit.arch->fields[trng].reg;
	field = pick_id_field(&limit);
	if (!limit.present[bmap] || !(limit.val[bmap] & abi_field_mask(&limit.arch->fields[trng])) || field < 0) {
		printf("abi-frozen: this host has no TRNG service or no writable ID field to lower\n");
		return 77;
	}
	idreg = limit.arch->fields[field].reg;
	printf("abi-frozen: lowering %s.%s from %lld to 0\n", limit.arch->regs[idreg].name,
	       limit.arch->fields[field].name, (long long)abi_field_get(&limit.arch->fields[field], limit.val[idreg]));

	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED)
		return 1;
	memcpy(ram, guest_code, sizeof(guest_code));
	if ((ret = ops->vm_create(hv, &vm)) || (ret = ops->vm_set_memory(vm, 0, RAM_BASE, RAM_SIZE, ram)) ||
	    (ret = ops->vcpu_create(vm, 0, &vcpu)) || (ret = ops->arm64_set_reg(vcpu, HV_ARM64_PC, RAM_BASE)) ||
	    (ret = ops->arm64_set_reg(vcpu, HV_ARM64_PSTATE, PSTATE_EL1H_DAIF))) {
		printf("abi-frozen: cannot build the VM: %s\n", strerror(-ret));
		return 1;
	}

	before_run(vcpu, &limit);

	/* The manifest: TRNG hidden, the ID field lowered; checked, then written as bothy run would. */
	m = limit;
	m.val[bmap] &= ~abi_field_mask(&limit.arch->fields[trng]);
	m.val[idreg] = abi_field_put(&limit.arch->fields[field], m.val[idreg], 0);
	ret = abi_check(&m, &limit, NULL);
	check(ret == 0, "the manifest passes the engine", ret);
	ret = arm64_abi_write_reg(ops, vcpu, 0, &m, bmap);
	check(ret == 0, "fw.std_bmap without TRNG is written before the first run", ret);
	ret = arm64_abi_write_reg(ops, vcpu, 0, &m, idreg);
	check(ret == 0, "the lowered ID register is written before the first run", ret);

	ret = run_guest(vcpu);
	check(ret == 0, "the guest ran to PSCI SYSTEM_OFF", ret);
	m.frozen = true;

	/* A different value: the engine and KVM both say EBUSY. Then the same value: accepted. */
	struct abi_manifest other = m;
	other.val[bmap] = limit.val[bmap];
	other.val[idreg] = limit.val[idreg];
	ret = abi_set_reg(&m, &limit, bmap, other.val[bmap], NULL);
	check(ret == -EBUSY, "the engine refuses a different fw.std_bmap after the run", ret);
	ret = arm64_abi_write_reg(ops, vcpu, 0, &other, bmap);
	check(ret == -EBUSY, "KVM refuses a different fw.std_bmap after the run", ret);
	ret = arm64_abi_write_reg(ops, vcpu, 0, &other, idreg);
	check(ret == -EBUSY, "KVM refuses a different ID register value after the run", ret);
	ret = arm64_abi_write_reg(ops, vcpu, 0, &m, bmap);
	check(ret == 0, "KVM accepts the same fw.std_bmap after the run", ret);
	ret = arm64_abi_write_reg(ops, vcpu, 0, &m, idreg);
	check(ret == 0, "KVM accepts the same ID register value after the run", ret);

	ret = ops->arm64_get_one_reg(vcpu, limit.arch->regs[bmap].key, &v);
	check(ret == 0 && v == m.val[bmap], "fw.std_bmap still reads as the manifest's", ret);
	ret = ops->arm64_get_one_reg(vcpu, limit.arch->regs[idreg].key, &v);
	check(ret == 0 && v == m.val[idreg], "the ID register still reads as the manifest's", ret);

	ops->vcpu_destroy(vcpu);
	ops->vm_destroy(vm);
	ops->close(hv);
	munmap(ram, RAM_SIZE);
	printf("abi-frozen: %u checks, %u failed\n", checks, failed);
	return failed ? 1 : 0;
}
