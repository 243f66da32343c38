/*
 * `bothy vm`: the command-line client of the resource manager bothyd
 * (docs/cli.md, docs/resource-manager.md). Each subcommand is one or a few
 * requests over src/rm/client.c; the state machine is bothyd's, this side
 * only picks the requests a user's intent needs and explains refusals.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/terminal.h"
#include "rm/client.h"

/* Exit statuses of `bothy vm` (docs/cli.md). */
enum vm_cli_status {
	VMCLI_OK = 0,
	VMCLI_REFUSED = 1,     /* bothyd said no, or the VM did not get where it was asked to */
	VMCLI_USAGE = 2,
	VMCLI_UNREACHABLE = 3, /* no bothyd, the link broke, or no answer in time */
};

#define VMCLI_MAX_ANSWERS 64
#define CTRL_RIGHT_BRACKET 0x1d /* Ctrl-]: detach from a console */

struct vmcli {
	const char *socket; /* --socket, else $BOTHY_RM_SOCKET, else the default */
	const char *cmd;    /* the subcommand, for messages */
	bool json;
	int timeout_ms;
	struct rm_client *rm;
};

static void usage_vm(FILE *out)
{
	fprintf(out,
		"usage: bothy vm [--socket PATH] [--json] [--timeout SEC] <command> ...\n"
		"VMs owned by the resource manager bothyd (docs/resource-manager.md).\n"
		"\n"
		"  create [--name N] --kernel FILE [options]   allocate and configure a VM; prints its id\n"
		"        options as for `bothy run`: --initrd --cmdline --append --cpus --memory\n"
		"        --console stdio|none|virtio --disk --net --vsock --rng --abi --hcall-filter\n"
		"        --debug-exit (relative paths are made absolute)\n"
		"  config ID --kernel FILE [options]    replace the configuration of a VM (LOAD, INIT, RESET)\n"
		"  start ID [--reg SET:INDEX=VALUE]...   build the VM when needed (VM_INIT), set boot\n"
		"        registers (SET: x, pc, sp or a number), run it\n"
		"  stop ID [--force]          graceful stop (SIGTERM, then SIGKILL after bothyd's timeout)\n"
		"  pause ID | resume ID       freeze / continue a running VM\n"
		"  reset ID [--no-wait]       tear the VMM down; waits until the VM is RESET\n"
		"  destroy ID                 stop, reset and deallocate, whatever the VM's state\n"
		"  list                       the VMs you may see (root: all)\n"
		"  status ID                  one VM: state, owner, VMM, resources\n"
		"  console ID                 attach to the VM's console (Ctrl-] detaches)\n"
		"  watch [ID] [--count N] [--until STATE] [--timeout SEC]\n"
		"                             print notifications as they come, one line each\n"
		"  hcall-serve ID --answer FID=R0[,R1,R2,R3]... [--count N]\n"
		"                             answer the VM's forwarded hypercalls (others: NOT_SUPPORTED)\n"
		"  version                    bothyd's protocol version, features and limits\n"
		"  help                       this text\n"
		"\n"
		"ID is a vmid or a VM name. Global options: --socket PATH (default $%s, else %s),\n"
		"--json (machine-readable output), --timeout SEC (for each answer; default %d).\n"
		"Exit status: 0 done, 1 bothyd refused (or the VM did not get there), 2 usage,\n"
		"3 bothyd cannot be reached.\n",
		RM_CLIENT_SOCKET_ENV, RM_CLIENT_DEFAULT_SOCKET, RM_CLIENT_DEFAULT_TIMEOUT_MS / 1000);
}

