/*
 * virtio-rnd (virtio-rng): entropy from hyve-rnd, optionally rate-limited.
 */
#include <stddef.h>
#include <linux/virtio_ids.h>

#include "backends/rnd/rnd.h"
#include "core/config.h"
#include "core/devclass.h"
#include "core/supervisor.h"
#include "core/virtio_pci.h"

static const char *const rnd_keys[] = { "device", "rate", "binary", "sandbox",
    "debug_seccomp", NULL };

static int
rnd_prepare(struct vpci *v, const char *node)
{
	const char *x;

	if ((x = config_node_get(node, "rate")) != NULL)
		sup_arg(v, "--rate", x);
	if (config_node_bool(node, "debug_seccomp"))
		sup_arg(v, "--debug-seccomp", NULL);
	return 0;
}

const struct devclass devclass_rnd = {
	.pe = VPCI_DEVEMU("virtio-rnd",
	    "[rate=BYTES_PER_SEC]  (backend hyve-rnd)"),
	.prefix = "rnd",
	.vu_type = "rng",
	.binary = "rnd",
	.virtio_id = VIRTIO_ID_RNG,
	.class = 0x00, .subclass = 0xff,
	.nqueues = 1,
	.keys = rnd_keys,
	.role = &rnd_sandbox,
	.prepare = rnd_prepare,
};
