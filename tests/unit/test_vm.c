/*
 * The VM object on the fake hypervisor: what gets built, that every failed
 * setup step is unwound without leaks, and how exits stop a running VM.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "abi/doc.h"
#include "arch/x86_64/layout.h"
#include "core/vm.h"
#include "hv/fake.h"

#define ENTRY 0x100000u

static char kernel_path[64];

/* A minimal PVH ELF32: one PT_LOAD of `hlt` at 1 MiB and the Xen entry note. */
static void write_pvh_elf(const char *path)
{
	uint8_t img[0x200] = { 0 };
	uint32_t *w;
	FILE *f;

	memcpy(img, "\x7f" "ELF", 4);
	img[4] = 1; /* ELFCLASS32 */
	img[5] = 1; /* little endian */
	img[6] = 1;
	*(uint16_t *)(img + 16) = 2;    /* ET_EXEC */
	*(uint16_t *)(img + 18) = 3;    /* EM_386 */
	*(uint32_t *)(img + 20) = 1;
	*(uint32_t *)(img + 24) = ENTRY;
	*(uint32_t *)(img + 28) = 52;   /* e_phoff */
	*(uint16_t *)(img + 40) = 52;   /* e_ehsize */
	*(uint16_t *)(img + 42) = 32;   /* e_phentsize */
	*(uint16_t *)(img + 44) = 2;    /* e_phnum */
	w = (uint32_t *)(img + 52);     /* PT_LOAD: offset 0x100, 16 bytes at ENTRY, memsz 0x1000 */
	w[0] = 1; w[1] = 0x100; w[2] = ENTRY; w[3] = ENTRY; w[4] = 16; w[5] = 0x1000; w[6] = 5; w[7] = 16;
	w = (uint32_t *)(img + 84);     /* PT_NOTE at 0x180 */
	w[0] = 4; w[1] = 0x180; w[4] = 20; w[5] = 20; w[7] = 4;
	img[0x100] = 0xf4;              /* hlt */
	w = (uint32_t *)(img + 0x180);  /* namesz 4 "Xen\0", descsz 4, type 18, desc = entry */
	w[0] = 4; w[1] = 4; w[2] = 18;
	memcpy(img + 0x18c, "Xen", 4);
	*(uint32_t *)(img + 0x190) = ENTRY;

	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(img, sizeof(img), 1, f), 1);
	fclose(f);
}

static void config(struct vm_config *cfg, unsigned ncpus)
{
	vm_config_init(cfg);
	cfg->hv = &hv_fake_ops;
	cfg->kernel_path = kernel_path;
	cfg->ncpus = ncpus;
	cfg->mem_size = 16 << 20;
	cfg->console = VM_CONSOLE_NONE;
	cfg->debug_exit = true;
}

static void assert_nothing_alive(void)
{
	assert_int_equal(fake_state.opens, 0);
	assert_int_equal(fake_state.vms, 0);
	assert_int_equal(fake_state.vcpus_live, 0);
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(kernel_path, sizeof(kernel_path), "/tmp/bothy-test-pvh-%d.elf", (int)getpid());
	write_pvh_elf(kernel_path);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	unlink(kernel_path);
	return 0;
}

static int reset(void **state)
{
	(void)state;
	fake_hv_reset();
	return 0;
}