static int usage_error(const struct vmcli *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(const struct vmcli *v, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "bothy vm%s%s: ", v->cmd ? " " : "", v->cmd ? v->cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(try `bothy vm help`)\n");
	return VMCLI_USAGE;
}

static void say_error(const struct vmcli *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say_error(const struct vmcli *v, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "bothy vm %s: ", v->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The link failed (not a refusal): explain, status 3. */
static int link_error(const struct vmcli *v, int err)
{
	switch (err) {
	case -ETIMEDOUT:
		say_error(v, "no answer from bothyd within %d s (--timeout)", v->timeout_ms / 1000);
		break;
	case -ECONNRESET:
		say_error(v, "bothyd closed the connection");
		break;
	case -EBADMSG:
		say_error(v, "bothyd sent a malformed reply");
		break;
	default:
		say_error(v, "talking to bothyd: %s", strerror(-err));
		break;
	}
	return VMCLI_UNREACHABLE;
}

static int connect_rm(struct vmcli *v)
{
	const char *path = rm_client_socket_path(v->socket);
	int r = rm_client_connect(v->socket, &v->rm);

	if (r == 0) {
		rm_client_set_timeout(v->rm, v->timeout_ms);
		return VMCLI_OK;
	}
	say_error(v, "cannot reach bothyd at %s: %s", path,
		  r == -ENAMETOOLONG ? "path too long for a Unix socket" : strerror(-r));
	if (r == -ENOENT || r == -ECONNREFUSED)
		fprintf(stderr, "(is bothyd running? the socket is --socket PATH or $%s)\n", RM_CLIENT_SOCKET_ENV);
	else if (r == -EACCES)
		fprintf(stderr, "(the socket's mode is bothyd's --socket-mode; ask for its group)\n");
	return VMCLI_UNREACHABLE;
}

/* One request, waited for. VMCLI_OK with *err the RM's answer, or the link failed (printed, status 3). */
static int call(struct vmcli *v, uint32_t msg_id, const void *req, uint32_t *err, void *rep, int *fd)
{
	int r = rm_client_call(v->rm, msg_id, req, err, rep, fd);

	return r ? link_error(v, r) : VMCLI_OK;
}

/* The VM's state, or -1 when it cannot be had. */
static int vm_state(struct vmcli *v, uint16_t vmid)
{
	struct rm_vmid req = { .vmid = vmid };
	struct rm_vm_state_rep rep;
	uint32_t err;

	if (rm_client_call(v->rm, RM_ID_VM_GET_STATE, &req, &err, &rep, NULL) || err)
		return -1;
	return rep.vm_state;
}

/* bothyd refused @step (NULL: the subcommand's own request): explain, status 1. */
static int refused(struct vmcli *v, uint16_t vmid, const char *step, uint32_t err)
{
	char hint[128] = "";
	int state;

	switch (err) {
	case RM_ERR_VMID_INVALID:
		snprintf(hint, sizeof(hint), " (no such VM)");
		break;
	case RM_ERR_DENIED:
		snprintf(hint, sizeof(hint), " (the VM belongs to another user)");
		break;
	case RM_ERR_BUSY:
		snprintf(hint, sizeof(hint), " (another request on this VM is in progress)");
		break;
	default:
		/* Most refusals are about where the VM is: say where. */
		state = vm_state(v, vmid);
		if (state == RM_VM_INIT_FAILED)
			snprintf(hint, sizeof(hint), " (state INIT_FAILED; the VMM's log is vm-%u.log in bothyd's state "
				 "directory)", vmid);
		else if (state >= 0)
			snprintf(hint, sizeof(hint), " (state %s)", rm_vm_state_name((unsigned)state));
		break;
	}
	fprintf(stderr, "bothy vm %s: VM %u: %s%s%s%s\n", v->cmd, vmid, step ? step : "", step ? ": " : "",
		rm_err_name(err), hint);
	return VMCLI_REFUSED;
}

static void print_json(json_t *j, bool one_line)
{
	if (!j) {
		fprintf(stderr, "bothy vm: out of memory\n");
		return;
	}
	json_dumpf(j, stdout, one_line ? JSON_COMPACT | JSON_PRESERVE_ORDER : JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	fflush(stdout);
	json_decref(j);
}

/* Register values as "0x..." strings: JSON numbers lose precision above 2^53. */
static json_t *json_hex(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)v);
	return json_string(buf);
}

static const char *format_size(uint64_t bytes, char *buf, size_t len)
{
	if (bytes && !(bytes & ((1ull << 30) - 1)))
		snprintf(buf, len, "%lluG", (unsigned long long)(bytes >> 30));
	else if (bytes && !(bytes & ((1ull << 20) - 1)))
		snprintf(buf, len, "%lluM", (unsigned long long)(bytes >> 20));
	else
		snprintf(buf, len, "%llu", (unsigned long long)bytes);
	return buf;
}

static const char *user_name(uint32_t uid, char *buf, size_t len)
{
	struct passwd *pw = getpwuid(uid);

	if (pw && pw->pw_name)
		snprintf(buf, len, "%s", pw->pw_name);
	else
		snprintf(buf, len, "%u", uid);
	return buf;
}

/* A whole-string unsigned number (0x hex or decimal) no larger than @max. */
static int parse_number(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 0);
	return errno || *end || *out > max ? -EINVAL : 0;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

static struct rm_vm_list_rep *list_vms(struct vmcli *v, int *status)
{
	struct rm_vm_list_rep *list = malloc(sizeof(*list));
	uint32_t err;

	if (!list) {
		say_error(v, "out of memory");
		*status = VMCLI_REFUSED;
		return NULL;
	}
	*status = call(v, RM_ID_VM_LIST, NULL, &err, list, NULL);
	if (!*status && err) {
		say_error(v, "VM_LIST: %s", rm_err_name(err));
		*status = VMCLI_REFUSED;
	}
	if (*status) {
		free(list);
		return NULL;
	}
	return list;
}

/* A vmid, or a VM name looked up through VM_LIST. Connects first. */
static int resolve_vm(struct vmcli *v, const char *arg, uint16_t *vmid)
{
	struct rm_vm_list_rep *list;
	unsigned long long id;
	int status;

	if (!arg || !*arg || *arg == '-')
		return usage_error(v, "which VM? (a vmid or a name)");
	if (all_digits(arg)) {
		if (parse_number(arg, RM_VMID_MAX, &id) || id == 0)
			return usage_error(v, "'%s': a vmid is 1 to %u", arg, RM_VMID_MAX);
		*vmid = (uint16_t)id;
		return v->rm ? VMCLI_OK : connect_rm(v);
	}
	if (!v->rm && (status = connect_rm(v)))
		return status;
	list = list_vms(v, &status);
	if (!list)
		return status;
	for (unsigned i = 0; i < list->nr; i++) {
		if (!strcmp(list->vms[i].name, arg)) {
			*vmid = list->vms[i].vmid;
			free(list);
			return VMCLI_OK;
		}
	}
	free(list);
	say_error(v, "no VM named '%s'", arg);
	return VMCLI_REFUSED;
}

/* What every subcommand's getopt loop does with -h, a missing value and an unknown option. */
static int getopt_other(struct vmcli *v, int c, char **argv)
{
	if (c == 'h') {
		usage_vm(stdout);
		return VMCLI_OK;
	}
	if (c == ':')
		return usage_error(v, "option '%s' needs a value", argv[optind - 1]);
	return usage_error(v, "unknown option '%s'", argv[optind - 1]);
}

/* After getopt: exactly one argument left, the VM, resolved to its vmid. */
static int the_vm_argument(struct vmcli *v, int argc, char **argv, uint16_t *vmid)
{
	if (optind + 1 != argc)
		return optind < argc ? usage_error(v, "unexpected argument '%s'", argv[optind + 1])
				     : usage_error(v, "which VM? (a vmid or a name)");
	return resolve_vm(v, argv[optind], vmid);
}

/* --- create / config ----------------------------------------------------------------------- */

static void usage_create(FILE *out)
{
	fprintf(out,
		"usage: bothy vm create [--name N] --kernel FILE [options]\n"
		"       bothy vm config ID --kernel FILE [options]\n"
		"options, as for `bothy run` (see `bothy help run`):\n"
		"  -k, --kernel FILE   -i, --initrd FILE   -c, --cmdline S   -a, --append S\n"
		"  -p, --cpus N        -m, --memory SIZE   --console stdio|none|virtio\n"
		"  --disk path=FILE[,ro][,serial=S]   --net tap=NAME[,mac=MAC]   --vsock cid=N,path=P\n"
		"  --rng   --abi FILE   --hcall-filter FIRST-LAST=ACTION   --debug-exit\n"
		"--console stdio is the serial console, reached with `bothy vm console ID`.\n"
		"Relative paths are made absolute here; the VMM opens the files as the VM's owner.\n");
}

/* Options bothy run has that a bothyd VM cannot take. */
static const char *const run_only_options[] = {
	"on-reboot", "shared-memory", "hcall-handler", "hcall-timeout", "hcall-cpl", "stats", "verbose",
};

static int unknown_option(const struct vmcli *v, const char *token)
{
	const char *name = token;
	size_t len;

	while (*name == '-')
		name++;
	len = strcspn(name, "=");
	for (size_t i = 0; len && i < sizeof(run_only_options) / sizeof(run_only_options[0]); i++)
		if (!strncmp(run_only_options[i], name, len))
			return usage_error(v, "'%s': a VM run by bothyd cannot take this `bothy run` option", token);
	return usage_error(v, "unknown option '%s'", token);
}

/* @path as an absolute path in @out; @must_exist: realpath (the file must be there). */
static int absolute_path(const struct vmcli *v, const char *opt, const char *path, bool must_exist, char *out,
			 size_t cap)
{
	char cwd[PATH_MAX], *real;
	int n;

	if (!strcmp(path, "-"))
		return usage_error(v, "%s -: bothyd cannot read your stdin; give a file", opt);
	if (path[0] == '/') {
		n = snprintf(out, cap, "%s", path);
	} else if (must_exist) {
		real = realpath(path, NULL);
		if (!real)
			return usage_error(v, "%s '%s': %s", opt, path, strerror(errno));
		n = snprintf(out, cap, "%s", real);
		free(real);
	} else {
		if (!getcwd(cwd, sizeof(cwd)))
			return usage_error(v, "%s '%s': current directory: %s", opt, path, strerror(errno));
		n = snprintf(out, cap, "%s/%s", cwd, path);
	}
	if (n < 0 || (size_t)n >= cap)
		return usage_error(v, "%s '%s': path longer than %zu bytes", opt, path, cap - 1);
	return VMCLI_OK;
}

static int add_item(const struct vmcli *v, struct rm_vm_config_req *cfg, uint8_t kind, const char *opt,
		    const char *spec)
{
	struct rm_cfg_item *item;

	if (cfg->nr_items == RM_MAX_ITEMS)
		return usage_error(v, "at most %d disks, nets and hypercall ranges in all", RM_MAX_ITEMS);
	item = &cfg->items[cfg->nr_items];
	if (strlen(spec) >= sizeof(item->spec))
		return usage_error(v, "%s '%s': longer than %zu bytes", opt, spec, sizeof(item->spec) - 1);
	item->kind = kind;
	strcpy(item->spec, spec);
	cfg->nr_items++;
	return VMCLI_OK;
}

/*
 * Parses `bothy run`-style options (argv[0] is skipped) into @cfg: validated by cli_parse_run, so
 * errors read as bothy run's. @name (NULL: --name is refused) gets --name's value, @id (NULL: no
 * argument allowed) the one argument. Returns a status; *help is set for --help.
 */
static int parse_config(const struct vmcli *v, int argc, char **argv, const char **name, const char **id,
			bool *help, struct rm_vm_config_req *cfg)
{
	enum { OPT_NAME = 256, OPT_CONSOLE, OPT_DISK, OPT_NET, OPT_VSOCK, OPT_RNG, OPT_ABI, OPT_HCALL_FILTER,
	       OPT_DEBUG_EXIT };
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, OPT_NAME },
		CLI_GUEST_LONGOPTS,
		{ "console", required_argument, NULL, OPT_CONSOLE },
		{ "disk", required_argument, NULL, OPT_DISK },
		{ "net", required_argument, NULL, OPT_NET },
		{ "vsock", required_argument, NULL, OPT_VSOCK },
		{ "rng", no_argument, NULL, OPT_RNG },
		{ "abi", required_argument, NULL, OPT_ABI },
		{ "hcall-filter", required_argument, NULL, OPT_HCALL_FILTER },
		{ "debug-exit", no_argument, NULL, OPT_DEBUG_EXIT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const dashed[] = {
		"--name", "--kernel", "--initrd", "--cmdline", "--append", "--cpus", "--memory", "--console", "--disk",
		"--net", "--vsock", "--rng", "--abi", "--hcall-filter", "--debug-exit", "--help",
	};
	_Static_assert(sizeof(dashed) / sizeof(dashed[0]) == sizeof(longopts) / sizeof(longopts[0]) - 1,
		       "one dashed name per option");
	const char *nets[VM_MAX_NETS + 1], *hcalls[HCALL_MAX_RANGES + 1];
	unsigned nr_nets = 0, nr_hcalls = 0;
	struct run_options *opts = NULL;
	char **run_argv, err[256], spec[RM_SPEC_MAX];
	int run_argc = 1, c, status = VMCLI_OK;

	/* bothy run's parser sees canonical "--option value" pairs: abbreviations resolve here, once. */
	run_argv = calloc((size_t)argc * 2 + 2, sizeof(*run_argv));
	if (!run_argv)
		return usage_error(v, "out of memory");
	run_argv[0] = "run";
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":k:i:c:a:p:m:h", longopts, NULL)) != -1) {
		const struct option *o = longopts;

		if (c == 'h') {
			*help = true;
			goto out;
		}
		if (c == ':') {
			status = usage_error(v, "option '%s' needs a value", argv[optind - 1]);
			goto out;
		}
		if (c == '?') {
			status = unknown_option(v, argv[optind - 1]);
			goto out;
		}
		if (c == OPT_NAME) {
			if (!name) {
				status = usage_error(v, "--name is given at create time only");
				goto out;
			}
			*name = optarg;
			continue;
		}
		/* Raw specs of the repeatable items (bounded here; cli_parse_run says what the limit is). */
		if (c == OPT_NET && nr_nets <= VM_MAX_NETS)
			nets[nr_nets++] = optarg;
		if (c == OPT_HCALL_FILTER && nr_hcalls <= HCALL_MAX_RANGES)
			hcalls[nr_hcalls++] = optarg;
		while (o->val != c)
			o++;
		run_argv[run_argc++] = (char *)dashed[o - longopts]; /* getopt moves pointers, never writes */
		if (o->has_arg)
			run_argv[run_argc++] = optarg;
	}
	if (id && optind < argc)
		*id = argv[optind++];
	if (optind < argc) {
		status = usage_error(v, "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (id && !*id) {
		status = usage_error(v, "which VM? (a vmid or a name)");
		goto out;
	}
	opts = malloc(sizeof(*opts));
	if (!opts) {
		status = usage_error(v, "out of memory");
		goto out;
	}
	if (cli_parse_run(run_argc, run_argv, opts, err, sizeof(err))) {
		status = usage_error(v, "%s", err);
		goto out;
	}

	cfg->cpus = opts->vm.ncpus;
	cfg->memory = opts->vm.mem_size;
	cfg->console = opts->vm.console == VM_CONSOLE_NONE	? RM_CONSOLE_NONE
		       : opts->vm.console == VM_CONSOLE_VIRTIO ? RM_CONSOLE_VIRTIO
							       : RM_CONSOLE_SERIAL;
	cfg->flags = (opts->vm.rng ? RM_CFG_RNG : 0) | (opts->vm.debug_exit ? RM_CFG_DEBUG_EXIT : 0);
	status = absolute_path(v, "--kernel", opts->vm.kernel_path, true, cfg->kernel, sizeof(cfg->kernel));
	if (!status && opts->vm.initrd_path)
		status = absolute_path(v, "--initrd", opts->vm.initrd_path, true, cfg->initrd, sizeof(cfg->initrd));
	if (!status && opts->abi_path)
		status = absolute_path(v, "--abi", opts->abi_path, true, cfg->abi, sizeof(cfg->abi));
	if (!status && opts->vm.vsock_cid) {
		cfg->vsock_cid = opts->vm.vsock_cid;
		/* The socket prefix need not exist yet: absolute, not resolved. */
		status = absolute_path(v, "--vsock path", opts->vm.vsock_path, false, cfg->vsock_path,
				       sizeof(cfg->vsock_path));
	}
	if (status)
		goto out;
	/* bothy's default (which depends on the devices) travels as "", so the VMM computes the same one. */
	if (strcmp(opts->cmdline_buf, vm_default_cmdline(&opts->vm))) {
		if (strlen(opts->cmdline_buf) >= sizeof(cfg->cmdline)) {
			status = usage_error(v, "command line longer than %zu bytes", sizeof(cfg->cmdline) - 1);
			goto out;
		}
		strcpy(cfg->cmdline, opts->cmdline_buf);
	}
	for (unsigned i = 0; i < opts->vm.nr_disks && !status; i++) {
		const struct vm_disk *d = &opts->disks[i];
		char path[RM_PATH_MAX];
		int n;

		status = absolute_path(v, "--disk path", d->path, true, path, sizeof(path));
		if (status)
			break;
		if (strchr(path, ',')) {
			status = usage_error(v, "--disk path '%s': a path with a comma cannot be passed", path);
			break;
		}
		n = snprintf(spec, sizeof(spec), "path=%s%s%s%s", path, d->readonly ? ",ro" : "",
			     d->serial ? ",serial=" : "", d->serial ? d->serial : "");
		if (n < 0 || (size_t)n >= sizeof(spec))
			status = usage_error(v, "--disk '%s': too long", path);
		else
			status = add_item(v, cfg, RM_ITEM_DISK, "--disk", spec);
	}
	for (unsigned i = 0; i < nr_nets && !status; i++)
		status = add_item(v, cfg, RM_ITEM_NET, "--net", nets[i]);
	for (unsigned i = 0; i < nr_hcalls && !status; i++)
		status = add_item(v, cfg, RM_ITEM_HCALL_RANGE, "--hcall-filter", hcalls[i]);
out:
	free(opts);
	free(run_argv);
	return status;
}

