/*
 * virtio-pci modern transport for devices served by vhost-user backends:
 * each device class (devclass.c) spawning its backend, and the generic
 * vhost-user (connecting to a backend someone else started).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_pci.h>

#include "core/backend.h"
#include "core/config.h"
#include "core/devstate.h"
#include "core/evloop.h"
#include "core/irq.h"
#include "core/pci.h"
#include "core/ramfill.h"
#include "core/snapshot.h"
#include "core/supervisor.h"
#include "core/virtio_pci.h"
#include "core/vm.h"
#include "ipc/vhost_user.h"
#include "lib/log.h"
#include "lib/util.h"

#define QUEUE_MAX_SIZE	256
/* Transport and ring features the core passes through, plus device bits. */
#define FEATURES_MASK	(0xffffffull | 1ull << VIRTIO_RING_F_INDIRECT_DESC | \
	1ull << VIRTIO_RING_F_EVENT_IDX | 1ull << VIRTIO_F_VERSION_1)

/* Devices named so far, per class: blk0, blk1, ... */
static int class_count[DEVCLASS_MAX];

/* --- interrupts ------------------------------------------------------------ */

static bool
vec_usable(struct vpci *v, unsigned vec)
{
	return v->msix_on && !v->msix_fmask && vec < v->nvec &&
	    !(v->vec[vec].ctrl & 1);
}

static void
intx_watch(int fd, void *arg);

/* Routes every queue's call eventfd to where it must go now. */
static void
update_irqs(struct vpci *v)
{
	unsigned i;

	for (i = 0; i < v->nq; i++) {
		struct vpci_queue *q = &v->q[i];
		int want = -1, gsi = -1;

		if (v->msix_on && vec_usable(v, q->vector)) {
			struct vpci_vec *e = &v->vec[q->vector];

			irq_set_msi(v->vm, e->gsi, e->addr, e->data);
			want = q->call;
			gsi = e->gsi;
		}
		if (q->irqfd >= 0 && (want != q->irqfd || gsi != q->irqfd_gsi)) {
			irq_irqfd_deassign(v->vm, q->irqfd_gsi, q->irqfd);
			q->irqfd = -1;
		}
		if (want >= 0 && q->irqfd < 0 &&
		    irq_irqfd_assign(v->vm, gsi, want) == 0) {
			q->irqfd = want;
			q->irqfd_gsi = gsi;
		}
		/* Without MSI-X the core itself turns calls into INTx. */
		evloop_del(q->call);
		if (!v->msix_on && q->started)
			evloop_add(q->call, intx_watch, v);
	}
}

static void
config_irq(struct vpci *v)
{
	if (!v->msix_on) {
		v->isr |= VIRTIO_PCI_ISR_CONFIG;
		pci_intx_assert(v->pd);
		return;
	}
	if (v->config_vector >= v->nvec)
		return;
	if (!vec_usable(v, v->config_vector)) {
		v->pba |= 1ull << v->config_vector;
		v->config_pending = true;
		return;
	}
	irq_signal_msi(v->vm, v->vec[v->config_vector].addr,
	    v->vec[v->config_vector].data);
}

/* Delivers a config interrupt that waited for its vector's unmasking. */
static void
config_irq_pending(struct vpci *v)
{
	if (v->config_pending && vec_usable(v, v->config_vector)) {
		v->config_pending = false;
		v->pba &= ~(1ull << v->config_vector);
		irq_signal_msi(v->vm, v->vec[v->config_vector].addr,
		    v->vec[v->config_vector].data);
	}
}

static void
intx_watch(int fd, void *arg)
{
	struct vpci *v = arg;
	uint64_t n;

	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return;
	pthread_mutex_lock(&v->vm->dev_lock);
	v->isr |= 1;
	pci_intx_assert(v->pd);
	/* The line stays up until the guest reads the ISR; until then more
	 * calls change nothing, and a backend that floods them must not
	 * make the core spin. */
	evloop_del(fd);
	pthread_mutex_unlock(&v->vm->dev_lock);
}

/* The guest read the ISR: watch the call eventfds again (INTx only). */
static void
intx_rearm(struct vpci *v)
{
	unsigned i;

	if (v->msix_on)
		return;
	for (i = 0; i < v->nq; i++) {
		if (!v->q[i].started)
			continue;
		evloop_del(v->q[i].call);
		evloop_add(v->q[i].call, intx_watch, v);
	}
}

/* The device cannot go on: tell the driver, which must reset it. */
bool
vpci_backend_ok(const struct vpci *v)
{
	return !v->sup.failed && !v->sup.down && v->vu.sock >= 0;
}

/* The device config changed (a new disk size): tell the driver. */
void
vpci_config_changed(struct vpci *v)
{
	v->cfg_gen++;
	if (v->status & VIRTIO_CONFIG_S_DRIVER_OK)
		config_irq(v);
}

void
vpci_needs_reset(struct vpci *v, const char *why)
{
	/* Once: a backend that keeps signalling must not flood the log. */
	if (v->status & VIRTIO_CONFIG_S_NEEDS_RESET)
		return;
	hlog("%s: %s; the guest must reset the device (DEVICE_NEEDS_RESET)",
	    v->name, why);
	v->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	if (v->status & VIRTIO_CONFIG_S_DRIVER_OK)
		config_irq(v);
}

static void
on_queue_error(int fd, void *arg)
{
	struct vpci *v = arg;
	uint64_t n;
	unsigned i;
	char why[64];

	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return;
	pthread_mutex_lock(&v->vm->dev_lock);
	for (i = 0; i < v->nq && v->q[i].err != fd; i++)
		;
	snprintf(why, sizeof(why), "the backend put queue %u in error", i);
	vpci_needs_reset(v, why);
	/* Heard once until the device is reset: no flood of wake-ups. */
	evloop_del(fd);
	pthread_mutex_unlock(&v->vm->dev_lock);
}

/* --- life cycle --------------------------------------------------------------- */

static void
queues_stop(struct vpci *v)
{
	unsigned i;
	uint16_t base;

	for (i = 0; i < v->nq; i++) {
		if (v->q[i].started && vpci_backend_ok(v))
			vuf_ring_stop(&v->vu, i, &base);
		v->q[i].started = false;
	}
}

