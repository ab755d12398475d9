/*
 * virtio-fs: a host directory shared with the guest, served by Debian's
 * virtiofsd (QEMU 7.2's C one), a backend hyve did not write.  hyve starts
 * it through the monitor, which holds it to the fs row of sandbox/roles.c,
 * or connects to one the user started (-s N,vhost-user,type=fs,tag=T).
 * virtiofsd has no device config to give: the core makes it (tag, one
 * request queue; 7.2 serves no more).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <linux/virtio_fs.h>
#include <linux/virtio_ids.h>

#include "core/config.h"
#include "core/devclass.h"
#include "core/supervisor.h"
#include "core/virtio_pci.h"
#include "lib/log.h"

#define FS_BINARY	"/usr/lib/qemu/virtiofsd"
#define FS_REQUEST_QUEUES 1

static const char *const fs_keys[] = { "device", "path", "tag", "ro", NULL };
static const char *const fs_vu_keys[] = { "tag", NULL };

/* The config from tag=: 1 to 36 bytes, no NUL, padded with NULs. */
static int
fs_config(const char *node, const char *name, uint8_t *cfg)
{
	const char *tag = config_node_get(node, "tag");
	struct virtio_fs_config c;
	uint32_t n = FS_REQUEST_QUEUES;

	if (tag == NULL || tag[0] == '\0') {
		hlog("%s: virtio-fs needs tag=NAME, the name the guest mounts "
		    "(mount -t virtiofs NAME DIR)", name);
		return -EINVAL;
	}
	if (strlen(tag) > sizeof(c.tag)) {
		hlog("%s: tag '%s' is longer than %zu bytes", name, tag,
		    sizeof(c.tag));
		return -EINVAL;
	}
	memset(&c, 0, sizeof(c));
	memcpy(c.tag, tag, strlen(tag));
	memcpy(&c.num_request_queues, &n, sizeof(n));	/* x86: little-endian */
	memcpy(cfg, &c, sizeof(c));
	return 0;
}

static int
fs_check(const char *node, const char *name)
{
	const char *dir = config_node_get(node, "path");
	uint8_t cfg[sizeof(struct virtio_fs_config)];
	struct stat st;
	int rc;

	if (dir == NULL) {
		hlog("%s: no directory to share (use -s SLOT,virtio-fs,DIR,"
		    "tag=NAME)", name);
		return -EINVAL;
	}
	if (dir[0] != '/') {
		hlog("%s: %s: give the directory as an absolute path", name,
		    dir);
		return -EINVAL;
	}
	if (stat(dir, &st) < 0) {
		rc = -errno;
		hlog("%s: %s: %s", name, dir, strerror(-rc));
		return rc;
	}
	if (!S_ISDIR(st.st_mode)) {
		hlog("%s: %s: not a directory", name, dir);
		return -ENOTDIR;
	}
	if (strchr(dir, ',') != NULL) {
		hlog("%s: %s: virtiofsd cannot take a path with a comma", name,
		    dir);
		return -EINVAL;
	}
	return fs_config(node, name, cfg);
}

/*
 * virtiofsd's own options: the listening socket on fd 3, the directory,
 * its namespace sandbox (pivot_root into the directory), the file limit
 * the monitor set left alone.  "hyve:ro" is for the monitor, which makes
 * the directory a read-only mount in virtiofsd's namespace and drops the
 * word (7.2 has no read-only option).
 */
static int
fs_prepare(struct vpci *v, const char *node)
{
	char src[4200];

	snprintf(src, sizeof(src), "source=%s", config_node_get(node, "path"));
	sup_arg(v, "--fd=3", NULL);
	sup_arg(v, "-o", src);
	sup_arg(v, "-o", "sandbox=namespace");
	sup_arg(v, "--rlimit-nofile=0", NULL);
	if (config_node_bool(node, "ro"))
		sup_arg(v, "hyve:ro", NULL);
	return 0;
}

const struct devclass devclass_fs = {
	.pe = VPCI_DEVEMU("virtio-fs", "DIR,tag=NAME[,ro]  (backend "
	    FS_BINARY ")"),
	.prefix = "fs",
	.binary = FS_BINARY,
	.foreign = true,
	.virtio_id = VIRTIO_ID_FS,
	.class = 0x01, .subclass = 0x80,
	.cfg_len = sizeof(struct virtio_fs_config),
	.nqueues = 1 + FS_REQUEST_QUEUES,	/* hiprio, then requests */
	.bare = "path",
	.keys = fs_keys,
	.vu_keys = fs_vu_keys,
	.config = fs_config,
	.role = SANDBOX_FS,
	.check = fs_check,
	.prepare = fs_prepare,
};
