/*
 * The KVM backend: the only file that opens /dev/kvm or issues KVM ioctls.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/log.h"
#include "hv/hv.h"

#ifdef __aarch64__
/* The SMCCC filter (Linux 6.4); bookworm's arm64 headers are 6.1's. */
#ifndef KVM_ARM_VM_SMCCC_CTRL
#define KVM_ARM_VM_SMCCC_CTRL 0
#define KVM_ARM_VM_SMCCC_FILTER 0
#define KVM_SMCCC_FILTER_HANDLE 0
#define KVM_SMCCC_FILTER_DENY 1
#define KVM_SMCCC_FILTER_FWD_TO_USER 2
#define KVM_HYPERCALL_EXIT_SMC (1u << 0)
struct kvm_smccc_filter {
	__u32 base;
	__u32 nr_functions;
	__u8 action;
	__u8 pad[15];
};
#endif
/*
 * The ID registers' writable masks (Linux 6.7); values of include/uapi/linux/kvm.h and
 * arch/arm64/include/uapi/asm/kvm.h, which bookworm's 6.1 headers predate.
 */
#ifndef KVM_CAP_ARM_SUPPORTED_REG_MASK_RANGES
#define KVM_CAP_ARM_SUPPORTED_REG_MASK_RANGES 230
#define KVM_ARM_FEATURE_ID_RANGE 0
#define KVM_ARM_FEATURE_ID_RANGE_SIZE (3 * 8 * 8)
struct reg_mask_range {
	__u64 addr;
	__u32 range;
	__u32 reserved[13];
};
#define KVM_ARM_GET_REG_WRITABLE_MASKS _IOR(KVMIO, 0xb6, struct reg_mask_range)
#endif
#endif

/* vcpu_kick interrupts KVM_RUN with this signal; its handler does nothing. */
#define KVM_KICK_SIGNAL SIGUSR1

struct hv {
	int fd;
	int run_size;
};

struct hv_vm {
	struct hv *hv;
	int fd;
	int gic_fd; /* arm64: the vGIC device, -1 until created */
	/* MSI routes bothy added (KVM_SET_GSI_ROUTING replaces the whole table). */
	pthread_mutex_t routes_lock;
	struct hv_msi_route {
		uint32_t gsi;
		uint64_t addr;
		uint32_t data;
	} *msi_routes;
	unsigned nr_msi_routes;
};

struct hv_vcpu {
	struct hv_vm *vm;
	int fd;
	struct kvm_run *run;
	pthread_t thread; /* the thread inside vcpu_run, once it has run */
	atomic_bool thread_known;
	/*
	 * x86 sync regs: KVM copies the general registers into the run page on
	 * every exit, so an exit handler that needs them (the hypercall gate)
	 * reads and writes them without ioctls. fresh: the run page is current.
	 */
	bool sync_regs, regs_fresh;
	/*
	 * Segment registers join the sync once an exit handler asks for the mode
	 * (x86_get_mode), and leave it after SREGS_SYNC_IDLE_EXITS exits that did
	 * not: a VM that made one hypercall does not pay for the copy on every
	 * later exit, while one that makes many keeps it.
	 */
	bool sync_sregs_ok, sregs_fresh;
	unsigned exits_since_mode;
};

#define SREGS_SYNC_IDLE_EXITS 256

static int xioctl(int fd, unsigned long req, void *arg)
{
	int ret;

	do
		ret = ioctl(fd, req, arg);
	while (ret < 0 && errno == EINTR && req != KVM_RUN);
	return ret < 0 ? -errno : ret;
}

static void kick_handler(int sig)
{
	(void)sig;
}

/*
 * /dev/kvm, or a copy of the fd named by $BOTHY_KVM_FD: bothyd opens /dev/kvm for the VMMs it
 * starts (docs/resource-manager.md), so a VM's owner needs no access to it. A copy, so every
 * open has its own fd to close.
 */
static int kvm_open_dev(void)
{
	const char *inherited = getenv("BOTHY_KVM_FD");
	char *end;
	long fd;

	if (!inherited || !*inherited)
		return open("/dev/kvm", O_RDWR | O_CLOEXEC);
	fd = strtol(inherited, &end, 10);
	if (*end || fd < 0 || fd > INT_MAX) {
		errno = EBADF;
		return -1;
	}
	return fcntl((int)fd, F_DUPFD_CLOEXEC, 0);
}

static int kvm_open(struct hv **out)
{
	static const struct {
		int cap;
		const char *name;
	} required[] = {
		{ KVM_CAP_USER_MEMORY, "USER_MEMORY" },
		{ KVM_CAP_IMMEDIATE_EXIT, "IMMEDIATE_EXIT" },
#ifdef __x86_64__
		{ KVM_CAP_IRQCHIP, "IRQCHIP" },
		{ KVM_CAP_PIT2, "PIT2" },
		{ KVM_CAP_EXT_CPUID, "EXT_CPUID" },
		{ KVM_CAP_SET_TSS_ADDR, "SET_TSS_ADDR" },
#endif
#ifdef __aarch64__
		{ KVM_CAP_ONE_REG, "ONE_REG" },
		{ KVM_CAP_DEVICE_CTRL, "DEVICE_CTRL" },
		{ KVM_CAP_ARM_PSCI_0_2, "ARM_PSCI_0_2" },
#endif
	};
	struct sigaction sa = { .sa_handler = kick_handler };
	struct hv *hv;
	int ret;

	hv = calloc(1, sizeof(*hv));
	if (!hv)
		return -ENOMEM;
	hv->fd = kvm_open_dev();
	if (hv->fd < 0) {
		ret = -errno;
		log_err("cannot open /dev/kvm: %s", strerror(errno));
		goto free_hv;
	}
	ret = xioctl(hv->fd, KVM_GET_API_VERSION, NULL);
	if (ret != KVM_API_VERSION) {
		log_err("/dev/kvm speaks API version %d, bothy needs %d", ret, KVM_API_VERSION);
		ret = -ENOTSUP;
		goto close_fd;
	}
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (xioctl(hv->fd, KVM_CHECK_EXTENSION, (void *)(long)required[i].cap) <= 0) {
			log_err("KVM lacks capability %s", required[i].name);
			ret = -ENOTSUP;
			goto close_fd;
		}
	}
	hv->run_size = xioctl(hv->fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
	if (hv->run_size < (int)sizeof(struct kvm_run)) {
		ret = hv->run_size < 0 ? hv->run_size : -EINVAL;
		goto close_fd;
	}
	/* No SA_RESTART: the signal must make KVM_RUN return EINTR. */
	sigemptyset(&sa.sa_mask);
	if (sigaction(KVM_KICK_SIGNAL, &sa, NULL) < 0) {
		ret = -errno;
		goto close_fd;
	}
	*out = hv;
	return 0;

close_fd:
	close(hv->fd);
free_hv:
	free(hv);
	return ret;
}

