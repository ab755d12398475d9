/*
 * Stress tests that run while the VMM restarts device backends under them
 * (stress_s=N seconds, default 10).  A request not completed within req_s
 * seconds (default 10) fails the test.  Completions are interrupt driven;
 * all the CPU work (patterns, checksums) runs here at CPL 3.
 *
 * blk-stress: pass k writes every sector s of the disk with a pattern
 * derived from (s, k) and a checksum, 64 KiB per request and up to 16 in
 * flight, then reads the disk back and checks every sector.
 * net-echo: frames to the host's echo peer (netecho.py); echoes must keep
 * coming.  rng-stress: 4 KiB reads from virtio-rng that must complete.
 *
 * Each also ends early when the ACPI power button is pressed (hyvectl
 * poweroff): the host then decides how long the load runs, by what it saw
 * happen rather than by a guess of how fast this machine is.
 */
#include <linux/virtio_net.h>

#include "virtio.h"

#define STRESS_S	10
#define REQ_S		10	/* a request may take this long (req_s) */
#define SECT		512
#define CHUNK		(64 * 1024)
#define DEPTH		16
#define MAGIC		0x5352545345565948ULL	/* "HYVESTRS" */

static struct vdev sdev;
static uint64_t req_us;
static struct bio sbio[DEPTH] __attribute__((aligned(64)));
static uint8_t sbuf[DEPTH][CHUNK] __attribute__((aligned(4096)));

/* The power button was pressed: looked at every 100 ms, and cleared. */
static int
stop_pressed(const char *test)
{
	static uint64_t next;
	uint64_t t = now_us();

	if (!acpi.pm1a_evt || t < next)
		return 0;
	next = t + 100000;
	if (!(inw(acpi.pm1a_evt) & 0x100))
		return 0;
	outw(acpi.pm1a_evt, 0x100);
	printf_("%s: power button pressed, stopping\n", test);
	return 1;
}

/* Forgets a press from before the run. */
static void
stop_clear(void)
{
	if (acpi.pm1a_evt)
		outw(acpi.pm1a_evt, 0x100);
}

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
		snprintf_(why, len, "pass %lu: block %lu: bad "
		    "checksum (torn or foreign data; starts 0x%lx 0x%lx 0x%lx)",
		    (unsigned long)k, (unsigned long)s, (unsigned long)w[0],
		    (unsigned long)w[1], (unsigned long)w[2]);
		return -1;
	}
	if (w[0] != MAGIC || w[1] != s || w[2] != k) {
		snprintf_(why, len, "pass %lu: block %lu holds "
		    "block %lu of pass %lu (%s)", (unsigned long)k,
		    (unsigned long)s, (unsigned long)w[1], (unsigned long)w[2],
		    w[1] != s ? "misdirected write" : "lost write");
		return -1;
	}
	fill(want, s, k);
	for (i = 0; i < SECT / 8; i++)
		if (w[i] != want[i]) {
			snprintf_(why, len, "pass %lu: block %lu: "
			    "word %d is 0x%lx, want 0x%lx", (unsigned long)k,
			    (unsigned long)s, i, (unsigned long)w[i],
			    (unsigned long)want[i]);
			return -1;
		}
	return 0;
}

