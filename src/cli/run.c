/*
 * `bothy run`: boot one VM in-process, wire its UART to the terminal, and
 * turn the way it stopped into an exit status.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "abi/doc.h"
#include "cli/cli.h"
#include "cli/terminal.h"
#include "core/vm.h"
#include "hcall/hcall.h"
#include "core/gmem.h"
#include "core/log.h"
#include "rm/hcall_peer.h"
#include "rm/vmm_link.h"

void cli_usage_run(FILE *out)
{
	fprintf(out,
		"usage: bothy run --kernel FILE [options]\n"
		"  -k, --kernel FILE        bzImage, vmlinux (PVH) or PVH ELF payload\n"
		"  -i, --initrd FILE        initial ramdisk\n"
		"  -c, --cmdline STRING     kernel command line (default: \"%s\")\n"
		"                           (with virtio devices it has no pci=off; with\n"
		"                           --console virtio it says console=hvc0)\n"
		"  -a, --append STRING      append to the command line\n"
		"  -p, --cpus N             vCPUs, 1..%d (default 1)\n"
		"  -m, --memory SIZE        guest RAM, e.g. 512M, 2G (default %lluM)\n"
		"      --shared-memory      back guest RAM with a memfd (shareable; slower boots\n"
		"                           where shmem huge pages are off)\n"
		"      --console stdio|none|virtio  the guest console: the UART (ttyS0) on stdio,\n"
		"                           nowhere, or a virtio console (hvc0) on stdio\n"
		"      --disk path=FILE[,ro][,serial=S]  virtio disk from a raw image (repeatable)\n"
		"      --net tap=NAME[,mac=MAC]  virtio network on a tap device, opened or created\n"
		"                           (repeatable; needs CAP_NET_ADMIN to create)\n"
		"      --vsock cid=N,path=P virtio vsock; guest port X to host is Unix socket P_X,\n"
		"                           host to guest: connect to P and send \"CONNECT X\\n\"\n"
		"      --rng                virtio entropy device (host getrandom())\n"
		"      --on-reboot exit|restart  what a guest reboot does (default exit)\n"
		"      --debug-exit         port 0xf4: a guest write of V ends bothy with status V\n"
		"      --abi FILE           guest ABI template or manifest (docs/guest-abi.md);\n"
		"                           refused before start if this host cannot provide it\n"
		"      --hcall-filter FIRST-LAST=ACTION | BASE+COUNT=ACTION\n"
		"                           hypercalls in the range are handled, denied or forwarded\n"
		"                           (repeatable; docs/hypercalls.md)\n"
		"      --hcall-handler SOCKET  forwarded hypercalls go to this Unix socket\n"
		"      --hcall-timeout MS   how long a forwarded call may wait (default 1000)\n"
		"      --hcall-cpl kernel|any  who may make hypercalls (default kernel)\n"
		"      --stats              print exit and hypercall counters when the VM ends\n"
		"  -v, --verbose            more diagnostics (repeat for debug)\n"
		"Ctrl-A x ends the VM from the console.\n"
		"Exit status: 0 guest powered off (or rebooted with --on-reboot=exit), 1 VMM error,\n"
		"2 usage, 3 guest crashed, 128+N stopped by signal N, V from --debug-exit.\n",
		VM_DEFAULT_CMDLINE, VM_MAX_CPUS, (unsigned long long)(VM_DEFAULT_MEMORY >> 20));
}

/*
 * Hidden options of a VMM started by bothyd (docs/resource-manager.md): --rm-control FD is its link,
 * --console-fd FD the console's input and output. Not in struct run_options (cli.h): only
 * cmd_run reads it, right after cli_parse_run().
 */
static int rm_control_fd = -1;

/* Copies @len bytes of @s into the options' string buffer (lives as long as @opts). */
static const char *opts_str(struct run_options *opts, const char *s, size_t len)
{
	char *p;

	if (len + 1 > sizeof(opts->strbuf) - opts->strbuf_used)
		return NULL;
	p = opts->strbuf + opts->strbuf_used;
	memcpy(p, s, len);
	p[len] = '\0';
	opts->strbuf_used += len + 1;
	return p;
}

