/* ACPI: find the RSDP, check every table, read the FADT, MADT and MCFG. */
#include "guest.h"

struct acpi_info acpi;
static int scan_rc = -2;
static char scan_why[160] = "not scanned";

static uint8_t rd8(uint64_t a) { return *(volatile uint8_t *)a; }
static uint16_t rd16(uint64_t a) { uint16_t v; memcpy(&v, (void *)a, 2); return v; }
static uint32_t rd32(uint64_t a) { uint32_t v; memcpy(&v, (void *)a, 4); return v; }
static uint64_t rd64(uint64_t a) { uint64_t v; memcpy(&v, (void *)a, 8); return v; }

static int
sum_ok(uint64_t a, uint32_t len)
{
	uint8_t s = 0;

	while (len--)
		s += rd8(a++);
	return s == 0;
}

static int
is_rsdp(uint64_t a)
{
	return !memcmp((void *)a, "RSD PTR ", 8) && sum_ok(a, 20);
}

static uint64_t
find_rsdp(void)
{
	uint64_t a, ebda;

	if (start_info.rsdp_paddr)
		return start_info.rsdp_paddr < 0xC0000000 ? start_info.rsdp_paddr : 0;
	ebda = (uint64_t)rd16(0x40E) << 4;
	if (ebda >= 0x80000 && ebda < 0xA0000)
		for (a = ebda; a < ebda + 1024; a += 16)
			if (is_rsdp(a))
				return a;
	for (a = 0xE0000; a < 0x100000; a += 16)
		if (is_rsdp(a))
			return a;
	return 0;
}

/* A table header at a sane address with a sane length and checksum. */
static int
table_ok(uint64_t a, char *why, size_t len)
{
	uint32_t tlen;

	if (a == 0 || a >= 0xFFF00000) {
		snprintf_(why, len, "table address 0x%lx is outside RAM",
		    (unsigned long)a);
		return 0;
	}
	tlen = rd32(a + 4);
	if (tlen < 36 || tlen > (1u << 20)) {
		snprintf_(why, len, "table %c%c%c%c at 0x%lx has bad length %u",
		    rd8(a), rd8(a + 1), rd8(a + 2), rd8(a + 3),
		    (unsigned long)a, tlen);
		return 0;
	}
	if (!sum_ok(a, tlen)) {
		snprintf_(why, len, "table %c%c%c%c at 0x%lx has a bad checksum",
		    rd8(a), rd8(a + 1), rd8(a + 2), rd8(a + 3), (unsigned long)a);
		return 0;
	}
	return 1;
}

/* SLP_TYP of \_S5 from a "Name (_S5, Package () { a, ... })" in the DSDT. */
static int
find_s5(uint64_t dsdt)
{
	uint32_t len = rd32(dsdt + 4), i;
	uint64_t p;
	uint8_t lead;

	for (i = 36; i + 8 < len; i++) {
		p = dsdt + i;
		if (memcmp((void *)p, "_S5_", 4) || rd8(p + 4) != 0x12)
			continue;
		p += 5;
		lead = rd8(p);
		p += 1 + (lead >> 6);	/* PkgLength */
		p++;			/* NumElements */
		if (p >= dsdt + len)
			return -1;
		switch (rd8(p)) {
		case 0x00:
			return 0;
		case 0x01:
			return 1;
		case 0x0A:
			return rd8(p + 1);
		default:
			return -1;
		}
	}
	return -1;
}

static void
parse_fadt(uint64_t f)
{
	uint32_t len = rd32(f + 4);
	uint64_t x;

	acpi.fadt = f;
	acpi.dsdt = rd32(f + 40);
	if (len >= 148 && (x = rd64(f + 140)) != 0)
		acpi.dsdt = x;
	acpi.smi_cmd = rd32(f + 48);
	acpi.acpi_enable = rd8(f + 52);
	acpi.pm1a_evt = (uint16_t)rd32(f + 56);
	acpi.pm1a_cnt = (uint16_t)rd32(f + 64);
	acpi.pm_tmr = rd32(f + 76);
	acpi.pm_tmr_len = rd8(f + 91);
	if (acpi.pm_tmr_len < 4)
		acpi.pm_tmr = 0;
	if (len >= 116) {
		acpi.boot_arch = rd16(f + 109);
		acpi.flags = rd32(f + 112);
	}
	if (len >= 129 && (acpi.flags & (1u << 10))) {
		acpi.reset_ok = 1;
		acpi.reset_space = rd8(f + 116);
		acpi.reset_addr = rd64(f + 120);
		acpi.reset_val = rd8(f + 128);
	}
}

