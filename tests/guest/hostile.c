/*
 * A hostile driver: puts one malicious chain (hostile=CASE, default loop)
 * in the first queue of virtio-blk (else virtio-rng; else the tx queue of
 * virtio-vsock), kicks, and expects the device to set DEVICE_NEEDS_RESET
 * rather than crash or hang; then resets it and checks that a normal
 * request works again.
 */
#include <linux/virtio_blk.h>
#include <linux/virtio_vsock.h>

#include "virtio.h"

#define BAD_ADDR	0x7F0000000000ULL

static struct vdev hd;
static struct virtio_blk_outhdr hhdr __attribute__((aligned(64)));
static uint8_t hdata[512] __attribute__((aligned(512)));
static uint8_t hstatus;
static struct vring_desc itab[2][4] __attribute__((aligned(64)));
static unsigned int hq;		/* the queue under attack: vsock's tx is 1 */

static const char *const cases[] = {
	"loop", "oob", "zero-len", "huge-len", "wrong-direction", "too-long",
	"nested-indirect", "avail-jump",
};

static void
set_desc(struct vq *q, uint16_t i, uint64_t addr, uint32_t len,
    uint16_t flags, uint16_t next)
{
	q->desc[i].addr = addr;
	q->desc[i].len = len;
	q->desc[i].flags = flags;
	q->desc[i].next = next;
}

/*
 * Builds a normal request for the device in descriptors 0..n-1 and
 * returns n: blk reads sector 0 (header, data, status), rng fills hdata.
 */
