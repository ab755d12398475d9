/*
 * ACPI tables: RSDP, XSDT (and RSDT), FADT, FACS, MADT, MCFG and a DSDT
 * written in AML by core/aml.c.  Layouts follow ACPI 6.x chapter 5.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/acpi.h"
#include "core/aml.h"
#include "core/layout.h"
#include "lib/log.h"

#define OEM_ID		"HYVE  "
#define OEM_TABLE_ID	"HYVE    "
#define OEM_REVISION	1
#define CREATOR_ID	"HYVE"
#define CREATOR_REV	1

#define HDR_LEN		36
#define RSDP_LEN	36
#define FADT_LEN	276
#define FACS_LEN	64
#define MCFG_LEN	(HDR_LEN + 8 + 16)
#define MAX_CPUS	255	/* xAPIC ids in 8 bits; 255 is broadcast */

/* FADT flags */
#define FADT_WBINVD		(1U << 0)
#define FADT_PROC_C1		(1U << 2)
#define FADT_SLP_BUTTON		(1U << 5)
#define FADT_FIX_RTC		(1U << 6)
#define FADT_TMR_VAL_EXT	(1U << 8)
#define FADT_RESET_REG_SUP	(1U << 10)
/* IAPC_BOOT_ARCH */
#define BOOT_LEGACY_DEVICES	(1U << 0)
#define BOOT_8042		(1U << 1)
#define BOOT_VGA_NOT_PRESENT	(1U << 2)
/* Generic Address Structure */
#define GAS_SYSTEM_IO		1
#define GAS_ACCESS_BYTE		1
#define GAS_ACCESS_WORD		2
#define GAS_ACCESS_DWORD	3

/* MADT */
#define MADT_PCAT_COMPAT	1
#define MADT_LAPIC		0
#define MADT_IOAPIC		1
#define MADT_ISO		2
#define MADT_LAPIC_NMI		4
#define MPS_ACTIVE_HIGH		0x1
#define MPS_LEVEL		0xC

struct out {
	uint8_t		*buf;
	size_t		len;
	size_t		off;
	uint64_t	gpa;
};

static void
put8(uint8_t *p, uint8_t v)
{
	p[0] = v;
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint8_t
checksum(const uint8_t *p, size_t n)
{
	uint8_t sum = 0;

	while (n--)
		sum += *p++;
	return (uint8_t)-sum;
}

/* Reserves n zeroed bytes at the given alignment; NULL if they do not fit. */
static uint8_t *
take(struct out *o, size_t n, size_t align)
{
	size_t at = (o->off + align - 1) & ~(align - 1);
	uint8_t *p;

	if (at > o->len || n > o->len - at)
		return NULL;
	p = o->buf + at;
	memset(p, 0, n);
	o->off = at + n;
	return p;
}

static uint64_t
gpa_of(const struct out *o, const uint8_t *p)
{
	return o->gpa + (uint64_t)(p - o->buf);
}

static void
header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	put32(t + 4, len);
	put8(t + 8, rev);
	memcpy(t + 10, OEM_ID, 6);
	memcpy(t + 16, OEM_TABLE_ID, 8);
	put32(t + 24, OEM_REVISION);
	memcpy(t + 28, CREATOR_ID, 4);
	put32(t + 32, CREATOR_REV);
}

static void
finish(uint8_t *t)
{
	uint32_t len = t[4] | t[5] << 8 | t[6] << 16 | (uint32_t)t[7] << 24;

	t[9] = 0;
	t[9] = checksum(t, len);
}

static void
gas(uint8_t *p, uint8_t space, uint8_t bits, uint8_t access, uint64_t addr)
{
	put8(p, space);
	put8(p + 1, bits);
	put8(p + 2, 0);
	put8(p + 3, access);
	put64(p + 4, addr);
}