static void
device_reset(struct vpci *v)
{
	unsigned i;

	queues_stop(v);
	v->held = false;
	if (vpci_backend_ok(v) && v->status != 0)
		vuf_reset(&v->vu);
	v->status = 0;
	v->drv_features = 0;
	v->dfsel = v->gfsel = 0;
	v->qsel = 0;
	v->config_vector = VIRTIO_MSI_NO_VECTOR;
	v->isr = 0;
	pci_intx_deassert(v->pd);
	for (i = 0; i < v->nq; i++) {
		struct vpci_queue *q = &v->q[i];
		uint64_t n;

		q->size = QUEUE_MAX_SIZE;
		q->vector = VIRTIO_MSI_NO_VECTOR;
		q->enable = 0;
		q->desc = q->avail = q->used = 0;
		/* Stale kicks and calls belong to the old rings. */
		while (read(q->kick, &n, sizeof(n)) == sizeof(n))
			;
		while (read(q->call, &n, sizeof(n)) == sizeof(n))
			;
		while (read(q->err, &n, sizeof(n)) == sizeof(n))
			;
		evloop_del(q->err);
		evloop_add(q->err, on_queue_error, v);
	}
	update_irqs(v);
}

static int
features_ok(struct vpci *v)
{
	uint64_t f = v->drv_features;

	if (f & ~v->dev_features) {
		hlog("%s: the driver accepted features 0x%llx the device did "
		    "not offer", v->name,
		    (unsigned long long)(f & ~v->dev_features));
		return -EINVAL;
	}
	if (!(f & (1ull << VIRTIO_F_VERSION_1))) {
		hlog("%s: the driver did not accept VIRTIO_F_VERSION_1 "
		    "(legacy drivers are not supported)", v->name);
		return -EINVAL;
	}
	if (v->sup.failed)
		return -EIO;
	/* A backend being restarted gets the features when it is back. */
	if (v->sup.down)
		return 0;
	return vuf_set_features(&v->vu, f | (1ull << VU_F_PROTOCOL_FEATURES));
}

/* The guest-physical used index of queue i, as the guest last saw it. */
static uint16_t
used_idx(struct vpci *v, unsigned i)
{
	uint16_t *p = vm_gpa(v->vm, v->q[i].used + 2, 2);

	return p ? __atomic_load_n(p, __ATOMIC_ACQUIRE) : 0;
}

/*
 * Gives the backend the running device: memory, inflight region, rings.
 * Used when the driver sets DRIVER_OK, and again for a backend that
 * replaces one (restart, swap) with the bases the old one stopped at, or
 * with NULL: the used indexes, when the old one died (its inflight
 * region then says which requests to run again).
 */
/* The guest's RAM to the backend; where it stays in a snapshot's file,
 * the backend's mappings registered for ramfill to serve. */
static int
mem_table(struct vpci *v)
{
	struct vuf_range rg[RAMFILL_MAX_RANGES];
	unsigned n;
	int uffd, rc;

	if (!ramfill_shared())
		return vuf_set_mem_table(&v->vu, v->vm);
	if ((rc = vuf_set_mem_table_shared(&v->vu, v->vm, &uffd, rg, &n)) < 0)
		return rc;
	/* Registered before any ring runs: no touch of the backend's comes
	 * first. */
	if ((rc = ramfill_watch(&v->vu, uffd, rg, n)) < 0)
		hlog("%s: its backend's guest memory cannot be served from the "
		    "snapshot: userfaultfd: %s", v->name, strerror(-rc));
	return rc;
}

static int
start_rings(struct vpci *v, const uint16_t *bases)
{
	unsigned i;
	int rc;

	if ((rc = mem_table(v)) < 0)
		return rc;
	if (v->vu.pfeatures & (1ull << VU_PF_INFLIGHT_SHMFD)) {
		if (v->infl.fd < 0 && (rc = vuf_get_inflight(&v->vu, v->nq,
		    QUEUE_MAX_SIZE, &v->infl)) < 0)
			return rc;
		if ((rc = vuf_set_inflight(&v->vu, &v->infl)) < 0)
			return rc;
	}
	/* Last queue first: a device's control queues come after its data
	 * queues (vsock's event queue, whose transport reset a new backend
	 * must give the driver before any packet). */
	for (i = v->nq; i-- > 0;) {
		struct vpci_queue *q = &v->q[i];
		struct vuf_ring r = {
			.num = q->size, .desc = q->desc, .avail = q->avail,
			.used = q->used, .kick = q->kick, .call = q->call,
			.err = q->err,
		};

		if (!q->enable)
			continue;
		r.base = bases ? bases[i] : used_idx(v, i);
		if ((rc = vuf_ring_start(&v->vu, v->vm, i, &r)) < 0)
			return rc;
		q->started = true;
	}
	return 0;
}

int
vpci_start_rings(struct vpci *v, const uint16_t *bases)
{
	int rc, rc2;

	/* A backend must not touch guest RAM a restore has not loaded
	 * yet: the first bases asked for stand, no ring has run since. */
	if (ramfill_busy()) {
		if (!v->held || !v->bases_held) {
			v->bases_held = bases != NULL;
			if (bases != NULL)
				memcpy(v->hbases, bases, v->nq * sizeof(*bases));
		}
		v->held = true;
		update_irqs(v);
		return 0;
	}
	/* The requests go out together and are acknowledged after: one
	 * wait for the backend, not one per request (each a process
	 * switch; a pause under hyvectl upgrade). */
	vuf_batch(&v->vu, true);
	rc = start_rings(v, bases);
	rc2 = vuf_batch(&v->vu, false);
	if (rc == 0)
		rc = rc2;
	if (rc < 0)
		return rc;
	update_irqs(v);
	return 0;
}

/* Replays the whole vhost-user setup on a new backend connection. */
int
vpci_replay(struct vpci *v, const uint16_t *bases)
{
	int rc;

	if (!(v->status & VIRTIO_CONFIG_S_FEATURES_OK))
		return 0;
	if ((rc = vuf_set_features(&v->vu, v->drv_features |
	    (1ull << VU_F_PROTOCOL_FEATURES))) < 0)
		return rc;
	if (!(v->status & VIRTIO_CONFIG_S_DRIVER_OK))
		return 0;
	return vpci_start_rings(v, bases);
}

/* Stops every running ring at a consistent point; bases get where. */
int
vpci_stop_rings(struct vpci *v, uint16_t *bases)
{
	unsigned i;
	int rc;

	for (i = 0; i < v->nq; i++) {
		bases[i] = 0;
		if (!v->q[i].started)
			continue;
		if ((rc = vuf_ring_stop(&v->vu, i, &bases[i])) < 0)
			return rc;
	}
	return 0;
}

static int
driver_ok(struct vpci *v)
{
	if (v->sup.failed)
		return -EIO;
	if (v->sup.down) {
		/* The restarted backend gets the rings then. */
		return 0;
	}
	return vpci_start_rings(v, NULL);
}

/* The backend died or hangs: the supervisor restarts it and replays the
 * device's state, so this is no reason to give up on the device. */
