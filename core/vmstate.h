#ifndef HYVE_VMSTATE_H
#define HYVE_VMSTATE_H

/*
 * The KVM side of a snapshot: every vCPU's registers and the VM's
 * in-kernel devices (irqchip, PIT, clock).  The vCPUs must be paused
 * (vcpus_pause) or not yet started.
 */
#include <stdbool.h>

struct vm;
struct snap;

int vmstate_save(struct vm *vm, struct snap *s);
/* live: on the same host, time goes on (TSC offset, kvmclock) through
 * the pause, as for an upgrade; else it goes on from where it stopped. */
int vmstate_load(struct vm *vm, const struct snap *s, bool live);

#endif
