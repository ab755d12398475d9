/*
 * virtio-pci modern transport and split virtqueues for the test guest.
 * Devices are found on bus 0, their BARs used where the VMM placed them,
 * and every queue gets its own MSI-X vector; the IDT stubs in entry.S
 * count those interrupts in irq_count[] and send the EOI.
 */
#include <linux/pci_regs.h>

#include "virtio.h"

#define PCI_VENDOR_REDHAT	0x1AF4
#define COMMON(d, o)		((d)->common + VIRTIO_PCI_COMMON_##o)

const char *
virtio_type_name(uint16_t type)
{
	switch (type) {
	case VIRTIO_ID_NET:
		return "virtio-net";
	case VIRTIO_ID_BLOCK:
		return "virtio-blk";
	case VIRTIO_ID_CONSOLE:
		return "virtio-console";
	case VIRTIO_ID_RNG:
		return "virtio-rng";
	case VIRTIO_ID_VSOCK:
		return "virtio-vsock";
	default:
		return "virtio";
	}
}

/* The virtio type of 00:slot.fn, or -1 when it is not a virtio device. */
static int
virtio_type(int slot, int fn)
{
	uint32_t id = pci_cfg_read(slot, fn, 0);
	uint16_t dev = id >> 16;

	if ((id & 0xFFFF) != PCI_VENDOR_REDHAT)
		return -1;
	if (dev >= 0x1040 && dev <= 0x107F)
		return dev - 0x1040;
	if (dev >= 0x1000 && dev <= 0x103F)	/* transitional: subsystem id */
		return pci_cfg_read(slot, fn, PCI_SUBSYSTEM_VENDOR_ID) >> 16;
	return -1;
}

/* The nth (from 0) device of a type on bus 0: 0 and slot/fn, or -1. */
int
vdev_find(uint16_t type, int nth, int *slot, int *fn)
{
	int s, f;

	if (!pci_usable())
		return -1;
	for (s = 0; s < 32; s++) {
		for (f = 0; f < 8; f++) {
			if ((pci_cfg_read(s, f, 0) & 0xFFFF) == 0xFFFF) {
				if (f == 0)
					break;
				continue;
			}
			if (virtio_type(s, f) == type && nth-- == 0) {
				*slot = s;
				*fn = f;
				return 0;
			}
			if (f == 0 && !(pci_cfg_read(s, 0, 0x0C) & 0x800000))
				break;
		}
	}
	return -1;
}

static void
read_bars(struct vdev *d)
{
	uint32_t lo;
	int i;

	for (i = 0; i < 6; i++) {
		d->bar[i] = 0;
		lo = pci_cfg_read(d->slot, d->fn, PCI_BASE_ADDRESS_0 + 4 * i);
		if (lo & PCI_BASE_ADDRESS_SPACE_IO)
			continue;
		d->bar[i] = lo & PCI_BASE_ADDRESS_MEM_MASK;
		if ((lo & PCI_BASE_ADDRESS_MEM_TYPE_MASK) ==
		    PCI_BASE_ADDRESS_MEM_TYPE_64 && i < 5) {
			d->bar[i] |= (uint64_t)pci_cfg_read(d->slot, d->fn,
			    PCI_BASE_ADDRESS_0 + 4 * (i + 1)) << 32;
			d->bar[++i] = 0;
		}
	}
}

/* The address of a virtio structure, or 0 if its BAR is unusable. */
static uint64_t
cap_addr(struct vdev *d, int ptr, uint32_t *length)
{
	uint8_t bar = pci_cfg_read(d->slot, d->fn, ptr + 4) & 0xFF;
	uint32_t off = pci_cfg_read(d->slot, d->fn, ptr + 8);
	uint64_t a;

	*length = pci_cfg_read(d->slot, d->fn, ptr + 12);
	if (bar > 5 || d->bar[bar] == 0)
		return 0;
	a = d->bar[bar] + off;
	if (a >= 0x100000000ULL && map_high(a, *length) < 0)
		return 0;
	return a;
}