static void kvm_close(struct hv *hv)
{
	if (!hv)
		return;
	close(hv->fd);
	free(hv);
}

static int kvm_vm_create(struct hv *hv, struct hv_vm **out)
{
	struct hv_vm *vm;
	int ret;

	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->hv = hv;
	do
		ret = ioctl(hv->fd, KVM_CREATE_VM, 0);
	while (ret < 0 && errno == EINTR);
	if (ret < 0) {
		ret = -errno;
		free(vm);
		return ret;
	}
	vm->fd = ret;
	vm->gic_fd = -1;
	pthread_mutex_init(&vm->routes_lock, NULL);
	*out = vm;
	return 0;
}

static void kvm_vm_destroy(struct hv_vm *vm)
{
	if (!vm)
		return;
	if (vm->gic_fd >= 0)
		close(vm->gic_fd);
	close(vm->fd);
	pthread_mutex_destroy(&vm->routes_lock);
	free(vm->msi_routes);
	free(vm);
}

static int kvm_vm_ioeventfd(struct hv_vm *vm, int fd, uint64_t addr, unsigned len, bool pio, int64_t datamatch,
			    bool assign)
{
	struct kvm_ioeventfd io = {
		.datamatch = datamatch == HV_IOEVENTFD_ANY ? 0 : (uint64_t)datamatch,
		.addr = addr,
		.len = len,
		.fd = fd,
		.flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) | (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN) |
			 (datamatch == HV_IOEVENTFD_ANY ? 0 : KVM_IOEVENTFD_FLAG_DATAMATCH),
	};

	return xioctl(vm->fd, KVM_IOEVENTFD, &io);
}

static int kvm_vm_irqfd(struct hv_vm *vm, int fd, uint32_t gsi, bool assign)
{
	struct kvm_irqfd irqfd = { .fd = (uint32_t)fd, .gsi = gsi, .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN };

	return xioctl(vm->fd, KVM_IRQFD, &irqfd);
}

/* The platform's default routes that KVM installs with the irqchip, which a new table must repeat. */
static unsigned kvm_default_routes(struct kvm_irq_routing_entry *e)
{
	unsigned n = 0;

#ifdef __x86_64__
	for (uint32_t gsi = 0; gsi < HV_MSI_GSI_BASE; gsi++) {
		if (gsi < 16) {
			e[n].gsi = gsi;
			e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
			e[n].u.irqchip.irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
			e[n].u.irqchip.pin = gsi % 8;
			n++;
		}
		e[n].gsi = gsi;
		e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		e[n].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		e[n].u.irqchip.pin = gsi;
		n++;
	}
#else
	(void)e;
#endif
	return n;
}

#define KVM_DEFAULT_ROUTES 40

static int kvm_vm_set_msi_route(struct hv_vm *vm, uint32_t gsi, uint64_t addr, uint32_t data)
{
	struct kvm_irq_routing *table;
	unsigned i, n;
	int ret;

	if (gsi < HV_MSI_GSI_BASE || gsi >= HV_MAX_GSI)
		return -EINVAL;
	pthread_mutex_lock(&vm->routes_lock);
	for (i = 0; i < vm->nr_msi_routes && vm->msi_routes[i].gsi != gsi; i++)
		;
	if (i == vm->nr_msi_routes) {
		struct hv_msi_route *grown = realloc(vm->msi_routes, (i + 1) * sizeof(*grown));

		if (!grown) {
			ret = -ENOMEM;
			goto unlock;
		}
		vm->msi_routes = grown;
		vm->nr_msi_routes++;
	} else if (vm->msi_routes[i].addr == addr && vm->msi_routes[i].data == data) {
		ret = 0; /* unchanged: no ioctl (drivers rewrite entries on every unmask) */
		goto unlock;
	}
	vm->msi_routes[i] = (struct hv_msi_route){ gsi, addr, data };

	table = calloc(1, sizeof(*table) + (KVM_DEFAULT_ROUTES + vm->nr_msi_routes) * sizeof(table->entries[0]));
	if (!table) {
		ret = -ENOMEM;
		goto unlock;
	}
	n = kvm_default_routes(table->entries);
	for (i = 0; i < vm->nr_msi_routes; i++, n++) {
		table->entries[n].gsi = vm->msi_routes[i].gsi;
		table->entries[n].type = KVM_IRQ_ROUTING_MSI;
		table->entries[n].u.msi.address_lo = (uint32_t)vm->msi_routes[i].addr;
		table->entries[n].u.msi.address_hi = (uint32_t)(vm->msi_routes[i].addr >> 32);
		table->entries[n].u.msi.data = vm->msi_routes[i].data;
	}
	table->nr = n;
	ret = xioctl(vm->fd, KVM_SET_GSI_ROUTING, table);
	free(table);
unlock:
	pthread_mutex_unlock(&vm->routes_lock);
	return ret;
}

