/*
 * virtio-net datapath: guest tx chains are written to the tap as one writev
 * vector each (the header from a checked copy, the frame straight from
 * guest memory), up to NET_TX_BATCH of them per io_uring_enter; frames read
 * from the tap are copied into the guest's rx chains, spread over several
 * chains when MRG_RXBUF is negotiated.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/ethernet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>

#include "backends/iov.h"
#include "backends/net/net.h"
#include "ipc/virtq.h"
#include "lib/log.h"

#define F(bit)		(1ull << (bit))
#define TX_BUDGET	256	/* chains per turn, so rx and control get a say */
#define RX_BUDGET	256	/* frames per turn */

#define NET_FEATURES	(F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) | \
	F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_NET_F_CSUM) | \
	F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) | \
	F(VIRTIO_NET_F_HOST_TSO6) | F(VIRTIO_NET_F_HOST_ECN) | \
	F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6) | \
	F(VIRTIO_NET_F_GUEST_ECN))

/* A batch of tx frames: the chains, their header copies, their writev
 * vectors (header copy, then the frame in guest memory). */
struct tx_batch {
	uint32_t gen;			/* tags this batch's completions */
	unsigned n;
	unsigned nw;			/* wiov entries used */
	struct vring_req req[NET_TX_BATCH];
	struct virtio_net_hdr_mrg_rxbuf hdr[NET_TX_BATCH];
	const char *why[NET_TX_BATCH];	/* dropped before the tap, or NULL */
	size_t len[NET_TX_BATCH];
	int res[NET_TX_BATCH];
	struct iovec wiov[2 * NET_QUEUE_SIZE + NET_TX_BATCH];
};

static struct iovec iov[NET_QUEUE_SIZE];
static struct tx_batch txb;
static struct iovec iov0[NET_QUEUE_SIZE];	/* first chain of an rx frame */
static struct iovec wiov[IOV_MAX];
static struct vring_req rxreq[NET_QUEUE_SIZE];

/*
 * Counts a dropped frame and logs the first drop for each reason, then
 * only the 2nd, 4th, 8th... drop: visible, but a guest cannot flood.
 */
static void
count_drop(uint64_t *counter, const char *dir, const char *why)
{
	static const char *seen[32];
	static unsigned nseen;
	uint64_t c = ++*counter;
	bool first = nseen < sizeof(seen) / sizeof(seen[0]);

	for (unsigned i = 0; i < nseen && first; i++)
		if (seen[i] == why)
			first = false;
	if (first)
		seen[nseen++] = why;
	if (first || (c & (c - 1)) == 0)
		hlog("%s: dropped a frame: %s (%llu dropped so far)", dir, why,
		    (unsigned long long)c);
}

static int
tap_offload(struct net *n, unsigned off)
{
	if (ioctl(n->tapfd, TUNSETOFFLOAD, off) < 0) {
		hlog("tap %s: TUNSETOFFLOAD 0x%x: %s", n->ifname, off,
		    strerror(errno));
		return -errno;
	}
	return 0;
}

static void
tap_watch(struct net *n, bool on)
{
	struct epoll_event ev = { .events = on ? EPOLLIN : 0 };

	if (n->watching == on)
		return;
	if (epoll_ctl(n->tapep, EPOLL_CTL_MOD, n->tapfd, &ev) == 0)
		n->watching = on;
}

/*
 * Sets the tap up for what the guest negotiated: header size, and which
 * offloads the tap may hand us (only what the guest can take).  The runtime
 * has no hook for SET_FEATURES, so this runs before a queue is processed.
 */