/*
 * Walks "key=value,flag,..." one item at a time: *key and *val (NULL for a
 * bare flag) point into @opts' buffer. Returns 1 per item, 0 at the end,
 * -ENOMEM when the buffer is full.
 */
static int next_kv(struct run_options *opts, const char **cursor, const char **key, const char **val)
{
	const char *item = *cursor, *comma, *eq;
	size_t len;

	if (!*item)
		return 0;
	comma = strchr(item, ',');
	len = comma ? (size_t)(comma - item) : strlen(item);
	*cursor = comma ? comma + 1 : item + len;
	eq = memchr(item, '=', len);
	*key = opts_str(opts, item, eq ? (size_t)(eq - item) : len);
	*val = eq ? opts_str(opts, eq + 1, len - (size_t)(eq - item) - 1) : NULL;
	return *key && (!eq || *val) ? 1 : -ENOMEM;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return (mac[0] & 1) ? -EINVAL : 0; /* a multicast address cannot be a NIC's */
}

static int parse_disk(struct run_options *opts, const char *arg, char *err, size_t errlen)
{
	struct vm_disk *d = &opts->disks[opts->vm.nr_disks];
	const char *key, *val;
	int r;

	if (opts->vm.nr_disks == VM_MAX_DISKS) {
		snprintf(err, errlen, "--disk: at most %d disks", VM_MAX_DISKS);
		return -EINVAL;
	}
	*d = (struct vm_disk){ 0 };
	while ((r = next_kv(opts, &arg, &key, &val)) > 0) {
		if (!strcmp(key, "path") && val && *val)
			d->path = val;
		else if (!strcmp(key, "ro") && !val)
			d->readonly = true;
		else if (!strcmp(key, "serial") && val && strlen(val) <= 20)
			d->serial = val;
		else {
			snprintf(err, errlen, "--disk: bad item '%s%s%s' (expected path=FILE, ro, serial=S of at "
				 "most 20 characters)", key, val ? "=" : "", val ? val : "");
			return -EINVAL;
		}
	}
	if (r < 0 || !d->path) {
		snprintf(err, errlen, r < 0 ? "--disk: arguments too long" : "--disk: path=FILE is required");
		return -EINVAL;
	}
	opts->vm.nr_disks++;
	return 0;
}

static int parse_net(struct run_options *opts, const char *arg, char *err, size_t errlen)
{
	struct vm_net *n = &opts->nets[opts->vm.nr_nets];
	const char *key, *val;
	int r;

	if (opts->vm.nr_nets == VM_MAX_NETS) {
		snprintf(err, errlen, "--net: at most %d interfaces", VM_MAX_NETS);
		return -EINVAL;
	}
	*n = (struct vm_net){ 0 };
	while ((r = next_kv(opts, &arg, &key, &val)) > 0) {
		if (!strcmp(key, "tap") && val && *val && strlen(val) < 16) {
			n->tap = val;
		} else if (!strcmp(key, "mac") && val) {
			if (parse_mac(val, n->mac)) {
				snprintf(err, errlen, "--net: mac '%s': expected a unicast address like 02:00:00:00:00:01",
					 val);
				return -EINVAL;
			}
			n->has_mac = true;
		} else {
			snprintf(err, errlen, "--net: bad item '%s%s%s' (expected tap=NAME of at most 15 characters, "
				 "mac=MAC)", key, val ? "=" : "", val ? val : "");
			return -EINVAL;
		}
	}
	if (r < 0 || !n->tap) {
		snprintf(err, errlen, r < 0 ? "--net: arguments too long" : "--net: tap=NAME is required");
		return -EINVAL;
	}
	for (unsigned i = 0; i < opts->vm.nr_nets; i++) {
		if (!strcmp(opts->nets[i].tap, n->tap)) {
			snprintf(err, errlen, "--net: tap '%s' given twice", n->tap);
			return -EINVAL;
		}
	}
	opts->vm.nr_nets++;
	return 0;
}

