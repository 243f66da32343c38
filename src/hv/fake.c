/*
 * A hypervisor that runs nothing: it records what the VMM asks for and plays
 * back scripted exits, so the core can be unit-tested without /dev/kvm.
 */
#include "hv/fake.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct fake_state fake_state;

#define FAKE_QUEUE 32

struct scripted_exit {
	struct hv_exit exit;
	uint8_t data[64];
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char fail_op[32];
	int fail_err;
	struct scripted_exit queue[FAKE_MAX_VCPUS][FAKE_QUEUE];
	unsigned head[FAKE_MAX_VCPUS], tail[FAKE_MAX_VCPUS];
	bool kicked[FAKE_MAX_VCPUS];
	struct scripted_exit current[FAKE_MAX_VCPUS];
	bool have_current[FAKE_MAX_VCPUS];
	uint64_t last_read[FAKE_MAX_VCPUS];
} fk = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

struct hv {
	int unused;
};
struct hv_vm {
	struct hv *hv;
};
struct hv_vcpu {
	struct hv_vm *vm;
	unsigned index;
};

void fake_hv_reset(void)
{
	pthread_mutex_lock(&fk.lock);
	memset(&fake_state, 0, sizeof(fake_state));
	fk.fail_op[0] = '\0';
	memset(fk.head, 0, sizeof(fk.head));
	memset(fk.tail, 0, sizeof(fk.tail));
	memset(fk.kicked, 0, sizeof(fk.kicked));
	memset(fk.have_current, 0, sizeof(fk.have_current));
	pthread_mutex_unlock(&fk.lock);
}

void fake_hv_fail_next(const char *op, int err)
{
	pthread_mutex_lock(&fk.lock);
	strncpy(fk.fail_op, op, sizeof(fk.fail_op) - 1);
	fk.fail_err = err;
	pthread_mutex_unlock(&fk.lock);
}

static int injected(const char *op)
{
	int err = 0;

	pthread_mutex_lock(&fk.lock);
	if (fk.fail_op[0] && !strcmp(fk.fail_op, op)) {
		err = fk.fail_err;
		fk.fail_op[0] = '\0';
	}
	pthread_mutex_unlock(&fk.lock);
	return err;
}

void fake_hv_push_exit(unsigned index, const struct hv_exit *exit, const void *data, size_t len)
{
	struct scripted_exit *s;

	pthread_mutex_lock(&fk.lock);
	s = &fk.queue[index][fk.tail[index]++ % FAKE_QUEUE];
	s->exit = *exit;
	if (len > sizeof(s->data))
		len = sizeof(s->data);
	memset(s->data, 0, sizeof(s->data));
	if (data)
		memcpy(s->data, data, len);
	pthread_cond_broadcast(&fk.cond);
	pthread_mutex_unlock(&fk.lock);
}

uint64_t fake_hv_last_read(unsigned index)
{
	uint64_t v;

	pthread_mutex_lock(&fk.lock);
	v = fk.last_read[index];
	pthread_mutex_unlock(&fk.lock);
	return v;
}

static int fake_open(struct hv **out)
{
	int err = injected("open");

	if (err)
		return err;
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	fake_state.opens++;
	return 0;
}

static void fake_close(struct hv *hv)
{
	if (!hv)
		return;
	fake_state.opens--;
	free(hv);
}

static int fake_vm_create(struct hv *hv, struct hv_vm **out)
{
	int err = injected("vm_create");

	if (err)
		return err;
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	(*out)->hv = hv;
	fake_state.vms++;
	return 0;
}

static void fake_vm_destroy(struct hv_vm *vm)
{
	if (!vm)
		return;
	fake_state.vms--;
	memset(fake_state.slots, 0, sizeof(fake_state.slots));
	fake_state.irqchip = false;
	free(vm);
}

static int fake_vm_set_memory(struct hv_vm *vm, uint32_t slot, uint64_t gpa, uint64_t size, void *hva)
{
	int err = injected("vm_set_memory");

	(void)vm;
	if (err)
		return err;
	if (slot >= FAKE_MAX_SLOTS)
		return -EINVAL;
	fake_state.slots[slot] = (struct fake_slot){ size != 0, gpa, size, hva };
	return 0;
}

