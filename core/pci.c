/*
 * PCI bus 0: config mechanism #1 (0xCF8/0xCFC), ECAM, BAR sizing and
 * placement, INTx.  Emulations register in pci_devemus[], the virtio
 * devices of a backend in devclasses[].
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/pci_regs.h>

#include "core/config.h"
#include "core/devclass.h"
#include "core/devstate.h"
#include "core/layout.h"
#include "core/pci.h"
#include "core/snapshot.h"
#include "core/vm.h"
#include "lib/log.h"

extern const struct pci_devemu pci_de_hostbridge;
extern const struct pci_devemu pci_de_lpc;
extern const struct pci_devemu pci_de_vhost_user;

/* The PCI emulations hyve knows besides the device classes (devclass.c),
 * which come in their place, at NULL. */
static const struct pci_devemu *const pci_devemus[] = {
	&pci_de_hostbridge,
	&pci_de_lpc,
	NULL,
	&pci_de_vhost_user,
};
#define NDEVEMUS (int)(sizeof(pci_devemus) / sizeof(pci_devemus[0]))

static struct pci_dev *slots[PCI_SLOTS][PCI_FUNCS];
static uint32_t cf8;			/* mechanism #1 address latch */
static uint64_t next_io = PCI_PIO_BASE, next_mem32 = PCI_MMIO32_BASE, next_mem64;

/* The i-th emulation, in -s help's order; NULL past the last. */
static const struct pci_devemu *
emul_at(int i)
{
	int j, n;

	for (j = 0; j < NDEVEMUS; j++) {
		if (pci_devemus[j] != NULL) {
			if (i-- == 0)
				return pci_devemus[j];
			continue;
		}
		for (n = 0; devclasses[n] != NULL; n++)
			if (i-- == 0)
				return &devclasses[n]->pe;
	}
	return NULL;
}

static const struct pci_devemu *
pci_emul_find(const char *name)
{
	const struct pci_devemu *pe;
	int i;

	for (i = 0; (pe = emul_at(i)) != NULL; i++)
		if (strcmp(pe->name, name) == 0)
			return pe;
	return NULL;
}

void
pci_print_emulations(FILE *f)
{
	const struct pci_devemu *pe;
	char usage[256];
	int i;

	fprintf(f, "PCI emulations (-s slot[:func],emulation[,conf]):\n");
	for (i = 0; (pe = emul_at(i)) != NULL; i++) {
		if (pe->usage_fn != NULL)
			pe->usage_fn(usage, sizeof(usage));
		fprintf(f, "  %-12s %s\n", pe->name, pe->usage_fn != NULL ?
		    usage : pe->usage);
	}
}

struct pci_dev *
pci_find(int bus, int slot, int func)
{
	if (bus != 0 || slot < 0 || slot >= PCI_SLOTS || func < 0 ||
	    func >= PCI_FUNCS)
		return NULL;
	return slots[slot][func];
}

void
pci_slots_used(int used[PCI_SLOTS])
{
	int s, f;

	for (s = 0; s < PCI_SLOTS; s++) {
		used[s] = 0;
		for (f = 0; f < PCI_FUNCS; f++)
			if (slots[s][f] != NULL)
				used[s] = 1;
	}
}

void
pci_reset_all(void)
{
	int s, f;

	for (s = 0; s < PCI_SLOTS; s++)
		for (f = 0; f < PCI_FUNCS; f++) {
			if (slots[s][f] != NULL && slots[s][f]->pe->fini != NULL)
				slots[s][f]->pe->fini(slots[s][f]);
			free(slots[s][f]);
			slots[s][f] = NULL;
		}
	cf8 = 0;
	lpc_reset();
	next_io = PCI_PIO_BASE;
	next_mem32 = PCI_MMIO32_BASE;
	next_mem64 = 0;
}

void pci_set_cfg8(struct pci_dev *pd, int off, uint8_t v) { pd->cfg[off] = v; }
void pci_set_cfg16(struct pci_dev *pd, int off, uint16_t v) { memcpy(&pd->cfg[off], &v, 2); }
void pci_set_cfg32(struct pci_dev *pd, int off, uint32_t v) { memcpy(&pd->cfg[off], &v, 4); }
uint8_t pci_get_cfg8(const struct pci_dev *pd, int off) { return pd->cfg[off]; }