static bool
backend_gone(int rc)
{
	return rc == -ECONNRESET || rc == -EPIPE || rc == -ENOTCONN ||
	    rc == -EAGAIN;
}

static void
status_write(struct vpci *v, uint8_t val)
{
	uint8_t old = v->status;
	int rc;

	if (val == 0) {
		device_reset(v);
		return;
	}
	v->status = val | (old & VIRTIO_CONFIG_S_NEEDS_RESET);
	/* A backend that dies now gets the features with the replay. */
	if ((val & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    !(old & VIRTIO_CONFIG_S_FEATURES_OK) && (rc = features_ok(v)) < 0 &&
	    !backend_gone(rc))
		v->status &= ~VIRTIO_CONFIG_S_FEATURES_OK;
	if ((val & VIRTIO_CONFIG_S_DRIVER_OK) &&
	    !(old & VIRTIO_CONFIG_S_DRIVER_OK) && (rc = driver_ok(v)) < 0 &&
	    !backend_gone(rc))
		vpci_needs_reset(v, "the backend could not start the queues");
}

/* --- common configuration ------------------------------------------------- */

static uint64_t
common_read(struct vpci *v, uint64_t off, int size)
{
	uint8_t b[VPCI_COMMON_SIZE];
	struct vpci_queue *q = v->qsel < v->nq ? &v->q[v->qsel] : NULL;
	uint32_t u32;
	uint16_t u16;
	uint64_t val = 0;

	memset(b, 0, sizeof(b));
#define PUT32(o, x) do { u32 = (x); memcpy(&b[o], &u32, 4); } while (0)
#define PUT16(o, x) do { u16 = (x); memcpy(&b[o], &u16, 2); } while (0)
	PUT32(VIRTIO_PCI_COMMON_DFSELECT, v->dfsel);
	PUT32(VIRTIO_PCI_COMMON_DF, v->dfsel < 2 ?
	    (uint32_t)(v->dev_features >> (32 * v->dfsel)) : 0);
	PUT32(VIRTIO_PCI_COMMON_GFSELECT, v->gfsel);
	PUT32(VIRTIO_PCI_COMMON_GF, v->gfsel < 2 ?
	    (uint32_t)(v->drv_features >> (32 * v->gfsel)) : 0);
	PUT16(VIRTIO_PCI_COMMON_MSIX, v->config_vector);
	PUT16(VIRTIO_PCI_COMMON_NUMQ, v->nq);
	b[VIRTIO_PCI_COMMON_STATUS] = v->status;
	b[VIRTIO_PCI_COMMON_CFGGENERATION] = v->cfg_gen;
	PUT16(VIRTIO_PCI_COMMON_Q_SELECT, v->qsel);
	if (q != NULL) {
		PUT16(VIRTIO_PCI_COMMON_Q_SIZE, q->size);
		PUT16(VIRTIO_PCI_COMMON_Q_MSIX, q->vector);
		PUT16(VIRTIO_PCI_COMMON_Q_ENABLE, q->enable);
		PUT16(VIRTIO_PCI_COMMON_Q_NOFF, v->qsel);
		PUT32(VIRTIO_PCI_COMMON_Q_DESCLO, (uint32_t)q->desc);
		PUT32(VIRTIO_PCI_COMMON_Q_DESCHI, q->desc >> 32);
		PUT32(VIRTIO_PCI_COMMON_Q_AVAILLO, (uint32_t)q->avail);
		PUT32(VIRTIO_PCI_COMMON_Q_AVAILHI, q->avail >> 32);
		PUT32(VIRTIO_PCI_COMMON_Q_USEDLO, (uint32_t)q->used);
		PUT32(VIRTIO_PCI_COMMON_Q_USEDHI, q->used >> 32);
	}
#undef PUT32
#undef PUT16
	if (off + size <= sizeof(b))
		memcpy(&val, &b[off], size);
	return val;
}

static void
set_half(uint64_t *x, bool high, uint32_t val)
{
	if (high)
		*x = (*x & 0xffffffffull) | ((uint64_t)val << 32);
	else
		*x = (*x & ~0xffffffffull) | val;
}

static void
queue_write(struct vpci *v, uint64_t off, int size, uint64_t val)
{
	struct vpci_queue *q;

	if (v->qsel >= v->nq)
		return;
	q = &v->q[v->qsel];
	/* Queue fields are frozen once the queue runs. */
	if (q->enable && off != VIRTIO_PCI_COMMON_Q_MSIX)
		return;
	switch (off) {
	case VIRTIO_PCI_COMMON_Q_SIZE:
		/* A power of two no larger than the maximum. */
		if (val != 0 && val <= QUEUE_MAX_SIZE && !(val & (val - 1)))
			q->size = val;
		break;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		q->vector = val < v->nvec ? val : VIRTIO_MSI_NO_VECTOR;
		update_irqs(v);
		break;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		if (val == 1)
			q->enable = 1;
		break;
	case VIRTIO_PCI_COMMON_Q_DESCLO:
	case VIRTIO_PCI_COMMON_Q_DESCHI:
		if (size == 8)
			q->desc = val;
		else
			set_half(&q->desc, off == VIRTIO_PCI_COMMON_Q_DESCHI, val);
		break;
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
	case VIRTIO_PCI_COMMON_Q_AVAILHI:
		if (size == 8)
			q->avail = val;
		else
			set_half(&q->avail, off == VIRTIO_PCI_COMMON_Q_AVAILHI, val);
		break;
	case VIRTIO_PCI_COMMON_Q_USEDLO:
	case VIRTIO_PCI_COMMON_Q_USEDHI:
		if (size == 8)
			q->used = val;
		else
			set_half(&q->used, off == VIRTIO_PCI_COMMON_Q_USEDHI, val);
		break;
	}
}

static void
common_write(struct vpci *v, uint64_t off, int size, uint64_t val)
{
	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		v->dfsel = val;
		break;
	case VIRTIO_PCI_COMMON_GFSELECT:
		v->gfsel = val;
		break;
	case VIRTIO_PCI_COMMON_GF:
		if (v->gfsel < 2 && !(v->status & VIRTIO_CONFIG_S_FEATURES_OK))
			set_half(&v->drv_features, v->gfsel == 1, val);
		break;
	case VIRTIO_PCI_COMMON_MSIX:
		v->config_vector = val < v->nvec ? val : VIRTIO_MSI_NO_VECTOR;
		break;
	case VIRTIO_PCI_COMMON_STATUS:
		status_write(v, val);
		break;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		v->qsel = val;
		break;
	default:
		if (off >= VIRTIO_PCI_COMMON_Q_SIZE)
			queue_write(v, off, size, val);
		break;
	}
}

