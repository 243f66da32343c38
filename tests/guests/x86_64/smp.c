/*
 * smp: brings up every CPU the firmware describes, the way an OS does.
 *
 * 1. Finds the CPUs in ACPI: start_info.rsdp_paddr (or a scan of the EBDA
 *    and 0xe0000-0xfffff) -> RSDP (signature, checksums) -> XSDT (RSDT for
 *    ACPI 1.0) -> the "APIC" table (MADT) -> enabled Processor Local APIC
 *    entries (type 0). Prints "cpus in MADT: N".
 * 2. The BSP prints "cpu <its apic id> up", copies a real-mode trampoline to
 *    AP_TRAMPOLINE and starts each other CPU with INIT, SIPI, SIPI through the
 *    xAPIC ICR. Each AP enters protected mode, prints "cpu <apic id> up",
 *    then counts itself in (after printing, so every line is out before the
 *    BSP reports) and halts.
 * 3. The BSP waits until all N-1 APs have counted in, at most timeout=S
 *    seconds (default 10, measured with the LAPIC timer), then prints
 *    "cpus up: N" and exits with status N; on timeout it prints
 *    "cpus up: K (timeout)" and exits with 100+K. ACPI or setup errors: a
 *    message and status 99.
 */
#include "defs.h"
#include "lib.h"

#define DEFAULT_TIMEOUT_S 10
#define MAX_CPUS          256 /* xAPIC ids are 8 bits */

struct __attribute__((packed)) acpi_rsdp {
	char signature[8];
	uint8_t checksum;
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt_address;
	uint32_t length;       /* revision >= 2 */
	uint64_t xsdt_address; /* revision >= 2 */
	uint8_t extended_checksum;
	uint8_t reserved[3];
};

struct __attribute__((packed)) acpi_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	uint32_t creator_id;
	uint32_t creator_revision;
};

struct __attribute__((packed)) acpi_madt {
	struct acpi_header header;
	uint32_t lapic_address;
	uint32_t flags;
};

#define MADT_TYPE_LAPIC        0
#define MADT_TYPE_LAPIC_OVERRIDE 5
#define MADT_LAPIC_ENABLED     1u

#define ACPI_TABLE_MAX (1u << 20) /* sanity bound on a table's length */

/* Shared with the APs. */
static volatile uint32_t aps_up;
extern const char ap_trampoline[], ap_trampoline_end[];
void ap_main(uint32_t ticket);

void ap_main(uint32_t ticket)
{
	(void)ticket;
	kprintf("cpu %u up\n", lapic_id());
	__atomic_fetch_add(&aps_up, 1, __ATOMIC_SEQ_CST);
}

static uint8_t checksum(const void *p, uint32_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len--)
		sum = (uint8_t)(sum + *b++);
	return sum;
}

static bool rsdp_valid(const struct acpi_rsdp *r)
{
	if (memcmp(r->signature, "RSD PTR ", 8) || checksum(r, 20))
		return false;
	return r->revision < 2 || (r->length >= sizeof(*r) && r->length <= 4096 && !checksum(r, r->length));
}

static const struct acpi_rsdp *rsdp_scan(uint32_t start, uint32_t len)
{
	for (uint32_t a = start; a + sizeof(struct acpi_rsdp) <= start + len; a += 16)
		if (rsdp_valid(phys(a)))
			return phys(a);
	return NULL;
}

static const struct acpi_rsdp *rsdp_find(const struct hvm_start_info *si)
{
	const struct acpi_rsdp *r;
	uint32_t ebda;

	if (si->version >= 1 && si->rsdp_paddr) {
		if (si->rsdp_paddr >= 0x100000000ull) {
			kprintf("smp: RSDP above 4 GiB (0x%x%08x)\n", (uint32_t)(si->rsdp_paddr >> 32),
				(uint32_t)si->rsdp_paddr);
			return NULL;
		}
		r = phys((uint32_t)si->rsdp_paddr);
		if (!rsdp_valid(r)) {
			kprintf("smp: start_info.rsdp_paddr 0x%x: bad RSDP signature or checksum\n",
				(uint32_t)si->rsdp_paddr);
			return NULL;
		}
		return r;
	}
	/* PVH allows rsdp_paddr = 0: then the guest searches like a legacy BIOS OS. */
	ebda = (uint32_t)*(volatile uint16_t *)phys(0x40e) << 4;
	if (ebda >= 0x80000 && ebda < 0xa0000 && (r = rsdp_scan(ebda, 1024)))
		return r;
	return rsdp_scan(0xe0000, 0x20000);
}

