#ifndef HYVE_DEVCLASS_H
#define HYVE_DEVCLASS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/pci.h"
#include "sandbox/sandbox.h"

struct vpci;

/*
 * A device class: everything the core knows about one kind of virtio
 * device served by a backend, in one file (dev_blk.c, dev_net.c, ...),
 * and one row in devclasses[] (devclass.c).  The command line, -s help,
 * the PCI bus, the supervisor, the control server and the audit all read
 * it from there, as bhyve's PCI_EMUL_SET.
 */

/* Descriptors the core opens for a backend, besides its socket. */
#define DEV_MAX_SLOTS	2

struct devclass {
	struct pci_devemu pe;		/* "virtio-blk", its -s usage */
	const char	*prefix;	/* "blk": devices blk0, blk1... */
	const char	*vu_type;	/* its vhost-user type= if not prefix */
	const char	*binary;	/* "blk": hyve-blk; "/PATH": that one */
	/*
	 * A backend hyve did not write (virtiofsd): prepare gives its whole
	 * argv, it gets a listening socket with the core's connection
	 * waiting as fd 3, and no counters page.
	 */
	bool		foreign;
	uint16_t	virtio_id;
	uint8_t		class, subclass;
	unsigned	cfg_len;	/* bytes of device config */
	unsigned	nqueues;	/* fixed count, or 0: ask the backend */
	const char	*bare;		/* the key a bare -s item sets, or NULL */
	const char *const *keys;	/* the device's own keys */
	/* Keys vhost-user,type=... takes besides socket and type. */
	const char *const *vu_keys;
	/*
	 * The device config the core makes itself from the options (the
	 * backend has none to give, as virtiofsd); NULL: ask the backend.
	 */
	int	(*config)(const char *node, const char *name, uint8_t *cfg);
	/*
	 * What the backend is given in fds 4, 5...: slot "disk" reaches it
	 * as --disk-fd N (supervisor.c); the counters page comes last.
	 */
	const char	*slots[DEV_MAX_SLOTS];
	/* Its sandbox and audit: the row in its backend's directory. */
	const struct sandbox_row *role;
	/* Before KVM: the files and names the options refer to; may be NULL. */
	int	(*check)(const char *node, const char *name);
	/* Opens what the backend is given (sup_give) and adds its
	 * arguments (sup_arg); may be NULL. */
	int	(*prepare)(struct vpci *v, const char *node);
	/*
	 * hyvectl swap --OPT TARGET replaces slot 0 with reopen's
	 * descriptor; what is a "disk" for swap_opt "path".  NULL: none.
	 */
	const char	*swap_opt;
	const char	*noun;
	int	(*reopen)(struct vpci *v, const char *target, char *err,
		    size_t len);
	/*
	 * What its backend keeps that a snapshot cannot carry yet ("open
	 * files"): a snapshot of a VM with the device is refused, naming
	 * it.  NULL: the backend's state travels (DEVICE_STATE).
	 */
	const char	*unsaved;
	/* After a swap: the new config is one the driver must be told of. */
	bool	(*cfg_changed)(const char *name, const uint8_t *old,
		    const uint8_t *cur);
};

/* Every class, NULL-terminated, in -s help's order. */
#define DEVCLASS_MAX	16
extern const struct devclass *const devclasses[DEVCLASS_MAX + 1];

const struct devclass *devclass_by_emul(const char *emul);
/* By prefix or vu_type: vhost-user's type=, a process's role. */
const struct devclass *devclass_by_type(const char *type);
const struct devclass *devclass_by_swap(const char *opt);
int devclass_index(const struct devclass *c);
/* How a program we did not write is started, by its role name ("fs");
 * NULL for hyve's own backends and unknown roles. */
const struct sandbox_exec *devclass_exec(const char *role);
/* "blk|net|rng" (sep "|", last "|") or "blk, net or rng". */
void devclass_types(char *buf, size_t len, const char *sep,
    const char *last);

#endif