static void
walk_caps(struct vdev *d)
{
	uint32_t hdr, length;
	uint64_t a;
	int ptr, n;
	uint8_t type;

	if (!(pci_cfg_read(d->slot, d->fn, PCI_COMMAND) >> 16 &
	    PCI_STATUS_CAP_LIST))
		return;
	ptr = pci_cfg_read(d->slot, d->fn, PCI_CAPABILITY_LIST) & 0xFC;
	for (n = 0; ptr >= 0x40 && n < 48; n++) {
		hdr = pci_cfg_read(d->slot, d->fn, ptr);
		if ((hdr & 0xFF) == PCI_CAP_ID_MSIX && !d->msix_cap)
			d->msix_cap = ptr;
		if ((hdr & 0xFF) == PCI_CAP_ID_VNDR) {
			type = hdr >> 24;
			a = cap_addr(d, ptr, &length);
			/* The first usable structure of each type wins. */
			if (!a)
				;
			else if (type == VIRTIO_PCI_CAP_COMMON_CFG && !d->common &&
			    length >= sizeof(struct virtio_pci_common_cfg))
				d->common = a;
			else if (type == VIRTIO_PCI_CAP_NOTIFY_CFG &&
			    !d->notify_base && ((hdr >> 16) & 0xFF) >= 20) {
				d->notify_base = a;
				d->notify_len = length;
				d->notify_mult = pci_cfg_read(d->slot, d->fn,
				    ptr + 16);
			} else if (type == VIRTIO_PCI_CAP_ISR_CFG && !d->isr)
				d->isr = a;
			else if (type == VIRTIO_PCI_CAP_DEVICE_CFG && !d->devcfg) {
				d->devcfg = a;
				d->devcfg_len = length;
			}
		}
		ptr = (hdr >> 8) & 0xFC;
	}
}

static void
read_features(struct vdev *d)
{
	mmio_write32(COMMON(d, DFSELECT), 0);
	d->offered = mmio_read32(COMMON(d, DF));
	mmio_write32(COMMON(d, DFSELECT), 1);
	d->offered |= (uint64_t)mmio_read32(COMMON(d, DF)) << 32;
}