static uint8_t *
build_fadt(struct out *o, uint64_t facs, uint64_t dsdt)
{
	uint8_t *t;

	if ((t = take(o, FADT_LEN, 8)) == NULL)
		return NULL;
	header(t, "FACP", FADT_LEN, 6);
	put32(t + 36, (uint32_t)facs);
	put32(t + 40, (uint32_t)dsdt);
	put16(t + 46, SCI_IRQ);
	put32(t + 48, 0);		/* SMI_CMD: ACPI is always enabled */
	put32(t + 56, PORT_PM1A_EVT);
	put32(t + 64, PORT_PM1A_CNT);
	put32(t + 76, PORT_PM_TMR);
	put32(t + 80, PORT_GPE0_BLK);
	put8(t + 88, 4);		/* PM1_EVT_LEN */
	put8(t + 89, 2);		/* PM1_CNT_LEN */
	put8(t + 91, 4);		/* PM_TMR_LEN */
	put8(t + 92, GPE0_BLK_LEN);
	put16(t + 96, 101);		/* P_LVL2_LAT: no C2 */
	put16(t + 98, 1001);		/* P_LVL3_LAT: no C3 */
	put16(t + 109, BOOT_LEGACY_DEVICES | BOOT_8042 | BOOT_VGA_NOT_PRESENT);
	put32(t + 112, FADT_WBINVD | FADT_PROC_C1 | FADT_SLP_BUTTON |
	    FADT_FIX_RTC | FADT_TMR_VAL_EXT | FADT_RESET_REG_SUP);
	gas(t + 116, GAS_SYSTEM_IO, 8, GAS_ACCESS_BYTE, PORT_RESET);
	put8(t + 128, RESET_VALUE);
	put8(t + 131, 0);		/* FADT minor version: 6.0 */
	put64(t + 132, facs);
	put64(t + 140, dsdt);
	gas(t + 148, GAS_SYSTEM_IO, 32, GAS_ACCESS_WORD, PORT_PM1A_EVT);
	gas(t + 172, GAS_SYSTEM_IO, 16, GAS_ACCESS_WORD, PORT_PM1A_CNT);
	gas(t + 208, GAS_SYSTEM_IO, 32, GAS_ACCESS_DWORD, PORT_PM_TMR);
	gas(t + 220, GAS_SYSTEM_IO, 8 * GPE0_BLK_LEN, GAS_ACCESS_BYTE,
	    PORT_GPE0_BLK);
	memcpy(t + 268, "HYVE\0\0\0\0", 8);	/* hypervisor vendor */
	finish(t);
	return t;
}

static uint8_t *
build_facs(struct out *o)
{
	uint8_t *t;

	if ((t = take(o, FACS_LEN, 64)) == NULL)
		return NULL;
	memcpy(t, "FACS", 4);
	put32(t + 4, FACS_LEN);
	put8(t + 32, 2);		/* version */
	return t;
}

static uint8_t *
build_madt(struct out *o, int ncpus, const uint8_t *ids)
{
	int maxid = ncpus - 1;

	size_t len = HDR_LEN + 8 + 8 * (size_t)ncpus + 12 + 2 * 10 + 6;
	uint8_t *t, *p;

	if ((t = take(o, len, 8)) == NULL)
		return NULL;
	header(t, "APIC", (uint32_t)len, 5);
	put32(t + 36, (uint32_t)LAPIC_BASE);
	put32(t + 40, MADT_PCAT_COMPAT);
	p = t + 44;
	for (int i = 0; i < ncpus; i++, p += 8) {
		put8(p, MADT_LAPIC);
		put8(p + 1, 8);
		put8(p + 2, (uint8_t)i);	/* processor uid */
		put8(p + 3, ids ? ids[i] : (uint8_t)i);	/* APIC id */
		if (ids && ids[i] > maxid)
			maxid = ids[i];
		put32(p + 4, 1);		/* enabled */
	}
	put8(p, MADT_IOAPIC);
	put8(p + 1, 12);
	put8(p + 2, (uint8_t)(maxid + 1));	/* id: after the LAPIC ids */
	put32(p + 4, (uint32_t)IOAPIC_BASE);
	put32(p + 8, 0);			/* GSI base */
	p += 12;
	/* The PIT's IRQ 0 is wired to pin 2, as on a PC. */
	put8(p, MADT_ISO);
	put8(p + 1, 10);
	put8(p + 2, 0);				/* ISA bus */
	put8(p + 3, 0);
	put32(p + 4, 2);
	put16(p + 8, 0);			/* bus conforming */
	p += 10;
	put8(p, MADT_ISO);
	put8(p + 1, 10);
	put8(p + 2, 0);
	put8(p + 3, SCI_IRQ);
	put32(p + 4, SCI_IRQ);
	put16(p + 8, MPS_ACTIVE_HIGH | MPS_LEVEL);
	p += 10;
	put8(p, MADT_LAPIC_NMI);
	put8(p + 1, 6);
	put8(p + 2, 0xFF);			/* all processors */
	put16(p + 3, 0);
	put8(p + 5, 1);				/* LINT1 */
	finish(t);
	return t;
}