uint16_t
pci_get_cfg16(const struct pci_dev *pd, int off)
{
	uint16_t v;

	memcpy(&v, &pd->cfg[off], 2);
	return v;
}

uint32_t
pci_get_cfg32(const struct pci_dev *pd, int off)
{
	uint32_t v;

	memcpy(&v, &pd->cfg[off], 4);
	return v;
}

/* --- BARs ---------------------------------------------------------------- */

/*
 * Each mapped BAR registers with its own small trampoline so the handler
 * knows the BAR index.
 */
struct bar_ref {
	struct pci_dev	*pd;
	int		idx;
};
static struct bar_ref bar_refs[PCI_SLOTS][PCI_FUNCS][6];

static int
bar_access(void *opaque, uint64_t off, int size, bool write, uint64_t *val)
{
	struct bar_ref *r = opaque;
	struct pci_dev *pd = r->pd;

	if (write) {
		if (pd->pe->barwrite == NULL)
			return 0;
		return pd->pe->barwrite(pd, r->idx, off, size, *val);
	}
	if (pd->pe->barread == NULL) {
		*val = ~0ULL;
		return 0;
	}
	return pd->pe->barread(pd, r->idx, off, size, val);
}

static bool
bar_decoding(const struct pci_dev *pd, const struct pci_bar *b)
{
	uint16_t cmd = pci_get_cfg16(pd, PCI_COMMAND);

	if (b->type == PCIBAR_IO)
		return cmd & PCI_COMMAND_IO;
	return cmd & PCI_COMMAND_MEMORY;
}

static void
bar_unmap(struct pci_dev *pd, int idx)
{
	struct pci_bar *b = &pd->bar[idx];

	if (!b->mapped)
		return;
	bus_unregister(b->type == PCIBAR_IO ? &pd->vm->pio : &pd->vm->mmio,
	    b->addr);
	b->mapped = false;
	if (pd->pe->barmap != NULL)
		pd->pe->barmap(pd, idx, false, b->addr);
}

static void
bar_map(struct pci_dev *pd, int idx)
{
	struct pci_bar *b = &pd->bar[idx];
	struct bar_ref *r = &bar_refs[pd->slot][pd->func][idx];
	int rc;

	if (b->mapped || b->addr == 0 || !bar_decoding(pd, b))
		return;
	/* A BAR placed over RAM or past the address space is not decoded. */
	if (b->type != PCIBAR_IO && vm_gpa(pd->vm, b->addr, 1) != NULL)
		return;
	r->pd = pd;
	r->idx = idx;
	if (b->type == PCIBAR_IO)
		rc = bus_register(&pd->vm->pio, b->addr, b->size, bar_access, r,
		    pd->name);
	else
		rc = bus_register(&pd->vm->mmio, b->addr, b->size, bar_access, r,
		    pd->name);
	if (rc == 0) {
		b->mapped = true;
		if (pd->pe->barmap != NULL)
			pd->pe->barmap(pd, idx, true, b->addr);
	}
}

static void
bars_update(struct pci_dev *pd)
{
	int i;

	for (i = 0; i < 6; i++) {
		struct pci_bar *b = &pd->bar[i];

		if (b->type == PCIBAR_NONE)
			continue;
		if (b->mapped && !bar_decoding(pd, b))
			bar_unmap(pd, i);
		else if (!b->mapped)
			bar_map(pd, i);
	}
}

static uint64_t
align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

