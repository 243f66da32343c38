/*
 * ACPI tables for a HW-reduced ACPI x86-64 machine (ACPI 6.5 layouts).
 *
 *   RSDP (rev 2) -> RSDT and XSDT -> FADT -> DSDT
 *                                 -> MADT
 *
 * Choices, and why (docs/x86-boot.md has the longer story):
 * - FADT flags HW_REDUCED_ACPI: no PM1/GPE blocks, no SCI, no FACS. Linux
 *   then also skips the legacy PIC and PIT setup (acpi_generic_reduced_hw_init).
 *   RESET_REG_SUP: Linux's default reboot path (BOOT_ACPI) writes RESET_VALUE
 *   to RESET_REG. PWR_BUTTON and SLP_BUTTON set: no fixed-feature buttons.
 *   Power-off: _S5's SLP_TYP, shifted to bits 4:2 with SLP_EN (bit 5), is
 *   written to SLEEP_CONTROL_REG (ACPICA acpi_hw_extended_sleep), which
 *   Linux only offers when both sleep registers are present.
 * - IAPC_BOOT_ARCH: legacy (ISA) devices present (COM1, CMOS RTC); no 8042
 *   (the i8042 port is only a reset line, and a probe would time out); no
 *   VGA; ASPM off-limits. MSI is NOT declared unsupported, so PCI devices
 *   may use MSI/MSI-X. The CMOS RTC is present (ports 0x70/0x71).
 * - MADT PCAT_COMPAT = 1: KVM's in-kernel irqchip does include dual 8259s
 *   (fed by GSIs 0-15); an OS that uses the I/O APIC must mask them. Linux
 *   in HW-reduced mode replaces the 8259 with its null PIC either way.
 * - ISA IRQ 0: KVM's default GSI routing (bothy installs no other) sends
 *   GSI n to I/O APIC pin n and the PIT raises GSI 0, so IRQ0 is identity
 *   mapped; the override only states edge/active-high. QEMU, unlike bothy,
 *   reprograms the routing to put the PIT on pin 2 and says IRQ0 -> GSI2.
 *   No SCI override: HW-reduced ACPI has no SCI.
 * - DSDT: \_S5_ for power-off, and COM1 and the RTC as PNP devices so their
 *   drivers get their ISA IRQs (see aml_isa_devices).
 */
#include "arch/x86_64/acpi.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/layout.h"

#define ACPI_OEM_ID "BOTHY "
#define ACPI_OEM_REVISION 1
#define ACPI_CREATOR_ID "BTHY"
#define ACPI_CREATOR_REVISION 1
#define ACPI_HYPERVISOR_ID "BOTHY   "

/* FADT flags (ACPI 6.5 table 5.10). */
#define FADT_F_WBINVD (1u << 0)
#define FADT_F_PWR_BUTTON (1u << 4)
#define FADT_F_SLP_BUTTON (1u << 5)
#define FADT_F_RESET_REG_SUP (1u << 10)
#define FADT_F_HW_REDUCED_ACPI (1u << 20)
/* IA-PC boot architecture flags (table 5.11). */
#define IAPC_LEGACY_DEVICES (1u << 0)
#define IAPC_8042 (1u << 1)
#define IAPC_VGA_NOT_PRESENT (1u << 2)
#define IAPC_MSI_NOT_SUPPORTED (1u << 3)
#define IAPC_PCIE_ASPM_CONTROLS (1u << 4)
#define IAPC_CMOS_RTC_NOT_PRESENT (1u << 5)

#define GAS_SYSTEM_IO 1
#define GAS_ACCESS_BYTE 1

#define MADT_PCAT_COMPAT 1u
#define MADT_LAPIC_ENABLED 1u
#define MADT_POLARITY_HIGH 0x1u
#define MADT_TRIGGER_EDGE 0x4u

#define ACPI_PIT_GSI 0 /* see above: KVM's default routing */
#define ACPI_RTC_IRQ 8 /* ISA IRQ of the MC146818 RTC */

enum madt_type {
	MADT_LOCAL_APIC = 0,
	MADT_IO_APIC = 1,
	MADT_INT_SRC_OVERRIDE = 2,
	MADT_LOCAL_APIC_NMI = 4,
};