static void test_create_builds_the_machine(void **state)
{
	struct vm_config cfg;
	struct vm *vm;
	uint8_t byte;

	(void)state;
	config(&cfg, 2);
	assert_int_equal(vm_create(&cfg, &vm, NULL), 0);
	assert_int_equal(fake_state.vms, 1);
	assert_int_equal(fake_state.vcpus_live, 2);
	assert_true(fake_state.irqchip);
	assert_true(fake_state.slots[0].used);
	assert_int_equal(fake_state.slots[0].gpa, 0);
	assert_int_equal(fake_state.slots[0].size, 16 << 20);
	/* the payload is in guest RAM and the boot CPU enters it in PVH form */
	assert_int_equal(gmem_read(vm->gmem, ENTRY, &byte, 1), 0);
	assert_int_equal(byte, 0xf4);
	assert_int_equal(fake_state.regs[0].rip, ENTRY);
	assert_int_equal(fake_state.regs[0].rbx, X86_PVH_INFO_ADDR);
	assert_int_equal(fake_state.sregs[0].cs.selector, X86_SEL_CODE32);
	assert_int_equal(fake_state.sregs[0].cr0 & 1, 1);
	/* a real-mode jump to the BIOS reset vector resets the machine through the i8042 */
	{
		uint8_t stub[4];

		assert_int_equal(gmem_read(vm->gmem, X86_RESET_VECTOR_ADDR, stub, 4), 0);
		assert_memory_equal(stub, "\xb0\xfe\xe6\x64", 4);
	}
	/* each vCPU's CPUID carries its own APIC id */
	for (unsigned cpu = 0; cpu < 2; cpu++) {
		bool found = false;

		for (unsigned i = 0; i < fake_state.cpuid_nent[cpu]; i++) {
			const struct hv_x86_cpuid_entry *e = &fake_state.cpuid[cpu][i];

			if (e->function == 1) {
				assert_int_equal(e->ebx >> 24, cpu);
				assert_true(e->ecx & (1u << 31));
				found = true;
			}
		}
		assert_true(found);
	}
	vm_destroy(vm);
	assert_nothing_alive();
}

static void test_every_failed_step_unwinds(void **state)
{
	static const struct {
		const char *op, *step;
	} cases[] = {
		{ "open", "hypervisor" },
		{ "x86_get_supported_cpuid", "abi" },
		{ "vm_create", "vm" },
		{ "vm_set_memory", "memory" },
		{ "vm_create_irqchip", "platform" },
		{ "vcpu_create", "vcpus" },
		{ "x86_set_regs", "vcpu-state" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vm_config cfg;
		struct vm *vm = NULL;
		const char *failed = NULL;

		fake_hv_reset();
		config(&cfg, 3);
		fake_hv_fail_next(cases[i].op, -ENOSPC);
		assert_int_equal(vm_create(&cfg, &vm, &failed), -ENOSPC);
		assert_non_null(failed);
		assert_string_equal(failed, cases[i].step);
		assert_nothing_alive();
	}
}

static void test_bad_config_and_files(void **state)
{
	struct vm_config cfg;
	struct vm *vm;
	const char *failed;
	char garbage[] = "/tmp/bothy-test-garbage-XXXXXX";
	int fd;

	(void)state;
	config(&cfg, 0);
	assert_int_equal(vm_create(&cfg, &vm, &failed), -EINVAL);
	assert_string_equal(failed, "config");
	config(&cfg, 1);
	cfg.mem_size = 1024;
	assert_int_equal(vm_create(&cfg, &vm, &failed), -EINVAL);

	config(&cfg, 1);
	cfg.kernel_path = "/nonexistent/bzImage";
	assert_int_equal(vm_create(&cfg, &vm, &failed), -ENOENT);
	assert_string_equal(failed, "boot");
	assert_nothing_alive();

	fd = mkstemp(garbage);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "this is not a kernel, just some text\n", 37), 37);
	close(fd);
	config(&cfg, 1);
	cfg.kernel_path = garbage;
	assert_int_equal(vm_create(&cfg, &vm, &failed), -ENOEXEC);
	assert_string_equal(failed, "boot");
	assert_nothing_alive();
	unlink(garbage);
}

static void push_io(unsigned cpu, uint16_t port, bool write, uint8_t size, uint32_t value)
{
	struct hv_exit e = { .reason = HV_EXIT_IO };

	e.io.port = port;
	e.io.size = size;
	e.io.write = write;
	e.io.count = 1;
	fake_hv_push_exit(cpu, &e, &value, size);
}

