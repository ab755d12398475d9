/*
 * vCPU and VM state through KVM's ioctls, for snapshots (and, later, for
 * handing a running VM to a new core).  Each piece is the kernel's own
 * structure, stored as is; the order of the restore follows what KVM
 * needs: special registers (APIC base, EFER) before the MSRs, the LAPIC
 * before the TSC deadline, the events last.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/snapshot.h"
#include "core/vcpu.h"
#include "core/vm.h"
#include "core/vmstate.h"
#include "lib/log.h"

#define MSR_TSC_DEADLINE	0x6e0
#define MAX_MSRS		64

/* The MSRs a guest's state lives in beyond the registers and sregs. */
static const uint32_t wanted_msrs[] = {
	0x10,		/* TSC */
	0x3b,		/* TSC_ADJUST */
	0x48,		/* SPEC_CTRL */
	0x174, 0x175, 0x176,	/* SYSENTER_CS, _ESP, _EIP */
	0x1a0,		/* MISC_ENABLE */
	0x277,		/* PAT */
	0x2ff,		/* MTRR default type */
	0x250, 0x258, 0x259, 0x268, 0x269, 0x26a, 0x26b, 0x26c, 0x26d,
	0x26e, 0x26f,	/* fixed MTRRs */
	0x200, 0x201, 0x202, 0x203, 0x204, 0x205, 0x206, 0x207,
	0x208, 0x209, 0x20a, 0x20b, 0x20c, 0x20d, 0x20e, 0x20f,
	0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084,	/* STAR .. SFMASK */
	0xc0000102,	/* KERNEL_GS_BASE */
	0xc0000103,	/* TSC_AUX */
	0x11, 0x12,	/* kvmclock (old): wall clock, system time */
	0x4b564d00, 0x4b564d01,	/* kvmclock: wall clock, system time */
	/* Async page faults: the vector their "page ready" interrupt uses
	 * and its acknowledgement, before the enable that may ask for that
	 * delivery.  Without the vector a restored guest's task waiting
	 * for a page never wakes (seen with a restore's lazily loaded
	 * RAM, where such faults are common). */
	0x4b564d06,	/* async page fault interrupt vector */
	0x4b564d07,	/* async page fault acknowledgement */
	0x4b564d02,	/* async page fault enable */
	0x4b564d03,	/* steal time */
	0x4b564d04,	/* PV EOI */
	0x4b564d05,	/* poll control */
	MSR_TSC_DEADLINE,	/* last: after the LAPIC on restore */
};

/* The wanted MSRs that this KVM knows. */
static int
msr_list(struct vm *vm, uint32_t *out)
{
	struct kvm_msr_list *l;
	int n = 0;

	l = calloc(1, sizeof(*l) + 1024 * sizeof(uint32_t));
	if (l == NULL)
		return -ENOMEM;
	l->nmsrs = 1024;
	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
		int e = errno;

		hlog("KVM_GET_MSR_INDEX_LIST: %s", strerror(e));
		free(l);
		return -e;
	}
	for (size_t i = 0; i < sizeof(wanted_msrs) / sizeof(wanted_msrs[0]);
	    i++)
		for (uint32_t j = 0; j < l->nmsrs; j++)
			if (l->indices[j] == wanted_msrs[i]) {
				out[n++] = wanted_msrs[i];
				break;
			}
	free(l);
	return n;
}

static int
vcpu_ioctl(struct vcpu *v, unsigned long req, void *arg, const char *what)
{
	if (ioctl(v->fd, req, arg) < 0) {
		int e = errno;

		hlog("vcpu %d: %s: %s", v->id, what, strerror(e));
		return -e;
	}
	return 0;
}

/* One at a time, so that an MSR this CPU lacks only drops that one. */
static int
save_msrs(struct vcpu *v, const uint32_t *idx, int n, struct snap *s)
{
	struct snap_msr out[MAX_MSRS];
	struct kvm_msrs *m;
	int k = 0, rc;

	m = calloc(1, sizeof(*m) + sizeof(m->entries[0]));
	if (m == NULL)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		memset(m, 0, sizeof(*m) + sizeof(m->entries[0]));
		m->nmsrs = 1;
		m->entries[0].index = idx[i];
		if (ioctl(v->fd, KVM_GET_MSRS, m) != 1)
			continue;
		out[k].index = idx[i];
		out[k].pad = 0;
		out[k++].data = m->entries[0].data;
	}
	free(m);
	rc = snap_add(s, SNAP_VCPU_MSRS, v->id, out, k * sizeof(out[0]));
	return rc;
}