static const struct acpi_header *table_at(uint64_t pa, const char *what)
{
	const struct acpi_header *h;

	if (!pa || pa >= 0x100000000ull - ACPI_TABLE_MAX) {
		kprintf("smp: %s at unusable address 0x%x%08x\n", what, (uint32_t)(pa >> 32), (uint32_t)pa);
		return NULL;
	}
	h = phys((uint32_t)pa);
	if (h->length < sizeof(*h) || h->length > ACPI_TABLE_MAX) {
		kprintf("smp: %s at 0x%x: bad length %u\n", what, (uint32_t)pa, h->length);
		return NULL;
	}
	if (checksum(h, h->length)) {
		kprintf("smp: %s at 0x%x (%c%c%c%c): bad checksum\n", what, (uint32_t)pa, h->signature[0],
			h->signature[1], h->signature[2], h->signature[3]);
		return NULL;
	}
	return h;
}

static const struct acpi_madt *madt_find(const struct acpi_rsdp *rsdp)
{
	const struct acpi_header *sdt;
	bool xsdt = rsdp->revision >= 2 && rsdp->xsdt_address;
	uint32_t entry_size = xsdt ? 8 : 4, n;

	sdt = table_at(xsdt ? rsdp->xsdt_address : rsdp->rsdt_address, xsdt ? "XSDT" : "RSDT");
	if (!sdt)
		return NULL;
	if (memcmp(sdt->signature, xsdt ? "XSDT" : "RSDT", 4)) {
		kprintf("smp: %s has the wrong signature\n", xsdt ? "XSDT" : "RSDT");
		return NULL;
	}
	n = (sdt->length - sizeof(*sdt)) / entry_size;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = (const uint8_t *)(sdt + 1) + i * entry_size;
		uint64_t pa = 0;
		const struct acpi_header *h;

		memcpy(&pa, e, entry_size);
		if (!pa || pa >= 0x100000000ull - ACPI_TABLE_MAX)
			continue;
		h = phys((uint32_t)pa);
		if (memcmp(h->signature, "APIC", 4))
			continue;
		h = table_at(pa, "MADT");
		if (!h || h->length < sizeof(struct acpi_madt))
			return NULL;
		return (const struct acpi_madt *)h;
	}
	kprintf("smp: no MADT (\"APIC\") in the %s\n", xsdt ? "XSDT" : "RSDT");
	return NULL;
}

/* Fills ids[] with the APIC ids of the enabled processors; returns how many. */
static uint32_t madt_cpus(const struct acpi_madt *madt, uint8_t *ids, uint32_t max)
{
	const uint8_t *p = (const uint8_t *)(madt + 1);
	const uint8_t *end = (const uint8_t *)madt + madt->header.length;
	uint32_t n = 0;

	if (madt->lapic_address)
		lapic_base = madt->lapic_address;
	while (p + 2 <= end && p[1] >= 2 && p + p[1] <= end) {
		if (p[0] == MADT_TYPE_LAPIC && p[1] >= 8) {
			uint32_t flags;

			memcpy(&flags, p + 4, 4);
			if ((flags & MADT_LAPIC_ENABLED) && n < max)
				ids[n++] = p[3];
		} else if (p[0] == MADT_TYPE_LAPIC_OVERRIDE && p[1] >= 12) {
			uint64_t a;

			memcpy(&a, p + 4, 8);
			if (a && a < 0x100000000ull)
				lapic_base = (uint32_t)a;
		}
		p += p[1];
	}
	return n;
}

/* The page at AP_TRAMPOLINE must be RAM (E820 type 1) if the VMM gave a memory map. */
static bool trampoline_page_is_ram(const struct hvm_start_info *si)
{
	struct __attribute__((packed)) memmap_entry {
		uint64_t addr, size;
		uint32_t type, reserved;
	};
	const struct memmap_entry *m;

	if (si->version < 1 || !si->memmap_paddr || !si->memmap_entries || si->memmap_paddr >= 0x100000000ull)
		return true;
	m = phys((uint32_t)si->memmap_paddr);
	for (uint32_t i = 0; i < si->memmap_entries && i < 1024; i++)
		if (m[i].type == 1 && m[i].addr <= AP_TRAMPOLINE &&
		    m[i].addr + m[i].size >= AP_TRAMPOLINE + 4096ull)
			return true;
	return false;
}