static uint8_t *
build_mcfg(struct out *o, uint64_t ecam)
{
	uint8_t *t;

	if ((t = take(o, MCFG_LEN, 8)) == NULL)
		return NULL;
	header(t, "MCFG", MCFG_LEN, 1);
	put64(t + 44, ecam);
	put16(t + 52, 0);		/* segment */
	put8(t + 54, 0);		/* start bus */
	put8(t + 55, 0);		/* end bus */
	finish(t);
	return t;
}

static void
dsdt_pci_crs(struct aml *a, const struct acpi_machine *m)
{
	uint16_t io_max = m->io_end ? (uint16_t)(m->io_end - 1) : 0xFFFF;

	aml_name(a, "_CRS");
	aml_buffer(a);
	aml_res_word_bus(a, 0, 0);
	aml_res_io(a, PORT_PCI_CONF_ADDR, PORT_PCI_CONF_ADDR, 1, 8);
	aml_res_word_io(a, 0x0000, PORT_PCI_CONF_ADDR - 1);
	aml_res_word_io(a, m->io_base, io_max);
	aml_res_dword_mem(a, (uint32_t)m->mmio32_base,
	    (uint32_t)(m->mmio32_end - 1));
	if (m->mmio64_end > m->mmio64_base)
		aml_res_qword_mem(a, m->mmio64_base, m->mmio64_end - 1);
	aml_res_end(a);
	aml_close(a);
}

/* Each slot's INTA-INTD go straight to IOAPIC pins 16-23, swizzled. */
static void
dsdt_pci_prt(struct aml *a, const struct acpi_machine *m)
{
	int n = 0;

	for (int s = 0; s < 32; s++)
		if (m->pci_slots[s])
			n++;
	aml_name(a, "_PRT");
	aml_package(a, (uint8_t)(n * 4));
	for (int s = 0; s < 32; s++) {
		if (!m->pci_slots[s])
			continue;
		for (int pin = 0; pin < 4; pin++) {
			aml_package(a, 4);
			aml_int(a, (uint64_t)s << 16 | 0xFFFF);
			aml_int(a, (uint64_t)pin);
			aml_int(a, 0);		/* source: GSI */
			aml_int(a, (uint64_t)((s + pin) % PCI_INTX_GSI_COUNT +
			    PCI_INTX_GSI_BASE));
			aml_close(a);
		}
	}
	aml_close(a);
}

static void
dsdt_isa_dev(struct aml *a, const char *name, const char *hid, int uid)
{
	aml_device(a, name);
	aml_name(a, "_HID");
	aml_eisaid(a, hid);
	if (uid >= 0) {
		aml_name(a, "_UID");
		aml_int(a, (uint64_t)uid);
	}
	aml_name(a, "_CRS");
	aml_buffer(a);
}

