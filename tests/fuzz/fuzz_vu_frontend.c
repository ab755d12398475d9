/*
 * Surface 3: the core's vhost-user frontend, answered by a hostile or
 * compromised backend.  The input is the backend's side of the
 * conversation (see fuzz_vu.h), written into the socket before the core
 * asks anything; the core then runs the handshake and, if that succeeds,
 * reads config, sets features and the memory table, starts and stops a
 * ring and resets the device.  The core must reject what does not match,
 * copy no more than it asked for, and leak no fd the backend sent.  An
 * answer can carry fds of odd kinds and sizes (fuzz_vu.h's operations):
 * the inflight fd the core keeps is handed to every later backend of the
 * device, so the core must take only a file that backend can map, and
 * keep it when the backend shrinks it afterwards.
 *
 * Input: u8 which calls to make, u8 config offset, u8 config length,
 * u8 ring index (bit 7: config length + 256; bit 6: shrink the odd fd to
 * nothing once the core took the inflight fd), then the replies.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/layout.h"
#include "core/vm.h"
#include "core/vu_frontend.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_vu.h"

static struct vm vm;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (vm_create_nokvm(&vm, "fuzz", MB(2)) < 0)
		abort();
	return 0;
}

/* What a later backend needs of the inflight fd to map it. */
static bool
mappable(const struct vuf_inflight *in)
{
	struct stat st;
	int fl = fcntl(in->fd, F_GETFL), seals = fcntl(in->fd, F_GET_SEALS);

	return fstat(in->fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (fl & O_ACCMODE) == O_RDWR &&
	    (seals < 0 || !(seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))) &&
	    in->offset <= (uint64_t)st.st_size &&
	    in->size <= (uint64_t)st.st_size - in->offset;
}

static void
calls(struct vu_front *f, unsigned ops, unsigned off, unsigned len,
    unsigned idx, bool shrink, const struct fz_fds *k)
{
	uint8_t cfg[VU_MAX_CONFIG + 16];
	struct vuf_ring r = {
		.num = 64, .desc = 0x1000, .avail = 0x2000, .used = 0x3000,
		.base = 7, .kick = -1, .call = -1, .err = -1,
	};
	uint16_t base;

	if (ops & 1) {
		memset(cfg, 0x5a, sizeof(cfg));
		if (vuf_get_config(f, off, cfg, len) == 0)
			FZ_CHECK(len <= VU_MAX_CONFIG && off + len <= VU_MAX_CONFIG);
		/* Nothing past what was asked for was written. */
		for (unsigned i = len; i < sizeof(cfg); i++)
			FZ_CHECK(cfg[i] == 0x5a);
	}
	if (ops & 2)
		vuf_set_features(f, ~0ull);
	if (ops & 4)
		vuf_set_mem_table(f, &vm);
	if (ops & 8) {
		r.kick = eventfd(0, EFD_CLOEXEC);
		r.call = eventfd(0, EFD_CLOEXEC);
		r.err = eventfd(0, EFD_CLOEXEC);
		vuf_ring_start(f, &vm, idx, &r);
		close(r.kick);
		close(r.call);
		close(r.err);
	}
	if (ops & 16) {
		base = 0xbeef;
		if (vuf_ring_stop(f, idx, &base) < 0)
			FZ_CHECK(base == 0xbeef);
	}
	if (ops & 32)
		vuf_set_call(f, idx, -1);
	if (ops & 64)
		vuf_reset(f);
	if (ops & 128) {
		struct vuf_inflight in;

		if (vuf_get_inflight(f, 2, 64, &in) == 0) {
			FZ_CHECK(in.fd >= 0 && in.nqueues == 2 && in.qsize == 64);
			FZ_CHECK(mappable(&in));
			if (shrink && k->odd >= 0)
				(void)!ftruncate(k->odd, 0);
			vuf_set_inflight(f, &in);
			close(in.fd);
		}
		vuf_ping(f);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct vu_front vf;
	struct fz_fds k = { vm.mem_fd, -1, -1, NULL, 0 };
	unsigned ops, off, len, idx;
	bool shrink;
	int sv[2], nfd0 = fz_nfds();

	ops = fz_u8(&f);
	off = fz_u8(&f);
	len = fz_u8(&f);
	idx = fz_u8(&f);
	if (idx & 0x80)
		len += 256;
	shrink = idx & 0x40;
	idx %= VU_MAX_QUEUES;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	while (f.n > 0 && fz_put_msg(sv[0], &f, &k) >= 0)
		;
	shutdown(sv[0], SHUT_WR);
	vuf_check_unasked = false;	/* every answer is there in advance */

	if (vuf_open(&vf, sv[1], "fuzz") == 0) {
		FZ_CHECK(vf.nqueues <= VU_MAX_QUEUES);
		calls(&vf, ops, off, len, idx, shrink, &k);
	}
	vuf_close(&vf);
	fz_fds_close(&k);
	close(sv[0]);
	FZ_CHECK(fz_nfds() == nfd0);
	return 0;
}
