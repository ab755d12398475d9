/*
 * Benchmarks of the block and network datapath (bench_s=N seconds per
 * case, default 5).  The queues run without interrupts: no MSI-X vector,
 * VRING_AVAIL_F_NO_INTERRUPT, and the used ring polled at CPL 3, where the
 * guest runs natively; one interrupt-driven case is reported on its own.
 * Each case prints one line:
 *   BENCH blk randread qd=1 bs=4096 iops=N mbps=N.N p50_us=N.N p99_us=N.N
 *   BENCH net tx size=64 pps=N mbps=N.N
 *   BENCH net tx-tso size=65536 pps=N mbps=N.N	(or "tx-tso unsupported")
 *   BENCH net rx size=N pps=N mbps=N.N
 * blk mbps is MB/s (10^6 bytes), net mbps Mbit/s of frames (without the
 * virtio-net header), for tx-tso Mbit/s of TCP payload.  The same guest
 * runs under QEMU, so figures compare.
 */
#include <linux/virtio_net.h>

#include "virtio.h"

#define BENCH_S		5
#define REQ_US		10000000	/* a request that takes longer fails */
#define POOL		(2 * 1024 * 1024)
#define NBUCKET		1024

static struct vdev bdev;
static struct bio bbio[BIO_MAX] __attribute__((aligned(64)));
static uint8_t pool[POOL] __attribute__((aligned(4096)));
static uint64_t hist[NBUCKET];		/* latency in ns, 16 steps per octave */
static uint64_t seed = 0x2545F4914F6CDD1DULL;

static uint64_t
rnd(void)
{
	seed ^= seed << 13;
	seed ^= seed >> 7;
	seed ^= seed << 17;
	return seed;
}

static unsigned int
bucket(uint64_t ns)
{
	unsigned int msb = 63 - (unsigned int)__builtin_clzll(ns | 1);

	if (msb < 4)
		return (unsigned int)ns;
	return (msb - 3) * 16 + (unsigned int)((ns >> (msb - 4)) & 15);
}

/* The middle of a bucket, in ns. */
static uint64_t
bucket_ns(unsigned int b)
{
	unsigned int m = b / 16 + 3;

	if (b < 16)
		return b;
	return ((16ULL + b % 16) << (m - 4)) + ((1ULL << (m - 4)) >> 1);
}

/* The latency below which a fraction pm/1000 of the samples lie, in ns. */
static uint64_t
percentile(uint64_t n, unsigned int pm)
{
	uint64_t want = (n * pm + 999) / 1000, seen = 0;
	unsigned int b;

	for (b = 0; b < NBUCKET; b++)
		if ((seen += hist[b]) >= want && want)
			return bucket_ns(b);
	return 0;
}

/* "12.3" from a value in tenths. */
static void
tenths(char *buf, size_t len, uint64_t v)
{
	snprintf_(buf, len, "%lu.%lu", (unsigned long)(v / 10),
	    (unsigned long)(v % 10));
}

struct bcase {
	const char *name;		/* randread, randwrite, read */
	uint32_t type;
	uint32_t bs;
	int qd;
	int seq, irq;
};

static int
blk_wait(int qd, int irq, char *why, size_t len)
{
	uint64_t t = now_us();
	int i;

	for (i = 0; i < qd; i++)
		if (bbio[i].busy && t - bbio[i].t0 > REQ_US) {
			snprintf_(why, len, "%s at sector %lu not "
			    "completed within %u s (device status 0x%x)",
			    bio_op(bbio[i].type), (unsigned long)bbio[i].sector,
			    REQ_US / 1000000, vdev_status(&bdev));
			return -1;
		}
	if (irq && !vq_pending(&bdev.vq[0]))
		irq_sleep(10000);
	else
		cpu_relax();
	return 0;
}

