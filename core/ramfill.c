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
#define FAULT_BLOCK	(64u << 10)	/* read around a fault */

static struct {
	struct vm	*vm;
	int		uffd, file, stop, done;
	char		path[4096];
	uint64_t	hash;		/* expected */
	pthread_t	filler, server;
	bool		running;
	bool		stopping;	/* the fill gives up (atomic) */
	bool		busy;		/* the rings wait (atomic) */
	int		fill_rc, fault_rc;	/* set by each thread */
	bool		corrupt;
	uint64_t	faults;
	long long	started_ms;
} rf = { .uffd = -1, .file = -1, .stop = -1, .done = -1 };

bool
ramfill_busy(void)
{
	return __atomic_load_n(&rf.busy, __ATOMIC_ACQUIRE);
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
	uint64_t base = off & ~(uint64_t)(FAULT_BLOCK - 1);
	size_t len = FAULT_BLOCK, p;
	int rc;

	if (base + len > rf.vm->mem_size)
		len = rf.vm->mem_size - base;
	if ((rc = pread_all(rf.file, buf, len, base)) < 0)
		return rc;
	for (p = 0; p < len; p += PAGE) {
		const uint8_t *src = vmsnap_page_zero(buf + p) ? zero : buf + p;

		/* Only the faulting page as zeros: the others may be
		 * holes that need no page at all. */
		if (src == zero && base + p != off)
			continue;
		if ((rc = place(NULL, src, PAGE, base + p)) < 0)
			return rc;
	}
	return wake(off, PAGE);
}

static void *
fault_thread(void *arg)
{
	struct uffd_msg msg[16];
	uint8_t *buf = arg;
	ssize_t n;
	int rc = 0;

	while (rc == 0) {
		struct pollfd p[2] = {
			{ .fd = rf.uffd, .events = POLLIN },
			{ .fd = rf.stop, .events = POLLIN },
		};

		if (poll(p, 2, -1) < 0) {
			rc = errno == EINTR ? 0 : -errno;
			continue;
		}
		if (p[1].revents)
			break;
		n = read(rf.uffd, msg, sizeof(msg));
		if (n < 0) {
			rc = errno == EAGAIN || errno == EINTR ? 0 : -errno;
			continue;
		}
		for (ssize_t i = 0; rc == 0 && i < n / (ssize_t)sizeof(*msg);
		    i++) {
			if (msg[i].event != UFFD_EVENT_PAGEFAULT)
				continue;
			__atomic_add_fetch(&rf.faults, 1, __ATOMIC_RELAXED);
			rc = serve(buf, (msg[i].arg.pagefault.address -
			    (uintptr_t)rf.vm->mem) & ~(uint64_t)(PAGE - 1));
		}
	}
	free(buf);
	if (rc < 0) {
		rf.fault_rc = rc;
		eventfd_write(rf.done, 1);
	}
	return NULL;
}

static void *
fill_thread(void *arg)
{
	uint64_t h;

	(void)arg;
	rf.fill_rc = vmsnap_ram_walk(rf.file, rf.path, rf.vm->mem_size, place,
	    NULL, &rf.stopping, &h);
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
stop_threads(void)
{
	if (!rf.running)
		return;
	rf.running = false;
	__atomic_store_n(&rf.stopping, true, __ATOMIC_RELAXED);
	eventfd_write(rf.stop, 1);
	pthread_join(rf.server, NULL);
	pthread_join(rf.filler, NULL);
}

static void
cleanup(void)
{
	int *fds[] = { &rf.uffd, &rf.file, &rf.stop, &rf.done };

	evloop_del(rf.done);
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
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
	if (rc == 0 && !rf.corrupt) {
		/* The fault thread may still be serving: let it end first. */
		stop_threads();
	} else {
		/* No device has run: end the VM.  Its vCPUs, woken, see
		 * zeros; nothing of theirs leaves the VM. */
		unregister_all();
		stop_threads();
		if (rf.corrupt)
			hlog("%s: corrupt: the checksum does not match the "
			    "contents (found while restoring)", rf.path);
		else
			hlog("%s: RAM could not be restored: %s", rf.path,
			    strerror(-rc));
		cleanup();
		vm_request_exit(vm, EXIT_ERROR, "the snapshot's memory file "
		    "is damaged; no device ran");
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
ramfill_start(struct vm *vm, int file, const char *path, uint64_t hash)
{
	uint8_t *sbuf = NULL;
	int rc;

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
	snprintf(rf.path, sizeof(rf.path), "%s", path);
	rf.stop = eventfd(0, EFD_CLOEXEC);
	rf.done = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (rf.stop < 0 || rf.done < 0 ||
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
	rf.running = true;
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