static uint16_t
good_chain(struct vq *q)
{
	if (hd.type == VIRTIO_ID_VSOCK) {
		/* A credit update for no connection: the device answers RST. */
		struct virtio_vsock_hdr *h = (void *)hdata;

		memset(hdata, 0, sizeof(*h));
		h->src_cid = 3;
		h->dst_cid = 2;
		h->src_port = 1;
		h->dst_port = 1;
		h->type = VIRTIO_VSOCK_TYPE_STREAM;
		h->op = VIRTIO_VSOCK_OP_CREDIT_UPDATE;
		set_desc(q, 0, (uintptr_t)hdata, sizeof(*h), 0, 0);
		return 1;
	}
	if (hd.type != VIRTIO_ID_BLOCK) {
		set_desc(q, 0, (uintptr_t)hdata, sizeof(hdata),
		    VRING_DESC_F_WRITE, 0);
		return 1;
	}
	hhdr.type = VIRTIO_BLK_T_IN;
	hhdr.ioprio = 0;
	hhdr.sector = 0;
	hstatus = 0xFF;
	set_desc(q, 0, (uintptr_t)&hhdr, sizeof(hhdr), VRING_DESC_F_NEXT, 1);
	set_desc(q, 1, (uintptr_t)hdata, sizeof(hdata),
	    VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	set_desc(q, 2, (uintptr_t)&hstatus, 1, VRING_DESC_F_WRITE, 0);
	return 3;
}

/* The data descriptor of good_chain: the one each case spoils. */
static uint16_t
data_desc(void)
{
	return hd.type == VIRTIO_ID_BLOCK ? 1 : 0;
}

/* Writes the chain for case c straight into the ring and publishes it. */
static void
bad_chain(struct vq *q, int c)
{
	uint16_t d = data_desc(), i, jump = 1;

	good_chain(q);
	switch (c) {
	case 0:		/* loop: the first descriptor links to itself */
		q->desc[0].flags |= VRING_DESC_F_NEXT;
		q->desc[0].next = 0;
		break;
	case 1:
		q->desc[d].addr = BAD_ADDR;
		break;
	case 2:
		q->desc[d].len = 0;
		break;
	case 3:
		q->desc[d].len = 0xFFFFF000;
		break;
	case 4:		/* blk, vsock: a device-writable header; rng: a
			 * readable buffer */
		if (hd.type != VIRTIO_ID_RNG)
			q->desc[0].flags |= VRING_DESC_F_WRITE;
		else
			q->desc[0].flags &= ~VRING_DESC_F_WRITE;
		break;
	case 5:		/* every descriptor, and the last links to the first */
		for (i = 0; i < q->size; i++)
			set_desc(q, i, (uintptr_t)hdata, 16,
			    VRING_DESC_F_NEXT | (i ? VRING_DESC_F_WRITE : 0),
			    (uint16_t)((i + 1) % q->size));
		break;
	case 6:		/* an indirect table whose entry is indirect again */
		set_desc(q, 0, (uintptr_t)itab[0], sizeof(itab[0]),
		    VRING_DESC_F_INDIRECT, 0);
		memset(itab, 0, sizeof(itab));
		itab[0][0].addr = (uintptr_t)itab[1];
		itab[0][0].len = sizeof(itab[1]);
		itab[0][0].flags = VRING_DESC_F_INDIRECT;
		itab[1][0].addr = (uintptr_t)hdata;
		itab[1][0].len = sizeof(hdata);
		itab[1][0].flags = VRING_DESC_F_WRITE;
		break;
	case 7:		/* avail idx moves by more than the queue size */
		jump = (uint16_t)(q->size + 1);
		break;
	}
	q->avail->ring[q->avail_idx % q->size] = 0;
	barrier();
	q->avail_idx = (uint16_t)(q->avail_idx + jump);
	q->avail->idx = q->avail_idx;
}

/* A normal request after the reset: 0 if it completed with success. */
static int
good_request(char *why, size_t len)
{
	struct vq *q = &hd.vq[hq];
	uint16_t n = good_chain(q);
	int id;

	q->nfree = (uint16_t)(q->size - n);
	q->free_head = n;
	q->chain_len[0] = n;
	q->avail->ring[q->avail_idx % q->size] = 0;
	barrier();
	q->avail->idx = ++q->avail_idx;
	vq_kick(q);
	id = vq_wait(q, 1, WAIT_US, NULL);
	if (id != 0) {
		snprintf_(why, len, "%s: after reset, a normal request %s "
		    "(status 0x%x)", hd.name, id == VQ_EMPTY ? "did not "
		    "complete" : id == VQ_NOIRQ ? "raised no interrupt" :
		    "came back with a bad id", vdev_status(&hd));
		return -1;
	}
	if (hd.type == VIRTIO_ID_BLOCK && hstatus != VIRTIO_BLK_S_OK) {
		snprintf_(why, len, "%s: after reset, reading sector 0 gave "
		    "status %u", hd.name, hstatus);
		return -1;
	}
	return 0;
}

static int
pick_case(char *why, size_t len)
{
	char buf[32];
	unsigned int i;

	if (!cmdline_value("hostile", buf, sizeof(buf)))
		return 0;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (strlen(buf) == strlen(cases[i]) &&
		    !strncmp(buf, cases[i], strlen(buf)))
			return (int)i;
	snprintf_(why, len, "unknown hostile=%s (want loop, oob, zero-len, "
	    "huge-len, wrong-direction, too-long, nested-indirect or "
	    "avail-jump)", buf);
	return -1;
}

int
test_hostile(char *why, size_t len)
{
	uint64_t want = 1ULL << VIRTIO_RING_F_INDIRECT_DESC, t0, t1, end;
	uint16_t type = VIRTIO_ID_BLOCK;
	uint32_t cfg_irqs;
	int c, rc, slot, fn;
	uint8_t st = 0;

	if ((c = pick_case(why, len)) < 0)
		return FAIL;
	if (vdev_find(type, 0, &slot, &fn) < 0)
		type = VIRTIO_ID_RNG;
	if (type == VIRTIO_ID_RNG && vdev_find(type, 0, &slot, &fn) < 0 &&
	    vdev_find(VIRTIO_ID_VSOCK, 0, &slot, &fn) == 0)
		type = VIRTIO_ID_VSOCK;
	hq = type == VIRTIO_ID_VSOCK ? 1 : 0;
	rc = vdev_open(&hd, type, "hostile", want, hq + 1, why, len);
	if (rc != PASS) {
		if (vdev_find(VIRTIO_ID_RNG, 0, &slot, &fn) < 0 &&
		    vdev_find(VIRTIO_ID_VSOCK, 0, &slot, &fn) < 0)
			snprintf_(why, len, "no virtio-blk, virtio-rng or "
			    "virtio-vsock device found on PCI bus 0 (add one "
			    "to run hostile)");
		return rc;
	}
	if (c == 6 && !(hd.features & (1ULL << VIRTIO_RING_F_INDIRECT_DESC)))
		printf_("hostile: %s does not offer INDIRECT_DESC; sending "
		    "the indirect chain anyway\n", hd.name);
	printf_("hostile: case %s against %s at 00:%02x.%d\n", cases[c],
	    hd.name, hd.slot, hd.fn);
	cfg_irqs = irq_count[hd.cfg_vector];
	bad_chain(&hd.vq[hq], c);
	vq_kick(&hd.vq[hq]);
	t0 = now_us();
	end = t0 + WAIT_US;
	while (!((st = vdev_status(&hd)) & VIRTIO_CONFIG_S_NEEDS_RESET) &&
	    now_us() < end)
		irq_sleep(10000);
	if (!(st & VIRTIO_CONFIG_S_NEEDS_RESET)) {
		snprintf_(why, len, "%s: no DEVICE_NEEDS_RESET within %u s of "
		    "the %s chain (status 0x%x, %u config interrupts, used "
		    "idx %u)", hd.name, WAIT_US / 1000000, cases[c], st,
		    irq_count[hd.cfg_vector] - cfg_irqs,
		    *(volatile uint16_t *)&hd.vq[hq].used->idx);
		return FAIL;
	}
	t1 = now_us();
	/* The config interrupt may trail the status bit a little. */
	end = t1 + 100000;
	while (irq_count[hd.cfg_vector] == cfg_irqs && now_us() < end)
		irq_sleep(10000);
	printf_("hostile: %s set DEVICE_NEEDS_RESET after %lu ms (status "
	    "0x%x), config interrupt %s\n", hd.name,
	    (unsigned long)((t1 - t0) / 1000), st,
	    irq_count[hd.cfg_vector] != cfg_irqs ? "yes" : "no");
	if (vdev_init(&hd, want, hq + 1, why, len) < 0)
		return FAIL;
	if (good_request(why, len) < 0)
		return FAIL;
	printf_("hostile: %s works again after reset\n", hd.name);
	vdev_reset(&hd);
	return PASS;
}
