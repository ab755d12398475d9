/*
 * lib/caps.c: the capability sets read and written without libcap-ng.
 * Each test runs in a forked child, since it gives capabilities up; needs
 * root, as make check runs.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "lib/caps.h"

#define KEEP	(CAP_BIT(CAP_SYS_ADMIN) | CAP_BIT(CAP_SETPCAP))

/* The line of /proc/self/status named key, as a number (hex). */
static uint64_t
status_hex(const char *key)
{
	char line[256];
	unsigned long long v = ~0ULL;
	size_t n = strlen(key);
	FILE *f = fopen("/proc/self/status", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, n) == 0 && line[n] == ':')
			sscanf(line + n + 1, "%llx", &v);
	fclose(f);
	return v;
}

/* Runs fn in a child; the child's exit status 0 is a pass, else the
 * number of the check that failed. */
static void
in_child(int (*fn)(void))
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static int
keep_two(void)
{
	struct caps c = { .eff = KEEP, .perm = KEEP, .inh = 0 };
	struct caps got;

	if (caps_get(&got) < 0 || !(got.eff & CAP_BIT(CAP_SYS_ADMIN)))
		return 1;	/* not root */
	if (caps_bound(KEEP) < 0 || caps_bounding() != KEEP ||
	    status_hex("CapBnd") != KEEP)
		return 2;
	if (caps_set(&c) < 0 || caps_get(&got) < 0 || got.eff != KEEP ||
	    got.perm != KEEP || got.inh != 0)
		return 3;
	if (status_hex("CapEff") != KEEP || status_hex("CapPrm") != KEEP)
		return 4;
	if (caps_none())
		return 5;
	/* Raising one not permitted any more is refused. */
	c.eff |= CAP_BIT(CAP_NET_ADMIN);
	c.perm |= CAP_BIT(CAP_NET_ADMIN);
	if (caps_set(&c) == 0)
		return 6;
	return 0;
}

static int
drop_all(void)
{
	struct caps none = { 0, 0, 0 }, c;

	/* An ambient capability must be inheritable too. */
	if (caps_get(&c) < 0 || (c.inh = CAP_BIT(CAP_SYS_ADMIN),
	    caps_set(&c)) < 0 ||
	    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SYS_ADMIN, 0, 0) < 0)
		return 1;
	if (status_hex("CapAmb") == 0)
		return 2;
	if (caps_bound(0) < 0 || caps_clear_ambient() < 0 ||
	    caps_set(&none) < 0)
		return 3;
	if (!caps_none() || status_hex("CapBnd") != 0 ||
	    status_hex("CapAmb") != 0 || status_hex("CapEff") != 0)
		return 4;
	return 0;
}

/* Without CAP_SETPCAP the bounding set cannot shrink: an error, not a
 * silent success. */
static int
bound_needs_setpcap(void)
{
	struct caps c = { .eff = CAP_BIT(CAP_SYS_ADMIN),
		.perm = CAP_BIT(CAP_SYS_ADMIN) };

	if (caps_set(&c) < 0)
		return 1;
	if (caps_bound(0) != -EPERM)
		return 2;
	return 0;
}

static void test_keep_two(void **state) { (void)state; in_child(keep_two); }
static void test_drop_all(void **state) { (void)state; in_child(drop_all); }
static void
test_bound_needs_setpcap(void **state)
{
	(void)state;
	in_child(bound_needs_setpcap);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keep_two),
		cmocka_unit_test(test_drop_all),
		cmocka_unit_test(test_bound_needs_setpcap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
