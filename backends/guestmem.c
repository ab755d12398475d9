/*
 * Guest memory for backends: map the frontend's regions, translate
 * addresses with range checks.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <ucontext.h>

#include "backends/guestmem.h"
#include "lib/log.h"

/*
 * Mappings of files the frontend may shrink.  An access past the new end of
 * the file raises SIGBUS; the handler puts zero pages over the whole
 * mapping, so the access and every later one goes on harmlessly, and marks
 * it lost; the runtime then drops the frontend.  Slot i is guard i + 1.
 */
#define GMEM_GUARDS	64

static struct {
	uintptr_t start, len;		/* len 0: a free slot */
	volatile sig_atomic_t lost;
} guards[GMEM_GUARDS];
static struct sigaction old_sigbus;

static bool
chain_sigbus(int sig, siginfo_t *si, void *uc)
{
	if ((old_sigbus.sa_flags & SA_SIGINFO) && old_sigbus.sa_sigaction != NULL) {
		old_sigbus.sa_sigaction(sig, si, uc);
		return true;
	}
	if (old_sigbus.sa_handler != SIG_DFL && old_sigbus.sa_handler != SIG_IGN) {
		old_sigbus.sa_handler(sig);
		return true;
	}
	return false;
}

/* Async-signal-safe: only mmap(2). */
static void
on_sigbus(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;

	for (unsigned i = 0; i < GMEM_GUARDS && si->si_code > 0; i++) {
		uintptr_t s = __atomic_load_n(&guards[i].start, __ATOMIC_ACQUIRE);
		uintptr_t l = __atomic_load_n(&guards[i].len, __ATOMIC_ACQUIRE);

		if (l == 0 || a < s || a - s >= l)
			continue;
		if (mmap((void *)s, l, PROT_READ | PROT_WRITE, MAP_PRIVATE |
		    MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED)
			break;
		guards[i].lost = 1;
		return;
	}
	if (chain_sigbus(sig, si, uc))
		return;
	/*
	 * Not guest memory: die of SIGBUS as without this handler.  The
	 * access runs again with SIGBUS blocked, and the kernel then delivers
	 * it with the default action (no sigaction needed, which the sandbox
	 * forbids).
	 */
	if (si->si_code > 0) {
		sigaddset(&((ucontext_t *)uc)->uc_sigmask, SIGBUS);
		return;
	}
	_exit(128 + SIGBUS);
}

int
gmem_guard_install(void)
{
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, NULL, &old) < 0)
		return -errno;
	if ((old.sa_flags & SA_SIGINFO) && old.sa_sigaction == on_sigbus)
		return 0;
	old_sigbus = old;
	if (sigaction(SIGBUS, &sa, NULL) < 0)
		return -errno;
	return 0;
}

int
gmem_guard(void *p, size_t len)
{
	for (unsigned i = 0; i < GMEM_GUARDS; i++) {
		if (guards[i].len != 0)
			continue;
		guards[i].lost = 0;
		__atomic_store_n(&guards[i].start, (uintptr_t)p, __ATOMIC_RELEASE);
		__atomic_store_n(&guards[i].len, len, __ATOMIC_RELEASE);
		return i + 1;
	}
	hlog("guest memory: more than %d mappings", GMEM_GUARDS);
	return -ENOSPC;
}

void
gmem_unguard(int g)
{
	if (g <= 0 || g > GMEM_GUARDS)
		return;
	__atomic_store_n(&guards[g - 1].len, 0, __ATOMIC_RELEASE);
	guards[g - 1].lost = 0;
}

bool
gmem_guard_lost(int g)
{
	return g > 0 && g <= GMEM_GUARDS && guards[g - 1].lost;
}

bool
gmem_lost(const struct gmem *gm)
{
	for (unsigned i = 0; i < gm->n; i++)
		if (gmem_guard_lost(gm->r[i].guard))
			return true;
	return false;
}

void
gmem_init(struct gmem *gm)
{
	memset(gm, 0, sizeof(*gm));
}

static void
unmap_all(struct gmem_region *r, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		gmem_unguard(r[i].guard);
		if (r[i].map != NULL)
			munmap(r[i].map, r[i].maplen);
	}
}

/*
 * A memfd that can still be sealed must be sealed against shrinking (hyve's
 * core and QEMU's memory-backend-memfd do).  Files that cannot be sealed
 * (regular files, memfds made without MFD_ALLOW_SEALING) are guarded.
 */
static int
check_seals(int fd, unsigned i)
{
	int seals = fcntl(fd, F_GET_SEALS);

	if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_SEAL)))
		return 0;
	hlog("guest memory region %u: fd %d is a memfd that can still shrink; "
	    "the frontend must seal it (F_ADD_SEALS F_SEAL_SHRINK) before "
	    "passing it", i, fd);
	return -EINVAL;
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
	if (check_seals(fd, i) < 0)
		return -EINVAL;
	g->map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
	    fd, 0);
	if (g->map == MAP_FAILED) {
		g->map = NULL;
		hlog("guest memory region %u: mmap of %#llx bytes: %s", i,
		    (unsigned long long)len, strerror(errno));
		return -ENOMEM;
	}
	g->maplen = len;
	if ((g->guard = gmem_guard(g->map, len)) < 0) {
		munmap(g->map, len);
		g->map = NULL;
		g->guard = 0;
		return -ENOMEM;
	}
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
