#ifndef HYVE_EVLOOP_H
#define HYVE_EVLOOP_H

/*
 * The core's main loop: the main thread waits in epoll for signals, timers,
 * backend error eventfds, exited backends and control connections, and
 * calls the callback registered for each.  Callbacks run on the main
 * thread; those that touch device state take the VM's device lock.
 */
typedef void (*ev_cb_t)(int fd, void *arg);

int evloop_init(void);
int evloop_add(int fd, ev_cb_t cb, void *arg);
int evloop_del(int fd);
/* Waits up to timeout_ms and runs the callbacks of ready fds. */
int evloop_run_once(int timeout_ms);
/* No callback runs after this one returns (a core that handed its VM
 * over must not touch a backend the new core now talks to). */
void evloop_hold(void);

#endif
