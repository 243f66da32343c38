/* The resource manager's message table, payload layouts and codec (rm/proto.h). */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "rm/proto.h"

/* --- payload layouts: one per struct in proto.h ------------------------------------------ */

#define SCALAR(t, s, m, doc) { #m, RM_F_##t, offsetof(struct s, m), 0, 0, NULL, doc }
#define U8(s, m, doc) SCALAR(U8, s, m, doc)
#define U16(s, m, doc) SCALAR(U16, s, m, doc)
#define U32(s, m, doc) SCALAR(U32, s, m, doc)
#define U64(s, m, doc) SCALAR(U64, s, m, doc)
#define RES8 { "reserved", RM_F_RES8, 0, 0, 0, NULL, "zero" }
#define RES16 { "reserved", RM_F_RES16, 0, 0, 0, NULL, "zero" }
#define RES32 { "reserved", RM_F_RES32, 0, 0, 0, NULL, "zero" }
#define TAIL(doc) { "tail", RM_F_TAIL, 0, 0, 0, NULL, doc }
#define STR(s, m, doc) { #m, RM_F_STR, offsetof(struct s, m), sizeof(((struct s *)0)->m), 0, NULL, doc }
#define LIST(s, count, arr, elem_layout, doc)                                                          \
	{ #arr, RM_F_LIST, offsetof(struct s, count), sizeof(((struct s *)0)->arr) / sizeof(((struct s *)0)->arr[0]), \
	  offsetof(struct s, arr), &layout_##elem_layout, doc }
#define LAYOUT(lname, s, ...)                                                                        \
	static const struct rm_field fields_##lname[] = { __VA_ARGS__ };                              \
	static const struct rm_layout layout_##lname = { #lname, fields_##lname,                    \
		sizeof(fields_##lname) / sizeof(fields_##lname[0]), sizeof(struct s) }

static const struct rm_layout layout_empty = { "empty", NULL, 0, sizeof(struct rm_empty) };

LAYOUT(vmid, rm_vmid, U16(rm_vmid, vmid, "the VM"), RES16);

LAYOUT(version_rep, rm_version_rep,
       U16(rm_version_rep, major, "protocol major version (incompatible changes)"),
       U16(rm_version_rep, minor, "protocol minor version (additions)"),
       U32(rm_version_rep, features, "feature bits: 1 several requests in flight, 2 console fd, 4 hypercall forwarding, 8 pause"),
       U32(rm_version_rep, max_msg, "largest message accepted, in bytes"),
       U16(rm_version_rep, max_inflight, "requests in flight per connection"),
       U16(rm_version_rep, max_vms, "VMs this bothyd will hold"),
       STR(rm_version_rep, server, "\"bothyd\" and its version"));

LAYOUT(vm_allocate_req, rm_vm_allocate_req,
       U16(rm_vm_allocate_req, vmid, "0: bothyd picks one"), RES16,
       STR(rm_vm_allocate_req, name, "optional; unique among the VMs bothyd holds"));

LAYOUT(cfg_item, rm_cfg_item,
       U8(rm_cfg_item, kind, "1 disk, 2 net, 3 hypercall filter range"), RES8, RES16,
       STR(rm_cfg_item, spec, "the value of bothy run's --disk, --net or --hcall-filter"));

LAYOUT(vm_config_req, rm_vm_config_req,
       U16(rm_vm_config_req, vmid, "the VM"), RES16,
       U32(rm_vm_config_req, cpus, "vCPUs"),
       U64(rm_vm_config_req, memory, "guest RAM in bytes"),
       U8(rm_vm_config_req, console, "0 none, 1 serial (ttyS0), 2 virtio (hvc0)"),
       U8(rm_vm_config_req, flags, "1 virtio-rng, 2 debug-exit test device"),
       RES16,
       U32(rm_vm_config_req, vsock_cid, "0: no vsock device"),
       STR(rm_vm_config_req, kernel, "absolute path, opened by the VMM as the owner"),
       STR(rm_vm_config_req, initrd, "absolute path or empty"),
       STR(rm_vm_config_req, cmdline, "empty: bothy's default for the devices"),
       STR(rm_vm_config_req, abi, "guest-ABI template or manifest path, or empty"),
       STR(rm_vm_config_req, vsock_path, "host side of the hybrid vsock"),
       LIST(rm_vm_config_req, nr_items, items, cfg_item, "disks, nets, hypercall filter ranges"));

LAYOUT(boot_context_req, rm_boot_context_req,
       U16(rm_boot_context_req, vmid, "the VM"),
       U8(rm_boot_context_req, reg_set, "0 general registers, 1 PC, 2 SP"),
       U8(rm_boot_context_req, reg_index, "register in the set (x86-64 general: rax rbx rcx rdx rsi rdi rsp rbp r8..r15)"),
       RES32,
       U64(rm_boot_context_req, value, "initial value"));

LAYOUT(vm_stop_req, rm_vm_stop_req,
       U16(rm_vm_stop_req, vmid, "the VM"),
       U8(rm_vm_stop_req, flags, "1 force: kill the VMM at once"), RES8,
       U32(rm_vm_stop_req, stop_reason, "the owner's reason, reported back in NOTIFY_VM_EXITED's code"));

LAYOUT(vm_state_rep, rm_vm_state_rep,
       U8(rm_vm_state_rep, vm_state, "the lifecycle state"),
       U8(rm_vm_state_rep, os_state, "0: bothy does not track the guest OS"),
       U16(rm_vm_state_rep, app_status, "0"));

LAYOUT(hyp_resource, rm_hyp_resource,
       U8(rm_hyp_resource, type, "4 vCPU, 0x40 VMM process, 0x41 console, 0x42 virtio-pci device"), RES8,
       U16(rm_hyp_resource, partner_vmid, "the VM"),
       U32(rm_hyp_resource, handle, "unique among the VM's resources"),
       U32(rm_hyp_resource, label, "vCPU index, device index"),
       U64(rm_hyp_resource, cap_id, "VMM pid, virtio device id"),
       U32(rm_hyp_resource, virq_handle, "0"),
       U32(rm_hyp_resource, virq, "0: none"),
       U64(rm_hyp_resource, base, "0 when not applicable"),
       U64(rm_hyp_resource, size, "0 when not applicable"));

LAYOUT(hyp_resources_rep, rm_hyp_resources_rep,
       LIST(rm_hyp_resources_rep, nr, res, hyp_resource, "labelled resources (44 bytes each, Gunyah's layout)"));

LAYOUT(vm_info, rm_vm_info,
       U16(rm_vm_info, vmid, "the VM"),
       U8(rm_vm_info, state, "lifecycle state"),
       U8(rm_vm_info, exit_reason, "bothy's reason for the last exit, 0 none"),
       U32(rm_vm_info, owner_uid, "the owner"),
       U32(rm_vm_info, vmm_pid, "0: no VMM process"),
       U32(rm_vm_info, cpus, "configured vCPUs (0: not configured)"),
       U64(rm_vm_info, memory, "configured RAM in bytes"),
       STR(rm_vm_info, name, "its name or empty"));

LAYOUT(vm_list_rep, rm_vm_list_rep, LIST(rm_vm_list_rep, nr, vms, vm_info, "the VMs"));

LAYOUT(hcall_reply_req, rm_hcall_reply_req,
       U16(rm_hcall_reply_req, vmid, "the VM"), RES16,
       U32(rm_hcall_reply_req, token, "the call's token (NOTIFY_VM_HCALL, VMM_HCALL)"),
       U64(rm_hcall_reply_req, ret[0], "x0/rax"),
       U64(rm_hcall_reply_req, ret[1], "x1/rbx"),
       U64(rm_hcall_reply_req, ret[2], "x2/rcx"),
       U64(rm_hcall_reply_req, ret[3], "x3/rdx"));

LAYOUT(vm_exited_ntf, rm_vm_exited_ntf,
       U16(rm_vm_exited_ntf, vmid, "the VM"),
       U16(rm_vm_exited_ntf, exit_type, "Gunyah's: 0 VM exit, 1 power off, 2 reset, 5 software error, 7 forced stop"),
       U8(rm_vm_exited_ntf, reason, "bothy's: 1 poweroff 2 reboot 3 crash 4 stopped 5 forced 6 vmm-died 7 vmm-error 8 debug-exit"),
       RES8, RES16,
       U32(rm_vm_exited_ntf, code, "debug-exit value, signal number or the stop reason"),
       STR(rm_vm_exited_ntf, detail, "one line for people"));

LAYOUT(vm_status_ntf, rm_vm_status_ntf,
       U16(rm_vm_status_ntf, vmid, "the VM"), RES16,
       U8(rm_vm_status_ntf, vm_status, "the new lifecycle state"),
       U8(rm_vm_status_ntf, os_status, "0"),
       U16(rm_vm_status_ntf, app_status, "0"));

LAYOUT(vm_hcall_ntf, rm_vm_hcall_ntf,
       U16(rm_vm_hcall_ntf, vmid, "the VM"),
       U16(rm_vm_hcall_ntf, vcpu, "the calling vCPU"),
       U32(rm_vm_hcall_ntf, token, "echo it in the answer (VM_HCALL_REPLY, VMM_HCALL_RET)"),
       U32(rm_vm_hcall_ntf, fid, "function id (SMCCC layout)"),
       U32(rm_vm_hcall_ntf, flags, "1: 64-bit calling convention"),
       U64(rm_vm_hcall_ntf, args[0], "argument 1"),
       U64(rm_vm_hcall_ntf, args[1], "argument 2"),
       U64(rm_vm_hcall_ntf, args[2], "argument 3"),
       U64(rm_vm_hcall_ntf, args[3], "argument 4"),
       U64(rm_vm_hcall_ntf, args[4], "argument 5"),
       U64(rm_vm_hcall_ntf, args[5], "argument 6"),
       TAIL("since protocol 1.1; x86 calls, which have six arguments, never carry them"),
       U64(rm_vm_hcall_ntf, args[6], "argument 7 (arm64: X7, or W7 in the 32-bit convention)"),
       U64(rm_vm_hcall_ntf, args[7], "argument 8 (arm64 X8; 8..17: 64-bit convention only, else zero)"),
       U64(rm_vm_hcall_ntf, args[8], "argument 9"),
       U64(rm_vm_hcall_ntf, args[9], "argument 10"),
       U64(rm_vm_hcall_ntf, args[10], "argument 11"),
       U64(rm_vm_hcall_ntf, args[11], "argument 12"),
       U64(rm_vm_hcall_ntf, args[12], "argument 13"),
       U64(rm_vm_hcall_ntf, args[13], "argument 14"),
       U64(rm_vm_hcall_ntf, args[14], "argument 15"),
       U64(rm_vm_hcall_ntf, args[15], "argument 16"),
       U64(rm_vm_hcall_ntf, args[16], "argument 17 (arm64 X17)"));

LAYOUT(boot_reg, rm_boot_reg,
       U8(rm_boot_reg, reg_set, "as VM_SET_BOOT_CONTEXT"),
       U8(rm_boot_reg, reg_index, "as VM_SET_BOOT_CONTEXT"), RES16, RES32,
       U64(rm_boot_reg, value, "initial value"));

LAYOUT(vmm_start_req, rm_vmm_start_req, LIST(rm_vmm_start_req, nr_regs, regs, boot_reg, "the boot context"));

LAYOUT(vmm_ready_ntf, rm_vmm_ready_ntf,
       U32(rm_vmm_ready_ntf, vmm_pid, "the VMM's pid"),
       U32(rm_vmm_ready_ntf, cpus, "vCPUs created"));

const struct rm_msg_desc rm_msgs[RM_NR_MSGS] = {
#define RM_MSG(name, id, kind, req, rep, doc) \
	[RM_MSG_##name] = { RM_MSG_##name, id, #name, RM_KIND_##kind, &layout_##req, &layout_##rep, doc },
#include "rm/messages.def"
#undef RM_MSG
};

const struct rm_msg_desc *rm_msg_find(uint32_t id)
{
	for (unsigned i = 0; i < RM_NR_MSGS; i++)
		if (rm_msgs[i].id == id)
			return &rm_msgs[i];
	return NULL;
}

size_t rm_payload_max(void)
{
	size_t max = 0;

	for (unsigned i = 0; i < RM_NR_MSGS; i++) {
		if (rm_msgs[i].req->size > max)
			max = rm_msgs[i].req->size;
		if (rm_msgs[i].rep->size > max)
			max = rm_msgs[i].rep->size;
	}
	return max;
}

unsigned rm_hcall_nargs(const struct rm_vm_hcall_ntf *h)
{
	for (unsigned i = RM_HCALL_ARGS_BASE; i < RM_HCALL_ARGS; i++)
		if (h->args[i])
			return RM_HCALL_ARGS;
	return RM_HCALL_ARGS_BASE;
}

/* --- the codec ------------------------------------------------------------------------- */

static size_t pad4(size_t pos)
{
	return (4 - (pos & 3)) & 3;
}

/* Wire width of a scalar or reserved field, 0 for strings and lists. */
static size_t scalar_width(enum rm_ftype t)
{
	switch (t) {
	case RM_F_U8: case RM_F_RES8: return 1;
	case RM_F_U16: case RM_F_RES16: return 2;
	case RM_F_U32: case RM_F_RES32: return 4;
	case RM_F_U64: return 8;
	case RM_F_STR: case RM_F_LIST: case RM_F_TAIL: break;
	}
	return 0;
}

static bool is_reserved(enum rm_ftype t)
{
	return t == RM_F_RES8 || t == RM_F_RES16 || t == RM_F_RES32;
}

/* The C member (a uint8/16/32/64_t of @width bytes) <-> the little-endian wire. */
static uint64_t member_load(const uint8_t *m, size_t width)
{
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;

	switch (width) {
	case 1: memcpy(&u8, m, 1); return u8;
	case 2: memcpy(&u16, m, 2); return u16;
	case 4: memcpy(&u32, m, 4); return u32;
	default: memcpy(&u64, m, 8); return u64;
	}
}

/* Are the members of fields @from.. all zero: an optional tail with nothing to say? */
static bool tail_zero(const struct rm_layout *l, unsigned from, const uint8_t *obj)
{
	for (unsigned i = from; i < l->nr_fields; i++) {
		const struct rm_field *f = &l->fields[i];
		size_t width = scalar_width(f->type);

		if (width && !is_reserved(f->type) && member_load(obj + f->off, width))
			return false;
	}
	return true;
}

static void member_store(uint8_t *m, size_t width, uint64_t v)
{
	uint8_t u8 = (uint8_t)v;
	uint16_t u16 = (uint16_t)v;
	uint32_t u32 = (uint32_t)v;

	switch (width) {
	case 1: memcpy(m, &u8, 1); break;
	case 2: memcpy(m, &u16, 2); break;
	case 4: memcpy(m, &u32, 4); break;
	default: memcpy(m, &v, 8); break;
	}
}

static void wire_put(uint8_t *p, size_t width, uint64_t v)
{
	for (size_t i = 0; i < width; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t wire_get(const uint8_t *p, size_t width)
{
	uint64_t v = 0;

	for (size_t i = 0; i < width; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static int encode_layout(const struct rm_layout *l, const uint8_t *obj, uint8_t *out, size_t cap, size_t *pos)
{
	for (unsigned i = 0; i < l->nr_fields; i++) {
		const struct rm_field *f = &l->fields[i];
		const uint8_t *m = obj + f->off;
		size_t width = scalar_width(f->type), need, n;

		if (width) {
			if (cap - *pos < width)
				return -E2BIG;
			wire_put(out + *pos, width, is_reserved(f->type) ? 0 : member_load(m, width));
			*pos += width;
		} else if (f->type == RM_F_TAIL) {
			if (tail_zero(l, i + 1, obj))
				return 0;
		} else if (f->type == RM_F_STR) {
			n = strnlen((const char *)m, f->cap);
			if (n == f->cap || n > UINT16_MAX)
				return -EINVAL;
			need = 2 + n;
			need += pad4(*pos + need);
			if (cap - *pos < need)
				return -E2BIG;
			rm_put16(out + *pos, (uint16_t)n);
			memcpy(out + *pos + 2, m, n);
			memset(out + *pos + 2 + n, 0, need - 2 - n);
			*pos += need;
		} else { /* RM_F_LIST */
			uint16_t count = (uint16_t)member_load(m, 2);
			int ret;

			if (count > f->cap)
				return -EINVAL;
			if (cap - *pos < 4)
				return -E2BIG;
			rm_put16(out + *pos, count);
			rm_put16(out + *pos + 2, 0);
			*pos += 4;
			for (unsigned e = 0; e < count; e++) {
				ret = encode_layout(f->elem, obj + f->elem_off + e * f->elem->size, out, cap, pos);
				if (ret)
					return ret;
			}
		}
	}
	return 0;
}

int rm_encode(const struct rm_layout *l, const void *obj, uint8_t *out, size_t cap, size_t *len)
{
	size_t pos = 0;
	int ret = encode_layout(l, obj, out, cap, &pos);

	*len = ret ? 0 : pos;
	return ret;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static int decode_layout(const struct rm_layout *l, const uint8_t *in, size_t len, size_t *pos, uint8_t *obj)
{
	unsigned tail = 0; /* the first field of an optional tail the payload carries */

	for (unsigned i = 0; i < l->nr_fields; i++) {
		const struct rm_field *f = &l->fields[i];
		uint8_t *m = obj + f->off;
		size_t left = len - *pos, width = scalar_width(f->type), n, need;

		if (width) {
			uint64_t v;

			if (left < width)
				return -EBADMSG;
			v = wire_get(in + *pos, width);
			if (is_reserved(f->type) ? v != 0 : (member_store(m, width, v), false))
				return -EBADMSG;
			*pos += width;
		} else if (f->type == RM_F_TAIL) {
			if (*pos == len)
				return 0; /* left out: zero, as rm_decode cleared them */
			tail = i + 1;
		} else if (f->type == RM_F_STR) {
			if (left < 2)
				return -EBADMSG;
			n = rm_get16(in + *pos);
			need = 2 + n;
			need += pad4(*pos + need);
			/* The member keeps a NUL; the string itself holds none. */
			if (n >= f->cap || left < need || memchr(in + *pos + 2, 0, n) ||
			    !all_zero(in + *pos + 2 + n, need - 2 - n))
				return -EBADMSG;
			memcpy(m, in + *pos + 2, n);
			m[n] = 0;
			*pos += need;
		} else { /* RM_F_LIST */
			uint16_t count;
			int ret;

			if (left < 4)
				return -EBADMSG;
			count = rm_get16(in + *pos);
			if (count > f->cap || rm_get16(in + *pos + 2))
				return -EBADMSG;
			member_store(m, 2, count);
			*pos += 4;
			for (unsigned e = 0; e < count; e++) {
				ret = decode_layout(f->elem, in, len, pos, obj + f->elem_off + e * f->elem->size);
				if (ret)
					return ret;
			}
		}
	}
	/* A tail of zeros is one the encoder leaves out: not canonical. */
	return tail && tail_zero(l, tail, obj) ? -EBADMSG : 0;
}

int rm_decode(const struct rm_layout *l, const uint8_t *in, size_t len, void *obj)
{
	size_t pos = 0;
	int ret;

	memset(obj, 0, l->size);
	ret = decode_layout(l, in, len, &pos, obj);
	if (!ret && pos != len)
		ret = -EBADMSG; /* trailing bytes */
	return ret;
}

/* --- names ------------------------------------------------------------------------------ */

const char *rm_err_name(uint32_t err)
{
	switch (err) {
	case RM_OK: return "OK";
	case RM_ERR_NOMEM: return "NOMEM";
	case RM_ERR_NORESOURCE: return "NORESOURCE";
	case RM_ERR_DENIED: return "DENIED";
	case RM_ERR_MSG_INVALID: return "MSG_INVALID";
	case RM_ERR_BUSY: return "BUSY";
	case RM_ERR_ARGUMENT_INVALID: return "ARGUMENT_INVALID";
	case RM_ERR_HANDLE_INVALID: return "HANDLE_INVALID";
	case RM_ERR_VALIDATE_FAILED: return "VALIDATE_FAILED";
	case RM_ERR_VMID_INVALID: return "VMID_INVALID";
	case RM_ERR_LOOKUP_FAILED: return "LOOKUP_FAILED";
	case RM_ERR_IN_USE: return "IN_USE";
	case RM_ERR_VM_STATE: return "VM_STATE";
	case RM_ERR_UNIMPLEMENTED: return "UNIMPLEMENTED";
	}
	return "?";
}

static const char *const state_names[RM_VM_STATE_MAX + 1] = {
	[RM_VM_NONE] = "NONE", [RM_VM_INIT] = "INIT", [RM_VM_READY] = "READY",
	[RM_VM_RUNNING] = "RUNNING", [RM_VM_PAUSED] = "PAUSED", [RM_VM_LOAD] = "LOAD",
	[RM_VM_AUTH] = "AUTH", [RM_VM_INIT_FAILED] = "INIT_FAILED", [RM_VM_EXITED] = "EXITED",
	[RM_VM_RESETTING] = "RESETTING", [RM_VM_RESET] = "RESET",
};

const char *rm_vm_state_name(unsigned state)
{
	return state <= RM_VM_STATE_MAX && state_names[state] ? state_names[state] : "?";
}

static const char *const exit_reason_names[RM_EXIT_REASON_MAX + 1] = {
	[RM_EXIT_NONE] = "none", [RM_EXIT_POWEROFF] = "poweroff", [RM_EXIT_REBOOT] = "reboot",
	[RM_EXIT_CRASH] = "crash", [RM_EXIT_STOPPED] = "stopped", [RM_EXIT_FORCED] = "forced",
	[RM_EXIT_VMM_DIED] = "vmm-died", [RM_EXIT_VMM_ERROR] = "vmm-error", [RM_EXIT_DEBUG_EXIT] = "debug-exit",
};

const char *rm_exit_reason_name(unsigned reason)
{
	return reason <= RM_EXIT_REASON_MAX ? exit_reason_names[reason] : "?";
}

/* --- docs/rpc.md ------------------------------------------------------------------------- */

static const char *ftype_name(const struct rm_field *f)
{
	switch (f->type) {
	case RM_F_U8: case RM_F_RES8: return "u8";
	case RM_F_U16: case RM_F_RES16: return "u16";
	case RM_F_U32: case RM_F_RES32: return "u32";
	case RM_F_U64: return "u64";
	case RM_F_STR: return "str";
	case RM_F_LIST: return "list";
	case RM_F_TAIL: break;
	}
	return "?";
}

static void doc_layout(FILE *out, const struct rm_layout *l, const char *indent)
{
	if (!l->nr_fields) {
		fprintf(out, "%s- (empty)\n", indent);
		return;
	}
	for (unsigned i = 0; i < l->nr_fields; i++) {
		const struct rm_field *f = &l->fields[i];

		if (f->type == RM_F_TAIL) {
			fprintf(out, "%s- *optional from here* (%s): the fields below are sent together, only when one of "
				     "them is not zero; left out, they are zero\n", indent, f->doc);
			continue;
		}
		fprintf(out, "%s- `%s %s`", indent, ftype_name(f), f->name);
		if (f->type == RM_F_STR)
			fprintf(out, " (at most %zu bytes)", f->cap - 1);
		else if (f->type == RM_F_LIST)
			fprintf(out, " (at most %zu entries)", f->cap);
		fprintf(out, ": %s\n", f->doc);
		if (f->type == RM_F_LIST) {
			char deeper[16];

			snprintf(deeper, sizeof(deeper), "%s  ", indent);
			doc_layout(out, f->elem, deeper);
		}
	}
}

static void doc_kind(FILE *out, enum rm_msg_kind kind, const char *title, const char *intro)
{
	fprintf(out, "\n## %s\n\n%s\n", title, intro);
	for (unsigned i = 0; i < RM_NR_MSGS; i++) {
		const struct rm_msg_desc *d = &rm_msgs[i];

		if (d->kind != kind)
			continue;
		fprintf(out, "\n### %s (0x%08X)\n\n%s.\n\n%s:\n", d->name, d->id, d->doc,
			kind == RM_KIND_REQ ? "Request" : "Payload");
		doc_layout(out, d->req, "");
		if (kind == RM_KIND_REQ) {
			fprintf(out, "\nReply (after the u32 error, when it is 0):\n");
			doc_layout(out, d->rep, "");
		}
	}
}

void rm_doc_write(FILE *out)
{
	static const uint32_t errs[] = {
		RM_OK, RM_ERR_NOMEM, RM_ERR_NORESOURCE, RM_ERR_DENIED, RM_ERR_MSG_INVALID, RM_ERR_BUSY,
		RM_ERR_ARGUMENT_INVALID, RM_ERR_HANDLE_INVALID, RM_ERR_VALIDATE_FAILED, RM_ERR_VMID_INVALID,
		RM_ERR_LOOKUP_FAILED, RM_ERR_IN_USE, RM_ERR_VM_STATE, RM_ERR_UNIMPLEMENTED,
	};

	fprintf(out,
		"# The resource manager protocol (reference)\n\n"
		"<!-- Generated by `bothy rpc-doc` from src/rm/messages.def and src/rm/proto.c; do not edit. -->\n\n"
		"How bothyd behaves (lifecycle, identity, supervision): [resource-manager.md](resource-manager.md).\n\n"
		"## Framing\n\n"
		"One frame per SOCK_SEQPACKET packet, at most %d bytes: an %d-byte little-endian header and up to %d\n"
		"bytes of payload. Header: byte 0 is 0x%02X (api version 1, 2 header words); byte 1 holds the type in\n"
		"bits 1:0 (0 continuation, 1 request, 2 reply, 3 notification) and in bits 7:2 the number of\n"
		"continuation frames that follow the first; bytes 2-3 the seq (u16), bytes 4-7 the message id (u32).\n"
		"A message longer than %d bytes is a first frame plus up to %d continuation frames that repeat the seq,\n"
		"the message id and the fragment count; every frame but the last is full. Largest message: %d bytes.\n"
		"A receiver keeps up to %d partial messages per connection, told apart by seq, so the frames of several\n"
		"messages may interleave; a stray or mismatched continuation is dropped with its partial message.\n\n"
		"A reply carries the request's seq and id; its payload starts with a u32 error code, followed by the\n"
		"reply's fields only when the error is 0. Notifications have ids of their own (bit 20 set).\n\n"
		"## Payload encoding\n\n"
		"Scalars are little-endian and packed in order. Reserved fields are zero: a receiver refuses anything\n"
		"else. `str` is a u16 length and that many bytes (no NUL), then zero padding up to the next multiple of\n"
		"4 bytes from the start of the payload. `list` is a u16 count, a reserved u16, then the entries. A\n"
		"payload must be consumed exactly. A layout may end in an *optional* group of fields, added in a\n"
		"minor version: a sender leaves the group out when all of its fields are zero (so a receiver that\n"
		"predates it still understands every message that does not need it), and a receiver decodes a\n"
		"payload that ends before the group as if they were zero and refuses one that carries the group with\n"
		"only zeros. A request whose payload breaks a rule gets MSG_INVALID; an unknown request id gets\n"
		"UNIMPLEMENTED.\n\n"
		"## Limits\n\n"
		"- %d requests in flight per connection; one more gets BUSY.\n"
		"- %d frames queued towards a client that does not read; beyond that bothyd disconnects it.\n"
		"- String and list capacities are given with each field below.\n\n"
		"## Error codes\n\n| value | name |\n|---|---|\n",
		RM_FRAME_MAX, RM_HDR_SIZE, RM_FRAME_PAYLOAD, RM_API_BYTE, RM_FRAME_PAYLOAD, RM_MAX_CONTINUATIONS,
		RM_MSG_MAX, RM_REASM_SLOTS, RM_MAX_INFLIGHT, RM_MAX_QUEUED_FRAMES);
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		fprintf(out, "| 0x%X | %s |\n", errs[i], rm_err_name(errs[i]));
	fprintf(out, "\n## VM states\n\n| value | state |\n|---|---|\n");
	for (unsigned s = 0; s <= RM_VM_STATE_MAX; s++)
		if (state_names[s])
			fprintf(out, "| %u | %s |\n", s, state_names[s]);
	fprintf(out, "\n## Exit reasons (NOTIFY_VM_EXITED.reason)\n\n| value | reason |\n|---|---|\n");
	for (unsigned r = 1; r <= RM_EXIT_REASON_MAX; r++)
		fprintf(out, "| %u | %s |\n", r, exit_reason_names[r]);
	doc_kind(out, RM_KIND_REQ, "Requests", "Sent by clients; each is answered by one reply with the same seq.");
	doc_kind(out, RM_KIND_NOTIFY, "Notifications",
		 "Sent by bothyd to the connections watching a VM, in the order the changes happened.");
	doc_kind(out, RM_KIND_VMM, "The VMM link",
		 "Between bothyd and each VM's VMM process (a socketpair), in the same framing; bothyd's clients never see\n"
		 "these. VMM_HCALL and VMM_HCALL_RET are also what `bothy run --hcall-handler SOCKET` exchanges with the\n"
		 "handler process.");
}
