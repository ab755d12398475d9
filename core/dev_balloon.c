/*
 * virtio-balloon: free page reporting from hyve-balloon.  The guest's
 * freed memory goes back to the host; the host never asks for memory.
 */
#include <stddef.h>
#include <linux/virtio_ids.h>

#include "backends/balloon/balloon.h"
#include "core/config.h"
#include "core/devclass.h"
#include "core/supervisor.h"
#include "core/virtio_pci.h"

static const char *const balloon_keys[] = { "device", "binary", "sandbox",
    "debug_seccomp", NULL };

static int
balloon_prepare(struct vpci *v, const char *node)
{
	if (config_node_bool(node, "debug_seccomp"))
		sup_arg(v, "--debug-seccomp", NULL);
	return 0;
}

const struct devclass devclass_balloon = {
	.pe = VPCI_DEVEMU("virtio-balloon",
	    "(free page reporting; backend hyve-balloon)"),
	.prefix = "balloon",
	.binary = "balloon",
	.virtio_id = VIRTIO_ID_BALLOON,
	.class = 0xff, .subclass = 0x00,
	.cfg_len = 8,
	.nqueues = BALLOON_NQUEUES,
	.keys = balloon_keys,
	.role = &balloon_sandbox,
	.prepare = balloon_prepare,
};
