#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "core/config.h"
#include "core/tenant.h"
#include "lib/log.h"

static int lock_fd = -1;	/* held for the life of the process */
static uid_t the_uid;
static gid_t the_gid;

static int
parse_range(const char *s, unsigned long *lo, unsigned long *hi)
{
	char *end;

	*lo = strtoul(s, &end, 10);
	if (end == s || *end != '-')
		return -EINVAL;
	s = end + 1;
	*hi = strtoul(s, &end, 10);
	if (end == s || *end != '\0' || *hi < *lo || *lo == 0 ||
	    *hi >= 0xfffffffeUL)
		return -EINVAL;
	return 0;
}

static int
take(unsigned long id)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%lu", TENANT_LOCK_DIR, id);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return -EBUSY;
	}
	return fd;
}

static int
allocate(void)
{
	const char *r = config_get_default("tenant.uid_range",
	    TENANT_RANGE_DEFAULT);
	unsigned long lo, hi, id;
	int fd;

	if (parse_range(r, &lo, &hi) < 0) {
		hlog("tenant.uid_range: '%s' is not BASE-END (e.g. %s)", r,
		    TENANT_RANGE_DEFAULT);
		return -EINVAL;
	}
	if ((mkdir("/run/hyve", 0700) < 0 && errno != EEXIST) ||
	    (mkdir(TENANT_LOCK_DIR, 0700) < 0 && errno != EEXIST)) {
		hlog("%s: %s", TENANT_LOCK_DIR, strerror(errno));
		return -errno;
	}
	for (id = lo; id <= hi; id++) {
		if ((fd = take(id)) >= 0) {
			lock_fd = fd;
			the_uid = id;
			the_gid = id;
			return 0;
		}
		if (fd != -EBUSY) {
			hlog("%s/%lu: %s", TENANT_LOCK_DIR, id, strerror(-fd));
			return fd;
		}
	}
	hlog("tenant.uid_range %s: every id is in use by another VM; widen "
	    "the range", r);
	return -EAGAIN;
}

int
tenant_ids(uid_t *uid, gid_t *gid)
{
	uint64_t u, g;
	int rc;

	if (geteuid() != 0) {
		/* Not root: the backends cannot change ids; they keep ours. */
		*uid = getuid();
		*gid = getgid();
		return 0;
	}
	if (lock_fd < 0 && the_uid == 0) {
		if (config_get("tenant.uid") != NULL) {
			if ((rc = config_get_uint("tenant.uid", 0, &u)) < 0)
				return rc;
			if ((rc = config_get_uint("tenant.gid", u, &g)) < 0)
				return rc;
			if (u == 0 || g == 0 || u > 0xfffffffeULL ||
			    g > 0xfffffffeULL) {
				hlog("tenant.uid/gid: %llu/%llu: backends "
				    "must not run as root",
				    (unsigned long long)u, (unsigned long long)g);
				return -EINVAL;
			}
			the_uid = u;
			the_gid = g;
		} else if ((rc = allocate()) < 0) {
			return rc;
		}
	}
	*uid = the_uid;
	*gid = the_gid;
	return 0;
}
