/* The VM object as the core, the arch backend and devices see it. */
#ifndef BOTHY_CORE_VM_H
#define BOTHY_CORE_VM_H

#include "abi/abi.h"
#include <pthread.h>
#include <stdatomic.h>

#include "bothy/bothy.h"
#include "core/bus.h"
#include "core/devices.h"
#include "core/gmem.h"
#include "hcall/hcall.h"
#include "hv/hv.h"

struct serial;

struct vcpu {
	struct vm *vm;
	unsigned index;
	struct hv_vcpu *hv_vcpu;
	pthread_t thread;
	bool thread_started;
	uint64_t nr_exits;
};

struct vm {
	struct vm_config cfg;
	char *kernel_path, *initrd_path, *cmdline; /* owned copies */

	const struct hv_ops *hv_ops;
	struct hv *hv;
	struct hv_vm *hv_vm;
	struct gmem *gmem;
	struct bus pio_bus, mmio_bus;
	struct vcpu vcpus[VM_MAX_CPUS];
	unsigned nr_vcpus; /* created so far */

	struct serial *console; /* the UART wired to the terminal */
	void *arch;             /* arch backend state (src/arch/<arch>/) */

	/* Stop protocol: first reason wins, then every vCPU is kicked. */
	pthread_mutex_t stop_lock;
	atomic_bool stopping;
	struct vm_stop_status stop;
	int stop_eventfd; /* readable once stopping */

	size_t setup_done; /* number of setup steps completed */

	/* Guest ABI: this host's limit and the manifest the VM runs with (frozen once it runs). */
	struct abi_manifest abi_limit, abi;
	/* Hypercalls: filter, built-in services, the VM owner, counters. */
	struct hcall_dispatcher hcall;
	/* Virtio devices and their transports. */
	struct vm_devices devices;
};

int vm_irq_line(struct vm *vm, uint32_t irq, bool level);

/* Prints per-vCPU exit counts and hypercall counters (bothy run --stats). */
void vm_print_stats(struct vm *vm, FILE *out);

/* Called by vCPU threads: prints the one-screen diagnostic of a crash. */
void vm_dump_vcpu(struct vcpu *vcpu, const char *why);

#endif
