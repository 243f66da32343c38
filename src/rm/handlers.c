/*
 * bothyd's requests, one function each (rm/server_internal.h). A handler checks who asks (owner or
 * root, else DENIED; a vmid that does not exist is VMID_INVALID), whether the VM's state allows the
 * request (the lifecycle table, else VM_STATE), and whether a slow request is under way on the VM
 * (BUSY); only then does it change anything.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "core/log.h"
#include "rm/lifecycle.h"
#include "rm/server_internal.h"
#include "rm/vmm_link.h"

/* Every request on a VM starts with its vmid: rm_handle() reads it before it knows the layout. */
_Static_assert(offsetof(struct rm_vmid, vmid) == 0 && offsetof(struct rm_vm_config_req, vmid) == 0 &&
	       offsetof(struct rm_boot_context_req, vmid) == 0 && offsetof(struct rm_vm_stop_req, vmid) == 0 &&
	       offsetof(struct rm_hcall_reply_req, vmid) == 0, "vmid first");

/* The VM a request names, if the caller may operate it. */
static uint32_t vm_lookup(struct rm_server *s, struct rm_req *r, unsigned vmid, struct rm_vm **out)
{
	struct rm_vm *vm = rm_vm_get(s, vmid);

	if (!vm)
		return RM_ERR_VMID_INVALID;
	if (!rm_conn_may_see(r->conn, vm))
		return RM_ERR_DENIED;
	*out = vm;
	return RM_OK;
}

static uint32_t h_get_version(struct rm_server *s, struct rm_version_rep *rep)
{
	rep->major = RM_PROTO_MAJOR;
	rep->minor = RM_PROTO_MINOR;
	rep->features = RM_FEAT_MULTI_INFLIGHT | RM_FEAT_CONSOLE_FD | RM_FEAT_HCALL_FORWARD | RM_FEAT_PAUSE;
	rep->max_msg = RM_MSG_MAX;
	rep->max_inflight = RM_MAX_INFLIGHT;
	rep->max_vms = (uint16_t)(s->cfg.max_vms > 0xffff ? 0xffff : s->cfg.max_vms);
	snprintf(rep->server, sizeof(rep->server), "bothyd %.40s", BOTHY_VERSION);
	return RM_OK;
}

static uint32_t h_allocate(struct rm_server *s, struct rm_req *r, const struct rm_vm_allocate_req *req,
			   struct rm_vmid *rep)
{
	struct rm_vm *vm;
	uint32_t err;

	if (s->stopping)
		return RM_ERR_BUSY;
	err = rm_vm_new(s, req->vmid, req->name, r->conn->uid, &vm);
	if (err)
		return err;
	/* The allocating connection watches its VM from the start. */
	r->conn->watch[vm->vmid / 8] |= (uint8_t)(1u << (vm->vmid % 8));
	rm_vm_set_state(s, vm, RM_VM_LOAD);
	log_info("vm %u%s%s allocated by uid %u", vm->vmid, vm->name[0] ? " " : "", vm->name, (unsigned)vm->owner);
	rep->vmid = vm->vmid;
	return RM_OK;
}

static uint32_t h_deallocate(struct rm_server *s, struct rm_vm *vm)
{
	if (!rm_state_change_valid(vm->state, RM_VM_NONE))
		return RM_ERR_VM_STATE;
	if (vm->slow != RM_SLOW_NONE || rm_vmm_alive(vm))
		return RM_ERR_BUSY;
	rm_vm_set_state(s, vm, RM_VM_NONE);
	log_info("vm %u deallocated", vm->vmid);
	rm_vm_free(s, vm);
	return RM_OK;
}

