/*
 * Builds hyve-rnd's request code into the fuzz target; its main() is
 * renamed out of the way and the file itself is not changed.
 */
#define main rnd_main
#include "backends/rnd/main.c"
#undef main
#include "tests/fuzz/shims.h"

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

