/*
 * Surface 4: each backend's request parsing, with the real device code:
 * virtio-blk request headers and segment lists (against a memfd disk,
 * through io_uring), virtio-net tx headers (GSO and checksum fields) and
 * rx delivery, virtio-rng requests, virtio-vsock packets (tx: every op on
 * an open connection and on none; rx: data and control packets; event).
 *
 * Input: u8 device (blk, net, rnd), u8 device flags, u8 ring flags (event
 * index, indirect), u8 queue size (log2), u16 first avail index, for net
 * u8 frame count and (u16 length, bytes) per frame the tap delivers, for
 * vsock u16 host port, u16 guest port, u16 the guest's buf_alloc, u16 length
 * and the bytes the host has sent, then the guest memory image: queue q at
 * q * 0x2000 (desc), + 0x800 (avail), + 0x1000 (used), buffers anywhere in
 * 64 KiB.
 */
#include <errno.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/virtio_net.h>

#include "backends/blk/blk.h"
#include "backends/runtime.h"
#include "backends/vsock/vsock.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/shims.h"

#define MEMSZ	(64u << 10)
#define UVA	0x7f0000000000ull
#define DISK	(1u << 20)

enum { DEV_BLK, DEV_NET, DEV_RND, DEV_VSOCK, NDEV };

static int memfd = -1, tap[2];
static uint8_t *mem;
static struct vu_dev dev[NDEV];
static struct blk blk;
static struct vu_backend netbe;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static void
dev_init(struct vu_dev *d, const struct vu_backend *be, void *priv)
{
	struct vu_memtable t = { .nregions = 1 };
	int fds[1] = { memfd };

	t.regions[0] = (struct vu_region){ 0, MEMSZ, UVA, 0 };
	if (vu_dev_init(d, be, priv) < 0 || gmem_set_table(&d->mem, &t, fds) < 0)
		abort();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const struct vu_backend *rbe;
	void *p;

	(void)argc;
	(void)argv;
	memfd = memfd_create("fuzz-guest", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, MEMSZ) < 0)
		abort();
	mem = mmap(NULL, MEMSZ, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (mem == MAP_FAILED)
		abort();

	blk.fd = memfd_create("fuzz-disk", MFD_CLOEXEC);
	if (blk.fd < 0 || ftruncate(blk.fd, DISK) < 0)
		abort();
	blk.sectors = DISK / 512;
	blk.blk_size = 512;
	blk.phys_size = 4096;
	blk.align = 512;
	blk.nqueues = 1;
	memcpy(blk.serial, "fuzz-serial", 11);
	if (blk_init(&blk) < 0)
		abort();
	dev_init(&dev[DEV_BLK], &blk.be, &blk);
	if (blk_attach(&blk, &dev[DEV_BLK]) < 0)
		abort();

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0, tap) < 0)
		abort();
	p = fznet_init(tap[0], &netbe);
	dev_init(&dev[DEV_NET], &netbe, p);

	p = fzrnd_init(&rbe);
	dev_init(&dev[DEV_RND], rbe, p);

	dev_init(&dev[DEV_VSOCK], &vsock_backend, fzvsock_init());
	if (fzvsock_attach(&dev[DEV_VSOCK]) < 0)
		abort();
	return 0;
}

static void
ring(struct vu_dev *d, unsigned q, unsigned num, uint16_t base)
{
	struct vring_queue *vq = &d->vq[q];
	uint64_t at = UVA + q * 0x2000;

	vring_queue_init(vq, q);
	vq->num = num;
	vq->addr.desc_user_addr = at;
	vq->addr.avail_user_addr = at + 0x800;
	vq->addr.used_user_addr = at + 0x1000;
	vq->addr_set = true;
	if (vring_map(vq, &d->mem, d->features) < 0)
		abort();
	vq->last_avail = base;
	vq->started = true;
	vq->enabled = true;
}

/* Frames the tap hands to the guest. */
static void
tap_frames(struct fz *f)
{
	uint8_t buf[2048];
	unsigned n = fz_u8(f) % 8;

	for (unsigned i = 0; i < n; i++) {
		size_t len = fz_take(f, buf, fz_u16(f) % sizeof(buf));

		if (send(tap[1], buf, len, MSG_DONTWAIT) < 0)
			break;
	}
}

static void
drain_tap(void)
{
	uint8_t buf[2048];

	while (recv(tap[0], buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		;
	while (recv(tap[1], buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	unsigned which, dflags, rflags, num;
	struct vu_dev *d;
	uint16_t base;

	which = fz_u8(&f) % NDEV;
	dflags = fz_u8(&f);
	rflags = fz_u8(&f);
	num = 1u << (fz_u8(&f) % 8);
	base = fz_u16(&f);
	d = &dev[which];
	d->features = 1ull << VIRTIO_F_VERSION_1;
	if (rflags & 1)
		d->features |= 1ull << VIRTIO_RING_F_EVENT_IDX;
	if (rflags & 2)
		d->features |= 1ull << VIRTIO_RING_F_INDIRECT_DESC;
	if (which == DEV_NET) {
		/* Device feature bits as the frontend negotiated them. */
		d->features |= ((uint64_t)dflags << 0 | (uint64_t)rflags << 8) &
		    netbe.features;
		tap_frames(&f);
	}
	if (which == DEV_VSOCK) {
		uint8_t buf[4096];
		uint32_t hp = fz_u16(&f), gp = fz_u16(&f), ba = fz_u16(&f);
		size_t n = fz_take(&f, buf, fz_u16(&f) % sizeof(buf));

		fzvsock_open(hp, gp, ba, buf, n);
	}
	memset(mem, 0, MEMSZ);
	fz_take(&f, mem, MEMSZ);

	switch (which) {
	case DEV_BLK:
		blk.ro = dflags & 1;
		blk.nodelete = dflags & 2;
		ring(d, 0, num, base);
		d->be->kick(d, &d->vq[0]);
		d->be->drain(d, &d->vq[0]);
		FZ_CHECK(blk.q[0].inflight == 0);
		break;
	case DEV_NET:
		ring(d, 0, num, base);
		ring(d, 1, num, base);
		d->be->kick(d, &d->vq[1]);
		fznet_rx(d);
		d->be->reset(d);
		drain_tap();
		break;
	case DEV_RND:
		fzrnd_rate(dflags & 1 ? (uint64_t)dflags << 4 : 0);
		ring(d, 0, num, base);
		d->be->kick(d, &d->vq[0]);
		d->be->reset(d);
		break;
	case DEV_VSOCK:
		for (unsigned q = 0; q < 3; q++)
			ring(d, q, num, base);
		d->be->kick(d, &d->vq[1]);
		d->watch[0].cb(d, d->watch[0].arg);	/* the host's data */
		d->be->kick(d, &d->vq[0]);
		d->be->kick(d, &d->vq[2]);
		d->be->reset(d);
		fzvsock_close();
		break;
	}
	for (unsigned q = 0; q < d->be->nqueues; q++)
		vring_reset(&d->vq[q]);
	return 0;
}
