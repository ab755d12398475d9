/*
 * Frontend test for hyve-blk: fork the real binary with a socketpair and a
 * temporary image, set it up over vhost-user like the core does, and drive
 * virtio-blk requests through virtqueues in a memfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <linux/virtio_blk.h>

#include "ipc/vhost_user.h"
#include "ipc/virtq.h"
#include "ipc/stats.h"
#include "tests/unit/vufront.h"

#define MEMSZ	(2u << 20)
#define UVA	0x7f0000000000ull
#define NUM	128
#define MAXQ	2
#define RING(q)	(0x1000 + (q) * 0x4000)
#define HDR	0x10000		/* request headers, 16 bytes each */
#define STATUS	0x11000		/* status bytes */
#define INDIR	0x12000		/* indirect tables */
#define DATA	0x20000		/* 32 x 4 KiB */
#define RBUF	0x60000		/* 32 x 4 KiB read back */
#define SECT	512

static char bin[PATH_MAX];
static char img[64] = "";
static char sockpath[108] = "";
static pid_t pid = -1;
static int sock = -1, memfd = -1;
static struct vf_queue vq[MAXQ];
static uint8_t *mem;
static int dflags;		/* how the test opens the disk it passes */
/* One more option (and its value) for every spawn, or NULL. */
static const char *xopt, *xval;
/* The frontend's inflight region (or -1), handed to every backend. */
static int infl_fd = -1;
/* Guest memory and rings as they are: a restarted backend's view. */
static bool keep_mem;
/* The counters page every spawn gets (--stats-fd 5), as from the core. */
static volatile struct hyve_stats *stats;

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool w;
};

static bool
find_binary(void)
{
	return vf_find_binary(bin, sizeof(bin), "hyve-blk", "HYVE_BLK");
}

static void
make_image(uint64_t size)
{
	int fd;

	snprintf(img, sizeof(img), "/tmp/hyve-blk-test.XXXXXX");
	fd = mkstemp(img);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	close(fd);
}

static int
setup(void **state)
{
	(void)state;
	dflags = O_RDWR;
	xopt = xval = NULL;
	infl_fd = -1;
	keep_mem = false;
	memfd = vf_guest_mem("blk-guest", MEMSZ, &mem);
	if (memfd < 0)
		return -1;
	for (int q = 0; q < MAXQ; q++)
		vf_queue_open(&vq[q]);
	make_image(1 << 20);
	return 0;
}

/* Waits for the backend to exit; returns its wait status or -1. */
static int
reap(int secs)
{
	int st;

	for (int i = 0; i < secs * 100; i++) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid) {
			pid = -1;
			return st;
		}
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	pid = -1;
	return -1;
}

/* Closes the frontend; the backend must exit 0 on its own. */
static void
stop(void)
{
	int st;

	if (sock >= 0)
		close(sock);
	sock = -1;
	if (pid < 0)
		return;
	st = reap(60);
	assert_true(st != -1 && WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static int
teardown(void **state)
{
	(void)state;
	if (sock >= 0)
		close(sock);
	sock = -1;
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		pid = -1;
	}
	munmap(mem, MEMSZ);
	close(memfd);
	for (int q = 0; q < MAXQ; q++)
		vf_queue_close(&vq[q]);
	if (img[0])
		unlink(img);
	if (sockpath[0])
		unlink(sockpath);
	img[0] = sockpath[0] = '\0';
	return 0;
}

/* Starts hyve-blk --fd 3 --disk-fd 4 --stats-fd 5 with extra options
 * (NULL-terminated). */
static void
spawn(const char *opt, ...)
{
	const char *argv[24] = { bin, "--fd", "3", "--disk-fd", "4",
	    "--stats-fd", "5" };
	int fds[2], n = 7;
	va_list ap;

	va_start(ap, opt);
	for (; opt != NULL && n < 20; opt = va_arg(ap, const char *))
		argv[n++] = opt;
	va_end(ap);
	if (xopt != NULL) {
		argv[n++] = xopt;
		argv[n++] = xval;
	}
	argv[n] = NULL;
	fds[0] = open(img, dflags | O_CLOEXEC);
	assert_true(fds[0] >= 0);
	fds[1] = memfd_create("blk-stats", MFD_CLOEXEC);
	assert_true(fds[1] >= 0);
	assert_int_equal(ftruncate(fds[1], 4096), 0);
	if (stats != NULL)
		munmap((void *)stats, 4096);
	stats = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fds[1], 0);
	assert_true(stats != MAP_FAILED);
	sock = vf_spawn(argv, fds, 2, -1, &pid);
	close(fds[0]);
	close(fds[1]);
}

static void
call_ok(struct vu_msg *m, struct vu_msg *r)
{
	vf_call_ok(sock, m, r);
}

static uint64_t
get_features(void)
{
	struct vu_msg m, r;

	vu_msg_init(&m, VU_GET_FEATURES, 0);
	call_ok(&m, &r);
	return r.p.u64;
}

static void
get_config(struct virtio_blk_config *c)
{
	struct vu_msg m, r;

	vu_msg_init(&m, VU_GET_CONFIG, VU_CONFIG_HDR + sizeof(*c));
	m.p.config.offset = 0;
	m.p.config.size = sizeof(*c);
	call_ok(&m, &r);
	assert_int_equal(r.hdr.size, VU_CONFIG_HDR + sizeof(*c));
	memcpy(c, r.p.config.data, sizeof(*c));
}


static size_t
infl_stride(void)
{
	/* struct inflight_queue: 16 bytes, then 16 per descriptor. */
	return (16 + NUM * 16 + 63) & ~(size_t)63;
}