/* --- BARs ------------------------------------------------------------------ */

static uint64_t
devcfg_read(struct vpci *v, uint64_t off, int size)
{
	uint64_t val = 0;

	if (off + size > v->cls->cfg_len)
		return 0;
	/* Ask the backend each time: it owns the device's state (unless
	 * the core made the config). */
	if (v->cls->config == NULL && vpci_backend_ok(v))
		vuf_get_config(&v->vu, 0, v->devcfg, v->cls->cfg_len);
	memcpy(&val, &v->devcfg[off], size);
	return val;
}

static int
msix_read(struct vpci *v, uint64_t off, int size, uint64_t *val)
{
	if (off >= VPCI_MSIX_PBA) {
		uint64_t pba = v->pba;

		off -= VPCI_MSIX_PBA;
		*val = off < 8 ? pba >> (8 * off) : 0;
		return 0;
	}
	if (off / 16 < v->nvec) {
		struct vpci_vec *e = &v->vec[off / 16];
		uint8_t b[16];

		memcpy(b, &e->addr, 8);
		memcpy(b + 8, &e->data, 4);
		memcpy(b + 12, &e->ctrl, 4);
		*val = 0;
		if ((off % 16) + size <= 16)
			memcpy(val, &b[off % 16], size);
	}
	return 0;
}

static void
msix_write(struct vpci *v, uint64_t off, int size, uint64_t val)
{
	struct vpci_vec *e;
	uint8_t b[16];

	if (off >= VPCI_MSIX_PBA || off / 16 >= v->nvec || (off % 16) + size > 16)
		return;
	e = &v->vec[off / 16];
	memcpy(b, &e->addr, 8);
	memcpy(b + 8, &e->data, 4);
	memcpy(b + 12, &e->ctrl, 4);
	memcpy(&b[off % 16], &val, size);
	memcpy(&e->addr, b, 8);
	memcpy(&e->data, b + 8, 4);
	memcpy(&e->ctrl, b + 12, 4);
	e->ctrl &= 1;
	update_irqs(v);
	config_irq_pending(v);
}

int
vpci_barread(struct pci_dev *pd, int bar, uint64_t off, int size, uint64_t *val)
{
	struct vpci *v = pd->arg;

	*val = 0;
	if (bar == VPCI_MSIX_BAR)
		return msix_read(v, off, size, val);
	if (off < VPCI_COMMON_SIZE)
		*val = common_read(v, off, size);
	else if (off == VPCI_ISR) {
		/* Reading the ISR acknowledges the interrupt. */
		*val = v->isr;
		v->isr = 0;
		pci_intx_deassert(pd);
		intx_rearm(v);
	} else if (off >= VPCI_DEVCFG && off < VPCI_DEVCFG + VPCI_DEVCFG_SIZE)
		*val = devcfg_read(v, off - VPCI_DEVCFG, size);
	return 0;
}

int
vpci_barwrite(struct pci_dev *pd, int bar, uint64_t off, int size, uint64_t val)
{
	struct vpci *v = pd->arg;
	static int cfgwarn;

	if (bar == VPCI_MSIX_BAR) {
		msix_write(v, off, size, val);
	} else if (off < VPCI_COMMON_SIZE) {
		common_write(v, off, size, val);
	} else if (off >= VPCI_NOTIFY && off < VPCI_NOTIFY +
	    VPCI_NOTIFY_MULT * v->nq) {
		/* A notify the ioeventfd did not catch (odd size, say). */
		uint64_t one = 1;
		unsigned qi = (off - VPCI_NOTIFY) / VPCI_NOTIFY_MULT;

		if (write(v->q[qi].kick, &one, sizeof(one)) < 0)
			hlog("%s: kick queue %u: %s", v->name, qi, strerror(errno));
	} else if (off >= VPCI_DEVCFG && off < VPCI_DEVCFG + VPCI_DEVCFG_SIZE) {
		hlog_once(&cfgwarn, "%s: the guest wrote device config; "
		    "ignored (read-only here)", v->name);
	}
	return 0;
}

static void
ioeventfds(struct vpci *v, uint64_t base, bool assign)
{
	unsigned i;

	if (v->vm->vm_fd < 0)
		return;
	for (i = 0; i < v->nq; i++) {
		struct kvm_ioeventfd io = {
			.addr = base + VPCI_NOTIFY + VPCI_NOTIFY_MULT * i,
			.len = 2,
			.fd = v->q[i].kick,
			.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
		};

		if (ioctl(v->vm->vm_fd, KVM_IOEVENTFD, &io) < 0)
			hlog("%s: KVM_IOEVENTFD queue %u: %s", v->name, i,
			    strerror(errno));
	}
}

void
vpci_barmap(struct pci_dev *pd, int bar, bool mapped, uint64_t addr)
{
	struct vpci *v = pd->arg;

	if (v == NULL || bar != VPCI_BAR)
		return;
	if (v->notify_base != 0)
		ioeventfds(v, v->notify_base, false);
	v->notify_base = 0;
	if (mapped) {
		ioeventfds(v, addr, true);
		v->notify_base = addr;
	}
}

/* --- config space hooks: MSI-X control, the PCI_CFG window ------------------ */

int
vpci_cfgwrite(struct pci_dev *pd, int off, int size, uint32_t val)
{
	struct vpci *v = pd->arg;
	int mc = v->msixcap;

	if (mc != 0 && off <= mc + 3 && off + size > mc + 2) {
		uint16_t ctrl = pci_get_cfg16(pd, mc + 2);
		uint32_t w = val << (8 * (off - (mc + 2) > 0 ? off - (mc + 2) : 0));

		if (off < mc + 2)
			w = val >> (8 * (mc + 2 - off));
		ctrl = (ctrl & 0x07ff) | (w & 0xc000);
		pci_set_cfg16(pd, mc + 2, ctrl);
		v->msix_on = ctrl & 0x8000;
		v->msix_fmask = ctrl & 0x4000;
		update_irqs(v);
		config_irq_pending(v);
		return 0;
	}
	if (v->cfgcap != 0 && off >= v->cfgcap + 4 && off + size <= v->cfgcap + 20) {
		int c = v->cfgcap;

		if (off >= c + 16) {
			uint32_t boff = pci_get_cfg32(pd, c + 8);
			uint32_t blen = pci_get_cfg32(pd, c + 12);

			if (pd->cfg[c + 4] == VPCI_BAR && (blen == 1 ||
			    blen == 2 || blen == 4))
				vpci_barwrite(pd, VPCI_BAR, boff, blen, val);
			return 0;
		}
		/* bar, offset and length are the driver's to set. */
		memcpy(&pd->cfg[off], &val, size);
		return 0;
	}
	return -ENOENT;
}

