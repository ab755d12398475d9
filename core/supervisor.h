#ifndef HYVE_SUPERVISOR_H
#define HYVE_SUPERVISOR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/backend.h"
#include "core/devclass.h"
#include "ipc/stats.h"

struct vpci;

/*
 * The supervisor starts each device's backend, watches it (pidfd in the
 * event loop, and a heartbeat for hangs), restarts it when it dies — with
 * the same sandbox and descriptors, its vhost-user setup replayed and its
 * unfinished requests run again from the inflight region — backs off when
 * it keeps dying, and marks the device failed (DEVICE_NEEDS_RESET) after
 * too many deaths in a window; a failed device is tried again now and
 * then, and at once on hyvectl restart.  It also swaps a device's backend
 * on request.
 */

/* Defaults of restart.max (deaths within the window before the device is
 * marked failed), restart.window (seconds) and restart.retry (seconds
 * between tries to bring a failed device back; 0: only hyvectl restart). */
#define SUP_RESTART_MAX		5
#define SUP_WINDOW_S		60
#define SUP_RETRY_S		30
#define SUP_BACKOFF_MS		10	/* first delay; doubles, capped */
#define SUP_BACKOFF_MAX_MS	2000

/* A device's backend, from start to its last restart. */
struct sup_dev {
	struct backend_proc bp;
	bool		spawned;	/* hyve started it (else: vhost-user) */
	char		*argv[24];	/* how it is started, argv[0] the binary */
	int		argc;
	bool		argv_full;	/* arguments were lost: an error */
	int		slot[DEV_MAX_SLOTS];	/* what the core opened for it */
	bool		uffd_arg;	/* --uffd: /dev/userfaultfd comes last */
	int		statsfd;	/* the counters page, shared with it */
	struct hyve_stats *stats;
	bool		down;		/* dead, a new one is on its way */
	int		restarts;	/* in all */
	int		recent;		/* crashes in the current window */
	long long	window_start;	/* ms, CLOCK_MONOTONIC */
	int		timer;		/* timerfd for a delayed restart */
	long long	next_try;	/* ms, when the timer fires; 0: not set */
	char		last_exit[192];
	pid_t		last_pid;	/* the backend that ended last */
	char		node[32];	/* its config node, "pci.0.3.0" */
	bool		failed;
	bool		failed_reset;	/* failing set DEVICE_NEEDS_RESET */
};

/* Before sup_attach: nothing started, nothing open. */
void sup_init(struct sup_dev *d);
/* Starts (or, with sock >= 0, connects) the backend of v; the handshake. */
int sup_attach(struct vpci *v, const char *node, int sock);
/* For a class's prepare: an argument for v's backend (b: its value, or
 * NULL); past argv's room sup_attach fails with -E2BIG. */
void sup_arg(struct vpci *v, const char *a, const char *b);
/* For a class's prepare: fd (now v's) goes to the backend in slot. */
void sup_give(struct vpci *v, int slot, int fd);
/* hyvectl upgrade (core/upgrade.c): every device's backend must run;
 * err names one that does not. */
int sup_upgrade_check(char *err, size_t len);
struct upg_out;
/* Adds every backend's descriptors and what the new core needs to know
 * of it to the handover. */
int sup_handover(struct upg_out *o);
/* How a backend that another process reaped ended (after an upgrade the
 * first core reaps every backend and says so). */
void sup_reaped(pid_t pid, int status);
/* Stops and reaps the backend of v; closes what was opened for it. */
void sup_detach(struct vpci *v);

struct sup_swap {
	const char	*binary;	/* a new backend binary, or NULL */
	const char	*path;		/* blk: a new disk image, or NULL */
	const char	*tap;		/* net: a new tap, or NULL */
};
/* Replaces the backend of device name ("blk0") at a consistent point.
 * Errors go to err. */
int sup_swap(const char *name, const struct sup_swap *sw, char *err,
    size_t len);
/* The pid of device name's backend, or -1. */
pid_t sup_pid(const char *name);
/* Asks every backend for a sign of life; kills the ones that hang. */
void sup_heartbeat(void);
/* Calls fn for each device with a vhost-user backend. */
void sup_foreach(void (*fn)(struct vpci *v, void *arg), void *arg);
const char *sup_state(const struct vpci *v);
/* Milliseconds until v's backend is next tried, or -1 if none is due. */
long long sup_next_try(const struct vpci *v);

#endif