struct acpi_rsdp {
	char signature[8];
	uint8_t checksum;
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt_address;
	uint32_t length;
	uint64_t xsdt_address;
	uint8_t extended_checksum;
	uint8_t reserved[3];
} __attribute__((packed));

struct acpi_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));

struct acpi_gas {
	uint8_t space_id;
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;
	uint64_t address;
} __attribute__((packed));

struct acpi_fadt {
	struct acpi_header h;
	uint32_t firmware_ctrl;
	uint32_t dsdt;
	uint8_t reserved0;
	uint8_t preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable;
	uint8_t acpi_disable;
	uint8_t s4bios_req;
	uint8_t pstate_cnt;
	uint32_t pm_blocks[8]; /* PM1a/b EVT, PM1a/b CNT, PM2 CNT, PM TMR, GPE0, GPE1 */
	uint8_t pm_lens[8];
	uint16_t p_lvl2_lat;
	uint16_t p_lvl3_lat;
	uint16_t flush_size;
	uint16_t flush_stride;
	uint8_t duty_offset;
	uint8_t duty_width;
	uint8_t day_alrm;
	uint8_t mon_alrm;
	uint8_t century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_revision;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct acpi_gas x_pm_blocks[8];
	struct acpi_gas sleep_control;
	struct acpi_gas sleep_status;
	char hypervisor_id[8];
} __attribute__((packed));

struct acpi_madt {
	struct acpi_header h;
	uint32_t lapic_address;
	uint32_t flags;
} __attribute__((packed));

struct madt_lapic {
	uint8_t type;
	uint8_t length;
	uint8_t uid;
	uint8_t apic_id;
	uint32_t flags;
} __attribute__((packed));

struct madt_ioapic {
	uint8_t type;
	uint8_t length;
	uint8_t id;
	uint8_t reserved;
	uint32_t address;
	uint32_t gsi_base;
} __attribute__((packed));

struct madt_iso {
	uint8_t type;
	uint8_t length;
	uint8_t bus;
	uint8_t source;
	uint32_t gsi;
	uint16_t flags;
} __attribute__((packed));

struct madt_lapic_nmi {
	uint8_t type;
	uint8_t length;
	uint8_t uid;
	uint16_t flags;
	uint8_t lint;
} __attribute__((packed));

_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP");
_Static_assert(offsetof(struct acpi_rsdp, xsdt_address) == 24, "RSDP.XsdtAddress");
_Static_assert(sizeof(struct acpi_header) == 36, "SDT header");
_Static_assert(sizeof(struct acpi_gas) == 12, "GAS");
_Static_assert(offsetof(struct acpi_fadt, dsdt) == 40, "FADT.DSDT");
_Static_assert(offsetof(struct acpi_fadt, sci_int) == 46, "FADT.SCI_INT");
_Static_assert(offsetof(struct acpi_fadt, pm_lens) == 88, "FADT.PM1_EVT_LEN");
_Static_assert(offsetof(struct acpi_fadt, iapc_boot_arch) == 109, "FADT.IAPC_BOOT_ARCH");
_Static_assert(offsetof(struct acpi_fadt, flags) == 112, "FADT.Flags");
_Static_assert(offsetof(struct acpi_fadt, reset_reg) == 116, "FADT.RESET_REG");
_Static_assert(offsetof(struct acpi_fadt, reset_value) == 128, "FADT.RESET_VALUE");
_Static_assert(offsetof(struct acpi_fadt, minor_revision) == 131, "FADT.MinorVersion");
_Static_assert(offsetof(struct acpi_fadt, x_dsdt) == 140, "FADT.X_DSDT");
_Static_assert(offsetof(struct acpi_fadt, sleep_control) == 244, "FADT.SLEEP_CONTROL_REG");
_Static_assert(offsetof(struct acpi_fadt, sleep_status) == 256, "FADT.SLEEP_STATUS_REG");
_Static_assert(offsetof(struct acpi_fadt, hypervisor_id) == 268, "FADT.HypervisorVendorIdentity");
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT (ACPI 6.x)");
_Static_assert(sizeof(struct acpi_madt) == 44, "MADT");
_Static_assert(sizeof(struct madt_lapic) == 8, "MADT local APIC");
_Static_assert(sizeof(struct madt_ioapic) == 12, "MADT I/O APIC");
_Static_assert(sizeof(struct madt_iso) == 10, "MADT interrupt source override");
_Static_assert(sizeof(struct madt_lapic_nmi) == 6, "MADT local APIC NMI");

