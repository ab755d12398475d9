/*
 * virtio-blk: a disk image the core opens and hyve-blk serves.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>

#include "backends/blk/blk.h"
#include "core/config.h"
#include "core/devclass.h"
#include "core/spawner.h"
#include "core/supervisor.h"
#include "core/virtio_pci.h"
#include "lib/log.h"

static const char *const blk_keys[] = { "device", "path", "ro", "nocache",
    "direct", "sync", "sectorsize", "nodelete", "ser", "queues", "poll_us",
    "inline_io", "binary", "sandbox", NULL };

static int
blk_flags(const char *node)
{
	int flags = O_CLOEXEC | (config_node_bool(node, "ro") ? O_RDONLY :
	    O_RDWR);

	if (config_node_bool(node, "nocache"))
		flags |= O_DIRECT;
	if (config_node_bool(node, "direct") || config_node_bool(node, "sync"))
		flags |= O_SYNC;
	return flags;
}

/* At start-up the core opens it; afterwards only the monitor can, and
 * only what an operator's swap named. */
static int
blk_open(struct vpci *v, const char *path)
{
	int fd, flags = blk_flags(v->sup.node);

	if (spawner_sealed()) {
		if ((fd = spawner_open(v->name, "blk", path, flags)) < 0)
			hlog("%s: %s: %s", v->name, path, strerror(-fd));
		return fd;
	}
	fd = open(path, flags);
	if (fd < 0) {
		int e = errno;
		hlog("%s: %s: %s", v->name, path, strerror(e));
		return -e;
	}
	return fd;
}

static int
blk_check(const char *node, const char *name)
{
	const char *path = config_node_get(node, "path");
	int e;

	if (path == NULL) {
		hlog("%s: no disk image (use -s SLOT,virtio-blk,PATH)", name);
		return -EINVAL;
	}
	if (access(path, config_node_bool(node, "ro") ? R_OK : R_OK | W_OK) < 0) {
		e = errno;
		hlog("%s: %s: %s", name, path, strerror(e));
		return -e;
	}
	return 0;
}

static int
blk_prepare(struct vpci *v, const char *node)
{
	const char *path = config_node_get(node, "path"), *x;
	int fd;

	if (path == NULL) {
		hlog("%s (%s): no disk image (use -s SLOT,virtio-blk,PATH)",
		    v->name, v->pd->name);
		return -EINVAL;
	}
	if ((fd = blk_open(v, path)) < 0)
		return fd;
	sup_give(v, 0, fd);
	if (config_node_bool(node, "ro"))
		sup_arg(v, "--ro", NULL);
	if (config_node_bool(node, "nodelete"))
		sup_arg(v, "--nodelete", NULL);
	if ((x = config_node_get(node, "sectorsize")) != NULL)
		sup_arg(v, "--sectorsize", x);
	if ((x = config_node_get(node, "ser")) != NULL)
		sup_arg(v, "--ser", x);
	if ((x = config_node_get(node, "queues")) != NULL)
		sup_arg(v, "--queues", x);
	if ((x = config_node_get(node, "poll_us")) != NULL)
		sup_arg(v, "--poll-us", x);
	if ((x = config_node_get(node, "inline_io")) != NULL)
		sup_arg(v, "--inline-io", x);
	return 0;
}

static int
blk_reopen(struct vpci *v, const char *path, char *err, size_t len)
{
	int fd = blk_open(v, path);

	if (fd < 0)
		snprintf(err, len, "%s: %s", path, strerror(-fd));
	return fd;
}

static uint64_t
capacity(const uint8_t *cfg)
{
	uint64_t c;

	memcpy(&c, cfg, sizeof(c));
	return c;
}

static bool
blk_cfg_changed(const char *name, const uint8_t *old, const uint8_t *cur)
{
	if (capacity(old) == capacity(cur))
		return false;
	hlog("%s: disk size changed from %llu to %llu sectors; config "
	    "interrupt sent", name, (unsigned long long)capacity(old),
	    (unsigned long long)capacity(cur));
	return true;
}

const struct devclass devclass_blk = {
	.pe = VPCI_DEVEMU("virtio-blk", "PATH[,ro][,nocache][,direct]"
	    "[,sectorsize=N][,nodelete][,ser=S][,queues=N][,poll_us=N]"
	    "[,inline_io=auto|on|off]  (backend hyve-blk)"),
	.prefix = "blk",
	.binary = "blk",
	.virtio_id = VIRTIO_ID_BLOCK,
	.class = 0x01, .subclass = 0x80,
	/* Up to the write-zeroes fields: backends built against older
	 * headers (QEMU 7.2's) refuse a longer config read. */
	.cfg_len = offsetof(struct virtio_blk_config, max_secure_erase_sectors),
	.bare = "path",
	.keys = blk_keys,
	.slots = { "disk" },
	.role = &blk_sandbox,
	.check = blk_check,
	.prepare = blk_prepare,
	.swap_opt = "path",
	.noun = "disk",
	.reopen = blk_reopen,
	.cfg_changed = blk_cfg_changed,
};
