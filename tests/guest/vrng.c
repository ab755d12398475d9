/* virtio-rng: two 4 KiB reads that must look random and differ. */
#include "virtio.h"

#define RNG_LEN	4096

static struct vdev rng;
static uint8_t rng_buf[2][RNG_LEN] __attribute__((aligned(4096)));

/* Fills buf, one request per round, each completion by interrupt. */
static int
rng_read(uint8_t *buf, char *why, size_t len)
{
	struct vq *q = &rng.vq[0];
	struct vbuf b;
	uint32_t got, n = 0;
	int rounds = 0, id;

	while (n < RNG_LEN) {
		if (++rounds > 256) {
			snprintf_(why, len, "virtio-rng: only %u of %u bytes "
			    "after 256 requests", n, RNG_LEN);
			return -1;
		}
		b.addr = buf + n;
		b.len = RNG_LEN - n;
		b.write = 1;
		if (vq_add(q, &b, 1) < 0) {
			snprintf_(why, len, "virtio-rng: queue full");
			return -1;
		}
		vq_kick(q);
		id = vq_wait(q, 1, WAIT_US, &got);
		if (id == VQ_EMPTY) {
			snprintf_(why, len, "virtio-rng: no completion within "
			    "%u s (status 0x%x)", WAIT_US / 1000000,
			    vdev_status(&rng));
			return -1;
		}
		if (id == VQ_NOIRQ) {
			snprintf_(why, len, "virtio-rng: request completed but "
			    "no MSI-X interrupt on vector 0x%x", q->vector);
			return -1;
		}
		if (id < 0) {
			snprintf_(why, len, "virtio-rng: used ring has an id we "
			    "never submitted");
			return -1;
		}
		if (got > RNG_LEN - n) {
			snprintf_(why, len, "virtio-rng: device claims %u bytes "
			    "written into a %u-byte buffer", got, RNG_LEN - n);
			return -1;
		}
		n += got;
	}
	return 0;
}

int
test_rng(char *why, size_t len)
{
	int rc, i;

	rc = vdev_open(&rng, VIRTIO_ID_RNG, "rng", 0, 1, why, len);
	if (rc != PASS)
		return rc;
	memset(rng_buf, 0, sizeof(rng_buf));
	if (rng_read(rng_buf[0], why, len) < 0 ||
	    rng_read(rng_buf[1], why, len) < 0)
		return FAIL;
	for (i = 1; i < RNG_LEN && rng_buf[0][i] == rng_buf[0][0]; i++)
		;
	if (i == RNG_LEN) {
		snprintf_(why, len, "virtio-rng: all %u bytes are 0x%02x",
		    RNG_LEN, rng_buf[0][0]);
		return FAIL;
	}
	if (!memcmp(rng_buf[0], rng_buf[1], RNG_LEN)) {
		snprintf_(why, len, "virtio-rng: two reads returned the same "
		    "%u bytes", RNG_LEN);
		return FAIL;
	}
	printf_("rng: 2 x %u bytes, %u interrupts\n", RNG_LEN,
	    irq_count[rng.vq[0].vector]);
	vdev_reset(&rng);
	return PASS;
}

/*
 * For the count test: one 4 KiB read per call (the device opened on the
 * first), which must differ from the one before.
 */
int
rng_count_step(char *why, size_t len)
{
	static int opened, n;
	int rc;

	if (!opened) {
		rc = vdev_open(&rng, VIRTIO_ID_RNG, "count-rng", 0, 1, why, len);
		if (rc != PASS) {
			if (rc == SKIP)
				snprintf_(why, len, "count-rng: no virtio-rng "
				    "device");
			return -1;
		}
		opened = 1;
		memset(rng_buf, 0, sizeof(rng_buf));
	}
	if (rng_read(rng_buf[n % 2], why, len) < 0)
		return -1;
	if (n > 0 && !memcmp(rng_buf[0], rng_buf[1], RNG_LEN)) {
		snprintf_(why, len, "virtio-rng: read %d returned the same "
		    "bytes as the one before", n + 1);
		return -1;
	}
	n++;
	return 0;
}
