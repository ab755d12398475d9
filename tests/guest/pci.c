/* PCI config space through mechanism #1 (0xCF8) and ECAM (from the MCFG). */
#include "guest.h"

uint32_t
pci_cf8_read(int bus, int slot, int fn, int off)
{
	outl(0xCF8, 0x80000000u | (uint32_t)bus << 16 | (uint32_t)slot << 11 |
	    (uint32_t)fn << 8 | (off & 0xFC));
	return inl(0xCFC);
}

uint32_t
pci_ecam_read(int bus, int slot, int fn, int off)
{
	return mmio_read32(acpi.ecam + ((uint64_t)bus << 20) +
	    ((uint64_t)slot << 15) + ((uint64_t)fn << 12) + (off & 0xFFC));
}

static int
ecam_usable(void)
{
	return acpi.ecam && acpi.ecam_bus_start == 0 &&
	    acpi.ecam + (1u << 20) <= 0x100000000ULL;
}

int
pci_has_cf8(void)
{
	int slot;

	for (slot = 0; slot < 32; slot++)
		if ((pci_cf8_read(0, slot, 0, 0) & 0xFFFF) != 0xFFFF)
			return 1;
	return 0;
}

static uint32_t
cfg_read(int cf8, int slot, int fn, int off)
{
	return cf8 ? pci_cf8_read(0, slot, fn, off) : pci_ecam_read(0, slot, fn, off);
}

/* Slot from pci.KEY=N on the command line; -1 for "none". */
static int
slot_arg(const char *key, int def)
{
	char buf[16];
	const char *end;
	unsigned long v;

	if (!cmdline_value(key, buf, sizeof(buf)))
		return def;
	if (!strncmp(buf, "none", 5))
		return -1;
	v = strtoul_(buf, &end, 0);
	if (*end || v > 31)
		return -2;
	return (int)v;
}

static int
check_class(int cf8, int slot, uint32_t want, const char *what, char *why,
    size_t len)
{
	uint32_t id = cfg_read(cf8, slot, 0, 0), cls;

	if ((id & 0xFFFF) == 0xFFFF) {
		snprintf_(why, len, "no %s at 00:%02x.0 (nothing there; set "
		    "pci.%s=SLOT)", what, slot, what);
		return -1;
	}
	cls = cfg_read(cf8, slot, 0, 8) >> 16;
	if (cls != want) {
		snprintf_(why, len, "00:%02x.0 (%04x:%04x) has class %02x/%02x, "
		    "not the %s's %02x/%02x", slot, id & 0xFFFF, id >> 16,
		    cls >> 8, cls & 0xFF, what, want >> 8, want & 0xFF);
		return -1;
	}
	return 0;
}

int
test_pci(char *why, size_t len)
{
	int hb = slot_arg("pci.hostbridge", 0), lpc = slot_arg("pci.lpc", 31);
	int cf8 = pci_has_cf8(), ecam = ecam_usable(), slot, fn, off;
	uint32_t a, b;

	if (hb < 0 || lpc < -1) {
		snprintf_(why, len, "bad pci.hostbridge or pci.lpc on the "
		    "command line (want 0..31)");
		return FAIL;
	}
	if (!cf8 && !ecam) {
		snprintf_(why, len, "no PCI: nothing behind port 0xCF8 and no "
		    "usable MCFG");
		return SKIP;
	}
	if (check_class(cf8, hb, 0x0600, "hostbridge", why, len))
		return FAIL;
	if (lpc >= 0 && check_class(cf8, lpc, 0x0601, "lpc", why, len)) {
		if (!cf8) {
			snprintf_(why, len, "machine has no config mechanism "
			    "#1 and no LPC bridge at 00:%02x.0 (host bridge "
			    "found via ECAM)", lpc);
			return SKIP;
		}
		return FAIL;
	}
	if (!cf8 || !ecam)
		return PASS;
	for (slot = 0; slot < 32; slot++) {
		for (fn = 0; fn < 8; fn++) {
			for (off = 0; off < 0x40; off += 4) {
				a = pci_cf8_read(0, slot, fn, off);
				b = pci_ecam_read(0, slot, fn, off);
				if (a != b && off != 0x04) {	/* status may change */
					snprintf_(why, len, "00:%02x.%d offset "
					    "0x%02x: 0xCF8 reads 0x%08x, ECAM "
					    "at 0x%lx reads 0x%08x", slot, fn,
					    off, a, (unsigned long)acpi.ecam, b);
					return FAIL;
				}
				if (off == 0 && (a & 0xFFFF) == 0xFFFF)
					break;
			}
			if ((a & 0xFFFF) == 0xFFFF && fn == 0)
				break;
			if (fn == 0 && !(pci_cf8_read(0, slot, 0, 0x0C) & 0x800000))
				break;
		}
	}
	return PASS;
}