/* A finished action: "started VM 3", or JSON with the state the VM is in now. */
static int report_done(struct vmcli *v, uint16_t vmid, const char *verb)
{
	json_t *j;
	int state;

	if (!v->json) {
		printf("%s VM %u\n", verb, vmid);
		return VMCLI_OK;
	}
	j = json_pack("{s:i, s:s}", "vmid", vmid, "result", verb);
	state = vm_state(v, vmid);
	if (j && state >= 0)
		json_object_set_new(j, "state", json_string(rm_vm_state_name((unsigned)state)));
	print_json(j, false);
	return VMCLI_OK;
}

static bool valid_name(const char *name)
{
	if (!*name || strlen(name) >= RM_NAME_MAX || all_digits(name))
		return false;
	for (const char *p = name; *p; p++)
		if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
			return false;
	return true;
}

static int cmd_create(struct vmcli *v, int argc, char **argv)
{
	struct rm_vm_config_req *cfg = calloc(1, sizeof(*cfg));
	struct rm_vm_allocate_req alloc = { 0 };
	struct rm_vmid allocated, dealloc;
	const char *name = NULL;
	bool help = false;
	uint32_t err;
	int status;

	if (!cfg)
		return usage_error(v, "out of memory");
	status = parse_config(v, argc, argv, &name, NULL, &help, cfg);
	if (status || help) {
		if (help)
			usage_create(stdout);
		goto out;
	}
	if (name && !valid_name(name)) {
		status = usage_error(v, "--name '%s': 1 to %d characters, no spaces, not only digits (ids are numbers)",
				     name, RM_NAME_MAX - 1);
		goto out;
	}
	if (name)
		strcpy(alloc.name, name);
	status = connect_rm(v);
	if (status)
		goto out;
	status = call(v, RM_ID_VM_ALLOCATE, &alloc, &err, &allocated, NULL);
	if (status)
		goto out;
	if (err) {
		say_error(v, "VM_ALLOCATE: %s%s%s%s", rm_err_name(err), err == RM_ERR_IN_USE ? " (a VM named '" : "",
			  err == RM_ERR_IN_USE ? name : "", err == RM_ERR_IN_USE ? "' exists)" : "");
		status = VMCLI_REFUSED;
		goto out;
	}
	cfg->vmid = allocated.vmid;
	status = call(v, RM_ID_VM_CONFIG, cfg, &err, NULL, NULL);
	if (!status && err)
		status = refused(v, cfg->vmid, "VM_CONFIG", err);
	if (status) {
		/* Nothing half-made stays behind. */
		dealloc.vmid = cfg->vmid;
		if (rm_client_call(v->rm, RM_ID_VM_DEALLOCATE, &dealloc, &err, NULL, NULL) || err)
			say_error(v, "VM %u is left allocated (`bothy vm destroy %u` removes it)", cfg->vmid, cfg->vmid);
		goto out;
	}
	if (v->json) {
		json_t *j = json_pack("{s:i, s:s, s:s}", "vmid", cfg->vmid, "name", alloc.name, "state",
				      rm_vm_state_name(RM_VM_INIT));

		print_json(j, false);
	} else if (name) {
		printf("created VM %u (%s)\n", cfg->vmid, name);
	} else {
		printf("created VM %u\n", cfg->vmid);
	}
out:
	free(cfg);
	return status;
}

