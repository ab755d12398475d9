/*
 * hyve-vsock's device (backends/vsock/vsock.c) for the fuzz target: one
 * connection already open on a socketpair, whose far end plays the host
 * program, so that the guest's packets reach a live connection too.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "backends/vsock/vsock.h"
#include "tests/fuzz/shims.h"

static struct vsock vs;
static int host[2] = { -1, -1 };

void *
fzvsock_init(void)
{
	return &vs;
}

int
fzvsock_attach(struct vu_dev *d)
{
	return vsock_init(&vs, d, 3, -1, "fz-vsock-none");
}

void
fzvsock_open(uint32_t host_port, uint32_t guest_port, uint32_t buf_alloc,
    const void *data, size_t len)
{
	struct vsock_conn *c = &vs.conn[0];
	struct epoll_event e = { .events = EPOLLIN };

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    host) < 0)
		abort();
	c->state = VC_OPEN;
	c->fd = host[0];
	c->host_port = host_port;
	c->guest_port = guest_port;
	c->peer_buf_alloc = buf_alloc;
	c->events = EPOLLIN;
	e.data.u64 = (uint64_t)c->gen << 32;
	if (epoll_ctl(vs.ep, EPOLL_CTL_ADD, host[0], &e) < 0)
		abort();
	if (len > 0 && write(host[1], data, len) < 0)
		abort();
	vs.reset_sent = false;
}

void
fzvsock_close(void)
{
	char buf[4096];

	while (read(host[1], buf, sizeof(buf)) > 0)
		;
	close(host[1]);
	host[1] = -1;
}