/* --- AML ------------------------------------------------------------------ */

#define AML_ZERO 0x00
#define AML_ONE 0x01
#define AML_NAME 0x08
#define AML_BYTE_PREFIX 0x0a
#define AML_WORD_PREFIX 0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_QWORD_PREFIX 0x0e
#define AML_SCOPE 0x10
#define AML_BUFFER 0x11
#define AML_PACKAGE 0x12
#define AML_EXT_PREFIX 0x5b
#define AML_DEVICE 0x82
#define AML_ROOT_CHAR 0x5c

#define AML_MAX 512

/* A bounded byte builder; overflow is sticky and checked once at the end. */
struct aml {
	uint8_t b[AML_MAX];
	size_t len;
	int overflow;
};

static void aml_put(struct aml *a, const void *p, size_t n)
{
	if (a->overflow || n > sizeof(a->b) - a->len) {
		a->overflow = 1;
		return;
	}
	memcpy(a->b + a->len, p, n);
	a->len += n;
}

static void aml_u8(struct aml *a, uint8_t v)
{
	aml_put(a, &v, 1);
}

static void aml_dword(struct aml *a, uint32_t v)
{
	aml_u8(a, AML_DWORD_PREFIX);
	aml_put(a, &v, 4);
}

/* Smallest encoding of an integer constant. */
static void aml_int(struct aml *a, uint64_t v)
{
	if (v == 0) {
		aml_u8(a, AML_ZERO);
	} else if (v == 1) {
		aml_u8(a, AML_ONE);
	} else if (v <= 0xff) {
		aml_u8(a, AML_BYTE_PREFIX);
		aml_u8(a, (uint8_t)v);
	} else if (v <= 0xffff) {
		uint16_t w = (uint16_t)v;

		aml_u8(a, AML_WORD_PREFIX);
		aml_put(a, &w, 2);
	} else if (v <= 0xffffffffu) {
		aml_dword(a, (uint32_t)v);
	} else {
		aml_u8(a, AML_QWORD_PREFIX);
		aml_put(a, &v, 8);
	}
}