static int
save_vcpu(struct vcpu *v, const uint32_t *msrs, int nmsrs, struct snap *s)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xsave *xs;
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events ev;
	struct kvm_debugregs dr;
	struct kvm_mp_state mp;
	int rc, i = v->id;

	if ((xs = calloc(1, sizeof(*xs))) == NULL)
		return -ENOMEM;
	if ((rc = vcpu_ioctl(v, KVM_GET_REGS, &regs, "KVM_GET_REGS")) < 0 ||
	    (rc = vcpu_ioctl(v, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS")) < 0 ||
	    (rc = vcpu_ioctl(v, KVM_GET_XSAVE, xs, "KVM_GET_XSAVE")) < 0 ||
	    (rc = vcpu_ioctl(v, KVM_GET_XCRS, &xcrs, "KVM_GET_XCRS")) < 0 ||
	    (rc = vcpu_ioctl(v, KVM_GET_LAPIC, &lapic, "KVM_GET_LAPIC")) < 0 ||
	    (rc = vcpu_ioctl(v, KVM_GET_VCPU_EVENTS, &ev,
	    "KVM_GET_VCPU_EVENTS")) < 0 ||
	    (rc = vcpu_ioctl(v, KVM_GET_DEBUGREGS, &dr,
	    "KVM_GET_DEBUGREGS")) < 0 ||
	    (rc = vcpu_ioctl(v, KVM_GET_MP_STATE, &mp, "KVM_GET_MP_STATE")) < 0) {
		free(xs);
		return rc;
	}
	snap_add(s, SNAP_VCPU_REGS, i, &regs, sizeof(regs));
	snap_add(s, SNAP_VCPU_SREGS, i, &sregs, sizeof(sregs));
	snap_add(s, SNAP_VCPU_XSAVE, i, xs, sizeof(*xs));
	snap_add(s, SNAP_VCPU_XCRS, i, &xcrs, sizeof(xcrs));
	snap_add(s, SNAP_VCPU_LAPIC, i, &lapic, sizeof(lapic));
	snap_add(s, SNAP_VCPU_EVENTS, i, &ev, sizeof(ev));
	snap_add(s, SNAP_VCPU_DEBUGREGS, i, &dr, sizeof(dr));
	snap_add(s, SNAP_VCPU_MPSTATE, i, &mp, sizeof(mp));
	free(xs);
	return save_msrs(v, msrs, nmsrs, s);
}

static int
vm_ioctl(struct vm *vm, unsigned long req, void *arg, const char *what)
{
	if (ioctl(vm->vm_fd, req, arg) < 0) {
		int e = errno;

		hlog("%s: %s: %s", vm->name, what, strerror(e));
		return -e;
	}
	return 0;
}

static int
save_vm(struct vm *vm, struct snap *s)
{
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clk;
	struct kvm_irqchip chip;
	int rc;

	for (uint32_t id = KVM_IRQCHIP_PIC_MASTER; id <= KVM_IRQCHIP_IOAPIC;
	    id++) {
		memset(&chip, 0, sizeof(chip));
		chip.chip_id = id;
		if ((rc = vm_ioctl(vm, KVM_GET_IRQCHIP, &chip,
		    "KVM_GET_IRQCHIP")) < 0)
			return rc;
		snap_add(s, SNAP_VM_IRQCHIP, id, &chip, sizeof(chip));
	}
	memset(&clk, 0, sizeof(clk));
	if ((rc = vm_ioctl(vm, KVM_GET_PIT2, &pit, "KVM_GET_PIT2")) < 0 ||
	    (rc = vm_ioctl(vm, KVM_GET_CLOCK, &clk, "KVM_GET_CLOCK")) < 0)
		return rc;
	snap_add(s, SNAP_VM_PIT, 0, &pit, sizeof(pit));
	snap_add(s, SNAP_VM_CLOCK, 0, &clk, sizeof(clk));
	return snap_add(s, SNAP_VM_IRQLEVEL, 0, vm->irq_level,
	    sizeof(vm->irq_level));
}

/*
 * Where the host has it, the guest's TSC as an offset from the host's:
 * an upgrade on the same host sets it again, so the guest's TSC runs on
 * through the pause instead of stopping.
 */
static int
save_tsc_offset(struct vcpu *v, struct snap *s)
{
	uint64_t off;
	struct kvm_device_attr a = {
		.group = KVM_VCPU_TSC_CTRL, .attr = KVM_VCPU_TSC_OFFSET,
		.addr = (uintptr_t)&off,
	};

	if (ioctl(v->fd, KVM_HAS_DEVICE_ATTR, &a) < 0)
		return 0;
	if (ioctl(v->fd, KVM_GET_DEVICE_ATTR, &a) < 0)
		return vcpu_ioctl(v, KVM_GET_DEVICE_ATTR, &a,
		    "KVM_GET_DEVICE_ATTR (TSC offset)");
	return snap_add(s, SNAP_VCPU_TSC_OFFSET, v->id, &off, sizeof(off));
}

int
vmstate_save(struct vm *vm, struct snap *s)
{
	uint32_t msrs[MAX_MSRS], n = vm->ncpus;
	int nmsrs, rc;

	if ((nmsrs = msr_list(vm, msrs)) < 0)
		return nmsrs;
	snap_add(s, SNAP_NCPUS, 0, &n, sizeof(n));
	for (int i = 0; i < vm->ncpus; i++)
		if ((rc = save_vcpu(&vm->vcpus[i], msrs, nmsrs, s)) < 0 ||
		    (rc = save_tsc_offset(&vm->vcpus[i], s)) < 0)
			return rc;
	return save_vm(vm, s);
}

/* --- restore --------------------------------------------------------------- */

/* Sets the saved MSRs, those with (index == deadline) == late. */
static int
load_msrs(struct vcpu *v, const struct snap *s, bool late)
{
	const struct snap_msr *sm;
	struct kvm_msrs *m;
	size_t len, n;
	int rc;

	if ((sm = snap_find(s, SNAP_VCPU_MSRS, v->id, &len)) == NULL ||
	    len % sizeof(*sm) != 0 || len / sizeof(*sm) > MAX_MSRS) {
		hlog("snapshot: vcpu %d: no valid MSR state", v->id);
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m) + MAX_MSRS * sizeof(m->entries[0]));
	if (m == NULL)
		return -ENOMEM;
	for (n = 0; n < len / sizeof(*sm); n++) {
		if ((sm[n].index == MSR_TSC_DEADLINE) != late)
			continue;
		m->entries[m->nmsrs].index = sm[n].index;
		m->entries[m->nmsrs++].data = sm[n].data;
	}
	rc = ioctl(v->fd, KVM_SET_MSRS, m);
	if (rc < 0 || (uint32_t)rc != m->nmsrs) {
		hlog("vcpu %d: KVM_SET_MSRS: MSR %#x refused (this host's CPU "
		    "differs from the snapshot's?)", v->id,
		    rc >= 0 ? m->entries[rc].index : 0);
		free(m);
		return -EINVAL;
	}
	free(m);
	return 0;
}

