/*
 * Snapshot and restore of a whole VM: pausing, what goes in in which
 * order, guest RAM as a sparse file of its own.  The format is
 * snapshot.c's; each piece of state is saved by its owner (vmstate.c for
 * KVM, each device's own file for the devices).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "core/config.h"
#include "core/devstate.h"
#include "core/pci.h"
#include "core/ramfill.h"
#include "core/snapshot.h"
#include "core/vcpu.h"
#include "core/vm.h"
#include "core/vmgenid.h"
#include "core/vmsnap.h"
#include "core/vmstate.h"
#include "lib/log.h"
#include "lib/util.h"

#define PAUSE_TIMEOUT_MS	5000
#define PAGE			4096
#define IO_CHUNK		(1u << 20)

static int
add_config(const char *path, const char *value, void *arg)
{
	/* How this process was started, not what the VM is. */
	if (strcmp(path, "restore") == 0 || strcmp(path, "config.dump") == 0 ||
	    strcmp(path, "memory.lazy_restore") == 0 ||
	    strcmp(path, "memory.huge_pages") == 0 ||
	    strcmp(path, "memory.share_snapshot") == 0)
		return 0;
	return fprintf(arg, "%s=%s\n", path, value) < 0 ? -ENOMEM : 0;
}

int
vmsnap_save_config(struct snap *s)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int rc;

	if ((f = open_memstream(&text, &len)) == NULL)
		return -ENOMEM;
	rc = config_foreach("", add_config, f);
	if (fclose(f) != 0 && rc == 0)
		rc = -ENOMEM;
	if (rc == 0)
		rc = snap_add(s, SNAP_CONFIG, 0, text, len);
	free(text);
	return rc;
}

static int
save_devices(struct vm *vm, struct snap *s, bool backends)
{
	int rc;

	pthread_mutex_lock(&vm->dev_lock);
	if ((rc = uart_save(vm, s)) == 0 && (rc = rtc_save(vm, s)) == 0 &&
	    (rc = pm_save(vm, s)) == 0 && (rc = i8042_save(vm, s)) == 0 &&
	    (rc = pci_save(vm, s)) == 0 && (rc = vmgenid_save(vm, s)) == 0)
		rc = vpci_save(vm, s, backends);
	pthread_mutex_unlock(&vm->dev_lock);
	return rc;
}

bool
vmsnap_page_zero(const uint8_t *p)
{
	static const uint8_t zero[PAGE];

	return memcmp(p, zero, PAGE) == 0;
}

/*
 * The next extent of fd at or after *off that may hold data, as [*off,
 * *end); 0 when there is none.  Without SEEK_DATA: all of it.
 */
static int
next_data(int fd, uint64_t size, uint64_t *off, uint64_t *end)
{
	off_t d, h;

	if (*off >= size)
		return 0;
	d = lseek(fd, *off, SEEK_DATA);
	if (d < 0 && errno == ENXIO)
		return 0;
	if (d < 0) {
		*end = size;
		return 1;
	}
	h = lseek(fd, d, SEEK_HOLE);
	*off = d & ~(uint64_t)(PAGE - 1);
	*end = h < 0 || (uint64_t)h > size ? size : (uint64_t)h;
	return 1;
}

/* Folds one stored page into the memory hash, with where it lies. */
static uint64_t
hash_page(uint64_t h, uint64_t off, const uint8_t *p)
{
	h = snap_memhash(h, &off, sizeof(off));
	return snap_memhash(h, p, PAGE);
}

/*
 * RAM, only the pages that are not zero: the memfd's holes (pages the
 * guest never touched) are not even read.  *hash covers every page
 * stored, with its offset; *written counts their bytes.
 */
/*
 * The next data at or after *off in file a or, if b >= 0, b: RAM restored
 * with memory.share_snapshot is the memfd's pages and, where the memfd has
 * none yet, the snapshot's file's (reading them copies them in).
 */
static int
next_data_either(int a, int b, uint64_t size, uint64_t *off, uint64_t *end)
{
	uint64_t o1 = *off, e1 = 0, o2 = *off, e2 = 0;
	int n1 = next_data(a, size, &o1, &e1);
	int n2 = b >= 0 ? next_data(b, size, &o2, &e2) : 0;

	if (!n1 && !n2)
		return 0;
	if (n1 && (!n2 || o1 <= o2)) {
		*off = o1;
		*end = e1;
	} else {
		*off = o2;
		*end = e2;
	}
	return 1;
}