/* Prints every function on bus 0 (for the tour). */
void
pci_list(void)
{
	int cf8 = pci_has_cf8(), slot, fn;
	uint32_t id, cls;

	if (!cf8 && !ecam_usable()) {
		printf_("  none\n");
		return;
	}
	for (slot = 0; slot < 32; slot++) {
		for (fn = 0; fn < 8; fn++) {
			id = cfg_read(cf8, slot, fn, 0);
			if ((id & 0xFFFF) == 0xFFFF) {
				if (fn == 0)
					break;
				continue;
			}
			cls = cfg_read(cf8, slot, fn, 8);
			printf_("  00:%02x.%d %04x:%04x class %02x/%02x/%02x\n",
			    slot, fn, id & 0xFFFF, id >> 16, cls >> 24,
			    (cls >> 16) & 0xFF, (cls >> 8) & 0xFF);
			if (fn == 0 && !(cfg_read(cf8, slot, 0, 0x0C) & 0x800000))
				break;
		}
	}
}

/* Config access for the drivers: ECAM (plain MMIO from CPL 3) when usable. */
int
pci_usable(void)
{
	return ecam_usable() || pci_has_cf8();
}

uint32_t
pci_cfg_read(int slot, int fn, int off)
{
	if (ecam_usable())
		return pci_ecam_read(0, slot, fn, off);
	return pci_cf8_read(0, slot, fn, off);
}

static uint64_t
ecam_addr(int slot, int fn, int off)
{
	return acpi.ecam + ((uint64_t)slot << 15) + ((uint64_t)fn << 12) +
	    (off & 0xFFF);
}

static void
cf8_select(int slot, int fn, int off)
{
	outl(0xCF8, 0x80000000u | (uint32_t)slot << 11 | (uint32_t)fn << 8 |
	    (off & 0xFC));
}

void
pci_cfg_write16(int slot, int fn, int off, uint16_t v)
{
	if (ecam_usable()) {
		mmio_write16(ecam_addr(slot, fn, off & ~1), v);
		return;
	}
	cf8_select(slot, fn, off);
	outw((uint16_t)(0xCFC + (off & 2)), v);
}

void
pci_cfg_write32(int slot, int fn, int off, uint32_t v)
{
	if (ecam_usable()) {
		mmio_write32(ecam_addr(slot, fn, off & ~3), v);
		return;
	}
	cf8_select(slot, fn, off);
	outl(0xCFC, v);
}

/*
 * Maps [addr, addr + len) when it lies above 4 GiB: one page directory of
 * 2 MiB uncached user pages per GiB, from the four spare ones in entry.S.
 * A not-present PDPT entry is never cached, so no TLB flush is needed.
 */
extern uint64_t pdpt[512];
extern uint64_t pd_high[4][512];

int
map_high(uint64_t addr, uint64_t len)
{
	static unsigned int used;
	uint64_t g, i;

	if (len == 0)
		return 0;
	for (g = addr >> 30; g <= (addr + len - 1) >> 30; g++) {
		if (g >= 512)
			return -1;
		if (pdpt[g] & 1)
			continue;
		if (used >= 4)
			return -1;
		for (i = 0; i < 512; i++)
			pd_high[used][i] = (g << 30) | (i << 21) | 0x9f;
		barrier();
		pdpt[g] = (uint64_t)(uintptr_t)pd_high[used] | 0x7;
		used++;
	}
	barrier();
	return 0;
}