#define GET(tag, type, what) \
	const type *what = snap_get(s, tag, i, sizeof(type), #what)

static int
load_vcpu(struct vcpu *v, const struct snap *s)
{
	int i = v->id, rc;
	GET(SNAP_VCPU_REGS, struct kvm_regs, regs);
	GET(SNAP_VCPU_SREGS, struct kvm_sregs, sregs);
	GET(SNAP_VCPU_XSAVE, struct kvm_xsave, xsave);
	GET(SNAP_VCPU_XCRS, struct kvm_xcrs, xcrs);
	GET(SNAP_VCPU_LAPIC, struct kvm_lapic_state, lapic);
	GET(SNAP_VCPU_EVENTS, struct kvm_vcpu_events, events);
	GET(SNAP_VCPU_DEBUGREGS, struct kvm_debugregs, debugregs);
	GET(SNAP_VCPU_MPSTATE, struct kvm_mp_state, mpstate);

	if (!regs || !sregs || !xsave || !xcrs || !lapic || !events ||
	    !debugregs || !mpstate)
		return -EINVAL;
	/* The ioctls take non-const pointers but do not write to them. */
	if ((rc = vcpu_ioctl(v, KVM_SET_SREGS, (void *)sregs,
	    "KVM_SET_SREGS")) < 0 ||
	    (rc = vcpu_ioctl(v, KVM_SET_REGS, (void *)regs, "KVM_SET_REGS")) < 0 ||
	    (rc = vcpu_ioctl(v, KVM_SET_XSAVE, (void *)xsave,
	    "KVM_SET_XSAVE")) < 0 ||
	    (rc = vcpu_ioctl(v, KVM_SET_XCRS, (void *)xcrs, "KVM_SET_XCRS")) < 0 ||
	    (rc = load_msrs(v, s, false)) < 0 ||
	    (rc = vcpu_ioctl(v, KVM_SET_MP_STATE, (void *)mpstate,
	    "KVM_SET_MP_STATE")) < 0 ||
	    (rc = vcpu_ioctl(v, KVM_SET_LAPIC, (void *)lapic,
	    "KVM_SET_LAPIC")) < 0 ||
	    (rc = load_msrs(v, s, true)) < 0 ||
	    (rc = vcpu_ioctl(v, KVM_SET_VCPU_EVENTS, (void *)events,
	    "KVM_SET_VCPU_EVENTS")) < 0 ||
	    (rc = vcpu_ioctl(v, KVM_SET_DEBUGREGS, (void *)debugregs,
	    "KVM_SET_DEBUGREGS")) < 0)
		return rc;
	return 0;
}

/* Live: the saved TSC offset, so the guest's TSC counts the pause. */
static int
load_tsc_offset(struct vcpu *v, const struct snap *s)
{
	const uint64_t *off;
	struct kvm_device_attr a = {
		.group = KVM_VCPU_TSC_CTRL, .attr = KVM_VCPU_TSC_OFFSET,
	};

	if (snap_get_opt(s, SNAP_VCPU_TSC_OFFSET, v->id, sizeof(*off),
	    "TSC offset", (const void **)&off) < 0)
		return -EINVAL;
	if (off == NULL)
		return 0;
	a.addr = (uintptr_t)off;
	return vcpu_ioctl(v, KVM_SET_DEVICE_ATTR, &a,
	    "KVM_SET_DEVICE_ATTR (TSC offset)");
}

static int
load_vm(struct vm *vm, const struct snap *s, bool live)
{
	const struct kvm_irqchip *chip;
	const struct kvm_pit_state2 *pit;
	const struct kvm_clock_data *clk;
	const uint8_t *lvl;
	struct kvm_clock_data c;
	int rc;

	for (uint32_t id = KVM_IRQCHIP_PIC_MASTER; id <= KVM_IRQCHIP_IOAPIC;
	    id++) {
		if ((chip = snap_get(s, SNAP_VM_IRQCHIP, id, sizeof(*chip),
		    "irqchip")) == NULL)
			return -EINVAL;
		if ((rc = vm_ioctl(vm, KVM_SET_IRQCHIP, (void *)chip,
		    "KVM_SET_IRQCHIP")) < 0)
			return rc;
	}
	if ((pit = snap_get(s, SNAP_VM_PIT, 0, sizeof(*pit), "PIT")) == NULL ||
	    (clk = snap_get(s, SNAP_VM_CLOCK, 0, sizeof(*clk), "clock")) == NULL ||
	    (lvl = snap_get(s, SNAP_VM_IRQLEVEL, 0, sizeof(vm->irq_level),
	    "IRQ line")) == NULL)
		return -EINVAL;
	if ((rc = vm_ioctl(vm, KVM_SET_PIT2, (void *)pit, "KVM_SET_PIT2")) < 0)
		return rc;
	/* The guest's clock goes on from where it stopped or, live, counts
	 * the time since (KVM adds what passed since clk->realtime). */
	memset(&c, 0, sizeof(c));
	c.clock = clk->clock;
	if (live && (clk->flags & KVM_CLOCK_REALTIME)) {
		c.flags = KVM_CLOCK_REALTIME;
		c.realtime = clk->realtime;
	}
	if ((rc = vm_ioctl(vm, KVM_SET_CLOCK, &c, "KVM_SET_CLOCK")) < 0)
		return rc;
	memcpy(vm->irq_level, lvl, sizeof(vm->irq_level));
	return 0;
}

int
vmstate_load(struct vm *vm, const struct snap *s, bool live)
{
	const uint32_t *n;
	int rc;

	if ((n = snap_get(s, SNAP_NCPUS, 0, sizeof(*n), "vCPU count")) == NULL)
		return -EINVAL;
	if (*n != (uint32_t)vm->ncpus) {
		hlog("snapshot: it has %u vCPUs, the VM %d (keep cpus as it "
		    "was)", *n, vm->ncpus);
		return -EINVAL;
	}
	/* The irqchip first: the LAPICs' state refers to it. */
	if ((rc = load_vm(vm, s, live)) < 0)
		return rc;
	for (int i = 0; i < vm->ncpus; i++)
		if ((rc = load_vcpu(&vm->vcpus[i], s)) < 0 ||
		    (live && (rc = load_tsc_offset(&vm->vcpus[i], s)) < 0))
			return rc;
	return 0;
}
