/* The 16550 UART as Linux's 8250 driver drives it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <string.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/vm.h"
#include "devices/serial.h"
#include "hv/fake.h"

static struct vm fake_vm;

static uint8_t rd(struct serial *s, unsigned reg)
{
	uint8_t v;

	serial_bus_ops.read(s, reg, &v, 1);
	return v;
}

static void wr(struct serial *s, unsigned reg, uint8_t v)
{
	serial_bus_ops.write(s, reg, &v, 1);
}

static int setup(void **state)
{
	fake_hv_reset();
	memset(&fake_vm, 0, sizeof(fake_vm));
	fake_vm.hv_ops = &hv_fake_ops;
	assert_int_equal(hv_fake_ops.vm_create(NULL, &fake_vm.hv_vm), 0);
	*state = NULL;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	hv_fake_ops.vm_destroy(fake_vm.hv_vm);
	return 0;
}

static void test_output_reaches_fd(void **state)
{
	struct serial *s;
	int p[2];
	char buf[8] = { 0 };

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(serial_create(&fake_vm, 4, p[1], &s), 0);
	assert_true(rd(s, 5) & 0x20); /* THRE: ready to send */
	wr(s, 0, 'h');
	wr(s, 0, 'i');
	assert_int_equal(read(p[0], buf, sizeof(buf)), 2);
	assert_string_equal(buf, "hi");
	serial_destroy(s);
	close(p[0]);
	close(p[1]);
}

static bool timer_armed(int tfd)
{
	struct itimerspec its;

	assert_int_equal(timerfd_gettime(tfd, &its), 0);
	return its.it_value.tv_sec || its.it_value.tv_nsec;
}

/* With a flush timer the UART writes whole lines; a partial line waits for the timer and serial_flush(). */
static void test_output_buffered_by_line(void **state)
{
	struct serial *s;
	int p[2], tfd;
	char buf[512];
	uint64_t n;
	struct pollfd pfd;

	(void)state;
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	assert_true(tfd >= 0);
	assert_int_equal(serial_create(&fake_vm, 4, p[1], &s), 0);
	serial_set_flush_timer(s, tfd);

	wr(s, 0, 'o');
	wr(s, 0, 'k');
	assert_int_equal(read(p[0], buf, sizeof(buf)), -1); /* held back */
	assert_true(timer_armed(tfd));
	assert_true(rd(s, 5) & 0x20); /* the guest still sees THRE at once */
	wr(s, 0, '\n');
	assert_int_equal(read(p[0], buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "ok\n", 3);
	assert_false(timer_armed(tfd)); /* a whole line needs no timer */

	/* A prompt: the timer expires within milliseconds, and the caller flushes. */
	wr(s, 0, '$');
	pfd = (struct pollfd){ .fd = tfd, .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 1000), 1);
	assert_int_equal(read(tfd, &n, sizeof(n)), sizeof(n));
	serial_flush(s);
	assert_int_equal(read(p[0], buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], '$');
	assert_false(timer_armed(tfd));

	/* A long line without a newline goes out in buffer-sized pieces. */
	for (int i = 0; i < 300; i++)
		wr(s, 0, 'x');
	assert_int_equal(read(p[0], buf, sizeof(buf)), 256);
	/* Dropping the timer writes what is left and goes back to byte by byte. */
	serial_set_flush_timer(s, -1);
	assert_int_equal(read(p[0], buf, sizeof(buf)), 44);
	wr(s, 0, 'y');
	assert_int_equal(read(p[0], buf, sizeof(buf)), 1);

	/* What is pending when the UART goes away is written, not lost. */
	serial_set_flush_timer(s, tfd);
	wr(s, 0, 'z');
	serial_destroy(s);
	assert_int_equal(read(p[0], buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'z');
	close(tfd);
	close(p[0]);
	close(p[1]);
}

static void test_loopback_probe(void **state)
{
	struct serial *s;

	(void)state;
	assert_int_equal(serial_create(&fake_vm, 4, -1, &s), 0);
	/* 8250 autoconfig: loopback with OUT2|RTS must read back DCD|CTS */
	wr(s, 4, 0x10 | 0x0a);
	assert_int_equal(rd(s, 6) & 0xf0, 0x90);
	/* in loopback, transmitted bytes come back as received data */
	wr(s, 0, 'z');
	assert_true(rd(s, 5) & 0x01);
	assert_int_equal(rd(s, 0), 'z');
	assert_false(rd(s, 5) & 0x01);
	/* scratch register and divisor latch */
	wr(s, 7, 0xa5);
	assert_int_equal(rd(s, 7), 0xa5);
	wr(s, 3, 0x80);
	wr(s, 0, 0x01);
	wr(s, 1, 0x00);
	assert_int_equal(rd(s, 0), 0x01);
	wr(s, 3, 0x03);
	/* FIFOs enabled show in IIR bits 7:6 (a 16550A) */
	wr(s, 2, 0x07);
	assert_int_equal(rd(s, 2) & 0xc0, 0xc0);
	serial_destroy(s);
}

static void test_interrupts(void **state)
{
	struct serial *s;
	const uint8_t in[] = "ab";

	(void)state;
	assert_int_equal(serial_create(&fake_vm, 4, -1, &s), 0);
	/* enabling THRE interrupts with an empty THR raises the line */
	wr(s, 1, 0x02);
	assert_int_equal(fake_state.irq_level[4], 1);
	assert_int_equal(rd(s, 2) & 0x0f, 0x02);
	/* reading IIR acknowledged it */
	assert_int_equal(fake_state.irq_level[4], 0);
	assert_int_equal(rd(s, 2) & 0x0f, 0x01);
	/* each transmitted byte raises THRE again: a new edge */
	wr(s, 0, 'x');
	assert_int_equal(fake_state.irq_level[4], 1);
	assert_int_equal(fake_state.irq_edges[4], 2);
	rd(s, 2);

	/* received data: RDI has priority, line stays up until drained */
	wr(s, 1, 0x01);
	assert_int_equal(serial_receive(s, in, 2), 2);
	assert_int_equal(fake_state.irq_level[4], 1);
	assert_int_equal(rd(s, 2) & 0x0f, 0x04);
	assert_int_equal(rd(s, 0), 'a');
	assert_int_equal(fake_state.irq_level[4], 1);
	assert_int_equal(rd(s, 0), 'b');
	assert_int_equal(fake_state.irq_level[4], 0);
	/* reading an empty RBR is harmless */
	assert_int_equal(rd(s, 0), 0);
	serial_destroy(s);
}

static void test_rx_overflow_and_bad_access(void **state)
{
	struct serial *s;
	static uint8_t big[5000];
	uint32_t wide = 0;

	(void)state;
	assert_int_equal(serial_create(&fake_vm, 4, -1, &s), 0);
	size_t room = serial_rx_room(s);
	assert_true(room > 16);
	assert_int_equal(serial_receive(s, big, sizeof(big)), room);
	assert_int_equal(serial_rx_room(s), 0);
	assert_int_equal(serial_receive(s, big, 1), 0);
	/* a 4-byte read at the last register does not run past the device */
	serial_bus_ops.read(s, 7, &wide, 4);
	assert_int_equal(wide >> 8, 0xffffff);
	serial_destroy(s);
	serial_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_output_reaches_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_buffered_by_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loopback_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_overflow_and_bad_access, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
