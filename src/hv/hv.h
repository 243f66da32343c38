/*
 * The hypervisor seam. Everything above this line is written against
 * struct hv_ops; src/hv/kvm.c is the only code that issues KVM ioctls and
 * src/hv/fake.c implements the same operations for unit tests.
 *
 * All operations return 0 or a negative errno. Objects are opaque to callers.
 */
#ifndef BOTHY_HV_HV_H
#define BOTHY_HV_HV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hv;      /* an open hypervisor (e.g. /dev/kvm) */
struct hv_vm;   /* one VM */
struct hv_vcpu; /* one vCPU, owned by its VM */

enum hv_exit_reason {
	HV_EXIT_IO,           /* port I/O (x86) */
	HV_EXIT_MMIO,         /* access to an address with no RAM behind it */
	HV_EXIT_HLT,          /* vCPU halted with no in-kernel irqchip to wake it */
	HV_EXIT_SHUTDOWN,     /* x86 triple fault */
	HV_EXIT_SYSTEM_EVENT, /* PSCI/SBI shutdown, reset, crash */
	HV_EXIT_INTR,         /* run interrupted by a signal or vcpu_kick */
	HV_EXIT_INTERNAL,     /* the hypervisor could not continue (emulation failure...) */
	HV_EXIT_FAIL_ENTRY,   /* the hardware refused to enter the guest */
	HV_EXIT_HYPERCALL,    /* arm64: an HVC/SMC the hypervisor's SMCCC filter forwards to the VMM */
	HV_EXIT_UNKNOWN,
};

enum hv_system_event { HV_SYSTEM_SHUTDOWN = 1, HV_SYSTEM_RESET = 2, HV_SYSTEM_CRASH = 3 };

/*
 * One exit, decoded. For reads (IO in, MMIO read) the handler fills data[];
 * the backend completes the access on the next hv_vcpu_run().
 */
struct hv_exit {
	enum hv_exit_reason reason;
	union {
		struct {
			uint16_t port;
			uint8_t size;  /* 1, 2 or 4 */
			bool write;
			uint32_t count; /* string I/O repeats */
			uint8_t *data;  /* count * size bytes */
		} io;
		struct {
			uint64_t gpa;
			uint8_t len;
			bool write;
			uint8_t *data; /* up to 8 bytes */
		} mmio;
		struct {
			uint32_t type; /* enum hv_system_event or backend value */
		} system_event;
		struct {
			uint32_t suberror;
			uint32_t ndata;
			uint64_t data[16];
			uint8_t insn_len; /* instruction bytes, if the backend had them */
			uint8_t insn[16];
		} internal;
		struct {
			uint64_t hw_reason;
		} fail_entry;
		struct {
			uint64_t nr;   /* the function id (W0); arguments and results are registers */
			bool smc;      /* SMC conduit (else HVC); the PC is already past the instruction */
		} hypercall;
		uint32_t unknown_reason;
	};
};

/* x86 register state, in the backend-neutral form the arch code uses. */
struct hv_x86_regs {
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rip, rflags;
};

struct hv_x86_segment {
	uint64_t base;
	uint32_t limit;
	uint16_t selector;
	uint8_t type, present, dpl, db, s, l, g, avl, unusable;
};

struct hv_x86_dtable {
	uint64_t base;
	uint16_t limit;
};

struct hv_x86_sregs {
	struct hv_x86_segment cs, ds, es, fs, gs, ss, tr, ldt;
	struct hv_x86_dtable gdt, idt;
	uint64_t cr0, cr2, cr3, cr4, cr8, efer, apic_base;
};

/* What decides how an exit's registers are read: privilege and operating mode. */
struct hv_x86_mode {
	uint64_t cr0, efer;
	uint16_t cs_selector;
	bool cs_l;
};

struct hv_x86_cpuid_entry {
	uint32_t function, index, flags;
	uint32_t eax, ebx, ecx, edx;
};
#define HV_CPUID_FLAG_SIGNIFICANT_INDEX 1u
#define HV_MAX_CPUID_ENTRIES 256

struct hv_x86_msr {
	uint32_t index;
	uint64_t value;
};

/*
 * arm64 registers by name (the backend maps them to its own ids). X0..X30, SP (SP_EL0), PC and
 * PSTATE are the general state; the rest are EL1 system registers a crash report or the device
 * tree needs.
 */