int
pci_alloc_bar(struct pci_dev *pd, int idx, enum pci_bar_type type,
    uint64_t size)
{
	struct pci_bar *b = &pd->bar[idx];
	uint64_t addr;
	uint32_t lo;
	uint16_t cmd;

	if (idx < 0 || idx > 5 || (type == PCIBAR_MEM64 && idx == 5) ||
	    size == 0 || (size & (size - 1)) != 0) {
		hlog("%s: bad BAR %d (size 0x%llx)", pd->name, idx,
		    (unsigned long long)size);
		return -EINVAL;
	}
	if (type == PCIBAR_IO) {
		if (size < 4)
			size = 4;
		addr = align_up(next_io, size);
		if (addr + size > PCI_PIO_END)
			goto full;
		next_io = addr + size;
		lo = addr | PCI_BASE_ADDRESS_SPACE_IO;
	} else {
		if (size < 4096)
			size = 4096;
		if (type == PCIBAR_MEM64) {
			if (next_mem64 == 0)
				next_mem64 = pd->vm->mmio64_base;
			addr = align_up(next_mem64, size);
			if (addr + size > pd->vm->mmio64_base + PCI_MMIO64_SIZE)
				goto full;
			next_mem64 = addr + size;
			lo = (uint32_t)addr | PCI_BASE_ADDRESS_MEM_TYPE_64;
		} else {
			addr = align_up(next_mem32, size);
			if (addr + size > PCI_MMIO32_END)
				goto full;
			next_mem32 = addr + size;
			lo = (uint32_t)addr;
		}
	}
	b->type = type;
	b->size = size;
	b->addr = addr;
	pci_set_cfg32(pd, PCI_BASE_ADDRESS_0 + 4 * idx, lo);
	if (type == PCIBAR_MEM64) {
		pci_set_cfg32(pd, PCI_BASE_ADDRESS_0 + 4 * (idx + 1), addr >> 32);
		pd->bar[idx + 1].type = PCIBAR_NONE;
	}
	cmd = pci_get_cfg16(pd, PCI_COMMAND);
	cmd |= type == PCIBAR_IO ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;
	pci_set_cfg16(pd, PCI_COMMAND, cmd);
	bar_map(pd, idx);
	return 0;
full:
	hlog("%s: no room left for BAR %d (0x%llx bytes)", pd->name, idx,
	    (unsigned long long)size);
	return -ENOSPC;
}

/* A guest write to a BAR register: sizing or moving. */
static void
bar_write(struct pci_dev *pd, int reg, uint32_t val)
{
	int idx = (reg - PCI_BASE_ADDRESS_0) / 4;
	struct pci_bar *b;
	uint64_t addr;

	/* The upper half of a 64-bit BAR. */
	if (idx > 0 && pd->bar[idx].type == PCIBAR_NONE &&
	    pd->bar[idx - 1].type == PCIBAR_MEM64) {
		b = &pd->bar[idx - 1];
		val &= (uint32_t)(~(b->size - 1) >> 32);
		pci_set_cfg32(pd, reg, val);
		addr = ((uint64_t)val << 32) |
		    (pci_get_cfg32(pd, reg - 4) & ~0xfU);
		idx--;
	} else {
		b = &pd->bar[idx];
		if (b->type == PCIBAR_NONE)
			return;
		if (b->type == PCIBAR_IO) {
			val = (val & ~(uint32_t)(b->size - 1) & 0xfffc) |
			    PCI_BASE_ADDRESS_SPACE_IO;
			addr = val & ~3U;
		} else {
			uint32_t flags = pci_get_cfg32(pd, reg) & 0xf;
			val = (val & ~(uint32_t)(b->size - 1) & ~0xfU) | flags;
			addr = val & ~0xfU;
			if (b->type == PCIBAR_MEM64)
				addr |= (uint64_t)pci_get_cfg32(pd, reg + 4) << 32;
		}
		pci_set_cfg32(pd, reg, val);
	}
	if (addr != b->addr) {
		bar_unmap(pd, idx);
		b->addr = addr;
		bar_map(pd, idx);
	}
}

/* --- config space -------------------------------------------------------- */

uint32_t
pci_cfg_read(struct pci_dev *pd, int off, int size)
{
	uint32_t v = 0;

	if (off < 0 || off + size > 4096 || (off & (size - 1)) != 0)
		return ~0U;
	if (pd->pe->cfgread != NULL && pd->pe->cfgread(pd, off, size, &v) == 0)
		return v;
	memcpy(&v, &pd->cfg[off], size);
	return v;
}

