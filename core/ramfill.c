/*
 * A restore's guest RAM, loaded while the guest runs.  The memfd starts
 * empty and registered with userfaultfd: a page the guest (or KVM, or the
 * core) touches first is read from the snapshot's memory file at once by
 * the fault thread; the fill thread writes every other stored page in
 * file order, checking the memory hash as it goes.  The devices' rings
 * are held (vpci_start_rings) until the fill is done and the hash
 * matches: a backend maps the same memfd but is not registered, so a page
 * it touched early would be allocated as zeros and the guest's contents
 * lost.  A corrupt file thus ends the VM before any device ran.
 *
 * Shared (memory.share_snapshot, for clones): the fill thread only checks
 * the hash, and the fault thread serves first touches for as long as the
 * VM runs, page by page, so a clone holds the pages it touched and the
 * snapshot's file sits once in the page cache for all of them.  Each
 * backend then hands over a userfaultfd of its own (vhost-user
 * POSTCOPY_ADVISE) and the core registers the backend's mappings on it
 * (ramfill_watch): a backend's first touch is served like the guest's.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/userfaultfd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include "core/evloop.h"
#include "core/ramfill.h"
#include "core/snapshot.h"
#include "core/virtio_pci.h"
#include "core/vm.h"
#include "core/vmsnap.h"
#include "lib/log.h"
#include "lib/util.h"

#define PAGE		4096
/* Read around a fault.  Each fault is a round trip through this thread,
 * dear under nested virtualisation; the Debian guest's first steps after
 * a restore took 524-638 of them with 64 KiB, 216-227 with 256 KiB
 * (docs/PERFORMANCE.md, part 10). */
#define FAULT_BLOCK	(256u << 10)
#define MAX_WATCH	32		/* backends' userfaultfds */

/* A backend's userfaultfd and its mappings of guest RAM. */
struct watch {
	const void	*key;		/* the device */
	int		fd;		/* -1: a free slot */
	bool		gone;		/* the fault thread closes it */
	unsigned	n;
	struct vuf_range r[RAMFILL_MAX_RANGES];
};

static struct {
	struct vm	*vm;
	int		uffd, file, stop, done;
	char		path[4096];
	uint64_t	hash;		/* expected */
	pthread_t	filler, server;
	bool		running;	/* the fault thread */
	bool		filling;	/* the fill thread, not joined */
	bool		stopping;	/* the fill gives up (atomic) */
	bool		busy;		/* the rings wait (atomic) */
	int		fill_rc, fault_rc;	/* set by each thread */
	bool		corrupt;
	uint64_t	faults;
	long long	started_ms;
	bool		shared;		/* never filled: served to the end */
	int		changed;	/* eventfd: the watches changed */
	pthread_mutex_t	lock;		/* watch */
	struct watch	watch[MAX_WATCH];
} rf = { .uffd = -1, .file = -1, .stop = -1, .done = -1, .changed = -1,
	.lock = PTHREAD_MUTEX_INITIALIZER };

bool
ramfill_busy(void)
{
	return __atomic_load_n(&rf.busy, __ATOMIC_ACQUIRE);
}

bool
ramfill_shared(void)
{
	return rf.shared && rf.uffd >= 0;
}

int
ramfill_source(void)
{
	return ramfill_shared() ? rf.file : -1;
}

/*
 * Puts len bytes at src into guest RAM at off, page by page as the
 * kernel allows: a page already there (the other thread's, or a fault's)
 * is left as it is.
 */
static int
place(void *arg, const uint8_t *src, size_t len, uint64_t off)
{
	(void)arg;
	while (len > 0) {
		struct uffdio_copy c = {
			.dst = (uintptr_t)rf.vm->mem + off,
			.src = (uintptr_t)src, .len = len,
		};

		if (ioctl(rf.uffd, UFFDIO_COPY, &c) == 0)
			return 0;
		if (c.copy > 0) {
			off += c.copy;
			src += c.copy;
			len -= c.copy;
		} else if (c.copy == -EEXIST) {
			off += PAGE;
			src += PAGE;
			len -= PAGE;
		} else if (c.copy != -EAGAIN) {
			return c.copy < 0 ? (int)c.copy : -errno;
		}
	}
	return 0;
}

static int
wake(uint64_t off, size_t len)
{
	struct uffdio_range r = {
		.start = (uintptr_t)rf.vm->mem + off, .len = len,
	};

	return ioctl(rf.uffd, UFFDIO_WAKE, &r) < 0 ? -errno : 0;
}