static uint32_t h_config(struct rm_server *s, struct rm_vm *vm, const struct rm_vm_config_req *req)
{
	struct rm_vmm_argv *argv;
	char why[320];
	uint32_t err;

	/* INIT -> INIT replaces the configuration: no state change, so no table edge is needed. */
	if (vm->state != RM_VM_INIT && !rm_state_change_valid(vm->state, RM_VM_INIT))
		return RM_ERR_VM_STATE;
	if (vm->slow != RM_SLOW_NONE)
		return RM_ERR_BUSY;
	argv = malloc(sizeof(*argv));
	if (!argv)
		return RM_ERR_NOMEM;
	err = rm_vmm_argv_build(req, s->cfg.hcall_timeout_ms, argv, why, sizeof(why));
	free(argv);
	if (err) {
		log_warn("vm %u: configuration refused: %s", vm->vmid, why);
		return err;
	}
	if (!vm->cfg && !(vm->cfg = malloc(sizeof(*vm->cfg))))
		return RM_ERR_NOMEM;
	*vm->cfg = *req;
	vm->cfg->vmid = vm->vmid;
	if (vm->state != RM_VM_INIT)
		rm_vm_set_state(s, vm, RM_VM_INIT);
	return RM_OK;
}

static uint32_t h_init(struct rm_server *s, struct rm_req *r, struct rm_vm *vm)
{
	uint32_t err;

	if (!rm_state_change_valid(vm->state, RM_VM_READY) || !vm->cfg)
		return RM_ERR_VM_STATE;
	if (vm->slow != RM_SLOW_NONE)
		return RM_ERR_BUSY;
	if (s->stopping)
		return RM_ERR_BUSY;
	err = rm_vmm_launch(s, vm);
	if (err)
		return err;
	vm->slow = RM_SLOW_INIT;
	rm_pending_add(vm, r);
	return RM_OK;
}

static uint32_t h_set_boot_context(struct rm_vm *vm, const struct rm_boot_context_req *req)
{
	unsigned i;

	if (vm->state != RM_VM_READY)
		return RM_ERR_VM_STATE;
	if (vm->slow != RM_SLOW_NONE)
		return RM_ERR_BUSY;
	if (!arch_boot_reg_valid(req->reg_set, req->reg_index))
		return RM_ERR_ARGUMENT_INVALID;
	/* Setting a register again replaces its value. */
	for (i = 0; i < vm->nr_boot; i++)
		if (vm->boot[i].reg_set == req->reg_set && vm->boot[i].reg_index == req->reg_index)
			break;
	if (i == RM_MAX_BOOT_REGS)
		return RM_ERR_NORESOURCE;
	vm->boot[i] = (struct rm_boot_reg){ .reg_set = req->reg_set, .reg_index = req->reg_index,
					    .value = req->value };
	if (i == vm->nr_boot)
		vm->nr_boot++;
	return RM_OK;
}

static uint32_t h_start(struct rm_server *s, struct rm_req *r, struct rm_vm *vm)
{
	uint32_t err;

	if (!rm_state_change_valid(vm->state, RM_VM_RUNNING) || vm->state != RM_VM_READY)
		return RM_ERR_VM_STATE;
	if (vm->slow != RM_SLOW_NONE)
		return RM_ERR_BUSY;
	err = rm_vmm_start(s, vm);
	if (err)
		return err;
	vm->slow = RM_SLOW_START;
	rm_pending_add(vm, r);
	return RM_OK;
}

static uint32_t h_stop(struct rm_server *s, struct rm_req *r, struct rm_vm *vm, const struct rm_vm_stop_req *req)
{
	bool force = req->flags & RM_STOP_FLAG_FORCE;

	if (req->flags & ~RM_STOP_FLAG_FORCE)
		return RM_ERR_ARGUMENT_INVALID;
	if (!rm_state_change_valid(vm->state, RM_VM_EXITED) || vm->state == RM_VM_READY)
		return RM_ERR_VM_STATE;
	/* A stop under way may be made forced; anything else slow is BUSY. */
	if (vm->slow != RM_SLOW_NONE && !(vm->slow == RM_SLOW_STOP && force))
		return RM_ERR_BUSY;
	vm->slow = RM_SLOW_STOP;
	rm_pending_add(vm, r);
	rm_vmm_stop(s, vm, force);
	return RM_OK;
}