void
pci_cfg_write(struct pci_dev *pd, int off, int size, uint32_t val)
{
	int reg = off & ~3, shift = (off & 3) * 8;
	uint32_t old, mask;

	if (off < 0 || off + size > 4096 || (off & (size - 1)) != 0)
		return;
	if (pd->pe->cfgwrite != NULL && pd->pe->cfgwrite(pd, off, size, val) == 0)
		return;
	mask = size == 4 ? ~0U : ((1U << (size * 8)) - 1) << shift;
	old = pci_get_cfg32(pd, reg);
	val = (old & ~mask) | ((val << shift) & mask);

	switch (reg) {
	case PCI_COMMAND:
		/* Command is writable; status (upper half) is read-only here. */
		val = (old & 0xffff0000) | (val & 0x0547);
		pci_set_cfg32(pd, reg, val);
		bars_update(pd);
		break;
	case PCI_CACHE_LINE_SIZE:
		/* Cache line size and latency timer only. */
		pci_set_cfg32(pd, reg, (old & 0xffff0000) | (val & 0xffff));
		break;
	case PCI_BASE_ADDRESS_0 ... PCI_BASE_ADDRESS_5:
		bar_write(pd, reg, val);
		break;
	case PCI_INTERRUPT_LINE:
		pci_set_cfg32(pd, reg, (old & ~0xffU) | (val & 0xff));
		break;
	default:
		/* Everything else is read-only unless the emulation says so. */
		break;
	}
}

static struct pci_dev *
cf8_target(int *off)
{
	if (!(cf8 & 0x80000000U))
		return NULL;
	*off = (cf8 & 0xfc) | ((cf8 >> 16) & 0xf00);	/* AMD extended regs */
	return pci_find((cf8 >> 16) & 0xff, (cf8 >> 11) & 0x1f, (cf8 >> 8) & 7);
}

/*
 * 0xCF8 is the address latch, dword accesses only.  It is registered one
 * byte wide so that 0xCF9, the reset control register, stays free for pm.c.
 */
static int
cfg_addr(void *opaque, uint64_t off, int size, bool write, uint64_t *val)
{
	(void)opaque;
	(void)off;
	if (size != 4) {
		if (!write)
			*val = ~0ULL;
		return 0;
	}
	if (write)
		cf8 = *val;
	else
		*val = cf8;
	return 0;
}

static int
cfg_data(void *opaque, uint64_t off, int size, bool write, uint64_t *val)
{
	struct pci_dev *pd;
	int reg = 0;

	(void)opaque;
	pd = cf8_target(&reg);
	reg += off;
	if (pd == NULL) {
		if (!write)
			*val = ~0ULL;
		return 0;
	}
	if (write)
		pci_cfg_write(pd, reg, size, *val);
	else
		*val = pci_cfg_read(pd, reg, size);
	return 0;
}

static int
ecam_access(void *opaque, uint64_t off, int size, bool write, uint64_t *val)
{
	struct pci_dev *pd;
	int reg = off & 0xfff;

	(void)opaque;
	pd = pci_find(off >> 20, (off >> 15) & 0x1f, (off >> 12) & 7);
	if (pd == NULL || size > 4) {
		if (!write)
			*val = ~0ULL;
		return 0;
	}
	if (write)
		pci_cfg_write(pd, reg, size, *val);
	else
		*val = pci_cfg_read(pd, reg, size);
	return 0;
}

/* --- capabilities and INTx ------------------------------------------------ */

int
pci_add_cap(struct pci_dev *pd, const void *cap, int len)
{
	int off, last = 0, p, end = 0x40;

	if (len < 2)
		return -EINVAL;
	/* Capabilities follow each other from 0x40, each 4-byte aligned. */
	for (p = pd->cfg[PCI_CAPABILITY_LIST]; p != 0; p = pd->cfg[p + 1])
		last = p;
	if (last != 0)
		end = pd->cap_end;
	off = (end + 3) & ~3;
	if (off + len > 0x100)
		return -ENOSPC;
	memcpy(&pd->cfg[off], cap, len);
	pd->cfg[off + 1] = 0;
	if (last == 0)
		pd->cfg[PCI_CAPABILITY_LIST] = off;
	else
		pd->cfg[last + 1] = off;
	pd->cap_end = off + len;
	pci_set_cfg16(pd, PCI_STATUS, pci_get_cfg16(pd, PCI_STATUS) |
	    PCI_STATUS_CAP_LIST);
	return off;
}

