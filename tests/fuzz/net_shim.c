/*
 * Builds hyve-net's request code into the fuzz target and reaches the
 * parts net.h does not export; the file itself is not changed.
 */
#include "backends/net/net.c"
#include "tests/fuzz/shims.h"

/* net_init without the tap checks: any socket stands in for the tap. */
void *
fznet_init(int tapfd, struct vu_backend *be)
{
	static struct net n;
	struct epoll_event ev = { .events = 0 };

	n.tapfd = tapfd;
	snprintf(n.ifname, sizeof(n.ifname), "fuzz");
	n.hdrlen = sizeof(struct virtio_net_hdr_mrg_rxbuf);
	n.applied = ~0ull;
	n.rxbuf = malloc(NET_RXBUF);
	n.tapep = epoll_create1(EPOLL_CLOEXEC);
	if (n.rxbuf == NULL || n.tapep < 0 ||
	    epoll_ctl(n.tapep, EPOLL_CTL_ADD, tapfd, &ev) < 0)
		abort();
	net_backend(&n, be);
	return &n;
}

void
fznet_rx(struct vu_dev *d)
{
	rx_run(d);
}