int
vmsnap_ram_save(struct vm *vm, int fd, uint64_t *written, uint64_t *hash)
{
	uint64_t off = 0, end, run, h = 0;
	int src = ramfill_source(), rc;

	*written = 0;
	while (next_data_either(vm->mem_fd, src, vm->mem_size, &off, &end)) {
		if (src >= 0 && (rc = ramfill_fetch(off, end - off)) < 0)
			return rc;
		while (off < end) {
			if (vmsnap_page_zero(vm->mem + off)) {
				off += PAGE;
				continue;
			}
			for (run = 0; off + run < end &&
			    !vmsnap_page_zero(vm->mem + off + run); run += PAGE)
				h = hash_page(h, off + run, vm->mem + off + run);
			if (lseek(fd, off, SEEK_SET) < 0)
				return -errno;
			if ((rc = write_all(fd, vm->mem + off, run)) < 0)
				return rc;
			*written += run;
			off += run;
		}
	}
	*hash = h;
	/* The file's length is the RAM's, even if it ends in zeros. */
	if (lseek(fd, vm->mem_size - 1, SEEK_SET) < 0)
		return -errno;
	return write_all(fd, vm->mem + vm->mem_size - 1, 1);
}

/* The devices first: once the rings stop, no backend raises an
 * interrupt that the LAPICs' saved state would miss. */
int
vmsnap_build(struct vm *vm, struct snap *s, bool backends)
{
	int rc;

	if ((rc = vmsnap_save_config(s)) < 0)
		return rc;
	if ((rc = save_devices(vm, s, backends)) < 0)
		return rc;
	return vmstate_save(vm, s);
}

/* A backend died while its device was being saved: which, and whether
 * the supervisor restarts it (-EAGAIN) or it failed (-EBUSY). */
static int
backend_gone(char *err, size_t errlen)
{
	int rc = vpci_snapshot_check(err, errlen);

	if (rc == 0) {
		snprintf(err, errlen, "a device's backend went away during the "
		    "snapshot");
		rc = -EAGAIN;
	}
	return rc;
}

int
vmsnap_take(struct vm *vm, int state_fd, int mem_fd, bool resume,
    struct vmsnap_result *res, char *err, size_t errlen)
{
	struct snap_meminfo mi;
	struct snap s;
	int rc;

	memset(res, 0, sizeof(*res));
	if (ramfill_busy()) {
		snprintf(err, errlen, "the VM's RAM is still being restored "
		    "from its snapshot");
		return -EAGAIN;
	}
	if ((rc = vpci_snapshot_check(err, errlen)) < 0)
		return rc;
	if ((rc = vcpus_pause(vm, PAUSE_TIMEOUT_MS)) < 0) {
		snprintf(err, errlen, "the vCPUs did not stop within %d ms",
		    PAUSE_TIMEOUT_MS);
		return rc;
	}
	snap_init(&s);
	mi.size = vm->mem_size;
	mi.lowmem = vm->lowmem;
	if ((rc = vmsnap_build(vm, &s, true)) == -EAGAIN) {
		rc = backend_gone(err, errlen);
	} else if (rc < 0) {
		snprintf(err, errlen, "reading the VM's state failed: %s (see "
		    "the VM's log)", strerror(-rc));
	} else if ((rc = vmsnap_ram_save(vm, mem_fd, &res->memory_bytes,
	    &mi.hash)) < 0) {
		snprintf(err, errlen, "writing guest memory: %s", strerror(-rc));
	} else if ((rc = snap_add(&s, SNAP_MEMINFO, 0, &mi, sizeof(mi))) < 0 ||
	    (rc = snap_write(&s, state_fd, SNAP_STATE_FILE)) < 0) {
		snprintf(err, errlen, "writing the state: %s", strerror(-rc));
	} else {
		res->state_bytes = sizeof(struct snap_header) + s.len;
	}
	if (rc == 0 && !resume) {
		vm_request_exit(vm, EXIT_POWEROFF, "snapshot taken");
	} else if (vpci_resume(vm, &s) < 0 && rc == 0) {
		snprintf(err, errlen, "the snapshot is complete, but a device's "
		    "backend could not start its rings again (see the VM's log)");
		rc = -EIO;
	}
	snap_free(&s);
	vcpus_resume(vm);
	return rc;
}

/* --- restore --------------------------------------------------------------- */

static int
open_in(const char *dir, const char *file, char *path, size_t len)
{
	int fd;

	if ((size_t)snprintf(path, len, "%s/%s", dir, file) >= len) {
		hlog("-r %s: the path is too long", dir);
		return -ENAMETOOLONG;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		fd = -errno;
		hlog("%s: %s (is -r %s a snapshot directory?)", path,
		    strerror(-fd), dir);
	}
	return fd;
}

static int
read_state(const char *dir, struct snap *s)
{
	char path[4096];
	int fd, rc;

	if ((fd = open_in(dir, SNAP_STATE_FILE, path, sizeof(path))) < 0)
		return fd;
	rc = snap_read(s, fd, path);
	close(fd);
	return rc;
}