static void
apply_features(struct vu_dev *d)
{
	struct net *n = d->priv;
	uint64_t f = d->features;
	unsigned off = 0;
	int hdrlen;

	if (f == n->applied)
		return;
	n->applied = f;
	hdrlen = f & (F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_MRG_RXBUF)) ?
	    (int)sizeof(struct virtio_net_hdr_mrg_rxbuf) :
	    (int)sizeof(struct virtio_net_hdr);
	if ((unsigned)hdrlen != n->hdrlen) {
		if (ioctl(n->tapfd, TUNSETVNETHDRSZ, &hdrlen) < 0)
			hlog("tap %s: TUNSETVNETHDRSZ %d: %s", n->ifname,
			    hdrlen, strerror(errno));
		n->hdrlen = hdrlen;
		n->rxlen = 0;	/* read with the old header size */
	}
	if (f & F(VIRTIO_NET_F_GUEST_CSUM)) {
		off |= TUN_F_CSUM;
		if (f & F(VIRTIO_NET_F_GUEST_TSO4))
			off |= TUN_F_TSO4;
		if (f & F(VIRTIO_NET_F_GUEST_TSO6))
			off |= TUN_F_TSO6;
		if ((f & F(VIRTIO_NET_F_GUEST_ECN)) &&
		    (off & (TUN_F_TSO4 | TUN_F_TSO6)))
			off |= TUN_F_TSO_ECN;
	}
	tap_offload(n, off);
}