static int kvm_vm_set_memory(struct hv_vm *vm, uint32_t slot, uint64_t gpa, uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region region = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	return xioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &region);
}

static int kvm_vm_create_irqchip(struct hv_vm *vm)
{
#ifdef __x86_64__
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	uint64_t identity_map = 0xfffbc000;
	int ret;

	/* VMX needs three pages for its real-mode TSS and one for an identity map,
	 * placed at the top of the 32-bit hole where nothing else lives. */
	ret = xioctl(vm->fd, KVM_SET_TSS_ADDR, (void *)0xfffbd000UL);
	if (ret)
		return ret;
	ret = xioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &identity_map);
	if (ret && ret != -EINVAL && ret != -ENOTTY)
		return ret;
	ret = xioctl(vm->fd, KVM_CREATE_IRQCHIP, NULL);
	if (ret)
		return ret;
	return xioctl(vm->fd, KVM_CREATE_PIT2, &pit);
#else
	(void)vm;
	return -ENOTSUP;
#endif
}

static int kvm_vm_irq_line(struct hv_vm *vm, uint32_t irq, bool level)
{
	struct kvm_irq_level line = { .irq = irq, .level = level };

#ifdef __aarch64__
	/* KVM wants the interrupt's type beside its number; bothy's lines are SPIs (ids 32..1019). */
	if (irq < 32 || irq > 1019)
		return -EINVAL;
	line.irq = (KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT) | (irq << KVM_ARM_IRQ_NUM_SHIFT);
#endif

	return xioctl(vm->fd, KVM_IRQ_LINE, &line);
}

static int kvm_vcpu_create(struct hv_vm *vm, unsigned index, struct hv_vcpu **out)
{
	struct hv_vcpu *vcpu;
	int ret;

	vcpu = calloc(1, sizeof(*vcpu));
	if (!vcpu)
		return -ENOMEM;
	vcpu->vm = vm;
	ret = xioctl(vm->fd, KVM_CREATE_VCPU, (void *)(unsigned long)index);
	if (ret < 0)
		goto free_vcpu;
	vcpu->fd = ret;
	vcpu->run = mmap(NULL, vm->hv->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		ret = -errno;
		goto close_fd;
	}
#ifdef __x86_64__
	{
		int mask = xioctl(vm->hv->fd, KVM_CHECK_EXTENSION, (void *)(long)KVM_CAP_SYNC_REGS);

		/* General registers now; segment registers cost every exit more, so only when used. */
		vcpu->sync_regs = mask > 0 && (mask & KVM_SYNC_X86_REGS);
		vcpu->sync_sregs_ok = vcpu->sync_regs && (mask & KVM_SYNC_X86_SREGS);
		if (vcpu->sync_regs)
			vcpu->run->kvm_valid_regs = KVM_SYNC_X86_REGS;
	}
#endif
#ifdef __aarch64__
	{
		struct kvm_vcpu_init init;

		/* The host's own CPU type, PSCI 0.2+ in KVM, and only the boot vCPU running at first. */
		ret = xioctl(vm->fd, KVM_ARM_PREFERRED_TARGET, &init);
		if (ret)
			goto unmap;
		init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
		if (index)
			init.features[0] |= 1u << KVM_ARM_VCPU_POWER_OFF;
		ret = xioctl(vcpu->fd, KVM_ARM_VCPU_INIT, &init);
		if (ret)
			goto unmap;
	}
#endif
	*out = vcpu;
	return 0;

#ifdef __aarch64__
unmap:
	munmap(vcpu->run, vm->hv->run_size);
#endif
close_fd:
	close(vcpu->fd);
free_vcpu:
	free(vcpu);
	return ret;
}

static void kvm_vcpu_destroy(struct hv_vcpu *vcpu)
{
	if (!vcpu)
		return;
	munmap(vcpu->run, vcpu->vm->hv->run_size);
	close(vcpu->fd);
	free(vcpu);
}

static void kvm_vcpu_kick(struct hv_vcpu *vcpu)
{
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (atomic_load(&vcpu->thread_known))
		pthread_kill(vcpu->thread, KVM_KICK_SIGNAL);
}

static void decode_internal(const struct kvm_run *run, struct hv_exit *exit)
{
	exit->internal.suberror = run->internal.suberror;
	exit->internal.ndata = run->internal.ndata < 16 ? run->internal.ndata : 16;
	memcpy(exit->internal.data, run->internal.data, exit->internal.ndata * sizeof(uint64_t));
	exit->internal.insn_len = 0;
	if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION && run->emulation_failure.ndata >= 1 &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		uint8_t n = run->emulation_failure.insn_size;

		if (n > sizeof(run->emulation_failure.insn_bytes))
			n = sizeof(run->emulation_failure.insn_bytes);
		exit->internal.insn_len = n;
		memcpy(exit->internal.insn, run->emulation_failure.insn_bytes, n);
	}
}

