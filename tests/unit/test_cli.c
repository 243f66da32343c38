/* `bothy run` argument parsing: what users type, and what they get wrong. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "cli/cli.h"

static struct run_options opts;
static char err[256];

#define PARSE(...)                                                                \
	({                                                                        \
		char *argv_[] = { "run", __VA_ARGS__, NULL };                     \
		err[0] = '\0';                                                    \
		cli_parse_run((int)(sizeof(argv_) / sizeof(argv_[0])) - 1, argv_, \
			      &opts, err, sizeof(err));                           \
	})

static void test_defaults(void **state)
{
	(void)state;
	assert_int_equal(PARSE("--kernel", "vmlinuz"), 0);
	assert_string_equal(opts.vm.kernel_path, "vmlinuz");
	assert_null(opts.vm.initrd_path);
	assert_int_equal(opts.vm.ncpus, 1);
	assert_int_equal(opts.vm.mem_size, VM_DEFAULT_MEMORY);
	assert_int_equal(opts.vm.console, VM_CONSOLE_STDIO);
	assert_int_equal(opts.on_reboot, VM_REBOOT_EXIT);
	assert_false(opts.vm.debug_exit);
	assert_false(opts.vm.mem_shared);
	assert_string_equal(opts.vm.cmdline, VM_DEFAULT_CMDLINE);
}

static void test_all_options(void **state)
{
	(void)state;
	assert_int_equal(PARSE("-k", "bz", "-i", "rd", "--cmdline", "console=ttyS0", "--append", "-- true",
			       "--cpus", "4", "--memory", "2G", "--console", "none", "--on-reboot", "restart",
			       "--debug-exit", "--shared-memory", "-v", "-v"),
			 0);
	assert_string_equal(opts.vm.initrd_path, "rd");
	assert_string_equal(opts.vm.cmdline, "console=ttyS0 -- true");
	assert_int_equal(opts.vm.ncpus, 4);
	assert_int_equal(opts.vm.mem_size, 2ULL << 30);
	assert_int_equal(opts.vm.console, VM_CONSOLE_NONE);
	assert_int_equal(opts.on_reboot, VM_REBOOT_RESTART);
	assert_true(opts.vm.debug_exit);
	assert_true(opts.vm.mem_shared);
	assert_int_equal(opts.verbose, 2);
	/* --append alone extends the default command line */
	assert_int_equal(PARSE("-k", "bz", "-a", "quiet"), 0);
	assert_string_equal(opts.vm.cmdline, VM_DEFAULT_CMDLINE " quiet");
}

static void test_errors_name_the_problem(void **state)
{
	static char longarg[5000];

	(void)state;
	assert_int_equal(PARSE("--cpus", "2"), -EINVAL);
	assert_non_null(strstr(err, "--kernel"));
	assert_int_equal(PARSE("-k", "x", "--cpus", "0"), -EINVAL);
	assert_non_null(strstr(err, "--cpus"));
	assert_int_equal(PARSE("-k", "x", "--cpus", "65"), -EINVAL);
	assert_int_equal(PARSE("-k", "x", "--cpus", "two"), -EINVAL);
	assert_int_equal(PARSE("-k", "x", "--cpus", "-1"), -EINVAL);
	assert_int_equal(PARSE("-k", "x", "--memory", "1K"), -EINVAL);
	assert_non_null(strstr(err, "--memory"));
	assert_int_equal(PARSE("-k", "x", "--memory", "lots"), -EINVAL);
	assert_int_equal(PARSE("-k", "x", "--memory", "5000G"), -EINVAL);
	assert_int_equal(PARSE("-k", "x", "--memory", "16777217"), -EINVAL); /* not 4K-aligned */
	assert_int_equal(PARSE("-k", "x", "--console", "serial"), -EINVAL);
	assert_non_null(strstr(err, "stdio, none or virtio"));
	assert_int_equal(PARSE("-k", "x", "--on-reboot", "maybe"), -EINVAL);
	assert_int_equal(PARSE("-k", "x", "--frobnicate"), -EINVAL);
	assert_non_null(strstr(err, "--frobnicate"));
	assert_int_equal(PARSE("-k"), -EINVAL);
	assert_non_null(strstr(err, "needs a value"));
	assert_int_equal(PARSE("-k", "x", "stray"), -EINVAL);
	assert_non_null(strstr(err, "stray"));
	memset(longarg, 'a', sizeof(longarg) - 1);
	assert_int_equal(PARSE("-k", "x", "--cmdline", longarg), -EINVAL);
	assert_non_null(strstr(err, "command line"));
}

