/*
 * Stress tests that run while the VMM restarts device backends under them
 * (stress_s=N seconds, default 10).  Completions are interrupt driven; all
 * the CPU work (patterns, checksums) runs here at CPL 3.
 *
 * blk-stress: pass k writes every sector s of the disk with a pattern
 * derived from (s, k) and a checksum, 64 KiB per request and up to 16 in
 * flight, then reads the disk back and checks every sector.
 * net-echo: frames to the host's echo peer (netecho.py); echoes must keep
 * coming.  rng-stress: 4 KiB reads from virtio-rng that must complete.
 */
#include <linux/virtio_net.h>

#include "virtio.h"

#define STRESS_S	10
#define REQ_US		10000000	/* a request may take this long */
#define SECT		512
#define CHUNK		(64 * 1024)
#define DEPTH		16
#define MAGIC		0x5352545345565948ULL	/* "HYVESTRS" */

static struct vdev sdev;
static struct bio sbio[DEPTH] __attribute__((aligned(64)));
static uint8_t sbuf[DEPTH][CHUNK] __attribute__((aligned(4096)));

static uint64_t
mix(uint64_t x)
{
	x ^= x >> 31;
	x *= 0x7fb5d329728ea185ULL;
	x ^= x >> 27;
	x *= 0x81dadef4bc2dd44dULL;
	x ^= x >> 33;
	return x;
}

static uint64_t
sum(const uint64_t *w)
{
	uint64_t c = 0xcbf29ce484222325ULL;
	int i;

	for (i = 0; i < SECT / 8 - 1; i++)
		c = (c ^ w[i]) * 0x100000001b3ULL;
	return c;
}

/* Sector s of pass k: magic, s, k, filler, checksum of the rest. */
static void
fill(uint64_t *w, uint64_t s, uint64_t k)
{
	uint64_t seed = mix(s * 0x9E3779B97F4A7C15ULL + k);
	int i;

	w[0] = MAGIC;
	w[1] = s;
	w[2] = k;
	for (i = 3; i < SECT / 8 - 1; i++)
		w[i] = mix(seed + (uint64_t)i);
	w[SECT / 8 - 1] = sum(w);
}

/* 0 if sector s holds what pass k wrote, else -1 with what is wrong. */
static int
check(const uint64_t *w, uint64_t s, uint64_t k, char *why, size_t len)
{
	static uint64_t want[SECT / 8];
	int i;

	if (w[SECT / 8 - 1] != sum(w)) {
		snprintf_(why, len, "blk-stress: pass %lu: block %lu: bad "
		    "checksum (torn or foreign data; starts 0x%lx 0x%lx 0x%lx)",
		    (unsigned long)k, (unsigned long)s, (unsigned long)w[0],
		    (unsigned long)w[1], (unsigned long)w[2]);
		return -1;
	}
	if (w[0] != MAGIC || w[1] != s || w[2] != k) {
		snprintf_(why, len, "blk-stress: pass %lu: block %lu holds "
		    "block %lu of pass %lu (%s)", (unsigned long)k,
		    (unsigned long)s, (unsigned long)w[1], (unsigned long)w[2],
		    w[1] != s ? "misdirected write" : "lost write");
		return -1;
	}
	fill(want, s, k);
	for (i = 0; i < SECT / 8; i++)
		if (w[i] != want[i]) {
			snprintf_(why, len, "blk-stress: pass %lu: block %lu: "
			    "word %d is 0x%lx, want 0x%lx", (unsigned long)k,
			    (unsigned long)s, i, (unsigned long)w[i],
			    (unsigned long)want[i]);
			return -1;
		}
	return 0;
}

/* Halts until an interrupt or 10 ms; fails a request older than REQ_US. */
static int
blk_idle(int n, char *why, size_t len)
{
	uint64_t t = now_us();
	int i;

	for (i = 0; i < n; i++)
		if (sbio[i].busy && t - sbio[i].t0 > REQ_US) {
			snprintf_(why, len, "blk-stress: %s of blocks %lu-%lu "
			    "not completed within %u s (device status 0x%x)",
			    bio_op(sbio[i].type), (unsigned long)sbio[i].sector,
			    (unsigned long)(sbio[i].sector + sbio[i].len / SECT
			    - 1), REQ_US / 1000000, vdev_status(&sdev));
			return -1;
		}
	if (!vq_pending(&sdev.vq[0]))
		irq_sleep(10000);
	return 0;
}

