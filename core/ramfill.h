#ifndef HYVE_RAMFILL_H
#define HYVE_RAMFILL_H

/*
 * A restore's guest RAM, loaded while the guest runs (ramfill.c): pages
 * on first touch through userfaultfd, the rest by a thread.  The devices'
 * rings wait until it is all there and its hash matched.
 */
#include <stdbool.h>
#include <stdint.h>

#include "core/vu_frontend.h"

struct vm;

/* Takes file (the snapshot's memory file, checked and open; path is its
 * name) on success; vm's RAM must be empty.  shared: the pages stay in
 * the file and are served at first touch for as long as the VM runs
 * (memory.share_snapshot).  -errno: nothing started, file still the
 * caller's. */
int ramfill_start(struct vm *vm, int file, const char *path, uint64_t hash,
    bool shared);
/* Still loading (or, shared, checking): rings, snapshots and upgrades
 * wait. */
bool ramfill_busy(void);
/* Shared: guest RAM is served from the snapshot's file to the end. */
bool ramfill_shared(void);
/* Shared: the snapshot's memory file, whose pages the memfd does not have
 * yet are the guest's too; else -1. */
int ramfill_source(void);
/* Shared: copies in the stored pages of off..off+len the memfd lacks, a
 * MiB at a time, not a fault per page (a snapshot reading them all). */
int ramfill_fetch(uint64_t off, uint64_t len);

/* Shared: registers a backend's mappings (vuf_set_mem_table_shared's
 * ranges) on its userfaultfd and serves their faults.  key names the
 * backend's device: fd >= 0 is its new descriptor (a restarted backend's
 * replaces the old one), -1 keeps the one it has, for a new table.  Takes
 * fd, always.  -errno: not served. */
#define RAMFILL_MAX_RANGES	8
int ramfill_watch(const void *key, int fd, const struct vuf_range *r,
    unsigned n);
/* Stops it, if it runs (the VM ends). */
void ramfill_fini(void);

#endif