size_t x86_acpi_encode_pkglen(uint8_t out[4], size_t body)
{
	size_t n = body + 1 <= 0x3f ? 1 : body + 2 <= 0xfff ? 2 : body + 3 <= 0xfffff ? 3 : 4;
	size_t total = body + n;

	if (total > 0xfffffff || total < body)
		return 0;
	if (n == 1) {
		out[0] = (uint8_t)total;
		return 1;
	}
	out[0] = (uint8_t)(((n - 1) << 6) | (total & 0xf));
	for (size_t i = 1; i < n; i++)
		out[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	return n;
}

static void aml_pkglen(struct aml *a, size_t body)
{
	uint8_t enc[4];
	size_t n = x86_acpi_encode_pkglen(enc, body);

	if (!n)
		a->overflow = 1;
	else
		aml_put(a, enc, n);
}

/* op [PkgLength body]: Scope, Buffer, Package, Device. */
static void aml_pkg(struct aml *a, const uint8_t *op, size_t oplen, const struct aml *body)
{
	if (body->overflow) {
		a->overflow = 1;
		return;
	}
	aml_put(a, op, oplen);
	aml_pkglen(a, body->len);
	aml_put(a, body->b, body->len);
}

static void aml_name(struct aml *a, const char seg[4])
{
	aml_u8(a, AML_NAME);
	aml_put(a, seg, 4);
}

/* EISA id "PNP0501" -> its compressed 32-bit form. */
static uint32_t aml_eisa_id(const char id[7])
{
	static const char hex[] = "0123456789ABCDEF";
	uint8_t b[4];
	uint32_t v;
	unsigned d[4];

	for (int i = 0; i < 4; i++)
		d[i] = (unsigned)(strchr(hex, id[3 + i]) - hex);
	b[0] = (uint8_t)(((id[0] - '@') << 2) | ((id[1] - '@') >> 3));
	b[1] = (uint8_t)((((id[1] - '@') & 7) << 5) | (id[2] - '@'));
	b[2] = (uint8_t)(d[0] << 4 | d[1]);
	b[3] = (uint8_t)(d[2] << 4 | d[3]);
	memcpy(&v, b, 4);
	return v;
}

/* Name(_S5_, Package() { SLP_TYPa, SLP_TYPb, 0, 0 }) */
static void aml_sleep_state(struct aml *a, const char seg[4], unsigned slp_typ)
{
	const uint8_t op = AML_PACKAGE;
	struct aml pkg = { .len = 0 };

	aml_u8(&pkg, 4); /* NumElements */
	aml_int(&pkg, slp_typ);
	aml_int(&pkg, slp_typ);
	aml_int(&pkg, 0);
	aml_int(&pkg, 0);
	aml_name(a, seg);
	aml_pkg(a, &op, 1, &pkg);
}

/*
 * Device(name) {
 *   Name(_HID, EisaId(hid)) Name(_UID, uid)
 *   Name(_CRS, ResourceTemplate() { IO(Decode16, port, port, 1, len) IRQNoFlags() { irq } })
 * }
 */
static void aml_isa_device(struct aml *a, const char name[4], const char hid[7], unsigned uid, uint16_t port,
			   uint8_t len, unsigned irq)
{
	const uint8_t buffer_op = AML_BUFFER;
	const uint8_t device_op[2] = { AML_EXT_PREFIX, AML_DEVICE };
	const uint8_t crs[] = {
		0x47, 0x01, port & 0xff, port >> 8, port & 0xff, port >> 8, 0x01, len, /* IO, Decode16 */
		0x22, (1u << irq) & 0xff, (1u << irq) >> 8,                          /* IRQNoFlags */
		0x79, 0x00,                                                          /* EndTag */
	};
	struct aml buf = { .len = 0 }, dev = { .len = 0 };

	aml_int(&buf, sizeof(crs)); /* BufferSize */
	aml_put(&buf, crs, sizeof(crs));

	aml_put(&dev, name, 4);
	aml_name(&dev, "_HID");
	aml_dword(&dev, aml_eisa_id(hid));
	aml_name(&dev, "_UID");
	aml_int(&dev, uid);
	aml_name(&dev, "_CRS");
	aml_pkg(&dev, &buffer_op, 1, &buf);

	aml_pkg(a, device_op, 2, &dev);
}

/*
 * Scope(\_SB_) { Device(COM1) { PNP0501 ... } Device(RTC_) { PNP0B00 ... } }
 * A HW-reduced Linux has no legacy PIC and so no ISA IRQ mappings of its
 * own: its 8250 and rtc_cmos drivers get their interrupts through these
 * devices' _CRS (rtc_cmos fails to probe without one). bothy's CMOS never
 * raises IRQ 8, so RTC alarms do not fire; reading the clock works.
 */
static void aml_isa_devices(struct aml *a)
{
	const uint8_t scope_op = AML_SCOPE;
	struct aml scope = { .len = 0 };

	aml_u8(&scope, AML_ROOT_CHAR);
	aml_put(&scope, "_SB_", 4);
	aml_isa_device(&scope, "COM1", "PNP0501", 1, X86_PORT_COM1, 8, X86_IRQ_COM1);
	aml_isa_device(&scope, "RTC_", "PNP0B00", 0, X86_PORT_RTC, 2, ACPI_RTC_IRQ);
	aml_pkg(a, &scope_op, 1, &scope);
}

/*
 * Scope(\_SB_) { Device(PCI0) { Name(_HID, EisaId("PNP0A03")) Name(_UID, 0) Name(_SEG, 0) Name(_BBN, 0)
 *   Name(_CRS, ResourceTemplate() { WordBusNumber(0-0), IO(0xcf8, 8), WordIO(0-0xcf7),
 *   WordIO(0xd00-0xffff), DWordMemory(the BAR window) }) } }
 * Linux's ACPI PCI root driver scans bus 0 through the configuration ports and
 * keeps bothy's BAR placement because it lies inside the memory window. No
 * _PRT: bothy's functions have no INTx pin and interrupt through MSI-X.
 */
static void aml_pci_host_bridge(struct aml *a)
{
	const uint8_t buffer_op = AML_BUFFER, scope_op = AML_SCOPE;
	const uint8_t device_op[2] = { AML_EXT_PREFIX, AML_DEVICE };
	const uint32_t mem_min = (uint32_t)X86_PCI_MMIO_BASE, mem_len = (uint32_t)X86_PCI_MMIO_SIZE;
	const uint32_t mem_max = mem_min + mem_len - 1;
	uint8_t crs[] = {
		/* Word Address Space: bus numbers 0-0 (producer, fixed min/max) */
		0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0,
		/* IO: the configuration ports 0xcf8-0xcff, which the bridge itself consumes */
		0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08,
		/* Word Address Space: I/O 0x0000-0x0cf7 and 0x0d00-0xffff passed down */
		0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0, 0, 0x00, 0x00, 0xf7, 0x0c, 0, 0, 0xf8, 0x0c,
		0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0, 0, 0x00, 0x0d, 0xff, 0xff, 0, 0, 0x00, 0xf3,
		/* DWord Address Space: memory, non-cacheable read/write, the BAR window */
		0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0, 0, 0, 0,
		(uint8_t)mem_min, (uint8_t)(mem_min >> 8), (uint8_t)(mem_min >> 16), (uint8_t)(mem_min >> 24),
		(uint8_t)mem_max, (uint8_t)(mem_max >> 8), (uint8_t)(mem_max >> 16), (uint8_t)(mem_max >> 24),
		0, 0, 0, 0,
		(uint8_t)mem_len, (uint8_t)(mem_len >> 8), (uint8_t)(mem_len >> 16), (uint8_t)(mem_len >> 24),
		0x79, 0x00, /* EndTag */
	};
	struct aml buf = { .len = 0 }, dev = { .len = 0 }, scope = { .len = 0 };

	aml_int(&buf, sizeof(crs));
	aml_put(&buf, crs, sizeof(crs));

	aml_put(&dev, "PCI0", 4);
	aml_name(&dev, "_HID");
	aml_dword(&dev, aml_eisa_id("PNP0A03"));
	aml_name(&dev, "_UID");
	aml_int(&dev, 0);
	aml_name(&dev, "_SEG");
	aml_int(&dev, 0);
	aml_name(&dev, "_BBN");
	aml_int(&dev, 0);
	aml_name(&dev, "_CRS");
	aml_pkg(&dev, &buffer_op, 1, &buf);

	aml_u8(&scope, AML_ROOT_CHAR);
	aml_put(&scope, "_SB_", 4);
	aml_pkg(&scope, device_op, 2, &dev);
	aml_pkg(a, &scope_op, 1, &scope);
}

/* --- tables ----------------------------------------------------------------- */

static uint8_t acpi_checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum += b[i];
	return (uint8_t)-sum;
}

