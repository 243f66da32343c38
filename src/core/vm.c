/*
 * The VM: built by an ordered setup table, run by one thread per vCPU plus
 * the caller's thread (console input, signals), stopped from anywhere.
 */
#include "core/vm.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "abi/doc.h"
#include "arch/arch.h"
#include "core/log.h"
#include "core/setup.h"
#include "devices/serial.h"

void vm_config_init(struct vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->ncpus = 1;
	cfg->mem_size = VM_DEFAULT_MEMORY;
	cfg->console = VM_CONSOLE_STDIO;
	cfg->console_in_fd = STDIN_FILENO;
	cfg->console_out_fd = STDOUT_FILENO;
}

const char *vm_stop_reason_name(enum vm_stop_reason reason)
{
	switch (reason) {
	case VM_STOP_NONE: return "running";
	case VM_STOP_POWEROFF: return "poweroff";
	case VM_STOP_REBOOT: return "reboot";
	case VM_STOP_DEBUG_EXIT: return "debug-exit";
	case VM_STOP_SIGNAL: return "signal";
	case VM_STOP_CRASH: return "crash";
	case VM_STOP_VMM_ERROR: return "vmm-error";
	}
	return "?";
}

int vm_irq_line(struct vm *vm, uint32_t irq, bool level)
{
	return vm->hv_ops->vm_irq_line(vm->hv_vm, irq, level);
}

void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int code, const char *detail)
{
	uint64_t one = 1;

	pthread_mutex_lock(&vm->stop_lock);
	if (!atomic_load(&vm->stopping)) {
		vm->stop.reason = reason;
		vm->stop.code = code;
		snprintf(vm->stop.detail, sizeof(vm->stop.detail), "%s", detail ? detail : "");
		atomic_store(&vm->stopping, true);
		if (write(vm->stop_eventfd, &one, sizeof(one)) < 0)
			log_warn("cannot signal VM stop: %s", strerror(errno));
		for (unsigned i = 0; i < vm->nr_vcpus; i++)
			vm->hv_ops->vcpu_kick(vm->vcpus[i].hv_vcpu);
	}
	pthread_mutex_unlock(&vm->stop_lock);
}

/* --- setup steps ------------------------------------------------------- */

static int step_hypervisor(void *ctx)
{
	struct vm *vm = ctx;

	return vm->hv_ops->open(&vm->hv);
}

static void undo_hypervisor(void *ctx)
{
	struct vm *vm = ctx;

	vm->hv_ops->close(vm->hv);
	vm->hv = NULL;
}

static int step_vm(void *ctx)
{
	struct vm *vm = ctx;

	return vm->hv_ops->vm_create(vm->hv, &vm->hv_vm);
}

static void undo_vm(void *ctx)
{
	struct vm *vm = ctx;

	vm->hv_ops->vm_destroy(vm->hv_vm);
	vm->hv_vm = NULL;
}

static int step_memory(void *ctx)
{
	struct vm *vm = ctx;
	int ret;

	ret = gmem_create(&vm->gmem);
	if (ret)
		return ret;
	gmem_set_shared(vm->gmem, vm->cfg.mem_shared);
	ret = arch_memory_init(vm);
	if (ret)
		goto destroy;
	for (unsigned i = 0; i < vm->gmem->nr_regions; i++) {
		const struct gmem_region *r = &vm->gmem->regions[i];

		ret = vm->hv_ops->vm_set_memory(vm->hv_vm, i, r->gpa, r->size, r->hva);
		if (ret) {
			log_err("cannot map guest RAM at 0x%llx: %s", (unsigned long long)r->gpa,
				strerror(-ret));
			goto destroy;
		}
	}
	return 0;

destroy:
	gmem_destroy(vm->gmem);
	vm->gmem = NULL;
	return ret;
}

static void undo_memory(void *ctx)
{
	struct vm *vm = ctx;

	/* The hypervisor's slots go with its VM, which is destroyed after this. */
	gmem_destroy(vm->gmem);
	vm->gmem = NULL;
}

static int step_platform(void *ctx)
{
	return arch_platform_init(ctx);
}

static void undo_platform(void *ctx)
{
	arch_platform_fini(ctx);
}

