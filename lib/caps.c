/* The calling thread's capabilities, without libcap-ng (lib/caps.h). */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "lib/caps.h"

int
caps_get(struct caps *c)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	c->eff = d[0].effective | (uint64_t)d[1].effective << 32;
	c->perm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	c->inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
	return 0;
}

int
caps_set(const struct caps *c)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = {
		{ (uint32_t)c->eff, (uint32_t)c->perm, (uint32_t)c->inh },
		{ c->eff >> 32, c->perm >> 32, c->inh >> 32 },
	};

	return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

/* The kernel knows capabilities 0 to the first that PR_CAPBSET_READ
 * calls invalid. */
uint64_t
caps_bounding(void)
{
	uint64_t set = 0;
	int r;

	for (int cap = 0; cap < 64; cap++) {
		if ((r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0)) < 0)
			break;
		if (r == 1)
			set |= CAP_BIT(cap);
	}
	return set;
}

int
caps_bound(uint64_t keep)
{
	uint64_t set = caps_bounding() & ~keep;

	for (int cap = 0; cap < 64; cap++)
		if ((set & CAP_BIT(cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return -errno;
	return 0;
}

int
caps_clear_ambient(void)
{
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

bool
caps_none(void)
{
	struct caps c;

	return caps_get(&c) == 0 && (c.eff | c.perm | c.inh) == 0 &&
	    caps_bounding() == 0;
}