static void test_device_options(void **state)
{
	(void)state;
	/* No devices: pci=off stays in the default command line; any device drops it. */
	assert_int_equal(PARSE("-k", "x"), 0);
	assert_non_null(strstr(opts.vm.cmdline, "pci=off"));
	assert_int_equal(PARSE("-k", "x", "--disk", "path=/img/a,ro,serial=abc", "--disk", "path=b",
			       "--net", "tap=bt0,mac=02:00:00:00:00:0a", "--vsock", "cid=7,path=/tmp/v", "--rng"), 0);
	assert_null(strstr(opts.vm.cmdline, "pci=off"));
	assert_int_equal(opts.vm.nr_disks, 2);
	assert_string_equal(opts.vm.disks[0].path, "/img/a");
	assert_true(opts.vm.disks[0].readonly);
	assert_string_equal(opts.vm.disks[0].serial, "abc");
	assert_false(opts.vm.disks[1].readonly);
	assert_null(opts.vm.disks[1].serial);
	assert_int_equal(opts.vm.nr_nets, 1);
	assert_string_equal(opts.vm.nets[0].tap, "bt0");
	assert_true(opts.vm.nets[0].has_mac);
	assert_int_equal(opts.vm.nets[0].mac[5], 0x0a);
	assert_int_equal(opts.vm.vsock_cid, 7);
	assert_string_equal(opts.vm.vsock_path, "/tmp/v");
	assert_true(opts.vm.rng);
	/* A virtio console moves the default console to hvc0. */
	assert_int_equal(PARSE("-k", "x", "--console", "virtio"), 0);
	assert_int_equal(opts.vm.console, VM_CONSOLE_VIRTIO);
	assert_non_null(strstr(opts.vm.cmdline, "console=hvc0"));

	assert_int_equal(PARSE("-k", "x", "--disk", "ro"), -EINVAL);
	assert_non_null(strstr(err, "path=FILE is required"));
	assert_int_equal(PARSE("-k", "x", "--disk", "path=a,size=1G"), -EINVAL);
	assert_non_null(strstr(err, "size=1G"));
	assert_int_equal(PARSE("-k", "x", "--disk", "path=a,serial=123456789012345678901"), -EINVAL);
	assert_int_equal(PARSE("-k", "x", "--net", "tap=bt0,mac=01:00:00:00:00:01"), -EINVAL);
	assert_non_null(strstr(err, "unicast"));
	assert_int_equal(PARSE("-k", "x", "--net", "tap=bt0,mac=02:00:00:00:00"), -EINVAL);
	assert_int_equal(PARSE("-k", "x", "--net", "tap=a23456789012345678"), -EINVAL);
	assert_int_equal(PARSE("-k", "x", "--net", "tap=t", "--net", "tap=t"), -EINVAL);
	assert_non_null(strstr(err, "twice"));
	assert_int_equal(PARSE("-k", "x", "--vsock", "cid=2,path=/tmp/v"), -EINVAL);
	assert_int_equal(PARSE("-k", "x", "--vsock", "cid=4294967295,path=/tmp/v"), -EINVAL);
	assert_int_equal(PARSE("-k", "x", "--vsock", "cid=-3,path=/tmp/v"), -EINVAL);
	assert_int_equal(PARSE("-k", "x", "--vsock", "cid=3"), -EINVAL);
	assert_non_null(strstr(err, "path=P"));
	assert_int_equal(PARSE("-k", "x", "--vsock", "cid=3,path=a", "--vsock", "cid=4,path=b"), -EINVAL);
	assert_non_null(strstr(err, "only one"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_all_options),
		cmocka_unit_test(test_errors_name_the_problem),
		cmocka_unit_test(test_device_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
