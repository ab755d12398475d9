/*
 * vublk: a minimal vhost-user-blk frontend that measures a backend alone.
 *
 * It connects to a backend's socket (hyve-blk --socket, or
 * qemu-storage-daemon's vhost-user-blk export), gives it a memfd as "guest
 * memory" and one split virtqueue, then keeps DEPTH requests in flight for
 * SECS seconds: each completion is taken from the used ring after a wait on
 * the call eventfd and a new request is posted in its slot, with one kick
 * per batch unless the backend set VRING_USED_F_NO_NOTIFY (it polls), as a
 * Linux guest driver does.  With --queues N it sets up N queues and drives
 * each from a thread of its own with DEPTH requests in flight, as a guest
 * with a vCPU per queue does.  The memory asks for 2 MiB pages
 * (MADV_HUGEPAGE), as hyve's core does for guest RAM; --small-pages
 * leaves it in 4 KiB pages, what a guest gets where the host's
 * shmem_enabled is never.
 *
 * Output (one line):
 *   vublk LABEL RW BS DEPTH iops=N mbps=N p50_us=N p99_us=N ios=N
 *	cpu_us=N fe_cpu_us=N
 * cpu_us is the CPU time (user + system, all threads) of the backend
 * named by --pid over the measured window, per request; fe_cpu_us is
 * vublk's own.  --idle SECS instead sets the queue up, leaves it idle and
 * prints "vublk LABEL idle cpu_pct=N": the backend's CPU in percent of one
 * CPU.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>

#include "ipc/vhost_user.h"
#include "ipc/virtq.h"
#include "lib/log.h"
#include "bench/fe.h"

#define UVA		0x7f0000000000ull	/* the "guest" address we claim */
#define NUM		256			/* ring size */
#define MAXDEPTH	64
#define MAXQ		4
#define MAXBS		(1u << 20)
#define RING(q)		(0x1000 + (q) * 0x3000)	/* 12 KiB per ring */
#define HDR		0x10000			/* 16 bytes per slot */
#define STATUS		0x11000			/* 1 byte per slot */
#define DATA		0x100000		/* MAXBS per slot */
#define MEMSZ		(DATA + (uint64_t)MAXQ * MAXDEPTH * MAXBS)

enum { RANDREAD, RANDWRITE, SEQREAD };

struct slot {
	uint64_t	t0;		/* submit time, ns */
	int		busy;
};

/* One queue and the thread that drives it. */
struct fq {
	unsigned idx;
	int kickfd, callfd, errfd;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t last_used;
	uint16_t kicked;		/* avail idx at the last kick check */
	struct slot slots[MAXDEPTH];
	uint64_t *lat;			/* completion latencies, ns */
	size_t nlat, caplat;
	uint64_t rng;
	uint64_t seqoff;
	uint64_t ios, bytes;
	int rc;
	pthread_t thread;
};

static int sock = -1, memfd = -1;
static uint8_t *mem;
static struct fq fqs[MAXQ];
static int nq = 1;
/* The run, the same for every queue. */
static const char *path;
static int rw = RANDREAD, depth = 1, always_kick, event_idx, spin;
static int small_pages;
static uint32_t bs = 4096;
static uint64_t size, tstart, tend;