enum hv_arm64_reg {
	HV_ARM64_X0 = 0, /* X0..X30 are HV_ARM64_X0 + n */
	HV_ARM64_SP = 31,
	HV_ARM64_PC,
	HV_ARM64_PSTATE,
	HV_ARM64_SP_EL1,
	HV_ARM64_ELR_EL1,
	HV_ARM64_SPSR_EL1,
	HV_ARM64_ESR_EL1,
	HV_ARM64_FAR_EL1,
	HV_ARM64_VBAR_EL1,
	HV_ARM64_SCTLR_EL1,
	HV_ARM64_MPIDR_EL1,
	HV_ARM64_NR_REGS,
};

/* What the arm64 hypervisor does with a range of SMCCC function ids. */
enum hv_smccc_action { HV_SMCCC_HANDLE, HV_SMCCC_DENY, HV_SMCCC_FORWARD };

/* The arm64 in-kernel GICv3: where its distributor and redistributors sit in guest memory. */
struct hv_arm64_gic {
	uint64_t dist_base;   /* 64 KiB */
	uint64_t redist_base; /* 128 KiB per vCPU */
};

/* vm_ioeventfd's datamatch for "whatever the guest writes". */
#define HV_IOEVENTFD_ANY (-1LL)

/* GSIs below this are the interrupt controllers' pins (x86: IOAPIC 0-23); MSI routes start here. */
#define HV_MSI_GSI_BASE 24
#define HV_MAX_GSI 1024

struct hv_ops {
	const char *name;

	int (*open)(struct hv **out);
	void (*close)(struct hv *hv);

	int (*vm_create)(struct hv *hv, struct hv_vm **out);
	void (*vm_destroy)(struct hv_vm *vm);
	/* Map [hva, hva+size) at guest physical @gpa in @slot; size 0 deletes. */
	int (*vm_set_memory)(struct hv_vm *vm, uint32_t slot, uint64_t gpa, uint64_t size, void *hva);
	/* In-kernel interrupt controllers and timers (x86: PIC, IOAPIC, LAPICs, PIT). */
	int (*vm_create_irqchip)(struct hv_vm *vm);
	/* x86: a GSI. arm64: a GIC interrupt id, an SPI (32 and up). */
	int (*vm_irq_line)(struct hv_vm *vm, uint32_t irq, bool level);
	/*
	 * Device fast paths, so neither direction goes through a vCPU exit handler:
	 * a guest write of @len bytes to @addr (MMIO, or a port with @pio) signals eventfd @fd
	 * instead of exiting, for any value (@datamatch HV_IOEVENTFD_ANY) or only for value
	 * @datamatch (then several eventfds may share the address); and a write to eventfd @fd
	 * raises interrupt @gsi.
	 */
	int (*vm_ioeventfd)(struct hv_vm *vm, int fd, uint64_t addr, unsigned len, bool pio, int64_t datamatch,
			    bool assign);
	int (*vm_irqfd)(struct hv_vm *vm, int fd, uint32_t gsi, bool assign);
	/* Routes @gsi (>= HV_MSI_GSI_BASE) to a message-signalled interrupt; the backend keeps the
	 * platform's own routes (x86: PIC and IOAPIC pins). */
	int (*vm_set_msi_route)(struct hv_vm *vm, uint32_t gsi, uint64_t addr, uint32_t data);

	/*
	 * arm64: the vCPU comes back initialised for the host's preferred CPU type with PSCI 0.2+
	 * handled in the hypervisor; vCPU 0 starts running, the others start powered off until the
	 * guest turns them on with PSCI CPU_ON.
	 */
	int (*vcpu_create)(struct hv_vm *vm, unsigned index, struct hv_vcpu **out);
	void (*vcpu_destroy)(struct hv_vcpu *vcpu);
	/* Runs until the next exit that needs the VMM; fills @exit. */
	int (*vcpu_run)(struct hv_vcpu *vcpu, struct hv_exit *exit);
	/* Make a vcpu_run() in progress (or the next one) return HV_EXIT_INTR.
	 * Safe to call from any thread. */
	void (*vcpu_kick)(struct hv_vcpu *vcpu);

	/* The guest's clock (x86 kvmclock) in ns and the host's CLOCK_REALTIME read with it (0 if unpaired). */
	int (*vm_get_clock)(struct hv_vm *vm, uint64_t *guest_ns, uint64_t *realtime_ns);