static uint32_t h_pause_resume(struct rm_server *s, struct rm_vm *vm, bool pause)
{
	unsigned to = pause ? RM_VM_PAUSED : RM_VM_RUNNING;

	if (!rm_state_change_valid(vm->state, to) || vm->state != (pause ? RM_VM_RUNNING : RM_VM_PAUSED))
		return RM_ERR_VM_STATE;
	if (vm->slow != RM_SLOW_NONE)
		return RM_ERR_BUSY;
	if (!rm_vmm_alive(vm) || kill(vm->pid, pause ? SIGSTOP : SIGCONT) < 0)
		return RM_ERR_VM_STATE;
	rm_vm_set_state(s, vm, to);
	return RM_OK;
}

static uint32_t h_reset(struct rm_server *s, struct rm_vm *vm)
{
	if (!rm_state_change_valid(vm->state, RM_VM_RESETTING))
		return RM_ERR_VM_STATE;
	/* A reset ends whatever was under way (a VM_START the VMM never answered). */
	rm_pending_finish(s, vm, RM_ERR_VM_STATE);
	vm->slow = RM_SLOW_NONE;
	vm->reset_stage = RM_RESET_KILL_VMM;
	rm_vm_set_state(s, vm, RM_VM_RESETTING);
	rm_vm_reset_run(s, vm);
	return RM_OK;
}

static void res_add(struct rm_hyp_resources_rep *rep, uint8_t type, uint32_t label, uint64_t cap_id)
{
	if (rep->nr >= RM_MAX_RESOURCES)
		return;
	rep->res[rep->nr] = (struct rm_hyp_resource){ .type = type, .handle = rep->nr, .label = label,
						       .cap_id = cap_id };
	rep->nr++;
}

/* Virtio device ids (virtio spec 5): what RM_RES_VIRTIO_PCI's cap_id carries. */
enum { VIRTIO_ID_NET = 1, VIRTIO_ID_BLOCK = 2, VIRTIO_ID_CONSOLE = 3, VIRTIO_ID_RNG = 4, VIRTIO_ID_VSOCK = 19 };

static uint32_t h_hyp_resources(struct rm_vm *vm, struct rm_hyp_resources_rep *rep)
{
	const struct rm_vm_config_req *cfg = vm->cfg;
	uint32_t dev = 0;

	if (cfg) {
		for (uint32_t i = 0; i < cfg->cpus && i < RM_MAX_RESOURCES; i++)
			res_add(rep, RM_RES_VCPU, i, 0);
		if (cfg->console != RM_CONSOLE_NONE)
			res_add(rep, RM_RES_CONSOLE, 0, 0);
		/* PCI devices in the order the VMM creates them: console, disks, nets, vsock, rng. */
		if (cfg->console == RM_CONSOLE_VIRTIO)
			res_add(rep, RM_RES_VIRTIO_PCI, dev++, VIRTIO_ID_CONSOLE);
		for (unsigned i = 0; i < cfg->nr_items; i++)
			if (cfg->items[i].kind == RM_ITEM_DISK)
				res_add(rep, RM_RES_VIRTIO_PCI, dev++, VIRTIO_ID_BLOCK);
		for (unsigned i = 0; i < cfg->nr_items; i++)
			if (cfg->items[i].kind == RM_ITEM_NET)
				res_add(rep, RM_RES_VIRTIO_PCI, dev++, VIRTIO_ID_NET);
		if (cfg->vsock_cid)
			res_add(rep, RM_RES_VIRTIO_PCI, dev++, VIRTIO_ID_VSOCK);
		if (cfg->flags & RM_CFG_RNG)
			res_add(rep, RM_RES_VIRTIO_PCI, dev++, VIRTIO_ID_RNG);
	}
	if (rm_vmm_alive(vm))
		res_add(rep, RM_RES_VMM_PROCESS, 0, (uint64_t)vm->pid);
	return RM_OK;
}