/* The guest ABI: the host limit, the requested manifest, and whether one allows the other. */
static int step_abi(void *ctx)
{
	struct vm *vm = ctx;
	struct abi_report rep = { 0 };
	int ret = arch_abi_limit(vm->hv_ops, vm->hv, &vm->abi_limit);

	if (ret) {
		log_err("cannot read the host's guest-ABI limit: %s", strerror(-ret));
		return ret;
	}
	if (!vm->cfg.abi) {
		vm->abi = vm->abi_limit;
		return 0;
	}
	if (vm->cfg.abi->arch != vm->abi_limit.arch) {
		log_err("guest ABI: the document is for %s, this host is %s", vm->cfg.abi->arch->name,
			vm->abi_limit.arch->name);
		return -EINVAL;
	}
	abi_doc_apply(vm->cfg.abi, &vm->abi_limit, &vm->abi);
	if (abi_check(&vm->abi, &vm->abi_limit, &rep) == 0)
		return 0;
	log_err("guest ABI: this host cannot provide the requested %s (%zu problem%s):",
		abi_doc_kind_name(vm->cfg.abi->kind), rep.count, rep.count == 1 ? "" : "s");
	for (size_t i = 0; i < rep.count && i < ABI_MAX_VIOLATIONS; i++) {
		char line[256];

		abi_violation_format(vm->abi.arch, &rep.v[i], line, sizeof(line));
		log_err("  %s", line);
	}
	if (rep.count > ABI_MAX_VIOLATIONS)
		log_err("  ... and %zu more", rep.count - ABI_MAX_VIOLATIONS);
	return -ENOTSUP;
}

static int vm_get_clock(void *ctx, uint64_t *guest_ns, uint64_t *realtime_ns)
{
	struct vm *vm = ctx;

	return vm->hv_ops->vm_get_clock(vm->hv_vm, guest_ns, realtime_ns);
}

/* Hypercalls: the filter ranges asked for, the guest-ABI service bitmaps, the VM owner. */
static int step_hcall(void *ctx)
{
	struct vm *vm = ctx;
	struct hcall_dispatcher *d = &vm->hcall;

	hcall_dispatcher_init(d);
	hcall_dispatcher_set_abi(d, &vm->abi);
	d->user_allowed = vm->cfg.hcall_user;
	if (vm->cfg.hcall_owner)
		d->owner = *vm->cfg.hcall_owner;
	d->get_clock = vm->hv_ops->vm_get_clock ? vm_get_clock : NULL;
	d->clock_ctx = vm;
	for (unsigned i = 0; i < vm->cfg.nr_hcall_ranges; i++) {
		const struct hcall_range *r = &vm->cfg.hcall_ranges[i];
		int ret = hcall_filter_add(&d->filter, r->base, r->count, r->action);

		if (ret) {
			log_err("hypercall filter range 0x%08x+%u (%s): %s", r->base, r->count,
				hcall_action_name(r->action),
				ret == -EEXIST ? "overlaps another range" : ret == -ENOSPC ? "too many ranges" :
				"empty or past 0xffffffff");
			hcall_dispatcher_fini(d);
			return ret;
		}
	}
	return 0;
}

static void undo_hcall(void *ctx)
{
	struct vm *vm = ctx;

	hcall_dispatcher_fini(&vm->hcall);
}

static int step_devices(void *ctx)
{
	return vm_devices_init(ctx);
}

static void undo_devices(void *ctx)
{
	vm_devices_fini(ctx);
}

static int step_vcpus(void *ctx)
{
	struct vm *vm = ctx;
	int ret;

	for (unsigned i = 0; i < vm->cfg.ncpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];

		vcpu->vm = vm;
		vcpu->index = i;
		ret = vm->hv_ops->vcpu_create(vm->hv_vm, i, &vcpu->hv_vcpu);
		if (ret) {
			log_err("cannot create vCPU %u: %s", i, strerror(-ret));
			return ret; /* undo_vcpus is not run for a failed step: clean up here */
		}
		vm->nr_vcpus++;
	}
	return 0;
}