int
vmsnap_config_from(const struct snap *s, const char *what)
{
	const char *text;
	char *copy, *line, *next, *eq;
	size_t len;
	int rc = 0;

	if ((text = snap_find(s, SNAP_CONFIG, 0, &len)) == NULL ||
	    (copy = strndup(text, len)) == NULL) {
		hlog("%s: no configuration in it", what);
		return -EINVAL;
	}
	for (line = copy; rc == 0 && line != NULL && *line != '\0';
	    line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if ((eq = strchr(line, '=')) == NULL) {
			hlog("%s: a configuration line without '='", what);
			rc = -EINVAL;
			break;
		}
		*eq = '\0';
		rc = config_set_default(line, eq + 1);
	}
	free(copy);
	return rc;
}

int
vmsnap_config(const char *dir)
{
	char what[4096];
	struct snap s;
	int rc;

	if ((rc = read_state(dir, &s)) < 0)
		return rc;
	snprintf(what, sizeof(what), "%s/%s", dir, SNAP_STATE_FILE);
	rc = vmsnap_config_from(&s, what);
	snap_free(&s);
	return rc;
}

/* Reads exactly len bytes of fd at off into buf: 0, or -EIO (logged). */
static int
read_full(int fd, const char *path, uint8_t *buf, size_t len, uint64_t off)
{
	int rc = pread_all(fd, buf, len, off);

	if (rc < 0)
		hlog("%s: cannot read: %s", path, rc == -ENODATA ?
		    "unexpected end of file" : strerror(-rc));
	return rc < 0 ? -EIO : 0;
}

/* Writes [p, p+len) to guest RAM (vm) at off through the memfd. */
static int
write_ram(void *vm, const uint8_t *p, size_t len, uint64_t off)
{
	int fd = ((struct vm *)vm)->mem_fd, rc = 0;

	if (lseek(fd, off, SEEK_SET) < 0 || (rc = write_all(fd, p, len)) < 0) {
		rc = rc < 0 ? rc : -errno;
		hlog("guest RAM: cannot write %zu bytes at 0x%llx: %s", len,
		    (unsigned long long)off, strerror(-rc));
	}
	return rc;
}

int
vmsnap_put_runs(const uint8_t *buf, size_t len, uint64_t off,
    vmsnap_put_fn put, void *arg, uint64_t *h)
{
	size_t p, run = 0;
	int rc;

	for (p = 0; p < len; p += PAGE) {
		if (!vmsnap_page_zero(buf + p)) {
			if (h != NULL)
				*h = hash_page(*h, off + p, buf + p);
			continue;
		}
		if (p > run && (rc = put(arg, buf + run, p - run, off + run)) < 0)
			return rc;
		run = p + PAGE;
	}
	return p > run ? put(arg, buf + run, p - run, off + run) : 0;
}

int
vmsnap_ram_walk(int fd, const char *path, uint64_t off, uint64_t size,
    vmsnap_put_fn put, void *arg, const bool *stop, uint64_t *hash)
{
	uint64_t end, n;
	uint8_t *buf;
	int rc = 0;

	if (hash != NULL)
		*hash = 0;
	if ((buf = malloc(IO_CHUNK)) == NULL)
		return -ENOMEM;
	while (rc == 0 && next_data(fd, size, &off, &end)) {
		/* Whole pages: the size is a multiple of one. */
		end = (end + PAGE - 1) & ~(uint64_t)(PAGE - 1);
		for (; rc == 0 && off < end; off += n) {
			n = end - off < IO_CHUNK ? end - off : IO_CHUNK;
			if (stop != NULL && __atomic_load_n(stop, __ATOMIC_RELAXED))
				rc = -ECANCELED;
			else if ((rc = read_full(fd, path, buf, n, off)) == 0)
				rc = vmsnap_put_runs(buf, n, off, put, arg,
				    hash);
		}
	}
	free(buf);
	return rc;
}

/*
 * DIR's memory file, checked against mi and the VM, open; the VM's RAM
 * cleared.  path gets its name.
 */