static void
set_inflight(int nq)
{
	struct vu_msg m, r;

	vu_msg_init(&m, VU_SET_INFLIGHT_FD, sizeof(struct vu_inflight));
	m.p.inflight.mmap_size = infl_stride() * nq;
	m.p.inflight.mmap_offset = 0;
	m.p.inflight.num_queues = nq;
	m.p.inflight.queue_size = NUM;
	vu_msg_add_fd(&m, infl_fd);
	call_ok(&m, &r);
}

/* vf_ring without clearing the ring: the requests in it stay. */
static void
ring_again(int q)
{
	struct virtq_layout l;
	struct vu_msg m, r;

	virtq_layout(NUM, 4096, &l);
	vu_msg_state(&m, VU_SET_VRING_NUM, q, NUM);
	call_ok(&m, &r);
	vu_msg_state(&m, VU_SET_VRING_BASE, q, vq[q].used->idx);
	call_ok(&m, &r);
	vu_msg_init(&m, VU_SET_VRING_ADDR, sizeof(struct vhost_vring_addr));
	m.p.addr.index = q;
	m.p.addr.desc_user_addr = UVA + RING(q) + l.desc;
	m.p.addr.avail_user_addr = UVA + RING(q) + l.avail;
	m.p.addr.used_user_addr = UVA + RING(q) + l.used;
	call_ok(&m, &r);
	vu_msg_vring_fd(&m, VU_SET_VRING_CALL, q, vq[q].call);
	call_ok(&m, &r);
	vu_msg_vring_fd(&m, VU_SET_VRING_ERR, q, vq[q].err);
	call_ok(&m, &r);
	vu_msg_vring_fd(&m, VU_SET_VRING_KICK, q, vq[q].kick);
	call_ok(&m, &r);
	vu_msg_state(&m, VU_SET_VRING_ENABLE, q, 1);
	m.hdr.flags |= VU_FLAG_NEED_REPLY;
	call_ok(&m, &r);
	assert_int_equal(r.p.u64, 0);
}

static void
configure(int nq)
{
	struct vu_msg m, r;
	uint64_t f = get_features();

	assert_true(f & (1ull << 32));
	assert_true(f & (1ull << VU_F_PROTOCOL_FEATURES));
	assert_true(f & (1ull << VIRTIO_RING_F_INDIRECT_DESC));
	/* No EVENT_IDX: every flush interrupts, which keeps waiting simple. */
	f &= ~(1ull << VIRTIO_RING_F_EVENT_IDX);
	vu_msg_u64(&m, VU_SET_FEATURES, f);
	call_ok(&m, &r);
	vu_msg_init(&m, VU_GET_PROTOCOL_FEATURES, 0);
	call_ok(&m, &r);
	assert_true(r.p.u64 & (1ull << VU_PF_REPLY_ACK));
	vu_msg_u64(&m, VU_SET_PROTOCOL_FEATURES, 1ull << VU_PF_REPLY_ACK |
	    1ull << VU_PF_MQ | 1ull << VU_PF_CONFIG | 1ull << VU_PF_RESET_DEVICE);
	call_ok(&m, &r);
	vu_msg_init(&m, VU_SET_OWNER, 0);
	call_ok(&m, &r);

	if (!keep_mem)
		memset(mem, 0, MEMSZ);
	assert_int_equal(vf_mem_table(sock, memfd, MEMSZ, UVA), 0);
	if (infl_fd >= 0)
		set_inflight(nq);
	for (int q = 0; q < nq; q++) {
		if (keep_mem)
			ring_again(q);
		else
			assert_int_equal(vf_ring(sock, mem, UVA, q, NUM, RING(q),
			    &vq[q]), 0);
	}
}

/* Writes a chain at descriptors head.. and makes it available (no kick). */
static void
post(int q, uint16_t head, const struct seg *s, int n)
{
	uint16_t idx = vq[q].avail->idx;

	for (int i = 0; i < n; i++)
		vq[q].desc[head + i] = (struct vring_desc){ s[i].gpa, s[i].len,
		    (s[i].w ? VRING_DESC_F_WRITE : 0) |
		    (i + 1 < n ? VRING_DESC_F_NEXT : 0), head + i + 1 };
	vq[q].avail->ring[idx % NUM] = head;
	__atomic_store_n(&vq[q].avail->idx, idx + 1, __ATOMIC_RELEASE);
}

static void
kick_q(int q)
{
	eventfd_write(vq[q].kick, 1);
}

/* Waits until the used index reaches want. */
static void
wait_used(int q, uint16_t want)
{
	struct pollfd p = { .fd = vq[q].call, .events = POLLIN };
	eventfd_t v;

	for (int i = 0; i < 500; i++) {
		if (__atomic_load_n(&vq[q].used->idx, __ATOMIC_ACQUIRE) == want)
			return;
		if (poll(&p, 1, 10) == 1)
			eventfd_read(vq[q].call, &v);
	}
	fail_msg("queue %d: used index %u, want %u", q, vq[q].used->idx, want);
}

static bool
wait_err(int q)
{
	return vf_fired(vq[q].err, 5000);
}

static void
set_hdr(uint64_t gpa, uint32_t type, uint64_t sector)
{
	struct virtio_blk_outhdr h = { .type = type, .sector = sector };

	memcpy(mem + gpa, &h, sizeof(h));
}

