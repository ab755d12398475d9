#ifndef HYVE_VMGENID_H
#define HYVE_VMGENID_H

#include <stdbool.h>

struct snap;
struct vm;

/* A new VM generation ID at VMGENID_ADDR, for a VM that boots. */
int vmgenid_init(struct vm *vm);
/* Its address, in a snapshot or an upgrade's state. */
int vmgenid_save(struct vm *vm, struct snap *s);
/* The address back; restored: a new ID and its notification (dev_lock
 * held, after pm_load). */
int vmgenid_load(struct vm *vm, const struct snap *s, bool restored);

#endif
