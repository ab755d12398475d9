/*
 * vu_record: sits between a vhost-user frontend and a backend, passes
 * every message and fd through unchanged, and writes both sides of the
 * conversation as fuzz seeds:
 *   FRONT_OUT, what the frontend sent, as fuzz_vu_server reads its input
 *     (an empty memory image, then the messages);
 *   BACK_OUT, what the backend answered, as fuzz_vu_frontend reads it
 *     (the four control bytes, then the replies).
 * The message layout is the one fuzz_vu.h writes: u8 request, u8 flags,
 * u8 fd count, u8 fd kinds (2 bits each: memfd 0, eventfd 1, other 3),
 * u16 payload size, the payload.
 *
 * With RINGS, each ring the frontend stops (GET_VRING_BASE) is written to
 * RINGS-qN as the guest left it, for tests/fuzz/ring_seed.py: u64
 * features, u16 size, the descriptor table, the avail ring, then for
 * each descriptor its buffer (u32 length, at most 4 KiB of bytes),
 * followed, for an indirect one, by the buffers of its table's entries.
 *
 * usage: vu_record LISTEN BACKEND FRONT_OUT BACK_OUT [RINGS]
 * It listens on LISTEN, takes one connection, connects to BACKEND, and
 * returns when either side hangs up.  Used by tests/fuzz/record.sh.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/virtio_ring.h>

#include "backends/runtime.h"
#include "core/backend.h"
#include "ipc/vhost_user.h"

#define NRINGS	16
#define BUFMAX	4096u

struct side {
	int fd;
	FILE *out;
	bool frontend;
};

/* Takes one connection on path, then stops listening. */
static int
accept_one(const char *path)
{
	int l, c;

	if ((l = vu_listen(path)) < 0)
		return -1;
	c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		fprintf(stderr, "vu_record: accept on %s: %s\n", path,
		    strerror(errno));
	close(l);
	unlink(path);
	return c;
}

/* What the frontend told the backend about guest memory and rings. */
static struct {
	struct vu_region r;
	uint8_t *map;
	size_t len;
} mem[VU_MAX_REGIONS];
static unsigned nmem;
static struct {
	unsigned num;
	uint64_t desc, avail;
} ring[NRINGS];
static uint64_t features;
static const char *rings_out;

static void
map_table(const struct vu_memtable *t, const int *fds, int nfds)
{
	for (unsigned i = 0; i < nmem; i++)
		munmap(mem[i].map, mem[i].len);
	nmem = 0;
	for (unsigned i = 0; i < t->nregions && i < VU_MAX_REGIONS &&
	    (int)i < nfds; i++) {
		size_t len = t->regions[i].mmap_offset + t->regions[i].size;
		void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fds[i], 0);

		if (p == MAP_FAILED)
			continue;
		mem[nmem].r = t->regions[i];
		mem[nmem].map = p;
		mem[nmem].len = len;
		nmem++;
	}
}

/* Guest address (or the frontend's, with uva) to a pointer, or NULL. */
static const uint8_t *
xlate(uint64_t a, uint64_t len, bool uva)
{
	for (unsigned i = 0; i < nmem; i++) {
		uint64_t base = uva ? mem[i].r.uaddr : mem[i].r.gpa;

		if (a >= base && len <= mem[i].r.size &&
		    a - base <= mem[i].r.size - len)
			return mem[i].map + mem[i].r.mmap_offset + (a - base);
	}
	return NULL;
}

static void
put_buf(FILE *f, uint64_t gpa, uint32_t len)
{
	uint32_t n = len < BUFMAX ? len : BUFMAX;
	const uint8_t *p = xlate(gpa, n, false);

	if (p == NULL)
		n = 0;
	fwrite(&n, sizeof(n), 1, f);
	fwrite(p, 1, n, f);
}

static void
dump_ring(unsigned q)
{
	char path[4096];
	unsigned num = ring[q].num;
	const struct vring_desc *d = (const void *)xlate(ring[q].desc,
	    16ull * num, true);
	const uint8_t *avail = xlate(ring[q].avail, 6 + 2ull * num, true);
	uint16_t n16 = num;
	FILE *f;

	if (d == NULL || avail == NULL || num == 0 || num > 32768)
		return;
	snprintf(path, sizeof(path), "%s-q%u", rings_out, q);
	if ((f = fopen(path, "wb")) == NULL) {
		fprintf(stderr, "vu_record: %s: %s\n", path, strerror(errno));
		return;
	}
	fwrite(&features, sizeof(features), 1, f);
	fwrite(&n16, sizeof(n16), 1, f);
	fwrite(d, 16, num, f);
	fwrite(avail, 1, 6 + 2 * num, f);
	for (unsigned i = 0; i < num; i++) {
		put_buf(f, d[i].addr, d[i].len);
		if (!(d[i].flags & VRING_DESC_F_INDIRECT))
			continue;
		const struct vring_desc *t = (const void *)xlate(d[i].addr,
		    d[i].len, false);
		for (unsigned k = 0; t != NULL && k < d[i].len / 16 &&
		    k < BUFMAX / 16; k++)
			put_buf(f, t[k].addr, t[k].len);
	}
	fclose(f);
}

