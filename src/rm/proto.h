/*
 * The resource manager protocol (docs/rpc.md): error codes, VM states, the
 * message table (messages.def) and the table-driven payload codec.
 *
 * A payload layout is a list of fields, each with a wire type and the offset
 * of its C member; one codec encodes and decodes every message from it, and
 * the same table writes docs/rpc.md. Wire rules: little-endian scalars packed
 * in order; reserved fields are zero (a decoder refuses anything else); a
 * string is a u16 length and that many bytes (no NUL inside), padded with
 * zeros to a multiple of 4; a list is a u16 count, a reserved u16, then the
 * elements. A payload must be consumed exactly: trailing bytes are an error.
 * A layout may end in an optional group of scalars (RM_F_TAIL): sent only
 * when one of them is non-zero, so receivers from before it was added keep
 * decoding every message that does not need it.
 */
#ifndef BOTHY_RM_PROTO_H
#define BOTHY_RM_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rm/wire.h"

#define RM_PROTO_MAJOR 1
#define RM_PROTO_MINOR 1 /* 1: VMM_HCALL and NOTIFY_VM_HCALL carry arguments 7..17 */

/* Feature bits of GET_VERSION. */
#define RM_FEAT_MULTI_INFLIGHT (1u << 0) /* several requests in flight per connection, matched by seq */
#define RM_FEAT_CONSOLE_FD (1u << 1)     /* VM_CONSOLE_ATTACH passes an fd */
#define RM_FEAT_HCALL_FORWARD (1u << 2)  /* NOTIFY_VM_HCALL / VM_HCALL_REPLY */
#define RM_FEAT_PAUSE (1u << 3)

/* Error codes: Gunyah's numbering. */
enum rm_err {
	RM_OK = 0,
	RM_ERR_NOMEM = 0x1,
	RM_ERR_NORESOURCE = 0x2,
	RM_ERR_DENIED = 0x3,
	RM_ERR_MSG_INVALID = 0x4,
	RM_ERR_BUSY = 0x5,
	RM_ERR_ARGUMENT_INVALID = 0x6,
	RM_ERR_HANDLE_INVALID = 0x7,
	RM_ERR_VALIDATE_FAILED = 0x8,
	RM_ERR_VMID_INVALID = 0xD,
	RM_ERR_LOOKUP_FAILED = 0xE,
	RM_ERR_IN_USE = 0x12,
	RM_ERR_VM_STATE = 0x14,
	RM_ERR_UNIMPLEMENTED = 0xFFFFFFFF,
};
const char *rm_err_name(uint32_t err);

/* VM states: the RM's numbering (7 is reserved). */
enum rm_vm_state {
	RM_VM_NONE = 0,
	RM_VM_INIT = 1,
	RM_VM_READY = 2,
	RM_VM_RUNNING = 3,
	RM_VM_PAUSED = 4,
	RM_VM_LOAD = 5,
	RM_VM_AUTH = 6,
	RM_VM_INIT_FAILED = 8,
	RM_VM_EXITED = 9,
	RM_VM_RESETTING = 10,
	RM_VM_RESET = 11,
};
#define RM_VM_STATE_MAX 11
const char *rm_vm_state_name(unsigned state); /* "?" for an unknown value */

/* Exit types of NOTIFY_VM_EXITED: Gunyah's numbering. */
enum rm_exit_type {
	RM_EXIT_TYPE_VM_EXIT = 0,
	RM_EXIT_TYPE_PLATFORM_OFF = 1,
	RM_EXIT_TYPE_PLATFORM_RESET = 2,
	RM_EXIT_TYPE_SOFTWARE_ERROR = 5,
	RM_EXIT_TYPE_VM_STOP_FORCED = 7,
};

/* bothy's reason, finer than the exit type. */
enum rm_exit_reason {
	RM_EXIT_NONE = 0,
	RM_EXIT_POWEROFF = 1,   /* the guest powered off */
	RM_EXIT_REBOOT = 2,     /* the guest asked for a reset */
	RM_EXIT_CRASH = 3,      /* triple fault, internal error */
	RM_EXIT_STOPPED = 4,    /* VM_STOP (graceful) */
	RM_EXIT_FORCED = 5,     /* VM_STOP with the force flag, or a graceful stop that timed out */
	RM_EXIT_VMM_DIED = 6,   /* the VMM process died without saying why (killed, crashed) */
	RM_EXIT_VMM_ERROR = 7,  /* the VMM failed */
	RM_EXIT_DEBUG_EXIT = 8, /* test device: code is the guest's value */
};
#define RM_EXIT_REASON_MAX 8
const char *rm_exit_reason_name(unsigned reason);

/* Resource types of VM_GET_HYP_RESOURCES: Gunyah's where they exist, bothy's from 0x40. */
enum rm_res_type {
	RM_RES_VCPU = 4,
	RM_RES_VIRTIO_MMIO = 6,
	RM_RES_VMM_PROCESS = 0x40, /* cap_id: the VMM's pid */
	RM_RES_CONSOLE = 0x41,     /* VM_CONSOLE_ATTACH */
	RM_RES_VIRTIO_PCI = 0x42,  /* label: device index; cap_id: virtio device id */
};

