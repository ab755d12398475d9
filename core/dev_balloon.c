/*
 * virtio-balloon: free page reporting from hyve-balloon.  The guest's
 * freed memory goes back to the host; the host never asks for memory.
 */
#include <linux/virtio_ids.h>

#include "backends/balloon/balloon.h"
#include "core/devclass.h"
#include "core/virtio_pci.h"

static const char *const balloon_keys[] = { "device", "binary", "sandbox",
    NULL };

const struct devclass devclass_balloon = {
	.pe = VPCI_DEVEMU("virtio-balloon",
	    "(free page reporting; backend hyve-balloon)"),
	.prefix = "balloon",
	.binary = "balloon",
	.virtio_id = VIRTIO_ID_BALLOON,
	.class = 0xff, .subclass = 0x00,
	.cfg_len = BALLOON_CFG_LEN,
	.nqueues = BALLOON_NQUEUES,
	.keys = balloon_keys,
	.role = &balloon_sandbox,
};