/* One completion: status and, for a read, every sector in it. */
static int
blk_done(struct bio *b, uint64_t k, char *why, size_t len)
{
	unsigned int i;

	if (b->status != VIRTIO_BLK_S_OK) {
		snprintf_(why, len, "blk-stress: pass %lu: %s of blocks "
		    "%lu-%lu: status %d%s", (unsigned long)k, bio_op(b->type),
		    (unsigned long)b->sector,
		    (unsigned long)(b->sector + b->len / SECT - 1), b->status,
		    b->status == 0xFF ? " (never written)" : "");
		return -1;
	}
	if (b->type != VIRTIO_BLK_T_IN)
		return 0;
	for (i = 0; i < b->len / SECT; i++)
		if (check((uint64_t *)(b->buf + i * SECT), b->sector + i, k,
		    why, len) < 0)
			return -1;
	return 0;
}

/* Writes (or reads and checks) the whole disk for pass k. */
static int
blk_pass(uint32_t type, uint64_t cap, uint64_t k, int depth, char *why,
    size_t len)
{
	struct bio *b;
	uint64_t next = 0, n;
	unsigned int i;
	int busy = 0, slot, bad, added;

	while (next < cap || busy) {
		added = 0;
		for (slot = 0; slot < depth && next < cap; slot++) {
			if (sbio[slot].busy)
				continue;
			n = cap - next < CHUNK / SECT ? cap - next : CHUNK / SECT;
			if (type == VIRTIO_BLK_T_OUT)
				for (i = 0; i < n; i++)
					fill((uint64_t *)(sbuf[slot] + i * SECT),
					    next + i, k);
			if (bio_submit(&sdev, &sbio[slot], type, next, sbuf[slot],
			    (uint32_t)(n * SECT)) < 0) {
				snprintf_(why, len, "blk-stress: virtio-blk "
				    "queue full with %d requests", busy);
				return -1;
			}
			next += n;
			busy++;
			added++;
		}
		if (added)
			vq_kick(&sdev.vq[0]);
		while ((b = bio_reap(&sdev, why, len, &bad)) != NULL) {
			busy--;
			if (blk_done(b, k, why, len) < 0)
				return -1;
		}
		if (bad)
			return -1;
		if (busy && blk_idle(depth, why, len) < 0)
			return -1;
	}
	return 0;
}

int
test_blk_stress(char *why, size_t len)
{
	uint64_t cap, k, end, verified = 0;
	uint32_t irq0;
	int rc, depth;

	rc = vdev_open(&sdev, VIRTIO_ID_BLOCK, "blk-stress",
	    1ULL << VIRTIO_BLK_F_RO, 1, why, len);
	if (rc != PASS)
		return rc;
	if (sdev.features & (1ULL << VIRTIO_BLK_F_RO)) {
		snprintf_(why, len, "virtio-blk at 00:%02x.%d is read-only; "
		    "blk-stress needs a writable scratch disk", sdev.slot,
		    sdev.fn);
		return FAIL;
	}
	cap = bio_capacity(&sdev);
	if (cap == 0) {
		snprintf_(why, len, "virtio-blk: capacity 0");
		return FAIL;
	}
	depth = sdev.vq[0].size / 3 < DEPTH ? sdev.vq[0].size / 3 : DEPTH;
	irq0 = irq_count[sdev.vq[0].vector];
	end = now_us() + cmdline_num("stress_s", STRESS_S) * 1000000;
	printf_("blk-stress: %lu blocks of %d bytes, %d KiB requests, %d in "
	    "flight, until %lu s\n", (unsigned long)cap, SECT, CHUNK / 1024,
	    depth, (unsigned long)(end / 1000000));
	for (k = 1; ; k++) {
		if (blk_pass(VIRTIO_BLK_T_OUT, cap, k, depth, why, len) < 0 ||
		    blk_pass(VIRTIO_BLK_T_IN, cap, k, depth, why, len) < 0)
			return FAIL;
		verified += cap;
		if (k <= 3 || k % 10 == 0)
			printf_("blk-stress: pass %lu done, %lu blocks "
			    "verified\n", (unsigned long)k, (unsigned long)cap);
		if (now_us() >= end)
			break;
	}
	if (irq_count[sdev.vq[0].vector] == irq0) {
		snprintf_(why, len, "virtio-blk: requests completed but no MSI-X "
		    "interrupt on vector 0x%x", sdev.vq[0].vector);
		return FAIL;
	}
	printf_("blk-stress: %lu passes, %lu blocks verified, 0 errors, %u "
	    "interrupts\n", (unsigned long)k, (unsigned long)verified,
	    irq_count[sdev.vq[0].vector] - irq0);
	vdev_reset(&sdev);
	return PASS;
}

int
test_net_echo(char *why, size_t len)
{
	snprintf_(why, len, "not yet");
	return FAIL;
}

int
test_rng_stress(char *why, size_t len)
{
	snprintf_(why, len, "not yet");
	return FAIL;
}
