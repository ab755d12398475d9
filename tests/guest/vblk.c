/*
 * virtio-blk: write a recognisable pattern, flush, read it back, discard
 * another range, and check that a read past the end fails.  A read-only
 * device must refuse the write instead.
 */
#include <linux/virtio_blk.h>

#include "virtio.h"

#define NSECT		8
#define SECT		512

static struct vdev blk;
static struct {
	struct virtio_blk_outhdr hdr;
	struct virtio_blk_discard_write_zeroes dwz;
	uint8_t status;
} req __attribute__((aligned(64)));
static uint8_t data[NSECT * SECT] __attribute__((aligned(4096)));
static uint8_t pattern[NSECT * SECT];

static const char *
blk_op(uint32_t type)
{
	switch (type) {
	case VIRTIO_BLK_T_IN:
		return "read";
	case VIRTIO_BLK_T_OUT:
		return "write";
	case VIRTIO_BLK_T_FLUSH:
		return "flush";
	case VIRTIO_BLK_T_DISCARD:
		return "discard";
	default:
		return "request";
	}
}

/*
 * One request: header, optional payload, status.  Returns the status the
 * device wrote (VIRTIO_BLK_S_*), or -1 with why set.
 */
static int
blk_req(uint32_t type, uint64_t sector, void *buf, uint32_t n, char *why,
    size_t len)
{
	struct vq *q = &blk.vq[0];
	struct vbuf b[3];
	unsigned int nb = 0;
	int id;

	req.hdr.type = type;
	req.hdr.ioprio = 0;
	req.hdr.sector = sector;
	req.status = 0xFF;
	b[nb++] = (struct vbuf){ &req.hdr, sizeof(req.hdr), 0 };
	if (n)
		b[nb++] = (struct vbuf){ buf, n, type == VIRTIO_BLK_T_IN };
	b[nb++] = (struct vbuf){ &req.status, 1, 1 };
	if (vq_add(q, b, nb) < 0) {
		snprintf_(why, len, "virtio-blk: queue full");
		return -1;
	}
	vq_kick(q);
	id = vq_wait(q, 1, WAIT_US, NULL);
	if (id == VQ_EMPTY) {
		snprintf_(why, len, "virtio-blk: %s at sector %lu: no "
		    "completion within %u s (device status 0x%x)", blk_op(type),
		    (unsigned long)sector, WAIT_US / 1000000, vdev_status(&blk));
		return -1;
	}
	if (id == VQ_NOIRQ) {
		snprintf_(why, len, "virtio-blk: %s completed but no MSI-X "
		    "interrupt on vector 0x%x", blk_op(type), q->vector);
		return -1;
	}
	if (id < 0) {
		snprintf_(why, len, "virtio-blk: used ring has an id we never "
		    "submitted");
		return -1;
	}
	if (req.status == 0xFF) {
		snprintf_(why, len, "virtio-blk: %s at sector %lu completed "
		    "without writing a status", blk_op(type),
		    (unsigned long)sector);
		return -1;
	}
	return req.status;
}

static int
expect(int st, int want, uint32_t type, uint64_t sector, char *why,
    size_t len)
{
	if (st < 0)
		return -1;
	if (st != want) {
		snprintf_(why, len, "virtio-blk: %s at sector %lu: status %d, "
		    "want %d", blk_op(type), (unsigned long)sector, st, want);
		return -1;
	}
	return 0;
}

/* "HYVE-BLK-TEST sector N", then filler that differs per sector. */
static void
make_pattern(uint64_t first)
{
	unsigned int s, i, n;
	uint8_t *p;

	for (s = 0; s < NSECT; s++) {
		p = pattern + s * SECT;
		snprintf_((char *)p, SECT, "HYVE-BLK-TEST sector %lu",
		    (unsigned long)(first + s));
		n = (unsigned int)strlen((char *)p);
		p[n++] = '\n';
		for (i = n; i < SECT - 1; i++)
			p[i] = "0123456789abcdef"[(i + s + first) & 15];
		p[SECT - 1] = '\n';
	}
}

static int
blk_ro(uint64_t cap, char *why, size_t len)
{
	memset(data, 0xA5, sizeof(data));
	if (expect(blk_req(VIRTIO_BLK_T_OUT, 0, data, SECT, why, len),
	    VIRTIO_BLK_S_IOERR, VIRTIO_BLK_T_OUT, 0, why, len) < 0)
		return FAIL;
	if (expect(blk_req(VIRTIO_BLK_T_IN, 0, data, SECT, why, len),
	    VIRTIO_BLK_S_OK, VIRTIO_BLK_T_IN, 0, why, len) < 0)
		return FAIL;
	if (expect(blk_req(VIRTIO_BLK_T_IN, cap, data, SECT, why, len),
	    VIRTIO_BLK_S_IOERR, VIRTIO_BLK_T_IN, cap, why, len) < 0)
		return FAIL;
	puts_("blk: read-only device refused a write\n");
	return PASS;
}

