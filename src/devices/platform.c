#include "devices/platform.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/vm.h"

static void read_zero(void *opaque, uint64_t offset, void *data, unsigned size)
{
	(void)opaque;
	(void)offset;
	memset(data, 0, size);
}

static void write_nothing(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	(void)opaque;
	(void)offset;
	(void)data;
	(void)size;
}

const struct bus_device_ops sink_bus_ops = { .read = read_zero, .write = write_nothing };

/* --- i8042 command port: only the reset line; status reads say "no data, ready" */

static void i8042_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	(void)offset;
	(void)size;
	if (*(const uint8_t *)data == I8042_CMD_RESET)
		vm_request_stop(opaque, VM_STOP_REBOOT, 0, "guest reset (keyboard controller)");
}

const struct bus_device_ops i8042_bus_ops = { .read = read_zero, .write = i8042_write };

/* --- HW-reduced ACPI sleep control / status / reset registers ---------- */

static void acpi_power_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	uint8_t v = *(const uint8_t *)data;

	(void)size;
	if (offset == 0 && (v & ACPI_POWER_SLP_EN) &&
	    ((v & ACPI_POWER_SLP_TYP_MASK) >> ACPI_POWER_SLP_TYP_SHIFT) == ACPI_POWER_S5_TYPE)
		vm_request_stop(opaque, VM_STOP_POWEROFF, 0, "guest powered off (ACPI S5)");
	else if (offset == 2 && v == ACPI_POWER_RESET_VALUE)
		vm_request_stop(opaque, VM_STOP_REBOOT, 0, "guest reset (ACPI reset register)");
	/* Other sleep states are not offered (_S1.._S4 are absent): ignore. */
}

const struct bus_device_ops acpi_power_bus_ops = { .read = read_zero, .write = acpi_power_write };

/* --- reset control register (port 0xcf9 on PC chipsets) ---------------- */

static void reset_control_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	(void)offset;
	(void)size;
	if (*(const uint8_t *)data & RESET_CONTROL_RST_CPU)
		vm_request_stop(opaque, VM_STOP_REBOOT, 0, "guest reset (reset control register 0xcf9)");
}

const struct bus_device_ops reset_control_bus_ops = { .read = read_zero, .write = reset_control_write };

/* --- test exit port ------------------------------------------------------ */

static void debug_exit_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	uint32_t v = 0;
	char detail[48];

	(void)offset;
	memcpy(&v, data, size < sizeof(v) ? size : sizeof(v));
	snprintf(detail, sizeof(detail), "guest wrote %u to the debug-exit port", v);
	vm_request_stop(opaque, VM_STOP_DEBUG_EXIT, (int)(v & 0xff), detail);
}

const struct bus_device_ops debug_exit_bus_ops = { .read = read_zero, .write = debug_exit_write };

/* --- MC146818 CMOS RTC: wall-clock time in BCD, 24-hour mode ------------- */

#define CMOS_NR_REGS 128
enum { RTC_SEC = 0x00, RTC_MIN = 0x02, RTC_HOUR = 0x04, RTC_WDAY = 0x06, RTC_MDAY = 0x07,
       RTC_MON = 0x08, RTC_YEAR = 0x09, RTC_REG_A = 0x0a, RTC_REG_B = 0x0b, RTC_REG_C = 0x0c,
       RTC_REG_D = 0x0d, RTC_CENTURY = 0x32 };
#define RTC_B_24H 0x02
#define RTC_D_VRT 0x80

struct cmos {
	pthread_mutex_t lock;
	uint8_t index;
	uint8_t ram[CMOS_NR_REGS];
};

int cmos_create(struct cmos **out)
{
	struct cmos *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	c->ram[RTC_REG_A] = 0x26; /* 32.768 kHz base, 1024 Hz rate, update not in progress */
	c->ram[RTC_REG_B] = RTC_B_24H;
	c->ram[RTC_REG_D] = RTC_D_VRT;
	*out = c;
	return 0;
}

void cmos_destroy(struct cmos *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static uint8_t bcd(int v)
{
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static uint8_t cmos_reg(struct cmos *c, uint8_t reg)
{
	struct tm tm;
	time_t now = time(NULL);

	gmtime_r(&now, &tm);
	switch (reg) {
	case RTC_SEC: return bcd(tm.tm_sec);
	case RTC_MIN: return bcd(tm.tm_min);
	case RTC_HOUR: return bcd(tm.tm_hour);
	case RTC_WDAY: return bcd(tm.tm_wday + 1);
	case RTC_MDAY: return bcd(tm.tm_mday);
	case RTC_MON: return bcd(tm.tm_mon + 1);
	case RTC_YEAR: return bcd(tm.tm_year % 100);
	case RTC_CENTURY: return bcd((tm.tm_year + 1900) / 100);
	case RTC_REG_C: return 0; /* no interrupt flags */
	default: return c->ram[reg];
	}
}

static void cmos_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct cmos *c = opaque;

	memset(data, 0xff, size);
	pthread_mutex_lock(&c->lock);
	if (offset == 1)
		*(uint8_t *)data = cmos_reg(c, c->index);
	pthread_mutex_unlock(&c->lock);
}

static void cmos_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct cmos *c = opaque;
	uint8_t v = *(const uint8_t *)data;

	(void)size;
	pthread_mutex_lock(&c->lock);
	if (offset == 0)
		c->index = v & 0x7f; /* bit 7 is the NMI mask */
	else if (c->index >= RTC_REG_A && c->index != RTC_REG_C && c->index != RTC_REG_D)
		c->ram[c->index] = v; /* time registers stay read-only: they follow the host clock */
	pthread_mutex_unlock(&c->lock);
}

const struct bus_device_ops cmos_bus_ops = { .read = cmos_read, .write = cmos_write };