static int kvm_vcpu_run(struct hv_vcpu *vcpu, struct hv_exit *exit)
{
	struct kvm_run *run = vcpu->run;
	int ret;

	if (!atomic_load(&vcpu->thread_known)) {
		vcpu->thread = pthread_self();
		atomic_store(&vcpu->thread_known, true);
	}
	ret = ioctl(vcpu->fd, KVM_RUN, NULL);
	/* KVM stores the synced registers on every return from KVM_RUN, errors included. */
	vcpu->regs_fresh = vcpu->sync_regs;
#ifdef __x86_64__
	vcpu->sregs_fresh = (vcpu->run->kvm_valid_regs & KVM_SYNC_X86_SREGS) != 0;
	if (vcpu->sregs_fresh && ++vcpu->exits_since_mode > SREGS_SYNC_IDLE_EXITS)
		vcpu->run->kvm_valid_regs &= ~(uint64_t)KVM_SYNC_X86_SREGS; /* from the next exit on */
#endif
	if (ret < 0) {
		if (errno == EINTR || errno == EAGAIN) {
			__atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
			exit->reason = HV_EXIT_INTR;
			return 0;
		}
		return -errno;
	}

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		exit->reason = HV_EXIT_IO;
		exit->io.port = run->io.port;
		exit->io.size = run->io.size;
		exit->io.write = run->io.direction == KVM_EXIT_IO_OUT;
		exit->io.count = run->io.count;
		exit->io.data = (uint8_t *)run + run->io.data_offset;
		/* The kernel promises the data lies inside the run page; check anyway. */
		if (run->io.data_offset + (uint64_t)run->io.size * run->io.count > (uint64_t)vcpu->vm->hv->run_size)
			return -EFAULT;
		break;
	case KVM_EXIT_MMIO:
		exit->reason = HV_EXIT_MMIO;
		exit->mmio.gpa = run->mmio.phys_addr;
		exit->mmio.len = run->mmio.len <= 8 ? run->mmio.len : 8;
		exit->mmio.write = run->mmio.is_write;
		exit->mmio.data = run->mmio.data;
		break;
	case KVM_EXIT_HLT:
		exit->reason = HV_EXIT_HLT;
		break;
	case KVM_EXIT_SHUTDOWN:
		exit->reason = HV_EXIT_SHUTDOWN;
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		exit->reason = HV_EXIT_SYSTEM_EVENT;
		switch (run->system_event.type) {
		case KVM_SYSTEM_EVENT_SHUTDOWN: exit->system_event.type = HV_SYSTEM_SHUTDOWN; break;
		case KVM_SYSTEM_EVENT_RESET: exit->system_event.type = HV_SYSTEM_RESET; break;
		case KVM_SYSTEM_EVENT_CRASH: exit->system_event.type = HV_SYSTEM_CRASH; break;
		default: exit->system_event.type = 0x100 + run->system_event.type; break;
		}
		break;
	case KVM_EXIT_INTR:
		exit->reason = HV_EXIT_INTR;
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		exit->reason = HV_EXIT_INTERNAL;
		decode_internal(run, exit);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		exit->reason = HV_EXIT_FAIL_ENTRY;
		exit->fail_entry.hw_reason = run->fail_entry.hardware_entry_failure_reason;
		break;
#ifdef __aarch64__
	case KVM_EXIT_HYPERCALL:
		/* Only the id and the conduit: arm64 KVM leaves arguments and results in the registers. */
		exit->reason = HV_EXIT_HYPERCALL;
		exit->hypercall.nr = run->hypercall.nr;
		{
			/* 6.4+ headers call the word after nr's arguments "flags"; 6.1's "longmode" + pad. */
			uint64_t flags;

			memcpy(&flags, &run->hypercall.longmode, sizeof(flags));
			exit->hypercall.smc = (flags & KVM_HYPERCALL_EXIT_SMC) != 0;
		}
		break;
#endif
	default:
		exit->reason = HV_EXIT_UNKNOWN;
		exit->unknown_reason = run->exit_reason;
		break;
	}
	return 0;
}

#ifdef __x86_64__
static int kvm_x86_get_regs(struct hv_vcpu *vcpu, struct hv_x86_regs *r)
{
	struct kvm_regs k;
	int ret = 0;

	if (vcpu->regs_fresh)
		k = vcpu->run->s.regs.regs;
	else
		ret = xioctl(vcpu->fd, KVM_GET_REGS, &k);
	if (ret)
		return ret;
	*r = (struct hv_x86_regs){ k.rax, k.rbx, k.rcx, k.rdx, k.rsi, k.rdi, k.rsp, k.rbp,
				   k.r8,  k.r9,  k.r10, k.r11, k.r12, k.r13, k.r14, k.r15,
				   k.rip, k.rflags };
	return 0;
}

static int kvm_x86_set_regs(struct hv_vcpu *vcpu, const struct hv_x86_regs *r)
{
	struct kvm_regs k = { r->rax, r->rbx, r->rcx, r->rdx, r->rsi, r->rdi, r->rsp, r->rbp,
			      r->r8,  r->r9,  r->r10, r->r11, r->r12, r->r13, r->r14, r->r15,
			      r->rip, r->rflags };

	if (vcpu->regs_fresh) {
		/* Applied by KVM when the vCPU next runs. */
		vcpu->run->s.regs.regs = k;
		vcpu->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
		return 0;
	}
	vcpu->run->kvm_dirty_regs &= ~(uint64_t)KVM_SYNC_X86_REGS; /* this write is newer */
	return xioctl(vcpu->fd, KVM_SET_REGS, &k);
}

static void seg_from_kvm(struct hv_x86_segment *s, const struct kvm_segment *k)
{
	*s = (struct hv_x86_segment){ .base = k->base, .limit = k->limit, .selector = k->selector,
				      .type = k->type, .present = k->present, .dpl = k->dpl, .db = k->db,
				      .s = k->s, .l = k->l, .g = k->g, .avl = k->avl,
				      .unusable = k->unusable };
}

static void seg_to_kvm(struct kvm_segment *k, const struct hv_x86_segment *s)
{
	*k = (struct kvm_segment){ .base = s->base, .limit = s->limit, .selector = s->selector,
				   .type = s->type, .present = s->present, .dpl = s->dpl, .db = s->db,
				   .s = s->s, .l = s->l, .g = s->g, .avl = s->avl, .unusable = s->unusable };
}