/* Runs one chain on queue q and returns its status byte and used length. */
static uint8_t
run(int q, const struct seg *s, int n, uint32_t *ulen)
{
	uint16_t idx = vq[q].used->idx;
	const struct seg *st = &s[n - 1];

	mem[st->gpa + st->len - 1] = 0xee;
	post(q, 0, s, n);
	kick_q(q);
	wait_used(q, idx + 1);
	assert_int_equal(vq[q].used->ring[idx % NUM].id, 0);
	if (ulen)
		*ulen = vq[q].used->ring[idx % NUM].len;
	return mem[st->gpa + st->len - 1];
}

/* A plain request: header, one data buffer (if len), status. */
static uint8_t
rw(uint32_t type, uint64_t sector, uint64_t gpa, uint32_t len)
{
	struct seg s[3];
	int n = 0;

	set_hdr(HDR, type, sector);
	s[n++] = (struct seg){ HDR, 16, false };
	if (len)
		s[n++] = (struct seg){ gpa, len, type == VIRTIO_BLK_T_IN ||
		    type == VIRTIO_BLK_T_GET_ID };
	s[n++] = (struct seg){ STATUS, 1, true };
	return run(0, s, n, NULL);
}

static uint8_t
discard(uint32_t type, uint64_t sector, uint32_t num, uint32_t flags)
{
	struct virtio_blk_discard_write_zeroes dz = { sector, num, flags };

	memcpy(mem + DATA, &dz, sizeof(dz));
	return rw(type, 0, DATA, sizeof(dz));
}

static void
pattern(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8));
}

static void
file_has(uint64_t off, const void *want, size_t len)
{
	uint8_t buf[8192];
	int fd = open(img, O_RDONLY);

	assert_true(fd >= 0 && len <= sizeof(buf));
	assert_int_equal(pread(fd, buf, len, off), len);
	close(fd);
	assert_memory_equal(buf, want, len);
}

/* ------------------------------------------------------------------ */

static void
test_features_config(void **state)
{
	struct virtio_blk_config c;
	struct vu_msg m, r;
	uint64_t f;

	(void)state;
	spawn(NULL);
	f = get_features();
	assert_true(f & (1ull << VIRTIO_BLK_F_SEG_MAX));
	assert_true(f & (1ull << VIRTIO_BLK_F_BLK_SIZE));
	assert_true(f & (1ull << VIRTIO_BLK_F_TOPOLOGY));
	assert_true(f & (1ull << VIRTIO_BLK_F_FLUSH));
	assert_true(f & (1ull << VIRTIO_BLK_F_DISCARD));
	assert_true(f & (1ull << VIRTIO_BLK_F_WRITE_ZEROES));
	assert_true(f & (1ull << VIRTIO_BLK_F_MQ));
	assert_false(f & (1ull << VIRTIO_BLK_F_RO));
	assert_true(f & (1ull << VIRTIO_RING_F_EVENT_IDX));
	get_config(&c);
	assert_int_equal(c.capacity, 2048);
	assert_int_equal(c.blk_size, 512);
	assert_int_equal(c.physical_block_exp, 0);
	assert_int_equal(c.num_queues, 1);
	assert_true(c.seg_max >= 1);
	assert_int_equal(c.max_discard_seg, 1);
	assert_int_equal(c.max_write_zeroes_seg, 1);
	assert_true(c.max_discard_sectors > 0);
	assert_int_equal(c.write_zeroes_may_unmap, 1);
	/* A partial read at an offset. */
	vu_msg_init(&m, VU_GET_CONFIG, VU_CONFIG_HDR + 4);
	m.p.config.offset = offsetof(struct virtio_blk_config, blk_size);
	m.p.config.size = 4;
	call_ok(&m, &r);
	assert_int_equal(r.hdr.size, VU_CONFIG_HDR + 4);
	assert_int_equal(*(uint32_t *)r.p.config.data, 512);
	vu_msg_init(&m, VU_GET_QUEUE_NUM, 0);
	call_ok(&m, &r);
	assert_int_equal(r.p.u64, 1);
	stop();

	/* 3 MiB + 512, 4 KiB sectors over 4 KiB... and four queues. */
	unlink(img);
	make_image((3 << 20) + 512);
	spawn("--sectorsize", "4096", "--queues", "4", "--nodelete", "--ro", NULL);
	f = get_features();
	assert_false(f & (1ull << VIRTIO_BLK_F_DISCARD));
	assert_true(f & (1ull << VIRTIO_BLK_F_RO));
	get_config(&c);
	assert_int_equal(c.capacity, 6145);
	assert_int_equal(c.blk_size, 4096);
	assert_int_equal(c.num_queues, 4);
	vu_msg_init(&m, VU_GET_QUEUE_NUM, 0);
	call_ok(&m, &r);
	assert_int_equal(r.p.u64, 4);
	stop();

	spawn("--sectorsize", "512/4096", NULL);
	get_config(&c);
	assert_int_equal(c.blk_size, 512);
	assert_int_equal(c.physical_block_exp, 3);
	assert_int_equal(c.min_io_size, 8);
	stop();
}

static void
test_write_read(void **state)
{
	uint8_t want[1024];

	(void)state;
	spawn(NULL);
	configure(1);
	pattern(want, sizeof(want), 1);
	memcpy(mem + DATA, want, sizeof(want));
	assert_int_equal(rw(VIRTIO_BLK_T_OUT, 7, DATA, 1024), VIRTIO_BLK_S_OK);
	file_has(7 * SECT, want, sizeof(want));
	assert_int_equal(rw(VIRTIO_BLK_T_IN, 7, RBUF, 1024), VIRTIO_BLK_S_OK);
	assert_memory_equal(mem + RBUF, want, sizeof(want));
	assert_int_equal(vq[0].used->ring[1].len, 1025);
	/* The last sector is in range. */
	assert_int_equal(rw(VIRTIO_BLK_T_OUT, 2047, DATA, 512), VIRTIO_BLK_S_OK);
	file_has(2047 * SECT, want, 512);
	/* The counters the core shows (hyvectl stats) saw them, whatever
	 * options this run added (no option may take --stats-fd's place). */
	assert_true(stats->requests >= 3);
	assert_true(stats->bytes >= 1024 + 1024 + 512);
	assert_true(stats->kicks >= 1);
	stop();
}

