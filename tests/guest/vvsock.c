/*
 * virtio-vsock, spoken by hand on rx and tx (t_vsock.sh runs the host's
 * side, tests/integration/vsockecho.py): the CID in the config, a
 * connection to host port 7000 that echoes what it gets, one to port 7001
 * that nobody listens on (RST), and the host's connection to our port
 * 8000 ("CONNECT 8000"), which we accept and read a line from.
 */
#include <linux/virtio_vsock.h>

#include "virtio.h"

#define NRX	8
#define RXLEN	(sizeof(struct virtio_vsock_hdr) + 1024)
#define HDR	sizeof(struct virtio_vsock_hdr)

static struct vdev vs;
static uint8_t rxbuf[NRX][RXLEN] __attribute__((aligned(64)));
static int rxid[NRX];
static uint8_t txbuf[HDR + 64] __attribute__((aligned(64)));
static uint64_t cid;
/* The host's REQUEST to port 8000 may come while we wait for another. */
static struct virtio_vsock_hdr host_req;
static int have_req;

static int
same(const char *a, const char *b)
{
	return strlen(a) == strlen(b) && strncmp(a, b, strlen(a)) == 0;
}

static void
rx_post(int i)
{
	struct vbuf b = { rxbuf[i], RXLEN, 1 };

	rxid[i] = vq_add(&vs.vq[0], &b, 1);
	vq_kick(&vs.vq[0]);
}

static int
tx(uint32_t sport, uint32_t dport, uint16_t op, uint32_t flags,
    const char *data, char *why, size_t len)
{
	struct virtio_vsock_hdr *h = (void *)txbuf;
	uint32_t n = data != NULL ? (uint32_t)strlen(data) : 0;
	struct vbuf b = { txbuf, (uint32_t)HDR + n, 0 };

	memset(txbuf, 0, sizeof(txbuf));
	h->src_cid = cid;
	h->dst_cid = 2;
	h->src_port = sport;
	h->dst_port = dport;
	h->len = n;
	h->type = VIRTIO_VSOCK_TYPE_STREAM;
	h->op = op;
	h->flags = flags;
	h->buf_alloc = 65536;
	if (n > 0)
		memcpy(txbuf + HDR, data, n);
	vq_add(&vs.vq[1], &b, 1);
	vq_kick(&vs.vq[1]);
	if (vq_wait(&vs.vq[1], 1, WAIT_US, NULL) < 0) {
		snprintf_(why, len, "virtio-vsock: tx packet (op %u) not "
		    "completed", op);
		return -1;
	}
	return 0;
}

/* The next rx packet that is not a credit update, into h and data. */
static int
rx(struct virtio_vsock_hdr *h, char *data, size_t cap, char *why, size_t len)
{
	uint32_t got;
	int id, i;

	for (;;) {
		id = vq_wait(&vs.vq[0], 1, 3 * WAIT_US, &got);
		if (id < 0) {
			snprintf_(why, len, "virtio-vsock: no rx packet within "
			    "%u s (%d)", 3 * WAIT_US / 1000000, id);
			return -1;
		}
		for (i = 0; i < NRX && rxid[i] != id; i++)
			;
		if (i == NRX || got < HDR || got > RXLEN) {
			snprintf_(why, len, "virtio-vsock: rx id %d, %u bytes",
			    id, got);
			return -1;
		}
		memcpy(h, rxbuf[i], HDR);
		if (data != NULL) {
			size_t n = h->len < cap - 1 ? h->len : cap - 1;

			memcpy(data, rxbuf[i] + HDR, n);
			data[n] = '\0';
		}
		rx_post(i);
		if (h->op != VIRTIO_VSOCK_OP_CREDIT_UPDATE)
			return 0;
	}
}