static int parse_vsock(struct run_options *opts, const char *arg, char *err, size_t errlen)
{
	const char *key, *val;
	unsigned long long cid = 0;
	char *end;
	int r;

	if (opts->vm.vsock_cid) {
		snprintf(err, errlen, "--vsock: only one vsock device per VM");
		return -EINVAL;
	}
	while ((r = next_kv(opts, &arg, &key, &val)) > 0) {
		if (!strcmp(key, "cid") && val && *val) {
			errno = 0;
			cid = strtoull(val, &end, 0);
			/* 0-2 are the hypervisor, local and host CIDs; 2^32-1 is VMADDR_CID_ANY. */
			if (errno || *end || *val == '-' || cid < 3 || cid >= 0xffffffffull) {
				snprintf(err, errlen, "--vsock: cid '%s': expected a number from 3 to 4294967294", val);
				return -EINVAL;
			}
		} else if (!strcmp(key, "path") && val && *val) {
			opts->vm.vsock_path = val;
		} else {
			snprintf(err, errlen, "--vsock: bad item '%s%s%s' (expected cid=N, path=P)", key,
				 val ? "=" : "", val ? val : "");
			return -EINVAL;
		}
	}
	if (r < 0 || !cid || !opts->vm.vsock_path) {
		snprintf(err, errlen, r < 0 ? "--vsock: arguments too long" : "--vsock: cid=N and path=P are required");
		return -EINVAL;
	}
	opts->vm.vsock_cid = (uint32_t)cid;
	return 0;
}

