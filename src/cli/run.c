/*
 * `bothy run`: boot one VM in-process, wire its UART to the terminal, and
 * turn the way it stopped into an exit status.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "abi/doc.h"
#include "cli/cli.h"
#include "core/vm.h"
#include "hcall/hcall.h"
#include "core/gmem.h"
#include "core/log.h"

void cli_usage_run(FILE *out)
{
	fprintf(out,
		"usage: bothy run --kernel FILE [options]\n"
		"  -k, --kernel FILE        bzImage, vmlinux (PVH) or PVH ELF payload\n"
		"  -i, --initrd FILE        initial ramdisk\n"
		"  -c, --cmdline STRING     kernel command line (default: \"%s\")\n"
		"  -a, --append STRING      append to the command line\n"
		"  -p, --cpus N             vCPUs, 1..%d (default 1)\n"
		"  -m, --memory SIZE        guest RAM, e.g. 512M, 2G (default %lluM)\n"
		"      --shared-memory      back guest RAM with a memfd (shareable; slower boots\n"
		"                           where shmem huge pages are off)\n"
		"      --console stdio|none where the serial console goes (default stdio)\n"
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
	       OPT_HCALL_HANDLER, OPT_HCALL_TIMEOUT, OPT_HCALL_CPL, OPT_STATS };
	static const struct option longopts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "append", required_argument, NULL, 'a' },
		{ "cpus", required_argument, NULL, 'p' },
		{ "memory", required_argument, NULL, 'm' },
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
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmdline = VM_DEFAULT_CMDLINE, *append = NULL;
	unsigned cpus, timeout_ms;
	int c, n;

	memset(opts, 0, sizeof(*opts));
	vm_config_init(&opts->vm);
	opts->on_reboot = VM_REBOOT_EXIT;
	opts->hcall_timeout_ms = 1000;
	opts->vm.hcall_ranges = opts->hcall_ranges;
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
			} else {
				snprintf(err, errlen, "--console '%s': expected stdio or none", optarg);
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
	if (!opts->vm.kernel_path) {
		snprintf(err, errlen, "--kernel is required");
		return -EINVAL;
	}
	n = snprintf(opts->cmdline_buf, sizeof(opts->cmdline_buf), "%s%s%s", cmdline, append ? " " : "",
		     append ? append : "");
	if (n < 0 || (size_t)n >= sizeof(opts->cmdline_buf)) {
		snprintf(err, errlen, "command line longer than %zu bytes", sizeof(opts->cmdline_buf) - 1);
		return -EINVAL;
	}
	opts->vm.cmdline = opts->cmdline_buf;
	return 0;
}

/* --- the terminal: raw while a guest owns it, restored on every way out --- */

static struct termios saved_termios;
static volatile sig_atomic_t termios_saved;

static void terminal_restore(void)
{
	if (termios_saved) {
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
		termios_saved = 0;
	}
}

static void fatal_signal(int sig)
{
	terminal_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void terminal_raw(void)
{
	static const int fatal[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
	struct termios raw;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_termios) < 0)
		return;
	raw = saved_termios;
	/* Keys go to the guest as typed (Ctrl-C included); output is the guest's own. */
	raw.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	raw.c_lflag &= ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	raw.c_cflag |= CS8;
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	termios_saved = 1;
	atexit(terminal_restore);
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++) {
		struct sigaction sa = { .sa_handler = fatal_signal };

		sigemptyset(&sa.sa_mask);
		sigaction(fatal[i], &sa, NULL);
	}
	tcsetattr(STDIN_FILENO, TCSANOW, &raw);
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
	struct hcall_socket *handler = NULL;
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
		ret = hcall_socket_connect(opts.hcall_handler, opts.hcall_timeout_ms, &handler);
		if (ret) {
			fprintf(stderr, "bothy: cannot connect to the hypercall handler %s: %s\n", opts.hcall_handler,
				strerror(-ret));
			return CLI_ERROR;
		}
		owner = (struct hcall_owner){ hcall_socket_call, handler };
		opts.vm.hcall_owner = &owner;
	}

	for (;;) {
		struct vm *vm;
		const char *failed = NULL;

		ret = vm_create(&opts.vm, &vm, &failed);
		if (ret) {
			terminal_restore();
			fprintf(stderr, "bothy: cannot start the VM (%s): %s\n", failed ? failed : "?",
				strerror(-ret));
			hcall_socket_close(handler);
			return CLI_ERROR;
		}
		if (handler)
			hcall_socket_set_stop_fd(handler, vm->stop_eventfd);
		if (opts.vm.console == VM_CONSOLE_STDIO && !boots)
			terminal_raw();
		boots++;
		ret = vm_run(vm, &st);
		if (opts.stats) {
			terminal_restore();
			vm_print_stats(vm, stderr);
		}
		vm_destroy(vm);
		if (ret) {
			terminal_restore();
			fprintf(stderr, "bothy: VM failed: %s\n", strerror(-ret));
			hcall_socket_close(handler);
			return CLI_ERROR;
		}
		if (st.reason != VM_STOP_REBOOT || opts.on_reboot != VM_REBOOT_RESTART)
			break;
		log_info("guest rebooted: restarting (boot %d)", boots + 1);
	}
	hcall_socket_close(handler);
	terminal_restore();
	if (st.reason == VM_STOP_CRASH || st.reason == VM_STOP_VMM_ERROR)
		fprintf(stderr, "bothy: guest stopped: %s\n", st.detail);
	else if (st.reason == VM_STOP_SIGNAL || st.reason == VM_STOP_REBOOT)
		fprintf(stderr, "bothy: %s\n", st.detail);
	else
		log_info("%s", st.detail);
	return status_of(&st);
}