static void
test_multi_buffer(void **state)
{
	uint8_t want[2048];
	struct vring_desc *t = (void *)(mem + INDIR);
	struct seg s[6];
	uint32_t ulen;

	(void)state;
	spawn(NULL);
	configure(1);
	pattern(want, sizeof(want), 2);
	/* Header split 5 + 11, data in three buffers, status alone. */
	set_hdr(HDR, VIRTIO_BLK_T_OUT, 100);
	memcpy(mem + DATA, want, 512);
	memcpy(mem + DATA + 0x1000, want + 512, 1024);
	memcpy(mem + DATA + 0x3000, want + 1536, 512);
	s[0] = (struct seg){ HDR, 5, false };
	s[1] = (struct seg){ HDR + 5, 11, false };
	s[2] = (struct seg){ DATA, 512, false };
	s[3] = (struct seg){ DATA + 0x1000, 1024, false };
	s[4] = (struct seg){ DATA + 0x3000, 512, false };
	s[5] = (struct seg){ STATUS, 1, true };
	assert_int_equal(run(0, s, 6, &ulen), VIRTIO_BLK_S_OK);
	assert_int_equal(ulen, 1);
	file_has(100 * SECT, want, sizeof(want));

	/* Read back into 1000 bytes, then 1048 with the status after them. */
	set_hdr(HDR, VIRTIO_BLK_T_IN, 100);
	s[0] = (struct seg){ HDR, 16, false };
	s[1] = (struct seg){ RBUF, 1000, true };
	s[2] = (struct seg){ RBUF + 0x1000, 1049, true };
	assert_int_equal(run(0, s, 3, &ulen), VIRTIO_BLK_S_OK);
	assert_int_equal(ulen, 2049);
	assert_memory_equal(mem + RBUF, want, 1000);
	assert_memory_equal(mem + RBUF + 0x1000, want + 1000, 1048);

	/* The same read through an indirect table. */
	memset(mem + RBUF, 0, 0x3000);
	t[0] = (struct vring_desc){ HDR, 16, VRING_DESC_F_NEXT, 1 };
	t[1] = (struct vring_desc){ RBUF, 2048, VRING_DESC_F_WRITE |
	    VRING_DESC_F_NEXT, 2 };
	t[2] = (struct vring_desc){ STATUS, 1, VRING_DESC_F_WRITE, 0 };
	mem[STATUS] = 0xee;
	vq[0].desc[5] = (struct vring_desc){ INDIR, 3 * sizeof(*t),
	    VRING_DESC_F_INDIRECT, 0 };
	vq[0].avail->ring[vq[0].avail->idx % NUM] = 5;
	__atomic_store_n(&vq[0].avail->idx, vq[0].avail->idx + 1, __ATOMIC_RELEASE);
	kick_q(0);
	wait_used(0, 3);
	assert_int_equal(vq[0].used->ring[2].id, 5);
	assert_int_equal(mem[STATUS], VIRTIO_BLK_S_OK);
	assert_memory_equal(mem + RBUF, want, sizeof(want));
	stop();
}

static void
test_inflight(void **state)
{
	uint8_t want[4096];
	bool seen[32] = { false };

	(void)state;
	spawn(NULL);
	configure(1);
	for (int pass = 0; pass < 2; pass++) {
		uint32_t type = pass ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT;
		uint16_t base = vq[0].used->idx;

		for (int i = 0; i < 32; i++) {
			uint64_t buf = (pass ? RBUF : DATA) + i * 4096;
			struct seg s[3] = {
				{ HDR + 16 * i, 16, false },
				{ buf, 4096, pass == 1 },
				{ STATUS + i, 1, true },
			};

			if (!pass)
				pattern(mem + buf, 4096, 100 + i);
			set_hdr(HDR + 16 * i, type, 8 * i);
			mem[STATUS + i] = 0xee;
			post(0, 3 * i, s, 3);
		}
		kick_q(0);
		wait_used(0, base + 32);
		memset(seen, 0, sizeof(seen));
		for (int i = 0; i < 32; i++) {
			unsigned id = vq[0].used->ring[(base + i) % NUM].id;

			assert_true(id % 3 == 0 && id / 3 < 32);
			assert_false(seen[id / 3]);
			seen[id / 3] = true;
			assert_int_equal(mem[STATUS + id / 3], VIRTIO_BLK_S_OK);
		}
	}
	for (int i = 0; i < 32; i++) {
		pattern(want, sizeof(want), 100 + i);
		file_has(i * 4096ull, want, sizeof(want));
		assert_memory_equal(mem + RBUF + i * 4096, want, sizeof(want));
	}

	/* A reset with requests in flight drains them; the device goes on. */
	for (int i = 0; i < 32; i++) {
		struct seg s[3] = {
			{ HDR + 16 * i, 16, false },
			{ RBUF + i * 4096, 4096, true },
			{ STATUS + i, 1, true },
		};

		set_hdr(HDR + 16 * i, VIRTIO_BLK_T_IN, 8 * i);
		post(0, 3 * i, s, 3);
	}
	kick_q(0);
	{
		struct vu_msg m, r;

		vu_msg_init(&m, VU_RESET_DEVICE, 0);
		m.hdr.flags |= VU_FLAG_NEED_REPLY;
		call_ok(&m, &r);
		assert_int_equal(r.p.u64, 0);
	}
	configure(1);
	assert_int_equal(rw(VIRTIO_BLK_T_IN, 8, RBUF, 4096), VIRTIO_BLK_S_OK);
	pattern(want, sizeof(want), 101);
	assert_memory_equal(mem + RBUF, want, sizeof(want));
	stop();
}

