#ifndef HYVE_RND_H
#define HYVE_RND_H

/*
 * hyve-rnd: virtio-rng (device type 4) over vhost-user.  One queue; every
 * device-writable buffer the guest posts is filled from getrandom(2),
 * optionally limited to a rate in bytes per second.
 */

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "backends/runtime.h"

#define RND_QUEUE_SIZE	1024

struct rnd {
	uint64_t rate;		/* bytes per second, 0 = unlimited */
	uint64_t tokens;
	struct timespec last;
	int tfd;
	bool waiting;		/* timer armed for more tokens */
	bool violate;		/* --debug-seccomp: break the rules when kicked */
};

extern const struct vu_backend rnd_backend;

/* With r->rate set: the timer that brings more tokens, in d's event loop.
 * Returns 0 or -errno. */
int rnd_start_rate(struct rnd *r, struct vu_dev *d);

/* Its sandbox: what it is given and held to (rnd_sandbox.c). */
struct sandbox_row;
extern const struct sandbox_row rnd_sandbox;

#endif
