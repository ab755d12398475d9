#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/irq.h"
#include "core/layout.h"
#include "core/vm.h"
#include "lib/log.h"

#define MAX_GSI		1024
#define FIRST_MSI_GSI	IOAPIC_PINS

/* One table per process, as there is one VM per process. */
static struct {
	int		used;		/* MSI GSIs handed out */
	uint64_t	addr[MAX_GSI];
	uint32_t	data[MAX_GSI];
	uint8_t		valid[MAX_GSI];
} msi;

static void
route_chip(struct kvm_irq_routing_entry *e, int gsi, int chip, int pin)
{
	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_IRQCHIP;
	e->u.irqchip.irqchip = chip;
	e->u.irqchip.pin = pin;
}

static int
irq_commit(struct vm *vm)
{
	struct kvm_irq_routing *r;
	struct kvm_irq_routing_entry *e;
	int i, n = 0, rc = 0;

	if (vm->vm_fd < 0)
		return 0;
	r = calloc(1, sizeof(*r) + (48 + MAX_GSI) * sizeof(*e));
	if (r == NULL)
		return -ENOMEM;
	e = r->entries;
	for (i = 0; i < 16; i++) {
		if (i != 2)
			route_chip(&e[n++], i, i < 8 ? KVM_IRQCHIP_PIC_MASTER :
			    KVM_IRQCHIP_PIC_SLAVE, i % 8);
	}
	for (i = 0; i < IOAPIC_PINS; i++) {
		if (i == 0)
			route_chip(&e[n++], 0, KVM_IRQCHIP_IOAPIC, 2);
		else if (i != 2)
			route_chip(&e[n++], i, KVM_IRQCHIP_IOAPIC, i);
	}
	for (i = FIRST_MSI_GSI; i < FIRST_MSI_GSI + msi.used; i++) {
		if (!msi.valid[i])
			continue;
		memset(&e[n], 0, sizeof(e[n]));
		e[n].gsi = i;
		e[n].type = KVM_IRQ_ROUTING_MSI;
		e[n].u.msi.address_lo = (uint32_t)msi.addr[i];
		e[n].u.msi.address_hi = msi.addr[i] >> 32;
		e[n].u.msi.data = msi.data[i];
		n++;
	}
	r->nr = n;
	if (ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, r) < 0) {
		rc = -errno;
		hlog("KVM_SET_GSI_ROUTING (%d routes): %s", n, strerror(errno));
	}
	free(r);
	return rc;
}

int
irq_init(struct vm *vm)
{
	memset(&msi, 0, sizeof(msi));
	return irq_commit(vm);
}

int
irq_alloc_msi(struct vm *vm)
{
	(void)vm;
	if (FIRST_MSI_GSI + msi.used >= MAX_GSI) {
		hlog("out of interrupt routes (%d MSI vectors in use)", msi.used);
		return -ENOSPC;
	}
	return FIRST_MSI_GSI + msi.used++;
}

int
irq_set_msi(struct vm *vm, int gsi, uint64_t addr, uint32_t data)
{
	if (gsi < FIRST_MSI_GSI || gsi >= FIRST_MSI_GSI + msi.used)
		return -EINVAL;
	if (msi.valid[gsi] && msi.addr[gsi] == addr && msi.data[gsi] == data)
		return 0;
	msi.addr[gsi] = addr;
	msi.data[gsi] = data;
	msi.valid[gsi] = 1;
	return irq_commit(vm);
}

static int
irqfd(struct vm *vm, int gsi, int fd, uint32_t flags)
{
	struct kvm_irqfd k;

	if (vm->vm_fd < 0)
		return 0;
	memset(&k, 0, sizeof(k));
	k.fd = fd;
	k.gsi = gsi;
	k.flags = flags;
	if (ioctl(vm->vm_fd, KVM_IRQFD, &k) < 0) {
		hlog("KVM_IRQFD%s gsi %d: %s", flags ? " deassign" : "", gsi,
		    strerror(errno));
		return -errno;
	}
	return 0;
}

int
irq_irqfd_assign(struct vm *vm, int gsi, int fd)
{
	return irqfd(vm, gsi, fd, 0);
}

int
irq_irqfd_deassign(struct vm *vm, int gsi, int fd)
{
	return irqfd(vm, gsi, fd, KVM_IRQFD_FLAG_DEASSIGN);
}

int
irq_signal_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	struct kvm_msi m = {
		.address_lo = (uint32_t)addr,
		.address_hi = addr >> 32,
		.data = data,
	};

	if (vm->vm_fd < 0)
		return 0;
	if (ioctl(vm->vm_fd, KVM_SIGNAL_MSI, &m) < 0)
		return -errno;
	return 0;
}