static uint32_t h_list(struct rm_server *s, struct rm_req *r, struct rm_vm_list_rep *rep)
{
	size_t len;

	for (unsigned i = 1; i <= RM_VMID_MAX && rep->nr < RM_MAX_LIST_VMS; i++) {
		struct rm_vm *vm = s->vms[i];
		struct rm_vm_info *info = &rep->vms[rep->nr];

		if (!vm || !rm_conn_may_see(r->conn, vm))
			continue;
		info->vmid = vm->vmid;
		info->state = (uint8_t)vm->state;
		info->exit_reason = vm->exit.reason;
		info->owner_uid = (uint32_t)vm->owner;
		info->vmm_pid = rm_vmm_alive(vm) ? (uint32_t)vm->pid : 0;
		info->cpus = vm->cfg ? vm->cfg->cpus : 0;
		info->memory = vm->cfg ? vm->cfg->memory : 0;
		memcpy(info->name, vm->name, sizeof(info->name));
		rep->nr++;
	}
	/* The reply must fit in one message: the first VMs, by vmid, as many as fit. */
	while (rep->nr && rm_encode(rm_msgs[RM_MSG_VM_LIST].rep, rep, s->enc, RM_MSG_MAX - 4, &len) == -E2BIG)
		rep->nr--;
	return RM_OK;
}

static uint32_t h_console_attach(struct rm_server *s, struct rm_req *r, struct rm_vm *vm)
{
	int fd;

	if (vm->state != RM_VM_READY && vm->state != RM_VM_RUNNING && vm->state != RM_VM_PAUSED &&
	    vm->state != RM_VM_EXITED)
		return RM_ERR_VM_STATE;
	fd = rm_console_attach(s, vm);
	if (fd < 0)
		return fd == -ENOMEM || fd == -EMFILE || fd == -ENFILE ? RM_ERR_NOMEM : RM_ERR_VM_STATE;
	r->pass_fd = fd;
	return RM_OK;
}

static uint32_t h_watch(struct rm_server *s, struct rm_req *r, const struct rm_vmid *req)
{
	struct rm_vm *vm;
	uint32_t err;

	if (req->vmid == RM_VMID_ALL) {
		r->conn->watch_all = true;
		return RM_OK;
	}
	err = vm_lookup(s, r, req->vmid, &vm);
	if (err)
		return err;
	r->conn->watch[vm->vmid / 8] |= (uint8_t)(1u << (vm->vmid % 8));
	return RM_OK;
}

uint32_t rm_handle(struct rm_server *s, struct rm_req *r, const void *req, void *rep)
{
	enum rm_msg_index index = r->desc->index;
	struct rm_vm *vm = NULL;
	uint32_t err;

	switch (index) {
	case RM_MSG_GET_VERSION:
		return h_get_version(s, rep);
	case RM_MSG_VM_ALLOCATE:
		return h_allocate(s, r, req, rep);
	case RM_MSG_VM_LIST:
		return h_list(s, r, rep);
	case RM_MSG_WATCH:
		return h_watch(s, r, req);
	default:
		break;
	}

	/* Every other request names a VM first: vmid is the first member of each request layout. */
	err = vm_lookup(s, r, *(const uint16_t *)req, &vm);
	if (err)
		return err;
	switch (index) {
	case RM_MSG_VM_DEALLOCATE:
		return h_deallocate(s, vm);
	case RM_MSG_VM_CONFIG:
		return h_config(s, vm, req);
	case RM_MSG_VM_INIT:
		return h_init(s, r, vm);
	case RM_MSG_VM_SET_BOOT_CONTEXT:
		return h_set_boot_context(vm, req);
	case RM_MSG_VM_START:
		return h_start(s, r, vm);
	case RM_MSG_VM_STOP:
		return h_stop(s, r, vm, req);
	case RM_MSG_VM_PAUSE:
		return h_pause_resume(s, vm, true);
	case RM_MSG_VM_RESUME:
		return h_pause_resume(s, vm, false);
	case RM_MSG_VM_RESET:
		return h_reset(s, vm);
	case RM_MSG_VM_GET_STATE: {
		struct rm_vm_state_rep *st = rep;

		st->vm_state = (uint8_t)vm->state;
		return RM_OK;
	}
	case RM_MSG_VM_GET_HYP_RESOURCES:
		return h_hyp_resources(vm, rep);
	case RM_MSG_VM_CONSOLE_ATTACH:
		return h_console_attach(s, r, vm);
	case RM_MSG_VM_HCALL_REPLY:
		return rm_hcall_reply(s, vm, req);
	default:
		return RM_ERR_UNIMPLEMENTED;
	}
}
