#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "core/evloop.h"
#include "lib/log.h"

#define EV_MAX	64

struct ev {
	int	fd;
	ev_cb_t	cb;
	void	*arg;
};

static int epfd = -1;
static struct ev evs[EV_MAX];
/* Devices add and remove fds from vCPU threads too. */
static pthread_mutex_t evlock = PTHREAD_MUTEX_INITIALIZER;

int
evloop_init(void)
{
	int i;

	if (epfd >= 0)
		close(epfd);
	for (i = 0; i < EV_MAX; i++)
		evs[i].fd = -1;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0) {
		hlog("epoll_create1: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

int
evloop_add(int fd, ev_cb_t cb, void *arg)
{
	struct epoll_event e;
	int i;

	pthread_mutex_lock(&evlock);
	for (i = 0; i < EV_MAX && evs[i].fd >= 0; i++)
		;
	if (i == EV_MAX) {
		pthread_mutex_unlock(&evlock);
		hlog("event loop: more than %d descriptors", EV_MAX);
		return -ENOSPC;
	}
	memset(&e, 0, sizeof(e));
	e.events = EPOLLIN;
	e.data.u64 = ((uint64_t)fd << 32) | i;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
		int err = errno;
		pthread_mutex_unlock(&evlock);
		hlog("event loop: adding fd %d: %s", fd, strerror(err));
		return -err;
	}
	evs[i] = (struct ev){ fd, cb, arg };
	pthread_mutex_unlock(&evlock);
	return 0;
}

int
evloop_del(int fd)
{
	int i;

	pthread_mutex_lock(&evlock);
	for (i = 0; i < EV_MAX; i++) {
		if (evs[i].fd == fd) {
			epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
			evs[i].fd = -1;
			pthread_mutex_unlock(&evlock);
			return 0;
		}
	}
	pthread_mutex_unlock(&evlock);
	return -ENOENT;
}

static bool held;

void
evloop_hold(void)
{
	held = true;
}

int
evloop_run_once(int timeout_ms)
{
	struct epoll_event e[16];
	int n, i;

	n = epoll_wait(epfd, e, 16, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < n && !held; i++) {
		int slot = (uint32_t)e[i].data.u64, fd = e[i].data.u64 >> 32;
		struct ev ev;

		/* The fd may have been removed, or its slot reused, since. */
		pthread_mutex_lock(&evlock);
		ev = evs[slot];
		pthread_mutex_unlock(&evlock);
		if (ev.fd == fd)
			ev.cb(ev.fd, ev.arg);
	}
	return n;
}
