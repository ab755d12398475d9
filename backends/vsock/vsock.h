#ifndef HYVE_VSOCK_H
#define HYVE_VSOCK_H

/*
 * hyve-vsock: virtio-vsock (device type 19) over vhost-user, with the
 * host side on unix sockets as Firecracker and Cloud Hypervisor do it
 * ("hybrid vsock"):
 *
 *  - a host program connects to the listening socket (PATH) and writes
 *    "CONNECT <port>\n"; once the guest accepts, it reads
 *    "OK <hostport>\n" and then talks to guest port <port>;
 *  - a guest's connection to CID 2 port P is connected to the unix socket
 *    PATH_P, in the directory the backend was given (its working
 *    directory; in the sandbox its root, the only one it can reach).
 *
 * Three queues: rx (to the guest), tx (from it), event.  Credit-based flow
 * control both ways: the guest's buf_alloc and fwd_cnt bound what is sent
 * to it; ours (VSOCK_BUF_ALLOC per connection) bound what it may send
 * before the host socket has taken it.
 */

#include <stdbool.h>
#include <stdint.h>
#include <linux/virtio_vsock.h>

#include "backends/runtime.h"

#define VSOCK_QUEUE_SIZE	256
#define VSOCK_HOST_CID		2
#define VSOCK_MAX_CONNS		128
#define VSOCK_BUF_ALLOC		(256 * 1024)	/* our credit per connection */
#define VSOCK_MAX_PKT		(64 * 1024)	/* payload of one packet */
#define VSOCK_INBUF		(64 * 1024)	/* read from a host socket at once */
#define VSOCK_NCTL		512		/* control packets waiting for rx */
#define VSOCK_LINE		64		/* "CONNECT <port>\n" at most */
#define VSOCK_FIRST_PORT	(1u << 30)	/* host ports of host connections */

enum vsock_state {
	VC_FREE,
	VC_HANDSHAKE,		/* host connected, its CONNECT line not read */
	VC_REQUESTED,		/* REQUEST sent to the guest, no answer yet */
	VC_OPEN,
};

struct vsock_conn {
	enum vsock_state state;
	uint32_t gen;		/* counts the slot's uses (epoll tags) */
	int fd;			/* the host's unix socket */
	uint32_t host_port;	/* ours: P, or an ephemeral port */
	uint32_t guest_port;
	bool from_host;		/* the host connected (CONNECT) */
	/* What the guest told us of its buffer; what we sent it. */
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	/* What we forwarded to the host, and last told the guest. */
	uint32_t fwd_cnt, fwd_told;
	/* Guest data the host socket has not taken yet. */
	uint8_t *pend;
	uint32_t pend_off, pend_len;
	/* Host data read, not yet sent to the guest. */
	uint8_t *in;
	uint32_t in_off, in_len;
	bool host_eof;		/* the host will send no more */
	bool eof_sent;		/* SHUTDOWN(SEND) is on its way to the guest */
	bool guest_shut_send;	/* the guest will send no more */
	bool guest_closed;	/* SHUTDOWN with both flags: RST once flushed */
	bool wr_shut;		/* shutdown(SHUT_WR) done on fd */
	bool credit_asked;	/* CREDIT_REQUEST sent, no answer yet */
	uint32_t events;	/* what fd is polled for */
	char line[VSOCK_LINE];
	unsigned line_len;
};

struct vsock {
	uint64_t cid;		/* the guest's */
	int lfd;		/* the hybrid listening socket, or -1 */
	int ep;			/* polls lfd and the connections */
	const char *name;	/* PATH's last component: PATH_P is name_P */
	struct vsock_conn conn[VSOCK_MAX_CONNS];
	uint32_t next_port;
	/* Control packets (no payload) waiting for an rx buffer. */
	struct virtio_vsock_hdr ctl[VSOCK_NCTL];
	unsigned ctl_head, ctl_len;
	unsigned rr;		/* round robin over connections with data */
	bool reset_sent;	/* TRANSPORT_RESET given to this driver */
	bool reset_seen;	/* and handled: it gave an event buffer back */
	uint16_t reset_avail;	/* the event queue's avail index then */
	bool tx_stalled;	/* tx waits for room in ctl[] */
	uint64_t pkts_in, pkts_out, rsts;
};

extern const struct vu_backend vsock_backend;

/* Sets v up (lfd may be -1) and hooks its poll set into d. 0 or -errno. */
int vsock_init(struct vsock *v, struct vu_dev *d, uint64_t cid, int lfd,
    const char *name);

/* Its sandbox: what it is given and held to (vsock_sandbox.c). */
struct sandbox_row;
extern const struct sandbox_row vsock_sandbox;

#endif
