/*
 * virtio-vsock: the guest's AF_VSOCK streams, served by hyve-vsock, with
 * the host side on unix sockets (Firecracker's "hybrid vsock"): the core
 * binds and listens on socket=PATH, where host programs connect and write
 * "CONNECT <port>\n", and opens PATH's directory, where a guest's
 * connection to host port P reaches the unix socket PATH_P.  Both go to
 * the backend as descriptors; its sandbox holds that one directory,
 * read-only, and nothing else by path.  A snapshot carries no
 * connection: the restored VM's backend resets them, as a restarted one
 * does (backends/vsock/vsock.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_vsock.h>

#include "backends/vsock/vsock.h"
#include "backends/runtime.h"
#include "core/config.h"
#include "core/devclass.h"
#include "core/supervisor.h"
#include "core/virtio_pci.h"
#include "lib/log.h"

static const char *const vsock_keys[] = { "device", "cid", "socket", "binary",
    "sandbox", NULL };

/* "_4294967295" after PATH's last component, in a sun_path. */
#define PORT_SUFFIX	11

static int
vsock_check(const char *node, const char *name)
{
	const char *cid = config_node_get(node, "cid");
	const char *path = config_node_get(node, "socket");
	struct sockaddr_un sa;
	char *end;
	unsigned long long c;

	errno = 0;
	c = cid != NULL ? strtoull(cid, &end, 0) : 0;
	if (cid == NULL || errno || *end != '\0' || c < 3 || c >= UINT32_MAX) {
		hlog("%s: give the guest's context id as cid=N, 3 to %u "
		    "(-s SLOT,virtio-vsock,cid=N,socket=PATH)", name,
		    UINT32_MAX - 1);
		return -EINVAL;
	}
	if (path == NULL || *path == '\0' || path[strlen(path) - 1] == '/' ||
	    strlen(path) + PORT_SUFFIX >= sizeof(sa.sun_path) - 8) {
		hlog("%s: give the host's unix socket as socket=PATH, a file "
		    "name of at most %zu bytes", name,
		    sizeof(sa.sun_path) - 9 - PORT_SUFFIX);
		return -EINVAL;
	}
	return 0;
}

static int
vsock_prepare(struct vpci *v, const char *node)
{
	const char *path = config_node_get(node, "socket");
	char *a = strdup(path), *b = strdup(path), cid[24];
	int lfd, dfd, rc = 0;

	if (a == NULL || b == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if ((dfd = open(dirname(a), O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = -errno;
		hlog("%s: socket=%s: its directory: %s", v->name, path,
		    strerror(-rc));
		goto out;
	}
	sup_give(v, 1, dfd);
	if ((lfd = vu_listen(path)) < 0) {
		hlog("%s: socket=%s: cannot listen there", v->name, path);
		rc = lfd;
		goto out;
	}
	sup_give(v, 0, lfd);
	/* vsock_check read it, in any base strtoull takes. */
	snprintf(cid, sizeof(cid), "%llu",
	    strtoull(config_node_get(node, "cid"), NULL, 0));
	sup_arg(v, "--cid", cid);
	sup_arg(v, "--uds-name", basename(b));
out:
	free(a);
	free(b);
	return rc;
}

const struct devclass devclass_vsock = {
	.pe = VPCI_DEVEMU("virtio-vsock",
	    "cid=N,socket=PATH  (backend hyve-vsock; the host connects to "
	    "PATH, the guest's port P to PATH_P)"),
	.prefix = "vsock",
	.binary = "vsock",
	.virtio_id = VIRTIO_ID_VSOCK,
	.class = 0x07, .subclass = 0x80,
	.cfg_len = sizeof(struct virtio_vsock_config),
	.nqueues = 3,
	.keys = vsock_keys,
	.slots = { "listen", "dir" },
	.role = &vsock_sandbox,
	.check = vsock_check,
	.prepare = vsock_prepare,
};