/* A fault at off: the block around it, its zero pages as zeros. */
static int
serve(uint8_t *buf, uint64_t off)
{
	static const uint8_t zero[PAGE];
	/* Shared, a page is all a touch costs. */
	size_t len = rf.shared ? PAGE : FAULT_BLOCK;
	uint64_t base = off & ~(uint64_t)(len - 1);
	int rc;

	if (base + len > rf.vm->mem_size)
		len = rf.vm->mem_size - base;
	if ((rc = pread_all(rf.file, buf, len, base)) < 0)
		return rc;
	/* Of the zero pages only the faulting one: the others may be holes
	 * that need no page at all.  Each run of stored pages in one copy. */
	if (vmsnap_page_zero(buf + (off - base)) &&
	    (rc = place(NULL, zero, PAGE, off)) < 0)
		return rc;
	if ((rc = vmsnap_put_runs(buf, len, base, place, NULL, NULL)) < 0)
		return rc;
	return wake(off, PAGE);
}

/* Which page of guest RAM a backend's fault at a is, or -1. */
static int64_t
watch_offset(const struct watch *w, uint64_t a)
{
	for (unsigned i = 0; i < w->n; i++)
		if (a >= w->r[i].start && a - w->r[i].start < w->r[i].len)
			return (w->r[i].off + a - w->r[i].start) &
			    ~(uint64_t)(PAGE - 1);
	return -1;
}

/* The page a fault at a in watch slot's ranges is, or -1 (looked up
 * now: the ranges may have been replaced since the poll began). */
static int64_t
watch_page(int slot, uint64_t a)
{
	int64_t off;

	pthread_mutex_lock(&rf.lock);
	off = watch_offset(&rf.watch[slot], a);
	pthread_mutex_unlock(&rf.lock);
	return off;
}

/* Reads fd's faults and serves them; slot: a backend's watch, or -1 for
 * the core's own. */
