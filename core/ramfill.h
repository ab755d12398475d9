#ifndef HYVE_RAMFILL_H
#define HYVE_RAMFILL_H

/*
 * A restore's guest RAM, loaded while the guest runs (ramfill.c): pages
 * on first touch through userfaultfd, the rest by a thread.  The devices'
 * rings wait until it is all there and its hash matched.
 */
#include <stdbool.h>
#include <stdint.h>

struct vm;

/* Takes file (the snapshot's memory file, checked and open; path is its
 * name) on success; vm's RAM must be empty.  -errno: nothing started,
 * file still the caller's. */
int ramfill_start(struct vm *vm, int file, const char *path, uint64_t hash);
/* Still loading: rings, snapshots and upgrades wait. */
bool ramfill_busy(void);
/* Stops it, if it runs (the VM ends). */
void ramfill_fini(void);

#endif