static int cmd_config(struct vmcli *v, int argc, char **argv)
{
	struct rm_vm_config_req *cfg = calloc(1, sizeof(*cfg));
	const char *id = NULL;
	bool help = false;
	uint32_t err;
	int status;

	if (!cfg)
		return usage_error(v, "out of memory");
	status = parse_config(v, argc, argv, NULL, &id, &help, cfg);
	if (status || help) {
		if (help)
			usage_create(stdout);
		goto out;
	}
	status = resolve_vm(v, id, &cfg->vmid);
	if (status)
		goto out;
	status = call(v, RM_ID_VM_CONFIG, cfg, &err, NULL, NULL);
	if (!status && err)
		status = refused(v, cfg->vmid, NULL, err);
	if (!status)
		status = report_done(v, cfg->vmid, "configured");
out:
	free(cfg);
	return status;
}

/*
 * "ID [--flag]...": @flags are the flag names (without "--") the command takes; set[i] says which
 * were given. *id may stay NULL when @id_optional; @id NULL: the command takes no argument.
 */
static int parse_id_and_flags(const struct vmcli *v, int argc, char **argv, const char *const flags[], bool set[],
			      unsigned nr_flags, bool id_optional, const char **id, bool *help)
{
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		bool known = false;

		if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
			*help = true;
			return VMCLI_OK;
		}
		if (arg[0] == '-' && arg[1]) {
			for (unsigned f = 0; f < nr_flags && !known; f++) {
				if (arg[1] == '-' && !strcmp(arg + 2, flags[f]))
					set[f] = known = true;
			}
			if (!known)
				return usage_error(v, "unknown option '%s'", arg);
			continue;
		}
		if (!id || *id)
			return usage_error(v, "unexpected argument '%s'", arg);
		*id = arg;
	}
	if (id && !*id && !id_optional)
		return usage_error(v, "which VM? (a vmid or a name)");
	return VMCLI_OK;
}

/* A subcommand without arguments: -h (usage printed, *help set), then the connection to bothyd. */
static int parse_plain_command(struct vmcli *v, int argc, char **argv, bool *help)
{
	int status = parse_id_and_flags(v, argc, argv, NULL, NULL, 0, true, NULL, help);

	if (status || *help) {
		if (*help)
			usage_vm(stdout);
		return status;
	}
	return connect_rm(v);
}

/* A subcommand on one VM: its flags, -h (usage printed, *help set), then the VM resolved to *vmid. */
static int parse_vm_command(struct vmcli *v, int argc, char **argv, const char *const flags[], bool set[],
			    unsigned nr_flags, uint16_t *vmid, bool *help)
{
	const char *id = NULL;
	int status = parse_id_and_flags(v, argc, argv, flags, set, nr_flags, false, &id, help);

	if (status || *help) {
		if (*help)
			usage_vm(stdout);
		return status;
	}
	return resolve_vm(v, id, vmid);
}

/* The VM's state, printing why when it cannot be had. */
static int get_state(struct vmcli *v, uint16_t vmid, unsigned *state)
{
	struct rm_vmid req = { .vmid = vmid };
	struct rm_vm_state_rep rep;
	uint32_t err;
	int status;

	status = call(v, RM_ID_VM_GET_STATE, &req, &err, &rep, NULL);
	if (status)
		return status;
	if (err)
		return refused(v, vmid, NULL, err);
	*state = rep.vm_state;
	return VMCLI_OK;
}

static int cmd_start(struct vmcli *v, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "reg", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct rm_boot_context_req regs[RM_MAX_BOOT_REGS];
	struct rm_vmid req;
	unsigned nr_regs = 0, state;
	uint16_t vmid;
	uint32_t err;
	int c, status;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (nr_regs == RM_MAX_BOOT_REGS)
				return usage_error(v, "at most %d --reg", RM_MAX_BOOT_REGS);
			if (rm_client_parse_reg(optarg, &regs[nr_regs]))
				return usage_error(v, "--reg '%s': expected SET:INDEX=VALUE (SET: x, pc, sp or 0-255; "
						   "INDEX 0-255; pc=VALUE and sp=VALUE mean index 0)", optarg);
			nr_regs++;
			break;
		default:
			return getopt_other(v, c, argv);
		}
	}
	status = the_vm_argument(v, argc, argv, &vmid);
	if (status)
		return status;
	req.vmid = vmid;
	status = get_state(v, vmid, &state);
	if (status)
		return status;
	/* A configured VM, or one reset after a run, needs its VMM built first. */
	if (state == RM_VM_INIT || state == RM_VM_RESET) {
		status = call(v, RM_ID_VM_INIT, &req, &err, NULL, NULL);
		if (!status && err)
			status = refused(v, vmid, "VM_INIT", err);
		if (status)
			return status;
	}
	for (unsigned i = 0; i < nr_regs; i++) {
		regs[i].vmid = vmid;
		status = call(v, RM_ID_VM_SET_BOOT_CONTEXT, &regs[i], &err, NULL, NULL);
		if (!status && err)
			status = refused(v, vmid, "VM_SET_BOOT_CONTEXT", err);
		if (status)
			return status;
	}
	status = call(v, RM_ID_VM_START, &req, &err, NULL, NULL);
	if (!status && err)
		status = refused(v, vmid, NULL, err);
	return status ? status : report_done(v, vmid, "started");
}