static int
serve_fd(int fd, int slot, uint8_t *buf)
{
	struct uffd_msg msg[16];
	ssize_t n;
	int rc = 0;

	if ((n = read(fd, msg, sizeof(msg))) < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	for (ssize_t i = 0; rc == 0 && i < n / (ssize_t)sizeof(*msg); i++) {
		uint64_t a = msg[i].arg.pagefault.address;
		int64_t off;

		if (msg[i].event != UFFD_EVENT_PAGEFAULT)
			continue;
		__atomic_add_fetch(&rf.faults, 1, __ATOMIC_RELAXED);
		if (slot < 0) {
			rc = serve(buf, (a - (uintptr_t)rf.vm->mem) &
			    ~(uint64_t)(PAGE - 1));
			continue;
		}
		/* Not a range we registered: the backend's own doing; its
		 * thread waits, nothing else does. */
		if ((off = watch_page(slot, a)) < 0)
			continue;
		if ((rc = serve(buf, off)) == 0) {
			struct uffdio_range r = {
				.start = a & ~(uint64_t)(PAGE - 1), .len = PAGE,
			};

			/* The page is in the memfd now; the backend that
			 * waits for it may be gone, which is no error. */
			ioctl(fd, UFFDIO_WAKE, &r);
		}
	}
	return rc;
}

/* The poll set: the core's userfaultfd, stop, changed, the watches
 * (slot[i] for p[3 + i]). */
static unsigned
poll_set(struct pollfd *p, int *slot)
{
	unsigned n = 3;

	p[0] = (struct pollfd){ .fd = rf.uffd, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = rf.stop, .events = POLLIN };
	p[2] = (struct pollfd){ .fd = rf.changed, .events = POLLIN };
	pthread_mutex_lock(&rf.lock);
	for (unsigned i = 0; i < MAX_WATCH; i++) {
		struct watch *w = &rf.watch[i];

		if (w->fd >= 0 && w->gone) {
			close(w->fd);
			w->fd = -1;
		}
		if (w->fd < 0)
			continue;
		slot[n - 3] = (int)i;
		p[n++] = (struct pollfd){ .fd = w->fd, .events = POLLIN };
	}
	pthread_mutex_unlock(&rf.lock);
	return n;
}

static void *
fault_thread(void *arg)
{
	struct pollfd p[3 + MAX_WATCH];
	int slot[MAX_WATCH];
	uint8_t *buf = arg;
	eventfd_t v;
	int rc = 0;

	while (rc == 0) {
		unsigned n = poll_set(p, slot);

		if (poll(p, n, -1) < 0) {
			rc = errno == EINTR ? 0 : -errno;
			continue;
		}
		if (p[1].revents)
			break;
		if (p[2].revents)
			eventfd_read(rf.changed, &v);
		if (p[0].revents)
			rc = serve_fd(rf.uffd, -1, buf);
		for (unsigned i = 3; rc == 0 && i < n; i++)
			if (p[i].revents & POLLIN)
				rc = serve_fd(p[i].fd, slot[i - 3], buf);
	}
	free(buf);
	if (rc < 0) {
		rf.fault_rc = rc;
		eventfd_write(rf.done, 1);
	}
	return NULL;
}

/* Shared: the fill only checks; the pages stay in the file. */
static int
check_only(void *arg, const uint8_t *src, size_t len, uint64_t off)
{
	(void)arg;
	(void)src;
	(void)len;
	(void)off;
	return 0;
}

static void *
fill_thread(void *arg)
{
	uint64_t h;

	(void)arg;
	rf.fill_rc = vmsnap_ram_walk(rf.file, rf.path, 0, rf.vm->mem_size,
	    rf.shared ? check_only : place, NULL, &rf.stopping, &h);
	rf.corrupt = rf.fill_rc == 0 && h != rf.hash;
	eventfd_write(rf.done, 1);
	return NULL;
}

/* Every fault now allocates as usual: holes were zeros all along. */
static void
unregister_all(void)
{
	struct uffdio_range r = {
		.start = (uintptr_t)rf.vm->mem, .len = rf.vm->mem_size,
	};

	if (ioctl(rf.uffd, UFFDIO_UNREGISTER, &r) < 0)
		hlog("guest RAM: userfaultfd unregister: %s", strerror(errno));
}

static void
join_filler(void)
{
	if (!rf.filling)
		return;
	rf.filling = false;
	pthread_join(rf.filler, NULL);
}

static void
stop_threads(void)
{
	__atomic_store_n(&rf.stopping, true, __ATOMIC_RELAXED);
	join_filler();
	if (!rf.running)
		return;
	rf.running = false;
	eventfd_write(rf.stop, 1);
	pthread_join(rf.server, NULL);
}

static void
cleanup(void)
{
	int *fds[] = { &rf.uffd, &rf.file, &rf.stop, &rf.done, &rf.changed };

	evloop_del(rf.done);
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
	pthread_mutex_lock(&rf.lock);
	for (unsigned i = 0; i < MAX_WATCH; i++) {
		if (rf.watch[i].fd >= 0)
			close(rf.watch[i].fd);
		rf.watch[i].fd = -1;
	}
	pthread_mutex_unlock(&rf.lock);
}

/* Shared: the hash matched; first touches are served from now to the
 * end, and the devices start. */
static void
checked(struct vm *vm)
{
	join_filler();
	hlog("%s: RAM checked in %llu ms while the guest ran; its pages stay "
	    "in %s until the guest or a device touches them (%llu so far); "
	    "the devices start", vm->name,
	    (unsigned long long)(now_ms() - rf.started_ms), rf.path,
	    (unsigned long long)rf.faults);
	pthread_mutex_lock(&vm->dev_lock);
	__atomic_store_n(&rf.busy, false, __ATOMIC_RELEASE);
	vpci_release_held(vm);
	pthread_mutex_unlock(&vm->dev_lock);
}

/* The main loop's: the fill ended, or the fault thread failed. */
static void
on_done(int fd, void *arg)
{
	struct vm *vm = arg;
	eventfd_t n;
	int rc;

	if (eventfd_read(fd, &n) < 0)
		return;
	rc = rf.fault_rc < 0 ? rf.fault_rc : rf.fill_rc;
	if (rc == 0 && !rf.corrupt && rf.shared) {
		checked(vm);
		return;
	} else if (rc == 0 && !rf.corrupt) {
		/* The fault thread may still be serving: let it end first. */
		stop_threads();
	} else {
		bool ran = !ramfill_busy();

		/* End the VM.  Its vCPUs, woken, see zeros; while the rings
		 * are held nothing of theirs leaves the VM. */
		unregister_all();
		stop_threads();
		if (rf.corrupt)
			hlog("%s: corrupt: the checksum does not match the "
			    "contents (found while restoring)", rf.path);
		else
			hlog("%s: RAM could not be restored: %s", rf.path,
			    strerror(-rc));
		cleanup();
		vm_request_exit(vm, EXIT_ERROR, ran ? "the snapshot's memory "
		    "file cannot be read" : "the snapshot's memory file is "
		    "damaged; no device ran");
		return;
	}
	unregister_all();
	hlog("%s: RAM restored in %llu ms while the guest ran (%llu pages "
	    "fetched on first touch); the devices start", vm->name,
	    (unsigned long long)(now_ms() - rf.started_ms),
	    (unsigned long long)rf.faults);
	cleanup();
	pthread_mutex_lock(&vm->dev_lock);
	__atomic_store_n(&rf.busy, false, __ATOMIC_RELEASE);
	vpci_release_held(vm);
	pthread_mutex_unlock(&vm->dev_lock);
}

static int
uffd_open(struct vm *vm)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)vm->mem, .len = vm->mem_size },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	int fd, rc;

	fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, UFFDIO_API, &api) < 0 ||
	    ioctl(fd, UFFDIO_REGISTER, &reg) < 0 ||
	    !(reg.ioctls & (1ull << _UFFDIO_COPY))) {
		rc = errno ? -errno : -EOPNOTSUPP;
		close(fd);
		return rc;
	}
	return fd;
}

