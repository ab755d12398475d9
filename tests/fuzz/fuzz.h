#ifndef HYVE_FUZZ_H
#define HYVE_FUZZ_H

/*
 * Helpers shared by the libFuzzer targets: a cursor over the input, a
 * check that fails loudly (a broken invariant is a finding, like a
 * sanitizer report), and counting open fds to catch leaks.
 */

#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fz {
	const uint8_t *p;
	size_t n;
};

static inline uint64_t
fz_uint(struct fz *f, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++) {
		v |= (uint64_t)(f->n ? *f->p : 0) << (8 * i);
		if (f->n) {
			f->p++;
			f->n--;
		}
	}
	return v;
}

#define fz_u8(f)	((uint8_t)fz_uint((f), 1))
#define fz_u16(f)	((uint16_t)fz_uint((f), 2))
#define fz_u32(f)	((uint32_t)fz_uint((f), 4))
#define fz_u64(f)	fz_uint((f), 8)

/* Up to want bytes of input; returns how many were taken. */
static inline size_t
fz_take(struct fz *f, void *dst, size_t want)
{
	size_t k = want < f->n ? want : f->n;

	memcpy(dst, f->p, k);
	f->p += k;
	f->n -= k;
	return k;
}

#define FZ_CHECK(c) do {						\
	if (!(c)) {							\
		fprintf(stderr, "fuzz invariant broken: %s (%s:%d)\n",	\
		    #c, __FILE__, __LINE__);				\
		abort();						\
	}								\
} while (0)

/* Open fds of this process; a target compares it before and after. */
static inline int
fz_nfds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;		/* the directory's own fd */
}

#endif