int
vpci_cfgread(struct pci_dev *pd, int off, int size, uint32_t *val)
{
	struct vpci *v = pd->arg;
	int c = v->cfgcap;
	uint64_t x = 0;

	if (c != 0 && off == c + 16 && size == 4) {
		uint32_t boff = pci_get_cfg32(pd, c + 8);
		uint32_t blen = pci_get_cfg32(pd, c + 12);

		if (pd->cfg[c + 4] == VPCI_BAR && (blen == 1 || blen == 2 ||
		    blen == 4))
			vpci_barread(pd, VPCI_BAR, boff, blen, &x);
		*val = x;
		return 0;
	}
	return -ENOENT;
}

/* --- setup ------------------------------------------------------------------ */

static int
add_vcap(struct pci_dev *pd, uint8_t type, uint32_t off, uint32_t len,
    const void *extra, int elen)
{
	uint8_t c[24];
	struct virtio_pci_cap cap = {
		.cap_vndr = PCI_CAP_ID_VNDR,
		.cap_len = sizeof(struct virtio_pci_cap) + elen,
		.cfg_type = type,
		.bar = VPCI_BAR,
		.offset = off,
		.length = len,
	};

	memcpy(c, &cap, sizeof(cap));
	if (elen > 0)
		memcpy(c + sizeof(cap), extra, elen);
	return pci_add_cap(pd, c, sizeof(cap) + elen);
}

static int
setup_pci(struct vpci *v)
{
	struct pci_dev *pd = v->pd;
	uint32_t mult = VPCI_NOTIFY_MULT, zero = 0;
	uint8_t msix[12];
	uint16_t ctrl;
	uint32_t tbl = VPCI_MSIX_BAR, pba = VPCI_MSIX_PBA | VPCI_MSIX_BAR;
	int off, rc;

	pci_set_cfg16(pd, PCI_VENDOR_ID, 0x1af4);
	pci_set_cfg16(pd, PCI_DEVICE_ID, 0x1040 + v->cls->virtio_id);
	pci_set_cfg8(pd, PCI_REVISION_ID, 1);
	pci_set_cfg8(pd, PCI_CLASS_DEVICE + 1, v->cls->class);
	pci_set_cfg8(pd, PCI_CLASS_DEVICE, v->cls->subclass);
	pci_set_cfg16(pd, PCI_SUBSYSTEM_VENDOR_ID, 0x1af4);
	pci_set_cfg16(pd, PCI_SUBSYSTEM_ID, 0x40);
	pci_set_cfg8(pd, PCI_HEADER_TYPE, PCI_HEADER_TYPE_NORMAL);

	if (add_vcap(pd, VIRTIO_PCI_CAP_COMMON_CFG, VPCI_COMMON,
	    VPCI_COMMON_SIZE, NULL, 0) < 0 ||
	    add_vcap(pd, VIRTIO_PCI_CAP_NOTIFY_CFG, VPCI_NOTIFY,
	    VPCI_NOTIFY_MULT * v->nq, &mult, 4) < 0 ||
	    add_vcap(pd, VIRTIO_PCI_CAP_ISR_CFG, VPCI_ISR, 1, NULL, 0) < 0 ||
	    (v->cls->cfg_len > 0 && add_vcap(pd, VIRTIO_PCI_CAP_DEVICE_CFG,
	    VPCI_DEVCFG, v->cls->cfg_len, NULL, 0) < 0))
		return -ENOSPC;
	v->cfgcap = add_vcap(pd, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, &zero, 4);
	if (v->cfgcap < 0)
		return -ENOSPC;

	ctrl = v->nvec - 1;
	msix[0] = PCI_CAP_ID_MSIX;
	msix[1] = 0;
	memcpy(&msix[2], &ctrl, 2);
	memcpy(&msix[4], &tbl, 4);
	memcpy(&msix[8], &pba, 4);
	off = pci_add_cap(pd, msix, sizeof(msix));
	if (off < 0)
		return off;
	v->msixcap = off;

	if ((rc = pci_alloc_bar(pd, VPCI_MSIX_BAR, PCIBAR_MEM32,
	    VPCI_MSIX_BAR_SIZE)) < 0 ||
	    (rc = pci_alloc_bar(pd, VPCI_BAR, PCIBAR_MEM32, VPCI_BAR_SIZE)) < 0)
		return rc;
	pci_intx_request(pd);
	return 0;
}

static int
setup_queues(struct vpci *v)
{
	unsigned i;
	int gsi, rc;

	for (i = 0; i < v->nq; i++) {
		struct vpci_queue *q = &v->q[i];

		q->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		q->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		q->err = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		q->irqfd = -1;
		if (q->kick < 0 || q->call < 0 || q->err < 0)
			return -errno;
		if ((rc = evloop_add(q->err, on_queue_error, v)) < 0)
			return rc;
	}
	v->nvec = v->nq + 1;
	for (i = 0; i < v->nvec; i++) {
		if ((gsi = irq_alloc_msi(v->vm)) < 0)
			return gsi;
		v->vec[i].gsi = gsi;
		v->vec[i].ctrl = 1;	/* masked until the driver says */
	}
	return 0;
}

/* Device keys each emulation accepts (the rest is a typo to report). */
static const char *const vu_keys[] = { "device", "socket", "type", NULL };

struct keycheck {
	const char *const *keys;
	const char *node;
	int bad;
};

static int
check_key(const char *path, const char *value, void *arg)
{
	struct keycheck *kc = arg;
	const char *k = path + strlen(kc->node) + 1;
	int i;

	(void)value;
	for (i = 0; kc->keys[i] != NULL; i++)
		if (strcmp(kc->keys[i], k) == 0)
			return 0;
	if (kc->bad++ == 0)
		hlog("%s: unknown option '%s' for this device", kc->node, k);
	return 0;
}

static int
check_keys(const char *node, const char *const *keys)
{
	struct keycheck kc = { keys, node, 0 };

	config_foreach(node, check_key, &kc);
	return kc.bad ? -EINVAL : 0;
}

/* vhost-user's own keys and those its type takes (fs: tag). */
static int
check_vu_keys(const char *node, const struct devclass *t)
{
	const char *keys[16];
	size_t n = 0;

	for (size_t i = 0; vu_keys[i] != NULL; i++)
		keys[n++] = vu_keys[i];
	for (size_t i = 0; t->vu_keys != NULL && t->vu_keys[i] != NULL &&
	    n < NELEM(keys) - 1; i++)
		keys[n++] = t->vu_keys[i];
	keys[n] = NULL;
	return check_keys(node, keys);
}