static int fake_vm_create_irqchip(struct hv_vm *vm)
{
	int err = injected("vm_create_irqchip");

	(void)vm;
	if (err)
		return err;
	fake_state.irqchip = true;
	return 0;
}

static int fake_vm_ioeventfd(struct hv_vm *vm, int fd, uint64_t addr, unsigned len, bool pio, int64_t datamatch,
			     bool assign)
{
	int ret = injected("vm_ioeventfd");
	unsigned i;

	(void)vm;
	if (ret)
		return ret;
	pthread_mutex_lock(&fk.lock);
	for (i = 0; i < fake_state.nr_ioeventfds; i++) {
		struct fake_ioeventfd *e = &fake_state.ioeventfds[i];

		if (e->addr == addr && e->pio == pio && e->len == len && e->datamatch == datamatch)
			break;
	}
	if (assign) {
		if (i < fake_state.nr_ioeventfds)
			ret = -EEXIST; /* KVM refuses a second eventfd on the same address and value */
		else if (i == 64)
			ret = -ENOSPC;
		else
			fake_state.ioeventfds[fake_state.nr_ioeventfds++] =
				(struct fake_ioeventfd){ fd, addr, len, pio, datamatch };
	} else if (i == fake_state.nr_ioeventfds) {
		ret = -ENOENT;
	} else {
		fake_state.ioeventfds[i] = fake_state.ioeventfds[--fake_state.nr_ioeventfds];
	}
	pthread_mutex_unlock(&fk.lock);
	return ret;
}

static int fake_vm_irqfd(struct hv_vm *vm, int fd, uint32_t gsi, bool assign)
{
	int ret = injected("vm_irqfd");
	unsigned i;

	(void)vm;
	if (ret)
		return ret;
	pthread_mutex_lock(&fk.lock);
	for (i = 0; i < fake_state.nr_irqfds && fake_state.irqfds[i].fd != fd; i++)
		;
	if (assign) {
		if (i < fake_state.nr_irqfds)
			ret = -EBUSY;
		else if (i == 64)
			ret = -ENOSPC;
		else
			fake_state.irqfds[fake_state.nr_irqfds++] = (struct fake_irqfd){ fd, gsi };
	} else if (i == fake_state.nr_irqfds) {
		ret = -ENOENT;
	} else {
		fake_state.irqfds[i] = fake_state.irqfds[--fake_state.nr_irqfds];
	}
	pthread_mutex_unlock(&fk.lock);
	return ret;
}

static int fake_vm_set_msi_route(struct hv_vm *vm, uint32_t gsi, uint64_t addr, uint32_t data)
{
	int ret = injected("vm_set_msi_route");

	(void)vm;
	if (ret)
		return ret;
	if (gsi < HV_MSI_GSI_BASE || gsi >= HV_MAX_GSI)
		return -EINVAL;
	pthread_mutex_lock(&fk.lock);
	fake_state.msi_routes[gsi] = (struct fake_msi_route){ true, addr, data };
	pthread_mutex_unlock(&fk.lock);
	return 0;
}

static int fake_vm_irq_line(struct hv_vm *vm, uint32_t irq, bool level)
{
	(void)vm;
	if (irq >= 32)
		return -EINVAL;
	pthread_mutex_lock(&fk.lock);
	if (level && !fake_state.irq_level[irq])
		fake_state.irq_edges[irq]++;
	fake_state.irq_level[irq] = level;
	pthread_mutex_unlock(&fk.lock);
	return 0;
}

static int fake_vcpu_create(struct hv_vm *vm, unsigned index, struct hv_vcpu **out)
{
	int err = injected("vcpu_create");

	if (err)
		return err;
	if (index >= FAKE_MAX_VCPUS)
		return -EINVAL;
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	(*out)->vm = vm;
	(*out)->index = index;
	fake_state.vcpus_live++;
	return 0;
}

static void fake_vcpu_destroy(struct hv_vcpu *vcpu)
{
	if (!vcpu)
		return;
	fake_state.vcpus_live--;
	free(vcpu);
}