static int
blk_case(const struct bcase *c, uint64_t secs, char *why, size_t len)
{
	uint64_t cap = bio_capacity(&bdev), nblk = cap * 512 / c->bs, next = 0;
	uint64_t t0, end, done = 0, lat, el, iops;
	char mbps[24], p50[24], p99[24];
	struct bio *b;
	int i, busy = 0, bad, added;

	if (nblk == 0 || (uint64_t)c->bs * c->qd > POOL || c->qd > BIO_MAX ||
	    c->qd * 3 > bdev.vq[0].size) {
		snprintf_(why, len, "%s bs=%u qd=%d does not fit "
		    "(capacity %lu sectors, queue size %u)", c->name, c->bs,
		    c->qd, (unsigned long)cap, bdev.vq[0].size);
		return -1;
	}
	memset(hist, 0, sizeof(hist));
	t0 = now_us();
	end = t0 + secs * 1000000;
	while (busy || now_us() < end) {
		added = 0;
		for (i = 0; i < c->qd && now_us() < end; i++) {
			if (bbio[i].busy)
				continue;
			next = c->seq ? (next + 1) % nblk : rnd() % nblk;
			if (bio_submit(&bdev, &bbio[i], c->type,
			    next * (c->bs / 512), pool + (size_t)i * c->bs,
			    c->bs) < 0) {
				snprintf_(why, len, "queue full");
				return -1;
			}
			busy++;
			added++;
		}
		if (added)
			vq_kick_if_wanted(&bdev.vq[0]);
		while ((b = bio_reap(&bdev, why, len, &bad)) != NULL) {
			lat = (rdtsc() - b->tsc) * 1000000 / tsc_khz;
			busy--;
			if (b->status != VIRTIO_BLK_S_OK) {
				snprintf_(why, len, "%s at sector "
				    "%lu: status %d", bio_op(b->type),
				    (unsigned long)b->sector, b->status);
				return -1;
			}
			hist[bucket(lat) < NBUCKET ? bucket(lat) : NBUCKET - 1]++;
			done++;
		}
		if (bad || (busy && blk_wait(c->qd, c->irq, why, len) < 0))
			return -1;
	}
	el = now_us() - t0;
	iops = done * 1000000 / (el ? el : 1);
	tenths(mbps, sizeof(mbps), iops * c->bs * 10 / 1000000);
	tenths(p50, sizeof(p50), percentile(done, 500) / 100);
	tenths(p99, sizeof(p99), percentile(done, 990) / 100);
	printf_("BENCH blk %s%s qd=%d bs=%u iops=%lu mbps=%s p50_us=%s "
	    "p99_us=%s\n", c->name, c->irq ? "-irq" : "", c->qd, c->bs,
	    (unsigned long)iops, mbps, p50, p99);
	return 0;
}

static const struct bcase blk_cases[] = {
	{ "randread", VIRTIO_BLK_T_IN, 4096, 1, 0, 0 },
	{ "randread", VIRTIO_BLK_T_IN, 4096, 32, 0, 0 },
	{ "randwrite", VIRTIO_BLK_T_OUT, 4096, 32, 0, 0 },
	{ "read", VIRTIO_BLK_T_IN, 131072, 16, 1, 0 },
	{ "randread", VIRTIO_BLK_T_IN, 4096, 1, 0, 1 },
};

int
test_bench_blk(char *why, size_t len)
{
	uint64_t secs = cmdline_num("bench_s", BENCH_S);
	unsigned int i;
	int rc, irq = -1;

	for (i = 0; i < sizeof(blk_cases) / sizeof(blk_cases[0]); i++) {
		if (blk_cases[i].irq != irq) {
			irq = blk_cases[i].irq;
			rc = vdev_open_poll(&bdev, VIRTIO_ID_BLOCK, "bench-blk",
			    1ULL << VIRTIO_BLK_F_RO, 1, !irq, why, len);
			if (rc != PASS)
				return rc;
			if (i == 0)
				printf_("bench-blk: 00:%02x.%d, %lu sectors, "
				    "queue size %u, %lu s per case\n",
				    bdev.slot, bdev.fn,
				    (unsigned long)bio_capacity(&bdev),
				    bdev.vq[0].size, (unsigned long)secs);
		}
		if (blk_cases[i].type == VIRTIO_BLK_T_OUT &&
		    (bdev.features & (1ULL << VIRTIO_BLK_F_RO))) {
			printf_("bench-blk: read-only disk, no %s case\n",
			    blk_cases[i].name);
			continue;
		}
		if (blk_case(&blk_cases[i], secs, why, len) < 0)
			return FAIL;
	}
	vdev_reset(&bdev);
	return PASS;
}

/* --- net ------------------------------------------------------------------ */

#define RXQ		0
#define TXQ		1
#define FRAMEBUF	2048
#define HDRLEN		sizeof(struct virtio_net_hdr_mrg_rxbuf)
#define ETYPE_CTL	0x88B5		/* to and from netecho.py */
#define ETYPE_BENCH	0x88B6		/* tx load: nobody listens for it */
/* The flood must start within FIRST_US; the request is repeated every
 * ASK_US, since a slow peer (under emulation, say) may miss one. */
#define FIRST_US	60000000
#define ASK_US		1000000

static uint8_t nmac[6];
static const uint8_t bcast[6] = { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF };
static const uint8_t peer[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };
static int rx_of[VQ_MAX];

/* Frame i of the pool: header, then size bytes of frame. */
static uint8_t *
nbuf(int i)
{
	return pool + (size_t)i * FRAMEBUF;
}