int
pci_intx_gsi(int slot, int pin)
{
	return PCI_INTX_GSI_BASE + (slot + pin - 1) % PCI_INTX_GSI_COUNT;
}

void
pci_intx_request(struct pci_dev *pd)
{
	pd->intx_pin = 1;
	pd->intx_gsi = pci_intx_gsi(pd->slot, pd->intx_pin);
	pci_set_cfg8(pd, PCI_INTERRUPT_PIN, pd->intx_pin);
	pci_set_cfg8(pd, PCI_INTERRUPT_LINE, pd->intx_gsi);
}

void
pci_intx_assert(struct pci_dev *pd)
{
	if (pd->intx_pin != 0 &&
	    !(pci_get_cfg16(pd, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE))
		vm_irq_line(pd->vm, pd->intx_gsi, 1);
}

void
pci_intx_deassert(struct pci_dev *pd)
{
	if (pd->intx_pin != 0)
		vm_irq_line(pd->vm, pd->intx_gsi, 0);
}

/* --- creation from the config ---------------------------------------------- */

static const struct pci_devemu *
pci_node_emul(int slot, int func, const char *node)
{
	const struct pci_devemu *pe;
	const char *emul;
	char key[48];

	snprintf(key, sizeof(key), "%s.device", node);
	emul = config_get(key);
	if (emul == NULL) {
		hlog("%s: no device given (set %s)", node, key);
		return NULL;
	}
	pe = pci_emul_find(emul);
	if (pe == NULL)
		hlog("pci slot 0:%d:%d: unknown emulation '%s' (see -s help)",
		    slot, func, emul);
	return pe;
}

int
pci_check(void)
{
	const struct pci_devemu *pe;
	char node[32], name[48];
	int slot, func, rc;

	for (slot = 0; slot < PCI_SLOTS; slot++)
		for (func = 0; func < PCI_FUNCS; func++) {
			snprintf(node, sizeof(node), "pci.0.%d.%d", slot, func);
			if (!config_node_exists(node))
				continue;
			if ((pe = pci_node_emul(slot, func, node)) == NULL)
				return -EINVAL;
			snprintf(name, sizeof(name), "pci 0:%d:%d (%s)", slot,
			    func, pe->name);
			if (pe->check != NULL && (rc = pe->check(node, name)) < 0)
				return rc;
		}
	return 0;
}

static int
pci_create(struct vm *vm, int slot, int func)
{
	const struct pci_devemu *pe;
	struct pci_dev *pd;
	char node[32];

	snprintf(node, sizeof(node), "pci.0.%d.%d", slot, func);
	if ((pe = pci_node_emul(slot, func, node)) == NULL)
		return -ENOENT;
	pd = calloc(1, sizeof(*pd));
	if (pd == NULL)
		return -ENOMEM;
	pd->vm = vm;
	pd->pe = pe;
	pd->slot = slot;
	pd->func = func;
	snprintf(pd->name, sizeof(pd->name), "pci 0:%d:%d (%s)", slot, func,
	    pe->name);
	slots[slot][func] = pd;
	/* The emulation's init names the device in its own message. */
	return pe->init(vm, pd, node);
}

int
pci_init(struct vm *vm)
{
	int slot, func, rc, nfunc;
	char node[32];

	for (slot = 0; slot < PCI_SLOTS; slot++) {
		nfunc = 0;
		for (func = 0; func < PCI_FUNCS; func++) {
			snprintf(node, sizeof(node), "pci.0.%d.%d", slot, func);
			if (!config_node_exists(node))
				continue;
			if ((rc = pci_create(vm, slot, func)) < 0)
				return rc;
			nfunc++;
		}
		/* Multi-function devices must say so in function 0. */
		if (nfunc > 1 && slots[slot][0] != NULL)
			pci_set_cfg8(slots[slot][0], PCI_HEADER_TYPE,
			    pci_get_cfg8(slots[slot][0], PCI_HEADER_TYPE) | 0x80);
	}
	rc = vm_register_pio(vm, PORT_PCI_CONF_ADDR, 1, cfg_addr, NULL,
	    "pci config address");
	if (rc < 0)
		return rc;
	rc = vm_register_pio(vm, PORT_PCI_CONF_DATA, 4, cfg_data, NULL,
	    "pci config data");
	if (rc < 0)
		return rc;
	return vm_register_mmio(vm, PCI_ECAM_BASE, PCI_ECAM_SIZE, ecam_access,
	    NULL, "pci ecam");
}

/* --- snapshot ------------------------------------------------------------ */

#define SNAP_CFG_LEN	256

static int
bdf(const struct pci_dev *pd)
{
	return pd->bus << 8 | pd->slot << 3 | pd->func;
}

int
pci_save(struct vm *vm, struct snap *s)
{
	int sl, f, rc = 0;

	(void)vm;
	for (sl = 0; sl < PCI_SLOTS; sl++)
		for (f = 0; f < PCI_FUNCS && rc == 0; f++)
			if (slots[sl][f] != NULL)
				rc = snap_add(s, SNAP_DEV_PCICFG,
				    bdf(slots[sl][f]), slots[sl][f]->cfg,
				    SNAP_CFG_LEN);
	if (rc == 0)
		rc = snap_add(s, SNAP_DEV_PCIHOST, 0, &cf8, sizeof(cf8));
	return rc;
}

/*
 * Replays the saved header as guest writes, so that BARs are mapped where
 * the guest put them and read-only registers stay this hyve's: the BARs
 * first, the command register (which turns decoding on) last.  The
 * capabilities are copied as they were: a write there can have effects
 * (virtio's PCI_CFG window writes to the BAR), and what they stand for
 * (MSI-X enable) is restored by the device's own load.
 */
static void
cfg_replay(struct pci_dev *pd, const uint8_t *cfg)
{
	uint32_t v;
	int off;

	memcpy(pd->cfg + PCI_STD_HEADER_SIZEOF, cfg + PCI_STD_HEADER_SIZEOF,
	    SNAP_CFG_LEN - PCI_STD_HEADER_SIZEOF);

	for (off = PCI_BASE_ADDRESS_0; off <= PCI_BASE_ADDRESS_5; off += 4) {
		memcpy(&v, cfg + off, 4);
		pci_cfg_write(pd, off, 4, v);
	}
	for (off = 0; off < PCI_STD_HEADER_SIZEOF; off += 4) {
		if (off == PCI_COMMAND || (off >= PCI_BASE_ADDRESS_0 &&
		    off <= PCI_BASE_ADDRESS_5))
			continue;
		memcpy(&v, cfg + off, 4);
		pci_cfg_write(pd, off, 4, v);
	}
	memcpy(&v, cfg + PCI_COMMAND, 4);
	pci_cfg_write(pd, PCI_COMMAND, 2, v & 0xffff);
}

int
pci_load(struct vm *vm, const struct snap *s)
{
	const uint32_t *latch;
	const uint8_t *cfg;
	int sl, f;

	(void)vm;
	for (sl = 0; sl < PCI_SLOTS; sl++)
		for (f = 0; f < PCI_FUNCS; f++) {
			struct pci_dev *pd = slots[sl][f];

			if (pd == NULL)
				continue;
			if ((cfg = snap_get(s, SNAP_DEV_PCICFG, bdf(pd),
			    SNAP_CFG_LEN, pd->name)) == NULL)
				return -EINVAL;
			cfg_replay(pd, cfg);
		}
	if ((latch = snap_get(s, SNAP_DEV_PCIHOST, 0, sizeof(*latch),
	    "PCI address latch (0xcf8)")) == NULL)
		return -EINVAL;
	cf8 = *latch;
	return 0;
}