	/* x86 state. */
	int (*x86_get_regs)(struct hv_vcpu *vcpu, struct hv_x86_regs *regs);
	int (*x86_set_regs)(struct hv_vcpu *vcpu, const struct hv_x86_regs *regs);
	int (*x86_get_sregs)(struct hv_vcpu *vcpu, struct hv_x86_sregs *sregs);
	int (*x86_set_sregs)(struct hv_vcpu *vcpu, const struct hv_x86_sregs *sregs);
	/* The few segment-register fields an exit handler needs, cheaper than x86_get_sregs. */
	int (*x86_get_mode)(struct hv_vcpu *vcpu, struct hv_x86_mode *mode);
	/* Fills up to *nent entries; on return *nent is the count (-E2BIG if too small). */
	int (*x86_get_supported_cpuid)(struct hv *hv, struct hv_x86_cpuid_entry *entries, unsigned *nent);
	int (*x86_set_cpuid)(struct hv_vcpu *vcpu, const struct hv_x86_cpuid_entry *entries, unsigned nent);
	int (*x86_set_msrs)(struct hv_vcpu *vcpu, const struct hv_x86_msr *msrs, unsigned n);
	/* A feature MSR's host value (KVM_GET_MSR_FEATURE_INDEX_LIST); -ENOENT if the host has none. */
	int (*x86_get_feature_msr)(struct hv *hv, uint32_t index, uint64_t *value);
	/* Make KVM refuse the paravirt features CPUID 0x40000001 does not list; -EOPNOTSUPP if it cannot. */
	int (*x86_enforce_pv_cpuid)(struct hv_vcpu *vcpu);
	/* FPU to its reset state, LAPIC LINT0 = ExtINT and LINT1 = NMI. */
	int (*x86_init_fpu_lapic)(struct hv_vcpu *vcpu);
	/* Guest virtual → guest physical through the vCPU's current page tables. */
	int (*x86_translate)(struct hv_vcpu *vcpu, uint64_t gva, uint64_t *gpa);

	/* arm64 state. */
	int (*arm64_get_reg)(struct hv_vcpu *vcpu, enum hv_arm64_reg reg, uint64_t *value);
	int (*arm64_set_reg)(struct hv_vcpu *vcpu, enum hv_arm64_reg reg, uint64_t value);
	/* Creates the in-kernel GICv3 (and with it the arch timer's interrupts) at @gic's addresses. */
	int (*arm64_create_gic)(struct hv_vm *vm, const struct hv_arm64_gic *gic);
	/* Finishes the GIC once every vCPU exists, before any runs. */
	int (*arm64_init_gic)(struct hv_vm *vm);
	/*
	 * 64-bit registers by KVM ONE_REG id (the keys of src/abi/aarch64.h: ID registers, firmware
	 * bitmap registers). A write KVM refuses keeps its errno: -EBUSY once the VM has run and the
	 * value differs, -EINVAL for bits it does not know, -E2BIG for an ID field above the limit.
	 */
	int (*arm64_get_one_reg)(struct hv_vcpu *vcpu, uint64_t id, uint64_t *value);
	int (*arm64_set_one_reg)(struct hv_vcpu *vcpu, uint64_t id, uint64_t value);
	/*
	 * What a new VM gets: reads @n registers by id from a scratch VM with one vCPU (ONE_REG needs a
	 * vCPU); present[i] is false for a register this host does not have. writable[i] is the mask of
	 * bits of register i a VMM may change (KVM_ARM_GET_REG_WRITABLE_MASKS), with writable_known[i]
	 * false where the hypervisor cannot say (an older KVM, a register outside its ranges).
	 */
	int (*arm64_host_regs)(struct hv *hv, const uint64_t *ids, unsigned n, uint64_t *values, bool *present,
			       uint64_t *writable, bool *writable_known);
	/*
	 * The SMCCC filter: HVC/SMC calls with ids in [base, base + count) are handled by the
	 * hypervisor, denied (NOT_SUPPORTED) or forwarded (HV_EXIT_HYPERCALL). Before any vCPU runs;
	 * -EEXIST for an overlap or the Arm architecture calls the hypervisor keeps, -ENXIO if the
	 * hypervisor has no filter.
	 */
	int (*arm64_smccc_filter)(struct hv_vm *vm, uint32_t base, uint32_t count, enum hv_smccc_action action);
};

extern const struct hv_ops hv_kvm_ops;
extern const struct hv_ops hv_fake_ops;

#endif