static void
dsdt_lpc(struct aml *a, const struct acpi_machine *m)
{
	static const struct {
		uint16_t	port;
		uint8_t		irq;
	} com[4] = {
		{ PORT_COM1, IRQ_COM1 }, { PORT_COM2, IRQ_COM2 },
		{ PORT_COM3, IRQ_COM3 }, { PORT_COM4, IRQ_COM4 },
	};
	char name[16];

	aml_device(a, "LPC_");
	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0A05");	/* generic ISA container */
	for (int i = 0; i < 4; i++) {
		if (!(m->com_mask & (1U << i)))
			continue;
		snprintf(name, sizeof(name), "COM%d", i + 1);
		dsdt_isa_dev(a, name, "PNP0501", i + 1);
		aml_res_io(a, com[i].port, com[i].port, 1, 8);
		aml_res_irq_noflags(a, com[i].irq);
		aml_res_end(a);
		aml_close(a);		/* _CRS */
		aml_close(a);		/* device */
	}
	dsdt_isa_dev(a, "RTC_", "PNP0B00", -1);
	aml_res_io(a, PORT_RTC, PORT_RTC, 1, 2);
	aml_res_irq_noflags(a, IRQ_RTC);
	aml_res_end(a);
	aml_close(a);
	aml_close(a);
	dsdt_isa_dev(a, "KBD_", "PNP0303", -1);
	aml_res_io(a, PORT_I8042_DATA, PORT_I8042_DATA, 1, 1);
	aml_res_io(a, PORT_I8042_CMD, PORT_I8042_CMD, 1, 1);
	aml_res_irq_noflags(a, 1);
	aml_res_end(a);
	aml_close(a);
	aml_close(a);
	aml_close(a);			/* LPC_ */
}

/*
 * Microsoft's "Virtual Machine Generation ID": ADDR gives the 16 bytes'
 * address as two DWords, low first; Notify 0x80 tells the guest they
 * changed (Linux's vmgenid driver then reseeds its RNG).  The IDs are
 * those Linux matches and the _CID Windows looks for.
 */
static void
dsdt_vmgenid(struct aml *a, uint64_t gpa)
{
	aml_device(a, "VGEN");
	aml_name(a, "_HID");
	aml_string(a, "VMGENCTR");
	aml_name(a, "_CID");
	aml_string(a, "VM_GEN_COUNTER");
	aml_name(a, "_DDN");
	aml_string(a, "VM_Gen_Counter");
	aml_name(a, "ADDR");
	aml_package(a, 2);
	aml_int(a, gpa & 0xFFFFFFFF);
	aml_int(a, gpa >> 32);
	aml_close(a);
	aml_close(a);
}

/* GPE0 bit GPE_VMGENID (pm.c) runs _E00, an edge GPE. */
static void
dsdt_gpe(struct aml *a)
{
	char name[8];

	snprintf(name, sizeof(name), "_E%02X", GPE_VMGENID);
	aml_scope(a, "\\_GPE");
	aml_method(a, name, 0);
	aml_notify(a, "\\_SB_.VGEN", 0x80);
	aml_close(a);
	aml_close(a);
}

static void
dsdt_body(struct aml *a, const struct acpi_machine *m)
{
	char name[16];

	aml_scope(a, "\\_SB_");
	for (int i = 0; i < m->ncpus; i++) {
		snprintf(name, sizeof(name), "C%03X", i);
		aml_device(a, name);
		aml_name(a, "_HID");
		aml_string(a, "ACPI0007");
		aml_name(a, "_UID");
		aml_int(a, (uint64_t)i);	/* = MADT processor uid */
		aml_close(a);
	}
	aml_device(a, "PC00");
	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0A08");
	aml_name(a, "_CID");
	aml_eisaid(a, "PNP0A03");
	aml_name(a, "_SEG");
	aml_int(a, 0);
	aml_name(a, "_BBN");
	aml_int(a, 0);
	aml_name(a, "_UID");
	aml_int(a, 0);
	dsdt_pci_crs(a, m);
	dsdt_pci_prt(a, m);
	dsdt_lpc(a, m);
	aml_close(a);			/* PC00 */
	if (m->vmgenid_gpa != 0)
		dsdt_vmgenid(a, m->vmgenid_gpa);
	aml_close(a);			/* \_SB_ */
	if (m->vmgenid_gpa != 0)
		dsdt_gpe(a);

	aml_name(a, "\\_S5_");
	aml_package(a, 4);
	aml_int(a, SLP_TYP_S5);
	aml_int(a, SLP_TYP_S5);
	aml_int(a, 0);
	aml_int(a, 0);
	aml_close(a);
}