/* Why the guest's tx header cannot go to the tap, or NULL if it can. */
static const char *
tx_check(const struct virtio_net_hdr *h, uint32_t len, uint64_t f)
{
	unsigned gso = h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
	uint32_t cstart = le16toh(h->csum_start), coff = le16toh(h->csum_offset);

	if (len < ETH_HLEN)
		return "shorter than an Ethernet header";
	if (h->flags & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID))
		return "unknown vnet header flags";
	if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (!(f & F(VIRTIO_NET_F_CSUM)))
			return "NEEDS_CSUM without the CSUM feature";
		if (cstart + coff + 2 > len)
			return "csum_start + csum_offset beyond the frame";
	}
	switch (gso) {
	case VIRTIO_NET_HDR_GSO_NONE:
		if (h->gso_type & VIRTIO_NET_HDR_GSO_ECN)
			return "GSO ECN bit on a non-GSO frame";
		return NULL;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		if (!(f & F(VIRTIO_NET_F_HOST_TSO4)))
			return "TSO4 frame without the HOST_TSO4 feature";
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		if (!(f & F(VIRTIO_NET_F_HOST_TSO6)))
			return "TSO6 frame without the HOST_TSO6 feature";
		break;
	default:
		return "unknown gso_type";
	}
	if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) && !(f & F(VIRTIO_NET_F_HOST_ECN)))
		return "GSO ECN without the HOST_ECN feature";
	if (!(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return "GSO frame without NEEDS_CSUM";
	if (h->gso_size == 0)
		return "GSO frame with gso_size 0";
	if (le16toh(h->hdr_len) > len)
		return "hdr_len beyond the frame";
	return NULL;
}

/*
 * Checks a tx chain and builds its writev vector at w (room for nout + 1
 * entries): a private copy of the header, which the guest cannot change,
 * then the frame straight from guest memory.  Returns why the frame must
 * be dropped, or NULL with *nw and *len set.
 */
static const char *
tx_prep(struct net *n, const struct vring_req *req, uint64_t f,
    struct virtio_net_hdr_mrg_rxbuf *h, struct iovec *w, unsigned *nw,
    size_t *len)
{
	const char *why;
	size_t skip = n->hdrlen;
	unsigned k = 1;

	if (req->out_len < n->hdrlen)
		return "shorter than the vnet header";
	if (req->out_len - n->hdrlen > NET_MAX_FRAME)
		return "longer than 64 KiB";
	memset(h, 0, sizeof(*h));
	iov_to_buf(req->iov, req->nout, 0, h, n->hdrlen);
	if ((why = tx_check(&h->hdr, req->out_len - n->hdrlen, f)) != NULL)
		return why;
	w[0] = (struct iovec){ h, n->hdrlen };
	for (unsigned i = 0; i < req->nout; i++) {
		size_t l = req->iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		if (k == IOV_MAX)
			return "in more buffers than writev takes";
		w[k].iov_base = (uint8_t *)req->iov[i].iov_base + skip;
		w[k].iov_len = l - skip;
		skip = 0;
		k++;
	}
	*nw = k;
	*len = req->out_len;
	return NULL;
}

/* Why a write of len bytes that returned res dropped the frame, or NULL. */
static const char *
tx_result(ssize_t res, size_t len)
{
	if (res == -EAGAIN)
		return "tap queue full";
	if (res < 0)
		return strerror((int)-res);
	if ((size_t)res != len)
		return "short write to the tap";
	return NULL;
}

/* Sends one tx chain to the tap; returns why it was dropped, or NULL. */
static const char *
tx_one(struct net *n, const struct vring_req *req, uint64_t f)
{
	struct virtio_net_hdr_mrg_rxbuf h;
	const char *why;
	unsigned k;
	size_t total;
	ssize_t w;

	if ((why = tx_prep(n, req, f, &h, wiov, &k, &total)) != NULL)
		return why;
	do
		w = writev(n->tapfd, wiov, k);
	while (w < 0 && errno == EINTR);
	return tx_result(w < 0 ? -errno : w, total);
}

/*
 * Writes the batch's frames with one io_uring_enter, in order (the tap
 * takes each at once, so they complete inline as submitted), and returns
 * the chains to the guest.
 */
static void
tx_submit(struct net *n, struct vring_queue *vq)
{
	struct tx_batch *b = &txb;
	struct io_uring_cqe *cqe;
	unsigned want = 0, got = 0;
	const char *why;
	int rc;

	for (unsigned i = 0; i < b->n; i++) {
		b->res[i] = -ECANCELED;
		if (b->why[i] == NULL)
			want++;
	}
	if (want > 0) {
		do
			rc = io_uring_submit_and_wait(&n->ring, want);
		while (rc == -EINTR);
		if (rc < 0)
			hlog("tap %s: io_uring submit: %s", n->ifname,
			    strerror(-rc));
		/* A completion of an earlier batch (after a failed submit)
		 * has another tag and is ignored. */
		while (got < want && io_uring_peek_cqe(&n->ring, &cqe) == 0) {
			uint64_t tag = io_uring_cqe_get_data64(cqe);
			uint32_t i = (uint32_t)tag;

			if (tag >> 32 == b->gen && i < b->n) {
				b->res[i] = cqe->res;
				got++;
			}
			io_uring_cqe_seen(&n->ring, cqe);
		}
	}
	for (unsigned i = 0; i < b->n; i++) {
		why = b->why[i] != NULL ? b->why[i] :
		    tx_result(b->res[i], b->len[i]);
		if (why != NULL)
			count_drop(&n->st.tx_dropped, "tx", why);
		else
			n->st.tx_frames++;
		vring_push(vq, &b->req[i], 0);
	}
	b->n = 0;
	b->nw = 0;
	b->gen++;
}

/* Adds a popped chain to the batch; submits when it is full. */
static void
tx_add(struct net *n, struct vring_queue *vq, const struct vring_req *req,
    uint64_t f)
{
	struct tx_batch *b = &txb;
	unsigned i = b->n, k = 0;
	struct io_uring_sqe *sqe;

	b->req[i] = *req;
	b->why[i] = tx_prep(n, req, f, &b->hdr[i], b->wiov + b->nw, &k,
	    &b->len[i]);
	if (b->why[i] == NULL) {
		sqe = io_uring_get_sqe(&n->ring);
		if (sqe == NULL) {
			b->why[i] = "io_uring full";
		} else {
			io_uring_prep_writev(sqe, n->tapfd, b->wiov + b->nw, k, 0);
			io_uring_sqe_set_data64(sqe, (uint64_t)b->gen << 32 | i);
			b->nw += k;
		}
	}
	b->n++;
	/* Room for the next chain's vector, at its longest, or submit. */
	if (b->n == n->tx_batch ||
	    sizeof(b->wiov) / sizeof(b->wiov[0]) - b->nw < NET_QUEUE_SIZE + 1)
		tx_submit(n, vq);
}

static void
tx_run(struct vu_dev *d, struct vring_queue *vq)
{
	struct net *n = d->priv;
	struct vring_req req;
	const char *why;
	unsigned done = 0;
	bool batch = n->ring_ok && n->tx_batch > 1;
	int rc;

	do {
		while ((rc = vring_pop(vq, &d->mem, &req, iov, NET_QUEUE_SIZE)) > 0) {
			if (batch) {
				tx_add(n, vq, &req, d->features);
			} else {
				if ((why = tx_one(n, &req, d->features)) != NULL)
					count_drop(&n->st.tx_dropped, "tx", why);
				else
					n->st.tx_frames++;
				vring_push(vq, &req, 0);
			}
			if (++done == TX_BUDGET) {
				/* Come back after the other events. */
				if (txb.n > 0)
					tx_submit(n, vq);
				vring_flush(vq);
				if (vq->kickfd >= 0)
					eventfd_write(vq->kickfd, 1);
				return;
			}
		}
		if (txb.n > 0)
			tx_submit(n, vq);
		vring_flush(vq);
		if (rc < 0)
			return;
	} while (vring_enable_notify(vq));
}

/* Reads one frame from the tap; 1 if one is pending, 0 if none, -errno. */
static int
rx_read(struct net *n)
{
	ssize_t r;

	for (;;) {
		r = read(n->tapfd, n->rxbuf, NET_RXBUF);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno == EAGAIN ? 0 : -errno;
		if ((size_t)r >= n->hdrlen + ETH_HLEN && r < NET_RXBUF)
			break;
		count_drop(&n->st.rx_dropped, "rx", "bad length from the tap");
	}
	n->rxlen = r;
	return 1;
}

/*
 * Makes the tap's header fit what the guest negotiated: the tap only sends
 * offloads we enabled, but frames queued before a change may still carry
 * them.  Returns false to drop the frame.
 */
static bool
rx_fix_header(struct net *n, uint64_t f)
{
	struct virtio_net_hdr *h = (struct virtio_net_hdr *)n->rxbuf;
	unsigned gso = h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;

	if (!(f & F(VIRTIO_NET_F_GUEST_CSUM))) {
		if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
			return false;
		h->flags &= ~VIRTIO_NET_HDR_F_DATA_VALID;
	}
	if (gso == VIRTIO_NET_HDR_GSO_TCPV4 && !(f & F(VIRTIO_NET_F_GUEST_TSO4)))
		return false;
	if (gso == VIRTIO_NET_HDR_GSO_TCPV6 && !(f & F(VIRTIO_NET_F_GUEST_TSO6)))
		return false;
	if (gso != VIRTIO_NET_HDR_GSO_NONE && gso != VIRTIO_NET_HDR_GSO_TCPV4 &&
	    gso != VIRTIO_NET_HDR_GSO_TCPV6)
		return false;
	if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) && !(f & F(VIRTIO_NET_F_GUEST_ECN)))
		return false;
	return true;
}

