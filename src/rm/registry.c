/*
 * bothyd's VM records: vmids, names, owners, and the configuration turned into the VMM's command
 * line (rm/server_internal.h).
 *
 * vmid policy: a requested vmid (1..RM_VMID_MAX) is honoured when free and refused with IN_USE when
 * taken; vmid 0 asks bothyd, which hands out ids cyclically from where it last stopped, so a freed
 * id is not reused until the others have been, and a client holding a stale id rarely hits a new VM.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/log.h"
#include "rm/server_internal.h"

struct rm_vm *rm_vm_get(struct rm_server *s, unsigned vmid)
{
	if (vmid == 0 || vmid > RM_VMID_MAX)
		return NULL;
	return s->vms[vmid];
}

/* Names are for people and scripts: letters, digits, '.', '_', '-', not starting with '-'. */
bool rm_name_valid(const char *name)
{
	if (name[0] == '-')
		return false;
	for (const char *p = name; *p; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') && !(*p >= '0' && *p <= '9') &&
		    *p != '.' && *p != '_' && *p != '-')
			return false;
	return true;
}

uint32_t rm_vm_new(struct rm_server *s, unsigned vmid, const char *name, uid_t owner, struct rm_vm **out)
{
	struct rm_vm *vm;

	if (vmid > RM_VMID_MAX || !rm_name_valid(name))
		return RM_ERR_ARGUMENT_INVALID;
	if (vmid && s->vms[vmid])
		return RM_ERR_IN_USE;
	if (name[0]) {
		for (unsigned i = 1; i <= RM_VMID_MAX; i++)
			if (s->vms[i] && !strcmp(s->vms[i]->name, name))
				return RM_ERR_IN_USE;
	}
	if (s->nr_vms >= s->cfg.max_vms)
		return RM_ERR_NORESOURCE;
	/* One owner cannot take every slot from the others (root is the operator: no quota). */
	if (owner != 0 && s->cfg.max_vms_per_user) {
		unsigned held = 0;

		for (unsigned i = 1; i <= RM_VMID_MAX; i++)
			held += s->vms[i] && s->vms[i]->owner == owner;
		if (held >= s->cfg.max_vms_per_user)
			return RM_ERR_NORESOURCE;
	}
	if (!vmid) {
		for (unsigned tries = 0; tries < RM_VMID_MAX && !vmid; tries++) {
			unsigned id = s->next_vmid;

			s->next_vmid = id >= RM_VMID_MAX ? 1 : id + 1;
			if (!s->vms[id])
				vmid = id;
		}
		if (!vmid)
			return RM_ERR_NORESOURCE;
	}
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return RM_ERR_NOMEM;
	vm->vmid = (uint16_t)vmid;
	snprintf(vm->name, sizeof(vm->name), "%s", name);
	vm->owner = owner;
	vm->state = RM_VM_NONE;
	vm->pidfd = vm->link_fd = vm->console_fd = vm->stop_timer = -1;
	vm->pid_ep = (struct rm_ep){ RM_EP_VMM_PID, vm };
	vm->link_ep = (struct rm_ep){ RM_EP_VMM_LINK, vm };
	vm->console_ep = (struct rm_ep){ RM_EP_VMM_CONSOLE, vm };
	vm->timer_ep = (struct rm_ep){ RM_EP_STOP_TIMER, vm };
	s->vms[vmid] = vm;
	s->nr_vms++;
	*out = vm;
	return RM_OK;
}

void rm_vm_free(struct rm_server *s, struct rm_vm *vm)
{
	rm_vm_teardown(s, vm);
	rm_watch_clear(s, vm->vmid);
	s->vms[vm->vmid] = NULL;
	s->nr_vms--;
	free(vm->cfg);
	free(vm);
}

/* Does the comma-separated @spec hold path=ABSOLUTE (or no path at all)? */
static bool spec_paths_absolute(const char *spec)
{
	for (const char *item = spec; item && *item; item = strchr(item, ',') ? strchr(item, ',') + 1 : NULL)
		if (!strncmp(item, "path=", 5) && item[5] != '/')
			return false;
	return true;
}

static int argv_add(struct rm_vmm_argv *a, const char *s)
{
	if (a->argc >= RM_VMM_ARGS_MAX)
		return -E2BIG;
	a->argv[a->argc++] = (char *)s; /* exec's prototype wants char *; nothing writes through it */
	a->argv[a->argc] = NULL;
	return 0;
}

static int argv_add2(struct rm_vmm_argv *a, const char *opt, const char *val)
{
	return argv_add(a, opt) ?: argv_add(a, val);
}

static uint32_t invalid(char *why, size_t whylen, const char *fmt, const char *arg)
{
	snprintf(why, whylen, fmt, arg);
	return RM_ERR_ARGUMENT_INVALID;
}

