/*
 * Guest memory for backends: map the frontend's regions, translate
 * addresses with range checks.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "backends/guestmem.h"
#include "core/log.h"

void
gmem_init(struct gmem *gm)
{
	memset(gm, 0, sizeof(*gm));
}

static void
unmap_all(struct gmem_region *r, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (r[i].map != NULL)
			munmap(r[i].map, r[i].maplen);
}

void
gmem_free(struct gmem *gm)
{
	unmap_all(gm->r, gm->n);
	gmem_init(gm);
}

static int
map_region(struct gmem_region *g, const struct vu_region *r, int fd, unsigned i)
{
	struct stat st;
	uint64_t len = r->mmap_offset + r->size;

	if (fstat(fd, &st) < 0) {
		hlog("guest memory region %u: fd %d: %s; the frontend must pass "
		    "a memfd", i, fd, strerror(errno));
		return -EINVAL;
	}
	if (!S_ISREG(st.st_mode)) {
		hlog("guest memory region %u: fd %d is not a file; the frontend "
		    "must pass a memfd", i, fd);
		return -EINVAL;
	}
	/* A mapping past the end of the file would SIGBUS on first touch. */
	if ((uint64_t)st.st_size < len || len > SIZE_MAX) {
		hlog("guest memory region %u: offset+size %#llx beyond the "
		    "%lld-byte file; fix the frontend's memory table", i,
		    (unsigned long long)len, (long long)st.st_size);
		return -EINVAL;
	}
	g->map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
	    fd, 0);
	if (g->map == MAP_FAILED) {
		g->map = NULL;
		hlog("guest memory region %u: mmap of %#llx bytes: %s", i,
		    (unsigned long long)len, strerror(errno));
		return -ENOMEM;
	}
	g->maplen = len;
	g->gpa = r->gpa;
	g->size = r->size;
	g->uaddr = r->uaddr;
	g->host = (uint8_t *)g->map + r->mmap_offset;
	return 0;
}

int
gmem_set_table(struct gmem *gm, const struct vu_memtable *t, const int *fds)
{
	struct gmem_region nr[VU_MAX_REGIONS];
	const char *why;
	unsigned i;
	int rc;

	if ((rc = vu_check_memtable(t, &why)) < 0) {
		hlog("guest memory table: %s; fix the frontend", why);
		return rc;
	}
	memset(nr, 0, sizeof(nr));
	for (i = 0; i < t->nregions; i++) {
		rc = map_region(&nr[i], &t->regions[i], fds[i], i);
		if (rc < 0) {
			unmap_all(nr, i);
			return rc;
		}
	}
	gmem_free(gm);
	memcpy(gm->r, nr, sizeof(nr));
	gm->n = t->nregions;
	return 0;
}

static void *
lookup(const struct gmem *gm, uint64_t a, uint64_t len, bool uva)
{
	if (len == 0)
		return NULL;
	for (unsigned i = 0; i < gm->n; i++) {
		const struct gmem_region *r = &gm->r[i];
		uint64_t base = uva ? r->uaddr : r->gpa;
		uint64_t off = a - base;

		/* Written so that no sum can wrap. */
		if (a >= base && off < r->size && len <= r->size - off)
			return r->host + off;
	}
	return NULL;
}

void *
gmem_gpa(const struct gmem *gm, uint64_t gpa, uint64_t len)
{
	return lookup(gm, gpa, len, false);
}

void *
gmem_uva(const struct gmem *gm, uint64_t uva, uint64_t len)
{
	return lookup(gm, uva, len, true);
}