#define RM_VMID_ALL 0xFFFF /* WATCH: every VM the caller may see */
#define RM_VMID_MAX 0x7FFF /* dynamic ids are 1..RM_VMID_MAX */
#define RM_STOP_FLAG_FORCE 1u

/* Field capacities (C arrays include the terminating NUL). */
#define RM_NAME_MAX 64
#define RM_PATH_MAX 1024
#define RM_CMDLINE_MAX 2048
#define RM_SPEC_MAX 1280
#define RM_DETAIL_MAX 160
#define RM_SERVER_MAX 64
#define RM_MAX_ITEMS 32
#define RM_MAX_RESOURCES 128
#define RM_MAX_LIST_VMS 256
#define RM_MAX_BOOT_REGS 32

/* Connection limits (bothyd). */
#define RM_MAX_INFLIGHT 16         /* requests in flight per connection; more get BUSY */
#define RM_MAX_QUEUED_FRAMES 4096  /* frames queued to a client that does not read; then it is dropped */

/* --- payload structs (layouts in proto.c) ------------------------------------------------ */

struct rm_empty {
	uint8_t unused;
};

struct rm_vmid {
	uint16_t vmid; /* + u16 reserved */
};

struct rm_version_rep {
	uint16_t major, minor;
	uint32_t features;  /* RM_FEAT_* */
	uint32_t max_msg;   /* RM_MSG_MAX */
	uint16_t max_inflight; /* requests in flight per connection */
	uint16_t max_vms;
	char server[RM_SERVER_MAX]; /* "bothyd <version>" */
};

struct rm_vm_allocate_req {
	uint16_t vmid; /* 0: dynamic; + u16 reserved */
	char name[RM_NAME_MAX]; /* may be empty; unique among live VMs when not */
};

enum rm_console_kind { RM_CONSOLE_NONE = 0, RM_CONSOLE_SERIAL = 1, RM_CONSOLE_VIRTIO = 2 };
/* The repeatable parts of a configuration, each as the value of the `bothy run` option. */
enum rm_item_kind {
	RM_ITEM_DISK = 1,        /* --disk path=F[,ro][,serial=S] */
	RM_ITEM_NET = 2,         /* --net tap=NAME[,mac=M] */
	RM_ITEM_HCALL_RANGE = 3, /* --hcall-filter FIRST-LAST=ACTION (FORWARD goes to the watchers) */
};
#define RM_CFG_RNG (1u << 0)
#define RM_CFG_DEBUG_EXIT (1u << 1) /* the test device (port 0xf4) */

struct rm_cfg_item {
	uint8_t kind;            /* enum rm_item_kind; + u8, u16 reserved */
	char spec[RM_SPEC_MAX];  /* the option's value */
};

struct rm_vm_config_req {
	uint16_t vmid;     /* + u16 reserved */
	uint32_t cpus;
	uint64_t memory;   /* bytes */
	uint8_t console;   /* enum rm_console_kind */
	uint8_t flags;     /* RM_CFG_*; + u16 reserved */
	uint32_t vsock_cid; /* 0: none */
	char kernel[RM_PATH_MAX]; /* absolute paths, opened by the VMM as the VM's owner */
	char initrd[RM_PATH_MAX];
	char cmdline[RM_CMDLINE_MAX]; /* empty: bothy's default */
	char abi[RM_PATH_MAX];
	char vsock_path[RM_PATH_MAX];
	uint16_t nr_items;
	struct rm_cfg_item items[RM_MAX_ITEMS];
};

/* Gunyah: reg_set 0 general registers (index 0..), 1 PC (index 0), 2 SP (index 0). */
enum rm_reg_set { RM_REG_SET_X = 0, RM_REG_SET_PC = 1, RM_REG_SET_SP = 2 };

struct rm_boot_context_req {
	uint16_t vmid;
	uint8_t reg_set, reg_index; /* + u32 reserved */
	uint64_t value;
};

struct rm_vm_stop_req {
	uint16_t vmid;
	uint8_t flags; /* RM_STOP_FLAG_FORCE; + u8 reserved */
	uint32_t stop_reason;
};

struct rm_vm_state_rep {
	uint8_t vm_state, os_state;
	uint16_t app_status;
};

struct rm_hyp_resource {
	uint8_t type; /* enum rm_res_type; + u8 reserved */
	uint16_t partner_vmid;
	uint32_t handle, label;
	uint64_t cap_id;
	uint32_t virq_handle, virq;
	uint64_t base, size;
};

struct rm_hyp_resources_rep {
	uint16_t nr;
	struct rm_hyp_resource res[RM_MAX_RESOURCES];
};

struct rm_vm_info {
	uint16_t vmid;
	uint8_t state, exit_reason;
	uint32_t owner_uid;
	uint32_t vmm_pid; /* 0: no VMM */
	uint32_t cpus;
	uint64_t memory;
	char name[RM_NAME_MAX];
};