uint32_t rm_vmm_argv_build(const struct rm_vm_config_req *cfg, int hcall_timeout_ms, struct rm_vmm_argv *a,
			   char *why, size_t whylen)
{
	static const char *const consoles[] = { [RM_CONSOLE_NONE] = "none", [RM_CONSOLE_SERIAL] = "stdio",
						[RM_CONSOLE_VIRTIO] = "virtio" };
	static const char *const item_opts[] = { [RM_ITEM_DISK] = "--disk", [RM_ITEM_NET] = "--net",
						 [RM_ITEM_HCALL_RANGE] = "--hcall-filter" };
	const struct { const char *what, *path; bool required; } paths[] = {
		{ "kernel", cfg->kernel, true }, { "initrd", cfg->initrd, false }, { "abi", cfg->abi, false },
		{ "vsock path", cfg->vsock_path, false },
	};
	struct run_options *opts;
	char err[256];
	int ret = 0;

	memset(a, 0, sizeof(*a));
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		if (!paths[i].path[0] && paths[i].required)
			return invalid(why, whylen, "%s: a path is required", paths[i].what);
		if (paths[i].path[0] && paths[i].path[0] != '/')
			return invalid(why, whylen, "%s: the path must be absolute", paths[i].what);
	}
	if (cfg->console > RM_CONSOLE_VIRTIO)
		return invalid(why, whylen, "console kind %s unknown", "");
	if (cfg->flags & ~(RM_CFG_RNG | RM_CFG_DEBUG_EXIT))
		return invalid(why, whylen, "unknown configuration flags%s", "");
	if (!cfg->vsock_cid != !cfg->vsock_path[0])
		return invalid(why, whylen, "vsock: a cid and a path go together%s", "");
	snprintf(a->cpus, sizeof(a->cpus), "%u", cfg->cpus);
	snprintf(a->memory, sizeof(a->memory), "%llu", (unsigned long long)cfg->memory);
	snprintf(a->hcall_timeout, sizeof(a->hcall_timeout), "%d", hcall_timeout_ms);
	snprintf(a->link_fd, sizeof(a->link_fd), "%d", 3);
	snprintf(a->console_fd, sizeof(a->console_fd), "%d", 4);
	ret |= argv_add2(a, "bothy", "run");
	ret |= argv_add2(a, "--rm-control", a->link_fd);
	ret |= argv_add2(a, "--console-fd", a->console_fd);
	ret |= argv_add2(a, "--kernel", cfg->kernel);
	ret |= argv_add2(a, "--cpus", a->cpus);
	ret |= argv_add2(a, "--memory", a->memory);
	ret |= argv_add2(a, "--on-reboot", "exit");
	ret |= argv_add2(a, "--console", consoles[cfg->console]);
	ret |= argv_add2(a, "--hcall-timeout", a->hcall_timeout);
	if (cfg->initrd[0])
		ret |= argv_add2(a, "--initrd", cfg->initrd);
	if (cfg->cmdline[0])
		ret |= argv_add2(a, "--cmdline", cfg->cmdline);
	if (cfg->abi[0])
		ret |= argv_add2(a, "--abi", cfg->abi);
	if (cfg->vsock_cid) {
		snprintf(a->vsock, sizeof(a->vsock), "cid=%u,path=%s", cfg->vsock_cid, cfg->vsock_path);
		ret |= argv_add2(a, "--vsock", a->vsock);
	}
	if (cfg->flags & RM_CFG_RNG)
		ret |= argv_add(a, "--rng");
	if (cfg->flags & RM_CFG_DEBUG_EXIT)
		ret |= argv_add(a, "--debug-exit");
	for (unsigned i = 0; i < cfg->nr_items; i++) {
		const struct rm_cfg_item *it = &cfg->items[i];

		if (it->kind < RM_ITEM_DISK || it->kind > RM_ITEM_HCALL_RANGE)
			return invalid(why, whylen, "item %s: unknown kind", it->spec);
		if (it->kind == RM_ITEM_DISK && !spec_paths_absolute(it->spec))
			return invalid(why, whylen, "--disk %s: the path must be absolute", it->spec);
		ret |= argv_add2(a, item_opts[it->kind], it->spec);
	}
	if (ret)
		return invalid(why, whylen, "too many options%s", "");

	/* The VMM will parse the same line: parse it now, so a bad one fails here and not at VM_INIT. */
	opts = malloc(sizeof(*opts));
	if (!opts)
		return RM_ERR_NOMEM;
	ret = cli_parse_run(a->argc - 1, a->argv + 1, opts, err, sizeof(err));
	if (!ret && opts->help)
		ret = -EINVAL, snprintf(err, sizeof(err), "unexpected --help");
	free(opts);
	if (ret)
		return invalid(why, whylen, "%s", err);
	return RM_OK;
}