static size_t align16(size_t v)
{
	return (v + 15) & ~(size_t)15;
}

/* Fills a table header in place; the checksum is set last, over @len bytes. */
static void acpi_header_init(uint8_t *table, const char sig[4], uint32_t len, uint8_t rev, const char table_id[8])
{
	struct acpi_header h = {
		.length = len,
		.revision = rev,
		.oem_revision = ACPI_OEM_REVISION,
		.creator_revision = ACPI_CREATOR_REVISION,
	};

	memcpy(h.signature, sig, 4);
	memcpy(h.oem_id, ACPI_OEM_ID, 6);
	memcpy(h.oem_table_id, table_id, 8);
	memcpy(h.creator_id, ACPI_CREATOR_ID, 4);
	memcpy(table, &h, sizeof(h));
}

static void acpi_header_finish(uint8_t *table, uint32_t len)
{
	table[offsetof(struct acpi_header, checksum)] = 0;
	table[offsetof(struct acpi_header, checksum)] = acpi_checksum(table, len);
}

static struct acpi_gas gas_io8(uint16_t port)
{
	return (struct acpi_gas){
		.space_id = GAS_SYSTEM_IO,
		.bit_width = 8,
		.bit_offset = 0,
		.access_size = GAS_ACCESS_BYTE,
		.address = port,
	};
}

