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

/* A backend's mapping of guest RAM: start..start+len (its address) holds
 * the memfd's bytes from off. */
#define RAMFILL_MAX_RANGES	8
struct ramfill_range {
	uint64_t	start, len, off;
};
/* Shared: registers a backend's ranges on its userfaultfd fd and serves
 * their faults; takes fd, always (again for a new table on the same fd:
 * the ranges are replaced).  -errno: not served, fd closed. */
int ramfill_watch(int fd, const struct ramfill_range *r, unsigned n);
/* The backend is gone: fd is closed by the fault thread. */
void ramfill_unwatch(int fd);
/* Stops it, if it runs (the VM ends). */
void ramfill_fini(void);

#endif
