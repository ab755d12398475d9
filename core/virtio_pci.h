#ifndef HYVE_VIRTIO_PCI_H
#define HYVE_VIRTIO_PCI_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/backend.h"
#include "core/devclass.h"
#include "core/supervisor.h"
#include "core/vu_frontend.h"

struct vm;
struct pci_dev;

/*
 * A virtio-pci modern (1.x) device whose device model is a vhost-user
 * backend in another process.  The core handles configuration only:
 * common config, MSI-X (routes and irqfds), feature negotiation and the
 * backend's life cycle; queue notifications go guest -> ioeventfd ->
 * backend and completions backend -> irqfd -> guest.
 */

#define VPCI_MAX_QUEUES	16
#define VPCI_MAX_VEC	(VPCI_MAX_QUEUES + 1)

/* BAR 0: MSI-X table and PBA.  BAR 4: the virtio structures. */
#define VPCI_MSIX_BAR		0
#define VPCI_MSIX_BAR_SIZE	0x1000
#define VPCI_MSIX_PBA		0x800
#define VPCI_BAR		4
#define VPCI_BAR_SIZE		0x4000
#define VPCI_COMMON		0x0000
#define VPCI_COMMON_SIZE	0x38
#define VPCI_ISR		0x1000
#define VPCI_DEVCFG		0x2000
#define VPCI_DEVCFG_SIZE	0x100
#define VPCI_NOTIFY		0x3000
#define VPCI_NOTIFY_MULT	4

struct vpci_queue {
	uint16_t	size;
	uint16_t	vector;
	uint16_t	enable;
	uint64_t	desc, avail, used;
	int		kick, call, err;	/* eventfds */
	int		irqfd;			/* call fd assigned as irqfd, or -1 */
	int		irqfd_gsi;
	bool		started;
};

struct vpci_vec {
	uint64_t	addr;
	uint32_t	data;
	uint32_t	ctrl;		/* bit 0: masked */
	int		gsi;
};

struct vpci {
	struct vm	*vm;
	struct pci_dev	*pd;
	const struct devclass *cls;
	char		name[16];
	struct vu_front	vu;
	struct sup_dev	sup;		/* its backend (supervisor.c) */

	uint64_t	dev_features, drv_features;
	uint32_t	dfsel, gfsel;
	uint8_t		status;
	uint8_t		isr;
	uint8_t		cfg_gen;
	uint16_t	config_vector;
	uint16_t	qsel;
	unsigned	nq;
	struct vpci_queue q[VPCI_MAX_QUEUES];

	bool		msix_on, msix_fmask;
	unsigned	nvec;
	struct vpci_vec	vec[VPCI_MAX_VEC];
	uint64_t	pba;
	bool		config_pending;	/* config interrupt owed while masked */

	uint64_t	notify_base;	/* guest-physical, 0 while unmapped */

	struct vuf_inflight infl;	/* kept across backends */
	/* Rings to start once a restore's RAM is all there (ramfill.c),
	 * from hbases if bases_held, else from the used indexes. */
	bool		held, bases_held;
	uint16_t	hbases[VPCI_MAX_QUEUES];
	uint8_t		devcfg[VPCI_DEVCFG_SIZE];
	int		cfgcap;		/* offset of the PCI_CFG capability */
	int		msixcap;	/* offset of the MSI-X capability */
};

/* The transport's hooks, shared by every class's emulation. */
int vpci_init(struct vm *vm, struct pci_dev *pd, const char *node);
int vpci_check(const char *node, const char *name);
int vpci_cfgread(struct pci_dev *pd, int off, int size, uint32_t *val);
int vpci_cfgwrite(struct pci_dev *pd, int off, int size, uint32_t val);
int vpci_barread(struct pci_dev *pd, int bar, uint64_t off, int size,
    uint64_t *val);
int vpci_barwrite(struct pci_dev *pd, int bar, uint64_t off, int size,
    uint64_t val);
void vpci_barmap(struct pci_dev *pd, int bar, bool mapped, uint64_t addr);
void vpci_fini(struct pci_dev *pd);

#define VPCI_DEVEMU(nm, use) {						\
	.name = nm, .usage = use, .init = vpci_init, .check = vpci_check,	\
	.cfgread = vpci_cfgread, .cfgwrite = vpci_cfgwrite,		\
	.barread = vpci_barread, .barwrite = vpci_barwrite,		\
	.barmap = vpci_barmap, .fini = vpci_fini,			\
}

/* The device behind pd, if a class or vhost-user serves it; else NULL. */
struct vpci *vpci_of(struct pci_dev *pd);

/* virtio_pci.c, for the supervisor. */
bool vpci_backend_ok(const struct vpci *v);
void vpci_needs_reset(struct vpci *v, const char *why);
void vpci_config_changed(struct vpci *v);
int vpci_start_rings(struct vpci *v, const uint16_t *bases);
int vpci_replay(struct vpci *v, const uint16_t *bases);
/* A restore's RAM is all there: the rings held meanwhile start (the
 * caller holds dev_lock). */
void vpci_release_held(struct vm *vm);
/* bus << 8 | slot << 3 | func: its instance in a snapshot. */
uint32_t vpci_bdf(const struct vpci *v);
int vpci_stop_rings(struct vpci *v, uint16_t *bases);

#endif
