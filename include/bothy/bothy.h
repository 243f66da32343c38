/*
 * libbothy: create, run and destroy one virtual machine in-process.
 *
 * All functions return 0 or a negative errno. Strings in struct vm_config
 * are borrowed for the duration of vm_create().
 */
#ifndef BOTHY_BOTHY_H
#define BOTHY_BOTHY_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct hv_ops;
struct abi_doc;
struct hcall_range;
struct hcall_owner;

/* Where the guest's console goes: the UART (ttyS0), nowhere, or a virtio console (hvc0). */
enum vm_console { VM_CONSOLE_STDIO, VM_CONSOLE_NONE, VM_CONSOLE_VIRTIO };
enum vm_reboot_policy { VM_REBOOT_EXIT, VM_REBOOT_RESTART };

#define VM_MAX_CPUS 64
#define VM_DEFAULT_MEMORY (512ULL << 20)
/*
 * The guest's default command line. On x86-64 a VM without virtio devices has no PCI bus, and
 * pci=off spares the kernel probing for one; the VM with them (virtio-pci), or with a virtio
 * console, drops it. arm64 has no PCI (virtio is on MMIO, in the device tree): no pci=off there.
 */
#if defined(__x86_64__)
#define VM_DEFAULT_CMDLINE "console=ttyS0 panic=-1 pci=off"
#else
#define VM_DEFAULT_CMDLINE "console=ttyS0 panic=-1"
#endif
#define VM_DEFAULT_CMDLINE_PCI "console=ttyS0 panic=-1"
#define VM_DEFAULT_CMDLINE_HVC "console=hvc0 panic=-1"

#define VM_MAX_DISKS 16
#define VM_MAX_NETS 8

/* Virtio devices (docs/virtio.md). */
struct vm_disk {
	const char *path; /* raw image */
	bool readonly;
	const char *serial; /* NULL: derived from the file name */
};

struct vm_net {
	const char *tap; /* opened if it exists, created otherwise */
	uint8_t mac[6];
	bool has_mac;
};

struct vm_config {
	const char *kernel_path; /* bzImage, PVH ELF (vmlinux or payload) */
	const char *initrd_path; /* optional */
	const char *cmdline;     /* NULL: VM_DEFAULT_CMDLINE */
	unsigned ncpus;          /* 1..VM_MAX_CPUS */
	uint64_t mem_size;       /* bytes */
	bool mem_shared;         /* memfd-backed RAM another process can map (default: anonymous, THP) */
	enum vm_console console;
	int console_in_fd, console_out_fd; /* used with VM_CONSOLE_STDIO */
	bool debug_exit;         /* test device: a write to port 0xf4 ends the VM */
	const struct hv_ops *hv; /* NULL: KVM */
	const struct abi_doc *abi; /* guest ABI template or manifest (src/abi/doc.h); NULL: the host limit */
	/* Hypercalls (docs/hypercalls.md, src/hcall/hcall.h). */
	const struct hcall_range *hcall_ranges; /* filter ranges; functions in none: built-in or deny */
	unsigned nr_hcall_ranges;
	const struct hcall_owner *hcall_owner; /* answers FORWARD; NULL: NOT_SUPPORTED */
	bool hcall_user;                       /* serve hypercalls from user mode (default: kernel only) */
	/* Virtio devices. */
	const struct vm_disk *disks;
	unsigned nr_disks;
	const struct vm_net *nets;
	unsigned nr_nets;
	uint32_t vsock_cid;     /* 0: no vsock device; else >= 3 */
	const char *vsock_path; /* host side of the hybrid vsock (Unix sockets) */
	bool rng;               /* virtio-rng from getrandom() */
};

/* Why a VM stopped. The first reason reported wins. */
enum vm_stop_reason {
	VM_STOP_NONE,
	VM_STOP_POWEROFF,   /* guest powered off (ACPI S5, PSCI/SBI) */
	VM_STOP_REBOOT,     /* guest asked for a reset */
	VM_STOP_DEBUG_EXIT, /* test device write: code is the value */
	VM_STOP_SIGNAL,     /* SIGINT/SIGTERM or user escape: code is the signal */
	VM_STOP_CRASH,      /* triple fault, internal error, failed entry */
	VM_STOP_VMM_ERROR,  /* the VMM itself failed */
};

struct vm_stop_status {
	enum vm_stop_reason reason;
	int code;
	char detail[160];
};

void vm_config_init(struct vm_config *cfg);
/* The kernel command line used when cfg->cmdline is NULL: it depends on the console and devices. */
const char *vm_default_cmdline(const struct vm_config *cfg);
/* Builds the VM; on failure *failed_step (if non-NULL) names the step. */
int vm_create(const struct vm_config *cfg, struct vm **out, const char **failed_step);
/* Runs the VM until it stops; fills *status. */
int vm_run(struct vm *vm, struct vm_stop_status *status);
/* Asks a running VM to stop; safe from any thread and from vCPU exits. */
void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int code, const char *detail);
void vm_destroy(struct vm *vm);

const char *vm_stop_reason_name(enum vm_stop_reason reason);

#endif