static int kvm_x86_get_sregs(struct hv_vcpu *vcpu, struct hv_x86_sregs *s)
{
	struct kvm_sregs k;
	int ret = 0;

	if (vcpu->sregs_fresh)
		k = vcpu->run->s.regs.sregs;
	else
		ret = xioctl(vcpu->fd, KVM_GET_SREGS, &k);

	if (ret)
		return ret;
	seg_from_kvm(&s->cs, &k.cs);
	seg_from_kvm(&s->ds, &k.ds);
	seg_from_kvm(&s->es, &k.es);
	seg_from_kvm(&s->fs, &k.fs);
	seg_from_kvm(&s->gs, &k.gs);
	seg_from_kvm(&s->ss, &k.ss);
	seg_from_kvm(&s->tr, &k.tr);
	seg_from_kvm(&s->ldt, &k.ldt);
	s->gdt = (struct hv_x86_dtable){ k.gdt.base, k.gdt.limit };
	s->idt = (struct hv_x86_dtable){ k.idt.base, k.idt.limit };
	s->cr0 = k.cr0;
	s->cr2 = k.cr2;
	s->cr3 = k.cr3;
	s->cr4 = k.cr4;
	s->cr8 = k.cr8;
	s->efer = k.efer;
	s->apic_base = k.apic_base;
	return 0;
}

static int kvm_x86_get_mode(struct hv_vcpu *vcpu, struct hv_x86_mode *m)
{
	const struct kvm_sregs *k = &vcpu->run->s.regs.sregs;
	struct kvm_sregs buf;

	if (!vcpu->sregs_fresh) {
		int ret = xioctl(vcpu->fd, KVM_GET_SREGS, &buf);

		if (ret)
			return ret;
		k = &buf;
		/* Asked for after the vCPU ran: an exit handler wants them, have KVM sync them. */
		if (vcpu->sync_sregs_ok && atomic_load(&vcpu->thread_known))
			vcpu->run->kvm_valid_regs |= KVM_SYNC_X86_SREGS;
	}
	vcpu->exits_since_mode = 0;
	*m = (struct hv_x86_mode){ .cr0 = k->cr0, .efer = k->efer, .cs_selector = k->cs.selector, .cs_l = k->cs.l };
	return 0;
}

static int kvm_x86_set_sregs(struct hv_vcpu *vcpu, const struct hv_x86_sregs *s)
{
	struct kvm_sregs k;
	int ret;

	/* Start from KVM's view so fields bothy does not model (interrupt bitmap) stay. */
	ret = xioctl(vcpu->fd, KVM_GET_SREGS, &k);
	if (ret)
		return ret;
	seg_to_kvm(&k.cs, &s->cs);
	seg_to_kvm(&k.ds, &s->ds);
	seg_to_kvm(&k.es, &s->es);
	seg_to_kvm(&k.fs, &s->fs);
	seg_to_kvm(&k.gs, &s->gs);
	seg_to_kvm(&k.ss, &s->ss);
	seg_to_kvm(&k.tr, &s->tr);
	seg_to_kvm(&k.ldt, &s->ldt);
	k.gdt.base = s->gdt.base;
	k.gdt.limit = s->gdt.limit;
	k.idt.base = s->idt.base;
	k.idt.limit = s->idt.limit;
	k.cr0 = s->cr0;
	k.cr2 = s->cr2;
	k.cr3 = s->cr3;
	k.cr4 = s->cr4;
	k.cr8 = s->cr8;
	k.efer = s->efer;
	k.apic_base = s->apic_base;
	vcpu->sregs_fresh = false; /* the run page's copy is now stale */
	return xioctl(vcpu->fd, KVM_SET_SREGS, &k);
}

#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)

static int kvm_x86_get_supported_cpuid(struct hv *hv, struct hv_x86_cpuid_entry *entries, unsigned *nent)
{
	int tsc_deadline = xioctl(hv->fd, KVM_CHECK_EXTENSION, (void *)(long)KVM_CAP_TSC_DEADLINE_TIMER);
	struct kvm_cpuid2 *c;
	int ret;

	c = calloc(1, sizeof(*c) + HV_MAX_CPUID_ENTRIES * sizeof(c->entries[0]));
	if (!c)
		return -ENOMEM;
	c->nent = HV_MAX_CPUID_ENTRIES;
	ret = xioctl(hv->fd, KVM_GET_SUPPORTED_CPUID, c);
	if (ret)
		goto out;
	if (c->nent > *nent) {
		ret = -E2BIG;
		goto out;
	}
	for (unsigned i = 0; i < c->nent; i++) {
		entries[i] = (struct hv_x86_cpuid_entry){
			c->entries[i].function, c->entries[i].index, c->entries[i].flags,
			c->entries[i].eax,      c->entries[i].ebx,   c->entries[i].ecx,
			c->entries[i].edx,
		};
		/*
		 * The in-kernel LAPIC (bothy always creates the irqchip) emulates the TSC-deadline
		 * timer, but KVM before 6.14 reports it only as a capability, not in this leaf:
		 * without this a 6.12 host's limit would differ from a 6.14 host's.
		 */
		if (entries[i].function == 1 && entries[i].index == 0 && tsc_deadline > 0)
			entries[i].ecx |= CPUID_1_ECX_TSC_DEADLINE;
	}
	*nent = c->nent;
out:
	free(c);
	return ret;
}