static int
vpci_init_type(struct vm *vm, struct pci_dev *pd, const char *node,
    const struct devclass *t, int sock)
{
	struct vpci *v;
	int rc;

	v = calloc(1, sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	v->vm = vm;
	v->pd = pd;
	v->cls = t;
	sup_init(&v->sup);
	v->vu.sock = -1;
	v->infl.fd = -1;
	snprintf(v->name, sizeof(v->name), "%s%d", t->prefix,
	    class_count[devclass_index(t)]++);
	pd->arg = v;
	if ((rc = sup_attach(v, node, sock)) < 0)
		return rc;
	v->dev_features = v->vu.features & FEATURES_MASK;
	if (!(v->dev_features & (1ull << VIRTIO_F_VERSION_1))) {
		hlog("%s: the backend does not offer VIRTIO_F_VERSION_1", v->name);
		return -ENOTSUP;
	}
	v->nq = t->nqueues ? t->nqueues : (v->vu.nqueues ? v->vu.nqueues : 1);
	if (v->nq > VPCI_MAX_QUEUES) {
		hlog("%s: the backend has %u queues; at most %d are supported",
		    v->name, v->nq, VPCI_MAX_QUEUES);
		return -ENOTSUP;
	}
	if (t->config != NULL && (rc = t->config(node, v->name,
	    v->devcfg)) < 0)
		return rc;
	if (t->config == NULL && t->cfg_len > 0 &&
	    (rc = vuf_get_config(&v->vu, 0, v->devcfg, t->cfg_len)) < 0) {
		hlog("%s: cannot read the device config from the backend",
		    v->name);
		return rc;
	}
	if ((rc = setup_queues(v)) < 0 || (rc = setup_pci(v)) < 0)
		return rc;
	device_reset(v);
	if (v->sup.spawned)
		hlog("%s: %s at %s, backend %s pid %d, %u queue(s)", v->name,
		    t->pe.name, pd->name, v->sup.bp.path, (int)v->sup.bp.pid, v->nq);
	else
		hlog("%s: %s at %s, vhost-user backend at %s, %u queue(s)",
		    v->name, t->pe.name, pd->name, config_node_get(node, "socket"), v->nq);
	return 0;
}

int
vpci_init(struct vm *vm, struct pci_dev *pd, const char *node)
{
	const struct devclass *t = devclass_by_emul(config_node_get(node,
	    "device"));
	int rc;

	if (t == NULL)
		return -ENOENT;
	if ((rc = check_keys(node, t->keys)) < 0)
		return rc;
	return vpci_init_type(vm, pd, node, t, -1);
}

/* The options, files and the backend binary, before KVM. */
int
vpci_check(const char *node, const char *name)
{
	const struct devclass *t = devclass_by_emul(config_node_get(node,
	    "device"));
	char bin[4096];
	int rc;

	if (t == NULL)
		return -ENOENT;
	if ((rc = check_keys(node, t->keys)) < 0)
		return rc;
	if (t->check != NULL && (rc = t->check(node, name)) < 0)
		return rc;
	return backend_binary(t->binary, config_node_get(node, "binary"), bin,
	    sizeof(bin));
}

/* The device class of a vhost-user node; NULL, said, if it is not valid. */
static const struct devclass *
vu_type(const char *node, const char *name)
{
	const char *path = config_node_get(node, "socket"), *type = config_node_get(node, "type");
	const struct devclass *t;
	char types[128];

	if (path == NULL || type == NULL) {
		devclass_types(types, sizeof(types), "|", "|");
		hlog("%s: vhost-user needs socket=PATH and type=%s", name,
		    types);
		return NULL;
	}
	if ((t = devclass_by_type(type)) != NULL)
		return check_vu_keys(node, t) < 0 ? NULL : t;
	devclass_types(types, sizeof(types), ", ", " or ");
	hlog("%s: vhost-user type '%s' is not %s", name, type, types);
	return NULL;
}

static int
vhost_user_check(const char *node, const char *name)
{
	const struct devclass *t = vu_type(node, name);
	uint8_t cfg[VPCI_DEVCFG_SIZE];

	if (t == NULL)
		return -EINVAL;
	return t->config != NULL ? t->config(node, name, cfg) : 0;
}

/* -s N,vhost-user,socket=PATH,type=blk|net|rng|fs */
static int
vhost_user_init(struct vm *vm, struct pci_dev *pd, const char *node)
{
	const char *path = config_node_get(node, "socket");
	const struct devclass *t;
	int sock;

	if ((t = vu_type(node, pd->name)) == NULL)
		return -EINVAL;
	if ((sock = backend_connect(path)) < 0)
		return sock;
	return vpci_init_type(vm, pd, node, t, sock);
}

void
vpci_fini(struct pci_dev *pd)
{
	struct vpci *v = pd->arg;
	unsigned i;

	if (v == NULL)
		return;
	for (i = 0; i < v->nq; i++) {
		struct vpci_queue *q = &v->q[i];

		if (q->irqfd >= 0)
			irq_irqfd_deassign(v->vm, q->irqfd_gsi, q->irqfd);
		evloop_del(q->call);
		evloop_del(q->err);
		close(q->kick);
		close(q->call);
		close(q->err);
	}
	sup_detach(v);
	if (v->infl.fd >= 0)
		close(v->infl.fd);
	free(v);
	pd->arg = NULL;
}

struct vpci *
vpci_of(struct pci_dev *pd)
{
	struct vpci *v;

	if (pd->pe == NULL || pd->pe->fini != vpci_fini || pd->arg == NULL)
		return NULL;
	v = pd->arg;
	return v->pd == pd ? v : NULL;
}

static void
vhost_user_usage(char *buf, size_t len)
{
	char types[128];

	devclass_types(types, sizeof(types), "|", "|");
	snprintf(buf, len, "socket=PATH,type=%s[,tag=T for fs]  (a backend "
	    "you started)", types);
}

const struct pci_devemu pci_de_vhost_user = {
	.name = "vhost-user", .usage_fn = vhost_user_usage,
	.init = vhost_user_init, .check = vhost_user_check,
	.cfgread = vpci_cfgread, .cfgwrite = vpci_cfgwrite,
	.barread = vpci_barread, .barwrite = vpci_barwrite,
	.barmap = vpci_barmap, .fini = vpci_fini,
};

/* --- snapshot ------------------------------------------------------------ */

struct vpci_qstate {
	uint64_t	desc, avail, used;
	uint16_t	size, vector, enable, base;	/* base: last_avail_idx */
};

struct vpci_vstate {
	uint64_t	addr;
	uint32_t	data, ctrl;
};

/* What the guest set in the transport; the backend's own state is not
 * here yet (vhost-user DEVICE_STATE, a later step). */
struct vpci_state {
	uint64_t	dev_features, drv_features, pba;
	uint32_t	dfsel, gfsel, nq, nvec;
	uint16_t	config_vector, qsel;
	uint8_t		status, isr, cfg_gen, msix_on, msix_fmask;
	uint8_t		config_pending, pad[2];
	struct vpci_qstate q[VPCI_MAX_QUEUES];
	struct vpci_vstate vec[VPCI_MAX_VEC];
};

uint32_t
vpci_bdf(const struct vpci *v)
{
	return v->pd->bus << 8 | v->pd->slot << 3 | v->pd->func;
}

/* Calls fn for every virtio-pci device until one fails. */
static int
vpci_each(int (*fn)(struct vpci *, void *), void *arg)
{
	struct pci_dev *pd;
	int rc;

	for (int s = 0; s < PCI_SLOTS; s++)
		for (int f = 0; f < PCI_FUNCS; f++)
			if ((pd = pci_find(0, s, f)) != NULL &&
			    vpci_of(pd) != NULL &&
			    (rc = fn(vpci_of(pd), arg)) < 0)
				return rc;
	return 0;
}

/*
 * Whether the supervisor is giving v a new backend: it saw the old one
 * die, or the frontend dropped one that stopped answering (a death the
 * supervisor sees next; one it did not start fails instead).
 */
static bool
backend_replaced(const struct vpci *v)
{
	return !v->sup.failed && (v->sup.down ||
	    (v->sup.spawned && v->vu.sock < 0));
}

/* Devices whose backends hold state of their own (the class's unsaved)
 * cannot be saved until that state travels (DEVICE_STATE). */
struct check_err {
	char	*buf;
	size_t	len;
};

static int
check_one(struct vpci *v, void *arg)
{
	struct check_err *e = arg;

	if (v->cls->unsaved != NULL) {
		snprintf(e->buf, e->len, "%s: its backend keeps state of its own "
		    "(%s) that snapshots cannot carry yet", v->name,
		    v->cls->unsaved);
		return -ENOTSUP;
	}
	if (v->sup.failed) {
		snprintf(e->buf, e->len, "%s: its backend failed; snapshot the "
		    "VM once the device works again (hyvectl restart)",
		    v->name);
		return -EBUSY;
	}
	if (backend_replaced(v)) {
		snprintf(e->buf, e->len, "%s: its backend is restarting",
		    v->name);
		return -EAGAIN;
	}
	return 0;
}

int
vpci_snapshot_check(char *err, size_t len)
{
	struct check_err e = { err, len };

	return vpci_each(check_one, &e);
}

/* The backend's own state, when it can give it (DEVICE_STATE); after the
 * transport's section, so that a failure here still resumes the rings. */
static int
save_backend_state(struct vpci *v, struct snap *s)
{
	static uint8_t buf[VU_STATE_MAX];
	size_t len;
	int rc;

	if (!(v->vu.pfeatures & (1ull << VU_PF_DEVICE_STATE)))
		return 0;
	if ((rc = vuf_state_save(&v->vu, buf, sizeof(buf), &len)) < 0) {
		hlog("%s: the backend did not give its state: %s%s", v->name,
		    strerror(-rc), rc == -EIO ? " (its log says why)" : "");
		return rc;
	}
	return snap_add(s, SNAP_DEV_VUSTATE, vpci_bdf(v), buf, len);
}

/*
 * A new backend takes the saved state before its rings start: it checks
 * that it serves the same device (a disk of the same size, the same
 * CID), under the features the driver took.
 */
static int
load_backend_state(struct vpci *v, const struct snap *s)
{
	const void *state;
	size_t len = 0;
	int rc;

	state = snap_find(s, SNAP_DEV_VUSTATE, vpci_bdf(v), &len);
	if (state == NULL)
		return 0;
	if (!(v->vu.pfeatures & (1ull << VU_PF_DEVICE_STATE))) {
		hlog("snapshot: %s: its backend's state was saved, and this "
		    "backend cannot take it (no DEVICE_STATE)", v->name);
		return -EINVAL;
	}
	if ((v->status & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    (rc = vuf_set_features(&v->vu, v->drv_features |
	    (1ull << VU_F_PROTOCOL_FEATURES))) < 0)
		return rc;
	if ((rc = vuf_state_load(&v->vu, state, len)) < 0) {
		hlog("snapshot: %s: the backend refused the saved device state "
		    "(another disk size, CID or MTU? its log line says)",
		    v->name);
		return -EINVAL;
	}
	return 0;
}

static bool save_backends;	/* vpci_save's: DEVICE_STATE too */

static int
save_one(struct vpci *v, void *arg)
{
	uint16_t bases[VPCI_MAX_QUEUES];
	struct vpci_state st;
	unsigned i;
	int rc;

	/* Checked before the vCPUs paused; a backend can die since. */
	if (v->sup.down || v->sup.failed)
		return backend_replaced(v) ? -EAGAIN : -EBUSY;
	if ((rc = vpci_stop_rings(v, bases)) < 0) {
		if (backend_replaced(v))
			return -EAGAIN;
		hlog("%s: the backend did not stop its rings: %s", v->name,
		    strerror(-rc));
		return rc;
	}
	memset(&st, 0, sizeof(st));
	st.dev_features = v->dev_features;
	st.drv_features = v->drv_features;
	st.pba = v->pba;
	st.dfsel = v->dfsel;
	st.gfsel = v->gfsel;
	st.nq = v->nq;
	st.nvec = v->nvec;
	st.config_vector = v->config_vector;
	st.qsel = v->qsel;
	st.status = v->status;
	st.isr = v->isr;
	st.cfg_gen = v->cfg_gen;
	st.msix_on = v->msix_on;
	st.msix_fmask = v->msix_fmask;
	st.config_pending = v->config_pending;
	for (i = 0; i < v->nq; i++) {
		st.q[i].desc = v->q[i].desc;
		st.q[i].avail = v->q[i].avail;
		st.q[i].used = v->q[i].used;
		st.q[i].size = v->q[i].size;
		st.q[i].vector = v->q[i].vector;
		st.q[i].enable = v->q[i].enable;
		st.q[i].base = bases[i];
		/* Stopped: the resume or the new backend starts it again. */
		v->q[i].started = false;
	}
	for (i = 0; i < v->nvec && i < VPCI_MAX_VEC; i++) {
		st.vec[i].addr = v->vec[i].addr;
		st.vec[i].data = v->vec[i].data;
		st.vec[i].ctrl = v->vec[i].ctrl;
	}
	if ((rc = snap_add(arg, SNAP_DEV_VIRTIO, vpci_bdf(v), &st,
	    sizeof(st))) < 0)
		return rc;
	if (!save_backends)
		return 0;
	if ((rc = save_backend_state(v, arg)) < 0 && backend_replaced(v))
		return -EAGAIN;
	return rc;
}

int
vpci_save(struct vm *vm, struct snap *s, bool backends)
{
	(void)vm;
	save_backends = backends;
	return vpci_each(save_one, s);
}

static const struct vpci_state *
state_of(struct vpci *v, const struct snap *s)
{
	return snap_get(s, SNAP_DEV_VIRTIO, vpci_bdf(v),
	    sizeof(struct vpci_state), v->name);
}

/*
 * The rings again, from the bases saved: on the same backend (resume:
 * features are set already) or on a new one (restore: the whole setup).
 */
static int
rings_restart(struct vpci *v, const struct vpci_state *st, bool same)
{
	uint16_t bases[VPCI_MAX_QUEUES];
	int rc;

	for (unsigned i = 0; i < v->nq; i++)
		bases[i] = st->q[i].base;
	if (same)
		rc = v->status & VIRTIO_CONFIG_S_DRIVER_OK ?
		    vpci_start_rings(v, bases) : 0;
	else
		rc = vpci_replay(v, bases);
	/* It died after its rings stopped: its restart takes them up from
	 * the used indexes, which are the saved bases. */
	if (rc < 0 && same && backend_replaced(v))
		return 0;
	if (rc < 0) {
		hlog("%s: the backend could not start the rings again: %s",
		    v->name, strerror(-rc));
		vpci_needs_reset(v, "the backend could not start the rings "
		    "after a snapshot");
	}
	return rc;
}

static int
resume_one(struct vpci *v, void *arg)
{
	const struct vpci_state *st;
	size_t len;

	/* No section: the snapshot failed before this device stopped. */
	st = snap_find(arg, SNAP_DEV_VIRTIO, vpci_bdf(v), &len);
	if (st == NULL || len != sizeof(*st))
		return 0;
	return rings_restart(v, st, true);
}

/* fn for every virtio-pci device, even after one fails; the first
 * failure. */
static int
vpci_each_all(int (*fn)(struct vpci *, void *), void *arg)
{
	int rc, first = 0;

	for (int sl = 0; sl < PCI_SLOTS; sl++)
		for (int f = 0; f < PCI_FUNCS; f++) {
			struct pci_dev *pd = pci_find(0, sl, f);

			if (pd != NULL && vpci_of(pd) != NULL &&
			    (rc = fn(vpci_of(pd), arg)) < 0 && first == 0)
				first = rc;
		}
	return first;
}

static int
release_one(struct vpci *v, void *arg)
{
	int rc;

	(void)arg;
	if (!v->held)
		return 0;
	v->held = false;
	if (v->sup.failed || v->sup.down)
		return 0;	/* its restart replays the rings */
	if ((rc = vpci_start_rings(v, v->bases_held ? v->hbases : NULL)) < 0) {
		hlog("%s: the backend could not start the rings: %s", v->name,
		    strerror(-rc));
		vpci_needs_reset(v, "the backend could not start the rings "
		    "after a restore");
	}
	return 0;
}

void
vpci_release_held(struct vm *vm)
{
	(void)vm;
	vpci_each_all(release_one, NULL);
}

int
vpci_resume(struct vm *vm, const struct snap *s)
{
	(void)vm;
	/* Every device gets its rings back, even after one fails. */
	return vpci_each_all(resume_one, (void *)s);
}

static bool load_start;		/* vpci_load's */

static int
load_one(struct vpci *v, void *arg)
{
	const struct vpci_state *st = state_of(v, arg);
	unsigned i;
	int rc;

	if (st == NULL)
		return -EINVAL;
	if (st->nq != v->nq || st->nvec != v->nvec) {
		hlog("snapshot: %s had %u queues and %u vectors, it has %u and "
		    "%u now", v->name, st->nq, st->nvec, v->nq, v->nvec);
		return -EINVAL;
	}
	if (st->drv_features & ~v->dev_features) {
		hlog("snapshot: %s: the driver uses features 0x%llx that the "
		    "backend no longer offers", v->name, (unsigned long long)
		    (st->drv_features & ~v->dev_features));
		return -EINVAL;
	}
	v->drv_features = st->drv_features;
	v->pba = st->pba;
	v->dfsel = st->dfsel;
	v->gfsel = st->gfsel;
	v->config_vector = st->config_vector;
	v->qsel = st->qsel;
	v->status = st->status;
	v->isr = st->isr;
	v->cfg_gen = st->cfg_gen;
	v->msix_on = st->msix_on;
	v->msix_fmask = st->msix_fmask;
	v->config_pending = st->config_pending;
	for (i = 0; i < v->nq; i++) {
		v->q[i].desc = st->q[i].desc;
		v->q[i].avail = st->q[i].avail;
		v->q[i].used = st->q[i].used;
		v->q[i].size = st->q[i].size;
		v->q[i].vector = st->q[i].vector;
		v->q[i].enable = st->q[i].enable;
	}
	for (i = 0; i < v->nvec; i++) {
		v->vec[i].addr = st->vec[i].addr;
		v->vec[i].data = st->vec[i].data;
		v->vec[i].ctrl = st->vec[i].ctrl;
	}
	update_irqs(v);
	if (!load_start)
		return 0;
	if ((rc = load_backend_state(v, arg)) < 0)
		return rc;
	return rings_restart(v, st, false);
}

int
vpci_load(struct vm *vm, const struct snap *s, bool start)
{
	(void)vm;
	load_start = start;
	return vpci_each(load_one, (void *)s);
}

static int
start_one(struct vpci *v, void *arg)
{
	const struct vpci_state *st = state_of(v, arg);
	uint64_t one = 1;
	int rc;

	if (st == NULL)
		return -EINVAL;
	if ((rc = rings_restart(v, st, false)) < 0)
		return rc;
	/* A completion's interrupt may have gone to the old VM after its
	 * LAPICs were saved: a spurious one costs the driver a look. */
	for (unsigned i = 0; i < v->nq; i++)
		if (v->q[i].started && write(v->q[i].call, &one,
		    sizeof(one)) < 0)
			hlog("%s: queue %u: raising its interrupt: %s", v->name,
			    i, strerror(errno));
	return 0;
}

int
vpci_start(struct vm *vm, const struct snap *s)
{
	(void)vm;
	return vpci_each_all(start_one, (void *)s);
}
