/*
 * Surface 2: the backend's vhost-user message handling, fed by a hostile
 * frontend: any message sequence, with any number and kind of fds, and
 * files that change size under the backend's mappings.
 *
 * Input: u16 length and the guest memory image, then messages and
 * operations as fuzz_vu.h reads them.  The image is written at the start
 * of a 128 MiB guest-memory file (the rest reads as zeros), so that memory
 * tables recorded from a real VM (tests/fuzz/record.sh) fit it; a new odd
 * memfd starts with the image too.  Each message goes through a socketpair
 * to vu_handle() as a frontend would write it, and after each message or
 * operation the rings run, as a kick would make them: over memory the
 * frontend may just have shrunk.  A shrink the backend runs into ends the
 * connection, as in vu_serve().  Afterwards no fd and no SIGBUS guard may
 * be left, and the backend's own inflight memfd must have kept its size:
 * what one frontend does must not reach the next.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/runtime.h"
#include "tests/fuzz/fake_backend.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_vu.h"

#define IMGSZ	(64u << 10)
#define MEMFILE	(128u << 20)

static int memfd = -1;
static int nguards;
static struct vu_dev dev;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* How many SIGBUS guards can be taken, up to max. */
static int
guards_free(int max)
{
	static char c;
	int g[128], n = 0;

	while (n < max && n < 128 && (g[n] = gmem_guard(&c, 1)) > 0)
		n++;
	for (int i = 0; i < n; i++)
		gmem_unguard(g[i]);
	return n;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	memfd = memfd_create("fuzz-guest", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, MEMFILE) < 0)
		abort();
	if (vu_dev_init(&dev, &fake_backend, NULL) < 0)
		abort();
	nguards = guards_free(128);
	return 0;
}

static void
kick_all(void)
{
	for (unsigned q = 0; q < fake_backend.nqueues; q++)
		if (vring_ready(&dev.vq[q]))
			vu_run_queue(&dev, &dev.vq[q]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	uint8_t img[IMGSZ];
	struct fz_fds k = { memfd, -1, -1, img, 0 };
	struct stat st;
	int sv[2], nfd0 = fz_nfds();

	k.ilen = fz_take(&f, img, fz_u16(&f));
	/* Nothing an earlier input wrote or cut off may show through. */
	if (ftruncate(memfd, MEMFILE) < 0 || pwrite(memfd, img, k.ilen, 0) < 0 ||
	    fallocate(memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	    k.ilen, MEMFILE - k.ilen) < 0)
		abort();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	dev.cfd = sv[1];
	while (f.n > 0) {
		int sent = fz_put_msg(sv[0], &f, &k);

		if (sent < 0)
			break;
		/* A message cut off by the end of the input ends the stream. */
		if (f.n == 0)
			shutdown(sv[0], SHUT_WR);
		if (sent > 0 && vu_handle(&dev) < 0)
			break;
		fz_drain(sv[0], &k);
		kick_all();
		if (gmem_lost(&dev.mem) || gmem_guard_lost(dev.infl_guard))
			break;
	}
	vu_disconnect(&dev);
	FZ_CHECK(dev.cfd == -1 && dev.mem.n == 0);
	FZ_CHECK(fstat(dev.infl_fd, &st) == 0 &&
	    (uint64_t)st.st_size == dev.infl_cap);
	FZ_CHECK(guards_free(nguards) == nguards);
	fz_fds_close(&k);
	close(sv[0]);
	FZ_CHECK(fz_nfds() == nfd0);
	return 0;
}
