/*
 * Test controls of the fake hypervisor (src/hv/fake.c): scripted exits,
 * injected failures and a record of what the VMM asked for.
 */
#ifndef BOTHY_HV_FAKE_H
#define BOTHY_HV_FAKE_H

#include "hv/hv.h"

#define FAKE_MAX_SLOTS 16
#define FAKE_MAX_VCPUS 64
#define FAKE_MAX_MSRS 32
#define FAKE_GUEST_CLOCK_NS 123456789ull
#define FAKE_REALTIME_NS 1800000000000000000ull
#define FAKE_MSR_ARCH_CAPABILITIES 0x10au
#define FAKE_ARCH_CAPABILITIES 0x25ull /* RDCL_NO, RSBA, MDS_NO */

struct fake_slot {
	bool used;
	uint64_t gpa, size;
	void *hva;
};

struct fake_state {
	unsigned opens, vms, vcpus_live;     /* objects currently alive */
	struct fake_slot slots[FAKE_MAX_SLOTS];
	bool irqchip;
	int irq_level[32];
	unsigned irq_edges[32];              /* 0 -> 1 transitions seen */
	struct hv_x86_regs regs[FAKE_MAX_VCPUS];
	struct hv_x86_sregs sregs[FAKE_MAX_VCPUS];
	unsigned cpuid_nent[FAKE_MAX_VCPUS];
	struct hv_x86_cpuid_entry cpuid[FAKE_MAX_VCPUS][HV_MAX_CPUID_ENTRIES];
	unsigned runs[FAKE_MAX_VCPUS];
	unsigned set_regs_calls[FAKE_MAX_VCPUS];
	unsigned nmsrs[FAKE_MAX_VCPUS]; /* MSRs written, in order */
	struct hv_x86_msr msrs[FAKE_MAX_VCPUS][FAKE_MAX_MSRS];
	bool pv_enforced[FAKE_MAX_VCPUS];
	/* Device fast paths: what is assigned now. */
	unsigned nr_ioeventfds, nr_irqfds;
	struct fake_ioeventfd {
		int fd;
		uint64_t addr;
		unsigned len;
		bool pio;
		int64_t datamatch; /* HV_IOEVENTFD_ANY or the value */
	} ioeventfds[64];
	struct fake_irqfd {
		int fd;
		uint32_t gsi;
	} irqfds[64];
	struct fake_msi_route {
		bool set;
		uint64_t addr;
		uint32_t data;
	} msi_routes[HV_MAX_GSI];
};

extern struct fake_state fake_state;

/* Forgets everything: scripts, failures and records. */
void fake_hv_reset(void);
/* The next call of the named op (e.g. "vcpu_create") fails with @err. */
void fake_hv_fail_next(const char *op, int err);
/*
 * Queues an exit for vCPU @index. For I/O and MMIO, @data (len bytes) is what
 * a write carries; a read's result is recorded and returned by fake_hv_last_read().
 * A vCPU with nothing queued blocks until kicked, then reports HV_EXIT_INTR.
 */
void fake_hv_push_exit(unsigned index, const struct hv_exit *exit, const void *data, size_t len);
uint64_t fake_hv_last_read(unsigned index);

#endif