static int parse_uint(const char *s, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

int cli_parse_run(int argc, char **argv, struct run_options *opts, char *err, size_t errlen)
{
	enum { OPT_CONSOLE = 256, OPT_ON_REBOOT, OPT_DEBUG_EXIT, OPT_SHARED_MEMORY, OPT_ABI, OPT_HCALL_FILTER,
	       OPT_HCALL_HANDLER, OPT_HCALL_TIMEOUT, OPT_HCALL_CPL, OPT_STATS, OPT_DISK, OPT_NET, OPT_VSOCK,
	       OPT_RNG, OPT_RM_CONTROL, OPT_CONSOLE_FD };
	static const struct option longopts[] = {
		CLI_GUEST_LONGOPTS,
		{ "console", required_argument, NULL, OPT_CONSOLE },
		{ "on-reboot", required_argument, NULL, OPT_ON_REBOOT },
		{ "debug-exit", no_argument, NULL, OPT_DEBUG_EXIT },
		{ "shared-memory", no_argument, NULL, OPT_SHARED_MEMORY },
		{ "abi", required_argument, NULL, OPT_ABI },
		{ "hcall-filter", required_argument, NULL, OPT_HCALL_FILTER },
		{ "hcall-handler", required_argument, NULL, OPT_HCALL_HANDLER },
		{ "hcall-timeout", required_argument, NULL, OPT_HCALL_TIMEOUT },
		{ "hcall-cpl", required_argument, NULL, OPT_HCALL_CPL },
		{ "stats", no_argument, NULL, OPT_STATS },
		{ "disk", required_argument, NULL, OPT_DISK },
		{ "net", required_argument, NULL, OPT_NET },
		{ "vsock", required_argument, NULL, OPT_VSOCK },
		{ "rng", no_argument, NULL, OPT_RNG },
		{ "rm-control", required_argument, NULL, OPT_RM_CONTROL },
		{ "console-fd", required_argument, NULL, OPT_CONSOLE_FD },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmdline = NULL, *append = NULL;
	unsigned cpus, timeout_ms, fd;
	int c, n;

	memset(opts, 0, sizeof(*opts));
	vm_config_init(&opts->vm);
	opts->on_reboot = VM_REBOOT_EXIT;
	opts->hcall_timeout_ms = 1000;
	opts->vm.hcall_ranges = opts->hcall_ranges;
	opts->vm.disks = opts->disks;
	opts->vm.nets = opts->nets;
	rm_control_fd = -1;
	optind = 0; /* reset getopt: tests parse many times */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":k:i:c:a:p:m:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'k':
			opts->vm.kernel_path = optarg;
			break;
		case 'i':
			opts->vm.initrd_path = optarg;
			break;
		case 'c':
			cmdline = optarg;
			break;
		case 'a':
			append = optarg;
			break;
		case 'p':
			if (parse_uint(optarg, VM_MAX_CPUS, &cpus) || cpus == 0) {
				snprintf(err, errlen, "--cpus '%s': expected a number from 1 to %d", optarg,
					 VM_MAX_CPUS);
				return -EINVAL;
			}
			opts->vm.ncpus = cpus;
			break;
		case 'm':
			if (gmem_parse_size(optarg, &opts->vm.mem_size)) {
				snprintf(err, errlen, "--memory '%s': expected a size such as 512M or 2G", optarg);
				return -EINVAL;
			}
			if (opts->vm.mem_size < GMEM_MIN_SIZE || opts->vm.mem_size > GMEM_MAX_SIZE ||
			    opts->vm.mem_size & 0xfff) {
				snprintf(err, errlen,
					 "--memory '%s': must be a multiple of 4K between %lluM and %lluG",
					 optarg, GMEM_MIN_SIZE >> 20, GMEM_MAX_SIZE >> 30);
				return -EINVAL;
			}
			break;
		case OPT_CONSOLE:
			if (!strcmp(optarg, "stdio")) {
				opts->vm.console = VM_CONSOLE_STDIO;
			} else if (!strcmp(optarg, "none")) {
				opts->vm.console = VM_CONSOLE_NONE;
			} else if (!strcmp(optarg, "virtio")) {
				opts->vm.console = VM_CONSOLE_VIRTIO;
			} else {
				snprintf(err, errlen, "--console '%s': expected stdio, none or virtio", optarg);
				return -EINVAL;
			}
			break;
		case OPT_ON_REBOOT:
			if (!strcmp(optarg, "exit")) {
				opts->on_reboot = VM_REBOOT_EXIT;
			} else if (!strcmp(optarg, "restart")) {
				opts->on_reboot = VM_REBOOT_RESTART;
			} else {
				snprintf(err, errlen, "--on-reboot '%s': expected exit or restart", optarg);
				return -EINVAL;
			}
			break;
		case OPT_DEBUG_EXIT:
			opts->vm.debug_exit = true;
			break;
		case OPT_SHARED_MEMORY:
			opts->vm.mem_shared = true;
			break;
		case OPT_ABI:
			opts->abi_path = optarg;
			break;
		case OPT_HCALL_FILTER: {
			struct hcall_range *r = &opts->hcall_ranges[opts->vm.nr_hcall_ranges];
			uint32_t base, count;
			enum hcall_action action;

			if (opts->vm.nr_hcall_ranges == HCALL_MAX_RANGES) {
				snprintf(err, errlen, "--hcall-filter: at most %d ranges", HCALL_MAX_RANGES);
				return -EINVAL;
			}
			if (hcall_filter_parse(optarg, &base, &count, &action)) {
				snprintf(err, errlen,
					 "--hcall-filter '%s': expected FIRST-LAST=ACTION or BASE+COUNT=ACTION "
					 "(ACTION: handle, deny, forward)", optarg);
				return -EINVAL;
			}
			*r = (struct hcall_range){ base, count, action };
			opts->vm.nr_hcall_ranges++;
			break;
		}
		case OPT_HCALL_HANDLER:
			opts->hcall_handler = optarg;
			break;
		case OPT_HCALL_TIMEOUT:
			if (parse_uint(optarg, 600000, &timeout_ms) || !timeout_ms) {
				snprintf(err, errlen, "--hcall-timeout '%s': expected milliseconds, 1 to 600000", optarg);
				return -EINVAL;
			}
			opts->hcall_timeout_ms = (int)timeout_ms;
			break;
		case OPT_HCALL_CPL:
			if (strcmp(optarg, "kernel") && strcmp(optarg, "any")) {
				snprintf(err, errlen, "--hcall-cpl '%s': expected kernel or any", optarg);
				return -EINVAL;
			}
			opts->vm.hcall_user = !strcmp(optarg, "any");
			break;
		case OPT_STATS:
			opts->stats = true;
			break;
		case OPT_DISK:
			if (parse_disk(opts, optarg, err, errlen))
				return -EINVAL;
			break;
		case OPT_NET:
			if (parse_net(opts, optarg, err, errlen))
				return -EINVAL;
			break;
		case OPT_VSOCK:
			if (parse_vsock(opts, optarg, err, errlen))
				return -EINVAL;
			break;
		case OPT_RNG:
			opts->vm.rng = true;
			break;
		case OPT_RM_CONTROL:
		case OPT_CONSOLE_FD:
			if (parse_uint(optarg, 1024, &fd) || fd < 3) {
				snprintf(err, errlen, "%s '%s': expected an inherited fd", argv[optind - 1], optarg);
				return -EINVAL;
			}
			if (c == OPT_RM_CONTROL)
				rm_control_fd = (int)fd;
			else
				opts->vm.console_in_fd = opts->vm.console_out_fd = (int)fd;
			break;
		case 'v':
			opts->verbose++;
			break;
		case 'h':
			opts->help = 1;
			return 0;
		case ':':
			snprintf(err, errlen, "option '%s' needs a value", argv[optind - 1]);
			return -EINVAL;
		default:
			snprintf(err, errlen, "unknown option '%s'", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	if (rm_control_fd >= 0 && opts->hcall_handler) {
		snprintf(err, errlen, "--hcall-handler: under bothyd the VM's owner answers hypercalls");
		return -EINVAL;
	}
	if (!opts->vm.kernel_path) {
		snprintf(err, errlen, "--kernel is required");
		return -EINVAL;
	}
	if (!cmdline)
		cmdline = vm_default_cmdline(&opts->vm);
	n = snprintf(opts->cmdline_buf, sizeof(opts->cmdline_buf), "%s%s%s", cmdline, append ? " " : "",
		     append ? append : "");
	if (n < 0 || (size_t)n >= sizeof(opts->cmdline_buf)) {
		snprintf(err, errlen, "command line longer than %zu bytes", sizeof(opts->cmdline_buf) - 1);
		return -EINVAL;
	}
	opts->vm.cmdline = opts->cmdline_buf;
	return 0;
}

static int status_of(const struct vm_stop_status *st)
{
	switch (st->reason) {
	case VM_STOP_POWEROFF:
	case VM_STOP_REBOOT:
		return CLI_OK;
	case VM_STOP_DEBUG_EXIT:
		return st->code;
	case VM_STOP_SIGNAL:
		return st->code ? CLI_SIGNAL_BASE + st->code : CLI_OK;
	case VM_STOP_CRASH:
		return CLI_GUEST_CRASH;
	case VM_STOP_NONE:
	case VM_STOP_VMM_ERROR:
		break;
	}
	return CLI_ERROR;
}

int cmd_run(int argc, char **argv)
{
	struct run_options opts;
	struct vm_stop_status st = { 0 };
	struct hcall_peer *handler = NULL, *peer = NULL;
	struct vmm_link *link = NULL;
	struct hcall_owner owner;
	char err[256];
	int ret, boots = 0;

	if (cli_parse_run(argc, argv, &opts, err, sizeof(err))) {
		fprintf(stderr, "bothy run: %s\n(try `bothy help run`)\n", err);
		return CLI_USAGE;
	}
	if (opts.help) {
		cli_usage_run(stdout);
		return CLI_OK;
	}
	log_set_level(opts.verbose >= 2 ? LOG_DEBUG : opts.verbose ? LOG_INFO : LOG_WARN);
	if (opts.abi_path) {
		static struct abi_doc abi;

		if (cli_load_abi_doc(opts.abi_path, &abi, err, sizeof(err))) {
			fprintf(stderr, "bothy run: --abi %s\n", err);
			return CLI_USAGE;
		}
		opts.vm.abi = &abi;
	}

	if (opts.hcall_handler) {
		ret = hcall_peer_connect(opts.hcall_handler, opts.hcall_timeout_ms, &handler);
		if (ret) {
			fprintf(stderr, "bothy: cannot connect to the hypercall handler %s: %s\n", opts.hcall_handler,
				strerror(-ret));
			return CLI_ERROR;
		}
		peer = handler;
	}

	/* Under bothyd: one boot, the console on a socket, hypercalls and status over the link. */
	if (rm_control_fd >= 0) {
		ret = vmm_link_open(rm_control_fd, opts.hcall_timeout_ms, &link);
		if (ret) {
			fprintf(stderr, "bothy: --rm-control: %s\n", strerror(-ret));
			return CLI_ERROR;
		}
		peer = vmm_link_hcall_peer(link);
		opts.on_reboot = VM_REBOOT_EXIT;
	}
	/* Either way the VM owner is a peer on an RM link: VMM_HCALL out, VMM_HCALL_RET back. */
	if (peer) {
		owner = (struct hcall_owner){ hcall_peer_call, peer };
		opts.vm.hcall_owner = &owner;
	}

	for (;;) {
		struct vm *vm;
		const char *failed = NULL;

		ret = vm_create(&opts.vm, &vm, &failed);
		if (ret) {
			cli_terminal_restore();
			snprintf(err, sizeof(err), "cannot start the VM (%s): %s", failed ? failed : "?", strerror(-ret));
			fprintf(stderr, "bothy: %s\n", err);
			if (link)
				vmm_link_failed(link, err);
			vmm_link_close(link);
			hcall_peer_close(handler);
			return CLI_ERROR;
		}
		if (peer)
			hcall_peer_set_stop_fd(peer, vm->stop_eventfd);
		if (link) {
			ret = vmm_link_ready(link, vm->nr_vcpus);
			ret = ret ? ret : vmm_link_wait_start(link, vm);
			if (ret) {
				/* bothyd went away (or reset the VM) before the start: nothing to report. */
				vm_destroy(vm);
				vmm_link_close(link);
				return ret > 0 ? CLI_OK : CLI_ERROR;
			}
		} else if (opts.vm.console != VM_CONSOLE_NONE && !boots) {
			cli_terminal_raw(false);
		}
		boots++;
		ret = vm_run(vm, &st);
		if (opts.stats) {
			cli_terminal_restore();
			vm_print_stats(vm, stderr);
		}
		vm_destroy(vm);
		if (ret) {
			cli_terminal_restore();
			fprintf(stderr, "bothy: VM failed: %s\n", strerror(-ret));
			if (link) {
				st = (struct vm_stop_status){ .reason = VM_STOP_VMM_ERROR };
				snprintf(st.detail, sizeof(st.detail), "VM failed: %s", strerror(-ret));
				vmm_link_exited(link, &st);
			}
			vmm_link_close(link);
			hcall_peer_close(handler);
			return CLI_ERROR;
		}
		if (st.reason != VM_STOP_REBOOT || opts.on_reboot != VM_REBOOT_RESTART)
			break;
		log_info("guest rebooted: restarting (boot %d)", boots + 1);
	}
	hcall_peer_close(handler);
	if (link)
		vmm_link_exited(link, &st);
	vmm_link_close(link);
	cli_terminal_restore();
	if (st.reason == VM_STOP_CRASH || st.reason == VM_STOP_VMM_ERROR)
		fprintf(stderr, "bothy: guest stopped: %s\n", st.detail);
	else if (st.reason == VM_STOP_SIGNAL || st.reason == VM_STOP_REBOOT)
		fprintf(stderr, "bothy: %s\n", st.detail);
	else
		log_info("%s", st.detail);
	return status_of(&st);
}