static int
expect(struct virtio_vsock_hdr *h, uint16_t op, uint32_t port, char *data,
    size_t cap, char *why, size_t len)
{
	if (op == VIRTIO_VSOCK_OP_REQUEST && have_req) {
		*h = host_req;
		have_req = 0;
		return 0;
	}
	for (;;) {
		if (rx(h, data, cap, why, len) < 0)
			return -1;
		if (op == VIRTIO_VSOCK_OP_REQUEST ||
		    h->op != VIRTIO_VSOCK_OP_REQUEST || h->dst_port != 8000)
			break;
		host_req = *h;
		have_req = 1;
	}
	if (h->op != op || h->src_cid != 2 || h->dst_cid != cid ||
	    (port && h->dst_port != port)) {
		snprintf_(why, len, "virtio-vsock: got op %u from %u:%u to "
		    "%u:%u, expected op %u to port %u", h->op,
		    (unsigned)h->src_cid, h->src_port, (unsigned)h->dst_cid,
		    h->dst_port, op, port);
		return -1;
	}
	return 0;
}

int
test_vsock(char *why, size_t len)
{
	struct virtio_vsock_hdr h;
	char buf[64], data[128];
	uint32_t hp;
	int rc, i;

	rc = vdev_open(&vs, VIRTIO_ID_VSOCK, "vsock", 0, 2, why, len);
	if (rc != PASS)
		return rc;
	cid = vdev_cfg64(&vs, 0);
	if (cmdline_value("vsock.cid", buf, sizeof(buf)) &&
	    cid != strtoul_(buf, NULL, 10)) {
		snprintf_(why, len, "virtio-vsock: guest_cid %u, expected %s",
		    (unsigned)cid, buf);
		return FAIL;
	}
	for (i = 0; i < NRX; i++)
		rx_post(i);

	/* To the host: an echo on port 7000. */
	if (tx(5000, 7000, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, why, len) < 0 ||
	    expect(&h, VIRTIO_VSOCK_OP_RESPONSE, 5000, NULL, 0, why, len) < 0 ||
	    tx(5000, 7000, VIRTIO_VSOCK_OP_RW, 0, "hello vsock", why, len) < 0 ||
	    expect(&h, VIRTIO_VSOCK_OP_RW, 5000, data, sizeof(data), why,
	    len) < 0)
		return FAIL;
	if (!same(data, "hello vsock")) {
		snprintf_(why, len, "virtio-vsock: the echo is '%s'", data);
		return FAIL;
	}
	if (tx(5000, 7000, VIRTIO_VSOCK_OP_SHUTDOWN, VIRTIO_VSOCK_SHUTDOWN_RCV |
	    VIRTIO_VSOCK_SHUTDOWN_SEND, NULL, why, len) < 0 ||
	    expect(&h, VIRTIO_VSOCK_OP_RST, 5000, NULL, 0, why, len) < 0)
		return FAIL;
	printf_("vsock: echo from host port 7000, closed with RST\n");

	/* Nobody listens on port 7001. */
	if (tx(5001, 7001, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, why, len) < 0 ||
	    expect(&h, VIRTIO_VSOCK_OP_RST, 5001, NULL, 0, why, len) < 0)
		return FAIL;

	/* From the host: its CONNECT 8000. */
	if (expect(&h, VIRTIO_VSOCK_OP_REQUEST, 8000, NULL, 0, why, len) < 0)
		return FAIL;
	hp = h.src_port;
	if (tx(8000, hp, VIRTIO_VSOCK_OP_RESPONSE, 0, NULL, why, len) < 0 ||
	    expect(&h, VIRTIO_VSOCK_OP_RW, 8000, data, sizeof(data), why,
	    len) < 0)
		return FAIL;
	if (!same(data, "from the host\n")) {
		snprintf_(why, len, "virtio-vsock: the host sent '%s'", data);
		return FAIL;
	}
	if (tx(8000, hp, VIRTIO_VSOCK_OP_RW, 0, "from the guest\n", why,
	    len) < 0)
		return FAIL;
	/* The host reads our line, then closes: SHUTDOWN, we RST. */
	if (expect(&h, VIRTIO_VSOCK_OP_SHUTDOWN, 8000, NULL, 0, why, len) < 0 ||
	    tx(8000, hp, VIRTIO_VSOCK_OP_RST, 0, NULL, why, len) < 0)
		return FAIL;
	printf_("vsock: host port %u connected to our port 8000\n", hp);
	vdev_reset(&vs);
	return PASS;
}
