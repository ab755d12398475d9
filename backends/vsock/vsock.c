/*
 * hyve-vsock's device: the guest's stream connections, each joined to a
 * host unix socket; see vsock.h for the host-side protocol.
 *
 * The guest's packets come on tx; what goes to the guest (connection
 * replies, RSTs, credit updates, data) leaves on rx: control packets from
 * a small ring first, then data from the connections in turn, each within
 * the credit the guest gave.  The host sockets are polled in an epoll set
 * of our own, which the runtime's loop watches as one descriptor.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "backends/iov.h"
#include "backends/vsock/vsock.h"
#include "lib/log.h"

#define Q_RX	0
#define Q_TX	1
#define Q_EVENT	2
#define HDR	sizeof(struct virtio_vsock_hdr)
#define TAG_LISTEN	UINT64_MAX

static struct iovec iov[VSOCK_QUEUE_SIZE];

static void conn_close(struct vsock *v, struct vsock_conn *c);

static uint32_t
credit(const struct vsock_conn *c)
{
	uint32_t used = c->tx_cnt - c->peer_fwd_cnt;

	return used >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - used;
}

static bool
ctl_push(struct vsock *v, const struct virtio_vsock_hdr *h)
{
	if (v->ctl_len == VSOCK_NCTL) {
		hlog("vsock: %u control packets wait for the guest's rx "
		    "buffers; one is dropped", VSOCK_NCTL);
		return false;
	}
	v->ctl[(v->ctl_head + v->ctl_len++) % VSOCK_NCTL] = *h;
	return true;
}

/* A packet of connection c to the guest, telling it our credit. */
static void
hdr_of(struct vsock *v, struct vsock_conn *c, uint16_t op,
    struct virtio_vsock_hdr *h)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = htole64(VSOCK_HOST_CID);
	h->dst_cid = htole64(v->cid);
	h->src_port = htole32(c->host_port);
	h->dst_port = htole32(c->guest_port);
	h->type = htole16(VIRTIO_VSOCK_TYPE_STREAM);
	h->op = htole16(op);
	h->buf_alloc = htole32(VSOCK_BUF_ALLOC);
	h->fwd_cnt = htole32(c->fwd_cnt);
	c->fwd_told = c->fwd_cnt;
}

static bool
ctl_conn(struct vsock *v, struct vsock_conn *c, uint16_t op, uint32_t flags)
{
	struct virtio_vsock_hdr h;

	hdr_of(v, c, op, &h);
	h.flags = htole32(flags);
	return ctl_push(v, &h);
}

/* An RST for a packet that belongs to no connection. */
static void
rst_reply(struct vsock *v, const struct virtio_vsock_hdr *in)
{
	struct virtio_vsock_hdr h;

	if (le16toh(in->op) == VIRTIO_VSOCK_OP_RST)
		return;
	memset(&h, 0, sizeof(h));
	h.src_cid = in->dst_cid;
	h.dst_cid = in->src_cid;
	h.src_port = in->dst_port;
	h.dst_port = in->src_port;
	h.type = htole16(VIRTIO_VSOCK_TYPE_STREAM);
	h.op = htole16(VIRTIO_VSOCK_OP_RST);
	v->rsts++;
	ctl_push(v, &h);
}

static void
conn_rst(struct vsock *v, struct vsock_conn *c)
{
	if (c->state == VC_REQUESTED || c->state == VC_OPEN) {
		ctl_conn(v, c, VIRTIO_VSOCK_OP_RST, 0);
		v->rsts++;
	}
	conn_close(v, c);
}

static uint64_t
tag_of(struct vsock *v, struct vsock_conn *c)
{
	return (uint64_t)c->gen << 32 | (uint64_t)(c - v->conn);
}

/* Polls c's socket for ev (0: not at all, so a hang-up waits too). */
static int
conn_poll(struct vsock *v, struct vsock_conn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.u64 = tag_of(v, c) };
	int op;

	if (ev == c->events)
		return 0;
	op = ev == 0 ? EPOLL_CTL_DEL : c->events == 0 ? EPOLL_CTL_ADD :
	    EPOLL_CTL_MOD;
	if (epoll_ctl(v->ep, op, c->fd, &e) < 0)
		return -errno;
	c->events = ev;
	return 0;
}