/* Halts until an interrupt or 10 ms; fails a request older than req_s. */
static int
blk_idle(int n, char *why, size_t len)
{
	uint64_t t = now_us();
	int i;

	for (i = 0; i < n; i++)
		if (sbio[i].busy && t - sbio[i].t0 > req_us) {
			snprintf_(why, len, "%s of blocks %lu-%lu "
			    "not completed within %u s (device status 0x%x)",
			    bio_op(sbio[i].type), (unsigned long)sbio[i].sector,
			    (unsigned long)(sbio[i].sector + sbio[i].len / SECT
			    - 1), (unsigned)(req_us / 1000000),
			    vdev_status(&sdev));
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
		snprintf_(why, len, "pass %lu: %s of blocks "
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
				snprintf_(why, len, "virtio-blk "
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
	uint64_t cap, k, end, said = 0, verified = 0;
	uint32_t irq0;
	int rc, depth;

	req_us = cmdline_num("req_s", REQ_S) * 1000000;
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
	stop_clear();
	end = now_us() + cmdline_num("stress_s", STRESS_S) * 1000000;
	printf_("blk-stress: %lu blocks of %d bytes, %d KiB requests, %d in "
	    "flight, for %lu s\n", (unsigned long)cap, SECT, CHUNK / 1024,
	    depth, cmdline_num("stress_s", STRESS_S));
	for (k = 1; ; k++) {
		if (blk_pass(VIRTIO_BLK_T_OUT, cap, k, depth, why, len) < 0 ||
		    blk_pass(VIRTIO_BLK_T_IN, cap, k, depth, why, len) < 0)
			return FAIL;
		verified += cap;
		if (k == 1 || now_us() >= said + 5000000) {
			said = now_us();
			printf_("blk-stress: pass %lu done, %lu blocks "
			    "verified\n", (unsigned long)k, (unsigned long)cap);
		}
		if (now_us() >= end || stop_pressed("blk-stress"))
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

/* --- net-echo ------------------------------------------------------------ */

#define RXQ		0
#define TXQ		1
#define NRX		32
#define NTX		16
#define BUFSZ		2048
#define ETYPE		0x88B5
#define HDRLEN		sizeof(struct virtio_net_hdr_mrg_rxbuf)
#define RESEND_US	20000		/* no echo within this: send the next */
#define MAXSEQ		(1u << 20)

static uint8_t rxb[NRX][BUFSZ] __attribute__((aligned(4096)));
static uint8_t txb[NTX][128] __attribute__((aligned(64)));
static uint64_t tx_t0[NTX];
static int tx_busy[NTX];
static int rx_of[VQ_MAX], tx_of[VQ_MAX];
static uint8_t echoed[MAXSEQ / 8];
static uint8_t mac[6];

struct echo {
	uint32_t seq;			/* next to send */
	uint32_t got;			/* distinct sequence numbers echoed */
	uint32_t dup, other;
	uint64_t last;			/* now_us() of the last echo */
};

static int
rx_post(int i)
{
	struct vbuf b = { rxb[i], BUFSZ, 1 };
	int id;

	if ((id = vq_add(&sdev.vq[RXQ], &b, 1)) < 0)
		return -1;
	rx_of[id] = i;
	return 0;
}

/* A frame of type etype to dst with payload p in buf; its length. */
static uint32_t
frame(uint8_t *buf, const uint8_t *dst, uint16_t etype, const char *p)
{
	uint8_t *f = buf + HDRLEN;
	size_t n;

	memset(buf, 0, HDRLEN + 60);
	memcpy(f, dst, 6);
	memcpy(f + 6, mac, 6);
	f[12] = etype >> 8;
	f[13] = etype & 0xFF;
	n = strlen(p);
	memcpy(f + 14, p, n);
	n += 14;
	return (uint32_t)(HDRLEN + (n < 60 ? 60 : n));
}

static int
echo_send(struct echo *e, char *why, size_t len)
{
	static const uint8_t bcast[6] = { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF };
	struct vbuf b;
	char p[32];
	int i, id;

	for (i = 0; i < NTX && tx_busy[i]; i++)
		;
	if (i == NTX)
		return 0;		/* all in flight: try later */
	snprintf_(p, sizeof(p), "HYVE-ECHO %u", e->seq);
	b = (struct vbuf){ txb[i], frame(txb[i], bcast, ETYPE, p), 0 };
	if ((id = vq_add(&sdev.vq[TXQ], &b, 1)) < 0) {
		snprintf_(why, len, "tx queue full with %d frames "
		    "in flight", NTX);
		return -1;
	}
	tx_of[id] = i;
	tx_busy[i] = 1;
	tx_t0[i] = now_us();
	vq_kick(&sdev.vq[TXQ]);
	e->seq++;
	return 0;
}

static int
tx_reap(char *why, size_t len)
{
	uint64_t t = now_us();
	int id, i;

	while ((id = vq_used(&sdev.vq[TXQ], NULL)) != VQ_EMPTY) {
		if (id < 0 || !tx_busy[tx_of[id]]) {
			snprintf_(why, len, "tx used ring has id %d, "
			    "which carries no frame of ours", id);
			return -1;
		}
		tx_busy[tx_of[id]] = 0;
	}
	for (i = 0; i < NTX; i++)
		if (tx_busy[i] && t - tx_t0[i] > req_us) {
			snprintf_(why, len, "tx frame not completed "
			    "within %u s (device status 0x%x)",
			    (unsigned)(req_us / 1000000), vdev_status(&sdev));
			return -1;
		}
	return 0;
}

/* Reads "HYVE-ECHO-REPLY <seq>" from a received frame. */
static void
echo_frame(struct echo *e, const uint8_t *f, uint32_t n)
{
	const char *end;
	unsigned long seq;

	if (n < 14 + 17 || f[12] != (ETYPE >> 8) || f[13] != (ETYPE & 0xFF) ||
	    memcmp(f + 14, "HYVE-ECHO-REPLY ", 16)) {
		e->other++;
		return;
	}
	seq = strtoul_((const char *)f + 30, &end, 10);
	if (end == (const char *)f + 30 || seq >= e->seq || seq >= MAXSEQ) {
		e->other++;		/* not an answer to anything we sent */
		return;
	}
	if (echoed[seq / 8] & (1 << (seq % 8))) {
		e->dup++;
		return;
	}
	echoed[seq / 8] |= (uint8_t)(1 << (seq % 8));
	e->got++;
	e->last = now_us();
}

static int
rx_reap(struct echo *e, char *why, size_t len)
{
	struct vq *q = &sdev.vq[RXQ];
	uint32_t got;
	int id, i, any = 0;

	while ((id = vq_used(q, &got)) != VQ_EMPTY) {
		if (id < 0) {
			snprintf_(why, len, "rx used ring has an id "
			    "we never submitted");
			return -1;
		}
		i = rx_of[id];
		if (got > BUFSZ || got < HDRLEN) {
			snprintf_(why, len, "rx length %u for a "
			    "%u-byte buffer", got, BUFSZ);
			return -1;
		}
		if (got < BUFSZ)
			rxb[i][got] = 0;	/* ends the sequence number */
		echo_frame(e, rxb[i] + HDRLEN, got - HDRLEN);
		rx_post(i);
		any = 1;
	}
	if (any)
		vq_kick(q);
	return 0;
}

int
test_net_echo(char *why, size_t len)
{
	uint64_t want = 1ULL << VIRTIO_NET_F_MAC, end, t, sent_at = 0;
	struct echo e;
	uint32_t waiting;
	int rc, i;

	req_us = cmdline_num("req_s", REQ_S) * 1000000;
	rc = vdev_open(&sdev, VIRTIO_ID_NET, "net-echo", want, 2, why, len);
	if (rc != PASS)
		return rc;
	for (i = 0; i < 6; i++)
		mac[i] = sdev.features & (1ULL << VIRTIO_NET_F_MAC) ?
		    mmio_read8(sdev.devcfg + offsetof(struct virtio_net_config,
		    mac) + i) : (uint8_t)(i ? 0x10 * i : 0x02);
	memset(&e, 0, sizeof(e));
	memset(echoed, 0, sizeof(echoed));
	memset(tx_busy, 0, sizeof(tx_busy));
	for (i = 0; i < NRX; i++)
		if (rx_post(i) < 0) {
			snprintf_(why, len, "cannot post rx buffers");
			return FAIL;
		}
	vq_kick(&sdev.vq[RXQ]);
	stop_clear();
	t = now_us();
	end = t + cmdline_num("stress_s", STRESS_S) * 1000000;
	printf_("net-echo: frames to the host's echo peer for %lu s\n",
	    cmdline_num("stress_s", STRESS_S));
	waiting = 0;
	while ((t = now_us()) < end) {
		if (stop_pressed("net-echo")) {
			end = t;
			break;
		}
		/* One frame at a time; the next when it is echoed or late. */
		if ((e.got > waiting || t - sent_at > RESEND_US) &&
		    e.seq < MAXSEQ) {
			waiting = e.got;
			sent_at = t;
			if (echo_send(&e, why, len) < 0)
				return FAIL;
		}
		if (tx_reap(why, len) < 0 || rx_reap(&e, why, len) < 0)
			return FAIL;
		if (!vq_pending(&sdev.vq[RXQ]) && !vq_pending(&sdev.vq[TXQ]) &&
		    e.got == waiting)
			irq_sleep(RESEND_US);
	}
	/* Echoes still on their way count. */
	for (t = now_us() + 200000; now_us() < t; irq_sleep(10000))
		if (rx_reap(&e, why, len) < 0)
			return FAIL;
	printf_("net-echo: %u frames sent, %u echoed, %u duplicates, %u other "
	    "frames, %u rx interrupts\n", e.seq, e.got, e.dup, e.other,
	    irq_count[sdev.vq[RXQ].vector]);
	if (e.got == 0 || e.last + 2000000 < end) {
		snprintf_(why, len, "%s (%u of %u frames echoed, "
		    "device status 0x%x); is netecho.py running on the tap?",
		    e.got ? "no echo in the last 2 s" : "no echo at all",
		    e.got, e.seq, vdev_status(&sdev));
		return FAIL;
	}
	if (e.got * 2 < e.seq) {
		snprintf_(why, len, "only %u of %u frames echoed "
		    "(want at least half)", e.got, e.seq);
		return FAIL;
	}
	vdev_reset(&sdev);
	return PASS;
}

/* --- rng-stress ----------------------------------------------------------- */

#define RNG_LEN		4096

/* Fills buf with one request after another, each by interrupt. */
static int
rng_fill(uint8_t *buf, char *why, size_t len)
{
	struct vq *q = &sdev.vq[0];
	struct vbuf b;
	uint32_t got, n = 0;
	int rounds = 0, id;

	while (n < RNG_LEN) {
		if (++rounds > 256) {
			snprintf_(why, len, "only %u of %u bytes "
			    "after 256 requests", n, RNG_LEN);
			return -1;
		}
		b = (struct vbuf){ buf + n, RNG_LEN - n, 1 };
		if (vq_add(q, &b, 1) < 0) {
			snprintf_(why, len, "queue full");
			return -1;
		}
		vq_kick(q);
		id = vq_wait(q, 1, req_us, &got);
		if (id < 0) {
			snprintf_(why, len, "request %s (device "
			    "status 0x%x)", id == VQ_EMPTY ? "not completed "
			    "within req_s" : id == VQ_NOIRQ ? "completed "
			    "without an MSI-X interrupt" : "came back with a "
			    "bad id", vdev_status(&sdev));
			return -1;
		}
		if (got > RNG_LEN - n) {
			snprintf_(why, len, "device claims %u bytes "
			    "written into a %u-byte buffer", got, RNG_LEN - n);
			return -1;
		}
		n += got;
	}
	return 0;
}

int
test_rng_stress(char *why, size_t len)
{
	static uint8_t buf[2][RNG_LEN] __attribute__((aligned(4096)));
	uint64_t end;
	uint32_t count = 0;
	uint8_t *cur, *prev;
	int rc, i;

	req_us = cmdline_num("req_s", REQ_S) * 1000000;
	rc = vdev_open(&sdev, VIRTIO_ID_RNG, "rng-stress", 0, 1, why, len);
	if (rc != PASS)
		return rc;
	stop_clear();
	end = now_us() + cmdline_num("stress_s", STRESS_S) * 1000000;
	printf_("rng-stress: %u-byte reads for %lu s\n", RNG_LEN,
	    cmdline_num("stress_s", STRESS_S));
	memset(buf, 0, sizeof(buf));
	do {
		cur = buf[count & 1];
		prev = buf[!(count & 1)];
		if (rng_fill(cur, why, len) < 0)
			return FAIL;
		for (i = 1; i < RNG_LEN && cur[i] == cur[0]; i++)
			;
		if (i == RNG_LEN) {
			snprintf_(why, len, "read %u: all %u bytes "
			    "are 0x%02x", count, RNG_LEN, cur[0]);
			return FAIL;
		}
		if (count && !memcmp(cur, prev, RNG_LEN)) {
			snprintf_(why, len, "read %u returned the "
			    "same %u bytes as the one before", count, RNG_LEN);
			return FAIL;
		}
		count++;
	} while (now_us() < end && !stop_pressed("rng-stress"));
	printf_("rng-stress: %u reads of %u bytes, %u interrupts\n", count,
	    RNG_LEN, irq_count[sdev.vq[0].vector]);
	vdev_reset(&sdev);
	return PASS;
}
