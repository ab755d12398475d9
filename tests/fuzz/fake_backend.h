#ifndef HYVE_FUZZ_FAKE_BACKEND_H
#define HYVE_FUZZ_FAKE_BACKEND_H

#include "backends/runtime.h"

/*
 * A small device on the shared backend runtime: two queues, 256 bytes of
 * config space, and a kick that takes every chain, checks that each buffer
 * is guest memory and the rings still lie in it, and completes the chain.
 */
extern const struct vu_backend fake_backend;

/* Serves the listening socket lfd forever in a new thread. */
int fake_backend_thread(int lfd);

#endif