static void acpi_fill_fadt(uint8_t *p, uint64_t dsdt)
{
	struct acpi_fadt f;

	memset(&f, 0, sizeof(f));
	f.dsdt = (uint32_t)dsdt; /* both DSDT fields, equal: the tables live below 1 MiB */
	f.x_dsdt = dsdt;
	f.iapc_boot_arch = IAPC_LEGACY_DEVICES | IAPC_VGA_NOT_PRESENT | IAPC_PCIE_ASPM_CONTROLS;
	f.flags = FADT_F_WBINVD | FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON | FADT_F_RESET_REG_SUP |
		  FADT_F_HW_REDUCED_ACPI;
	f.reset_reg = gas_io8(X86_PORT_ACPI_RESET);
	f.reset_value = X86_ACPI_RESET_VALUE;
	f.minor_revision = 5; /* ACPI 6.5 */
	f.sleep_control = gas_io8(X86_PORT_ACPI_SLEEP_CTL);
	f.sleep_status = gas_io8(X86_PORT_ACPI_SLEEP_STS);
	memcpy(f.hypervisor_id, ACPI_HYPERVISOR_ID, 8);
	memcpy(p, &f, sizeof(f));
	acpi_header_init(p, "FACP", sizeof(f), 6, "BOTHFACP");
}

static size_t madt_size(unsigned ncpus)
{
	return sizeof(struct acpi_madt) + ncpus * sizeof(struct madt_lapic) + sizeof(struct madt_ioapic) +
	       sizeof(struct madt_iso) + sizeof(struct madt_lapic_nmi);
}

static void acpi_fill_madt(uint8_t *p, unsigned ncpus)
{
	struct acpi_madt m = { .lapic_address = (uint32_t)X86_LAPIC_ADDR, .flags = MADT_PCAT_COMPAT };
	struct madt_ioapic io = {
		.type = MADT_IO_APIC,
		.length = sizeof(io),
		.id = (uint8_t)ncpus,
		.address = (uint32_t)X86_IOAPIC_ADDR,
		.gsi_base = 0,
	};
	struct madt_iso iso = {
		.type = MADT_INT_SRC_OVERRIDE,
		.length = sizeof(iso),
		.bus = 0, /* ISA */
		.source = 0,
		.gsi = ACPI_PIT_GSI,
		.flags = MADT_POLARITY_HIGH | MADT_TRIGGER_EDGE,
	};
	struct madt_lapic_nmi nmi = {
		.type = MADT_LOCAL_APIC_NMI,
		.length = sizeof(nmi),
		.uid = 0xff, /* all processors */
		.flags = 0,
		.lint = 1,   /* KVM vCPUs have LINT1 programmed as NMI */
	};
	size_t off = sizeof(m);

	memcpy(p, &m, sizeof(m));
	for (unsigned i = 0; i < ncpus; i++) {
		struct madt_lapic l = {
			.type = MADT_LOCAL_APIC,
			.length = sizeof(l),
			.uid = (uint8_t)i,
			.apic_id = (uint8_t)i,
			.flags = MADT_LAPIC_ENABLED,
		};

		memcpy(p + off, &l, sizeof(l));
		off += sizeof(l);
	}
	memcpy(p + off, &io, sizeof(io));
	off += sizeof(io);
	memcpy(p + off, &iso, sizeof(iso));
	off += sizeof(iso);
	memcpy(p + off, &nmi, sizeof(nmi));
	off += sizeof(nmi);
	acpi_header_init(p, "APIC", (uint32_t)off, 5, "BOTHMADT");
}