/*
 * Gives back chains taken but not used.  Nothing was published for them,
 * so the guest sees no difference; they are checked again when taken next.
 */
static void
rx_unpop(struct vring_queue *vq, unsigned k)
{
	vq->last_avail -= k;
}

/*
 * Copies the pending frame into as many chains as it needs (one without
 * MRG_RXBUF).  Returns 1 when the frame is done with (delivered or
 * dropped), 0 when the guest has too few buffers (the chains taken are put
 * back and the frame stays pending), -1 when the queue failed.
 */
static int
rx_deliver(struct vu_dev *d, struct vring_queue *vq)
{
	struct net *n = d->priv;
	struct virtio_net_hdr_mrg_rxbuf *h = (void *)n->rxbuf;
	bool mrg = d->features & F(VIRTIO_NET_F_MRG_RXBUF);
	size_t off = 0;
	unsigned k = 0, nin0 = 0;
	int rc;

	while (off < n->rxlen) {
		struct iovec *v = k == 0 ? iov0 : iov;
		struct vring_req *req = &rxreq[k];
		size_t len;

		if (k == vq->num || (k > 0 && !mrg)) {
			rx_unpop(vq, k);
			count_drop(&n->st.rx_dropped, "rx",
			    "frame larger than the guest's receive buffers");
			return 1;
		}
		rc = vring_pop(vq, &d->mem, req, v, NET_QUEUE_SIZE);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			n->rxseen = vq->last_avail;
			rx_unpop(vq, k);
			return 0;
		}
		if (req->nout > 0) {
			vring_fail(vq, -EINVAL, "rx chain has device-readable "
			    "buffers");
			return -1;
		}
		if (k == 0 && req->in_len < n->hdrlen) {
			vring_fail(vq, -EINVAL, "rx chain too small for the "
			    "vnet header");
			return -1;
		}
		if (k == 0)
			nin0 = req->nin;
		len = iov_from_buf(v, req->nin, n->rxbuf + off, n->rxlen - off);
		req->in_len = len;
		off += len;
		k++;
	}
	/* Only now is the number of buffers known: rewrite the header. */
	if (n->hdrlen == sizeof(*h)) {
		h->num_buffers = htole16(k);
		iov_from_buf(iov0, nin0, h, n->hdrlen);
	}
	for (unsigned i = 0; i < k; i++)
		vring_push(vq, &rxreq[i], rxreq[i].in_len);
	n->st.rx_frames++;
	return 1;
}

