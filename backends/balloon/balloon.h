#ifndef HYVE_BALLOON_H
#define HYVE_BALLOON_H

/*
 * hyve-balloon: virtio-balloon (device type 5) over vhost-user, for free
 * page reporting only.  The guest lists blocks of its memory that it has
 * freed; the backend gives their pages back to the host.  The host never
 * asks the guest for memory: num_pages stays 0, so a driver never
 * inflates.
 */

#include <stddef.h>
#include <linux/virtio_balloon.h>

#include "backends/runtime.h"

#define BALLOON_QUEUE_SIZE	256

/* Queues: inflate (0) and deflate (1), which every driver makes, then
 * reporting (2).  The statistics and free-page-hint queues do not exist:
 * their features are not offered, and Linux numbers the queues that
 * exist one after the other. */
#define BALLOON_Q_REPORT	2
#define BALLOON_NQUEUES		3

/* Its config: num_pages and actual; the rest needs features not offered. */
#define BALLOON_CFG_LEN	offsetof(struct virtio_balloon_config, \
	free_page_hint_cmd_id)

extern const struct vu_backend balloon_backend;

/* Its sandbox: what it is given and held to (balloon_sandbox.c). */
struct sandbox_row;
extern const struct sandbox_row balloon_sandbox;

#endif
