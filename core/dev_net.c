/*
 * virtio-net: a tap the core opens (and sets the MTU of) and hyve-net
 * serves.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/if_tun.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>

#include "backends/net/net.h"
#include "core/config.h"
#include "core/devclass.h"
#include "core/spawner.h"
#include "core/supervisor.h"
#include "core/virtio_pci.h"
#include "lib/log.h"

static const char *const net_keys[] = { "device", "backend", "mac", "mtu",
    "tx_batch", "binary", "sandbox", NULL };

static int
tap_open(struct vpci *v, const char *tap)
{
	struct ifreq ifr;
	int fd;

	if (strlen(tap) >= IFNAMSIZ) {
		hlog("%s: tap name '%s' is too long", v->name, tap);
		return -EINVAL;
	}
	if (spawner_sealed()) {
		if ((fd = spawner_open(v->name, "tap", tap, 0)) < 0)
			hlog("%s: tap %s: %s", v->name, tap, strerror(-fd));
		return fd;
	}
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		hlog("%s: /dev/net/tun: %s", v->name, strerror(e));
		return -e;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", tap);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;
		hlog("%s: tap %s: %s", v->name, tap, strerror(e));
		close(fd);
		return -e;
	}
	return fd;
}

static int
tap_mtu(struct vpci *v, const char *tap, const char *mtu)
{
	struct ifreq ifr;
	int sk, e;

	/* The sandboxed backend cannot change the tap; the core does. */
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", tap);
	ifr.ifr_mtu = atoi(mtu);
	sk = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sk >= 0 && ioctl(sk, SIOCSIFMTU, &ifr) == 0) {
		close(sk);
		return 0;
	}
	e = errno;
	hlog("%s: setting the MTU of tap %s to %s: %s", v->name, tap, mtu,
	    strerror(e));
	if (sk >= 0)
		close(sk);
	return -e;
}

static int
net_check(const char *node, const char *name)
{
	const char *tap = config_node_get(node, "backend");

	if (tap == NULL || *tap == '\0' || strlen(tap) >= IFNAMSIZ) {
		hlog("%s: give a tap name of 1 to %d characters "
		    "(-s SLOT,virtio-net,TAPNAME)", name, IFNAMSIZ - 1);
		return -EINVAL;
	}
	return 0;
}

static int
net_prepare(struct vpci *v, const char *node)
{
	const char *tap = config_node_get(node, "backend"), *x;
	int fd, rc;

	if (tap == NULL) {
		hlog("%s (%s): no tap device (use -s SLOT,virtio-net,TAPNAME)",
		    v->name, v->pd->name);
		return -EINVAL;
	}
	if ((fd = tap_open(v, tap)) < 0)
		return fd;
	sup_give(v, 0, fd);
	if ((x = config_node_get(node, "mac")) != NULL)
		sup_arg(v, "--mac", x);
	if ((x = config_node_get(node, "mtu")) != NULL) {
		if ((rc = tap_mtu(v, tap, x)) < 0)
			return rc;
		sup_arg(v, "--mtu", x);
	}
	if ((x = config_node_get(node, "tx_batch")) != NULL)
		sup_arg(v, "--tx-batch", x);
	return 0;
}

static int
net_reopen(struct vpci *v, const char *tap, char *err, size_t len)
{
	int fd = tap_open(v, tap);

	if (fd < 0)
		snprintf(err, len, "tap %s: %s", tap, strerror(-fd));
	return fd;
}

const struct devclass devclass_net = {
	.pe = VPCI_DEVEMU("virtio-net",
	    "TAPNAME[,mac=xx:xx:xx:xx:xx:xx][,mtu=N][,tx_batch=N]"
	    "  (backend hyve-net)"),
	.prefix = "net",
	.binary = "net",
	.virtio_id = VIRTIO_ID_NET,
	.class = 0x02, .subclass = 0x00,
	.cfg_len = sizeof(struct virtio_net_config),
	.nqueues = 2,
	.bare = "backend",
	.keys = net_keys,
	.slots = { "tap" },
	.role = &net_sandbox,
	.check = net_check,
	.prepare = net_prepare,
	.swap_opt = "tap",
	.noun = "NIC",
	.reopen = net_reopen,
};