/* stop, pause, resume: one request on one VM. */
static int simple_action(struct vmcli *v, int argc, char **argv, uint32_t msg_id, const char *verb)
{
	static const char *const stop_flags[] = { "force" };
	struct rm_vm_stop_req stop = { 0 };
	struct rm_vmid req;
	bool force = false, help = false;
	uint32_t err;
	int status;

	status = parse_vm_command(v, argc, argv, stop_flags, &force, msg_id == RM_ID_VM_STOP ? 1 : 0, &req.vmid,
				  &help);
	if (status || help)
		return status;
	stop.vmid = req.vmid;
	stop.flags = force ? RM_STOP_FLAG_FORCE : 0;
	status = call(v, msg_id, msg_id == RM_ID_VM_STOP ? (const void *)&stop : &req, &err, NULL, NULL);
	if (!status && err)
		status = refused(v, req.vmid, NULL, err);
	return status ? status : report_done(v, req.vmid, verb);
}

static int cmd_stop(struct vmcli *v, int argc, char **argv)
{
	return simple_action(v, argc, argv, RM_ID_VM_STOP, "stopped");
}

static int cmd_pause(struct vmcli *v, int argc, char **argv)
{
	return simple_action(v, argc, argv, RM_ID_VM_PAUSE, "paused");
}

static int cmd_resume(struct vmcli *v, int argc, char **argv)
{
	return simple_action(v, argc, argv, RM_ID_VM_RESUME, "resumed");
}

static int watch_vm(struct vmcli *v, uint16_t vmid)
{
	struct rm_vmid req = { .vmid = vmid };
	uint32_t err;
	int status;

	status = call(v, RM_ID_WATCH, &req, &err, NULL, NULL);
	if (!status && err)
		status = refused(v, vmid, "WATCH", err);
	return status;
}

/* Waits (the client's timeout) for a status notification saying @vmid is in @target; WATCH first. */
static int wait_for_state(struct vmcli *v, uint16_t vmid, unsigned target)
{
	int64_t deadline = -1;
	struct rm_notification n;
	struct timespec ts;
	int r, left = -1;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (v->timeout_ms >= 0)
		deadline = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + v->timeout_ms;
	for (;;) {
		if (deadline >= 0) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			left = (int)(deadline - ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000));
			if (left < 0)
				left = 0;
		}
		r = rm_client_next_notification(v->rm, &n, left);
		if (r == -ETIMEDOUT) {
			say_error(v, "VM %u did not reach %s within %d s (--timeout)", vmid, rm_vm_state_name(target),
				  v->timeout_ms / 1000);
			return VMCLI_REFUSED;
		}
		if (r)
			return link_error(v, r);
		if (n.msg_id == RM_ID_NOTIFY_VM_STATUS && n.status.vmid == vmid && n.status.vm_status == target)
			return VMCLI_OK;
	}
}