static int kvm_x86_set_cpuid(struct hv_vcpu *vcpu, const struct hv_x86_cpuid_entry *entries, unsigned nent)
{
	struct kvm_cpuid2 *c;
	int ret;

	if (nent > HV_MAX_CPUID_ENTRIES)
		return -E2BIG;
	c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));
	if (!c)
		return -ENOMEM;
	c->nent = nent;
	for (unsigned i = 0; i < nent; i++)
		c->entries[i] = (struct kvm_cpuid_entry2){
			.function = entries[i].function, .index = entries[i].index,
			.flags = entries[i].flags,       .eax = entries[i].eax,
			.ebx = entries[i].ebx,           .ecx = entries[i].ecx,
			.edx = entries[i].edx,
		};
	ret = xioctl(vcpu->fd, KVM_SET_CPUID2, c);
	free(c);
	return ret;
}

static int kvm_x86_set_msrs(struct hv_vcpu *vcpu, const struct hv_x86_msr *msrs, unsigned n)
{
	struct kvm_msrs *m;
	int ret;

	m = calloc(1, sizeof(*m) + n * sizeof(m->entries[0]));
	if (!m)
		return -ENOMEM;
	m->nmsrs = n;
	for (unsigned i = 0; i < n; i++) {
		m->entries[i].index = msrs[i].index;
		m->entries[i].data = msrs[i].value;
	}
	ret = xioctl(vcpu->fd, KVM_SET_MSRS, m);
	free(m);
	/* KVM_SET_MSRS returns how many it set; a short count means one was refused. */
	if (ret >= 0 && (unsigned)ret != n)
		return -EINVAL;
	return ret < 0 ? ret : 0;
}

static int kvm_vm_get_clock(struct hv_vm *vm, uint64_t *guest_ns, uint64_t *realtime_ns)
{
	struct kvm_clock_data data = { 0 };
	int ret = xioctl(vm->fd, KVM_GET_CLOCK, &data);

	if (ret)
		return ret;
	*guest_ns = data.clock;
	*realtime_ns = (data.flags & KVM_CLOCK_REALTIME) ? data.realtime : 0;
	return 0;
}

static int kvm_x86_get_feature_msr(struct hv *hv, uint32_t index, uint64_t *value)
{
	struct kvm_msr_list *list;
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry entry;
	} one = { .hdr.nmsrs = 1, .entry.index = index };
	bool listed = false;
	int ret;

	if (xioctl(hv->fd, KVM_CHECK_EXTENSION, (void *)(long)KVM_CAP_GET_MSR_FEATURES) <= 0)
		return -ENOENT;
	list = calloc(1, sizeof(*list) + 256 * sizeof(list->indices[0]));
	if (!list)
		return -ENOMEM;
	list->nmsrs = 256;
	ret = xioctl(hv->fd, KVM_GET_MSR_FEATURE_INDEX_LIST, list);
	for (unsigned i = 0; !ret && i < list->nmsrs; i++)
		listed = listed || list->indices[i] == index;
	free(list);
	if (ret)
		return ret;
	if (!listed)
		return -ENOENT;
	/* On the system fd, KVM_GET_MSRS reads feature MSRs and returns how many it read. */
	ret = xioctl(hv->fd, KVM_GET_MSRS, &one);
	if (ret < 0)
		return ret;
	if (ret != 1)
		return -ENOENT;
	*value = one.entry.data;
	return 0;
}

static int kvm_x86_enforce_pv_cpuid(struct hv_vcpu *vcpu)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_ENFORCE_PV_FEATURE_CPUID, .args = { 1 } };

	if (xioctl(vcpu->vm->hv->fd, KVM_CHECK_EXTENSION, (void *)(long)KVM_CAP_ENFORCE_PV_FEATURE_CPUID) <= 0)
		return -EOPNOTSUPP;
	return xioctl(vcpu->fd, KVM_ENABLE_CAP, &cap);
}

#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_DM_EXTINT (7u << 8)
#define APIC_DM_NMI (4u << 8)

static int kvm_x86_init_fpu_lapic(struct hv_vcpu *vcpu)
{
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	struct kvm_lapic_state lapic;
	uint32_t v;
	int ret;

	ret = xioctl(vcpu->fd, KVM_SET_FPU, &fpu);
	if (ret)
		return ret;
	ret = xioctl(vcpu->fd, KVM_GET_LAPIC, &lapic);
	if (ret)
		return ret;
	memcpy(&v, lapic.regs + APIC_LVT_LINT0, 4);
	v = (v & ~0x700u) | APIC_DM_EXTINT;
	memcpy(lapic.regs + APIC_LVT_LINT0, &v, 4);
	memcpy(&v, lapic.regs + APIC_LVT_LINT1, 4);
	v = (v & ~0x700u) | APIC_DM_NMI;
	memcpy(lapic.regs + APIC_LVT_LINT1, &v, 4);
	return xioctl(vcpu->fd, KVM_SET_LAPIC, &lapic);
}

static int kvm_x86_translate(struct hv_vcpu *vcpu, uint64_t gva, uint64_t *gpa)
{
	struct kvm_translation t = { .linear_address = gva };
	int ret = xioctl(vcpu->fd, KVM_TRANSLATE, &t);

	if (ret)
		return ret;
	if (!t.valid)
		return -EFAULT;
	*gpa = t.physical_address;
	return 0;
}
#endif

#ifdef __aarch64__

/* ONE_REG ids of the registers bothy names (enum hv_arm64_reg). */
#define ARM64_CORE_ID(field) (KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(field))