/* Finds the structures of 00:slot.fn and turns on memory and bus master. */
int
vdev_probe(struct vdev *d, int slot, int fn, char *why, size_t len)
{
	uint32_t t;
	uint16_t cmd;
	int type = virtio_type(slot, fn);

	memset(d, 0, sizeof(*d));
	d->slot = slot;
	d->fn = fn;
	d->type = type < 0 ? 0 : (uint16_t)type;
	d->name = virtio_type_name(d->type);
	d->devno = d->type == VIRTIO_ID_RNG ? 0 : d->type == VIRTIO_ID_BLOCK ?
	    1 : d->type == VIRTIO_ID_NET ? 2 : 3;
	d->cfg_msix = VIRTIO_MSI_NO_VECTOR;
	read_bars(d);
	cmd = pci_cfg_read(slot, fn, PCI_COMMAND) & 0xFFFF;
	pci_cfg_write16(slot, fn, PCI_COMMAND, cmd | PCI_COMMAND_MEMORY |
	    PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
	walk_caps(d);
	if (!d->common || !d->notify_base || !d->isr) {
		snprintf_(why, len, "%s at 00:%02x.%d: no usable common/notify/"
		    "ISR capability (common 0x%lx notify 0x%lx isr 0x%lx; BAR "
		    "unset or above what the guest maps?)", d->name, slot, fn,
		    (unsigned long)d->common, (unsigned long)d->notify_base,
		    (unsigned long)d->isr);
		return -1;
	}
	if (d->msix_cap) {
		t = pci_cfg_read(slot, fn, d->msix_cap);
		d->msix_n = ((t >> 16) & PCI_MSIX_FLAGS_QSIZE) + 1;
		t = pci_cfg_read(slot, fn, d->msix_cap + PCI_MSIX_TABLE);
		if (d->bar[t & PCI_MSIX_TABLE_BIR])
			d->msix_table = d->bar[t & PCI_MSIX_TABLE_BIR] +
			    (t & PCI_MSIX_TABLE_OFFSET);
		if (d->msix_table >= 0x100000000ULL &&
		    map_high(d->msix_table, 16u * d->msix_n) < 0)
			d->msix_table = 0;
	}
	read_features(d);
	return 0;
}

uint8_t
vdev_status(struct vdev *d)
{
	return mmio_read8(COMMON(d, STATUS));
}

void
vdev_reset(struct vdev *d)
{
	uint64_t end = now_us() + 1000000;

	mmio_write8(COMMON(d, STATUS), 0);
	while (mmio_read8(COMMON(d, STATUS)) != 0 && now_us() < end)
		cpu_relax();
}

static void
set_status(struct vdev *d, uint8_t bits)
{
	mmio_write8(COMMON(d, STATUS), vdev_status(d) | bits);
}

/* MSI-X entry e: to this CPU's LAPIC, vector VEC_BASE + 4 * devno + e. */
static void
msix_entry(struct vdev *d, unsigned int e)
{
	uint64_t a = d->msix_table + 16 * e;
	uint32_t apic = mmio_read32(LAPIC + 0x20) >> 24;

	mmio_write32(a + PCI_MSIX_ENTRY_LOWER_ADDR, 0xFEE00000u | apic << 12);
	mmio_write32(a + PCI_MSIX_ENTRY_UPPER_ADDR, 0);
	mmio_write32(a + PCI_MSIX_ENTRY_DATA, VEC_BASE + 4 * d->devno + e);
	mmio_write32(a + PCI_MSIX_ENTRY_VECTOR_CTRL, 0);
}

static int
msix_setup(struct vdev *d, unsigned int nq, char *why, size_t len)
{
	uint16_t ctrl;
	unsigned int e;

	if (!d->msix_cap || !d->msix_table) {
		snprintf_(why, len, "%s at 00:%02x.%d has no usable MSI-X "
		    "capability", d->name, d->slot, d->fn);
		return -1;
	}
	/* Fewer entries than queues + config (QEMU's vhost-user-rng-pci
	 * has one): everything shares entry 0, as Linux does too. */
	d->shared_vec = d->msix_n < nq + 1;
	lapic_enable();
	ctrl = pci_cfg_read(d->slot, d->fn, d->msix_cap) >> 16;
	ctrl &= ~PCI_MSIX_FLAGS_QSIZE;
	pci_cfg_write16(d->slot, d->fn, d->msix_cap + PCI_MSIX_FLAGS,
	    ctrl | PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	for (e = 0; e <= (d->shared_vec ? 0 : nq); e++)
		msix_entry(d, e);
	pci_cfg_write16(d->slot, d->fn, d->msix_cap + PCI_MSIX_FLAGS,
	    (ctrl | PCI_MSIX_FLAGS_ENABLE) & ~PCI_MSIX_FLAGS_MASKALL);
	d->cfg_vector = VEC_BASE + 4 * d->devno;
	mmio_write16(COMMON(d, MSIX), 0);
	d->cfg_msix = mmio_read16(COMMON(d, MSIX));
	if (d->cfg_msix != 0) {
		snprintf_(why, len, "%s at 00:%02x.%d refused MSI-X entry 0 "
		    "for config changes (reads back 0x%x)", d->name, d->slot,
		    d->fn, d->cfg_msix);
		return -1;
	}
	return 0;
}

static int
vq_setup(struct vdev *d, unsigned int i, char *why, size_t len)
{
	struct vq *q = &d->vq[i];
	uint16_t max, size, msix, noff;
	uint64_t a;
	unsigned int k;

	mmio_write16(COMMON(d, Q_SELECT), (uint16_t)i);
	max = mmio_read16(COMMON(d, Q_SIZE));
	if (max == 0) {
		snprintf_(why, len, "%s: queue %u does not exist (size 0)",
		    d->name, i);
		return -1;
	}
	for (size = VQ_MAX; size > max; size >>= 1)
		;
	memset(&d->mem[i], 0, sizeof(d->mem[i]));
	memset(q, 0, sizeof(*q));
	q->index = (uint16_t)i;
	q->size = size;
	q->desc = (struct vring_desc *)d->mem[i].b;
	q->avail = (struct vring_avail *)(d->mem[i].b + 2048);
	q->used = (struct vring_used *)(d->mem[i].b + 4096);
	q->msix = d->poll ? VIRTIO_MSI_NO_VECTOR :
	    d->shared_vec ? 0 : (uint16_t)(i + 1);
	if (d->poll)
		q->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	q->vector = (uint8_t)(VEC_BASE + 4 * d->devno +
	    (d->shared_vec ? 0 : i + 1));
	q->irq_mark = irq_count[q->vector];
	for (k = 0; k < size; k++)
		q->next[k] = (uint16_t)(k + 1);
	q->nfree = size;
	mmio_write16(COMMON(d, Q_SIZE), size);
	a = (uintptr_t)q->desc;
	mmio_write32(COMMON(d, Q_DESCLO), (uint32_t)a);
	mmio_write32(COMMON(d, Q_DESCHI), (uint32_t)(a >> 32));
	a = (uintptr_t)q->avail;
	mmio_write32(COMMON(d, Q_AVAILLO), (uint32_t)a);
	mmio_write32(COMMON(d, Q_AVAILHI), (uint32_t)(a >> 32));
	a = (uintptr_t)q->used;
	mmio_write32(COMMON(d, Q_USEDLO), (uint32_t)a);
	mmio_write32(COMMON(d, Q_USEDHI), (uint32_t)(a >> 32));
	mmio_write16(COMMON(d, Q_MSIX), q->msix);
	msix = mmio_read16(COMMON(d, Q_MSIX));
	if (msix != q->msix) {
		snprintf_(why, len, "%s: queue %u refused MSI-X entry 0x%x "
		    "(reads back 0x%x)", d->name, i, q->msix, msix);
		return -1;
	}
	noff = mmio_read16(COMMON(d, Q_NOFF));
	if ((uint64_t)noff * d->notify_mult + 2 > d->notify_len) {
		snprintf_(why, len, "%s: queue %u notify offset %u * %u is "
		    "outside the %u-byte notify region", d->name, i, noff,
		    d->notify_mult, d->notify_len);
		return -1;
	}
	q->notify = d->notify_base + (uint64_t)noff * d->notify_mult;
	mmio_write16(COMMON(d, Q_ENABLE), 1);
	return 0;
}

/*
 * The init sequence of virtio 1.x 3.1.1: reset, ACKNOWLEDGE, DRIVER,
 * features (VERSION_1 and what the caller wants, if offered),
 * FEATURES_OK read back, MSI-X, nq queues, DRIVER_OK.
 */
int
vdev_init(struct vdev *d, uint64_t want, unsigned int nq, char *why,
    size_t len)
{
	uint16_t numq;
	unsigned int i;

	if (nq > VDEV_MAXQ)
		return -1;
	vdev_reset(d);
	if (vdev_status(d) != 0) {
		snprintf_(why, len, "%s at 00:%02x.%d: status stays 0x%x after "
		    "reset", d->name, d->slot, d->fn, vdev_status(d));
		return -1;
	}
	set_status(d, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	set_status(d, VIRTIO_CONFIG_S_DRIVER);
	read_features(d);
	if (!(d->offered & (1ULL << VIRTIO_F_VERSION_1))) {
		snprintf_(why, len, "%s at 00:%02x.%d does not offer "
		    "VIRTIO_F_VERSION_1 (features 0x%lx)", d->name, d->slot,
		    d->fn, (unsigned long)d->offered);
		return -1;
	}
	d->features = d->offered & (want | 1ULL << VIRTIO_F_VERSION_1);
	mmio_write32(COMMON(d, GFSELECT), 0);
	mmio_write32(COMMON(d, GF), (uint32_t)d->features);
	mmio_write32(COMMON(d, GFSELECT), 1);
	mmio_write32(COMMON(d, GF), (uint32_t)(d->features >> 32));
	set_status(d, VIRTIO_CONFIG_S_FEATURES_OK);
	if (!(vdev_status(d) & VIRTIO_CONFIG_S_FEATURES_OK)) {
		snprintf_(why, len, "%s: device cleared FEATURES_OK for "
		    "features 0x%lx", d->name, (unsigned long)d->features);
		return -1;
	}
	if (msix_setup(d, nq, why, len) < 0)
		return -1;
	numq = mmio_read16(COMMON(d, NUMQ));
	if (numq < nq) {
		snprintf_(why, len, "%s: device has %u queues, need %u",
		    d->name, numq, nq);
		return -1;
	}
	d->nq = nq;
	for (i = 0; i < nq; i++)
		if (vq_setup(d, i, why, len) < 0)
			return -1;
	set_status(d, VIRTIO_CONFIG_S_DRIVER_OK);
	if (vdev_status(d) & (VIRTIO_CONFIG_S_NEEDS_RESET |
	    VIRTIO_CONFIG_S_FAILED)) {
		snprintf_(why, len, "%s: status 0x%x right after DRIVER_OK",
		    d->name, vdev_status(d));
		return -1;
	}
	return 0;
}

/* Device config, read until config_generation is stable. */
uint32_t
vdev_cfg32(struct vdev *d, unsigned int off)
{
	if (!d->devcfg || off + 4 > d->devcfg_len)
		return 0;
	return mmio_read32(d->devcfg + off);
}

uint64_t
vdev_cfg64(struct vdev *d, unsigned int off)
{
	uint64_t v;
	uint8_t gen;
	int tries = 100;

	if (!d->devcfg || off + 8 > d->devcfg_len)
		return 0;
	do {
		gen = mmio_read8(COMMON(d, CFGGENERATION));
		v = mmio_read32(d->devcfg + off) |
		    (uint64_t)mmio_read32(d->devcfg + off + 4) << 32;
	} while (gen != mmio_read8(COMMON(d, CFGGENERATION)) && --tries);
	return v;
}

/* Puts a chain of n buffers in the avail ring; returns its head. */
int
vq_add(struct vq *q, const struct vbuf *b, unsigned int n)
{
	uint16_t head = q->free_head, i = head;
	unsigned int k;

	if (n == 0 || n > q->nfree)
		return -1;
	for (k = 0; k < n; k++) {
		q->desc[i].addr = (uintptr_t)b[k].addr;
		q->desc[i].len = b[k].len;
		q->desc[i].flags = (b[k].write ? VRING_DESC_F_WRITE : 0) |
		    (k + 1 < n ? VRING_DESC_F_NEXT : 0);
		q->desc[i].next = q->next[i];
		if (k + 1 < n)
			i = q->next[i];
	}
	q->free_head = q->next[i];
	q->nfree -= n;
	q->chain_len[head] = (uint16_t)n;
	q->avail->ring[q->avail_idx % q->size] = head;
	barrier();
	q->avail->idx = ++q->avail_idx;
	return head;
}

void
vq_kick(struct vq *q)
{
	mb();
	mmio_write16(q->notify, q->index);
}

/* Polling drivers: no kick while the device says it is still busy. */
void
vq_kick_if_wanted(struct vq *q)
{
	mb();
	if (!(*(volatile uint16_t *)&q->used->flags & VRING_USED_F_NO_NOTIFY))
		mmio_write16(q->notify, q->index);
}

int
vq_pending(struct vq *q)
{
	return *(volatile uint16_t *)&q->used->idx != q->last_used;
}

/* Takes one used entry: its head and length, VQ_EMPTY or VQ_BADID. */
int
vq_used(struct vq *q, uint32_t *len)
{
	struct vring_used_elem e;
	uint16_t tail, k;

	if (!vq_pending(q))
		return VQ_EMPTY;
	barrier();
	e = q->used->ring[q->last_used % q->size];
	if (e.id >= q->size || q->chain_len[e.id] == 0)
		return VQ_BADID;
	q->last_used++;
	for (tail = (uint16_t)e.id, k = 1; k < q->chain_len[e.id]; k++)
		tail = q->next[tail];
	q->next[tail] = q->free_head;
	q->free_head = (uint16_t)e.id;
	q->nfree += q->chain_len[e.id];
	q->chain_len[e.id] = 0;
	if (len)
		*len = e.len;
	return (int)e.id;
}

/*
 * Halts until an interrupt, at most about us (the LAPIC timer wakes us).
 * The timer is periodic, not one-shot: SYS_HLT's "sti; hlt" relies on the
 * STI shadow to take a pending interrupt only once halted, and the lab
 * VM's emulated SVM (QEMU/TCG under nested KVM) does not always keep it:
 * it delivered the timer interrupt between sti and hlt, and the one-shot
 * timer then left the vCPU halted for good.  The next period wakes it.
 */
void
irq_sleep(uint64_t us)
{
	uint64_t n = us * 1000 / 16;	/* bus clock taken as 1 GHz, /16 */

	if (n > 0xFFFFFFFF)
		n = 0xFFFFFFFF;
	lapic_enable();
	mmio_write32(LAPIC + 0x3E0, 0x3);
	mmio_write32(LAPIC + 0x320, TIMER_VECTOR | 1u << 17);	/* periodic */
	mmio_write32(LAPIC + 0x380, n ? (uint32_t)n : 1);
	syscall2(SYS_HLT, 0, 0);
	mmio_write32(LAPIC + 0x380, 0);
}

/*
 * Waits for one used entry, at most us.  With irq, also for an MSI-X
 * interrupt of the queue's since the ring was last seen empty: one
 * interrupt may stand for several entries, and it may have come while we
 * waited on another queue (an rx queue fills while we wait for tx), so an
 * interrupt counted before this call still covers what is pending now.
 * Interrupts are only taken inside SYS_HLT, so none can be counted between
 * seeing the ring empty and taking the mark.  Without irq, polls at CPL 3.
 */
int
vq_wait(struct vq *q, int irq, uint64_t us, uint32_t *len)
{
	uint64_t end = now_us() + us;

	for (;;) {
		/* The count before the look at the ring: a completion's
		 * interrupt that comes in between is not taken for one
		 * that came before it (and waited for again). */
		uint32_t seen = irq_count[q->vector];

		if (!vq_pending(q))
			q->irq_mark = seen;
		else if (!irq || irq_count[q->vector] != q->irq_mark)
			return vq_used(q, len);
		if (now_us() >= end)
			break;
		if (irq)
			irq_sleep(10000);
		else
			cpu_relax();
	}
	if (vq_pending(q)) {
		vq_used(q, len);
		return VQ_NOIRQ;
	}
	return VQ_EMPTY;
}

/*
 * Finds and initialises the first device of a type for a test.  Returns
 * PASS when ready; SKIP when there is none, unless the test was named on
 * the command line (then FAIL); FAIL when it does not initialise.
 */
int
vdev_open(struct vdev *d, uint16_t type, const char *test, uint64_t want,
    unsigned int nq, char *why, size_t len)
{
	return vdev_open_poll(d, type, test, want, nq, 0, why, len);
}

/* The same, with poll set: the queues get no MSI-X vector and ask the
 * device not to interrupt (VRING_AVAIL_F_NO_INTERRUPT). */
int
vdev_open_poll(struct vdev *d, uint16_t type, const char *test, uint64_t want,
    unsigned int nq, int poll, char *why, size_t len)
{
	int slot, fn;

	if (vdev_find(type, 0, &slot, &fn) < 0) {
		snprintf_(why, len, "no %s device found on PCI bus 0 (add one "
		    "to run %s)", virtio_type_name(type), test);
		return test_explicit ? FAIL : SKIP;
	}
	if (vdev_probe(d, slot, fn, why, len) < 0)
		return FAIL;
	d->poll = poll;
	if (vdev_init(d, want, nq, why, len) < 0)
		return FAIL;
	return PASS;
}

/* For the tour: every virtio device on bus 0 and the features it offers. */
void
virtio_list(void)
{
	static struct vdev d;
	char why[160];
	int s, f, t, n = 0;

	if (!pci_usable()) {
		printf_("  none (no PCI)\n");
		return;
	}
	for (s = 0; s < 32; s++) {
		for (f = 0; f < 8; f++) {
			if ((pci_cfg_read(s, f, 0) & 0xFFFF) == 0xFFFF) {
				if (f == 0)
					break;
				continue;
			}
			if ((t = virtio_type(s, f)) >= 0) {
				n++;
				if (vdev_probe(&d, s, f, why, sizeof(why)) < 0)
					printf_("  %s\n", why);
				else
					printf_("  00:%02x.%d %s (type %d), "
					    "features 0x%lx, MSI-X %u\n", s, f,
					    d.name, t,
					    (unsigned long)d.offered, d.msix_n);
			}
			if (f == 0 && !(pci_cfg_read(s, 0, 0x0C) & 0x800000))
				break;
		}
	}
	if (!n)
		printf_("  none\n");
}
