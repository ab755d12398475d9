/*
 * hyve-rnd's device (backends/rnd/rnd.c) for the fuzz target, without
 * its main().
 */
#include <sys/timerfd.h>
#include <time.h>

#include "backends/rnd/rnd.h"
#include "tests/fuzz/shims.h"

static struct rnd rnd = { .tfd = -1 };

void *
fzrnd_init(const struct vu_backend **be)
{
	rnd.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	clock_gettime(CLOCK_MONOTONIC, &rnd.last);
	*be = &rnd_backend;
	return &rnd;
}

void
fzrnd_rate(uint64_t rate)
{
	rnd.rate = rate;
	rnd.tokens = rate;
	rnd.waiting = false;
}