static void
parse_madt(uint64_t m)
{
	uint32_t len = rd32(m + 4), off, id, flags;
	uint8_t type, elen;

	acpi.madt = m;
	for (off = 44; off + 2 <= len; off += elen) {
		type = rd8(m + off);
		elen = rd8(m + off + 1);
		if (elen < 2 || off + elen > len)
			break;
		if (type == 0 && elen >= 8) {
			id = rd8(m + off + 3);
			flags = rd32(m + off + 4);
		} else if (type == 9 && elen >= 16) {
			id = rd32(m + off + 4);
			flags = rd32(m + off + 8);
		} else {
			continue;
		}
		if (!(flags & 1))
			continue;
		if (acpi.ncpus < MAX_CPUS)
			acpi.apic_id[acpi.ncpus] = id > 255 ? 255 : (uint8_t)id;
		acpi.ncpus++;
	}
}

static void
parse_mcfg(uint64_t m)
{
	uint32_t len = rd32(m + 4), off;

	acpi.mcfg = m;
	for (off = 44; off + 16 <= len; off += 16) {
		if (rd16(m + off + 8) != 0)
			continue;
		acpi.ecam = rd64(m + off);
		acpi.ecam_bus_start = rd8(m + off + 10);
		acpi.ecam_bus_end = rd8(m + off + 11);
		break;
	}
}

static int
scan(char *why, size_t len)
{
	uint64_t r, sdt, t;
	uint32_t rlen, n, i, esz;

	r = find_rsdp();
	if (!r) {
		snprintf_(why, len, "no RSDP (hvm_start_info.rsdp_paddr 0x%lx, "
		    "none in 0xE0000-0xFFFFF)", (unsigned long)start_info.rsdp_paddr);
		return -2;
	}
	acpi.found = 1;
	acpi.rsdp = r;
	if (!is_rsdp(r)) {
		snprintf_(why, len, "RSDP at 0x%lx: bad signature or checksum",
		    (unsigned long)r);
		return -1;
	}
	sdt = rd32(r + 16);
	esz = 4;
	if (rd8(r + 15) >= 2) {
		rlen = rd32(r + 20);
		if (rlen < 36 || rlen > 4096 || !sum_ok(r, rlen)) {
			snprintf_(why, len, "RSDP at 0x%lx: bad extended "
			    "checksum or length %u", (unsigned long)r, rlen);
			return -1;
		}
		if (rd64(r + 24)) {
			sdt = rd64(r + 24);
			esz = 8;
		}
	}
	if (!table_ok(sdt, why, len))
		return -1;
	if (memcmp((void *)sdt, esz == 8 ? "XSDT" : "RSDT", 4)) {
		snprintf_(why, len, "%s at 0x%lx has the wrong signature",
		    esz == 8 ? "XSDT" : "RSDT", (unsigned long)sdt);
		return -1;
	}
	n = (rd32(sdt + 4) - 36) / esz;
	for (i = 0; i < n; i++) {
		t = esz == 8 ? rd64(sdt + 36 + 8 * i) : rd32(sdt + 36 + 4 * i);
		if (!table_ok(t, why, len))
			return -1;
		if (!memcmp((void *)t, "FACP", 4))
			parse_fadt(t);
		else if (!memcmp((void *)t, "APIC", 4))
			parse_madt(t);
		else if (!memcmp((void *)t, "MCFG", 4))
			parse_mcfg(t);
	}
	acpi.slp_typ_s5 = -1;
	if (acpi.dsdt) {
		if (!table_ok(acpi.dsdt, why, len))
			return -1;
		if (memcmp((void *)acpi.dsdt, "DSDT", 4)) {
			snprintf_(why, len, "DSDT at 0x%lx has the wrong "
			    "signature", (unsigned long)acpi.dsdt);
			return -1;
		}
		acpi.slp_typ_s5 = find_s5(acpi.dsdt);
	}
	return 0;
}

int
acpi_scan(char *why, size_t len)
{
	memset(&acpi, 0, sizeof(acpi));
	scan_rc = scan(scan_why, sizeof(scan_why));
	snprintf_(why, len, "%s", scan_why);
	return scan_rc;
}

int
test_acpi(char *why, size_t len)
{
	if (scan_rc) {
		snprintf_(why, len, "%s", scan_why);
		return FAIL;
	}
	if (!acpi.fadt) {
		snprintf_(why, len, "no FADT (FACP) in the XSDT");
		return FAIL;
	}
	if (!acpi.madt) {
		snprintf_(why, len, "no MADT (APIC) in the XSDT");
		return FAIL;
	}
	if (acpi.ncpus < 1 || acpi.ncpus > MAX_CPUS) {
		snprintf_(why, len, "MADT lists %u enabled LAPICs, want 1..%d",
		    acpi.ncpus, MAX_CPUS);
		return FAIL;
	}
	if (cpus_done && cpus_done != acpi.ncpus) {
		snprintf_(why, len, "MADT lists %u LAPICs but %u CPUs ran",
		    acpi.ncpus, cpus_done);
		return FAIL;
	}
	return PASS;
}
