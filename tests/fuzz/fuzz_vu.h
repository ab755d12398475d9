#ifndef HYVE_FUZZ_VU_H
#define HYVE_FUZZ_VU_H

/*
 * Writing fuzzed vhost-user messages into a socket, for the targets that
 * play a hostile frontend or a hostile backend.  A message is
 *   u8 request, u8 header flags, u8 fd count (mod 12), u8 fd kinds
 *   (2 bits per fd: memfd, eventfd, eventfd, pipe), u16 payload size as
 *   the header claims it, then up to that many payload bytes.
 */

#include <fcntl.h>
#include <stdbool.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc/vhost_user.h"
#include "tests/fuzz/fuzz.h"

static inline int
fz_make_fd(unsigned kind, int memfd)
{
	int p[2];

	switch (kind) {
	case 0:
		return dup(memfd);
	case 1:
	case 2:
		return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	}
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	close(p[1]);
	return p[0];
}

/* Writes one message; returns false when the socket takes no more. */
static inline bool
fz_put_msg(int s, struct fz *f, int memfd)
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
		if ((fds[i] = fz_make_fd((kinds >> (2 * (i % 4))) & 3, memfd)) < 0)
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
	return n == (ssize_t)(sizeof(h) + plen);
}

#endif
