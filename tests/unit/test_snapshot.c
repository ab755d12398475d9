/* The snapshot format: a round trip, and every damaged file refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <cmocka.h>

#include "core/config.h"
#include "core/evloop.h"
#include "core/ramfill.h"
#include "core/snapshot.h"
#include "core/vm.h"
#include "core/vmsnap.h"

static uint8_t vcpu_blob[3000];

/* A state file in a memfd: the config, two vCPUs' worth, an empty one. */
static int
make_file(size_t *len)
{
	struct snap s;
	int fd;

	for (size_t i = 0; i < sizeof(vcpu_blob); i++)
		vcpu_blob[i] = (uint8_t)(i * 7 + 1);
	snap_init(&s);
	assert_int_equal(snap_add(&s, SNAP_CONFIG, 0, "cpus=2\n", 7), 0);
	assert_int_equal(snap_add(&s, SNAP_VCPU_REGS, 0, vcpu_blob, 100), 0);
	assert_int_equal(snap_add(&s, SNAP_VCPU_REGS, 1, vcpu_blob,
	    sizeof(vcpu_blob)), 0);
	assert_int_equal(snap_add(&s, SNAP_DEV_RTC, 0, NULL, 0), 0);
	fd = memfd_create("snap", 0);
	assert_true(fd >= 0);
	assert_int_equal(snap_write(&s, fd, "t/state"), 0);
	*len = sizeof(struct snap_header) + s.len;
	snap_free(&s);
	assert_int_equal(lseek(fd, 0, SEEK_END), (off_t)*len);
	lseek(fd, 0, SEEK_SET);
	return fd;
}

/* snap_read of fd with stderr captured; the message in msg. */
static int
read_capture(int fd, struct snap *s, char *msg, size_t len)
{
	int saved = dup(2), cap = memfd_create("err", 0), rc;
	ssize_t n;

	fflush(stderr);
	dup2(cap, 2);
	lseek(fd, 0, SEEK_SET);
	rc = snap_read(s, fd, "t/state");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(cap, msg, len - 1, 0);
	msg[n > 0 ? n : 0] = '\0';
	close(cap);
	return rc;
}

static void
refused(int fd, int want, const char *what)
{
	struct snap s;
	char msg[512];
	char *nl;

	assert_int_equal(read_capture(fd, &s, msg, sizeof(msg)), want);
	assert_null(s.buf);
	/* One line, naming the file and what is wrong. */
	nl = strchr(msg, '\n');
	assert_non_null(nl);
	assert_null(strchr(nl + 1, '\n'));
	assert_non_null(strstr(msg, "t/state: "));
	if (strstr(msg, what) == NULL)
		fail_msg("message \"%s\" does not say \"%s\"", msg, what);
}

static void
test_round_trip(void **state)
{
	struct snap s;
	const uint8_t *p;
	char msg[256];
	size_t len;
	int fd;

	(void)state;
	fd = make_file(&len);
	assert_int_equal(read_capture(fd, &s, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "");
	p = snap_find(&s, SNAP_CONFIG, 0, &len);
	assert_non_null(p);
	assert_int_equal(len, 7);
	assert_memory_equal(p, "cpus=2\n", 7);
	p = snap_find(&s, SNAP_VCPU_REGS, 1, &len);
	/* After a 7- and a 100-byte section: data stays 8-byte aligned. */
	assert_int_equal((uintptr_t)p % 8, 0);
	assert_int_equal(len, sizeof(vcpu_blob));
	assert_memory_equal(p, vcpu_blob, sizeof(vcpu_blob));
	assert_non_null(snap_get(&s, SNAP_VCPU_REGS, 0, 100, "regs"));
	assert_non_null(snap_find(&s, SNAP_DEV_RTC, 0, &len));
	assert_int_equal(len, 0);
	assert_null(snap_find(&s, SNAP_VCPU_REGS, 2, NULL));
	/* The wrong size for what this hyve expects is refused. */
	assert_null(snap_get(&s, SNAP_VCPU_REGS, 0, 99, "regs"));
	snap_free(&s);
	close(fd);
}

static void
test_truncated(void **state)
{
	size_t len, cut[] = { 0, 5, 20, sizeof(struct snap_header) + 10, 0 };
	int fd;

	(void)state;
	fd = make_file(&len);
	cut[4] = len - 1;
	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		int t = memfd_create("cut", 0);
		uint8_t *buf = malloc(len);

		assert_int_equal(pread(fd, buf, len, 0), (ssize_t)len);
		assert_int_equal(write(t, buf, cut[i]), (ssize_t)cut[i]);
		free(buf);
		refused(t, -EIO, "truncated");
		close(t);
	}
	close(fd);
}