static void run_to_stop(const struct vm_config *cfg, void (*script)(void), struct vm_stop_status *st)
{
	struct vm *vm;

	assert_int_equal(vm_create(cfg, &vm, NULL), 0);
	script();
	assert_int_equal(vm_run(vm, st), 0);
	vm_destroy(vm);
	assert_nothing_alive();
}

static void script_debug_exit(void)
{
	push_io(0, 0x510, false, 4, 0); /* unclaimed read first */
	push_io(0, X86_PORT_DEBUG_EXIT, true, 1, 7);
}

static void test_run_debug_exit_and_unclaimed_port(void **state)
{
	struct vm_config cfg;
	struct vm_stop_status st;

	(void)state;
	config(&cfg, 2);
	run_to_stop(&cfg, script_debug_exit, &st);
	assert_int_equal(st.reason, VM_STOP_DEBUG_EXIT);
	assert_int_equal(st.code, 7);
	assert_int_equal(fake_hv_last_read(0), 0xffffffff);
}

static void script_poweroff(void)
{
	push_io(1, X86_PORT_ACPI_SLEEP_CTL, true, 1, (X86_ACPI_S5_TYPE << 2) | 0x20);
}

static void script_acpi_reset(void)
{
	push_io(0, X86_PORT_ACPI_RESET, true, 1, X86_ACPI_RESET_VALUE);
}

static void script_kbd_reset(void)
{
	push_io(0, X86_PORT_I8042_CMD, true, 1, 0xfe);
}

static void script_cf9_reset(void)
{
	push_io(0, X86_PORT_RESET_CTL, true, 1, 0x02); /* "hard reset" request alone does nothing */
	push_io(0, X86_PORT_RESET_CTL, true, 1, 0x06);
}

static void script_triple_fault(void)
{
	struct hv_exit e = { .reason = HV_EXIT_SHUTDOWN };

	fake_hv_push_exit(0, &e, NULL, 0);
}

static void script_system_event_off(void)
{
	struct hv_exit e = { .reason = HV_EXIT_SYSTEM_EVENT };

	e.system_event.type = HV_SYSTEM_SHUTDOWN;
	fake_hv_push_exit(0, &e, NULL, 0);
}

static void test_run_power_events(void **state)
{
	struct vm_config cfg;
	struct vm_stop_status st;

	(void)state;
	config(&cfg, 2);
	run_to_stop(&cfg, script_poweroff, &st);
	assert_int_equal(st.reason, VM_STOP_POWEROFF);
	run_to_stop(&cfg, script_acpi_reset, &st);
	assert_int_equal(st.reason, VM_STOP_REBOOT);
	run_to_stop(&cfg, script_kbd_reset, &st);
	assert_int_equal(st.reason, VM_STOP_REBOOT);
	run_to_stop(&cfg, script_cf9_reset, &st);
	assert_int_equal(st.reason, VM_STOP_REBOOT);
	assert_non_null(strstr(st.detail, "0xcf9"));
	run_to_stop(&cfg, script_system_event_off, &st);
	assert_int_equal(st.reason, VM_STOP_POWEROFF);
	run_to_stop(&cfg, script_triple_fault, &st);
	assert_int_equal(st.reason, VM_STOP_CRASH);
	assert_non_null(strstr(st.detail, "triple fault"));
}

static void script_nothing(void)
{
}

static void test_debug_exit_port_is_opt_in(void **state)
{
	struct vm_config cfg;
	struct vm *vm;
	struct vm_stop_status st;

	(void)state;
	config(&cfg, 1);
	cfg.debug_exit = false;
	assert_int_equal(vm_create(&cfg, &vm, NULL), 0);
	push_io(0, X86_PORT_DEBUG_EXIT, true, 1, 9);
	push_io(0, X86_PORT_ACPI_SLEEP_CTL, true, 1, (X86_ACPI_S5_TYPE << 2) | 0x20);
	assert_int_equal(vm_run(vm, &st), 0);
	assert_int_equal(st.reason, VM_STOP_POWEROFF);
	vm_destroy(vm);
	(void)script_nothing;
}