static int
ram_open(struct vm *vm, const char *dir, const struct snap_meminfo *mi,
    char *path, size_t len)
{
	struct stat st;
	int fd;

	if (mi->size != vm->mem_size || mi->lowmem != vm->lowmem) {
		hlog("-r %s: the snapshot has %llu MiB of RAM, the VM %llu "
		    "(keep memory.size as it was)", dir,
		    (unsigned long long)(mi->size >> 20),
		    (unsigned long long)(vm->mem_size >> 20));
		return -EINVAL;
	}
	if ((fd = open_in(dir, SNAP_MEM_FILE, path, len)) < 0)
		return fd;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != mi->size) {
		hlog("%s: truncated or wrong: %lld bytes, the snapshot's RAM "
		    "is %llu", path, (long long)st.st_size,
		    (unsigned long long)mi->size);
		close(fd);
		return -EINVAL;
	}
	/* The restored VM starts from zeros: what the build wrote into its
	 * RAM (ACPI tables) must not show through the snapshot's holes. */
	if (fallocate(vm->mem_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	    0, vm->mem_size) < 0)
		memset(vm->mem, 0, vm->mem_size);
	return fd;
}

static int
ram_load(struct vm *vm, int fd, const char *path, uint64_t hash)
{
	uint64_t h;
	int rc;

	/* Written to the memfd, not copied through its mapping: a write
	 * allocates a page without faulting it in and zeroing it first (ten
	 * times faster natively; docs/PERFORMANCE.md, part 10). */
	rc = vmsnap_ram_walk(fd, path, 0, vm->mem_size, write_ram, vm, NULL,
	    &h);
	if (rc == 0 && h != hash) {
		hlog("%s: corrupt: the checksum does not match the contents",
		    path);
		rc = -EINVAL;
	}
	return rc;
}

int
vmsnap_ram_load(struct vm *vm, const char *dir, const struct snap_meminfo *mi)
{
	char path[4096];
	int fd, rc;

	if ((fd = ram_open(vm, dir, mi, path, sizeof(path))) < 0)
		return fd;
	rc = ram_load(vm, fd, path, mi->hash);
	close(fd);
	return rc;
}

/*
 * RAM for a restore: loaded while the guest runs (ramfill.c) where
 * userfaultfd lets the core, else here and now.
 */
static int
ram_restore(struct vm *vm, const char *dir, const struct snap_meminfo *mi)
{
	char path[4096];
	bool lazy, shared;
	int fd, rc;

	if ((rc = config_get_bool("memory.lazy_restore", true, &lazy)) < 0 ||
	    (rc = config_get_bool("memory.share_snapshot", false, &shared)) < 0)
		return rc;
	if (shared && !lazy) {
		hlog("memory.share_snapshot=true leaves RAM in the snapshot's "
		    "file, memory.lazy_restore=false loads it first: drop one");
		return -EINVAL;
	}
	if ((fd = ram_open(vm, dir, mi, path, sizeof(path))) < 0)
		return fd;
	if (shared && (rc = ramfill_start(vm, fd, path, mi->hash, true)) < 0) {
		/* Its backends were started for it: no quiet fallback. */
		hlog("%s: memory.share_snapshot: userfaultfd: %s; restore "
		    "without it", vm->name, strerror(-rc));
		close(fd);
		return rc;
	}
	if (shared)
		return 0;
	if (!lazy || (rc = ramfill_start(vm, fd, path, mi->hash, false)) < 0) {
		if (lazy)
			hlog("%s: RAM is loaded before the guest runs, not "
			    "while it runs: userfaultfd: %s", vm->name,
			    strerror(-rc));
		rc = ram_load(vm, fd, path, mi->hash);
		close(fd);
	}
	return rc;
}

static int
load_devices(struct vm *vm, const struct snap *s, bool start)
{
	int rc;

	pthread_mutex_lock(&vm->dev_lock);
	if ((rc = pci_load(vm, s)) == 0 && (rc = uart_load(vm, s)) == 0 &&
	    (rc = rtc_load(vm, s)) == 0 && (rc = pm_load(vm, s)) == 0 &&
	    (rc = i8042_load(vm, s)) == 0 &&
	    (rc = vmgenid_load(vm, s, start)) == 0)
		rc = vpci_load(vm, s, start);
	pthread_mutex_unlock(&vm->dev_lock);
	return rc;
}

int
vmsnap_load(struct vm *vm, const struct snap *s, bool live)
{
	int rc;

	if ((rc = vmstate_load(vm, s, live)) < 0)
		return rc;
	return load_devices(vm, s, !live);
}

int
vmsnap_restore(struct vm *vm, const char *dir)
{
	const struct snap_meminfo *mi;
	struct snap s;
	int rc;

	if ((rc = read_state(dir, &s)) < 0)
		return rc;
	if ((mi = snap_get(&s, SNAP_MEMINFO, 0, sizeof(*mi), "memory")) == NULL)
		rc = -EINVAL;
	if (rc == 0)
		rc = ram_restore(vm, dir, mi);
	if (rc == 0 && (rc = vmsnap_load(vm, &s, false)) < 0)
		ramfill_fini();
	snap_free(&s);
	if (rc == 0)
		hlog("%s: restored from %s", vm->name, dir);
	return rc;
}