static void undo_vcpus(void *ctx)
{
	struct vm *vm = ctx;

	while (vm->nr_vcpus) {
		struct vcpu *vcpu = &vm->vcpus[--vm->nr_vcpus];

		vm->hv_ops->vcpu_destroy(vcpu->hv_vcpu);
		vcpu->hv_vcpu = NULL;
	}
}

static int step_vcpus_checked(void *ctx)
{
	int ret = step_vcpus(ctx);

	if (ret)
		undo_vcpus(ctx);
	return ret;
}

static int step_boot(void *ctx)
{
	return arch_boot_init(ctx);
}

static void undo_boot(void *ctx)
{
	arch_boot_fini(ctx);
}

static int step_vcpu_state(void *ctx)
{
	struct vm *vm = ctx;

	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		int ret = arch_vcpu_init(vm, &vm->vcpus[i]);

		if (ret) {
			log_err("cannot set up vCPU %u: %s", i, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* The order a VM is built in; torn down in reverse. */
static const struct setup_step vm_setup_steps[] = {
	{ "hypervisor", step_hypervisor, undo_hypervisor },
	{ "abi", step_abi, NULL },
	{ "vm", step_vm, undo_vm },
	{ "hcall", step_hcall, undo_hcall },
	{ "memory", step_memory, undo_memory },
	{ "platform", step_platform, undo_platform },
	{ "devices", step_devices, undo_devices },
	{ "vcpus", step_vcpus_checked, undo_vcpus },
	{ "boot", step_boot, undo_boot },
	{ "vcpu-state", step_vcpu_state, NULL },
};
#define NR_SETUP_STEPS (sizeof(vm_setup_steps) / sizeof(vm_setup_steps[0]))

static void vm_free(struct vm *vm)
{
	if (vm->stop_eventfd >= 0)
		close(vm->stop_eventfd);
	pthread_mutex_destroy(&vm->stop_lock);
	free(vm->kernel_path);
	free(vm->initrd_path);
	free(vm->cmdline);
	free(vm);
}

const char *vm_default_cmdline(const struct vm_config *cfg)
{
	if (cfg->console == VM_CONSOLE_VIRTIO)
		return VM_DEFAULT_CMDLINE_HVC;
	return vm_config_has_virtio(cfg) ? VM_DEFAULT_CMDLINE_PCI : VM_DEFAULT_CMDLINE;
}

static int vm_config_check(const struct vm_config *cfg)
{
	if (!cfg->kernel_path) {
		log_err("no kernel given");
		return -EINVAL;
	}
	if (cfg->ncpus < 1 || cfg->ncpus > VM_MAX_CPUS) {
		log_err("%u vCPUs requested; bothy supports 1 to %d", cfg->ncpus, VM_MAX_CPUS);
		return -EINVAL;
	}
	if (cfg->mem_size < GMEM_MIN_SIZE || cfg->mem_size > GMEM_MAX_SIZE) {
		log_err("memory size %llu bytes is outside %llu MiB .. %llu GiB",
			(unsigned long long)cfg->mem_size, GMEM_MIN_SIZE >> 20, GMEM_MAX_SIZE >> 30);
		return -EINVAL;
	}
	if (cfg->mem_size & 0xfff) {
		log_err("memory size must be a multiple of 4 KiB");
		return -EINVAL;
	}
	return 0;
}

int vm_create(const struct vm_config *cfg, struct vm **out, const char **failed_step)
{
	struct vm *vm;
	int ret;

	if (failed_step)
		*failed_step = "config";
	ret = vm_config_check(cfg);
	if (ret)
		return ret;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->cfg = *cfg;
	vm->hv_ops = cfg->hv ? cfg->hv : &hv_kvm_ops;
	pthread_mutex_init(&vm->stop_lock, NULL);
	bus_init(&vm->pio_bus, "pio");
	bus_init(&vm->mmio_bus, "mmio");
	vm->kernel_path = strdup(cfg->kernel_path);
	vm->initrd_path = cfg->initrd_path ? strdup(cfg->initrd_path) : NULL;
	vm->cmdline = strdup(cfg->cmdline ? cfg->cmdline : vm_default_cmdline(cfg));
	vm->stop_eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!vm->kernel_path || !vm->cmdline || (cfg->initrd_path && !vm->initrd_path)) {
		ret = -ENOMEM;
		goto free_vm;
	}
	if (vm->stop_eventfd < 0) {
		ret = -errno;
		goto free_vm;
	}
	vm->cfg.kernel_path = vm->kernel_path;
	vm->cfg.initrd_path = vm->initrd_path;
	vm->cfg.cmdline = vm->cmdline;

	ret = setup_run(vm_setup_steps, NR_SETUP_STEPS, vm, failed_step);
	if (ret)
		goto free_vm;
	vm->setup_done = NR_SETUP_STEPS;
	*out = vm;
	return 0;

free_vm:
	vm_free(vm);
	return ret;
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	setup_unwind(vm_setup_steps, vm->setup_done, vm);
	vm_free(vm);
}

/* --- running ------------------------------------------------------------ */

static void dump_line_by_line(const char *text)
{
	/* The terminal may be raw: end every line with \r\n. */
	while (*text) {
		size_t n = strcspn(text, "\n");

		fprintf(stderr, "%.*s\r\n", (int)n, text);
		text += n + (text[n] == '\n');
	}
}

void vm_print_stats(struct vm *vm, FILE *out)
{
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		fprintf(out, "vcpu %u exits %llu\n", i, (unsigned long long)vm->vcpus[i].nr_exits);
	/* Where the exits went (accesses: a string I/O exit counts each element). */
	bus_print_stats(&vm->pio_bus, out);
	bus_print_stats(&vm->mmio_bus, out);
	hcall_print_stats(&vm->hcall, out);
}

void vm_dump_vcpu(struct vcpu *vcpu, const char *why)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return;
	fprintf(f, "=== bothy: vCPU %u stopped: %s ===\n", vcpu->index, why);
	arch_vcpu_dump(vcpu, f);
	fclose(f);
	dump_line_by_line(buf);
	free(buf);
}

static void vcpu_crash(struct vcpu *vcpu, const struct hv_exit *exit, const char *what)
{
	char why[192];
	int n;

	n = snprintf(why, sizeof(why), "%s", what);
	if (exit && exit->reason == HV_EXIT_INTERNAL) {
		n += snprintf(why + n, sizeof(why) - n, " (suberror %u", exit->internal.suberror);
		for (unsigned i = 0; i < exit->internal.ndata && i < 4; i++)
			n += snprintf(why + n, sizeof(why) - n, " 0x%llx",
				      (unsigned long long)exit->internal.data[i]);
		n += snprintf(why + n, sizeof(why) - n, ")");
		if (exit->internal.insn_len) {
			n += snprintf(why + n, sizeof(why) - n, " insn");
			for (unsigned i = 0; i < exit->internal.insn_len; i++)
				n += snprintf(why + n, sizeof(why) - n, " %02x", exit->internal.insn[i]);
		}
	}
	vm_dump_vcpu(vcpu, why);
	snprintf(why + n, sizeof(why) - n, " on vCPU %u", vcpu->index);
	vm_request_stop(vcpu->vm, VM_STOP_CRASH, 0, why);
}

static void handle_io(struct vcpu *vcpu, const struct hv_exit *exit)
{
	struct vm *vm = vcpu->vm;

	if (arch_hcall_exit(vcpu, exit))
		return;

	for (uint32_t i = 0; i < exit->io.count; i++) {
		uint8_t *data = exit->io.data + (size_t)i * exit->io.size;

		if (!bus_access(&vm->pio_bus, exit->io.port, exit->io.write, data, exit->io.size))
			log_debug("unclaimed port %s 0x%x size %u", exit->io.write ? "write" : "read",
				  exit->io.port, exit->io.size);
	}
}

static void handle_mmio(struct vcpu *vcpu, const struct hv_exit *exit)
{
	struct vm *vm = vcpu->vm;

	if (!bus_access(&vm->mmio_bus, exit->mmio.gpa, exit->mmio.write, exit->mmio.data, exit->mmio.len))
		log_guest("vCPU %u: %s of %u bytes at unclaimed address 0x%llx", vcpu->index,
			  exit->mmio.write ? "write" : "read", exit->mmio.len,
			  (unsigned long long)exit->mmio.gpa);
}

static void handle_system_event(struct vcpu *vcpu, const struct hv_exit *exit)
{
	switch (exit->system_event.type) {
	case HV_SYSTEM_SHUTDOWN:
		vm_request_stop(vcpu->vm, VM_STOP_POWEROFF, 0, "guest powered off");
		break;
	case HV_SYSTEM_RESET:
		vm_request_stop(vcpu->vm, VM_STOP_REBOOT, 0, "guest reset");
		break;
	default:
		vcpu_crash(vcpu, exit, "guest reported a crash");
		break;
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	struct vm *vm = vcpu->vm;
	struct hv_exit exit;
	char what[64];

	while (!atomic_load(&vm->stopping)) {
		int ret = vm->hv_ops->vcpu_run(vcpu->hv_vcpu, &exit);

		if (ret) {
			snprintf(what, sizeof(what), "run failed: %s", strerror(-ret));
			vm_dump_vcpu(vcpu, what);
			vm_request_stop(vm, VM_STOP_VMM_ERROR, 0, what);
			break;
		}
		vcpu->nr_exits++;
		switch (exit.reason) {
		case HV_EXIT_IO:
			handle_io(vcpu, &exit);
			break;
		case HV_EXIT_MMIO:
			handle_mmio(vcpu, &exit);
			break;
		case HV_EXIT_INTR:
			break;
		case HV_EXIT_SYSTEM_EVENT:
			handle_system_event(vcpu, &exit);
			break;
		case HV_EXIT_SHUTDOWN:
			vcpu_crash(vcpu, &exit, "triple fault");
			break;
		case HV_EXIT_HLT:
			vcpu_crash(vcpu, &exit, "halted with no interrupt controller to wake it");
			break;
		case HV_EXIT_INTERNAL:
			vcpu_crash(vcpu, &exit, "hypervisor internal error");
			break;
		case HV_EXIT_FAIL_ENTRY:
			snprintf(what, sizeof(what), "entry failed (hardware reason 0x%llx)",
				 (unsigned long long)exit.fail_entry.hw_reason);
			vcpu_crash(vcpu, &exit, what);
			break;
		case HV_EXIT_HYPERCALL:
			if (!arch_hcall_exit(vcpu, &exit))
				vcpu_crash(vcpu, &exit, "hypercall exit the architecture does not handle");
			break;
		case HV_EXIT_UNKNOWN:
			snprintf(what, sizeof(what), "unexpected exit %u", exit.unknown_reason);
			vcpu_crash(vcpu, &exit, what);
			break;
		}
	}
	return NULL;
}

/* Ctrl-A x on the console stops the VM, as in QEMU. */
#define CONSOLE_ESCAPE 0x01

struct console_pump {
	bool escape_pending;
	bool eof;
};

/* How many input bytes the guest's console can take now. */
static size_t console_room(struct vm *vm)
{
	if (vm->cfg.console == VM_CONSOLE_VIRTIO)
		return 256; /* a pipe to virtio-console: it buffers */
	return vm->console ? serial_rx_room(vm->console) : 0;
}

static void console_deliver(struct vm *vm, const uint8_t *buf, size_t len)
{
	if (vm->cfg.console != VM_CONSOLE_VIRTIO) {
		serial_receive(vm->console, buf, len);
		return;
	}
	/* The pipe holds 64 KiB; a guest that never reads its console loses input beyond that. */
	if (len && write(vm->devices.console_in[1], buf, len) != (ssize_t)len)
		log_warn("console input dropped: the guest is not reading hvc0");
}

static void pump_console(struct vm *vm, struct console_pump *p)
{
	uint8_t buf[256], out[256];
	size_t n_out = 0;
	ssize_t n;
	size_t room = console_room(vm);

	if (!room)
		return;
	n = read(vm->cfg.console_in_fd, buf, room < sizeof(buf) ? room : sizeof(buf));
	if (n <= 0) {
		if (n == 0 || (errno != EINTR && errno != EAGAIN))
			p->eof = true;
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (p->escape_pending) {
			p->escape_pending = false;
			if (buf[i] == 'x' || buf[i] == 'X') {
				vm_request_stop(vm, VM_STOP_SIGNAL, 0, "console escape (Ctrl-A x)");
				return;
			}
			if (buf[i] != CONSOLE_ESCAPE)
				out[n_out++] = CONSOLE_ESCAPE;
		} else if (buf[i] == CONSOLE_ESCAPE) {
			p->escape_pending = true;
			continue;
		}
		out[n_out++] = buf[i];
	}
	console_deliver(vm, out, n_out);
}

int vm_run(struct vm *vm, struct vm_stop_status *status)
{
	struct console_pump pump = { 0 };
	sigset_t block, old;
	bool dump = false;
	int sfd, flush_fd = -1, ret = 0;

	/* SIGINT/SIGTERM/SIGHUP/SIGQUIT arrive through a signalfd in this thread only;
	 * vCPU threads inherit the blocked mask. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	sfd = signalfd(-1, &block, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		ret = -errno;
		goto restore_mask;
	}

	/* The UART writes whole lines; this thread writes a partial one when its timer says so. */
	if (vm->console && vm->cfg.console != VM_CONSOLE_VIRTIO) {
		flush_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (flush_fd >= 0)
			serial_set_flush_timer(vm->console, flush_fd);
	}

	/* From the first run on, the guest ABI only accepts identical writes (KVM's rule). */
	vm->abi.frozen = true;
	vm->hcall.filter.frozen = true;
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		ret = -pthread_create(&vm->vcpus[i].thread, NULL, vcpu_thread, &vm->vcpus[i]);
		if (ret) {
			vm_request_stop(vm, VM_STOP_VMM_ERROR, 0, "cannot start vCPU thread");
			break;
		}
		vm->vcpus[i].thread_started = true;
	}

	while (!atomic_load(&vm->stopping)) {
		struct pollfd fds[4] = {
			{ .fd = vm->stop_eventfd, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
			{ .fd = -1, .events = POLLIN },
			{ .fd = flush_fd, .events = POLLIN },
		};
		bool want_input = vm->cfg.console != VM_CONSOLE_NONE && !pump.eof &&
				  (vm->console || vm->cfg.console == VM_CONSOLE_VIRTIO);

		if (want_input && console_room(vm))
			fds[2].fd = vm->cfg.console_in_fd;
		/* A full receive FIFO drains as the guest reads: poll again soon. */
		if (poll(fds, 4, want_input && fds[2].fd < 0 ? 10 : -1) < 0 && errno != EINTR) {
			ret = -errno;
			vm_request_stop(vm, VM_STOP_VMM_ERROR, 0, "poll failed");
			break;
		}
		if (fds[3].revents & POLLIN) {
			uint64_t expirations;

			if (read(flush_fd, &expirations, sizeof(expirations)) == sizeof(expirations))
				serial_flush(vm->console);
		}
		if (fds[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				char what[48];

				snprintf(what, sizeof(what), "stopped by %s", strsignal((int)si.ssi_signo));
				/* SIGQUIT: the operator wants to see where a hung guest is. */
				dump |= si.ssi_signo == SIGQUIT;
				vm_request_stop(vm, VM_STOP_SIGNAL, (int)si.ssi_signo, what);
			}
		}
		if (fds[2].revents & (POLLIN | POLLHUP | POLLERR))
			pump_console(vm, &pump);
	}

	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		if (vm->vcpus[i].thread_started) {
			pthread_join(vm->vcpus[i].thread, NULL);
			vm->vcpus[i].thread_started = false;
		}
		log_info("vCPU %u: %llu exits to bothy", i, (unsigned long long)vm->vcpus[i].nr_exits);
	}
	if (flush_fd >= 0) {
		serial_set_flush_timer(vm->console, -1); /* writes what is left */
		close(flush_fd);
	}
	/* Out of KVM_RUN now: each vCPU's state is where the stop found it. */
	for (unsigned i = 0; dump && i < vm->nr_vcpus; i++)
		vm_dump_vcpu(&vm->vcpus[i], "SIGQUIT");
	pthread_mutex_lock(&vm->stop_lock);
	*status = vm->stop;
	pthread_mutex_unlock(&vm->stop_lock);
	close(sfd);
restore_mask:
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret;
}