static void
test_flush_id(void **state)
{
	char id[VIRTIO_BLK_ID_BYTES + 1] = { 0 }, id2[sizeof(id)] = { 0 };

	(void)state;
	spawn("--ser", "disk-serial-42", NULL);
	configure(1);
	assert_int_equal(rw(VIRTIO_BLK_T_FLUSH, 0, 0, 0), VIRTIO_BLK_S_OK);
	memset(mem + RBUF, 0xaa, 64);
	assert_int_equal(rw(VIRTIO_BLK_T_GET_ID, 0, RBUF, VIRTIO_BLK_ID_BYTES),
	    VIRTIO_BLK_S_OK);
	assert_memory_equal(mem + RBUF, "disk-serial-42\0\0\0\0\0\0", 20);
	assert_int_equal(mem[RBUF + 20], 0xaa);
	stop();

	/* The default id is derived from the file and stable. */
	for (int i = 0; i < 2; i++) {
		spawn(NULL);
		configure(1);
		assert_int_equal(rw(VIRTIO_BLK_T_GET_ID, 0, RBUF,
		    VIRTIO_BLK_ID_BYTES), VIRTIO_BLK_S_OK);
		memcpy(i ? id2 : id, mem + RBUF, VIRTIO_BLK_ID_BYTES);
		stop();
	}
	assert_true(strlen(id) > 4);
	assert_string_equal(id, id2);
}

