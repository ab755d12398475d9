#ifndef HYVE_FUZZ_VU_H
#define HYVE_FUZZ_VU_H

/*
 * Writing fuzzed vhost-user messages into a socket, for the targets that
 * play a hostile frontend or a hostile backend.  A message is
 *   u8 request, u8 header flags, u8 fd count (mod 12), u8 fd kinds
 *   (2 bits per fd: memfd, eventfd, the odd fd, pipe), u16 payload size as
 *   the header claims it, then up to that many payload bytes.
 * A request byte of 0xf0 or above is no message but an operation between
 * two (no vhost-user request has such a number):
 *   0xf0 u8 how, u32 size	make the odd fd anew (see fz_odd_new)
 *				(sizes and offsets mod FZ_MAXFILE)
 *   0xf1 u8 which, u32 size	ftruncate the odd fd (which & 1) or the
 *				memfd of kind 0: shrink or grow a file the
 *				other side may have mapped
 *   0xf2 u8 which, u32 offset, u8 len, bytes
 *				pwrite into the odd fd or the memfd, within
 *				its size
 *   0xf3-0xff			nothing but what follows every step (the
 *				target runs the rings)
 * Until an 0xf0 makes one, the odd fd is an eventfd, as kind 2 was before.
 */

#include <fcntl.h>
#include <stdbool.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc/vhost_user.h"
#include "tests/fuzz/fuzz.h"

#define FZ_OP		0xf0
/* Files stay below this: a device may write all of its guest memory. */
#define FZ_MAXFILE	(256u << 20)

/* The fds a message can carry, and what a new memfd starts with. */
struct fz_fds {
	int mem;		/* kind 0: a dup of it is sent */
	int odd;		/* kind 2, or -1: an eventfd */
	int peer;		/* the last fd the other side sent, or -1 */
	const uint8_t *img;	/* copied to the start of a new odd memfd */
	size_t ilen;
};

static inline void
fz_fds_close(struct fz_fds *k)
{
	if (k->odd >= 0)
		close(k->odd);
	if (k->peer >= 0)
		close(k->peer);
	k->odd = k->peer = -1;
}

static inline int
fz_memfd(unsigned flags, uint32_t size, const struct fz_fds *k)
{
	int fd = memfd_create("fuzz-odd", MFD_CLOEXEC | flags);

	if (fd < 0)
		abort();
	if (ftruncate(fd, size) < 0 || pwrite(fd, k->img, k->ilen < size ?
	    k->ilen : size, 0) < 0)
		abort();
	return fd;
}

/*
 * A new odd fd, by how & 7:
 *   0 memfd that cannot be sealed (a shrink is met by the SIGBUS guard)
 *   1 memfd that could be sealed but is not (refused as guest memory)
 *   2 memfd sealed against shrinking, 3 against any change of size or
 *     content, and the seals sealed
 *   4 a read-only fd of a memfd, 5 a unix socket, 6 /dev/zero (mappable,
 *     not a file)
 *   7 the last fd the other side sent (the backend's inflight memfd)
 * The memfds are size bytes long: odd, tiny, zero or far larger than any
 * region.
 */
static inline int
fz_odd_new(struct fz_fds *k, unsigned how, uint32_t size)
{
	char path[64];
	int fd, ro, sv[2];

	switch (how & 7) {
	case 0:
		return fz_memfd(0, size, k);
	case 1:
		return fz_memfd(MFD_ALLOW_SEALING, size, k);
	case 2:
	case 3:
		fd = fz_memfd(MFD_ALLOW_SEALING, size, k);
		if (fcntl(fd, F_ADD_SEALS, (how & 7) == 2 ? F_SEAL_SHRINK :
		    F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
			abort();
		return fd;
	case 4:
		fd = fz_memfd(0, size, k);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		ro = open(path, O_RDONLY | O_CLOEXEC);
		close(fd);
		return ro;
	case 5:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			return -1;
		close(sv[1]);
		return sv[0];
	case 6:
		return open("/dev/zero", O_RDWR | O_CLOEXEC);
	}
	return k->peer >= 0 ? dup(k->peer) : fz_memfd(0, size, k);
}

static inline void
fz_op(struct fz *f, unsigned op, struct fz_fds *k)
{
	uint8_t buf[256];
	unsigned which;
	uint32_t v;
	struct stat st;
	size_t len;
	int fd;

	if (op > FZ_OP + 2)
		return;
	which = fz_u8(f);
	v = fz_u32(f) % FZ_MAXFILE;
	fd = (which & 1) ? k->odd : k->mem;
	switch (op) {
	case FZ_OP:
		if (k->odd >= 0)
			close(k->odd);
		k->odd = fz_odd_new(k, which, v);
		break;
	case FZ_OP + 1:
		if (fd >= 0)
			(void)!ftruncate(fd, v);
		break;
	case FZ_OP + 2:
		len = fz_take(f, buf, fz_u8(f));
		if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    v <= (uint64_t)st.st_size && len <= (uint64_t)st.st_size - v)
			(void)!pwrite(fd, buf, len, v);
		break;
	}
}

static inline int
fz_make_fd(unsigned kind, const struct fz_fds *k)
{
	int p[2];

	switch (kind) {
	case 0:
		return dup(k->mem);
	case 2:
		if (k->odd >= 0)
			return dup(k->odd);
		/* FALLTHROUGH */
	case 1:
		return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	}
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	close(p[1]);
	return p[0];
}

/*
 * Writes one message, or does one operation; returns 1 for a message
 * sent, 0 for an operation, -1 when the socket takes no more.
 */
static inline int
fz_put_msg(int s, struct fz *f, struct fz_fds *k)
{
	union {
		char buf[CMSG_SPACE(16 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct vu_hdr h;
	uint8_t payload[VU_MAX_PAYLOAD + 64];
	struct iovec iov[2];
	struct msghdr mh;
	int fds[16];
	unsigned nfds, kinds;
	size_t plen;
	ssize_t n;

	h.request = fz_u8(f);
	if (h.request >= FZ_OP) {
		fz_op(f, h.request, k);
		return 0;
	}
	h.flags = fz_u8(f);
	nfds = fz_u8(f) % 12;
	kinds = fz_u8(f);
	h.size = fz_u16(f);
	plen = fz_take(f, payload, h.size < sizeof(payload) ? h.size :
	    sizeof(payload));
	memset(&mh, 0, sizeof(mh));
	iov[0] = (struct iovec){ &h, sizeof(h) };
	iov[1] = (struct iovec){ payload, plen };
	mh.msg_iov = iov;
	mh.msg_iovlen = 2;
	for (unsigned i = 0; i < nfds; i++)
		if ((fds[i] = fz_make_fd((kinds >> (2 * (i % 4))) & 3, k)) < 0)
			abort();
	if (nfds > 0) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	n = sendmsg(s, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
	return n == (ssize_t)(sizeof(h) + plen) ? 1 : -1;
}

/* Reads and drops what the other side sent; keeps the last fd it sent. */
static inline void
fz_drain(int s, struct fz_fds *k)
{
	union {
		char buf[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	char data[4096];
	struct iovec iov = { data, sizeof(data) };
	struct msghdr mh;
	struct cmsghdr *c;

	for (;;) {
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		if (recvmsg(s, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) <= 0)
			return;
		for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
			size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			if (c->cmsg_type != SCM_RIGHTS)
				continue;
			for (size_t i = 0; i < n; i++) {
				if (k->peer >= 0)
					close(k->peer);
				memcpy(&k->peer, CMSG_DATA(c) + i * sizeof(int),
				    sizeof(int));
			}
		}
	}
}

#endif
