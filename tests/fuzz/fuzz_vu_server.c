/*
 * Surface 2: the backend's vhost-user message handling, fed by a hostile
 * frontend: any message sequence, with any number and kind of fds.
 *
 * Input: u16 length and the guest memory image, then messages, each
 *   u8 request, u8 header flags, u8 fd count, u8 fd kinds (2 bits per fd:
 *   memfd of guest memory, eventfd, eventfd, pipe), u16 payload size as the
 *   header claims it, then up to that many payload bytes.
 * The image is written at the start of a 128 MiB guest-memory file (the
 * rest reads as zeros), so that memory tables recorded from a real VM
 * (tests/fuzz/record.sh) fit it.  The bytes go through a socketpair to
 * vu_handle() as a frontend would write them.  Afterwards no fd may be
 * left open: a frontend must not be able to exhaust the backend's
 * descriptors.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends/runtime.h"
#include "tests/fuzz/fake_backend.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_vu.h"

#define IMGSZ	(64u << 10)
#define MEMFILE	(128u << 20)

static int memfd = -1;
static struct vu_dev dev;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

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
	return 0;
}

/* Reads and drops whatever the backend answered. */
static void
drain(int s)
{
	char buf[4096];

	while (recv(s, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	uint8_t img[IMGSZ];
	size_t ilen;
	int sv[2], nfd0 = fz_nfds();

	ilen = fz_take(&f, img, fz_u16(&f));
	/* Nothing an earlier input wrote may show through. */
	if (pwrite(memfd, img, ilen, 0) < 0 || fallocate(memfd,
	    FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, ilen, MEMFILE - ilen) < 0)
		abort();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	while (f.n > 0 && fz_put_msg(sv[0], &f, memfd))
		;
	shutdown(sv[0], SHUT_WR);

	dev.cfd = sv[1];
	for (int i = 0; i < 256; i++) {
		if (vu_handle(&dev) < 0)
			break;
		drain(sv[0]);
		/* What a kick on each ring's eventfd would do. */
		for (unsigned q = 0; q < fake_backend.nqueues; q++)
			if (vring_ready(&dev.vq[q]))
				vu_run_queue(&dev, &dev.vq[q]);
	}
	vu_disconnect(&dev);
	FZ_CHECK(dev.cfd == -1 && dev.mem.n == 0);
	close(sv[0]);
	FZ_CHECK(fz_nfds() == nfd0);
	return 0;
}