static void
flip(int fd, off_t off, uint8_t mask)
{
	uint8_t b;

	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= mask;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
}

static void
test_corrupt(void **state)
{
	size_t len;
	int fd;

	(void)state;
	fd = make_file(&len);
	/* One bit in a vCPU's bytes, in the body. */
	flip(fd, len - 200, 0x10);
	refused(fd, -EINVAL, "corrupt");
	flip(fd, len - 200, 0x10);
	/* The body length in the header. */
	flip(fd, offsetof(struct snap_header, body_len), 0x01);
	refused(fd, -EINVAL, "corrupt");
	flip(fd, offsetof(struct snap_header, body_len), 0x01);
	/* Bytes appended. */
	assert_int_equal(pwrite(fd, "x", 1, len), 1);
	refused(fd, -EINVAL, "after the end");
	close(fd);
}

/* A header with a consistent checksum but version v. */
static void
set_version(int fd, uint32_t v)
{
	struct snap_header h;

	assert_int_equal(pread(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	h.version = v;
	h.header_crc = snap_crc32(0, &h, offsetof(struct snap_header,
	    header_crc));
	assert_int_equal(pwrite(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
}

static void
test_wrong_version(void **state)
{
	size_t len;
	int fd;

	(void)state;
	fd = make_file(&len);
	set_version(fd, SNAP_VERSION + 1);
	refused(fd, -EINVAL, "version 2");
	set_version(fd, 0);
	refused(fd, -EINVAL, "version 0");
	close(fd);
}

static void
test_foreign(void **state)
{
	static const char qemu[] = "QEVM\0\0\0\3 this is not ours, at all...";
	size_t len;
	int fd;

	(void)state;
	fd = make_file(&len);
	assert_int_equal(pwrite(fd, "QEVM", 4, 0), 4);
	refused(fd, -EINVAL, "not a hyve snapshot");
	close(fd);
	fd = memfd_create("foreign", 0);
	assert_int_equal(write(fd, qemu, sizeof(qemu)), (ssize_t)sizeof(qemu));
	refused(fd, -EINVAL, "not a hyve snapshot");
	close(fd);
}

static void
test_crc_and_hash(void **state)
{
	uint8_t page[4096] = { 0 };

	(void)state;
	/* The IEEE CRC-32 check value. */
	assert_int_equal(snap_crc32(0, "123456789", 9), 0xcbf43926u);
	assert_int_equal(snap_crc32(snap_crc32(0, "1234", 4), "56789", 5),
	    0xcbf43926u);
	uint64_t h0 = snap_memhash(0, page, sizeof(page));
	page[4000] = 1;
	assert_true(snap_memhash(0, page, sizeof(page)) != h0);
	page[4000] = 0;
	page[8] = 1;
	assert_true(snap_memhash(0, page, sizeof(page)) != h0);
}


#define RAM	(16u << 20)

static long long
held(const struct vm *vm)
{
	struct stat st;

	assert_int_equal(fstat(vm->mem_fd, &st), 0);
	return (long long)st.st_blocks * 512;
}

/*
 * Guest RAM through a snapshot's memory file: scattered pages and a run
 * with a zero page inside come back byte for byte into a VM whose RAM
 * held other data, the zero pages as holes; a changed byte or a short
 * file is refused.
 */
static void
test_ram(void **state)
{
	char dir[] = "/tmp/hyve-ramXXXXXX", path[64];
	struct snap_meminfo mi;
	struct vm a, b;
	uint64_t written;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, SNAP_MEM_FILE);
	assert_int_equal(vm_create_nokvm(&a, "a", RAM), 0);
	/* Holes stay holes in 4 KiB pages (2 MiB ones: test_ram.c). */
	assert_int_equal(config_set("memory.huge_pages", "false"), 0);
	assert_int_equal(vm_create_nokvm(&b, "b", RAM), 0);
	config_reset();
	memset(a.mem + 0x3000, 0x11, 4096);
	memset(a.mem + 0x100000, 0x22, 3 * 4096);
	memset(a.mem + 0x101000, 0, 4096);		/* zero inside the run */
	memset(a.mem + RAM - 4096, 0x33, 4096);		/* the last page */
	memset(b.mem, 0x77, RAM);			/* to be cleared */

	assert_true((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) >= 0);
	mi.size = RAM;
	mi.lowmem = a.lowmem;
	assert_int_equal(vmsnap_ram_save(&a, fd, &written, &mi.hash), 0);
	assert_int_equal(written, 4 * 4096);
	assert_int_equal(vmsnap_ram_load(&b, dir, &mi), 0);
	/* Only the four pages: holes stayed holes, nothing was faulted in. */
	assert_true(held(&b) <= 4 * 4096);
	assert_memory_equal(a.mem, b.mem, RAM);

	/* One byte changed in the file: the hash finds it. */
	assert_int_equal(pwrite(fd, "x", 1, 0x100010), 1);
	assert_int_equal(vmsnap_ram_load(&b, dir, &mi), -EINVAL);
	/* A file shorter than the RAM. */
	assert_int_equal(ftruncate(fd, RAM - 4096), 0);
	assert_int_equal(vmsnap_ram_load(&b, dir, &mi), -EINVAL);
	close(fd);
	unlink(path);
	rmdir(dir);
	vm_destroy(&a);
	vm_destroy(&b);
}

/* Runs the event loop until the fill has ended (or the VM, or 30 s). */
static void
wait_fill(struct vm *vm)
{
	for (int i = 0; i < 3000 && ramfill_busy() &&
	    !__atomic_load_n(&vm->exiting, __ATOMIC_SEQ_CST); i++)
		assert_true(evloop_run_once(10) >= 0);
}

/*
 * A VM a with 512 scattered pages of their own contents (and, with block,
 * a block of 4 MiB) saved to a memory file in a new directory dir (path
 * its name, 64 bytes): the file, open.
 */
static int
saved_ram(struct vm *a, char *dir, char *path, struct snap_meminfo *mi,
    uint64_t *written, bool block)
{
	int fd;

	assert_non_null(mkdtemp(dir));
	snprintf(path, 64, "%s/%s", dir, SNAP_MEM_FILE);
	assert_int_equal(vm_create_nokvm(a, "a", RAM), 0);
	for (uint64_t o = 0; o < RAM; o += 37 * 4096)
		memset(a->mem + o, (int)(o >> 12) | 1, 4096);
	if (block)
		memset(a->mem + RAM / 2, 0x5a, 4 << 20);
	assert_true((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) >= 0);
	mi->size = RAM;
	mi->lowmem = a->lowmem;
	assert_int_equal(vmsnap_ram_save(a, fd, written, &mi->hash), 0);
	return fd;
}

/*
 * A restore's RAM while the guest runs (ramfill.c): pages read before the
 * fill gets there come from the file at once, a hole reads as zeros, and
 * at the end every page is the saved one, holes still holes; a changed
 * byte ends the VM with exit 4, the fill never reported done.  Needs
 * userfaultfd with kernel faults: root, as make check runs.
 */
static void
test_ram_lazy(void **state)
{
	char dir[] = "/tmp/hyve-ramXXXXXX", path[64];
	struct snap_meminfo mi;
	struct vm a, b, c;
	uint64_t written, off;
	int fd;

	(void)state;
	fd = saved_ram(&a, dir, path, &mi, &written, true);
	/* The RAM of a restore, which a userfaultfd fills (core/vm.c). */
	assert_int_equal(config_set("restore", dir), 0);

	assert_int_equal(evloop_init(), 0);
	assert_int_equal(vm_create_nokvm(&b, "b", RAM), 0);
	assert_int_equal(ramfill_start(&b, fd, path, mi.hash, false), 0);
	assert_true(ramfill_busy());
	/* First touches, the last stored page likely before the fill got
	 * there, and a hole (registered until the loop hears the end). */
	off = (RAM / 4096 - 1) / 37 * 37 * 4096ull;
	assert_memory_equal(b.mem + off, a.mem + off, 4096);
	assert_int_equal(b.mem[RAM - 4096 + 5], 0);
	/* Inside the block: the block around a touch comes in as one run. */
	assert_memory_equal(b.mem + RAM / 2 + 0x9000, a.mem + RAM / 2 + 0x9000,
	    0x7000);
	wait_fill(&b);
	assert_false(ramfill_busy());
	assert_false(b.exiting);
	/* The stored pages and the touched hole, not all of RAM (before
	 * the comparison, whose reads allocate shmem's holes). */
	assert_true(held(&b) >= (long long)written);
	assert_true(held(&b) <= (long long)written + 64 * 1024);
	assert_memory_equal(a.mem, b.mem, RAM);
	ramfill_fini();

	/* One byte changed: found by the fill, the VM ends with exit 4. */
	assert_true((fd = open(path, O_RDWR)) >= 0);
	assert_int_equal(pwrite(fd, "x", 1, RAM / 2 + 10), 1);
	assert_int_equal(vm_create_nokvm(&c, "c", RAM), 0);
	assert_int_equal(ramfill_start(&c, fd, path, mi.hash, false), 0);
	wait_fill(&c);
	assert_true(c.exiting);
	assert_int_equal(c.exit_code, EXIT_ERROR);
	assert_true(ramfill_busy());	/* no device may start */
	ramfill_fini();
	config_reset();
	unlink(path);
	rmdir(dir);
	vm_destroy(&a);
	vm_destroy(&b);
	vm_destroy(&c);
}

/*
 * memory.share_snapshot (ramfill.c): nothing is filled, the check alone
 * holds the devices; then a page is copied in at its first touch only,
 * the core's or a backend's (a second mapping of the memfd registered on
 * a userfaultfd of its own, as vhost-user POSTCOPY_ADVISE hands over),
 * and a kernel write into part of a page the backend never touched keeps
 * the rest of the saved page; a snapshot of it holds every page.
 */
static void
test_ram_shared(void **state)
{
	char dir[] = "/tmp/hyve-ramXXXXXX", path[64];
	struct uffdio_api api = { .api = UFFD_API };
	struct vuf_range rg;
	struct snap_meminfo mi;
	struct vm a, b;
	uint64_t written, written2, hash2;
	uint64_t off = 37 * 4096 * 5, off2 = 37 * 4096 * 9;
	uint8_t *be, want[4096], page[4096];
	char path2[80];
	int fd, fd2, uffd, p[2];

	(void)state;
	fd = saved_ram(&a, dir, path, &mi, &written, false);
	/* The RAM of a restore, which a userfaultfd fills (core/vm.c). */
	assert_int_equal(config_set("restore", dir), 0);

	assert_int_equal(evloop_init(), 0);
	assert_int_equal(vm_create_nokvm(&b, "b", RAM), 0);
	assert_int_equal(ramfill_start(&b, fd, path, mi.hash, true), 0);
	wait_fill(&b);
	assert_false(ramfill_busy());
	assert_false(b.exiting);
	assert_true(ramfill_shared());
	assert_int_equal(held(&b), 0);	/* checked, nothing copied in */

	/* The backend's mapping and userfaultfd. */
	be = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_SHARED, b.mem_fd, 0);
	assert_true(be != MAP_FAILED);
	assert_true((uffd = syscall(SYS_userfaultfd, O_CLOEXEC |
	    O_NONBLOCK)) >= 0);
	assert_int_equal(ioctl(uffd, UFFDIO_API, &api), 0);
	rg = (struct vuf_range){ .start = (uintptr_t)be, .len = RAM };
	assert_int_equal(ramfill_watch(&rg, uffd, &rg, 1), 0);

	assert_memory_equal(be + off, a.mem + off, 4096);
	assert_memory_equal(b.mem + off, a.mem + off, 4096);
	/* read(2) writes 5 bytes into a page neither side touched. */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "hello", 5), 5);
	assert_int_equal(read(p[0], be + off2 + 100, 5), 5);
	memcpy(want, a.mem + off2, sizeof(want));
	memcpy(want + 100, "hello", 5);
	assert_memory_equal(b.mem + off2, want, sizeof(want));
	assert_int_equal(b.mem[RAM - 4096 + 5], 0);	/* a hole */
	/* Three pages, each of them once: what was touched. */
	assert_int_equal(held(&b), 3 * 4096);

	/* A snapshot of the clone: its own pages, and the file's where it
	 * has none (read in for it), each page as the guest sees it. */
	b.mem[off2 + 200] = 'Z';
	want[200] = 'Z';
	snprintf(path2, sizeof(path2), "%s/again", dir);
	assert_true((fd2 = open(path2, O_RDWR | O_CREAT | O_TRUNC, 0600)) >= 0);
	assert_int_equal(vmsnap_ram_save(&b, fd2, &written2, &hash2), 0);
	assert_int_equal(written2, written);
	/* Fetched for it, the stored pages; the holes stayed holes (but
	 * the one touched). */
	assert_int_equal(held(&b), (long long)written + 4096);
	for (uint64_t o = 0; o < RAM; o += 4096) {
		assert_int_equal(pread(fd2, page, 4096, o), 4096);
		assert_memory_equal(page, o == off2 ? want : a.mem + o, 4096);
	}
	close(fd2);
	unlink(path2);

	ramfill_fini();
	assert_false(ramfill_shared());
	close(p[0]);
	close(p[1]);
	munmap(be, RAM);
	config_reset();
	unlink(path);
	rmdir(dir);
	vm_destroy(&a);
	vm_destroy(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_wrong_version),
		cmocka_unit_test(test_foreign),
		cmocka_unit_test(test_crc_and_hash),
		cmocka_unit_test(test_ram),
		cmocka_unit_test(test_ram_lazy),
		cmocka_unit_test(test_ram_shared),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