static int cmd_reset(struct vmcli *v, int argc, char **argv)
{
	static const char *const flags[] = { "wait", "no-wait" };
	bool set[2] = { false, false }, help = false;
	struct rm_vmid req;
	uint32_t err;
	int status;

	status = parse_vm_command(v, argc, argv, flags, set, 2, &req.vmid, &help);
	if (help)
		return status;
	/* Watch before asking, so the RESET notification cannot slip past. */
	if (!status && !set[1])
		status = watch_vm(v, req.vmid);
	if (status)
		return status;
	status = call(v, RM_ID_VM_RESET, &req, &err, NULL, NULL);
	if (!status && err)
		status = refused(v, req.vmid, NULL, err);
	if (!status && !set[1])
		status = wait_for_state(v, req.vmid, RM_VM_RESET);
	return status ? status : report_done(v, req.vmid, "reset");
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Whatever the VM's state, the requests that take it to gone: forced stop, reset, deallocate. */
static int cmd_destroy(struct vmcli *v, int argc, char **argv)
{
	bool help = false, watching = false;
	struct rm_vm_stop_req stop = { .flags = RM_STOP_FLAG_FORCE };
	struct rm_vmid req;
	unsigned state;
	uint32_t err;
	int status, busy_left = 100; /* x 100 ms: another client's slow request on this VM */

	status = parse_vm_command(v, argc, argv, NULL, NULL, 0, &req.vmid, &help);
	if (status || help)
		return status;
	stop.vmid = req.vmid;
	for (;;) {
		const char *step;

		status = get_state(v, req.vmid, &state);
		if (status)
			return status;
		switch (state) {
		case RM_VM_RUNNING:
		case RM_VM_PAUSED:
			step = "VM_STOP";
			status = call(v, RM_ID_VM_STOP, &stop, &err, NULL, NULL);
			break;
		case RM_VM_RESETTING:
			step = "WATCH";
			err = RM_OK;
			if (!watching)
				status = watch_vm(v, req.vmid);
			watching = true;
			/* It may have got there between GET_STATE and WATCH. */
			if (!status && !get_state(v, req.vmid, &state) && state == RM_VM_RESETTING)
				status = wait_for_state(v, req.vmid, RM_VM_RESET);
			break;
		case RM_VM_EXITED:
		case RM_VM_READY:
		case RM_VM_INIT_FAILED:
			step = "VM_RESET";
			if (!watching)
				status = watch_vm(v, req.vmid);
			watching = true;
			if (!status)
				status = call(v, RM_ID_VM_RESET, &req, &err, NULL, NULL);
			if (!status && !err)
				status = wait_for_state(v, req.vmid, RM_VM_RESET);
			break;
		case RM_VM_LOAD:
		case RM_VM_INIT:
		case RM_VM_RESET:
			step = "VM_DEALLOCATE";
			status = call(v, RM_ID_VM_DEALLOCATE, &req, &err, NULL, NULL);
			if (!status && !err)
				return report_done(v, req.vmid, "destroyed");
			break;
		default:
			say_error(v, "VM %u is in state %s, which no request leaves", req.vmid, rm_vm_state_name(state));
			return VMCLI_REFUSED;
		}
		if (status)
			return status;
		/* BUSY: someone else's request is pending; VM_STATE: the VM moved meanwhile. Look again. */
		if (err == RM_ERR_BUSY || err == RM_ERR_VM_STATE) {
			if (!busy_left--)
				return refused(v, req.vmid, step, err);
			sleep_ms(100);
		} else if (err) {
			return refused(v, req.vmid, step, err);
		}
	}
}

static json_t *vm_info_json(const struct rm_vm_info *vm)
{
	char owner[64];

	return json_pack("{s:i, s:s, s:s, s:I, s:s, s:I, s:I, s:I, s:s}", "vmid", vm->vmid, "name", vm->name, "state",
			 rm_vm_state_name(vm->state), "owner_uid", (json_int_t)vm->owner_uid, "owner",
			 user_name(vm->owner_uid, owner, sizeof(owner)), "vmm_pid", (json_int_t)vm->vmm_pid, "cpus",
			 (json_int_t)vm->cpus, "memory", (json_int_t)vm->memory, "last_exit",
			 rm_exit_reason_name(vm->exit_reason));
}

static int cmd_list(struct vmcli *v, int argc, char **argv)
{
	struct rm_vm_list_rep *list;
	bool help = false;
	int status;

	status = parse_plain_command(v, argc, argv, &help);
	if (help)
		return status;
	if (status)
		return status;
	list = list_vms(v, &status);
	if (!list)
		return status;
	if (v->json) {
		json_t *array = json_array();

		for (unsigned i = 0; array && i < list->nr; i++)
			json_array_append_new(array, vm_info_json(&list->vms[i]));
		print_json(array, false);
	} else {
		printf("%-5s %-16s %-11s %-10s %-8s %4s %7s %s\n", "ID", "NAME", "STATE", "OWNER", "PID", "CPUS",
		       "MEMORY", "LAST-EXIT");
		for (unsigned i = 0; i < list->nr; i++) {
			const struct rm_vm_info *vm = &list->vms[i];
			char owner[64], mem[32], pid[16];

			snprintf(pid, sizeof(pid), "%u", vm->vmm_pid);
			printf("%-5u %-16s %-11s %-10s %-8s %4u %7s %s\n", vm->vmid, vm->name[0] ? vm->name : "-",
			       rm_vm_state_name(vm->state), user_name(vm->owner_uid, owner, sizeof(owner)),
			       vm->vmm_pid ? pid : "-", vm->cpus, format_size(vm->memory, mem, sizeof(mem)),
			       vm->exit_reason ? rm_exit_reason_name(vm->exit_reason) : "-");
		}
	}
	free(list);
	return VMCLI_OK;
}

static const char *resource_type_name(unsigned type, char *buf, size_t len)
{
	switch (type) {
	case RM_RES_VCPU: return "vcpu";
	case RM_RES_VIRTIO_MMIO: return "virtio-mmio";
	case RM_RES_VMM_PROCESS: return "vmm-process";
	case RM_RES_CONSOLE: return "console";
	case RM_RES_VIRTIO_PCI: return "virtio-pci";
	}
	snprintf(buf, len, "type-%u", type);
	return buf;
}

static int cmd_status(struct vmcli *v, int argc, char **argv)
{
	struct rm_hyp_resources_rep *res = NULL;
	struct rm_vm_list_rep *list = NULL;
	const struct rm_vm_info *vm = NULL;
	struct rm_vmid req;
	bool help = false;
	unsigned state;
	uint32_t err = RM_OK;
	int status;

	status = parse_vm_command(v, argc, argv, NULL, NULL, 0, &req.vmid, &help);
	if (help)
		return status;
	if (!status)
		list = list_vms(v, &status);
	if (status)
		return status;
	for (unsigned i = 0; i < list->nr && !vm; i++)
		if (list->vms[i].vmid == req.vmid)
			vm = &list->vms[i];
	/* Not listed: VM_GET_STATE says why (VMID_INVALID, DENIED). */
	if (!vm) {
		status = get_state(v, req.vmid, &state);
		if (!status) {
			say_error(v, "VM %u (state %s) is not in VM_LIST", req.vmid, rm_vm_state_name(state));
			status = VMCLI_REFUSED;
		}
		goto out;
	}
	res = malloc(sizeof(*res));
	if (!res) {
		say_error(v, "out of memory");
		status = VMCLI_REFUSED;
		goto out;
	}
	status = call(v, RM_ID_VM_GET_HYP_RESOURCES, &req, &err, res, NULL);
	if (status)
		goto out;
	if (err)
		res->nr = 0; /* a VM without a VMM has none to show */
	if (v->json) {
		json_t *j = vm_info_json(vm), *array = json_array();

		for (unsigned i = 0; array && i < res->nr; i++) {
			const struct rm_hyp_resource *r = &res->res[i];
			char type[16];

			json_array_append_new(array, json_pack("{s:s, s:i, s:i, s:I, s:I, s:o, s:I, s:I, s:o, s:o}",
				"type", resource_type_name(r->type, type, sizeof(type)), "type_code", r->type,
				"partner_vmid", r->partner_vmid, "handle", (json_int_t)r->handle, "label",
				(json_int_t)r->label, "cap_id", json_hex(r->cap_id), "virq_handle",
				(json_int_t)r->virq_handle, "virq", (json_int_t)r->virq, "base", json_hex(r->base),
				"size", json_hex(r->size)));
		}
		if (j && array)
			json_object_set_new(j, "resources", array);
		print_json(j, false);
	} else {
		char owner[64], mem[32];

		printf("VM %u%s%s%s\n", vm->vmid, vm->name[0] ? " (" : "", vm->name, vm->name[0] ? ")" : "");
		printf("  state      %s\n", rm_vm_state_name(vm->state));
		printf("  owner      %s (uid %u)\n", user_name(vm->owner_uid, owner, sizeof(owner)), vm->owner_uid);
		if (vm->vmm_pid)
			printf("  vmm pid    %u\n", vm->vmm_pid);
		printf("  cpus       %u\n", vm->cpus);
		printf("  memory     %s\n", format_size(vm->memory, mem, sizeof(mem)));
		if (vm->exit_reason)
			printf("  last exit  %s\n", rm_exit_reason_name(vm->exit_reason));
		if (res->nr) {
			printf("  resources:\n    %-12s %6s %8s %18s %6s %18s %10s\n", "TYPE", "LABEL", "HANDLE", "CAP-ID",
			       "VIRQ", "BASE", "SIZE");
			for (unsigned i = 0; i < res->nr; i++) {
				const struct rm_hyp_resource *r = &res->res[i];
				char type[16];

				printf("    %-12s %6u %8u %#18llx %6u %#18llx %#10llx\n",
				       resource_type_name(r->type, type, sizeof(type)), r->label, r->handle,
				       (unsigned long long)r->cap_id, r->virq, (unsigned long long)r->base,
				       (unsigned long long)r->size);
			}
		}
	}
out:
	free(res);
	free(list);
	return status;
}

static int cmd_version(struct vmcli *v, int argc, char **argv)
{
	static const struct { uint32_t bit; const char *name; } features[] = {
		{ RM_FEAT_MULTI_INFLIGHT, "multi-inflight" },
		{ RM_FEAT_CONSOLE_FD, "console-fd" },
		{ RM_FEAT_HCALL_FORWARD, "hcall-forward" },
		{ RM_FEAT_PAUSE, "pause" },
	};
	struct rm_version_rep rep;
	bool help = false;
	uint32_t err;
	int status;

	status = parse_plain_command(v, argc, argv, &help);
	if (help)
		return status;
	if (!status)
		status = call(v, RM_ID_GET_VERSION, NULL, &err, &rep, NULL);
	if (status)
		return status;
	if (err) {
		say_error(v, "GET_VERSION: %s", rm_err_name(err));
		return VMCLI_REFUSED;
	}
	if (v->json) {
		json_t *j = json_pack("{s:s, s:i, s:i, s:s, s:i, s:i, s:I, s:[], s:I, s:i, s:i}", "server", rep.server,
				      "major", rep.major, "minor", rep.minor, "client", "bothy " BOTHY_VERSION,
				      "client_major", RM_PROTO_MAJOR, "client_minor", RM_PROTO_MINOR, "feature_bits",
				      (json_int_t)rep.features, "features", "max_msg", (json_int_t)rep.max_msg,
				      "max_inflight", rep.max_inflight, "max_vms", rep.max_vms);
		json_t *names = j ? json_object_get(j, "features") : NULL;

		for (size_t i = 0; names && i < sizeof(features) / sizeof(features[0]); i++)
			if (rep.features & features[i].bit)
				json_array_append_new(names, json_string(features[i].name));
		print_json(j, false);
	} else {
		printf("server     %s\nprotocol   %u.%u (this client: %u.%u, bothy %s)\nfeatures  ", rep.server,
		       rep.major, rep.minor, (unsigned)RM_PROTO_MAJOR, (unsigned)RM_PROTO_MINOR, BOTHY_VERSION);
		for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++)
			if (rep.features & features[i].bit)
				printf(" %s", features[i].name);
		printf("\nlimits     %u-byte messages, %u requests in flight, %u VMs\n", rep.max_msg,
		       rep.max_inflight, rep.max_vms);
	}
	if (rep.major != RM_PROTO_MAJOR) {
		say_error(v, "bothyd speaks protocol %u.x, this client %u.x", rep.major, (unsigned)RM_PROTO_MAJOR);
		return VMCLI_REFUSED;
	}
	return VMCLI_OK;
}

