#ifndef HYVE_CAPS_H
#define HYVE_CAPS_H

/*
 * The calling thread's capability sets, as 64-bit masks (bit N is
 * capability N), read and written with capget/capset directly.  hyve's
 * binaries are linked statically, and libcap-ng's one object would pull
 * in glibc's user database lookups, which a static binary cannot use.
 */

#include <stdbool.h>
#include <stdint.h>

struct caps {
	uint64_t	eff, perm, inh;
};

#define CAP_BIT(c)	(1ULL << (c))

/* 0, or -errno. */
int caps_get(struct caps *c);
int caps_set(const struct caps *c);
/* Drops every capability not in keep from the bounding set (needs
 * CAP_SETPCAP for any still in it).  0, or -errno. */
int caps_bound(uint64_t keep);
/* The bounding set. */
uint64_t caps_bounding(void);
/* Clears the ambient set.  0, or -errno. */
int caps_clear_ambient(void);
/* Nothing in the effective, permitted, inheritable or bounding set. */
bool caps_none(void);

#endif