int
ramfill_start(struct vm *vm, int file, const char *path, uint64_t hash,
    bool shared)
{
	uint8_t *sbuf = NULL;
	int rc, seals = fcntl(vm->mem_fd, F_GET_SEALS);

	/* Only a memfd: a file with 2 MiB pages could be made whole by
	 * khugepaged, holes and all, behind the userfaultfd (core/vm.c). */
	if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
		hlog("%s: a restore that fills RAM as the guest runs needs it "
		    "in a sealed memfd, not a file with 2 MiB pages", vm->name);
		return -EINVAL;
	}
	if ((rc = uffd_open(vm)) < 0)
		return rc;
	rf.vm = vm;
	rf.uffd = rc;
	rf.file = file;
	rf.hash = hash;
	rf.fill_rc = rf.fault_rc = 0;
	rf.corrupt = rf.stopping = false;
	rf.faults = 0;
	rf.started_ms = now_ms();
	rf.shared = shared;
	for (unsigned i = 0; i < MAX_WATCH; i++)
		rf.watch[i].fd = -1;
	snprintf(rf.path, sizeof(rf.path), "%s", path);
	rf.stop = eventfd(0, EFD_CLOEXEC);
	rf.done = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	rf.changed = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (rf.stop < 0 || rf.done < 0 || rf.changed < 0 ||
	    (sbuf = malloc(FAULT_BLOCK)) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	if ((rc = evloop_add(rf.done, on_done, vm)) < 0)
		goto fail;
	__atomic_store_n(&rf.busy, true, __ATOMIC_RELEASE);
	if ((rc = -pthread_create(&rf.server, NULL, fault_thread, sbuf)) < 0)
		goto fail;
	sbuf = NULL;
	if ((rc = -pthread_create(&rf.filler, NULL, fill_thread, NULL)) < 0) {
		eventfd_write(rf.stop, 1);
		pthread_join(rf.server, NULL);
		goto fail;
	}
	rf.running = rf.filling = true;
	return 0;
fail:
	free(sbuf);
	__atomic_store_n(&rf.busy, false, __ATOMIC_RELEASE);
	rf.file = -1;	/* the caller's still */
	cleanup();
	return rc;
}

void
ramfill_fini(void)
{
	if (rf.uffd < 0)
		return;
	unregister_all();
	stop_threads();
	cleanup();
}

int
ramfill_fetch(uint64_t off, uint64_t len)
{
	if (!ramfill_shared())
		return 0;
	return vmsnap_ram_walk(rf.file, rf.path, off, off + len, place, NULL,
	    NULL, NULL);
}

/* Registers r[0..n) on fd; -errno. */
static int
register_ranges(int fd, const struct vuf_range *r, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct uffdio_register reg = {
			.range = { .start = r[i].start, .len = r[i].len },
			.mode = UFFDIO_REGISTER_MODE_MISSING,
		};

		if (r[i].off > rf.vm->mem_size ||
		    r[i].len > rf.vm->mem_size - r[i].off)
			return -EINVAL;
		if (ioctl(fd, UFFDIO_REGISTER, &reg) < 0)
			return -errno;
	}
	return 0;
}

int
ramfill_watch(const void *key, int fd, const struct vuf_range *r, unsigned n)
{
	struct watch *cur = NULL, *w = NULL;
	int rc;

	if (!ramfill_shared() || n > RAMFILL_MAX_RANGES) {
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	pthread_mutex_lock(&rf.lock);
	for (unsigned i = 0; i < MAX_WATCH; i++) {
		if (rf.watch[i].fd >= 0 && !rf.watch[i].gone &&
		    rf.watch[i].key == key)
			cur = &rf.watch[i];
		else if (rf.watch[i].fd < 0 && w == NULL)
			w = &rf.watch[i];
	}
	if (fd < 0)
		w = cur;
	else if (cur != NULL)
		cur->gone = true;	/* the backend before, gone */
	if (w == NULL)
		rc = fd < 0 ? -EINVAL : -ENOSPC;
	else
		rc = register_ranges(fd >= 0 ? fd : w->fd, r, n);
	if (rc == 0) {
		if (fd >= 0)
			w->fd = fd;
		w->key = key;
		w->gone = false;
		w->n = n;
		memcpy(w->r, r, n * sizeof(*r));
	} else if (fd >= 0) {
		close(fd);
	} else if (w != NULL) {
		w->gone = true;
	}
	pthread_mutex_unlock(&rf.lock);
	eventfd_write(rf.changed, 1);
	return rc;
}