/* --- console ------------------------------------------------------------------------------- */

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			poll(&pfd, 1, -1);
			continue;
		}
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

enum relay_end { RELAY_CONSOLE_CLOSED, RELAY_DETACHED, RELAY_ERROR };

static enum relay_end console_relay(int con, bool tty)
{
	struct pollfd pfd[2] = { { .fd = STDIN_FILENO, .events = POLLIN }, { .fd = con, .events = POLLIN } };
	char buf[4096];
	ssize_t n;

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return RELAY_ERROR;
		}
		if (pfd[1].revents) {
			n = read(con, buf, sizeof(buf));
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0)
				return RELAY_CONSOLE_CLOSED;
			if (write_all(STDOUT_FILENO, buf, (size_t)n))
				return RELAY_ERROR;
		}
		if (pfd[0].revents) {
			char *detach;

			n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0) { /* stdin ended: keep showing the console until it closes */
				pfd[0].fd = -1;
				continue;
			}
			detach = tty ? memchr(buf, CTRL_RIGHT_BRACKET, (size_t)n) : NULL;
			if (write_all(con, buf, detach ? (size_t)(detach - buf) : (size_t)n))
				return RELAY_CONSOLE_CLOSED;
			if (detach)
				return RELAY_DETACHED;
		}
	}
}

static int cmd_console(struct vmcli *v, int argc, char **argv)
{
	struct rm_vmid req;
	bool help = false, tty;
	enum relay_end end;
	uint32_t err;
	int status, con = -1;

	status = parse_vm_command(v, argc, argv, NULL, NULL, 0, &req.vmid, &help);
	if (help)
		return status;
	if (!status)
		status = call(v, RM_ID_VM_CONSOLE_ATTACH, &req, &err, NULL, &con);
	if (status)
		return status;
	if (err)
		return refused(v, req.vmid, NULL, err);
	if (con < 0) {
		say_error(v, "VM %u: bothyd's reply carried no console", req.vmid);
		return VMCLI_UNREACHABLE;
	}
	signal(SIGPIPE, SIG_IGN); /* a console that closes under a write is an EPIPE, handled */
	tty = isatty(STDIN_FILENO);
	if (tty) {
		fprintf(stderr, "[attached to VM %u's console; Ctrl-] detaches]\r\n", req.vmid);
		cli_terminal_raw(true);
	}
	end = console_relay(con, tty);
	cli_terminal_restore();
	close(con);
	if (tty || end != RELAY_DETACHED)
		fprintf(stderr, "%s[%s]\n", tty ? "\n" : "",
			end == RELAY_DETACHED ? "detached" : end == RELAY_CONSOLE_CLOSED ? "console closed" : "error");
	return end == RELAY_ERROR ? VMCLI_REFUSED : VMCLI_OK;
}

/* --- notifications: watch, hcall-serve ------------------------------------------------------ */

static void print_notification(const struct vmcli *v, const struct rm_notification *n, bool initial)
{
	json_t *j = NULL, *args;

	switch (n->msg_id) {
	case RM_ID_NOTIFY_VM_STATUS:
		if (!v->json) {
			printf("vm %u status %s\n", n->status.vmid, rm_vm_state_name(n->status.vm_status));
			break;
		}
		j = json_pack("{s:s, s:i, s:s, s:i, s:i, s:i}", "event", "status", "vmid", n->status.vmid, "state",
			      rm_vm_state_name(n->status.vm_status), "vm_status", n->status.vm_status, "os_status",
			      n->status.os_status, "app_status", n->status.app_status);
		if (j && initial)
			json_object_set_new(j, "initial", json_true());
		break;
	case RM_ID_NOTIFY_VM_EXITED:
		if (!v->json) {
			printf("vm %u exited: %s (type %u, code %u)%s%s\n", n->exited.vmid,
			       rm_exit_reason_name(n->exited.reason), n->exited.exit_type, n->exited.code,
			       n->exited.detail[0] ? ": " : "", n->exited.detail);
			break;
		}
		j = json_pack("{s:s, s:i, s:i, s:s, s:i, s:I, s:s}", "event", "exited", "vmid", n->exited.vmid,
			      "exit_type", n->exited.exit_type, "reason", rm_exit_reason_name(n->exited.reason),
			      "reason_code", n->exited.reason, "code", (json_int_t)n->exited.code, "detail",
			      n->exited.detail);
		break;
	case RM_ID_NOTIFY_VM_HCALL:
		if (!v->json) {
			printf("vm %u hcall 0x%08x vcpu %u token %u args", n->hcall.vmid, n->hcall.fid, n->hcall.vcpu,
			       n->hcall.token);
			for (unsigned i = 0; i < rm_hcall_nargs(&n->hcall); i++)
				printf("%s%#llx", i ? "," : " ", (unsigned long long)n->hcall.args[i]);
			printf("\n");
			break;
		}
		args = json_array();
		for (unsigned i = 0; args && i < rm_hcall_nargs(&n->hcall); i++)
			json_array_append_new(args, json_hex(n->hcall.args[i]));
		j = json_pack("{s:s, s:i, s:i, s:I, s:I, s:I, s:o}", "event", "hcall", "vmid", n->hcall.vmid, "vcpu",
			      n->hcall.vcpu, "token", (json_int_t)n->hcall.token, "fid", (json_int_t)n->hcall.fid,
			      "flags", (json_int_t)n->hcall.flags, "args", args);
		break;
	default:
		return;
	}
	if (v->json)
		print_json(j, true);
	fflush(stdout);
}

static int cmd_watch(struct vmcli *v, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "until", required_argument, NULL, 'u' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long count = 0, seen = 0, seconds = 0;
	int until = -1, c, status, r;
	uint16_t vmid = RM_VMID_ALL;
	struct rm_notification n;
	int64_t deadline = -1;
	struct timespec ts;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (parse_number(optarg, UINT32_MAX, &count) || !count)
				return usage_error(v, "--count '%s': expected a number from 1", optarg);
			break;
		case 'u':
			until = rm_client_parse_state(optarg);
			if (until < 0)
				return usage_error(v, "--until '%s': expected a VM state (RUNNING, EXITED, RESET, ...)",
						   optarg);
			break;
		case 't':
			if (parse_number(optarg, 86400, &seconds) || !seconds)
				return usage_error(v, "--timeout '%s': expected seconds, 1 to 86400", optarg);
			break;
		default:
			return getopt_other(v, c, argv);
		}
	}
	if (argc - optind > 1)
		return usage_error(v, "unexpected argument '%s'", argv[optind + 1]);
	status = optind < argc ? resolve_vm(v, argv[optind], &vmid) : connect_rm(v);
	if (!status)
		status = watch_vm(v, vmid);
	if (status)
		return status;
	/* Already there: say so and stop, or a test waiting for it would wait forever. */
	if (until >= 0 && vmid != RM_VMID_ALL) {
		struct rm_notification now = { .msg_id = RM_ID_NOTIFY_VM_STATUS, .status = { .vmid = vmid } };
		unsigned state;

		status = get_state(v, vmid, &state);
		if (status)
			return status;
		if (state == (unsigned)until) {
			now.status.vm_status = (uint8_t)state;
			print_notification(v, &now, true);
			return VMCLI_OK;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (seconds)
		deadline = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + (int64_t)seconds * 1000;
	for (;;) {
		int left = -1;

		if (deadline >= 0) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			left = (int)(deadline - ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000));
			left = left < 0 ? 0 : left;
		}
		r = rm_client_next_notification(v->rm, &n, left);
		if (r == -ETIMEDOUT) {
			say_error(v, "timed out after %llu s", seconds);
			return VMCLI_REFUSED;
		}
		if (r)
			return link_error(v, r);
		if (vmid != RM_VMID_ALL && n.status.vmid != vmid) /* vmid is first in every notification */
			continue;
		print_notification(v, &n, false);
		if (count && ++seen == count)
			return VMCLI_OK;
		if (until >= 0 && n.msg_id == RM_ID_NOTIFY_VM_STATUS && n.status.vm_status == (unsigned)until)
			return VMCLI_OK;
	}
}

