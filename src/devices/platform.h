/*
 * Small platform devices whose state is the VM itself or a few bytes:
 * the i8042 reset line, the HW-reduced ACPI power registers, the test exit
 * port and an MC146818 CMOS real-time clock.
 */
#ifndef BOTHY_DEVICES_PLATFORM_H
#define BOTHY_DEVICES_PLATFORM_H

#include <stdint.h>

#include "core/bus.h"

/* The i8042 command port (opaque = struct vm): command 0xFE pulses the CPU reset line. */
extern const struct bus_device_ops i8042_bus_ops;
#define I8042_CMD_RESET 0xfe

/*
 * opaque = struct vm. Offsets: 0 sleep control, 1 sleep status, 2 reset.
 * Writing SLP_EN with SLP_TYP == @s5_type (see acpi_power_ops_s5_type) powers off.
 */
extern const struct bus_device_ops acpi_power_bus_ops;
#define ACPI_POWER_SLP_EN 0x20
#define ACPI_POWER_SLP_TYP_SHIFT 2
#define ACPI_POWER_SLP_TYP_MASK 0x1c
#define ACPI_POWER_S5_TYPE 5
#define ACPI_POWER_RESET_VALUE 1

/*
 * The PC reset control register (opaque = struct vm): a write with RST_CPU set
 * resets the machine. One of the ways Linux's reboot tries (BOOT_CF9_*).
 */
extern const struct bus_device_ops reset_control_bus_ops;
#define RESET_CONTROL_RST_CPU 0x04

/* opaque = struct vm. A write of V ends the VM; bothy exits with status V & 0xff. */
extern const struct bus_device_ops debug_exit_bus_ops;

/* Writes go nowhere, reads return zero: ports Linux pokes for delays (0x80). */
extern const struct bus_device_ops sink_bus_ops;

struct cmos;
int cmos_create(struct cmos **out);
void cmos_destroy(struct cmos *c);
extern const struct bus_device_ops cmos_bus_ops; /* opaque = struct cmos; ports index, data */

#endif