static bool icr_send(uint32_t apic_id, uint32_t low)
{
	lapic_write(LAPIC_ICR_HI, apic_id << 24);
	lapic_write(LAPIC_ICR_LO, low);
	for (uint32_t i = 0; i < 1000000; i++) {
		if (!(lapic_read(LAPIC_ICR_LO) & (1u << 12))) /* delivery status: idle */
			return true;
		cpu_relax();
	}
	kprintf("smp: IPI 0x%x to APIC %u stuck in send-pending\n", low, apic_id);
	return false;
}

#define ICR_INIT   0x00004500u /* delivery mode INIT, level assert */
#define ICR_SIPI   0x00004600u /* delivery mode start-up, level assert; | vector */

int payload_main(const struct hvm_start_info *si)
{
	static uint8_t ids[MAX_CPUS];
	const struct acpi_rsdp *rsdp;
	const struct acpi_madt *madt;
	uint32_t ncpus, bsp, timeout_s = DEFAULT_TIMEOUT_S, want, up;
	uint32_t tramp_len = (uint32_t)(ap_trampoline_end - ap_trampoline);
	bool timer;

	if (!start_info_check(si, "smp"))
		return EXIT_SETUP_ERROR;
	if (cmdline_u32(start_info_cmdline(si), "timeout", &timeout_s) < 0) {
		kprintf("smp: timeout= wants a number of seconds\n");
		return EXIT_SETUP_ERROR;
	}
	rsdp = rsdp_find(si);
	if (!rsdp) {
		kprintf("smp: no ACPI RSDP found\n");
		return EXIT_SETUP_ERROR;
	}
	madt = madt_find(rsdp);
	if (!madt)
		return EXIT_SETUP_ERROR;
	ncpus = madt_cpus(madt, ids, MAX_CPUS);
	kprintf("cpus in MADT: %u\n", ncpus);
	if (!ncpus) {
		kprintf("smp: the MADT lists no enabled processor\n");
		return EXIT_SETUP_ERROR;
	}

	bsp = lapic_id();
	kprintf("cpu %u up\n", bsp);
	want = 0;
	for (uint32_t i = 0; i < ncpus; i++)
		want += ids[i] != bsp;

	if (want) {
		if (!trampoline_page_is_ram(si)) {
			kprintf("smp: page 0x%x is not RAM in the PVH memory map\n", AP_TRAMPOLINE);
			return EXIT_SETUP_ERROR;
		}
		memcpy(phys(AP_TRAMPOLINE), ap_trampoline, tramp_len);
		/* Software-enable the LAPIC (spurious vector 0xff); interrupts stay off (cli). */
		lapic_write(LAPIC_SVR, lapic_read(LAPIC_SVR) | 0x1ff);
		/* INIT all, wait 10 ms, then two SIPIs 200 us apart (the MP spec's sequence). */
		for (uint32_t i = 0; i < ncpus; i++)
			if (ids[i] != bsp && !icr_send(ids[i], ICR_INIT))
				return EXIT_SETUP_ERROR;
		udelay(10000);
		for (int round = 0; round < 2; round++) {
			for (uint32_t i = 0; i < ncpus; i++)
				if (ids[i] != bsp && !icr_send(ids[i], ICR_SIPI | (AP_TRAMPOLINE >> 12)))
					return EXIT_SETUP_ERROR;
			udelay(200);
		}
	}

	/* Wait, one LAPIC-timer second at a time (a plain loop if the timer does not count). */
	for (uint32_t s = 0; s < timeout_s && aps_up < want; s++) {
		timer = lapic_timer_start(LAPIC_TIMER_HZ);
		for (uint32_t spins = 0; aps_up < want; spins++) {
			if (timer ? !lapic_timer_remaining() : spins >= 50000000u)
				break;
			cpu_relax();
		}
	}

	up = 1 + aps_up;
	if (aps_up < want) {
		kprintf("cpus up: %u (timeout)\n", up);
		return (int)(100 + up > 255 ? 255 : 100 + up);
	}
	kprintf("cpus up: %u\n", up);
	return (int)(up > 255 ? 255 : up);
}