static void
test_discard_zeroes(void **state)
{
	uint8_t want[4096], zero[4096] = { 0 };
	struct stat st0, st1;

	(void)state;
	spawn(NULL);
	configure(1);
	pattern(want, sizeof(want), 3);
	for (int i = 0; i < 3; i++) {
		memcpy(mem + DATA, want, sizeof(want));
		assert_int_equal(rw(VIRTIO_BLK_T_OUT, 64 + 8 * i, DATA, 4096),
		    VIRTIO_BLK_S_OK);
	}
	assert_int_equal(rw(VIRTIO_BLK_T_FLUSH, 0, 0, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(stat(img, &st0), 0);

	assert_int_equal(discard(VIRTIO_BLK_T_DISCARD, 64, 8, 0), VIRTIO_BLK_S_OK);
	memset(mem + RBUF, 0xaa, 4096);
	assert_int_equal(rw(VIRTIO_BLK_T_IN, 64, RBUF, 4096), VIRTIO_BLK_S_OK);
	assert_memory_equal(mem + RBUF, zero, 4096);
	file_has(64 * SECT, zero, 4096);
	assert_int_equal(stat(img, &st1), 0);
	assert_true(st1.st_blocks < st0.st_blocks);	/* a hole */
	assert_int_equal(st1.st_size, 1 << 20);

	assert_int_equal(discard(VIRTIO_BLK_T_WRITE_ZEROES, 72, 8, 0),
	    VIRTIO_BLK_S_OK);
	file_has(72 * SECT, zero, 4096);
	assert_int_equal(discard(VIRTIO_BLK_T_WRITE_ZEROES, 80, 8,
	    VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP), VIRTIO_BLK_S_OK);
	file_has(80 * SECT, zero, 4096);

	/* Bad segments. */
	assert_int_equal(discard(VIRTIO_BLK_T_DISCARD, 2040, 9, 0),
	    VIRTIO_BLK_S_IOERR);
	assert_int_equal(discard(VIRTIO_BLK_T_WRITE_ZEROES, UINT64_MAX - 2, 8, 0),
	    VIRTIO_BLK_S_IOERR);
	assert_int_equal(discard(VIRTIO_BLK_T_DISCARD, 0, 8,
	    VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(rw(VIRTIO_BLK_T_DISCARD, 0, DATA, 8), VIRTIO_BLK_S_IOERR);
	assert_int_equal(rw(VIRTIO_BLK_T_DISCARD, 0, DATA, 32), VIRTIO_BLK_S_IOERR);
	stop();

	spawn("--nodelete", NULL);
	configure(1);
	assert_int_equal(discard(VIRTIO_BLK_T_DISCARD, 0, 8, 0),
	    VIRTIO_BLK_S_UNSUPP);
	stop();
}

/* tmpfs has no FALLOC_FL_ZERO_RANGE: write-zeroes falls back to writes. */
static void
test_zeroes_fallback(void **state)
{
	uint8_t want[4096], zero[4096] = { 0 };
	int fd;

	(void)state;
	unlink(img);
	snprintf(img, sizeof(img), "/dev/shm/hyve-blk-test.XXXXXX");
	if ((fd = mkstemp(img)) < 0) {
		img[0] = '\0';
		skip();
	}
	pattern(want, sizeof(want), 9);
	for (int i = 0; i < 1024; i++)
		assert_int_equal(pwrite(fd, want, sizeof(want), i * 4096ull),
		    sizeof(want));
	close(fd);
	spawn(NULL);
	configure(1);
	/* 2.5 MiB from sector 8: three chunks of the fallback. */
	assert_int_equal(discard(VIRTIO_BLK_T_WRITE_ZEROES, 8, 5120, 0),
	    VIRTIO_BLK_S_OK);
	stop();
	file_has(0, want, 4096);
	for (uint64_t off = 4096; off < 4096 + (5120 * SECT); off += 4096)
		file_has(off, zero, 4096);
	file_has(4096 + 5120 * SECT, want, 4096);
}

static void
test_read_only(void **state)
{
	uint8_t zero[4096] = { 0 }, want[512];

	(void)state;
	spawn("--ro", NULL);
	configure(1);
	pattern(mem + DATA, 4096, 4);
	assert_int_equal(rw(VIRTIO_BLK_T_OUT, 0, DATA, 4096), VIRTIO_BLK_S_IOERR);
	assert_int_equal(discard(VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0),
	    VIRTIO_BLK_S_IOERR);
	assert_int_equal(discard(VIRTIO_BLK_T_DISCARD, 0, 8, 0),
	    VIRTIO_BLK_S_IOERR);
	assert_int_equal(rw(VIRTIO_BLK_T_IN, 0, RBUF, 4096), VIRTIO_BLK_S_OK);
	assert_int_equal(rw(VIRTIO_BLK_T_FLUSH, 0, 0, 0), VIRTIO_BLK_S_OK);
	stop();
	file_has(0, zero, sizeof(zero));

	/* A read-only disk fd makes the device read-only too. */
	{
		int fd = open(img, O_WRONLY);

		pattern(want, sizeof(want), 5);
		assert_int_equal(pwrite(fd, want, sizeof(want), 0), sizeof(want));
		close(fd);
	}
	dflags = O_RDONLY;
	spawn(NULL);
	assert_true(get_features() & (1ull << VIRTIO_BLK_F_RO));
	configure(1);
	assert_int_equal(rw(VIRTIO_BLK_T_IN, 0, RBUF, 512), VIRTIO_BLK_S_OK);
	assert_memory_equal(mem + RBUF, want, 512);
	assert_int_equal(rw(VIRTIO_BLK_T_OUT, 0, DATA, 512), VIRTIO_BLK_S_IOERR);
	stop();
	file_has(0, want, sizeof(want));
}

static void
test_bad_requests(void **state)
{
	struct seg s[3];
	uint32_t ulen;

	(void)state;
	spawn(NULL);
	configure(1);
	assert_int_equal(rw(VIRTIO_BLK_T_IN, 2048, RBUF, 512), VIRTIO_BLK_S_IOERR);
	assert_int_equal(rw(VIRTIO_BLK_T_OUT, 2048, DATA, 512), VIRTIO_BLK_S_IOERR);
	assert_int_equal(rw(VIRTIO_BLK_T_IN, 2047, RBUF, 1024), VIRTIO_BLK_S_IOERR);
	assert_int_equal(rw(VIRTIO_BLK_T_IN, UINT64_MAX, RBUF, 512),
	    VIRTIO_BLK_S_IOERR);
	/* sector * 512 would wrap to 0. */
	assert_int_equal(rw(VIRTIO_BLK_T_OUT, 1ull << 55, DATA, 512),
	    VIRTIO_BLK_S_IOERR);
	assert_int_equal(rw(VIRTIO_BLK_T_IN, UINT64_MAX - 1, RBUF, 1024),
	    VIRTIO_BLK_S_IOERR);
	assert_int_equal(rw(VIRTIO_BLK_T_IN, 0, RBUF, 100), VIRTIO_BLK_S_IOERR);
	assert_int_equal(rw(VIRTIO_BLK_T_OUT, 0, DATA, 513), VIRTIO_BLK_S_IOERR);
	assert_int_equal(rw(99, 0, RBUF, 512), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(rw(VIRTIO_BLK_T_SCSI_CMD, 0, RBUF, 512),
	    VIRTIO_BLK_S_UNSUPP);
	/* A header shorter than 16 bytes. */
	s[0] = (struct seg){ HDR, 8, false };
	s[1] = (struct seg){ STATUS, 1, true };
	assert_int_equal(run(0, s, 2, &ulen), VIRTIO_BLK_S_IOERR);
	assert_int_equal(ulen, 1);
	/* Still serving. */
	pattern(mem + DATA, 512, 6);
	assert_int_equal(rw(VIRTIO_BLK_T_OUT, 1, DATA, 512), VIRTIO_BLK_S_OK);
	file_has(SECT, mem + DATA, 512);
	stop();
}

static void
test_no_status(void **state)
{
	struct seg s[3];
	struct vu_msg m, r;

	(void)state;
	for (int v = 0; v < 2; v++) {
		spawn(NULL);
		configure(1);
		set_hdr(HDR, VIRTIO_BLK_T_IN, 0);
		s[0] = (struct seg){ HDR, 16, false };
		s[1] = (struct seg){ DATA, 512, false };
		s[2] = (struct seg){ STATUS, 1, false };
		/* v 0: the status byte is not writable; v 1: there is none. */
		post(0, 0, s, v ? 1 : 3);
		kick_q(0);
		assert_true(wait_err(0));
		assert_int_equal(vq[0].used->idx, 0);
		/* The backend survives and still answers. */
		vu_msg_init(&m, VU_GET_QUEUE_NUM, 0);
		call_ok(&m, &r);
		assert_int_equal(r.p.u64, 1);
		assert_int_equal(waitpid(pid, NULL, WNOHANG), 0);
		stop();
	}
}

static void
test_multiqueue_nocache(void **state)
{
	uint8_t want[1024];
	struct seg s[3];

	(void)state;
	spawn("--queues", "2", "--nocache", "--sync", "--name", "blk-t", NULL);
	configure(2);
	pattern(want, sizeof(want), 7);
	/* Unaligned guest buffers go through a bounce buffer. */
	memcpy(mem + DATA + 1, want, sizeof(want));
	set_hdr(HDR, VIRTIO_BLK_T_OUT, 9);
	s[0] = (struct seg){ HDR, 16, false };
	s[1] = (struct seg){ DATA + 1, 1024, false };
	s[2] = (struct seg){ STATUS, 1, true };
	assert_int_equal(run(1, s, 3, NULL), VIRTIO_BLK_S_OK);
	file_has(9 * SECT, want, sizeof(want));
	set_hdr(HDR, VIRTIO_BLK_T_IN, 9);
	s[1] = (struct seg){ RBUF + 3, 1024, true };
	assert_int_equal(run(0, s, 3, NULL), VIRTIO_BLK_S_OK);
	assert_memory_equal(mem + RBUF + 3, want, sizeof(want));
	/* Aligned buffers go straight to the disk. */
	assert_int_equal(rw(VIRTIO_BLK_T_IN, 9, RBUF + 0x1000, 1024),
	    VIRTIO_BLK_S_OK);
	assert_memory_equal(mem + RBUF + 0x1000, want, sizeof(want));
	stop();
}

/*
 * Two queues, a worker each: 32 writes on each at once, then reads back;
 * then queue 1 is stopped (GET_VRING_BASE) and queue 0 goes on alone.
 */
static void
test_two_queues(void **state)
{
	uint8_t want[4096];
	struct vu_msg m, r;

	(void)state;
	spawn("--queues", "2", NULL);
	configure(2);
	for (int pass = 0; pass < 2; pass++) {
		uint32_t type = pass ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT;

		for (int q = 0; q < 2; q++) {
			for (int i = 0; i < 16; i++) {
				int k = q * 16 + i;
				uint64_t buf = (pass ? RBUF : DATA) + k * 4096;
				struct seg s[3] = {
					{ HDR + 16 * k, 16, false },
					{ buf, 4096, pass == 1 },
					{ STATUS + k, 1, true },
				};

				if (!pass)
					pattern(mem + buf, 4096, 300 + k);
				set_hdr(HDR + 16 * k, type, 8 * k);
				mem[STATUS + k] = 0xee;
				post(q, 3 * i, s, 3);
			}
		}
		kick_q(0);
		kick_q(1);
		wait_used(0, 16 * (pass + 1));
		wait_used(1, 16 * (pass + 1));
		for (int k = 0; k < 32; k++)
			assert_int_equal(mem[STATUS + k], VIRTIO_BLK_S_OK);
	}
	for (int k = 0; k < 32; k++) {
		pattern(want, sizeof(want), 300 + k);
		file_has(k * 4096ull, want, sizeof(want));
		assert_memory_equal(mem + RBUF + k * 4096, want, sizeof(want));
	}
	/* Stopping queue 1 reports its base and leaves queue 0 running. */
	vu_msg_state(&m, VU_GET_VRING_BASE, 1, 0);
	call_ok(&m, &r);
	assert_int_equal(r.p.state.num, 32);
	assert_int_equal(rw(VIRTIO_BLK_T_IN, 8 * 5, RBUF, 4096),
	    VIRTIO_BLK_S_OK);
	pattern(want, sizeof(want), 305);
	assert_memory_equal(mem + RBUF, want, sizeof(want));
	stop();
}

/*
 * A restart with requests in flight on both queues: the first backend
 * took them (the inflight region says so) and died; the next one, given
 * the same region and rings, runs them, each queue its own.
 */
static void
test_two_queues_replay(void **state)
{
	uint8_t want[4096], *infl;
	size_t len = 2 * infl_stride();
	int st;

	(void)state;
	infl_fd = memfd_create("blk-infl", MFD_CLOEXEC);
	assert_true(infl_fd >= 0);
	assert_int_equal(ftruncate(infl_fd, len), 0);
	infl = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, infl_fd, 0);
	assert_true(infl != MAP_FAILED);
	spawn("--queues", "2", NULL);
	configure(2);
	/* Four writes per queue, made available but never kicked. */
	for (int q = 0; q < 2; q++) {
		uint8_t *iq = infl + q * infl_stride();

		assert_int_equal(*(uint16_t *)(iq + 8), 1);	/* version */
		for (int i = 0; i < 4; i++) {
			int k = q * 4 + i;
			struct seg s[3] = {
				{ HDR + 16 * k, 16, false },
				{ DATA + k * 4096, 4096, false },
				{ STATUS + k, 1, true },
			};

			pattern(mem + DATA + k * 4096, 4096, 500 + k);
			set_hdr(HDR + 16 * k, VIRTIO_BLK_T_OUT, 8 * k);
			mem[STATUS + k] = 0xee;
			post(q, 3 * i, s, 3);
			/* desc[head]: inflight, counter (what a backend marks) */
			iq[16 + 3 * i * 16] = 1;
			*(uint64_t *)(iq + 16 + 3 * i * 16 + 8) = k + 1;
		}
	}
	kill(pid, SIGKILL);
	st = reap(10);
	assert_true(st != -1 && WIFSIGNALED(st));
	close(sock);
	sock = -1;
	keep_mem = true;
	spawn("--queues", "2", NULL);
	configure(2);
	wait_used(0, 4);
	wait_used(1, 4);
	for (int k = 0; k < 8; k++) {
		assert_int_equal(mem[STATUS + k], VIRTIO_BLK_S_OK);
		pattern(want, sizeof(want), 500 + k);
		file_has(k * 4096ull, want, sizeof(want));
	}
	for (int q = 0; q < 2; q++)
		for (int i = 0; i < 4; i++)
			assert_int_equal(infl[q * infl_stride() + 16 + 3 * i * 16],
			    0);
	munmap(infl, len);
	stop();
	close(infl_fd);
	infl_fd = -1;
}

/* Standalone: --socket and --file; frontends one after another. */
static int
connect_sock(void)
{
	return vf_connect(sockpath);
}

static void
test_second_frontend(void **state)
{
	uint8_t want[512];
	struct vu_hdr h = { VU_SET_FEATURES, VU_VERSION, 4 };
	int st;

	(void)state;
	snprintf(sockpath, sizeof(sockpath), "%s.sock", img);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl(bin, bin, "--socket", sockpath, "--file", img, (char *)NULL);
		_exit(127);
	}
	assert_true((sock = connect_sock()) >= 0);
	configure(1);
	pattern(want, sizeof(want), 8);
	memcpy(mem + DATA, want, sizeof(want));
	assert_int_equal(rw(VIRTIO_BLK_T_OUT, 3, DATA, 512), VIRTIO_BLK_S_OK);
	close(sock);			/* the first frontend dies */

	/* One that sends garbage is dropped. */
	assert_true((sock = connect_sock()) >= 0);
	assert_int_equal(write(sock, &h, sizeof(h)), sizeof(h));
	assert_int_equal(write(sock, "abcd", 4), 4);
	assert_int_equal(read(sock, &h, sizeof(h)), 0);
	close(sock);

	assert_true((sock = connect_sock()) >= 0);
	configure(1);
	assert_int_equal(rw(VIRTIO_BLK_T_IN, 3, RBUF, 512), VIRTIO_BLK_S_OK);
	assert_memory_equal(mem + RBUF, want, sizeof(want));
	close(sock);
	sock = -1;
	assert_int_equal(waitpid(pid, &st, WNOHANG), 0);	/* still serving */
	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
	pid = -1;
}

/* Runs hyve-blk with args; returns its exit status, stderr in out. */
static int
run_bad(char *out, size_t outsz, const char *const *args)
{
	const char *argv[16] = { bin };
	int p[2], st, n = 1;
	ssize_t k, got = 0;

	for (; *args != NULL; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	assert_int_equal(pipe(p), 0);
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 2);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	while ((k = read(p[0], out + got, outsz - 1 - got)) > 0)
		got += k;
	out[got] = '\0';
	close(p[0]);
	st = reap(60);
	assert_true(st != -1 && WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void
test_bad_options(void **state)
{
	static const struct {
		int status;
		const char *names;
		const char *args[8];
	} cases[] = {
		{ 2, "--sectorsize", { "--fd", "0", "--disk-fd", "0",
		    "--sectorsize", "1000" } },
		{ 2, "--sectorsize", { "--fd", "0", "--disk-fd", "0",
		    "--sectorsize", "4096/512" } },
		{ 2, "--queues", { "--fd", "0", "--disk-fd", "1", "--queues",
		    "17" } },
		{ 2, "--ser", { "--fd", "0", "--disk-fd", "1", "--ser",
		    "123456789012345678901" } },
		{ 2, "usage", { "--fd", "0", "--bogus" } },
		{ 2, "--socket", { "--fd", "0", "--file", "x" } },
		{ 1, "/nonexistent/disk.img", { "--socket", "/tmp/hyve-blk-x.sock",
		    "--file", "/nonexistent/disk.img" } },
		{ 1, "--disk-fd 77", { "--fd", "0", "--disk-fd", "77" } },
		{ 2, "--defer-taskrun", { "--fd", "0", "--disk-fd", "1",
		    "--queues", "2", "--defer-taskrun" } },
	};
	char out[4096];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int st = run_bad(out, sizeof(out), cases[i].args);

		if (st != cases[i].status || strstr(out, cases[i].names) == NULL)
			fail_msg("case %zu: exit %d, stderr: %s", i, st, out);
	}
}

/* The same requests done in hyve-blk's thread instead of io_uring, and
 * with hyve-blk polling the rings before it sleeps. */
#define INLINE(t) static void t##_inline(void **state) \
	{ xopt = "--inline-io"; xval = "on"; t(state); }
#define POLL(t) static void t##_poll(void **state) \
	{ xopt = "--poll-us"; xval = "200"; t(state); }
INLINE(test_write_read)
INLINE(test_multi_buffer)
INLINE(test_inflight)
INLINE(test_zeroes_fallback)
INLINE(test_multiqueue_nocache)
INLINE(test_two_queues)
INLINE(test_two_queues_replay)
/* The disk as a registered file and completions deferred to the thread
 * (two flags: xval is the second). */
#define URING(t) static void t##_uring(void **state) \
	{ xopt = "--fixed-file"; xval = "--defer-taskrun"; t(state); }
URING(test_write_read)
URING(test_multi_buffer)
URING(test_inflight)
URING(test_flush_id)
URING(test_discard_zeroes)
POLL(test_write_read)
POLL(test_inflight)
POLL(test_multiqueue_nocache)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_features_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multi_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inflight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discard_zeroes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zeroes_fallback, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_read_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multiqueue_nocache, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_second_frontend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_queues, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_queues_replay, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_write_read_inline, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_multi_buffer_inline, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_inflight_inline, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_zeroes_fallback_inline, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_multiqueue_nocache_inline,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_queues_inline, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_two_queues_replay_inline,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_read_poll, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_inflight_poll, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_multiqueue_nocache_poll,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_read_uring, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_multi_buffer_uring, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_inflight_uring, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_flush_id_uring, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_discard_zeroes_uring, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
	};

	if (!find_binary()) {
		fprintf(stderr, "test_blk: hyve-blk not found next to the test "
		    "binary; run make build/hyve-blk (or set HYVE_BLK)\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