struct hcall_answer {
	uint32_t fid;
	uint64_t ret[4];
};

/* "FID=R0[,R1,R2,R3]": numbers in 0x hex or decimal; a register may be negative (-1 is all ones). */
static int parse_answer(const char *s, struct hcall_answer *a)
{
	unsigned long long fid;
	char fid_buf[24], *end;
	const char *eq = strchr(s, '='), *p;
	unsigned nr = 0;

	if (!eq || (size_t)(eq - s) >= sizeof(fid_buf))
		return -EINVAL;
	memcpy(fid_buf, s, (size_t)(eq - s));
	fid_buf[eq - s] = '\0';
	if (parse_number(fid_buf, UINT32_MAX, &fid))
		return -EINVAL;
	*a = (struct hcall_answer){ .fid = (uint32_t)fid };
	for (p = eq + 1;; p = end + 1) {
		bool negative = *p == '-';

		if (nr == 4 || !isdigit((unsigned char)p[negative]))
			return -EINVAL;
		errno = 0;
		a->ret[nr] = strtoull(p + negative, &end, 0);
		if (errno)
			return -EINVAL;
		if (negative)
			a->ret[nr] = -a->ret[nr];
		nr++;
		if (*end == '\0')
			return 0;
		if (*end != ',')
			return -EINVAL;
	}
}

static int cmd_hcall_serve(struct vmcli *v, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "answer", required_argument, NULL, 'a' },
		{ "count", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct hcall_answer answers[VMCLI_MAX_ANSWERS];
	unsigned nr_answers = 0;
	unsigned long long count = 0, served = 0;
	struct rm_notification n;
	uint16_t vmid;
	int c, status, r;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (nr_answers == VMCLI_MAX_ANSWERS)
				return usage_error(v, "at most %d --answer", VMCLI_MAX_ANSWERS);
			if (parse_answer(optarg, &answers[nr_answers]))
				return usage_error(v, "--answer '%s': expected FID=R0[,R1,R2,R3] (numbers, 0x for hex)",
						   optarg);
			nr_answers++;
			break;
		case 'n':
			if (parse_number(optarg, UINT32_MAX, &count) || !count)
				return usage_error(v, "--count '%s': expected a number from 1", optarg);
			break;
		default:
			return getopt_other(v, c, argv);
		}
	}
	status = the_vm_argument(v, argc, argv, &vmid);
	if (!status)
		status = watch_vm(v, vmid);
	if (status)
		return status;
	for (;;) {
		struct rm_hcall_reply_req reply = { .vmid = vmid };
		const struct hcall_answer *a = NULL;
		uint32_t err;

		r = rm_client_next_notification(v->rm, &n, -1);
		if (r)
			return link_error(v, r);
		if (n.msg_id != RM_ID_NOTIFY_VM_HCALL || n.hcall.vmid != vmid)
			continue;
		for (unsigned i = 0; i < nr_answers && !a; i++)
			if (answers[i].fid == n.hcall.fid)
				a = &answers[i];
		reply.token = n.hcall.token;
		if (a)
			memcpy(reply.ret, a->ret, sizeof(reply.ret));
		else
			reply.ret[0] = UINT64_MAX; /* NOT_SUPPORTED */
		status = call(v, RM_ID_VM_HCALL_REPLY, &reply, &err, NULL, NULL);
		if (status)
			return status;
		if (v->json) {
			json_t *args = json_array(), *ret = json_array();

			for (unsigned i = 0; args && i < rm_hcall_nargs(&n.hcall); i++)
				json_array_append_new(args, json_hex(n.hcall.args[i]));
			for (unsigned i = 0; ret && i < 4; i++)
				json_array_append_new(ret, json_hex(reply.ret[i]));
			print_json(json_pack("{s:s, s:i, s:i, s:I, s:I, s:o, s:o, s:b, s:s}", "event", "hcall", "vmid",
					     vmid, "vcpu", n.hcall.vcpu, "token", (json_int_t)n.hcall.token, "fid",
					     (json_int_t)n.hcall.fid, "args", args, "ret", ret, "answered", a != NULL,
					     "reply", rm_err_name(err)),
				   true);
		} else {
			printf("vm %u hcall 0x%08x vcpu %u token %u -> ", vmid, n.hcall.fid, n.hcall.vcpu,
			       n.hcall.token);
			if (a)
				printf("%#llx %#llx %#llx %#llx", (unsigned long long)reply.ret[0],
				       (unsigned long long)reply.ret[1], (unsigned long long)reply.ret[2],
				       (unsigned long long)reply.ret[3]);
			else
				printf("NOT_SUPPORTED");
			printf("%s%s%s\n", err ? " (reply refused: " : "", err ? rm_err_name(err) : "", err ? ")" : "");
			fflush(stdout);
		}
		if (count && ++served == count)
			return VMCLI_OK;
	}
}

static int cmd_help(struct vmcli *v, int argc, char **argv)
{
	(void)v;
	if (argc > 1 && (!strcmp(argv[1], "create") || !strcmp(argv[1], "config")))
		usage_create(stdout);
	else
		usage_vm(stdout);
	return VMCLI_OK;
}

int cmd_vm(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct {
		const char *name;
		int (*run)(struct vmcli *v, int argc, char **argv);
	} commands[] = {
		{ "create", cmd_create }, { "config", cmd_config },   { "start", cmd_start },
		{ "stop", cmd_stop },     { "pause", cmd_pause },     { "resume", cmd_resume },
		{ "reset", cmd_reset },   { "destroy", cmd_destroy }, { "list", cmd_list },
		{ "status", cmd_status }, { "version", cmd_version }, { "console", cmd_console },
		{ "watch", cmd_watch },   { "hcall-serve", cmd_hcall_serve }, { "help", cmd_help },
	};
	struct vmcli v = { .timeout_ms = RM_CLIENT_DEFAULT_TIMEOUT_MS };
	unsigned long long seconds;
	int c, status;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			v.socket = optarg;
			break;
		case 'j':
			v.json = true;
			break;
		case 't':
			if (parse_number(optarg, 86400, &seconds))
				return usage_error(&v, "--timeout '%s': expected seconds, 0 (none) to 86400", optarg);
			v.timeout_ms = seconds ? (int)seconds * 1000 : -1;
			break;
		default:
			return getopt_other(&v, c, argv);
		}
	}
	if (optind >= argc) {
		usage_vm(stderr);
		return VMCLI_USAGE;
	}
	v.cmd = argv[optind];
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(commands[i].name, v.cmd)) {
			status = commands[i].run(&v, argc - optind, argv + optind);
			rm_client_close(v.rm);
			return status;
		}
	}
	v.cmd = NULL;
	return usage_error(&v, "unknown command '%s'", argv[optind]);
}