/* As KVM completes a port read: into RAX, merged below 4 bytes, zero-extended at 4. */
static void complete_in(struct hv_x86_regs *r, const uint8_t *data, unsigned size)
{
	uint64_t rax = size < 4 ? r->rax : 0;

	if (size <= sizeof(uint32_t))
		memcpy(&rax, data, size);
	r->rax = rax;
}

static int fake_vcpu_run(struct hv_vcpu *vcpu, struct hv_exit *exit)
{
	unsigned i = vcpu->index;
	struct scripted_exit *cur = &fk.current[i];

	pthread_mutex_lock(&fk.lock);
	fake_state.runs[i]++;
	/* Complete the previous read exit: remember what the VMM answered. */
	if (fk.have_current[i]) {
		if (cur->exit.reason == HV_EXIT_IO && !cur->exit.io.write) {
			memcpy(&fk.last_read[i], cur->data, cur->exit.io.size);
			complete_in(&fake_state.regs[i], cur->data, cur->exit.io.size);
		} else if (cur->exit.reason == HV_EXIT_MMIO && !cur->exit.mmio.write)
			memcpy(&fk.last_read[i], cur->data, cur->exit.mmio.len);
		fk.have_current[i] = false;
	}
	while (fk.head[i] == fk.tail[i] && !fk.kicked[i])
		pthread_cond_wait(&fk.cond, &fk.lock);
	if (fk.kicked[i]) {
		fk.kicked[i] = false;
		exit->reason = HV_EXIT_INTR;
		pthread_mutex_unlock(&fk.lock);
		return 0;
	}
	*cur = fk.queue[i][fk.head[i]++ % FAKE_QUEUE];
	fk.have_current[i] = true;
	*exit = cur->exit;
	if (exit->reason == HV_EXIT_IO)
		exit->io.data = cur->data;
	else if (exit->reason == HV_EXIT_MMIO)
		exit->mmio.data = cur->data;
	pthread_mutex_unlock(&fk.lock);
	return 0;
}

static void fake_vcpu_kick(struct hv_vcpu *vcpu)
{
	pthread_mutex_lock(&fk.lock);
	fk.kicked[vcpu->index] = true;
	pthread_cond_broadcast(&fk.cond);
	pthread_mutex_unlock(&fk.lock);
}

static int fake_x86_get_regs(struct hv_vcpu *vcpu, struct hv_x86_regs *regs)
{
	*regs = fake_state.regs[vcpu->index];
	return 0;
}

static int fake_x86_set_regs(struct hv_vcpu *vcpu, const struct hv_x86_regs *regs)
{
	int err = injected("x86_set_regs");

	if (err)
		return err;
	fake_state.regs[vcpu->index] = *regs;
	fake_state.set_regs_calls[vcpu->index]++;
	return 0;
}

static int fake_x86_get_mode(struct hv_vcpu *vcpu, struct hv_x86_mode *m)
{
	const struct hv_x86_sregs *s = &fake_state.sregs[vcpu->index];

	*m = (struct hv_x86_mode){ .cr0 = s->cr0, .efer = s->efer, .cs_selector = s->cs.selector, .cs_l = s->cs.l };
	return 0;
}

static int fake_x86_get_sregs(struct hv_vcpu *vcpu, struct hv_x86_sregs *sregs)
{
	*sregs = fake_state.sregs[vcpu->index];
	return 0;
}

static int fake_x86_set_sregs(struct hv_vcpu *vcpu, const struct hv_x86_sregs *sregs)
{
	fake_state.sregs[vcpu->index] = *sregs;
	return 0;
}

/* A small plausible host: vendor leaf, leaf 1 with APIC/x2APIC, KVM leaves. */
static int fake_x86_get_supported_cpuid(struct hv *hv, struct hv_x86_cpuid_entry *e, unsigned *nent)
{
	static const struct hv_x86_cpuid_entry host[] = {
		{ 0x0, 0, 0, 0xd, 0x68747541, 0x444d4163, 0x69746e65 },
		{ 0x1, 0, 0, 0x00a00f11, 0x00000800, 0x7ed8320b | (1u << 21), 0x178bfbff },
		{ 0xb, 0, 1, 0, 0, 0, 0 },
		{ 0xb, 1, 1, 0, 0, 0, 0 },
		{ 0x40000000, 0, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d },
		{ 0x40000001, 0, 0, 0x01007efb, 0, 0, 0 },
		{ 0x80000000, 0, 0, 0x80000008, 0, 0, 0 },
		{ 0x80000008, 0, 0, 0x3030, 0, 0, 0 },
	};
	unsigned n = sizeof(host) / sizeof(host[0]);
	int err = injected("x86_get_supported_cpuid");

	(void)hv;
	if (err)
		return err;
	if (*nent < n)
		return -E2BIG;
	memcpy(e, host, sizeof(host));
	*nent = n;
	return 0;
}