/* What c's socket is polled for now. */
static void
conn_rearm(struct vsock *v, struct vsock_conn *c)
{
	uint32_t ev = 0;

	if (c->state == VC_HANDSHAKE)
		ev = EPOLLIN;
	else if (c->state == VC_OPEN) {
		if (c->in_len == 0 && !c->host_eof)
			ev |= EPOLLIN;
		if (c->pend_len > 0)
			ev |= EPOLLOUT;
	}
	if (conn_poll(v, c, ev) < 0)
		conn_rst(v, c);
}

static void
conn_close(struct vsock *v, struct vsock_conn *c)
{
	if (c->state == VC_FREE)
		return;
	conn_poll(v, c, 0);
	close(c->fd);
	free(c->pend);
	free(c->in);
	uint32_t gen = c->gen + 1;
	memset(c, 0, sizeof(*c));
	c->gen = gen;
	c->fd = -1;
	c->state = VC_FREE;
}

static struct vsock_conn *
conn_find(struct vsock *v, uint32_t host_port, uint32_t guest_port)
{
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *c = &v->conn[i];

		if (c->state != VC_FREE && c->state != VC_HANDSHAKE &&
		    c->host_port == host_port && c->guest_port == guest_port)
			return c;
	}
	return NULL;
}

static struct vsock_conn *
conn_new(struct vsock *v, int fd)
{
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *c = &v->conn[i];

		if (c->state == VC_FREE) {
			uint32_t gen = c->gen;

			memset(c, 0, sizeof(*c));
			c->gen = gen;
			c->fd = fd;
			return c;
		}
	}
	return NULL;
}

/* All of the guest's data is with the host: act on its shutdown. */
static void
conn_settle(struct vsock *v, struct vsock_conn *c)
{
	if (c->state != VC_OPEN || c->pend_len > 0)
		return;
	if (c->guest_closed || (c->guest_shut_send && c->host_eof &&
	    c->eof_sent && c->in_len == 0)) {
		conn_rst(v, c);
		return;
	}
	if (c->guest_shut_send && !c->wr_shut) {
		shutdown(c->fd, SHUT_WR);
		c->wr_shut = true;
	}
}

/* Tells the guest what we forwarded once a quarter of its credit is. */
static void
credit_check(struct vsock *v, struct vsock_conn *c)
{
	if (c->state == VC_OPEN &&
	    c->fwd_cnt - c->fwd_told >= VSOCK_BUF_ALLOC / 4)
		ctl_conn(v, c, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0);
}

