#ifndef HYVE_BALLOON_H
#define HYVE_BALLOON_H

/*
 * hyve-balloon: virtio-balloon (device type 5) over vhost-user, for free
 * page reporting only.  The guest lists blocks of its memory that it has
 * freed; the backend gives their pages back to the host.  The host never
 * asks the guest for memory: num_pages stays 0, so a driver never
 * inflates.
 */

#include <stdbool.h>

#include "backends/runtime.h"

#define BALLOON_QUEUE_SIZE	256

/* Queues: the inflate and deflate queues every driver makes, then the
 * reporting queue (the statistics and free-page-hint queues do not exist:
 * their features are not offered, and Linux numbers the queues that
 * exist one after the other). */
#define BALLOON_Q_INFLATE	0
#define BALLOON_Q_DEFLATE	1
#define BALLOON_Q_REPORT	2
#define BALLOON_NQUEUES		3

struct balloon {
	bool violate;		/* --debug-seccomp: break the rules when kicked */
};

extern const struct vu_backend balloon_backend;

/* Its sandbox: what it is given and held to (balloon_sandbox.c). */
struct sandbox_row;
extern const struct sandbox_row balloon_sandbox;

#endif