static uint64_t arm64_reg_id(enum hv_arm64_reg reg)
{
	if (reg <= HV_ARM64_X0 + 30)
		return ARM64_CORE_ID(regs.regs[0]) + (uint64_t)(reg - HV_ARM64_X0) * (sizeof(uint64_t) / sizeof(uint32_t));
	switch (reg) {
	case HV_ARM64_SP: return ARM64_CORE_ID(regs.sp);
	case HV_ARM64_PC: return ARM64_CORE_ID(regs.pc);
	case HV_ARM64_PSTATE: return ARM64_CORE_ID(regs.pstate);
	case HV_ARM64_SP_EL1: return ARM64_CORE_ID(sp_el1);
	case HV_ARM64_ELR_EL1: return ARM64_CORE_ID(elr_el1);
	case HV_ARM64_SPSR_EL1: return ARM64_CORE_ID(spsr[KVM_SPSR_EL1]);
	case HV_ARM64_ESR_EL1: return ARM64_SYS_REG(3, 0, 5, 2, 0);
	case HV_ARM64_FAR_EL1: return ARM64_SYS_REG(3, 0, 6, 0, 0);
	case HV_ARM64_VBAR_EL1: return ARM64_SYS_REG(3, 0, 12, 0, 0);
	case HV_ARM64_SCTLR_EL1: return ARM64_SYS_REG(3, 0, 1, 0, 0);
	case HV_ARM64_MPIDR_EL1: return ARM64_SYS_REG(3, 0, 0, 0, 5);
	default: return 0;
	}
}

static int kvm_arm64_get_reg(struct hv_vcpu *vcpu, enum hv_arm64_reg reg, uint64_t *value)
{
	struct kvm_one_reg one = { .id = arm64_reg_id(reg), .addr = (uintptr_t)value };

	return one.id ? xioctl(vcpu->fd, KVM_GET_ONE_REG, &one) : -EINVAL;
}

static int kvm_arm64_set_reg(struct hv_vcpu *vcpu, enum hv_arm64_reg reg, uint64_t value)
{
	struct kvm_one_reg one = { .id = arm64_reg_id(reg), .addr = (uintptr_t)&value };

	return one.id ? xioctl(vcpu->fd, KVM_SET_ONE_REG, &one) : -EINVAL;
}

/* Only 64-bit arm64 registers: the value is read into or written from one uint64_t. */
static bool arm64_id_ok(uint64_t id)
{
	return (id & KVM_REG_ARCH_MASK) == KVM_REG_ARM64 && (id & KVM_REG_SIZE_MASK) == KVM_REG_SIZE_U64;
}

static int kvm_arm64_get_one_reg(struct hv_vcpu *vcpu, uint64_t id, uint64_t *value)
{
	struct kvm_one_reg one = { .id = id, .addr = (uintptr_t)value };

	return arm64_id_ok(id) ? xioctl(vcpu->fd, KVM_GET_ONE_REG, &one) : -EINVAL;
}

static int kvm_arm64_set_one_reg(struct hv_vcpu *vcpu, uint64_t id, uint64_t value)
{
	struct kvm_one_reg one = { .id = id, .addr = (uintptr_t)&value };

	return arm64_id_ok(id) ? xioctl(vcpu->fd, KVM_SET_ONE_REG, &one) : -EINVAL;
}

/*
 * A system register's slot in KVM's feature ID range (op0 3, op1 0, 1 or 3, CRn 0, CRm 0..7, op2
 * 0..7; op1 3 takes the third block of 64), as KVM_ARM_FEATURE_ID_RANGE_IDX numbers it; -1 outside.
 */
static int arm64_feature_id_index(uint64_t id)
{
	unsigned op0 = (unsigned)((id & KVM_REG_ARM64_SYSREG_OP0_MASK) >> KVM_REG_ARM64_SYSREG_OP0_SHIFT);
	unsigned op1 = (unsigned)((id & KVM_REG_ARM64_SYSREG_OP1_MASK) >> KVM_REG_ARM64_SYSREG_OP1_SHIFT);
	unsigned crn = (unsigned)((id & KVM_REG_ARM64_SYSREG_CRN_MASK) >> KVM_REG_ARM64_SYSREG_CRN_SHIFT);
	unsigned crm = (unsigned)((id & KVM_REG_ARM64_SYSREG_CRM_MASK) >> KVM_REG_ARM64_SYSREG_CRM_SHIFT);
	unsigned op2 = (unsigned)((id & KVM_REG_ARM64_SYSREG_OP2_MASK) >> KVM_REG_ARM64_SYSREG_OP2_SHIFT);

	if ((id & KVM_REG_ARM_COPROC_MASK) != KVM_REG_ARM64_SYSREG || op0 != 3 || crn || crm > 7 || op1 == 2 ||
	    op1 > 3)
		return -1;
	return (int)(((op1 == 3 ? 2u : op1) << 6) | crm << 3 | op2);
}

/* The writable masks of @ids where KVM has them (Linux 6.7+); elsewhere writable_known stays false. */
static void arm64_writable_masks(struct hv_vm *vm, const uint64_t *ids, unsigned n, uint64_t *writable,
				 bool *writable_known)
{
	uint64_t masks[KVM_ARM_FEATURE_ID_RANGE_SIZE];
	struct reg_mask_range range = { .addr = (uintptr_t)masks, .range = KVM_ARM_FEATURE_ID_RANGE };
	int ranges = xioctl(vm->fd, KVM_CHECK_EXTENSION, (void *)(long)KVM_CAP_ARM_SUPPORTED_REG_MASK_RANGES);

	for (unsigned i = 0; i < n; i++) {
		writable[i] = 0;
		writable_known[i] = false;
	}
	/* The capability is a set of range numbers, one bit each. */
	if (ranges <= 0 || !(ranges & (1 << KVM_ARM_FEATURE_ID_RANGE)))
		return;
	if (xioctl(vm->fd, KVM_ARM_GET_REG_WRITABLE_MASKS, &range)) {
		log_warn("KVM_ARM_GET_REG_WRITABLE_MASKS failed; the guest-ABI tables' fixed fields stand in");
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		int idx = arm64_feature_id_index(ids[i]);

		if (idx >= 0) {
			writable[i] = masks[idx];
			writable_known[i] = true;
		}
	}
}

