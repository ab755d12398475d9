/*
 * Surface 1: the backend's split-virtqueue walker and guest-memory
 * translation, as a hostile guest (and, for the table, frontend) sees them.
 *
 * Input: a flags byte, an optional memory table, the queue size and ring
 * addresses, then the guest memory image (desc tables, rings, buffers).
 * Every buffer vring_pop hands out must lie inside one mapped region.
 */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backends/guestmem.h"
#include "backends/vring.h"
#include "ipc/virtq.h"
#include "tests/fuzz/fuzz.h"

#define MEMSZ	(64u << 10)
#define UVA	0x7f0000000000ull
#define GPA2	0x100000ull

static int memfd = -1;
static uint8_t *mem;
static struct iovec iov[512];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	memfd = memfd_create("fuzz-ring", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, MEMSZ) < 0)
		abort();
	mem = mmap(NULL, MEMSZ, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (mem == MAP_FAILED)
		abort();
	return 0;
}

/* The default table: two halves of the memfd, at gpa 0 and GPA2. */
static void
default_table(struct vu_memtable *t)
{
	t->nregions = 2;
	t->regions[0] = (struct vu_region){ 0, MEMSZ / 2, UVA, 0 };
	t->regions[1] = (struct vu_region){ GPA2, MEMSZ / 2, UVA + GPA2, MEMSZ / 2 };
}

static void
fuzz_table(struct fz *f, struct vu_memtable *t)
{
	t->nregions = fz_u8(f) % 5;
	for (unsigned i = 0; i < t->nregions; i++) {
		t->regions[i].gpa = fz_u64(f);
		t->regions[i].size = fz_u32(f);
		t->regions[i].uaddr = fz_u64(f);
		t->regions[i].mmap_offset = fz_u32(f);
	}
}

/* Every buffer is wholly inside one region of the table. */
static void
check_iov(const struct gmem *gm, const struct vring_req *req)
{
	uint64_t out = 0, in = 0;

	for (unsigned k = 0; k < req->nout + req->nin; k++) {
		const uint8_t *b = req->iov[k].iov_base;
		size_t len = req->iov[k].iov_len;
		bool ok = false;

		for (unsigned i = 0; i < gm->n; i++) {
			const struct gmem_region *r = &gm->r[i];

			if (b >= r->host && len <= r->size &&
			    (uint64_t)(b - r->host) <= r->size - len)
				ok = true;
		}
		FZ_CHECK(ok);
		FZ_CHECK(len > 0);
		if (k < req->nout)
			out += len;
		else
			in += len;
	}
	FZ_CHECK(out == req->out_len && in == req->in_len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct vu_memtable t;
	struct vring_queue vq;
	struct vring_req req;
	struct gmem gm;
	uint64_t features = 0;
	unsigned flags, iovmax;
	int fds[VU_MAX_REGIONS];
	int rc;

	flags = fz_u8(&f);
	memset(&t, 0, sizeof(t));
	if (flags & 0x10)
		fuzz_table(&f, &t);
	else
		default_table(&t);
	if (flags & 1)
		features |= 1ull << VIRTIO_RING_F_EVENT_IDX;
	if (flags & 2)
		features |= 1ull << VIRTIO_RING_F_INDIRECT_DESC;
	gmem_init(&gm);
	for (unsigned i = 0; i < VU_MAX_REGIONS; i++)
		fds[i] = memfd;
	if (gmem_set_table(&gm, &t, fds) < 0)
		return 0;

	vring_queue_init(&vq, 0);
	vq.num = 1u << (fz_u8(&f) % 16);
	if (flags & 0x20) {
		vq.addr.desc_user_addr = fz_u64(&f);
		vq.addr.avail_user_addr = fz_u64(&f);
		vq.addr.used_user_addr = fz_u64(&f);
	} else {
		vq.addr.desc_user_addr = UVA + fz_u16(&f);
		vq.addr.avail_user_addr = UVA + fz_u16(&f);
		vq.addr.used_user_addr = UVA + fz_u16(&f);
	}
	vq.addr_set = true;
	iovmax = 1 + fz_u16(&f) % (sizeof(iov) / sizeof(iov[0]));
	vq.last_avail = fz_u16(&f);

	/* The rest is guest memory. */
	memset(mem, 0, MEMSZ);
	fz_take(&f, mem, MEMSZ);

	if (vring_map(&vq, &gm, features) < 0)
		goto out;
	vq.started = true;
	vq.enabled = true;
	for (unsigned n = 0; n < 2 * vq.num + 2; n++) {
		rc = vring_pop(&vq, &gm, &req, iov, iovmax);
		if (rc <= 0) {
			FZ_CHECK(rc == 0 || vq.broken);
			break;
		}
		FZ_CHECK(req.head < vq.num);
		FZ_CHECK(req.nout + req.nin <= iovmax);
		check_iov(&gm, &req);
		vring_push(&vq, &req, req.in_len);
		if (n & 1)
			vring_flush(&vq);
	}
	vring_flush(&vq);
	vring_enable_notify(&vq);
	/* The used ring the device wrote stays inside the table. */
	FZ_CHECK(gmem_uva(&gm, vq.addr.used_user_addr,
	    virtq_used_size(vq.num)) == vq.used);
out:
	vring_reset(&vq);
	gmem_free(&gm);
	return 0;
}