int x86_acpi_build(struct gmem *gm, uint64_t base, uint64_t max_len, unsigned ncpus, bool pci, uint64_t *rsdp_out)
{
	struct aml dsdt_body = { .len = 0 };
	struct acpi_rsdp rsdp;
	size_t rsdt_off, xsdt_off, fadt_off, madt_off, dsdt_off, total;
	size_t rsdt_len, xsdt_len, madt_len, dsdt_len;
	uint8_t *buf;
	int ret;

	if (!gm || !rsdp_out || ncpus < 1 || ncpus > X86_ACPI_MAX_CPUS || (base & 15) ||
	    base + 36 < base || base + 36 > 0xffffffffULL)
		return -EINVAL;

	aml_sleep_state(&dsdt_body, "_S5_", X86_ACPI_S5_TYPE);
	aml_isa_devices(&dsdt_body);
	if (pci)
		aml_pci_host_bridge(&dsdt_body);
	if (dsdt_body.overflow)
		return -ENOSPC;

	rsdt_len = sizeof(struct acpi_header) + 2 * sizeof(uint32_t);
	xsdt_len = sizeof(struct acpi_header) + 2 * sizeof(uint64_t);
	madt_len = madt_size(ncpus);
	dsdt_len = sizeof(struct acpi_header) + dsdt_body.len;
	rsdt_off = align16(sizeof(rsdp));
	xsdt_off = align16(rsdt_off + rsdt_len);
	fadt_off = align16(xsdt_off + xsdt_len);
	madt_off = align16(fadt_off + sizeof(struct acpi_fadt));
	dsdt_off = align16(madt_off + madt_len);
	total = dsdt_off + dsdt_len;
	if (total > max_len)
		return -ENOSPC;
	/* The RSDT holds 32-bit pointers: everything must sit below 4 GiB. */
	if (base + total > 0x100000000ULL)
		return -EINVAL;

	buf = calloc(1, total);
	if (!buf)
		return -ENOMEM;

	/* DSDT */
	memcpy(buf + dsdt_off + sizeof(struct acpi_header), dsdt_body.b, dsdt_body.len);
	acpi_header_init(buf + dsdt_off, "DSDT", (uint32_t)dsdt_len, 2, "BOTHDSDT");
	acpi_header_finish(buf + dsdt_off, (uint32_t)dsdt_len);

	acpi_fill_fadt(buf + fadt_off, base + dsdt_off);
	acpi_header_finish(buf + fadt_off, sizeof(struct acpi_fadt));

	acpi_fill_madt(buf + madt_off, ncpus);
	acpi_header_finish(buf + madt_off, (uint32_t)madt_len);

	/* RSDT and XSDT: FADT first (ACPI requires it to be present; Linux does not care about order). */
	{
		uint32_t r32[2] = { (uint32_t)(base + fadt_off), (uint32_t)(base + madt_off) };
		uint64_t r64[2] = { base + fadt_off, base + madt_off };

		acpi_header_init(buf + rsdt_off, "RSDT", (uint32_t)rsdt_len, 1, "BOTHRSDT");
		memcpy(buf + rsdt_off + sizeof(struct acpi_header), r32, sizeof(r32));
		acpi_header_finish(buf + rsdt_off, (uint32_t)rsdt_len);
		acpi_header_init(buf + xsdt_off, "XSDT", (uint32_t)xsdt_len, 1, "BOTHXSDT");
		memcpy(buf + xsdt_off + sizeof(struct acpi_header), r64, sizeof(r64));
		acpi_header_finish(buf + xsdt_off, (uint32_t)xsdt_len);
	}

	/* RSDP: checksum over the first 20 bytes, extended checksum over all 36. */
	memset(&rsdp, 0, sizeof(rsdp));
	memcpy(rsdp.signature, "RSD PTR ", 8);
	memcpy(rsdp.oem_id, ACPI_OEM_ID, 6);
	rsdp.revision = 2;
	rsdp.rsdt_address = (uint32_t)(base + rsdt_off);
	rsdp.length = sizeof(rsdp);
	rsdp.xsdt_address = base + xsdt_off;
	rsdp.checksum = acpi_checksum(&rsdp, 20);
	rsdp.extended_checksum = acpi_checksum(&rsdp, sizeof(rsdp));
	memcpy(buf, &rsdp, sizeof(rsdp));

	ret = gmem_write(gm, base, buf, total);
	free(buf);
	if (ret)
		return ret;
	*rsdp_out = base;
	return 0;
}