static int kvm_arm64_host_regs(struct hv *hv, const uint64_t *ids, unsigned n, uint64_t *values, bool *present,
			       uint64_t *writable, bool *writable_known)
{
	struct hv_vm *vm;
	struct hv_vcpu *vcpu;
	int ret;

	ret = kvm_vm_create(hv, &vm);
	if (ret)
		return ret;
	ret = kvm_vcpu_create(vm, 0, &vcpu);
	if (ret)
		goto destroy_vm;
	for (unsigned i = 0; i < n; i++) {
		values[i] = 0;
		present[i] = kvm_arm64_get_one_reg(vcpu, ids[i], &values[i]) == 0;
	}
	arm64_writable_masks(vm, ids, n, writable, writable_known);
	kvm_vcpu_destroy(vcpu);
destroy_vm:
	kvm_vm_destroy(vm);
	return ret;
}

static int gic_set_attr(struct hv_vm *vm, uint32_t group, uint64_t attr, const void *value)
{
	struct kvm_device_attr a = { .group = group, .attr = attr, .addr = (uintptr_t)value };

	return xioctl(vm->gic_fd, KVM_SET_DEVICE_ATTR, &a);
}

static int kvm_arm64_create_gic(struct hv_vm *vm, const struct hv_arm64_gic *gic)
{
	struct kvm_create_device dev = { .type = KVM_DEV_TYPE_ARM_VGIC_V3 };
	int ret;

	if (vm->gic_fd >= 0)
		return -EEXIST;
	ret = xioctl(vm->fd, KVM_CREATE_DEVICE, &dev);
	if (ret)
		return ret;
	vm->gic_fd = (int)dev.fd;
	ret = gic_set_attr(vm, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &gic->dist_base);
	if (!ret)
		ret = gic_set_attr(vm, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST, &gic->redist_base);
	if (ret) {
		close(vm->gic_fd);
		vm->gic_fd = -1;
	}
	return ret;
}

static int kvm_arm64_smccc_filter(struct hv_vm *vm, uint32_t base, uint32_t count, enum hv_smccc_action action)
{
	struct kvm_smccc_filter f = { .base = base, .nr_functions = count };
	struct kvm_device_attr a = { .group = KVM_ARM_VM_SMCCC_CTRL, .attr = KVM_ARM_VM_SMCCC_FILTER,
				     .addr = (uintptr_t)&f };

	switch (action) {
	case HV_SMCCC_HANDLE: f.action = KVM_SMCCC_FILTER_HANDLE; break;
	case HV_SMCCC_DENY: f.action = KVM_SMCCC_FILTER_DENY; break;
	case HV_SMCCC_FORWARD: f.action = KVM_SMCCC_FILTER_FWD_TO_USER; break;
	default: return -EINVAL;
	}
	if (xioctl(vm->fd, KVM_HAS_DEVICE_ATTR, &a))
		return -ENXIO;
	return xioctl(vm->fd, KVM_SET_DEVICE_ATTR, &a);
}

static int kvm_arm64_init_gic(struct hv_vm *vm)
{
	if (vm->gic_fd < 0)
		return -ENODEV;
	return gic_set_attr(vm, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL);
}
#endif

const struct hv_ops hv_kvm_ops = {
	.name = "kvm",
	.open = kvm_open,
	.close = kvm_close,
	.vm_create = kvm_vm_create,
	.vm_destroy = kvm_vm_destroy,
	.vm_set_memory = kvm_vm_set_memory,
	.vm_create_irqchip = kvm_vm_create_irqchip,
	.vm_irq_line = kvm_vm_irq_line,
	.vm_ioeventfd = kvm_vm_ioeventfd,
	.vm_irqfd = kvm_vm_irqfd,
	.vm_set_msi_route = kvm_vm_set_msi_route,
	.vcpu_create = kvm_vcpu_create,
	.vcpu_destroy = kvm_vcpu_destroy,
	.vcpu_run = kvm_vcpu_run,
	.vcpu_kick = kvm_vcpu_kick,
#ifdef __x86_64__
	.x86_get_regs = kvm_x86_get_regs,
	.x86_set_regs = kvm_x86_set_regs,
	.x86_get_sregs = kvm_x86_get_sregs,
	.x86_set_sregs = kvm_x86_set_sregs,
	.x86_get_mode = kvm_x86_get_mode,
	.x86_get_supported_cpuid = kvm_x86_get_supported_cpuid,
	.x86_set_cpuid = kvm_x86_set_cpuid,
	.x86_set_msrs = kvm_x86_set_msrs,
	.x86_get_feature_msr = kvm_x86_get_feature_msr,
	.vm_get_clock = kvm_vm_get_clock,
	.x86_enforce_pv_cpuid = kvm_x86_enforce_pv_cpuid,
	.x86_init_fpu_lapic = kvm_x86_init_fpu_lapic,
	.x86_translate = kvm_x86_translate,
#endif
#ifdef __aarch64__
	.arm64_get_reg = kvm_arm64_get_reg,
	.arm64_set_reg = kvm_arm64_set_reg,
	.arm64_create_gic = kvm_arm64_create_gic,
	.arm64_init_gic = kvm_arm64_init_gic,
	.arm64_get_one_reg = kvm_arm64_get_one_reg,
	.arm64_set_one_reg = kvm_arm64_set_one_reg,
	.arm64_host_regs = kvm_arm64_host_regs,
	.arm64_smccc_filter = kvm_arm64_smccc_filter,
#endif
};