static uint32_t
net_frame(uint8_t *b, const uint8_t *dst, uint16_t etype, const char *p,
    uint32_t size)
{
	uint8_t *f = b + HDRLEN;

	memset(b, 0, HDRLEN + size);
	memcpy(f, dst, 6);
	memcpy(f + 6, nmac, 6);
	f[12] = etype >> 8;
	f[13] = etype & 0xFF;
	memcpy(f + 14, p, strlen(p));
	return HDRLEN + size;
}

/*
 * Waits a little for the device.  A wait that has seen no completion for
 * IDLE_US halts for a millisecond instead of spinning: where the backend
 * shares one CPU with this vCPU (the lab VM has one), a vCPU that spins
 * and kicks without a pause can keep the backend off that CPU.
 */
#define IDLE_US		20000
static unsigned long idle_halts;

static void
tx_idle(uint64_t last)
{
	if (now_us() - last > IDLE_US) {
		irq_sleep(1000);
		idle_halts++;
	} else
		cpu_relax();
}

/* Reaps tx completions; fails when the oldest is older than REQ_US. */
static int
tx_reap(uint64_t *done, uint64_t last, int busy, char *why, size_t len)
{
	int id;

	while ((id = vq_used(&bdev.vq[TXQ], NULL)) != VQ_EMPTY) {
		if (id < 0) {
			snprintf_(why, len, "tx used ring has an id "
			    "we never submitted");
			return -1;
		}
		(*done)++;
	}
	if (busy && now_us() - last > REQ_US) {
		struct vq *q = &bdev.vq[TXQ];

		snprintf_(why, len, "no tx completion within %u s "
		    "(device status 0x%x; avail idx %u, used idx %u, "
		    "used flags 0x%x, %lu completed, %lu idle halts)",
		    REQ_US / 1000000,
		    vdev_status(&bdev), q->avail_idx,
		    *(volatile uint16_t *)&q->used->idx,
		    *(volatile uint16_t *)&q->used->flags,
		    (unsigned long)*done, idle_halts);
		return -1;
	}
	return 0;
}

/* Keeps the tx ring full of size-byte frames for secs. */
static int
net_tx(uint32_t size, uint64_t secs, char *why, size_t len)
{
	struct vq *q = &bdev.vq[TXQ];
	uint64_t t0, end, done = 0, sent = 0, last, el, pps, prev;
	struct vbuf b;
	char mbps[24];
	int i, n = q->size;

	for (i = 0; i < n; i++)
		net_frame(nbuf(i), peer, ETYPE_BENCH, "HYVE-BENCH", size);
	t0 = last = now_us();
	end = t0 + secs * 1000000;
	i = 0;
	while (sent > done || now_us() < end) {
		while (q->nfree && now_us() < end) {
			b = (struct vbuf){ nbuf(i), HDRLEN + size, 0 };
			if (vq_add(q, &b, 1) < 0)
				break;
			i = (i + 1) % n;
			sent++;
		}
		vq_kick_if_wanted(q);
		prev = done;
		if (tx_reap(&done, last, sent > done, why, len) < 0)
			return -1;
		if (done != prev)
			last = now_us();
		else
			tx_idle(last);
	}
	el = now_us() - t0;
	pps = done * 1000000 / (el ? el : 1);
	tenths(mbps, sizeof(mbps), pps * size * 8 * 10 / 1000000);
	printf_("BENCH net tx size=%u pps=%lu mbps=%s\n", size,
	    (unsigned long)pps, mbps);
	return 0;
}

/*
 * TSO: TCP/IPv4 frames of TSO_FRAME bytes that the device (or the tap
 * behind it) cuts into TSO_MSS-byte segments.  They go from 10.0.0.2 to
 * 10.0.0.1 at the peer MAC, a host nobody plays, so the host kernel drops
 * them right after the tap took them.
 */
#define TSO_FRAME	65536		/* Ethernet + IPv4 + TCP + payload */
#define TSO_HDRS	(14 + 20 + 20)
#define TSO_PAYLOAD	(TSO_FRAME - TSO_HDRS)
#define TSO_MSS		1448
#define TSO_STRIDE	(TSO_FRAME + 4096)
#define TSO_NBUF	(POOL / TSO_STRIDE)
#define TSO_FEATURES	(1ULL << VIRTIO_NET_F_CSUM | \
			 1ULL << VIRTIO_NET_F_HOST_TSO4)

static const uint8_t tso_src[4] = { 10, 0, 0, 2 }, tso_dst[4] = { 10, 0, 0, 1 };

static void
put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v);
}

