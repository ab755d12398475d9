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

/* vsock_shim.c: hyve-vsock's device; fzvsock_open makes connection 0
 * (host_port, guest_port) live on a socketpair holding data for the guest,
 * fzvsock_close drains and closes the host's end (after the reset). */
void *fzvsock_init(void);
int fzvsock_attach(struct vu_dev *d);
void fzvsock_open(uint32_t host_port, uint32_t guest_port, uint32_t buf_alloc,
    const void *data, size_t len);
void fzvsock_close(void);

#endif
