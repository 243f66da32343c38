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
	assert_non_null(strstr(err, "stdio or none"));
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_all_options),
		cmocka_unit_test(test_errors_name_the_problem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