/* The ones' complement sum of n bytes (n even) added to sum, folded. */
static uint32_t
csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	while (sum >> 16)
		sum = (sum & 0xFFFF) + (sum >> 16);
	return sum;
}

/* One TSO frame at b: vnet header, Ethernet, IPv4, TCP, payload. */
static void
tso_frame(uint8_t *b, uint32_t seq)
{
	struct virtio_net_hdr *h = (struct virtio_net_hdr *)b;
	uint8_t *f = b + HDRLEN, *ip = f + 14, *tcp = ip + 20, pseudo[4];
	uint32_t sum;

	memset(b, 0, HDRLEN + TSO_FRAME);
	h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	h->hdr_len = TSO_HDRS;
	h->gso_size = TSO_MSS;
	h->csum_start = 14 + 20;
	h->csum_offset = 16;	/* offsetof(struct tcphdr, check) */
	memcpy(f, peer, 6);
	memcpy(f + 6, nmac, 6);
	put16(f + 12, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, TSO_FRAME - 14);
	put16(ip + 4, seq & 0xFFFF);
	put16(ip + 6, 0x4000);		/* don't fragment */
	ip[8] = 64;
	ip[9] = 6;			/* TCP */
	memcpy(ip + 12, tso_src, 4);
	memcpy(ip + 16, tso_dst, 4);
	put16(ip + 10, ~csum_add(0, ip, 20) & 0xFFFF);
	put16(tcp, 40000);
	put16(tcp + 2, 5001);
	put32(tcp + 4, seq);
	put32(tcp + 8, 1);
	tcp[12] = 5 << 4;
	tcp[13] = 0x18;			/* PSH, ACK */
	put16(tcp + 14, 65535);
	/* Partial checksum: the pseudo header's sum, not complemented; the
	 * device adds the segment and stores the complement. */
	sum = csum_add(0, tso_src, 4);
	sum = csum_add(sum, tso_dst, 4);
	put16(pseudo, 6);
	put16(pseudo + 2, TSO_FRAME - 14 - 20);
	sum = csum_add(sum, pseudo, 4);
	put16(tcp + 16, sum);
	memcpy(tcp + 20, "HYVE-BENCH-TSO", 14);
}

/* Keeps the tx ring full of TSO frames for secs; mbps is TCP payload. */
static int
net_tx_tso(uint64_t secs, char *why, size_t len)
{
	struct vq *q = &bdev.vq[TXQ];
	uint64_t t0, end, done = 0, sent = 0, last, el, pps, prev;
	struct vbuf b;
	char mbps[24];
	int i;

	if ((bdev.features & TSO_FEATURES) != TSO_FEATURES) {
		printf_("BENCH net tx-tso unsupported\n");
		return 0;
	}
	for (i = 0; i < TSO_NBUF; i++)
		tso_frame(pool + (size_t)i * TSO_STRIDE,
		    (uint32_t)i * TSO_PAYLOAD);
	t0 = last = now_us();
	end = t0 + secs * 1000000;
	i = 0;
	/* The device only reads tx buffers: several may be in flight. */
	while (sent > done || now_us() < end) {
		while (q->nfree && now_us() < end) {
			b = (struct vbuf){ pool + (size_t)i * TSO_STRIDE,
			    HDRLEN + TSO_FRAME, 0 };
			if (vq_add(q, &b, 1) < 0)
				break;
			i = (i + 1) % TSO_NBUF;
			sent++;
		}
		vq_kick_if_wanted(q);
		prev = done;
		if (tx_reap(&done, last, sent > done, why, len) < 0)
			return -1;
		if (done != prev)
			last = now_us();
		else
			tx_idle(last);
	}
	el = now_us() - t0;
	pps = done * 1000000 / (el ? el : 1);
	tenths(mbps, sizeof(mbps), pps * TSO_PAYLOAD * 8 * 10 / 1000000);
	printf_("BENCH net tx-tso size=%u pps=%lu mbps=%s\n", TSO_FRAME,
	    (unsigned long)pps, mbps);
	return 0;
}

/* One control frame to netecho.py, completion polled. */
static int
net_ctl(const char *msg, char *why, size_t len)
{
	struct vq *q = &bdev.vq[TXQ];
	uint64_t done = 0, t = now_us();
	struct vbuf b;

	b = (struct vbuf){ nbuf(0), net_frame(nbuf(0), bcast, ETYPE_CTL, msg,
	    60), 0 };
	if (vq_add(q, &b, 1) < 0) {
		snprintf_(why, len, "tx queue full");
		return -1;
	}
	vq_kick(q);
	while (!done)
		if (tx_reap(&done, t, 1, why, len) < 0)
			return -1;
	return 0;
}