static void *stop_later(void *arg)
{
	usleep(20000);
	vm_request_stop(arg, VM_STOP_SIGNAL, 15, "test");
	return NULL;
}

static void test_stop_from_another_thread(void **state)
{
	struct vm_config cfg;
	struct vm *vm;
	struct vm_stop_status st;
	pthread_t t;

	(void)state;
	config(&cfg, 4);
	assert_int_equal(vm_create(&cfg, &vm, NULL), 0);
	assert_int_equal(pthread_create(&t, NULL, stop_later, vm), 0);
	assert_int_equal(vm_run(vm, &st), 0);
	pthread_join(t, NULL);
	assert_int_equal(st.reason, VM_STOP_SIGNAL);
	assert_int_equal(st.code, 15);
	/* a second stop request keeps the first reason */
	vm_request_stop(vm, VM_STOP_CRASH, 0, "late");
	vm_destroy(vm);
	assert_nothing_alive();
}

static void script_uart(void)
{
	push_io(0, X86_PORT_COM1, true, 1, 'o');
	push_io(0, X86_PORT_COM1, true, 1, 'k');
	push_io(0, X86_PORT_DEBUG_EXIT, true, 1, 0);
}

static void test_uart_output_reaches_console(void **state)
{
	struct vm_config cfg;
	struct vm_stop_status st;
	char buf[4] = { 0 };
	int p[2], in[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(pipe(in), 0);
	config(&cfg, 1);
	cfg.console = VM_CONSOLE_STDIO;
	cfg.console_out_fd = p[1];
	cfg.console_in_fd = in[0]; /* nothing is written to it: no input */
	run_to_stop(&cfg, script_uart, &st);
	assert_int_equal(st.reason, VM_STOP_DEBUG_EXIT);
	assert_int_equal(read(p[0], buf, 2), 2);
	assert_string_equal(buf, "ok");
	close(p[0]);
	close(p[1]);
	close(in[0]);
	close(in[1]);
}

static const struct hv_x86_cpuid_entry *cpuid_of(unsigned vcpu, uint32_t leaf)
{
	for (unsigned i = 0; i < fake_state.cpuid_nent[vcpu]; i++)
		if (fake_state.cpuid[vcpu][i].function == leaf)
			return &fake_state.cpuid[vcpu][i];
	fail_msg("vCPU %u has no CPUID leaf %#x", vcpu, leaf);
	return NULL;
}

static uint64_t msr_written(unsigned vcpu, uint32_t index)
{
	for (unsigned i = 0; i < fake_state.nmsrs[vcpu]; i++)
		if (fake_state.msrs[vcpu][i].index == index)
			return fake_state.msrs[vcpu][i].value;
	fail_msg("vCPU %u: MSR %#x was not written", vcpu, index);
	return 0;
}

/* A template reaches every vCPU's CPUID and feature MSRs; the VM freezes its ABI when it runs. */
static void test_guest_abi_applied(void **state)
{
	static struct abi_doc doc;
	struct vm_config cfg;
	struct vm_stop_status st;
	struct vm *vm;
	char err[256];

	(void)state;
	assert_int_equal(abi_doc_parse("{\"format\":\"bothy-abi/1\",\"kind\":\"template\",\"arch\":\"x86_64\","
				       "\"features\":{\"pni\":false,\"kvm_pv_eoi\":false,\"mds_no\":false}}",
				       &doc, err, sizeof(err)),
			 0);
	config(&cfg, 2);
	cfg.abi = &doc;
	assert_int_equal(vm_create(&cfg, &vm, NULL), 0);
	for (unsigned v = 0; v < 2; v++) {
		const struct hv_x86_cpuid_entry *l1 = cpuid_of(v, 0x1), *pv = cpuid_of(v, 0x40000001);

		assert_int_equal(l1->ecx & 1, 0);		 /* pni hidden */
		assert_int_equal(l1->ecx >> 21 & 1, 1);	 /* x2apic kept */
		assert_int_equal(l1->ecx >> 31, 1);		 /* hypervisor: bothy's, per vCPU */
		assert_int_equal(l1->ebx >> 24, v);		 /* APIC id: bothy's, per vCPU */
		assert_int_equal(pv->eax, 0x01007efbu & ~(1u << 6)); /* only PV EOI hidden */
		assert_int_equal(msr_written(v, FAKE_MSR_ARCH_CAPABILITIES), FAKE_ARCH_CAPABILITIES & ~(1ull << 5));
		assert_true(fake_state.pv_enforced[v]);
	}
	assert_false(vm->abi.frozen);
	script_debug_exit();
	assert_int_equal(vm_run(vm, &st), 0);
	assert_true(vm->abi.frozen);
	int reg = abi_find_reg(vm->abi.arch, "cpuid.0x40000001.0.eax");
	assert_int_equal(abi_set_reg(&vm->abi, &vm->abi_limit, reg, vm->abi.val[reg], NULL), 0);
	assert_int_equal(abi_set_reg(&vm->abi, &vm->abi_limit, reg, 0, NULL), -EBUSY);
	vm_destroy(vm);
	assert_nothing_alive();
}

/* Asking for what the host lacks fails in the "abi" step, before any vCPU exists. */
static void test_guest_abi_refused(void **state)
{
	static struct abi_doc doc;
	struct vm_config cfg;
	struct vm *vm = NULL;
	const char *failed = NULL;
	char err[256];

	(void)state;
	assert_int_equal(abi_doc_parse("{\"format\":\"bothy-abi/1\",\"kind\":\"template\",\"arch\":\"x86_64\","
				       "\"features\":{\"avx2\":true}}",
				       &doc, err, sizeof(err)),
			 0);
	config(&cfg, 1);
	cfg.abi = &doc;
	assert_int_equal(vm_create(&cfg, &vm, &failed), -ENOTSUP);
	assert_string_equal(failed, "abi");
	assert_int_equal(fake_state.vcpus_live, 0);
	assert_nothing_alive();
}

/* A VM whose vCPU 0 is in protected (or long) mode at @cpl with registers @r. */
static struct vm *gate_vm(bool long_mode, unsigned cpl, const struct hv_x86_regs *r)
{
	struct vm_config cfg;
	struct vm *vm;

	fake_hv_reset();
	config(&cfg, 1);
	assert_int_equal(vm_create(&cfg, &vm, NULL), 0);
	fake_state.sregs[0].cr0 = 1;
	fake_state.sregs[0].efer = long_mode ? (1u << 10) | (1u << 8) : 0;
	fake_state.sregs[0].cs.l = long_mode;
	fake_state.sregs[0].cs.selector = (uint16_t)(0x10 | cpl);
	fake_state.regs[0] = *r;
	return vm;
}

/* The x86 hypercall gate: function id from the OUT, arguments from registers, results to RAX..RDX. */
static uint64_t gate_call(bool long_mode, unsigned cpl, uint32_t fid, uint64_t rbx)
{
	const struct hv_x86_regs r = { .rax = 0xdeadbeef00000000ull | fid, .rbx = rbx, .rcx = 0x1111,
				       .rip = 0x1234, .rflags = 2 };
	struct vm *vm = gate_vm(long_mode, cpl, &r);
	struct vm_stop_status st;

	push_io(0, X86_PORT_HCALL, true, 4, fid);
	push_io(0, X86_PORT_DEBUG_EXIT, true, 1, 0);
	assert_int_equal(vm_run(vm, &st), 0);
	assert_int_equal(fake_state.regs[0].rip, 0x1234); /* KVM moves RIP past the OUT, not bothy */
	vm_destroy(vm);
	return fake_state.regs[0].rax;
}

static void test_hcall_gate(void **state)
{
	(void)state;
	assert_int_equal(gate_call(true, 0, 0x84000050, 0), 0x10000);		   /* TRNG_VERSION */
	assert_int_equal(gate_call(false, 0, 0x84000050, 0), 0x10000);
	assert_int_equal(gate_call(true, 0, 0x84000053, 0), 0xfffffffeull);	   /* SMC32 id: 32-bit results */
	assert_int_equal(gate_call(true, 0, 0xC4000053, 0), -2ull);		   /* SMC64 id: 64-bit results */
	assert_int_equal(gate_call(false, 0, 0x84000053, 0), 0xfffffffeull);	   /* 32-bit -2 */
	assert_int_equal(gate_call(false, 0, 0xC4000053, 64), 0xffffffffull);	   /* SMC64 from 32-bit */
	assert_int_equal(gate_call(true, 0, 0xC4000053, 0x100000020ull), -2ull); /* N with high bits */
	assert_int_equal(gate_call(true, 0, 0x84000053, 0x100000020ull), 0);	   /* SMC32: N = 32 */
	assert_int_equal(gate_call(false, 0, 0x84000053, 0x100000020ull) , 0);	   /* 32-bit: N = 32 */
	assert_int_equal(gate_call(true, 3, 0x84000050, 0), 0xffffffffull);	   /* user mode: denied */
	assert_int_equal(fake_state.regs[0].rcx, 0);				   /* no stale results */
}

/*
 * The IN form: the function id in EAX, the first result from KVM's completion of the IN (the fake
 * completes it as KVM does), and a register write only when RBX..RDX do not already hold the rest.
 * Returns RAX; *writes counts register writes during the run.
 */
static uint64_t gate_in_call(bool long_mode, unsigned cpl, uint32_t fid, uint64_t rbx, uint64_t rcx, uint8_t size,
			     unsigned *writes)
{
	const struct hv_x86_regs r = { .rax = 0xdeadbeef00000000ull | fid, .rbx = rbx, .rcx = rcx, .rsi = 0x5151,
				       .rip = 0x1234, .rflags = 2 };
	struct vm *vm = gate_vm(long_mode, cpl, &r);
	struct vm_stop_status st;
	unsigned before;

	push_io(0, X86_PORT_HCALL, false, size, 0);
	push_io(0, X86_PORT_DEBUG_EXIT, true, 1, 0);
	before = fake_state.set_regs_calls[0];
	assert_int_equal(vm_run(vm, &st), 0);
	*writes = fake_state.set_regs_calls[0] - before;
	assert_int_equal(fake_state.regs[0].rip, 0x1234);
	assert_int_equal(fake_state.regs[0].rsi, 0x5151);
	vm_destroy(vm);
	return fake_state.regs[0].rax;
}

static void test_hcall_gate_in_form(void **state)
{
	unsigned w;

	(void)state;
	/* TRNG_VERSION with RBX..RDX zero: the answer rides on the IN, no register is written. */
	assert_int_equal(gate_in_call(true, 0, 0x84000050, 0, 0, 4, &w), 0x10000);
	assert_int_equal(w, 0);
	assert_int_equal(gate_in_call(false, 0, 0x84000050, 0, 0, 4, &w), 0x10000);
	assert_int_equal(w, 0);
	/* A stale RCX must read zero after the call: then bothy writes the registers. */
	assert_int_equal(gate_in_call(true, 0, 0x84000050, 0, 0x1111, 4, &w), 0x10000);
	assert_int_equal(w, 1);
	assert_int_equal(fake_state.regs[0].rcx, 0);
	/* TRNG_RND32(32): RAX 0 (success, upper half cleared by the IN), random bits in RDX. */
	assert_int_equal(gate_in_call(true, 0, 0x84000053, 32, 0, 4, &w), 0);
	assert_int_equal(w, 1);
	assert_int_equal(fake_state.regs[0].rbx, 0);
	assert_int_equal(fake_state.regs[0].rcx, 0);
	assert_true(fake_state.regs[0].rdx <= 0xffffffffull);
	/* A 64-bit-convention id cannot have its results: NOT_SUPPORTED, 32 bits wide, even from long mode. */
	assert_int_equal(gate_in_call(true, 0, 0xC4000053, 64, 0, 4, &w), 0xffffffffull);
	assert_int_equal(fake_state.regs[0].rbx, 0);
	/* User mode under the kernel-only policy: denied. */
	assert_int_equal(gate_in_call(true, 3, 0x84000050, 0, 0, 4, &w), 0xffffffffull);
	assert_int_equal(w, 0);
	/* A 1-byte read is no call: all ones in AL, every other register (and the rest of RAX) kept. */
	assert_int_equal(gate_in_call(true, 0, 0x84000050, 7, 8, 1, &w), 0xdeadbeef840000ffull);
	assert_int_equal(w, 0);
	assert_int_equal(fake_state.regs[0].rbx, 7);
	assert_int_equal(fake_state.regs[0].rcx, 8);
}

static struct hcall_call gate_seen;
static int gate_owner(void *opaque, struct hcall_call *c)
{
	(void)opaque;
	gate_seen = *c;
	c->ret[0] = 0x600d;
	return 0;
}

/* A forwarded call through the gate: six arguments, and 7..17 zero although the gate never zeroes the call up front. */
static void test_hcall_gate_forward(void **state)
{
	static const struct hcall_range fwd = { 0xC6001000u, 1, HCALL_FORWARD };
	static const struct hcall_owner owner = { gate_owner, NULL };
	struct vm_config cfg;
	struct vm_stop_status st;
	struct vm *vm;

	(void)state;
	fake_hv_reset();
	config(&cfg, 1);
	cfg.hcall_ranges = &fwd;
	cfg.nr_hcall_ranges = 1;
	cfg.hcall_owner = &owner;
	assert_int_equal(vm_create(&cfg, &vm, NULL), 0);
	fake_state.sregs[0].cr0 = 1;
	fake_state.sregs[0].efer = (1u << 10) | (1u << 8);
	fake_state.sregs[0].cs.l = true;
	fake_state.regs[0] = (struct hv_x86_regs){ .rax = 0xC6001000u, .rbx = 1, .rcx = 2, .rdx = 3, .rsi = 4,
						   .rdi = 5, .r8 = 6, .r9 = 7, .r10 = 8, .rflags = 2 };
	memset(&gate_seen, 0xa5, sizeof(gate_seen));
	push_io(0, X86_PORT_HCALL, true, 4, 0xC6001000u);
	push_io(0, X86_PORT_DEBUG_EXIT, true, 1, 0);
	assert_int_equal(vm_run(vm, &st), 0);
	vm_destroy(vm);
	assert_int_equal(fake_state.regs[0].rax, 0x600d);
	assert_int_equal(gate_seen.fid, 0xC6001000u);
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(gate_seen.args[i], i + 1);
	for (unsigned i = 6; i < HCALL_MAX_ARGS; i++)
		assert_int_equal(gate_seen.args[i], 0); /* R9, R10 are not arguments */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_create_builds_the_machine, reset),
		cmocka_unit_test_setup(test_every_failed_step_unwinds, reset),
		cmocka_unit_test_setup(test_guest_abi_applied, reset),
		cmocka_unit_test_setup(test_guest_abi_refused, reset),
		cmocka_unit_test_setup(test_hcall_gate, reset),
		cmocka_unit_test_setup(test_hcall_gate_in_form, reset),
		cmocka_unit_test_setup(test_hcall_gate_forward, reset),
		cmocka_unit_test_setup(test_bad_config_and_files, reset),
		cmocka_unit_test_setup(test_run_debug_exit_and_unclaimed_port, reset),
		cmocka_unit_test_setup(test_run_power_events, reset),
		cmocka_unit_test_setup(test_debug_exit_port_is_opt_in, reset),
		cmocka_unit_test_setup(test_stop_from_another_thread, reset),
		cmocka_unit_test_setup(test_uart_output_reaches_console, reset),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