struct rm_vm_list_rep {
	uint16_t nr;
	struct rm_vm_info vms[RM_MAX_LIST_VMS];
};

struct rm_hcall_reply_req {
	uint16_t vmid; /* + u16 reserved */
	uint32_t token;
	uint64_t ret[4];
};

struct rm_vm_exited_ntf {
	uint16_t vmid;
	uint16_t exit_type; /* enum rm_exit_type */
	uint8_t reason;     /* enum rm_exit_reason; + u8, u16 reserved */
	uint32_t code;      /* debug-exit value, signal, ... */
	char detail[RM_DETAIL_MAX];
};

struct rm_vm_status_ntf {
	uint16_t vmid; /* + u16 reserved */
	uint8_t vm_status, os_status;
	uint16_t app_status;
};

#define RM_HCALL_ARGS 17	   /* arguments of a forwarded hypercall: SMCCC 1.2's X1..X17 */
#define RM_HCALL_ARGS_BASE 6 /* those in every VMM_HCALL; 7..17 are its optional tail */

struct rm_vm_hcall_ntf {
	uint16_t vmid;
	uint16_t vcpu;
	uint32_t token;
	uint32_t fid, flags; /* flags: HCALL_WIRE_FLAG_64 */
	uint64_t args[RM_HCALL_ARGS];
};
/* How many of @h's arguments to show: RM_HCALL_ARGS_BASE, or all when one of the tail's is set. */
unsigned rm_hcall_nargs(const struct rm_vm_hcall_ntf *h);

struct rm_boot_reg {
	uint8_t reg_set, reg_index; /* + u16, u32 reserved */
	uint64_t value;
};

struct rm_vmm_start_req {
	uint16_t nr_regs;
	struct rm_boot_reg regs[RM_MAX_BOOT_REGS];
};

struct rm_vmm_ready_ntf {
	uint32_t vmm_pid;
	uint32_t cpus;
};

/* --- the table ----------------------------------------------------------------------- */

enum rm_ftype {
	RM_F_U8,
	RM_F_U16,
	RM_F_U32,
	RM_F_U64,
	RM_F_RES8,  /* reserved byte(s): zero on the wire, no C member */
	RM_F_RES16,
	RM_F_RES32,
	RM_F_STR,   /* char[cap] member */
	RM_F_LIST,  /* uint16_t count member at off, elements at elem_off */
	/*
	 * No wire bytes: the fields after it (scalars, not reserved) are sent together only when
	 * one of them is non-zero, else left out; a payload that ends here decodes them as zero,
	 * one that carries them all zero is refused (the encoding stays canonical). At most one,
	 * in a message's own layout, never in a list element's.
	 */
	RM_F_TAIL,
};

struct rm_layout;

struct rm_field {
	const char *name;
	enum rm_ftype type;
	size_t off;       /* offsetof the C member (count for a list) */
	size_t cap;       /* STR: sizeof the char array; LIST: max elements */
	size_t elem_off;  /* LIST: offsetof the element array */
	const struct rm_layout *elem; /* LIST: the element layout */
	const char *doc;
};

struct rm_layout {
	const char *name;
	const struct rm_field *fields;
	unsigned nr_fields;
	size_t size; /* sizeof the C struct */
};

enum rm_msg_kind { RM_KIND_REQ, RM_KIND_NOTIFY, RM_KIND_VMM };

enum rm_msg_index {
#define RM_MSG(name, id, kind, req, rep, doc) RM_MSG_##name,
#include "rm/messages.def"
#undef RM_MSG
	RM_NR_MSGS
};

enum rm_msg_id {
#define RM_MSG(name, id, kind, req, rep, doc) RM_ID_##name = id,
#include "rm/messages.def"
#undef RM_MSG
};

struct rm_msg_desc {
	enum rm_msg_index index;
	uint32_t id;
	const char *name;
	enum rm_msg_kind kind;
	const struct rm_layout *req; /* the request or notification payload */
	const struct rm_layout *rep; /* the reply after its u32 error (requests) */
	const char *doc;
};

extern const struct rm_msg_desc rm_msgs[RM_NR_MSGS];
/* The message with @id, or NULL. */
const struct rm_msg_desc *rm_msg_find(uint32_t id);

/* Largest C struct of any layout: a buffer this big holds any decoded payload. */
size_t rm_payload_max(void);

/*
 * Encodes @obj by @l into @out; *len gets the size. -E2BIG when it does not fit in @cap,
 * -EINVAL when a member is out of range (a string without NUL within its array or with a length
 * the wire cannot carry, a list count above its cap).
 */
int rm_encode(const struct rm_layout *l, const void *obj, uint8_t *out, size_t cap, size_t *len);
/*
 * Decodes @len bytes into @obj (zeroed first; strings NUL-terminated). -EBADMSG for anything
 * invalid: short, trailing bytes, non-zero reserved fields, a string longer than its member or
 * holding a NUL, a list count above its cap.
 */
int rm_decode(const struct rm_layout *l, const uint8_t *in, size_t len, void *obj);

/* Writes the protocol reference (docs/rpc.md) from the table. */
void rm_doc_write(FILE *out);

#endif
