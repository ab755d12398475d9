#ifndef HYVE_CONTROL_H
#define HYVE_CONTROL_H

#include <stdint.h>

/*
 * The core's control socket (protocol in ipc/control.h), served from the
 * main loop: non-blocking, one buffer per connection, at most
 * CONTROL_MAX_CONN clients, each of the core's uid or root.
 */

#define CONTROL_MAX_CONN	16

struct vm;

/*
 * Listens on path, or on /run/hyve/NAME.sock when path is NULL (creating
 * /run/hyve 0700).  The socket is mode 0600.  Refuses a path where another
 * hyve is listening; replaces a stale socket.  Needs evloop_init() first.
 */
int control_init(struct vm *vm, const char *path);
/* Closes every connection and removes the socket. */
void control_fini(void);
/* The path being served, or NULL. */
const char *control_path(void);
/*
 * Gives the listening socket away (to the monitor, which serves hyvectl
 * from now on): returns it, no longer watched here.  The monitor removes
 * the path when the VM ends.
 */
int control_handoff(void);
/* Serves the connections the monitor passes on fd (SCM_RIGHTS, 'C'). */
int control_from_monitor(int fd);
/* An upgrade's new core: the monitor has the socket at path already and
 * hands over connections on fd; the VM started at started (seconds of
 * CLOCK_MONOTONIC, control_started of the old core). */
int control_adopt(struct vm *vm, const char *path, int fd, int64_t started);
int64_t control_started(void);

#include <sys/types.h>
struct json_object;
/* One process of the VM, as the audit lists it. */
struct control_proc {
	char	role[16], name[16];
	pid_t	pid;
};
/* The audit result (name, processes) for n processes read from /proc. */
struct json_object *control_audit(const char *vmname,
    const struct control_proc *p, int n);

#endif