/*
 * No buffers for the pending frame: ask for a kick once the guest posts
 * past what we saw, and stop watching the tap meanwhile, so the frames
 * wait in the tap's queue.  Returns true if buffers arrived already.
 */
static bool
rx_wait(struct net *n, struct vring_queue *vq)
{
	if (vq->event_idx)
		__atomic_store_n(virtq_avail_event(vq->used, vq->num), n->rxseen,
		    __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE) != n->rxseen)
		return true;
	tap_watch(n, false);
	return false;
}

static void
rx_run(struct vu_dev *d)
{
	struct net *n = d->priv;
	struct vring_queue *vq = &d->vq[NET_RXQ];
	unsigned done = 0;
	int rc;

	if (!vring_ready(vq)) {
		tap_watch(n, false);
		return;
	}
	apply_features(d);
	tap_watch(n, true);
	while (done < RX_BUDGET) {
		if (n->rxlen == 0) {
			rc = rx_read(n);
			if (rc < 0) {
				uint64_t c = ++n->st.rx_errors;

				if ((c & (c - 1)) == 0)
					hlog("tap %s: read: %s; receiving stops "
					    "until the guest posts buffers again "
					    "(%llu errors so far)", n->ifname,
					    strerror(-rc), (unsigned long long)c);
				tap_watch(n, false);
				break;
			}
			if (rc == 0)
				break;
			if (!rx_fix_header(n, d->features)) {
				count_drop(&n->st.rx_dropped, "rx", "offload "
				    "the guest did not negotiate");
				n->rxlen = 0;
				continue;
			}
		}
		rc = rx_deliver(d, vq);
		if (rc < 0)
			break;
		if (rc == 0) {
			if (rx_wait(n, vq))
				continue;
			break;
		}
		n->rxlen = 0;
		done++;
	}
	vring_flush(vq);
}

static void
net_tap_ready(struct vu_dev *d, void *arg)
{
	(void)arg;
	rx_run(d);
}

static void
net_kick(struct vu_dev *d, struct vring_queue *vq)
{
	apply_features(d);
	if (vq->index == NET_TXQ)
		tx_run(d, vq);
	else if (vq->index == NET_RXQ)
		rx_run(d);
}

/* A clone restored from a snapshot may have a MAC of its own. */
static bool
net_state_config_ok(struct vu_dev *d, const uint8_t *saved,
    const uint8_t *now, uint32_t len)
{
	size_t mac = offsetof(struct virtio_net_config, mac) +
	    sizeof(((struct virtio_net_config *)0)->mac);

	(void)d;
	return len >= mac && memcmp(saved + mac, now + mac, len - mac) == 0;
}

static int
net_get_config(struct vu_dev *d, uint32_t off, void *buf, uint32_t len)
{
	struct net *n = d->priv;
	struct virtio_net_config c;

	if ((uint64_t)off + len > sizeof(c))
		return -EINVAL;
	memset(&c, 0, sizeof(c));
	memcpy(c.mac, n->mac, sizeof(c.mac));
	c.status = htole16(VIRTIO_NET_S_LINK_UP);
	c.max_virtqueue_pairs = htole16(1);
	c.mtu = htole16(n->mtu);
	c.speed = htole32(UINT32_MAX);	/* unknown */
	c.duplex = 0xff;
	memcpy(buf, (uint8_t *)&c + off, len);
	return 0;
}

static void
net_reset(struct vu_dev *d)
{
	struct net *n = d->priv;

	if (n->st.tx_frames + n->st.tx_dropped + n->st.rx_frames +
	    n->st.rx_dropped > 0)
		hlog("tap %s: device reset; tx %llu frames (%llu dropped), "
		    "rx %llu frames (%llu dropped)", n->ifname,
		    (unsigned long long)n->st.tx_frames,
		    (unsigned long long)n->st.tx_dropped,
		    (unsigned long long)n->st.rx_frames,
		    (unsigned long long)n->st.rx_dropped);
	memset(&n->st, 0, sizeof(n->st));
	tap_watch(n, false);
	n->rxlen = 0;
	/* Until the next guest negotiates, the tap sends plain frames. */
	tap_offload(n, 0);
	n->applied = ~0ull;
}

