/*
 * virtio-net with the host harness: send 8 broadcast frames of ethertype
 * 0x88B5 ("HYVE-NET-TEST i"), then wait up to 10 s for at least 4 frames
 * from the host of the same type whose payload starts "HYVE-NET-HOST".
 */
#include <linux/virtio_net.h>

#include "virtio.h"

#define RXQ		0
#define TXQ		1
#define NRX		16
#define BUFSZ		2048
#define NTX		8
#define ETYPE		0x88B5
#define HDRLEN		sizeof(struct virtio_net_hdr_mrg_rxbuf)
#define HOST_WAIT_US	10000000
#define HOST_WANT	4

static struct vdev net;
static uint8_t rxbuf[NRX][BUFSZ] __attribute__((aligned(4096)));
static uint8_t txbuf[NTX][128] __attribute__((aligned(4096)));
static uint8_t mac[6];

static int rx_of[VQ_MAX];	/* the rx buffer each head id holds */

static int
post_rx(int i)
{
	struct vbuf b = { rxbuf[i], BUFSZ, 1 };
	int id;

	if ((id = vq_add(&net.vq[RXQ], &b, 1)) < 0)
		return -1;
	rx_of[id] = i;
	return 0;
}

static int
fill_rx(void)
{
	int i;

	for (i = 0; i < NRX; i++)
		if (post_rx(i) < 0)
			return -1;
	vq_kick(&net.vq[RXQ]);
	return 0;
}

static int
send_frames(char *why, size_t len)
{
	struct vq *q = &net.vq[TXQ];
	struct vbuf b;
	uint8_t *f;
	int i, id;
	size_t n;

	for (i = 0; i < NTX; i++) {
		memset(txbuf[i], 0, sizeof(txbuf[i]));
		f = txbuf[i] + HDRLEN;
		memset(f, 0xFF, 6);
		memcpy(f + 6, mac, 6);
		f[12] = ETYPE >> 8;
		f[13] = ETYPE & 0xFF;
		snprintf_((char *)f + 14, 64, "HYVE-NET-TEST %d", i);
		n = 14 + strlen((char *)f + 14);
		if (n < 60)
			n = 60;
		b = (struct vbuf){ txbuf[i], (uint32_t)(HDRLEN + n), 0 };
		if (vq_add(q, &b, 1) < 0) {
			snprintf_(why, len, "virtio-net: tx queue full");
			return -1;
		}
		vq_kick(q);
		id = vq_wait(q, 1, WAIT_US, NULL);
		if (id < 0) {
			snprintf_(why, len, "virtio-net: tx frame %d %s (device "
			    "status 0x%x)", i, id == VQ_EMPTY ? "not completed "
			    "within 5 s" : id == VQ_NOIRQ ? "completed without "
			    "an MSI-X interrupt" : "came back with a bad id",
			    vdev_status(&net));
			return -1;
		}
	}
	return 0;
}

/* Takes one rx entry; 1 if it was a host test frame, 0 if not, -1 bad. */
static int
take_rx(char *why, size_t len)
{
	struct vq *q = &net.vq[RXQ];
	struct virtio_net_hdr_mrg_rxbuf *h;
	uint32_t got;
	uint8_t *f;
	int id, i, n, hit = 0;

	id = vq_used(q, &got);
	if (id < 0) {
		snprintf_(why, len, "virtio-net: rx used ring has an id we "
		    "never submitted");
		return -1;
	}
	i = rx_of[id];
	h = (struct virtio_net_hdr_mrg_rxbuf *)rxbuf[i];
	if (got > BUFSZ || got < HDRLEN) {
		snprintf_(why, len, "virtio-net: rx length %u for a %u-byte "
		    "buffer", got, BUFSZ);
		return -1;
	}
	n = h->num_buffers;
	f = rxbuf[i] + HDRLEN;
	if (got >= HDRLEN + 14 + 13 && f[12] == (ETYPE >> 8) &&
	    f[13] == (ETYPE & 0xFF) && !memcmp(f + 14, "HYVE-NET-HOST", 13))
		hit = 1;
	post_rx(i);
	/* A merged frame: the rest of it is in the next buffers. */
	while (--n > 0) {
		if (!vq_pending(q))
			break;
		if ((id = vq_used(q, NULL)) < 0)
			return -1;
		post_rx(rx_of[id]);
	}
	vq_kick(q);
	return hit;
}

int
test_net(char *why, size_t len)
{
	uint64_t want = 1ULL << VIRTIO_NET_F_MAC | 1ULL << VIRTIO_NET_F_STATUS |
	    1ULL << VIRTIO_NET_F_MRG_RXBUF, end;
	struct vq *rq = &net.vq[RXQ];
	uint32_t irq0, seen;
	int rc, i, got = 0, other = 0;

	rc = vdev_open(&net, VIRTIO_ID_NET, "net", want, 2, why, len);
	if (rc != PASS)
		return rc;
	for (i = 0; i < 6; i++)
		mac[i] = net.features & (1ULL << VIRTIO_NET_F_MAC) ?
		    mmio_read8(net.devcfg + offsetof(struct virtio_net_config,
		    mac) + i) : (uint8_t)(i ? 0x10 * i : 0x02);
	printf_("net: 00:%02x.%d mac %02x:%02x:%02x:%02x:%02x:%02x, features "
	    "0x%lx, link %s\n", net.slot, net.fn, mac[0], mac[1], mac[2],
	    mac[3], mac[4], mac[5], (unsigned long)net.features,
	    !(net.features & (1ULL << VIRTIO_NET_F_STATUS)) ? "unknown" :
	    mmio_read8(net.devcfg + offsetof(struct virtio_net_config,
	    status)) & VIRTIO_NET_S_LINK_UP ? "up" : "down");
	irq0 = irq_count[rq->vector];
	if (fill_rx() < 0) {
		snprintf_(why, len, "virtio-net: cannot post rx buffers");
		return FAIL;
	}
	if (send_frames(why, len) < 0)
		return FAIL;
	printf_("net: sent %d frames\n", NTX);
	end = now_us() + HOST_WAIT_US;
	seen = irq0;
	/* Interrupt driven: drain the rx ring only after its interrupt. */
	while (got < HOST_WANT && now_us() < end) {
		if (irq_count[rq->vector] == seen) {
			irq_sleep(10000);
			continue;
		}
		seen = irq_count[rq->vector];
		while (vq_pending(rq) && got < HOST_WANT) {
			if ((rc = take_rx(why, len)) < 0)
				return FAIL;
			if (rc)
				got++;
			else
				other++;
		}
	}
	if (got < HOST_WANT && vq_pending(rq) && irq_count[rq->vector] == seen) {
		snprintf_(why, len, "virtio-net: frames in the rx used ring but "
		    "no rx MSI-X interrupt on vector 0x%x", rq->vector);
		return FAIL;
	}
	if (got < HOST_WANT) {
		snprintf_(why, len, "virtio-net: %d HYVE-NET-HOST frames (and "
		    "%d others) within %u s, want %d", got, other,
		    HOST_WAIT_US / 1000000, HOST_WANT);
		return FAIL;
	}
	printf_("net: received %d host frames (%d others)\n", got, other);
	vdev_reset(&net);
	return PASS;
}