static ssize_t
host_send(struct vsock_conn *c, struct iovec *v, unsigned n)
{
	struct msghdr m = { .msg_iov = v, .msg_iovlen = n };
	ssize_t k;

	do
		k = sendmsg(c->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (k < 0 && errno == EINTR);
	if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	return k < 0 ? -errno : k;
}

/* Writes what waits in c->pend.  0, or -errno when the host is gone. */
static int
pend_flush(struct vsock *v, struct vsock_conn *c)
{
	struct iovec one = { c->pend + c->pend_off, c->pend_len };
	ssize_t k;

	if (c->pend_len == 0)
		return 0;
	if ((k = host_send(c, &one, 1)) < 0)
		return (int)k;
	c->pend_off += k;
	c->pend_len -= k;
	c->fwd_cnt += k;
	if (c->pend_len == 0)
		c->pend_off = 0;
	credit_check(v, c);
	return 0;
}

/* Keeps len bytes of v (after skip) for the host socket. */
static int
pend_add(struct vsock_conn *c, const struct iovec *v, unsigned n, size_t skip,
    size_t len)
{
	if (c->pend == NULL && (c->pend = malloc(VSOCK_BUF_ALLOC)) == NULL)
		return -ENOMEM;
	if (c->pend_len + len > VSOCK_BUF_ALLOC)
		return -ENOBUFS;
	if (c->pend_off + c->pend_len + len > VSOCK_BUF_ALLOC) {
		memmove(c->pend, c->pend + c->pend_off, c->pend_len);
		c->pend_off = 0;
	}
	iov_to_buf(v, n, skip, c->pend + c->pend_off + c->pend_len, len);
	c->pend_len += len;
	return 0;
}

/* The guest's payload (v, n: exactly len bytes) to the host socket. */
static void
forward(struct vsock *v, struct vsock_conn *c, struct iovec *vec, unsigned n,
    uint32_t len)
{
	ssize_t k = 0;

	if (c->guest_shut_send) {
		conn_rst(v, c);		/* data after it said it was done */
		return;
	}
	if (c->pend_len == 0 && len > 0 && (k = host_send(c, vec, n)) < 0) {
		conn_rst(v, c);
		return;
	}
	c->fwd_cnt += k;
	if ((uint32_t)k < len && pend_add(c, vec, n, k, len - k) < 0) {
		/* More than the credit we gave: the guest broke the rules. */
		conn_rst(v, c);
		return;
	}
	credit_check(v, c);
	conn_rearm(v, c);
}

/* A guest's connection to host port P: the unix socket name_P. */
static void
guest_connect(struct vsock *v, const struct virtio_vsock_hdr *h)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vsock_conn *c;
	int fd;

	if (v->name == NULL || (size_t)snprintf(sa.sun_path,
	    sizeof(sa.sun_path), "%s_%u", v->name, le32toh(h->dst_port)) >=
	    sizeof(sa.sun_path)) {
		rst_reply(v, h);
		return;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    (c = conn_new(v, fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		rst_reply(v, h);
		return;
	}
	c->state = VC_OPEN;
	c->host_port = le32toh(h->dst_port);
	c->guest_port = le32toh(h->src_port);
	c->peer_buf_alloc = le32toh(h->buf_alloc);
	c->peer_fwd_cnt = le32toh(h->fwd_cnt);
	ctl_conn(v, c, VIRTIO_VSOCK_OP_RESPONSE, 0);
	conn_rearm(v, c);
}

/* The guest accepted a host connection: "OK <hostport>\n" first. */
static void
host_accepted(struct vsock *v, struct vsock_conn *c)
{
	char ok[32];
	int n = snprintf(ok, sizeof(ok), "OK %u\n", c->host_port);
	struct iovec one = { ok, (size_t)n };

	/* Nothing was written to the socket yet: the line fits.  It is
	 * ours, not the guest's, so it counts in no credit. */
	c->state = VC_OPEN;
	if (host_send(c, &one, 1) != n) {
		conn_rst(v, c);
		return;
	}
	conn_rearm(v, c);
}

static void
guest_packet(struct vsock *v, const struct virtio_vsock_hdr *h,
    struct iovec *vec, unsigned n, uint32_t len)
{
	struct vsock_conn *c;
	uint16_t op = le16toh(h->op);
	uint32_t flags = le32toh(h->flags);

	v->pkts_in++;
	if (le64toh(h->src_cid) != v->cid ||
	    le64toh(h->dst_cid) != VSOCK_HOST_CID ||
	    le16toh(h->type) != VIRTIO_VSOCK_TYPE_STREAM) {
		rst_reply(v, h);
		return;
	}
	c = conn_find(v, le32toh(h->dst_port), le32toh(h->src_port));
	if (op == VIRTIO_VSOCK_OP_REQUEST) {
		if (c != NULL)
			conn_rst(v, c);
		else
			guest_connect(v, h);
		return;
	}
	if (c == NULL) {
		rst_reply(v, h);
		return;
	}
	c->peer_buf_alloc = le32toh(h->buf_alloc);
	c->peer_fwd_cnt = le32toh(h->fwd_cnt);
	c->credit_asked = false;
	switch (op) {
	case VIRTIO_VSOCK_OP_RESPONSE:
		if (c->state == VC_REQUESTED)
			host_accepted(v, c);
		else
			conn_rst(v, c);
		return;
	case VIRTIO_VSOCK_OP_RW:
		if (c->state != VC_OPEN) {
			conn_rst(v, c);
			return;
		}
		forward(v, c, vec, n, len);
		return;
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		return;
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		ctl_conn(v, c, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0);
		return;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		if (c->state != VC_OPEN) {
			conn_rst(v, c);
			return;
		}
		if (flags & VIRTIO_VSOCK_SHUTDOWN_SEND)
			c->guest_shut_send = true;
		if ((flags & VIRTIO_VSOCK_SHUTDOWN_RCV) &&
		    (flags & VIRTIO_VSOCK_SHUTDOWN_SEND))
			c->guest_closed = true;
		conn_settle(v, c);
		return;
	case VIRTIO_VSOCK_OP_RST:
		conn_close(v, c);
		return;
	default:
		conn_rst(v, c);
	}
}

static struct vsock_conn *
next_data(struct vsock *v)
{
	for (unsigned k = 0; k < VSOCK_MAX_CONNS; k++) {
		unsigned i = (v->rr + k) % VSOCK_MAX_CONNS;
		struct vsock_conn *c = &v->conn[i];

		if (c->state == VC_OPEN && c->in_len > 0 && credit(c) > 0) {
			v->rr = i + 1;
			return c;
		}
	}
	return NULL;
}

/* Data of c into the rx chain (vec, n: capacity cap after the header). */
static uint32_t
fill_data(struct vsock *v, struct vsock_conn *c, struct iovec *vec,
    unsigned n, uint32_t cap)
{
	struct virtio_vsock_hdr h;
	uint32_t k = c->in_len;

	if (k > credit(c))
		k = credit(c);
	if (k > cap)
		k = cap;
	if (k > VSOCK_MAX_PKT)
		k = VSOCK_MAX_PKT;
	hdr_of(v, c, VIRTIO_VSOCK_OP_RW, &h);
	h.len = htole32(k);
	iov_from_buf(vec, n, &h, HDR);
	iov_skip(&vec, &n, HDR);
	iov_from_buf(vec, n, c->in + c->in_off, k);
	c->tx_cnt += k;
	c->in_off += k;
	c->in_len -= k;
	if (c->in_len == 0) {
		c->in_off = 0;
		if (c->host_eof && !c->eof_sent) {
			c->eof_sent = true;
			ctl_conn(v, c, VIRTIO_VSOCK_OP_SHUTDOWN,
			    VIRTIO_VSOCK_SHUTDOWN_SEND);
			conn_settle(v, c);
		} else {
			conn_rearm(v, c);
		}
	}
	return HDR + k;
}

/*
 * Nothing goes to a driver that uses the event queue before it has
 * handled this backend's transport reset: Linux then resets every
 * connected socket, one the host opened a moment before too (a CONNECT
 * that waited in the backlog while the VM was restored or the backend
 * restarted).  Linux gives the event buffer back once it has handled the
 * event.  A driver without an event queue (the test guest's) gets no
 * reset and is not held.
 */
static bool
reset_outstanding(struct vu_dev *d, struct vsock *v)
{
	return vring_ready(&d->vq[Q_EVENT]) && !v->reset_seen;
}

/* Whether anything waits for the guest; asks for credit where it lacks. */
static bool
rx_pending(struct vu_dev *d, struct vsock *v)
{
	bool any = v->ctl_len > 0;

	if (reset_outstanding(d, v))
		return false;

	for (unsigned i = 0; i < VSOCK_MAX_CONNS && !any; i++) {
		struct vsock_conn *c = &v->conn[i];

		if (c->state != VC_OPEN || c->in_len == 0)
			continue;
		if (credit(c) > 0)
			any = true;
		else if (!c->credit_asked) {
			c->credit_asked = true;
			any = ctl_conn(v, c, VIRTIO_VSOCK_OP_CREDIT_REQUEST, 0);
		}
	}
	return any;
}

/* The next request of vq: 1, or 0 once it is empty with notifications
 * on, or -errno. */
static int
next_req(struct vu_dev *d, struct vring_queue *vq, struct vring_req *req)
{
	int rc;

	while ((rc = vring_pop(vq, &d->mem, req, iov, VSOCK_QUEUE_SIZE)) == 0) {
		vring_flush(vq);
		if (!vring_enable_notify(vq))
			return 0;
	}
	return rc;
}

static void
rx_run(struct vu_dev *d, struct vring_queue *vq)
{
	struct vsock *v = d->priv;
	struct vring_req req;
	struct iovec *vec;
	unsigned n;
	uint32_t len;

	for (;;) {
		if (!rx_pending(d, v))
			break;
		if (next_req(d, vq, &req) <= 0)
			break;
		vec = req.iov + req.nout;
		n = req.nin;
		if (req.nout > 0 || req.in_len < HDR) {
			vring_fail(vq, -EINVAL, req.nout > 0 ? "an rx chain with "
			    "device-readable buffers" : "an rx chain too short "
			    "for a packet header");
			break;
		}
		if (v->ctl_len > 0) {
			iov_from_buf(vec, n, &v->ctl[v->ctl_head], HDR);
			v->ctl_head = (v->ctl_head + 1) % VSOCK_NCTL;
			v->ctl_len--;
			len = HDR;
		} else {
			len = fill_data(v, next_data(v), vec, n,
			    req.in_len - HDR);
		}
		v->pkts_out++;
		vring_push(vq, &req, len);
	}
	vring_flush(vq);
	/* tx waited for room for its replies: give it a turn. */
	if (v->tx_stalled && v->ctl_len < VSOCK_NCTL / 2) {
		v->tx_stalled = false;
		if (d->vq[Q_TX].kickfd >= 0 && vring_ready(&d->vq[Q_TX]))
			eventfd_write(d->vq[Q_TX].kickfd, 1);
	}
}

static void
tx_run(struct vu_dev *d, struct vring_queue *vq)
{
	struct vsock *v = d->priv;
	struct virtio_vsock_hdr h;
	struct vring_req req;
	struct iovec *vec;
	unsigned n;
	uint32_t len;

	for (;;) {
		/* Every packet may need a reply: keep room for one. */
		if (v->ctl_len >= VSOCK_NCTL - 2) {
			v->tx_stalled = true;
			break;
		}
		if (next_req(d, vq, &req) <= 0)
			break;
		vec = req.iov;
		n = req.nout;
		if (req.nin > 0 || req.out_len < HDR) {
			vring_fail(vq, -EINVAL, req.nin > 0 ? "a tx chain with "
			    "device-writable buffers" : "a tx chain too short "
			    "for a packet header");
			break;
		}
		iov_to_buf(vec, n, 0, &h, HDR);
		len = le32toh(h.len);
		if (len > req.out_len - HDR || len > VSOCK_MAX_PKT) {
			/* A length the buffers do not hold: refuse it. */
			vring_count_error(vq);
			struct vsock_conn *c = conn_find(v, le32toh(h.dst_port),
			    le32toh(h.src_port));
			if (c != NULL)
				conn_rst(v, c);
			else
				rst_reply(v, &h);
			vring_push(vq, &req, 0);
			continue;
		}
		iov_skip(&vec, &n, HDR);
		/* Exactly len bytes of payload. */
		for (unsigned i = 0, left = len; i < n; i++) {
			if (vec[i].iov_len > left)
				vec[i].iov_len = left;
			left -= vec[i].iov_len;
			if (left == 0) {
				n = i + 1;
				break;
			}
		}
		if (len == 0)
			n = 0;
		guest_packet(v, &h, vec, n, len);
		vring_push(vq, &req, 0);
	}
	vring_flush(vq);
	vu_run_queue(d, &d->vq[Q_RX]);
}

/* A new backend: the guest's connections from before are gone. */
static void
event_run(struct vu_dev *d, struct vring_queue *vq)
{
	struct vsock *v = d->priv;
	struct virtio_vsock_event e = {
		.id = htole32(VIRTIO_VSOCK_EVENT_TRANSPORT_RESET) };
	struct vring_req req;

	if (v->reset_sent) {
		if (!v->reset_seen && __atomic_load_n(&vq->avail->idx,
		    __ATOMIC_ACQUIRE) != v->reset_avail) {
			v->reset_seen = true;
			vu_run_queue(d, &d->vq[Q_RX]);
		}
		return;
	}
	if (vring_pop(vq, &d->mem, &req, iov, VSOCK_QUEUE_SIZE) <= 0)
		return;
	if (req.nout > 0 || req.in_len < sizeof(e)) {
		vring_fail(vq, -EINVAL, "an event buffer that is not one "
		    "writable virtio_vsock_event");
		return;
	} else {
		iov_from_buf(req.iov + req.nout, req.nin, &e, sizeof(e));
		vring_push(vq, &req, sizeof(e));
		v->reset_sent = true;
		v->reset_avail = __atomic_load_n(&vq->avail->idx,
		    __ATOMIC_ACQUIRE);
		/* The buffer given back must kick us, though the driver
		 * has more posted than this one. */
		vring_kick_after(vq, v->reset_avail);
	}
	vring_flush(vq);
}

static void
vsock_kick(struct vu_dev *d, struct vring_queue *vq)
{
	switch (vq->index) {
	case Q_RX:
		rx_run(d, vq);
		break;
	case Q_TX:
		tx_run(d, vq);
		break;
	case Q_EVENT:
		event_run(d, vq);
		break;
	}
}

/* "CONNECT <port>\n": the guest port, or -1. */
static long long
parse_connect(const char *s)
{
	char *end;
	unsigned long long p;

	if (strncmp(s, "CONNECT ", 8) != 0 || s[8] < '0' || s[8] > '9')
		return -1;
	errno = 0;
	p = strtoull(s + 8, &end, 10);
	if (errno || *end != '\0' || p > UINT32_MAX)
		return -1;
	return (long long)p;
}

static uint32_t
new_port(struct vsock *v, uint32_t guest_port)
{
	do {
		if (++v->next_port < VSOCK_FIRST_PORT)
			v->next_port = VSOCK_FIRST_PORT;
	} while (conn_find(v, v->next_port, guest_port) != NULL);
	return v->next_port;
}

/* The host's CONNECT line; what follows it is data for the guest. */
static void
handshake(struct vsock *v, struct vsock_conn *c)
{
	char *nl;
	ssize_t k;
	long long port;
	unsigned rest;

	k = read(c->fd, c->line + c->line_len, sizeof(c->line) - 1 - c->line_len);
	if (k < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (k <= 0) {
		conn_close(v, c);
		return;
	}
	c->line_len += k;
	c->line[c->line_len] = '\0';
	if ((nl = memchr(c->line, '\n', c->line_len)) == NULL) {
		if (c->line_len == sizeof(c->line) - 1)
			conn_close(v, c);	/* no line: not our protocol */
		return;
	}
	*nl = '\0';
	if (nl > c->line && nl[-1] == '\r')
		nl[-1] = '\0';
	if ((port = parse_connect(c->line)) < 0) {
		conn_close(v, c);
		return;
	}
	rest = c->line_len - (unsigned)(nl + 1 - c->line);
	if (rest > 0) {
		if ((c->in = malloc(VSOCK_INBUF)) == NULL) {
			conn_close(v, c);
			return;
		}
		memcpy(c->in, nl + 1, rest);
		c->in_len = rest;
	}
	c->guest_port = (uint32_t)port;
	c->host_port = new_port(v, c->guest_port);
	c->from_host = true;
	c->state = VC_REQUESTED;
	c->peer_buf_alloc = 0;
	if (!ctl_conn(v, c, VIRTIO_VSOCK_OP_REQUEST, 0)) {
		conn_close(v, c);
		return;
	}
	conn_rearm(v, c);
}

static void
host_read(struct vsock *v, struct vsock_conn *c)
{
	ssize_t k;

	if (c->in_len > 0 || c->host_eof)
		return;
	if (c->in == NULL && (c->in = malloc(VSOCK_INBUF)) == NULL) {
		conn_rst(v, c);
		return;
	}
	k = read(c->fd, c->in, VSOCK_INBUF);
	if (k < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (k < 0) {
		conn_rst(v, c);
		return;
	}
	if (k == 0) {
		c->host_eof = true;
		c->eof_sent = true;
		ctl_conn(v, c, VIRTIO_VSOCK_OP_SHUTDOWN,
		    VIRTIO_VSOCK_SHUTDOWN_SEND);
		conn_settle(v, c);
		if (c->state == VC_OPEN)
			conn_rearm(v, c);
		return;
	}
	c->in_off = 0;
	c->in_len = k;
	conn_rearm(v, c);
}

static void
host_accept(struct vsock *v)
{
	struct vsock_conn *c;
	int fd;

	/* One per event: the poll is level-triggered. */
	if ((fd = accept4(v->lfd, NULL, NULL,
	    SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0)
		return;
	if ((c = conn_new(v, fd)) == NULL) {
		hlog("vsock: %d connections already; one from the host "
		    "is refused", VSOCK_MAX_CONNS);
		close(fd);
		return;
	}
	c->state = VC_HANDSHAKE;
	conn_rearm(v, c);
}

static void
host_event(struct vsock *v, uint64_t tag, uint32_t ev)
{
	struct vsock_conn *c = &v->conn[(uint32_t)tag % VSOCK_MAX_CONNS];

	if (c->state == VC_FREE || c->gen != (uint32_t)(tag >> 32))
		return;
	if (c->state == VC_HANDSHAKE) {
		handshake(v, c);
		return;
	}
	if (c->state != VC_OPEN)
		return;
	if ((ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && c->pend_len > 0) {
		if (pend_flush(v, c) < 0) {
			conn_rst(v, c);
			return;
		}
		conn_settle(v, c);
		if (c->state != VC_OPEN)
			return;
		conn_rearm(v, c);
	}
	if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
		host_read(v, c);
}

static void
vsock_poll(struct vu_dev *d, void *arg)
{
	struct vsock *v = arg;
	struct epoll_event ev[32];
	int n;

	n = epoll_wait(v->ep, ev, 32, 0);
	for (int i = 0; i < n; i++) {
		if (ev[i].data.u64 == TAG_LISTEN)
			host_accept(v);
		else
			host_event(v, ev[i].data.u64, ev[i].events);
	}
	vu_run_queue(d, &d->vq[Q_RX]);
}

static int
vsock_get_config(struct vu_dev *d, uint32_t off, void *buf, uint32_t len)
{
	struct vsock *v = d->priv;
	struct virtio_vsock_config cfg = { .guest_cid = htole64(v->cid) };

	if (off > sizeof(cfg) || len > sizeof(cfg) - off)
		return -EINVAL;
	memcpy(buf, (uint8_t *)&cfg + off, len);
	return 0;
}

/* The driver is gone or starts over: so are its connections. */
static void
vsock_reset(struct vu_dev *d)
{
	struct vsock *v = d->priv;

	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		conn_close(v, &v->conn[i]);
	v->ctl_head = v->ctl_len = 0;
	v->rr = 0;
	v->tx_stalled = false;
}

/*
 * A restored VM's backend holds none of the saved connections: the guest
 * learns it from the transport reset it sends first (event_run), as after
 * a restart, and its driver then reads the CID again.  So a clone may be
 * given a CID of its own.
 */
static bool
vsock_state_config_ok(struct vu_dev *d, const uint8_t *saved,
    const uint8_t *now, uint32_t len)
{
	uint64_t was;

	if (len != sizeof(struct virtio_vsock_config))
		return false;
	memcpy(&was, saved, sizeof(was));
	if (memcmp(saved, now, len) != 0)
		hlog("the guest's CID is %llu now, %llu when saved; the "
		    "driver reads it again at the transport reset",
		    (unsigned long long)((struct vsock *)d->priv)->cid,
		    (unsigned long long)le64toh(was));
	return true;
}

const struct vu_backend vsock_backend = {
	.name = "virtio-vsock",
	.features = 0,
	.nqueues = 3,
	.max_queue_size = VSOCK_QUEUE_SIZE,
	.kick = vsock_kick,
	.get_config = vsock_get_config,
	.state_config_ok = vsock_state_config_ok,
	.reset = vsock_reset,
};

int
vsock_init(struct vsock *v, struct vu_dev *d, uint64_t cid, int lfd,
    const char *name)
{
	struct epoll_event e = { .events = EPOLLIN, .data.u64 = TAG_LISTEN };
	int rc;

	v->cid = cid;
	v->lfd = lfd;
	v->name = name;
	v->next_port = VSOCK_FIRST_PORT - 1;
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		v->conn[i].fd = -1;
	if ((v->ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return -errno;
	if (lfd >= 0 && (fcntl(lfd, F_SETFL, O_NONBLOCK) < 0 ||
	    epoll_ctl(v->ep, EPOLL_CTL_ADD, lfd, &e) < 0))
		return -errno;
	if ((rc = vu_watch(d, v->ep, vsock_poll, v)) < 0)
		return rc;
	return 0;
}