/* Slot s of queue q: its header, status byte and data buffer. */
static unsigned
gslot(const struct fq *q, int s)
{
	return q->idx * MAXDEPTH + s;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static uint64_t
xorshift(uint64_t *rng)
{
	*rng ^= *rng << 13;
	*rng ^= *rng >> 7;
	*rng ^= *rng << 17;
	return *rng;
}

static int
setup_queue(struct fq *q)
{
	struct virtq_layout l;
	struct vu_msg m, r;
	unsigned i = q->idx;

	virtq_layout(NUM, 4096, &l);
	q->desc = (void *)(mem + RING(i) + l.desc);
	q->avail = (void *)(mem + RING(i) + l.avail);
	q->used = (void *)(mem + RING(i) + l.used);
	vu_msg_state(&m, VU_SET_VRING_NUM, i, NUM);
	if (fe_call(sock, &m, &r, "SET_VRING_NUM") < 0)
		return -EIO;
	vu_msg_state(&m, VU_SET_VRING_BASE, i, 0);
	if (fe_call(sock, &m, &r, "SET_VRING_BASE") < 0)
		return -EIO;
	vu_msg_init(&m, VU_SET_VRING_ADDR, sizeof(struct vhost_vring_addr));
	m.p.addr.index = i;
	m.p.addr.desc_user_addr = UVA + RING(i) + l.desc;
	m.p.addr.avail_user_addr = UVA + RING(i) + l.avail;
	m.p.addr.used_user_addr = UVA + RING(i) + l.used;
	if (fe_call(sock, &m, &r, "SET_VRING_ADDR") < 0)
		return -EIO;
	vu_msg_vring_fd(&m, VU_SET_VRING_CALL, i, q->callfd);
	if (fe_call(sock, &m, &r, "SET_VRING_CALL") < 0)
		return -EIO;
	vu_msg_vring_fd(&m, VU_SET_VRING_ERR, i, q->errfd);
	if (fe_call(sock, &m, &r, "SET_VRING_ERR") < 0)
		return -EIO;
	vu_msg_vring_fd(&m, VU_SET_VRING_KICK, i, q->kickfd);
	if (fe_call(sock, &m, &r, "SET_VRING_KICK") < 0)
		return -EIO;
	vu_msg_state(&m, VU_SET_VRING_ENABLE, i, 1);
	if (fe_call(sock, &m, &r, "SET_VRING_ENABLE") < 0)
		return -EIO;
	return 0;
}

/* Negotiates, shares memory and sets up the queues; returns capacity in
 * bytes. */
static int
setup(uint64_t *capacity)
{
	struct vu_msg m, r;
	uint64_t f, want;

	vu_msg_init(&m, VU_GET_FEATURES, 0);
	if (fe_call(sock, &m, &r, "GET_FEATURES") < 0)
		return -EIO;
	f = r.p.u64;
	if (!(f & (1ull << VIRTIO_F_VERSION_1)) ||
	    !(f & (1ull << VU_F_PROTOCOL_FEATURES))) {
		hlog("backend: lacks VERSION_1 or PROTOCOL_FEATURES (0x%llx)",
		    (unsigned long long)f);
		return -ENOTSUP;
	}
	/* Without EVENT_IDX every completion batch signals the call eventfd
	 * and every batch posted kicks; with it (--event-idx, as a Linux
	 * driver negotiates) each side says from which index on it wants to
	 * be told. */
	if (event_idx && !(f & (1ull << VIRTIO_RING_F_EVENT_IDX))) {
		hlog("backend: no EVENT_IDX, which --event-idx asks for");
		return -ENOTSUP;
	}
	want = f & ((event_idx ? 1ull << VIRTIO_RING_F_EVENT_IDX : 0) |
	    (1ull << VIRTIO_F_VERSION_1) |
	    (1ull << VU_F_PROTOCOL_FEATURES) | (1ull << VIRTIO_BLK_F_SEG_MAX) |
	    (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_FLUSH));
	vu_msg_u64(&m, VU_SET_FEATURES, want);
	if (fe_call(sock, &m, &r, "SET_FEATURES") < 0)
		return -EIO;
	vu_msg_init(&m, VU_GET_PROTOCOL_FEATURES, 0);
	if (fe_call(sock, &m, &r, "GET_PROTOCOL_FEATURES") < 0)
		return -EIO;
	want = r.p.u64 & ((1ull << VU_PF_REPLY_ACK) | (1ull << VU_PF_CONFIG) |
	    (nq > 1 ? 1ull << VU_PF_MQ : 0));
	if (nq > 1 && !(want & (1ull << VU_PF_MQ))) {
		hlog("backend: no MQ protocol feature; it has one queue");
		return -ENOTSUP;
	}
	vu_msg_u64(&m, VU_SET_PROTOCOL_FEATURES, want);
	if (fe_call(sock, &m, &r, "SET_PROTOCOL_FEATURES") < 0)
		return -EIO;
	vu_msg_init(&m, VU_SET_OWNER, 0);
	if (fe_call(sock, &m, &r, "SET_OWNER") < 0)
		return -EIO;

	*capacity = 0;
	if (want & (1ull << VU_PF_CONFIG)) {
		/* Only the capacity: qsd refuses a config longer than its own. */
		vu_msg_init(&m, VU_GET_CONFIG, VU_CONFIG_HDR + 8);
		m.p.config.offset = 0;
		m.p.config.size = 8;
		if (fe_call(sock, &m, &r, "GET_CONFIG") < 0)
			return -EIO;
		memcpy(capacity, r.p.config.data, 8);
		*capacity *= 512;
	}

	vu_msg_init(&m, VU_SET_MEM_TABLE, 8 + sizeof(struct vu_region));
	m.p.mem.nregions = 1;
	m.p.mem.regions[0] = (struct vu_region){ 0, MEMSZ, UVA, 0 };
	vu_msg_add_fd(&m, memfd);
	if (want & (1ull << VU_PF_REPLY_ACK))
		m.hdr.flags |= VU_FLAG_NEED_REPLY;
	if (fe_call(sock, &m, &r, "SET_MEM_TABLE") < 0)
		return -EIO;

	if (nq > 1) {
		vu_msg_init(&m, VU_GET_QUEUE_NUM, 0);
		if (fe_call(sock, &m, &r, "GET_QUEUE_NUM") < 0)
			return -EIO;
		if (r.p.u64 < (uint64_t)nq) {
			hlog("backend: %llu queue(s), --queues %d asked for more",
			    (unsigned long long)r.p.u64, nq);
			return -ENOTSUP;
		}
	}
	for (int q = 0; q < nq; q++)
		if (setup_queue(&fqs[q]) < 0)
			return -EIO;
	return 0;
}

/* Posts the request of slot s: header, data, status (descs 3s..3s+2). */
static void
post(struct fq *q, int s)
{
	unsigned g = gslot(q, s);
	struct virtio_blk_outhdr *h = (void *)(mem + HDR + 16 * g);
	uint16_t d = 3 * s, idx = q->avail->idx;
	uint64_t off;

	if (rw == SEQREAD) {
		if (q->seqoff + bs > size)
			q->seqoff = 0;
		off = q->seqoff;
		q->seqoff += bs;
	} else {
		off = (xorshift(&q->rng) % (size / bs)) * bs;
	}
	h->type = rw == RANDWRITE ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
	h->ioprio = 0;
	h->sector = off / 512;
	mem[STATUS + g] = 0xff;
	q->desc[d] = (struct vring_desc){ HDR + 16 * g, 16,
	    VRING_DESC_F_NEXT, d + 1 };
	q->desc[d + 1] = (struct vring_desc){ DATA + (uint64_t)g * MAXBS, bs,
	    VRING_DESC_F_NEXT | (rw == RANDWRITE ? 0 : VRING_DESC_F_WRITE),
	    d + 2 };
	q->desc[d + 2] = (struct vring_desc){ STATUS + g, 1,
	    VRING_DESC_F_WRITE, 0 };
	q->avail->ring[idx % NUM] = d;
	q->slots[s].t0 = now_ns();
	q->slots[s].busy = 1;
	__atomic_store_n(&q->avail->idx, (uint16_t)(idx + 1), __ATOMIC_RELEASE);
}

static void
record(struct fq *q, uint64_t ns)
{
	if (q->nlat == q->caplat) {
		size_t n = q->caplat ? q->caplat * 2 : 1 << 16;
		uint64_t *p = realloc(q->lat, n * sizeof(*p));

		if (p == NULL)
			return;
		q->lat = p;
		q->caplat = n;
	}
	q->lat[q->nlat++] = ns;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* As a Linux driver: no kick while the device polls (NO_NOTIFY), or with
 * EVENT_IDX, only when the new requests pass the index it asked for. */
static int
need_kick(struct fq *q)
{
	uint16_t now = q->avail->idx, old = q->kicked;
	uint16_t ev = __atomic_load_n((uint16_t *)&q->used->ring[NUM],
	    __ATOMIC_RELAXED);

	q->kicked = now;
	if (always_kick)
		return 1;
	if (event_idx)
		return vring_need_event(ev, now, old);
	return !(__atomic_load_n(&q->used->flags, __ATOMIC_RELAXED) &
	    VRING_USED_F_NO_NOTIFY);
}

/*
 * Keeps depth requests in flight on q until tend, then drains; counts the
 * completions between tstart and tend.
 */
static void *
drive(void *arg)
{
	struct fq *q = arg;
	struct pollfd pf[2];
	uint64_t now;
	eventfd_t ev;
	int i, errors = 0;

	q->rc = 1;
	for (i = 0; i < depth; i++)
		post(q, i);
	q->kicked = q->avail->idx;
	eventfd_write(q->kickfd, 1);
	pf[0] = (struct pollfd){ .fd = q->callfd, .events = POLLIN };
	pf[1] = (struct pollfd){ .fd = q->errfd, .events = POLLIN };
	for (;;) {
		uint16_t u = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);
		int posted = 0;

		if (u == q->last_used && spin && now_ns() < tend) {
			/* A polling driver: no interrupt, a CPU of its own. */
			__builtin_ia32_pause();
			continue;
		}
		if (u == q->last_used) {
			if (poll(pf, 2, 5000) <= 0) {
				hlog("socket %s: queue %u: no completion in 5 s",
				    path, q->idx);
				return NULL;
			}
			if (pf[1].revents) {
				hlog("socket %s: the backend put queue %u in "
				    "error", path, q->idx);
				return NULL;
			}
			eventfd_read(q->callfd, &ev);
			continue;
		}
		now = now_ns();
		for (; q->last_used != u; q->last_used++) {
			uint32_t id = q->used->ring[q->last_used % NUM].id;
			int s = id / 3;

			if (id % 3 || s >= depth || !q->slots[s].busy) {
				hlog("socket %s: queue %u: used ring names head "
				    "%u, which is not in flight", path, q->idx,
				    id);
				return NULL;
			}
			q->slots[s].busy = 0;
			if (mem[STATUS + gslot(q, s)] != VIRTIO_BLK_S_OK)
				errors++;
			if (now >= tstart && now < tend) {
				record(q, now - q->slots[s].t0);
				q->ios++;
				q->bytes += bs;
			}
			if (now < tend) {
				post(q, s);
				posted = 1;
			}
		}
		if (errors) {
			hlog("socket %s: %d requests failed (status byte not OK)",
			    path, errors);
			return NULL;
		}
		if (event_idx)
			/* Call us at the next completion, as virtblk_done's
			 * virtqueue_enable_cb; the loop reads used->idx again
			 * after this store before it sleeps. */
			__atomic_store_n(&q->avail->ring[NUM], q->last_used,
			    __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (posted && need_kick(q))
			eventfd_write(q->kickfd, 1);
		for (i = 0; i < depth && !q->slots[i].busy; i++)
			;
		if (now >= tend && i == depth)
			break;
	}
	q->rc = 0;
	return NULL;
}

static void
sleep_until(uint64_t t)
{
	uint64_t n;

	while ((n = now_ns()) < t)
		usleep((t - n) / 1000 + 1);
}

static void
usage(void)
{
	fprintf(stderr, "usage: vublk --socket PATH [--label L] "
	    "[--rw randread|randwrite|read] [--bs BYTES] [--depth N] "
	    "[--queues N]\n"
	    "\t[--time SECS] [--size BYTES] [--pid BACKEND] [--idle SECS] "
	    "[--always-kick] [--event-idx] [--spin] [--small-pages]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", 1, NULL, 's' }, { "label", 1, NULL, 'l' },
		{ "rw", 1, NULL, 'r' }, { "bs", 1, NULL, 'b' },
		{ "depth", 1, NULL, 'd' }, { "time", 1, NULL, 't' },
		{ "size", 1, NULL, 'z' }, { "pid", 1, NULL, 'p' },
		{ "idle", 1, NULL, 'i' }, { "always-kick", 0, NULL, 'k' },
		{ "queues", 1, NULL, 'q' }, { "event-idx", 0, NULL, 'e' },
		{ "spin", 0, NULL, 'S' }, { "small-pages", 0, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	const char *label = "backend", *rwname = "randread";
	uint64_t cap, t0, ios = 0, bytes = 0, *lat;
	size_t nlat = 0;
	double secs = 5, warm = 0.5, el, idle = 0, c0, f0, c1, f1;
	int pid = 0, c, rc = 0;

	log_set_role("vublk");
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'l': label = optarg; break;
		case 'r': rwname = optarg; break;
		case 'b': bs = strtoul(optarg, NULL, 0); break;
		case 'd': depth = atoi(optarg); break;
		case 't': secs = atof(optarg); break;
		case 'z': size = strtoull(optarg, NULL, 0); break;
		case 'p': pid = atoi(optarg); break;
		case 'i': idle = atof(optarg); break;
		case 'k': always_kick = 1; break;
		case 'q': nq = atoi(optarg); break;
		case 'e': event_idx = 1; break;
		case 'S': spin = 1; break;
		case 'P': small_pages = 1; break;
		default: usage();
		}
	}
	if (!strcmp(rwname, "randread"))
		rw = RANDREAD;
	else if (!strcmp(rwname, "randwrite"))
		rw = RANDWRITE;
	else if (!strcmp(rwname, "read"))
		rw = SEQREAD;
	else
		usage();
	if (path == NULL || depth < 1 || depth > MAXDEPTH || bs < 512 ||
	    bs > MAXBS || bs % 512 || secs <= 0 || nq < 1 || nq > MAXQ)
		usage();

	memfd = memfd_create("vublk-guest", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, MEMSZ) < 0) {
		hlog("guest memory memfd: %s", strerror(errno));
		return 1;
	}
	mem = mmap(NULL, MEMSZ, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (mem == MAP_FAILED) {
		hlog("guest memory mmap: %s", strerror(errno));
		return 1;
	}
	/* Only a hint: the host grants it if shmem_enabled allows. */
	if (!small_pages)
		madvise(mem, MEMSZ, MADV_HUGEPAGE);
	for (int q = 0; q < nq; q++) {
		struct fq *f = &fqs[q];

		f->idx = q;
		f->rng = 88172645463325252ull + q * 0x9e3779b97f4a7c15ull;
		for (int s = 0; s < depth; s++)
			memset(mem + DATA + (uint64_t)gslot(f, s) * MAXBS, 0x5a,
			    bs);
		f->kickfd = eventfd(0, EFD_CLOEXEC);
		f->callfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		f->errfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (f->kickfd < 0 || f->callfd < 0 || f->errfd < 0)
			return 1;
	}
	if ((sock = fe_connect(path)) < 0 || setup(&cap) < 0)
		return 1;
	if (size == 0 || (cap != 0 && size > cap))
		size = cap;
	if (size < bs) {
		hlog("socket %s: disk of %llu bytes is smaller than one %u-byte "
		    "request (give --size)", path, (unsigned long long)size, bs);
		return 1;
	}

	if (idle > 0) {
		/* The queue is started and empty: what does waiting cost? */
		usleep(200000);
		c0 = fe_proc_cpu(pid);
		t0 = now_ns();
		usleep((useconds_t)(idle * 1e6));
		c1 = fe_proc_cpu(pid);
		el = (double)(now_ns() - t0) / 1e9;
		if (c0 < 0 || c1 < 0) {
			hlog("--pid %d: cannot read its CPU time", pid);
			return 1;
		}
		printf("vublk %s idle cpu_pct=%.2f\n", label,
		    100 * (c1 - c0) / el);
		close(sock);
		return 0;
	}
	t0 = now_ns();
	tstart = t0 + (uint64_t)(warm * 1e9);
	tend = tstart + (uint64_t)(secs * 1e9);
	for (int q = 0; q < nq; q++)
		if (pthread_create(&fqs[q].thread, NULL, drive, &fqs[q]) != 0) {
			hlog("cannot start the thread of queue %d", q);
			return 1;
		}
	/* The CPU times over exactly the measured window. */
	sleep_until(tstart);
	c0 = fe_proc_cpu(pid);
	f0 = fe_self_cpu();
	sleep_until(tend);
	c1 = fe_proc_cpu(pid);
	f1 = fe_self_cpu();
	el = (double)(tend - tstart) / 1e9;
	for (int q = 0; q < nq; q++) {
		pthread_join(fqs[q].thread, NULL);
		rc |= fqs[q].rc;
		ios += fqs[q].ios;
		bytes += fqs[q].bytes;
		nlat += fqs[q].nlat;
	}
	if (rc)
		return 1;
	if (nlat == 0 || (lat = malloc(nlat * sizeof(*lat))) == NULL) {
		hlog("socket %s: no request completed", path);
		return 1;
	}
	nlat = 0;
	for (int q = 0; q < nq; q++) {
		memcpy(lat + nlat, fqs[q].lat, fqs[q].nlat * sizeof(*lat));
		nlat += fqs[q].nlat;
	}
	qsort(lat, nlat, sizeof(lat[0]), cmp_u64);
	printf("vublk %s %s %u %d iops=%.0f mbps=%.1f p50_us=%.1f p99_us=%.1f "
	    "ios=%llu", label, rwname, bs, depth, ios / el, bytes / el / 1e6,
	    lat[nlat / 2] / 1e3, lat[nlat * 99 / 100] / 1e3,
	    (unsigned long long)ios);
	if (c0 >= 0 && c1 >= 0)
		printf(" cpu_us=%.2f", (c1 - c0) * 1e6 / ios);
	else
		printf(" cpu_us=-");
	printf(" fe_cpu_us=%.2f\n", (f1 - f0) * 1e6 / ios);
	close(sock);
	return 0;
}