/* Discards 8 sectors past the pattern, aligned as the device asks. */
static int
blk_discard(uint64_t first, uint64_t cap, char *why, size_t len)
{
	uint32_t max = vdev_cfg32(&blk, offsetof(struct virtio_blk_config,
	    max_discard_sectors));
	uint32_t align = vdev_cfg32(&blk, offsetof(struct virtio_blk_config,
	    discard_sector_alignment));
	uint64_t s = first + NSECT;

	if (align > 1)
		s = (s + align - 1) / align * align;
	if (max < NSECT || s + NSECT > cap) {
		printf_("blk: discard offered, but no room (max %u, "
		    "alignment %u)\n", max, align);
		return 0;
	}
	req.dwz.sector = s;
	req.dwz.num_sectors = NSECT;
	req.dwz.flags = 0;
	if (expect(blk_req(VIRTIO_BLK_T_DISCARD, 0, &req.dwz, sizeof(req.dwz),
	    why, len), VIRTIO_BLK_S_OK, VIRTIO_BLK_T_DISCARD, s, why, len) < 0)
		return -1;
	printf_("blk: discarded sectors %lu-%lu\n", (unsigned long)s,
	    (unsigned long)(s + NSECT - 1));
	return 0;
}

int
test_blk(char *why, size_t len)
{
	uint64_t want = 1ULL << VIRTIO_BLK_F_RO | 1ULL << VIRTIO_BLK_F_FLUSH |
	    1ULL << VIRTIO_BLK_F_DISCARD;
	uint64_t cap, first;
	int rc;

	rc = vdev_open(&blk, VIRTIO_ID_BLOCK, "blk", want, 1, why, len);
	if (rc != PASS)
		return rc;
	cap = vdev_cfg64(&blk, offsetof(struct virtio_blk_config, capacity));
	printf_("blk: 00:%02x.%d capacity %lu sectors, features 0x%lx\n",
	    blk.slot, blk.fn, (unsigned long)cap,
	    (unsigned long)blk.features);
	if (blk.features & (1ULL << VIRTIO_BLK_F_RO)) {
		rc = blk_ro(cap, why, len);
		vdev_reset(&blk);
		return rc;
	}
	if (cap < 1 + NSECT) {
		snprintf_(why, len, "virtio-blk: capacity %lu sectors is too "
		    "small (need %d)", (unsigned long)cap, 1 + NSECT);
		return FAIL;
	}
	first = cap >= 2048 + NSECT ? 2048 : 1;
	make_pattern(first);
	printf_("blk: pattern at sector %lu\n", (unsigned long)first);
	memcpy(data, pattern, sizeof(data));
	if (expect(blk_req(VIRTIO_BLK_T_OUT, first, data, sizeof(data), why,
	    len), VIRTIO_BLK_S_OK, VIRTIO_BLK_T_OUT, first, why, len) < 0)
		return FAIL;
	if ((blk.features & (1ULL << VIRTIO_BLK_F_FLUSH)) &&
	    expect(blk_req(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, why, len),
	    VIRTIO_BLK_S_OK, VIRTIO_BLK_T_FLUSH, 0, why, len) < 0)
		return FAIL;
	memset(data, 0, sizeof(data));
	if (expect(blk_req(VIRTIO_BLK_T_IN, first, data, sizeof(data), why,
	    len), VIRTIO_BLK_S_OK, VIRTIO_BLK_T_IN, first, why, len) < 0)
		return FAIL;
	if (memcmp(data, pattern, sizeof(data))) {
		snprintf_(why, len, "virtio-blk: read back of sectors %lu-%lu "
		    "differs from what was written (first bytes '%c%c%c%c')",
		    (unsigned long)first, (unsigned long)(first + NSECT - 1),
		    data[0], data[1], data[2], data[3]);
		return FAIL;
	}
	if ((blk.features & (1ULL << VIRTIO_BLK_F_DISCARD)) &&
	    blk_discard(first, cap, why, len) < 0)
		return FAIL;
	if (expect(blk_req(VIRTIO_BLK_T_IN, cap, data, SECT, why, len),
	    VIRTIO_BLK_S_IOERR, VIRTIO_BLK_T_IN, cap, why, len) < 0)
		return FAIL;
	printf_("blk: %u interrupts\n", irq_count[blk.vq[0].vector]);
	vdev_reset(&blk);
	return PASS;
}