static uint8_t *
build_dsdt(struct out *o, const struct acpi_machine *m)
{
	struct aml a;
	uint8_t *t;

	if ((t = take(o, HDR_LEN, 8)) == NULL)
		return NULL;
	aml_init(&a, t + HDR_LEN, o->len - o->off);
	dsdt_body(&a, m);
	if (a.err || a.depth != 0) {
		if (a.err != -ENOSPC)
			hlog("acpi: DSDT: AML emitter error %d (a bug in "
			    "core/acpi.c)", a.err);
		return NULL;
	}
	o->off += a.len;
	header(t, "DSDT", (uint32_t)(HDR_LEN + a.len), 2);
	finish(t);
	return t;
}

static int
check_machine(const struct acpi_machine *m)
{
	if (m->ncpus < 1 || m->ncpus > MAX_CPUS) {
		hlog("acpi: %d CPUs: the MADT describes 1 to %d; "
		    "lower \"cpus\"", m->ncpus, MAX_CPUS);
		return -EINVAL;
	}
	if (m->mmio32_end <= m->mmio32_base || m->mmio32_end > (1ULL << 32)) {
		hlog("acpi: 32-bit PCI window %#llx-%#llx is empty or above "
		    "4 GiB; fix the memory layout",
		    (unsigned long long)m->mmio32_base,
		    (unsigned long long)m->mmio32_end);
		return -EINVAL;
	}
	if (m->io_end != 0 && m->io_end <= m->io_base) {
		hlog("acpi: PCI I/O window %#x-%#x is empty; fix the layout",
		    m->io_base, m->io_end);
		return -EINVAL;
	}
	return 0;
}

int
acpi_build(const struct acpi_machine *m, uint8_t *buf, size_t len,
    uint64_t base_gpa)
{
	struct out o = { .buf = buf, .len = len, .gpa = base_gpa };
	uint8_t *rsdp, *xsdt, *rsdt, *fadt, *facs, *madt, *mcfg, *dsdt;
	uint8_t *tabs[3];
	int err;

	if ((err = check_machine(m)) != 0)
		return err;
	if ((base_gpa & 15) != 0 || base_gpa + len < base_gpa ||
	    base_gpa + len > (1ULL << 32)) {
		hlog("acpi: table area %#llx+%#zx must be 16-byte aligned and "
		    "below 4 GiB", (unsigned long long)base_gpa, len);
		return -EINVAL;
	}
	if ((rsdp = take(&o, RSDP_LEN, 16)) == NULL ||
	    (xsdt = take(&o, HDR_LEN + 3 * 8, 8)) == NULL ||
	    (rsdt = take(&o, HDR_LEN + 3 * 4, 8)) == NULL ||
	    (facs = build_facs(&o)) == NULL ||
	    (madt = build_madt(&o, m->ncpus, m->apic_ids)) == NULL ||
	    (mcfg = build_mcfg(&o, m->ecam_base)) == NULL ||
	    (dsdt = build_dsdt(&o, m)) == NULL ||
	    (fadt = build_fadt(&o, gpa_of(&o, facs), gpa_of(&o, dsdt))) == NULL) {
		hlog("acpi: tables for %d CPUs do not fit in %zu bytes; "
		    "enlarge the ACPI area", m->ncpus, len);
		return -ENOSPC;
	}

	tabs[0] = fadt;
	tabs[1] = madt;
	tabs[2] = mcfg;
	header(xsdt, "XSDT", HDR_LEN + 3 * 8, 1);
	header(rsdt, "RSDT", HDR_LEN + 3 * 4, 1);
	for (int i = 0; i < 3; i++) {
		put64(xsdt + HDR_LEN + 8 * i, gpa_of(&o, tabs[i]));
		put32(rsdt + HDR_LEN + 4 * i, (uint32_t)gpa_of(&o, tabs[i]));
	}
	finish(xsdt);
	finish(rsdt);

	memcpy(rsdp, "RSD PTR ", 8);
	memcpy(rsdp + 9, OEM_ID, 6);
	put8(rsdp + 15, 2);
	put32(rsdp + 16, (uint32_t)gpa_of(&o, rsdt));
	put32(rsdp + 20, RSDP_LEN);
	put64(rsdp + 24, gpa_of(&o, xsdt));
	rsdp[8] = checksum(rsdp, 20);
	rsdp[32] = checksum(rsdp, RSDP_LEN);
	return (int)o.off;
}
