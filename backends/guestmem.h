#ifndef HYVE_GUESTMEM_H
#define HYVE_GUESTMEM_H

/*
 * Guest memory as a backend sees it: the regions of the last SET_MEM_TABLE,
 * each an mmap of the fd the frontend passed.  Every translation checks
 * that the whole range lies inside one region.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "ipc/vhost_user.h"

struct gmem_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr;		/* frontend virtual address (ring addresses) */
	uint8_t *host;		/* gpa maps to host */
	void *map;
	size_t maplen;
	int guard;		/* gmem_guard slot of map, 0 if none */
};

struct gmem {
	unsigned n;
	struct gmem_region r[VU_MAX_REGIONS];
};

void gmem_init(struct gmem *gm);

/*
 * A frontend may shrink the file under a mapping, which turns accesses
 * into SIGBUS.  gmem_guard_install (before the sandbox: it needs
 * sigaction) makes such a fault in a guarded mapping put zero pages there
 * instead and mark the mapping lost; any other SIGBUS kills the process
 * as before.  Every region gmem_set_table maps is guarded.
 */
int gmem_guard_install(void);
/* Guards [p, p+len); returns a slot (> 0) or -ENOSPC. */
int gmem_guard(void *p, size_t len);
/* Forgets slot g (0 is ignored); call before unmapping. */
void gmem_unguard(int g);
/* True once an access faulted in slot g's mapping. */
bool gmem_guard_lost(int g);
/* True once any region of gm lost its file. */
bool gmem_lost(const struct gmem *gm);

/*
 * Maps every region of t from fds[i] (which stay open: the caller closes
 * them).  Replaces the current table only on success.  Returns 0 or
 * -errno (-EINVAL for a bad table, a region beyond its file's end, or a
 * memfd that could be sealed against shrinking but is not).
 */
int gmem_set_table(struct gmem *gm, const struct vu_memtable *t, const int *fds);

void gmem_free(struct gmem *gm);

/* Host pointer for [gpa, gpa+len), or NULL unless len > 0 and the range
 * lies inside one region. */
void *gmem_gpa(const struct gmem *gm, uint64_t gpa, uint64_t len);

/* The same for a frontend virtual address (SET_VRING_ADDR). */
void *gmem_uva(const struct gmem *gm, uint64_t uva, uint64_t len);

#endif