/* Follows the frontend's messages that say where the rings are. */
static void
note(const struct vu_msg *m)
{
	const union vu_payload *p = &m->p;

	switch (m->hdr.request) {
	case VU_SET_FEATURES:
		features = p->u64;
		break;
	case VU_SET_MEM_TABLE:
		map_table(&p->mem, m->fds, m->nfds);
		break;
	case VU_SET_VRING_NUM:
		if (p->state.index < NRINGS)
			ring[p->state.index].num = p->state.num;
		break;
	case VU_SET_VRING_ADDR:
		if (p->addr.index < NRINGS) {
			ring[p->addr.index].desc = p->addr.desc_user_addr;
			ring[p->addr.index].avail = p->addr.avail_user_addr;
		}
		break;
	case VU_GET_VRING_BASE:
		if (p->state.index < NRINGS)
			dump_ring(p->state.index);
		break;
	}
}

/* The kind fuzz_vu.h would make for this fd. */
static unsigned
fd_kind(int fd)
{
	char link[64], target[128];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((n = readlink(link, target, sizeof(target) - 1)) < 0)
		return 3;
	target[n] = '\0';
	if (strncmp(target, "/memfd:", 7) == 0 ||
	    strcmp(target, "/hyve-ram (deleted)") == 0)
		return 0;
	if (strcmp(target, "anon_inode:[eventfd]") == 0)
		return 1;
	return 3;
}

/* One message from `from` to `to`, recorded in from's seed. */
static int
relay(struct side *from, struct side *to)
{
	struct vu_msg m;
	unsigned kinds = 0;
	int rc;

	memset(&m, 0, sizeof(m));
	if ((rc = vu_recv(from->fd, &m)) < 0)
		return rc;
	for (int i = 0; i < m.nfds && i < 4; i++)
		kinds |= fd_kind(m.fds[i]) << (2 * i);
	fprintf(from->out, "%c%c%c%c%c%c", m.hdr.request & 0xff,
	    m.hdr.flags & 0xff, m.nfds, kinds, m.hdr.size & 0xff,
	    m.hdr.size >> 8);
	fwrite(&m.p, 1, m.hdr.size, from->out);
	if (rings_out != NULL && from->frontend)
		note(&m);
	rc = vu_send(to->fd, &m);
	vu_msg_close_fds(&m);
	return rc;
}

int
main(int argc, char **argv)
{
	struct side s[2];
	struct pollfd p[2];

	if (argc != 5 && argc != 6) {
		fprintf(stderr, "usage: vu_record LISTEN BACKEND FRONT_OUT "
		    "BACK_OUT [RINGS]\n");
		return 2;
	}
	rings_out = argc == 6 ? argv[5] : NULL;
	s[0] = (struct side){ -1, fopen(argv[3], "wb"), true };
	s[1] = (struct side){ -1, fopen(argv[4], "wb"), false };
	if (s[0].out == NULL || s[1].out == NULL) {
		fprintf(stderr, "vu_record: cannot write %s or %s: %s\n", argv[3],
		    argv[4], strerror(errno));
		return 1;
	}
	/* fuzz_vu_server: no memory image; fuzz_vu_frontend: open only. */
	fwrite("\0\0", 1, 2, s[0].out);
	fwrite("\0\0\0\0", 1, 4, s[1].out);
	if ((s[0].fd = accept_one(argv[1])) < 0 ||
	    (s[1].fd = backend_connect(argv[2])) < 0)
		return 1;
	for (;;) {
		p[0] = (struct pollfd){ s[0].fd, POLLIN, 0 };
		p[1] = (struct pollfd){ s[1].fd, POLLIN, 0 };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if ((p[0].revents && relay(&s[0], &s[1]) < 0) ||
		    (p[1].revents && relay(&s[1], &s[0]) < 0))
			break;
	}
	if (fclose(s[0].out) != 0 || fclose(s[1].out) != 0) {
		fprintf(stderr, "vu_record: writing the seeds: %s\n",
		    strerror(errno));
		return 1;
	}
	return 0;
}