static int
rx_post(int i)
{
	struct vbuf b = { nbuf(i), FRAMEBUF, 1 };
	int id;

	if ((id = vq_add(&bdev.vq[RXQ], &b, 1)) < 0)
		return -1;
	rx_of[id] = i;
	return 0;
}

/* Frames received; their size is in *size. */
static int
rx_reap(uint64_t *got, uint32_t *size, char *why, size_t len)
{
	struct vq *q = &bdev.vq[RXQ];
	uint32_t n;
	uint8_t *f;
	int id, i, any = 0;

	while ((id = vq_used(q, &n)) != VQ_EMPTY) {
		if (id < 0 || n > FRAMEBUF || n < HDRLEN) {
			snprintf_(why, len, "rx used entry with id "
			    "%d and length %u is not one we posted", id, n);
			return -1;
		}
		i = rx_of[id];
		f = nbuf(i) + HDRLEN;
		if (n >= HDRLEN + 24 && !memcmp(f + 14, "HYVE-FLOOD ", 11)) {
			(*got)++;
			*size = n - HDRLEN;
		}
		rx_post(i);
		any = 1;
	}
	if (any)
		vq_kick_if_wanted(q);
	return 0;
}

/* Asks netecho.py --flood to send, counts what arrives for secs. */
static int
net_rx(uint64_t secs, char *why, size_t len)
{
	uint64_t t0, end, ask, got = 0, el, pps;
	uint32_t size = 0;
	char mbps[24];
	int i;

	for (i = 1; i < bdev.vq[RXQ].size; i++)
		if (rx_post(i) < 0)
			break;
	vq_kick(&bdev.vq[RXQ]);
	if (net_ctl("HYVE-FLOOD-START", why, len) < 0)
		return -1;
	end = now_us() + FIRST_US;
	ask = now_us() + ASK_US;
	while (!got && now_us() < end) {
		if (rx_reap(&got, &size, why, len) < 0)
			return -1;
		if (!got && now_us() >= ask) {
			if (net_ctl("HYVE-FLOOD-START", why, len) < 0)
				return -1;
			ask = now_us() + ASK_US;
		}
		cpu_relax();
	}
	if (!got) {
		printf_("bench-net: no flood frames from the host within %u s; "
		    "no rx case (run netecho.py --flood SIZE on the tap)\n",
		    FIRST_US / 1000000);
		return 0;
	}
	got = 0;
	t0 = now_us();
	end = t0 + secs * 1000000;
	while (now_us() < end)
		if (rx_reap(&got, &size, why, len) < 0)
			return -1;
	el = now_us() - t0;
	for (i = 0; i < 3; i++)
		if (net_ctl("HYVE-FLOOD-STOP", why, len) < 0)
			return -1;
	pps = got * 1000000 / (el ? el : 1);
	tenths(mbps, sizeof(mbps), pps * size * 8 * 10 / 1000000);
	printf_("BENCH net rx size=%u pps=%lu mbps=%s\n", size,
	    (unsigned long)pps, mbps);
	return 0;
}

int
test_bench_net(char *why, size_t len)
{
	uint64_t secs = cmdline_num("bench_s", BENCH_S);
	int rc, i;

	rc = vdev_open_poll(&bdev, VIRTIO_ID_NET, "bench-net",
	    1ULL << VIRTIO_NET_F_MAC | TSO_FEATURES, 2, 1, why, len);
	if (rc != PASS)
		return rc;
	if (bdev.vq[TXQ].size * FRAMEBUF > POOL) {
		snprintf_(why, len, "tx queue of %u is too large",
		    bdev.vq[TXQ].size);
		return FAIL;
	}
	for (i = 0; i < 6; i++)
		nmac[i] = bdev.features & (1ULL << VIRTIO_NET_F_MAC) ?
		    mmio_read8(bdev.devcfg + offsetof(struct virtio_net_config,
		    mac) + i) : (uint8_t)(i ? 0x10 * i : 0x02);
	printf_("bench-net: 00:%02x.%d, queue size %u, %lu s per case\n",
	    bdev.slot, bdev.fn, bdev.vq[TXQ].size, (unsigned long)secs);
	if (net_tx(64, secs, why, len) < 0 || net_tx(1500, secs, why, len) < 0 ||
	    net_tx_tso(secs, why, len) < 0 || net_rx(secs, why, len) < 0)
		return FAIL;
	if (idle_halts)
		printf_("bench-net: halted %lu times for 1 ms while no tx "
		    "completion came\n", idle_halts);
	vdev_reset(&bdev);
	return PASS;
}