void
net_backend(const struct net *n, struct vu_backend *be)
{
	memset(be, 0, sizeof(*be));
	be->name = "virtio-net";
	be->features = NET_FEATURES | (n->mtu ? F(VIRTIO_NET_F_MTU) : 0);
	be->nqueues = 2;
	be->max_queue_size = NET_QUEUE_SIZE;
	be->kick = net_kick;
	be->get_config = net_get_config;
	be->state_config_ok = net_state_config_ok;
	be->reset = net_reset;
}

int
net_init(struct net *n, int tapfd)
{
	struct epoll_event ev = { .events = 0 };
	struct ifreq ifr;
	int hdrlen = sizeof(struct virtio_net_hdr_mrg_rxbuf), fl;

	n->tapfd = tapfd;
	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(tapfd, TUNGETIFF, &ifr) < 0) {
		hlog("tap fd %d: not a tap (%s); pass a descriptor of "
		    "/dev/net/tun after TUNSETIFF", tapfd, strerror(errno));
		return -EINVAL;
	}
	snprintf(n->ifname, sizeof(n->ifname), "%s", ifr.ifr_name);
	if ((ifr.ifr_flags & (IFF_TUN | IFF_TAP)) != IFF_TAP ||
	    !(ifr.ifr_flags & IFF_NO_PI) || !(ifr.ifr_flags & IFF_VNET_HDR)) {
		hlog("tap %s: opened without IFF_TAP|IFF_NO_PI|IFF_VNET_HDR "
		    "(flags 0x%x); open it with all three", n->ifname,
		    ifr.ifr_flags);
		return -EINVAL;
	}
	if ((fl = fcntl(tapfd, F_GETFL)) < 0 ||
	    fcntl(tapfd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    ioctl(tapfd, TUNSETVNETHDRSZ, &hdrlen) < 0 ||
	    tap_offload(n, 0) < 0) {
		hlog("tap %s: cannot set it up: %s", n->ifname, strerror(errno));
		return -errno;
	}
	n->hdrlen = hdrlen;
	n->applied = ~0ull;
	n->rxbuf = malloc(NET_RXBUF);
	n->tapep = epoll_create1(EPOLL_CLOEXEC);
	if (n->rxbuf == NULL || n->tapep < 0 ||
	    epoll_ctl(n->tapep, EPOLL_CTL_ADD, tapfd, &ev) < 0) {
		hlog("tap %s: cannot set up receiving: %s", n->ifname,
		    strerror(errno));
		return -ENOMEM;
	}
	return 0;
}

int
net_uring(struct net *n)
{
	struct io_uring_params p = { 0 };
	struct io_uring_restriction r = { .opcode = IORING_RESTRICTION_SQE_OP,
	    .sqe_op = IORING_OP_WRITEV };
	int rc;

	if (n->tx_batch <= 1)
		return 0;
	/* Disabled until restricted to the one operation tx submits; no
	 * register calls after that. */
	p.flags = IORING_SETUP_R_DISABLED;
	rc = io_uring_queue_init_params(NET_TX_BATCH, &n->ring, &p);
	if (rc < 0) {
		hlog("tap %s: no io_uring (%s); tx writes one frame per system "
		    "call", n->ifname, strerror(-rc));
		n->tx_batch = 1;
		return 0;
	}
	n->ring_ok = true;
	/* Raw calls: Debian's liburing 2.3 declares but does not export the
	 * wrappers. */
	if (syscall(SYS_io_uring_register, n->ring.ring_fd,
	    IORING_REGISTER_RESTRICTIONS, &r, 1) < 0 ||
	    syscall(SYS_io_uring_register, n->ring.ring_fd,
	    IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0) {
		rc = -errno;
		hlog("tap %s: cannot restrict the io_uring to writes: %s",
		    n->ifname, strerror(-rc));
		return rc;
	}
	return 0;
}

int
net_attach(struct net *n, struct vu_dev *d)
{
	return vu_watch(d, n->tapep, net_tap_ready, n);
}
