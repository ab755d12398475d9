/*
 * Guest RAM's file (core/vm.c): a file of a private tmpfs with 2 MiB
 * pages by default, a sealed memfd with memory.huge_pages=false or for a
 * restore that a userfaultfd fills, and one line when the tmpfs cannot be
 * mounted.  Needs root for the tmpfs, as make check runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "core/config.h"
#include "core/ramfill.h"
#include "core/vm.h"
#include "lib/caps.h"

#define RAM	(16u << 20)
#define SEALS	(F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

static const char *
fd_target(int fd)
{
	static char t[256];
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, t, sizeof(t) - 1);
	t[n < 0 ? 0 : n] = '\0';
	return t;
}

/* kB of the mapping at addr that are mapped with 2 MiB pages. */
static long
pmd_mapped_kb(const void *addr)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/smaps", "r");
	bool in = false;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		/* A mapping's first line starts with its address, in hex;
		 * its fields with a capitalised name. */
		if (strchr("0123456789abcdef", line[0]) != NULL)
			in = strtoul(line, NULL, 16) == (uintptr_t)addr;
		else if (in)
			sscanf(line, "ShmemPmdMapped: %ld kB", &kb);
	}
	fclose(f);
	return kb;
}

/* The default: 2 MiB pages, whatever shmem_enabled says. */
static void
test_huge_default(void **state)
{
	struct vm vm;

	(void)state;
	config_reset();
	assert_int_equal(geteuid(), 0);
	assert_int_equal(vm_create_nokvm(&vm, "ram", RAM), 0);
	assert_string_equal(fd_target(vm.mem_fd), "/hyve-ram (deleted)");
	/* Not sealable (so backends guard it), and the size is right. */
	assert_int_equal(fcntl(vm.mem_fd, F_GET_SEALS), F_SEAL_SEAL);
	assert_int_equal(lseek(vm.mem_fd, 0, SEEK_END), RAM);
	/* Shared memory's alignment puts the mapping on 2 MiB. */
	assert_int_equal((uintptr_t)vm.mem & ((2u << 20) - 1), 0);
	memset(vm.mem, 0x5a, RAM);
	assert_true(pmd_mapped_kb(vm.mem) >= 2048);
	vm_destroy(&vm);
}

/* memory.huge_pages=false, and a lazy restore: the sealed memfd. */
static void
test_memfd(void **state)
{
	struct vm vm;

	(void)state;
	config_reset();
	assert_int_equal(config_set("memory.huge_pages", "false"), 0);
	assert_int_equal(vm_create_nokvm(&vm, "ram", RAM), 0);
	assert_string_equal(fd_target(vm.mem_fd), "/memfd:hyve-ram (deleted)");
	assert_int_equal(fcntl(vm.mem_fd, F_GET_SEALS), SEALS);
	vm_destroy(&vm);

	config_reset();
	assert_int_equal(config_set("restore", "/nonexistent"), 0);
	assert_int_equal(vm_create_nokvm(&vm, "ram", RAM), 0);
	assert_int_equal(fcntl(vm.mem_fd, F_GET_SEALS), SEALS);
	vm_destroy(&vm);

	/* A restore that loads all of RAM first can have the big pages. */
	assert_int_equal(config_set("memory.lazy_restore", "false"), 0);
	assert_int_equal(vm_create_nokvm(&vm, "ram", RAM), 0);
	assert_int_equal(fcntl(vm.mem_fd, F_GET_SEALS), F_SEAL_SEAL);
	vm_destroy(&vm);
	config_reset();
}

/* The userfaultfd fill refuses RAM that khugepaged could make whole. */
static void
test_fill_needs_memfd(void **state)
{
	struct vm vm;

	(void)state;
	config_reset();
	assert_int_equal(vm_create_nokvm(&vm, "ram", RAM), 0);
	assert_int_equal(ramfill_start(&vm, -1, "/nonexistent", 0, false),
	    -EINVAL);
	vm_destroy(&vm);
}

/*
 * Without CAP_SYS_ADMIN (a core not started as root): the memfd and one
 * line by default; memory.huge_pages=true asked for is an error.
 */
static void
test_no_mount(void **state)
{
	char path[] = "/tmp/hyve-ram-logXXXXXX", buf[1024];
	int lfd, status, err;
	ssize_t n;
	pid_t pid;

	(void)state;
	assert_true((lfd = mkstemp(path)) >= 0);
	unlink(path);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct vm vm;
		struct caps c;

		if (caps_get(&c) < 0)
			_exit(10);
		c.eff &= ~CAP_BIT(CAP_SYS_ADMIN);
		c.perm &= ~CAP_BIT(CAP_SYS_ADMIN);
		if (caps_set(&c) < 0)
			_exit(10);
		err = dup(2);
		dup2(lfd, 2);
		config_reset();
		if (vm_create_nokvm(&vm, "ram", RAM) < 0 ||
		    fcntl(vm.mem_fd, F_GET_SEALS) != SEALS)
			_exit(11);
		vm_destroy(&vm);
		if (config_set("memory.huge_pages", "true") < 0 ||
		    vm_create_nokvm(&vm, "ram", RAM) != -EPERM)
			_exit(12);
		dup2(err, 2);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	n = pread(lfd, buf, sizeof(buf) - 1, 0);
	close(lfd);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "cannot mount a tmpfs with 2 MiB pages for "
	    "it: Operation not permitted; it gets 4 KiB pages"));
	assert_non_null(strstr(buf, "; run hyve as root, or drop "
	    "memory.huge_pages=true"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_huge_default),
		cmocka_unit_test(test_memfd),
		cmocka_unit_test(test_fill_needs_memfd),
		cmocka_unit_test(test_no_mount),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