static int fake_x86_set_cpuid(struct hv_vcpu *vcpu, const struct hv_x86_cpuid_entry *e, unsigned nent)
{
	if (nent > HV_MAX_CPUID_ENTRIES)
		return -E2BIG;
	memcpy(fake_state.cpuid[vcpu->index], e, nent * sizeof(*e));
	fake_state.cpuid_nent[vcpu->index] = nent;
	return 0;
}

static int fake_x86_set_msrs(struct hv_vcpu *vcpu, const struct hv_x86_msr *msrs, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		unsigned *count = &fake_state.nmsrs[vcpu->index];

		if (*count < FAKE_MAX_MSRS)
			fake_state.msrs[vcpu->index][(*count)++] = msrs[i];
	}
	return 0;
}

/* The fake host has one feature MSR: IA32_ARCH_CAPABILITIES. */
static int fake_x86_get_feature_msr(struct hv *hv, uint32_t index, uint64_t *value)
{
	int err = injected("x86_get_feature_msr");

	(void)hv;
	if (err)
		return err;
	if (index != FAKE_MSR_ARCH_CAPABILITIES)
		return -ENOENT;
	*value = FAKE_ARCH_CAPABILITIES;
	return 0;
}

static int fake_vm_get_clock(struct hv_vm *vm, uint64_t *guest_ns, uint64_t *realtime_ns)
{
	(void)vm;
	*guest_ns = FAKE_GUEST_CLOCK_NS;
	*realtime_ns = FAKE_REALTIME_NS;
	return 0;
}

static int fake_x86_enforce_pv_cpuid(struct hv_vcpu *vcpu)
{
	fake_state.pv_enforced[vcpu->index] = true;
	return 0;
}

static int fake_x86_init_fpu_lapic(struct hv_vcpu *vcpu)
{
	(void)vcpu;
	return 0;
}

static int fake_x86_translate(struct hv_vcpu *vcpu, uint64_t gva, uint64_t *gpa)
{
	(void)vcpu;
	*gpa = gva; /* identity: the fake has no page tables */
	return 0;
}

const struct hv_ops hv_fake_ops = {
	.name = "fake",
	.open = fake_open,
	.close = fake_close,
	.vm_create = fake_vm_create,
	.vm_destroy = fake_vm_destroy,
	.vm_set_memory = fake_vm_set_memory,
	.vm_create_irqchip = fake_vm_create_irqchip,
	.vm_irq_line = fake_vm_irq_line,
	.vm_ioeventfd = fake_vm_ioeventfd,
	.vm_irqfd = fake_vm_irqfd,
	.vm_set_msi_route = fake_vm_set_msi_route,
	.vcpu_create = fake_vcpu_create,
	.vcpu_destroy = fake_vcpu_destroy,
	.vcpu_run = fake_vcpu_run,
	.vcpu_kick = fake_vcpu_kick,
	.x86_get_regs = fake_x86_get_regs,
	.x86_set_regs = fake_x86_set_regs,
	.x86_get_sregs = fake_x86_get_sregs,
	.x86_get_mode = fake_x86_get_mode,
	.x86_set_sregs = fake_x86_set_sregs,
	.x86_get_supported_cpuid = fake_x86_get_supported_cpuid,
	.x86_set_cpuid = fake_x86_set_cpuid,
	.x86_set_msrs = fake_x86_set_msrs,
	.x86_get_feature_msr = fake_x86_get_feature_msr,
	.vm_get_clock = fake_vm_get_clock,
	.x86_enforce_pv_cpuid = fake_x86_enforce_pv_cpuid,
	.x86_init_fpu_lapic = fake_x86_init_fpu_lapic,
	.x86_translate = fake_x86_translate,
};
