#ifndef HYVE_NET_H
#define HYVE_NET_H

/*
 * hyve-net: virtio-net (device type 1) over vhost-user, backed by a tap.
 * Queue 0 receives (tap -> guest), queue 1 transmits (guest -> tap).  The
 * vnet header travels unchanged between the guest and the tap, which is
 * set up with the same header size (TUNSETVNETHDRSZ).
 */

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <liburing.h>

#include "backends/runtime.h"

#define NET_RXQ		0
#define NET_TXQ		1
#define NET_QUEUE_SIZE	1024
#define NET_MAX_FRAME	65536	/* guest frame bytes after the vnet header */
#define NET_RXBUF	(128 * 1024)
#define NET_TX_BATCH	64	/* tx frames per io_uring submission, at most */

struct net_stats {
	uint64_t tx_frames;
	uint64_t tx_dropped;
	uint64_t rx_frames;
	uint64_t rx_dropped;
	uint64_t rx_errors;
};

struct net {
	int tapfd;
	int tapep;		/* epoll set holding tapfd; the runtime watches it */
	bool watching;		/* tapfd is armed in tapep */
	char ifname[IFNAMSIZ];
	uint8_t mac[6];
	uint16_t mtu;		/* 0: no VIRTIO_NET_F_MTU */
	uint64_t applied;	/* features the tap was last set up for */
	unsigned hdrlen;	/* vnet header bytes, guest and tap alike */
	uint8_t *rxbuf;		/* one frame read from the tap, with header */
	size_t rxlen;		/* 0: nothing pending */
	uint16_t rxseen;	/* avail index when rx ran out of buffers */
	/* tx: frames written to the tap through io_uring, up to tx_batch per
	 * system call (the tap takes writes without waiting); 1 or no ring:
	 * one writev per frame. */
	unsigned tx_batch;
	struct io_uring ring;
	bool ring_ok;
	struct net_stats st;
};

/*
 * Checks that tapfd is a tap with IFF_NO_PI and IFF_VNET_HDR, fills
 * n->ifname, makes it non-blocking and prepares the rx state.  Returns 0
 * or -errno after a message.
 */
int net_init(struct net *n, int tapfd);

/* The device description for the runtime; features depend on n->mtu. */
void net_backend(const struct net *n, struct vu_backend *be);

/*
 * Sets up the io_uring for batched tx (n->tx_batch > 1), restricted to
 * WRITEV; without one, tx writes a frame per system call.
 */
int net_uring(struct net *n);

/* Registers the tap with the runtime's event loop. */
int net_attach(struct net *n, struct vu_dev *d);

/* Its sandbox: what it is given and held to (net_sandbox.c). */
struct sandbox_row;
extern const struct sandbox_row net_sandbox;

#endif
