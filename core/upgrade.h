#ifndef HYVE_UPGRADE_H
#define HYVE_UPGRADE_H

/*
 * hyvectl upgrade: a new core takes over a running guest (docs/UPGRADE.md).
 *
 * The old core pauses the vCPUs, stops the rings, and hands a new core
 * (started by the monitor from the named binary) its state, in snapshot
 * sections without guest RAM, and every descriptor it cannot open itself:
 * /dev/kvm, the guest RAM memfd and each backend's socket, pidfd, disk or
 * tap, counters page and inflight region.  KVM binds a VM to the process
 * that made it, so the new core makes its own VM and vCPUs and loads their
 * state; the backends keep their processes and connections.  Until the new
 * core says it is ready, it changes nothing of a backend's (it may read a
 * device's config), and the old one can go on.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct vm;
struct snap;

/* What a descriptor in the handover is (struct upg_fd). */
enum upg_kind {
	UPG_KVM = 1,		/* /dev/kvm */
	UPG_MEM,		/* guest RAM */
	UPG_ANCHOR,		/* the first core's channel (it waits) */
	UPG_DEV_SOCK,		/* inst = bdf: the vhost-user connection */
	UPG_DEV_PIDFD,
	UPG_DEV_SLOT,		/* slot = the class's slot: disk, tap */
	UPG_DEV_STATS,		/* the counters page */
	UPG_DEV_INFL,		/* the inflight region */
	UPG_UART,		/* inst = COM index, slot: in, out, listen,
				   connection */
};

struct upg_fd {
	uint32_t	kind, inst;
	int32_t		slot;
	uint32_t	pad;
};

/* A device's backend, as the old core left it (SNAP_UPG_DEV). */
struct upg_dev {
	int32_t		pid;
	uint32_t	spawned, restarts, nqueues;
	uint64_t	features, pfeatures;
	uint64_t	infl_size, infl_offset;
	uint16_t	infl_nq, infl_qsize;
	uint32_t	pad;
};

#define UPG_MAXFDS	512

/* The old core's side: what it hands over. */
struct upg_out {
	struct snap	*s;
	int		fds[UPG_MAXFDS];
	struct upg_fd	tab[UPG_MAXFDS];
	int		n;
};

/* Adds fd (still the old core's) to the handover; -ENOSPC when full. */
int upg_give(struct upg_out *o, int fd, uint32_t kind, uint32_t inst,
    int32_t slot);

struct upg_result {
	pid_t		old_pid, pid;
	long long	handover_ms;	/* from the pause to the go */
};
/*
 * Hands the VM to a new core from binary (NULL: hyve's own), which has
 * timeout_ms to say it is ready.  On failure the VM runs on here and err
 * says why in one line.  On success this core retires once its answer is
 * sent (upgrade_retire).
 */
int upgrade_run(struct vm *vm, const char *binary, int timeout_ms,
    struct upg_result *res, char *err, size_t errlen);
/* After a successful upgrade_run: the first core waits for the VM's
 * end and exits as its last core does; a later one just ends. */
bool upgrade_done(void);
void upgrade_retire(struct vm *vm, int sfd) __attribute__((noreturn));

/* The new core's side. */
/* Whether this process is a new core (hyve --upgrade). */
bool upgrading(void);
/* Reads the first part of the handover on fd (/dev/kvm, the RAM): the
 * configuration becomes the defaults. */
int upgrade_receive(int fd);
/* The VM and its vCPUs are built: says so, and reads the rest (the
 * state, the backends' descriptors), which comes once the old core has
 * paused the guest. */
int upgrade_prepared(void);
/* The descriptor handed over as (kind, inst, slot), now the caller's;
 * -1 if there is none. */
int upg_take(uint32_t kind, uint32_t inst, int32_t slot);
/* The handed-over state (sections above and the snapshot's). */
const struct snap *upg_state(void);
/* When the VM started (control_started of the first core). */
int64_t upg_started(void);
/* Notes the end of a phase of the new core's start (logged when ready). */
void upg_mark(const char *what);
/* The vCPUs run: logs the phases, and lets the old core end. */
void upgrade_running(void);
/* Loads the state into the VM built from it, not yet running. */
int upgrade_load(struct vm *vm);
/* Tells the old core it is ready and waits for it to let go; on 'go'
 * starts the rings.  An old core that goes on ends this one at once. */
int upgrade_ready(struct vm *vm);

#endif
