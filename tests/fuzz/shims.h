#ifndef HYVE_FUZZ_SHIMS_H
#define HYVE_FUZZ_SHIMS_H

#include <stdint.h>

#include "backends/runtime.h"

/* net_shim.c: hyve-net over a socket standing in for the tap. */
void *fznet_init(int tapfd, struct vu_backend *be);
void fznet_rx(struct vu_dev *d);

/* rnd_shim.c: hyve-rnd's device; rate 0 is unlimited. */
void *fzrnd_init(const struct vu_backend **be);
void fzrnd_rate(uint64_t rate);

#endif
