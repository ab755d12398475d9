/*
 * The control socket server (protocol: ipc/control.h).  Runs on the main
 * loop, so nothing here may block: sockets are non-blocking, each client has
 * its own input and output buffers, a client that stops reading its replies
 * is dropped after OUT_TIMEOUT seconds, and at most CONTROL_MAX_CONN clients
 * are served at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <linux/virtio_config.h>

#include "core/control.h"
#include "core/devclass.h"
#include "core/devices.h"
#include "core/evloop.h"
#include "core/pci.h"
#include "core/ramfill.h"
#include "core/supervisor.h"
#include "core/virtio_pci.h"
#include "core/vm.h"
#include "core/upgrade.h"
#include "core/vmsnap.h"
#include "ipc/control.h"
#include "lib/log.h"
#include "lib/util.h"
#include "sandbox/sandbox.h"

#define OUT_TIMEOUT	10	/* seconds a client has to read a reply */
#define FLUSH_MS	50	/* retry interval for unsent replies and for
				   a snapshot that waits for a backend */

struct conn {
	int		fd;
	bool		in_loop;	/* registered for input */
	bool		closing;	/* close once out is sent */
	char		*out;
	size_t		outlen, outoff;
	time_t		deadline;	/* for out; 0 when nothing is pending */
	struct ctl_lines in;
	int		fds[2];		/* snapshot: state and memory files */
	int		nfds;
	struct ctl_req	*snap;		/* a snapshot waiting for a backend */
	long long	snap_until;	/* ms, CLOCK_MONOTONIC */
};

static struct {
	struct vm	*vm;
	int		lfd, tfd;
	bool		timer_on;
	char		path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t		dev;
	ino_t		ino;
	struct timespec	start;
	bool		handed;		/* the monitor listens now */
	struct conn	*conns[CONTROL_MAX_CONN];
} ctl = { .lfd = -1, .tfd = -1 };

static void timer_set(bool on);

static time_t
now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* --- status and audit ------------------------------------------------------ */

static json_object *
counters_json(struct vpci *v)
{
	json_object *c = json_object_new_object();
	struct hyve_stats st;

	memcpy(&st, v->sup.stats, sizeof(st));
	json_object_object_add(c, "requests", json_object_new_int64(st.requests));
	json_object_object_add(c, "bytes", json_object_new_int64(st.bytes));
	json_object_object_add(c, "errors", json_object_new_int64(st.errors));
	json_object_object_add(c, "kicks", json_object_new_int64(st.kicks));
	json_object_object_add(c, "interrupts",
	    json_object_new_int64(st.interrupts));
	return c;
}

static json_object *
device_json(struct pci_dev *pd)
{
	json_object *d;
	struct vpci *v = vpci_of(pd);
	long long next;
	char slot[16];

	if ((d = json_object_new_object()) == NULL)
		return NULL;
	snprintf(slot, sizeof(slot), "%d:%d:%d", pd->bus, pd->slot, pd->func);
	json_object_object_add(d, "name",
	    json_object_new_string(v ? v->name : pd->pe->name));
	json_object_object_add(d, "emulation",
	    json_object_new_string(pd->pe->name));
	json_object_object_add(d, "slot", json_object_new_string(slot));
	json_object_object_add(d, "pid", v && v->sup.bp.pid > 0 ?
	    json_object_new_int(v->sup.bp.pid) : NULL);
	json_object_object_add(d, "state",
	    json_object_new_string(v ? sup_state(v) : "running"));
	if (v != NULL) {
		json_object_object_add(d, "queues", json_object_new_int(v->nq));
		json_object_object_add(d, "restarts",
		    json_object_new_int(v->sup.restarts));
		json_object_object_add(d, "last_exit", v->sup.last_exit[0] ?
		    json_object_new_string(v->sup.last_exit) : NULL);
		next = sup_next_try(v);
		json_object_object_add(d, "next_try_s", next < 0 ? NULL :
		    json_object_new_int64((next + 999) / 1000));
		if (v->sup.stats != NULL)
			json_object_object_add(d, "counters", counters_json(v));
	}
	return d;
}

static json_object *
cmd_status(struct vm *vm)
{
	json_object *r, *devs;
	struct pci_dev *pd;
	struct timespec now;
	struct stat st;
	int s, f;

	if ((r = json_object_new_object()) == NULL)
		return NULL;
	if ((devs = json_object_new_array()) == NULL) {
		json_object_put(r);
		return NULL;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	json_object_object_add(r, "name", json_object_new_string(vm->name));
	json_object_object_add(r, "pid", json_object_new_int(getpid()));
	json_object_object_add(r, "uptime",
	    json_object_new_int64(now.tv_sec - ctl.start.tv_sec));
	json_object_object_add(r, "cpus", json_object_new_int(vm->ncpus));
	json_object_object_add(r, "memory",
	    json_object_new_int64((int64_t)vm->mem_size));
	/* What of it the host holds: pages the guest touched and did not
	 * give back (virtio-balloon), or a snapshot's restored. */
	if (fstat(vm->mem_fd, &st) == 0)
		json_object_object_add(r, "memory_held",
		    json_object_new_int64((int64_t)st.st_blocks * 512));
	json_object_object_add(r, "state", json_object_new_string(
	    __atomic_load_n(&vm->exiting, __ATOMIC_SEQ_CST) ?
	    "stopping" : "running"));
	pthread_mutex_lock(&vm->dev_lock);
	for (s = 0; s < PCI_SLOTS; s++)
		for (f = 0; f < PCI_FUNCS; f++)
			if ((pd = pci_find(0, s, f)) != NULL && pd->pe != NULL)
				json_object_array_add(devs, device_json(pd));
	pthread_mutex_unlock(&vm->dev_lock);
	json_object_object_add(r, "devices", devs);
	return r;
}

static const struct sandbox_row *
role_of(const char *role)
{
	const struct devclass *c = devclass_by_type(role);

	if (strcmp(role, "monitor") == 0)
		return &sandbox_monitor;
	return c != NULL ? c->role : &sandbox_core;
}

/* One process's audit entry: what it may do, and whether that is enough. */
/* The seccomp profile the role loads, listed from its own rules. */
static json_object *
profile_json(const struct sandbox_row *role)
{
	struct sandbox_profile *pr = malloc(sizeof(*pr));
	json_object *o = NULL, *list;
	int i, rc = -ENOMEM;

	if (pr == NULL || (rc = sandbox_profile(role, pr)) < 0 ||
	    (o = json_object_new_object()) == NULL) {
		free(pr);
		/* virtiofsd's own allowlist: not hyve's to list. */
		if (rc == -ENOENT && (o = json_object_new_object()) != NULL)
			json_object_object_add(o, "kind", json_object_new_string(
			    "the program's own (not hyve's); bounded by the "
			    "monitor's and the base filter"));
		return rc == -ENOENT ? o : NULL;
	}
	list = json_object_new_array();
	for (i = 0; i < pr->n; i++) {
		char n[40];

		snprintf(n, sizeof(n), "%s%s", pr->sc[i].name,
		    pr->sc[i].args_filtered ? "(args)" : "");
		json_object_array_add(list, json_object_new_string(n));
	}
	json_object_object_add(o, "kind",
	    json_object_new_string(pr->denylist ? "denylist" : "allowlist"));
	json_object_object_add(o, "count", json_object_new_int(pr->n));
	json_object_object_add(o, "syscalls", list);
	free(pr);
	return o;
}

static json_object *
audit_one(const char *role, const char *name, pid_t pid)
{
	struct sandbox_audit *a;
	json_object *p, *aj = NULL;
	const char *verdict = "FAIL";
	char why[256];
	int rc;

	if ((p = json_object_new_object()) == NULL)
		return NULL;
	json_object_object_add(p, "role", json_object_new_string(role));
	json_object_object_add(p, "name", json_object_new_string(name));
	json_object_object_add(p, "pid", json_object_new_int(pid));
	if ((a = malloc(sizeof(*a))) == NULL) {
		rc = -ENOMEM;
	} else if ((rc = sandbox_audit_pid(pid, a)) == 0 &&
	    (rc = sandbox_audit_json(a, &aj)) == 0) {
		if (sandbox_audit_verdict(a, role_of(role), why,
		    sizeof(why)) == 0) {
			verdict = "OK";
			why[0] = '\0';
		}
	}
	free(a);
	if (rc < 0)
		snprintf(why, sizeof(why), "cannot audit pid %d: %s", (int)pid,
		    strerror(-rc));
	json_object_object_add(p, "audit", aj);
	json_object_object_add(p, "profile", profile_json(role_of(role)));
	json_object_object_add(p, "verdict", json_object_new_string(verdict));
	json_object_object_add(p, "reason", why[0] ? json_object_new_string(why) :
	    NULL);
	return p;
}

json_object *
control_audit(const char *vmname, const struct control_proc *p, int n)
{
	json_object *r, *list;
	int i;

	if ((r = json_object_new_object()) == NULL)
		return NULL;
	if ((list = json_object_new_array()) == NULL) {
		json_object_put(r);
		return NULL;
	}
	for (i = 0; i < n; i++)
		json_object_array_add(list, audit_one(p[i].role, p[i].name,
		    p[i].pid));
	json_object_object_add(r, "name", json_object_new_string(vmname));
	json_object_object_add(r, "processes", list);
	return r;
}

struct procs {
	struct control_proc p[PCI_SLOTS * PCI_FUNCS + 1];
	int n;
};

static void
add_proc(struct vpci *v, void *arg)
{
	struct procs *ps = arg;

	if (v->sup.bp.pid <= 0)
		return;
	snprintf(ps->p[ps->n].role, sizeof(ps->p[ps->n].role), "%s",
	    v->cls->prefix);
	snprintf(ps->p[ps->n].name, sizeof(ps->p[ps->n].name), "%s", v->name);
	ps->p[ps->n++].pid = v->sup.bp.pid;
}

/* Without a monitor (it serves audit when there is one). */
static json_object *
cmd_audit(struct vm *vm)
{
	struct procs ps;

	ps.n = 0;
	snprintf(ps.p[0].role, sizeof(ps.p[0].role), "core");
	snprintf(ps.p[0].name, sizeof(ps.p[0].name), "%s", vm->name);
	ps.p[ps.n++].pid = getpid();
	/* Collect under the lock; read /proc without it. */
	pthread_mutex_lock(&vm->dev_lock);
	sup_foreach(add_proc, &ps);
	pthread_mutex_unlock(&vm->dev_lock);
	return control_audit(vm->name, ps.p, ps.n);
}

static void
add_stats(struct vpci *v, void *arg)
{
	json_object *d = v->sup.stats ? counters_json(v) : json_object_new_object();

	json_object_object_add(d, "name", json_object_new_string(v->name));
	json_object_object_add(d, "restarts", json_object_new_int(v->sup.restarts));
	json_object_array_add(arg, d);
}

static json_object *
cmd_stats(struct vm *vm)
{
	json_object *r, *list;

	if ((r = json_object_new_object()) == NULL)
		return NULL;
	if ((list = json_object_new_array()) == NULL) {
		json_object_put(r);
		return NULL;
	}
	pthread_mutex_lock(&vm->dev_lock);
	sup_foreach(add_stats, list);
	pthread_mutex_unlock(&vm->dev_lock);
	json_object_object_add(r, "devices", list);
	return r;
}

/* restart and swap: a new backend for one device. */
static json_object *
cmd_swap(struct vm *vm, const struct ctl_req *req, char *err, size_t len)
{
	struct sup_swap sw = {
		.binary = req->backend[0] ? req->backend : NULL,
		.path = req->path[0] ? req->path : NULL,
		.tap = req->tap[0] ? req->tap : NULL,
	};
	json_object *r;
	pid_t pid;

	hlog("%s: hyvectl: %s %s", vm->name, ctl_cmd_name(req->cmd),
	    req->device);
	if (sup_swap(req->device, &sw, err, len) < 0)
		return NULL;
	pid = sup_pid(req->device);
	if ((r = json_object_new_object()) == NULL)
		return NULL;
	json_object_object_add(r, "device", json_object_new_string(req->device));
	json_object_object_add(r, "pid", json_object_new_int(pid));
	return r;
}

static json_object *
cmd_poweroff(struct vm *vm, bool force)
{
	json_object *r;

	if ((r = json_object_new_object()) == NULL)
		return NULL;
	if (force) {
		hlog("%s: hyvectl: forced power-off", vm->name);
		vm_request_exit(vm, EXIT_POWEROFF, "forced by hyvectl");
		json_object_object_add(r, "action",
		    json_object_new_string("forced off"));
	} else {
		hlog("%s: hyvectl: pressing the power button", vm->name);
		pm_power_button(vm);
		json_object_object_add(r, "action",
		    json_object_new_string("power button pressed"));
	}
	return r;
}

static void
conn_drop_fds(struct conn *c)
{
	while (c->nfds > 0)
		close(c->fds[--c->nfds]);
}

/*
 * A backend is being restarted, or a restore's RAM still loads
 * (ramfill.c): the snapshot waits for it (the loop runs
 * on, so the supervisor can restart it) and is tried again from the
 * timer, at most VMSNAP_WAIT_S seconds; then err says it did not come
 * back.  True while it waits: the answer comes later (snapshot_retry).
 */
static bool
snapshot_wait(struct vm *vm, const struct ctl_req *req, struct conn *c,
    char *err, size_t len)
{
	size_t n;

	if (c->snap == NULL) {
		if ((c->snap = malloc(sizeof(*req))) == NULL)
			return false;
		*c->snap = *req;
		c->snap_until = now_ms() + VMSNAP_WAIT_S * 1000LL;
		timer_set(true);
		hlog("%s: snapshot to %s waits: %s (up to %d s)", vm->name,
		    req->path, err, VMSNAP_WAIT_S);
		return true;
	}
	if (now_ms() < c->snap_until)
		return true;
	n = strlen(err);
	if (ramfill_busy())
		snprintf(err + n, len - n, " and was not done within %d s; "
		    "snapshot the VM once its log says \"RAM restored\"",
		    VMSNAP_WAIT_S);
	else
		snprintf(err + n, len - n, " and did not come back within %d "
		    "s; snapshot the VM once the device works again",
		    VMSNAP_WAIT_S);
	return false;
}

/* The files come with the request (SCM_RIGHTS): the core opens no path. */
static json_object *
cmd_snapshot(struct vm *vm, const struct ctl_req *req, struct conn *c,
    char *err, size_t len)
{
	struct vmsnap_result res;
	json_object *r;
	int rc;

	if (c->nfds != 2) {
		snprintf(err, len, "snapshot: the request must carry the state "
		    "and memory files' descriptors (use hyvectl snapshot)");
		return NULL;
	}
	if (c->snap == NULL)
		hlog("%s: hyvectl: snapshot to %s%s", vm->name, req->path,
		    req->resume ? ", then resume" : "");
	rc = vmsnap_take(vm, c->fds[0], c->fds[1], req->resume, &res, err, len);
	if (rc == -EAGAIN && snapshot_wait(vm, req, c, err, len))
		return NULL;
	free(c->snap);
	c->snap = NULL;
	if (rc < 0) {
		hlog("%s: snapshot to %s failed: %s", vm->name, req->path, err);
		return NULL;
	}
	if ((r = json_object_new_object()) == NULL)
		return NULL;
	json_object_object_add(r, "path", json_object_new_string(req->path));
	json_object_object_add(r, "state_bytes",
	    json_object_new_int64(res.state_bytes));
	json_object_object_add(r, "memory_bytes",
	    json_object_new_int64(res.memory_bytes));
	json_object_object_add(r, "resumed",
	    json_object_new_boolean(req->resume));
	return r;
}

static json_object *
cmd_upgrade(struct vm *vm, const struct ctl_req *req, char *err, size_t len)
{
	const char *bin = req->backend[0] != '\0' ? req->backend : NULL;
	struct upg_result res;
	json_object *r;

	hlog("%s: hyvectl: upgrade to %s", vm->name, bin ? bin :
	    "hyve's own binary");
	if (upgrade_run(vm, bin, req->timeout_ms > 0 ? req->timeout_ms :
	    CTL_UPGRADE_TIMEOUT_MS, &res, err, len) < 0)
		return NULL;
	if ((r = json_object_new_object()) == NULL)
		return NULL;
	json_object_object_add(r, "binary", json_object_new_string(bin ? bin :
	    "hyve's own binary (read again)"));
	json_object_object_add(r, "old_pid", json_object_new_int(res.old_pid));
	json_object_object_add(r, "pid", json_object_new_int(res.pid));
	json_object_object_add(r, "handover_ms",
	    json_object_new_int64(res.handover_ms));
	return r;
}

/* The snapshot's answer line, or NULL while it waits (c->snap). */
static char *
snapshot_answer(struct conn *c, const struct ctl_req *req)
{
	json_object *r;
	char err[512];

	err[0] = '\0';
	r = cmd_snapshot(ctl.vm, req, c, err, sizeof(err));
	if (r == NULL && c->snap != NULL)
		return NULL;
	conn_drop_fds(c);
	if (r == NULL)
		return ctl_build_error("%s", err[0] ? err :
		    "snapshot: out of memory");
	return ctl_build_ok(r);
}

/* The response line to one request line (malloc'd), NULL if out of memory
 * or while a snapshot waits for a backend (c->snap). */
static char *
handle(struct conn *c, const char *line, size_t len)
{
	struct vm *vm = ctl.vm;
	struct ctl_req req;
	json_object *r = NULL;
	char err[512];

	if (ctl_parse_request(line, len, &req, err, sizeof(err)) < 0)
		return ctl_build_error("%s", err);
	if (req.vm[0] != '\0' && strcmp(req.vm, vm->name) != 0)
		return ctl_build_error("this socket serves VM \"%s\", not "
		    "\"%s\" (check the socket path)", vm->name, req.vm);
	switch (req.cmd) {
	case CTL_STATUS:
		r = cmd_status(vm);
		break;
	case CTL_AUDIT:
		r = cmd_audit(vm);
		break;
	case CTL_POWEROFF:
		r = cmd_poweroff(vm, req.force);
		break;
	case CTL_STATS:
		r = cmd_stats(vm);
		break;
	case CTL_RESTART:
	case CTL_SWAP:
		err[0] = '\0';
		if ((r = cmd_swap(vm, &req, err, sizeof(err))) == NULL &&
		    err[0] != '\0')
			return ctl_build_error("%s", err);
		break;
	case CTL_UPGRADE:
		err[0] = '\0';
		if ((r = cmd_upgrade(vm, &req, err, sizeof(err))) == NULL &&
		    err[0] != '\0')
			return ctl_build_error("%s", err);
		break;
	case CTL_SNAPSHOT:
		return snapshot_answer(c, &req);
	default:
		return ctl_build_error("cmd %s is not served here",
		    ctl_cmd_name(req.cmd));
	}
	if (r == NULL)
		return ctl_build_error("%s: out of memory", ctl_cmd_name(req.cmd));
	return ctl_build_ok(r);
}

/* --- connections ----------------------------------------------------------- */

static void
timer_set(bool on)
{
	struct itimerspec its;

	if (on == ctl.timer_on || ctl.tfd < 0)
		return;
	memset(&its, 0, sizeof(its));
	if (on) {
		its.it_value.tv_nsec = FLUSH_MS * 1000000L;
		its.it_interval.tv_nsec = FLUSH_MS * 1000000L;
	}
	if (timerfd_settime(ctl.tfd, 0, &its, NULL) == 0)
		ctl.timer_on = on;
}

static void
conn_close(struct conn *c)
{
	int i;

	for (i = 0; i < CONTROL_MAX_CONN; i++)
		if (ctl.conns[i] == c)
			ctl.conns[i] = NULL;
	if (c->in_loop)
		evloop_del(c->fd);
	close(c->fd);
	conn_drop_fds(c);
	free(c->snap);
	free(c->out);
	free(c);
}

/* Stops reading from c; the timer sends what is left, then closes it. */
static void
conn_stop_input(struct conn *c)
{
	if (c->in_loop)
		evloop_del(c->fd);
	c->in_loop = false;
	c->closing = true;
}

/* 0 when all is sent, 1 when some is left, -errno when c is dead. */
static int
conn_flush(struct conn *c)
{
	ssize_t n;

	while (c->outoff < c->outlen) {
		n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 1;
		if (n < 0)
			return -errno;
		c->outoff += n;
	}
	free(c->out);
	c->out = NULL;
	c->outlen = c->outoff = 0;
	c->deadline = 0;
	return 0;
}

/* Queues line (taken) for c.  -errno when c must be closed. */
static int
conn_send(struct conn *c, char *line)
{
	size_t n;
	char *p;
	int rc;

	if (line == NULL)
		return -ENOMEM;
	n = strlen(line);
	if ((p = realloc(c->out, c->outlen + n)) == NULL) {
		free(line);
		return -ENOMEM;
	}
	memcpy(p + c->outlen, line, n);
	free(line);
	c->out = p;
	c->outlen += n;
	if ((rc = conn_flush(c)) < 0)
		return rc;
	if (rc > 0) {
		if (c->deadline == 0)
			c->deadline = now_sec() + OUT_TIMEOUT;
		timer_set(true);
	}
	return 0;
}

/* Serves the complete lines c holds, while its replies are being read
 * and no snapshot of its waits. */
static int
conn_serve(struct conn *c)
{
	char *line, *reply;
	size_t len;
	int rc;

	while (c->out == NULL && c->snap == NULL &&
	    (rc = ctl_lines_next(&c->in, &line, &len)) != 0) {
		if (rc == -EMSGSIZE) {
			conn_stop_input(c);
			ctl_lines_init(&c->in);
			return conn_send(c, ctl_build_error("request line longer "
			    "than %d bytes; closing the connection",
			    CTL_MAX_LINE - 1));
		}
		reply = handle(c, line, len);
		if (reply == NULL && c->snap != NULL)
			break;		/* answered once it is taken */
		if ((rc = conn_send(c, reply)) < 0)
			return rc;
	}
	return 0;
}

/* From the timer: a waiting snapshot again, and its answer once it is
 * done.  -errno when c must be closed. */
static int
snapshot_retry(struct conn *c)
{
	struct ctl_req req = *c->snap;
	char *reply = snapshot_answer(c, &req);
	int rc;

	if (reply == NULL && c->snap != NULL)
		return 0;
	if ((rc = conn_send(c, reply)) < 0)
		return rc;
	return c->out == NULL ? conn_serve(c) : 0;
}

static void
on_conn(int fd, void *arg)
{
	struct conn *c = arg;
	size_t room;
	ssize_t n;
	char *p;

	if (c->out != NULL && conn_flush(c) < 0) {
		conn_close(c);
		return;
	}
	p = ctl_lines_space(&c->in, &room);
	if (room == 0) {
		/* Its replies are unread and its requests fill the buffer. */
		conn_close(c);
		return;
	}
	n = ctl_recv_fds(fd, p, room, c->fds, &c->nfds, 2);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* End of input: answer what came, then close. */
		conn_stop_input(c);
		if (conn_serve(c) < 0 || (c->out == NULL && c->snap == NULL))
			conn_close(c);
		return;
	}
	ctl_lines_added(&c->in, n);
	if (conn_serve(c) < 0 || (c->closing && c->out == NULL &&
	    c->snap == NULL))
		conn_close(c);
}

static void
on_timer(int fd, void *arg)
{
	time_t now = now_sec();
	bool pending = false;
	struct conn *c;
	uint64_t n;
	int i, rc;

	(void)arg;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	for (i = 0; i < CONTROL_MAX_CONN; i++) {
		if ((c = ctl.conns[i]) == NULL)
			continue;
		if (c->snap != NULL) {
			if (snapshot_retry(c) < 0 || (c->snap == NULL &&
			    c->out == NULL && c->closing))
				conn_close(c);
			else if (c->snap != NULL || c->out != NULL)
				pending = true;
			continue;
		}
		if (c->out == NULL)
			continue;
		rc = conn_flush(c);
		if (rc > 0 && now >= c->deadline) {
			hlog("%s: control client on fd %d did not read its "
			    "reply in %d s; dropping it", ctl.vm->name, c->fd,
			    OUT_TIMEOUT);
			rc = -ETIMEDOUT;
		}
		if (rc == 0)
			rc = conn_serve(c);	/* requests held back */
		if (rc < 0 || (c->out == NULL && c->closing))
			conn_close(c);
		else if (c->out != NULL)
			pending = true;
	}
	timer_set(pending);
}

/* Best effort: a refused client gets one error line. */
static void
refuse(int fd, const char *msg)
{
	char *line = ctl_build_error("%s", msg);

	if (line != NULL && send(fd, line, strlen(line),
	    MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		/* nothing more to do for it */
	}
	free(line);
	close(fd);
}

static bool
peer_allowed(int fd)
{
	struct ucred cr;
	int rc;

	if ((rc = ctl_peer_check(fd, geteuid(), &cr)) == 0)
		return true;
	if (rc != -EACCES)
		return false;
	hlog("%s: control socket %s: refusing pid %d of uid %d (only uid %d "
	    "and root may connect)", ctl.vm->name, ctl.path, (int)cr.pid,
	    (int)cr.uid, (int)geteuid());
	return false;
}

/* Serves cfd, an accepted connection or one the monitor passed. */
static void
conn_add(int cfd)
{
	static int full_once;
	struct conn *c;
	int i;

	for (i = 0; i < CONTROL_MAX_CONN && ctl.conns[i] != NULL; i++)
		;
	if (i == CONTROL_MAX_CONN) {
		hlog_once(&full_once, "%s: control socket %s: more than %d "
		    "clients", ctl.vm->name, ctl.path, CONTROL_MAX_CONN);
		refuse(cfd, "too many control connections; close some and "
		    "retry");
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(cfd);
		return;
	}
	c->fd = cfd;
	ctl_lines_init(&c->in);
	if (evloop_add(cfd, on_conn, c) < 0) {
		free(c);
		refuse(cfd, "the VM's event loop is full; retry later");
		return;
	}
	c->in_loop = true;
	ctl.conns[i] = c;
}

static void
on_accept(int fd, void *arg)
{
	int cfd;

	(void)arg;
	while ((cfd = accept4(fd, NULL, NULL,
	    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (!peer_allowed(cfd)) {
			refuse(cfd, "permission denied: only the VM's owner "
			    "and root may use its control socket");
			continue;
		}
		conn_add(cfd);
	}
	if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
	    errno != ECONNABORTED)
		hlog("%s: control socket %s: accept: %s", ctl.vm->name,
		    ctl.path, strerror(errno));
}

/* The monitor checked the client; the core serves the pair it passed. */
static void
on_monitor(int fd, void *arg)
{
	char t, cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &t, 1 };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *c;
	ssize_t n;
	int cfd;

	(void)arg;
	n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			evloop_del(fd);		/* the monitor is gone */
		return;
	}
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		memcpy(&cfd, CMSG_DATA(c), sizeof(int));
		if (t == 'C' && fcntl(cfd, F_SETFL, O_NONBLOCK) == 0)
			conn_add(cfd);
		else
			close(cfd);
	}
}

int
control_from_monitor(int fd)
{
	return evloop_add(fd, on_monitor, NULL);
}

int
control_handoff(void)
{
	int fd = ctl.lfd;

	if (fd >= 0)
		evloop_del(fd);
	ctl.handed = true;
	return fd;
}

/* --- setup ----------------------------------------------------------------- */

static int
default_path(struct vm *vm, char *buf, size_t len)
{
	struct stat st;

	if (strchr(vm->name, '/') != NULL || vm->name[0] == '.') {
		hlog("%s: a VM name with '/' or a leading '.' cannot name a "
		    "control socket; give one with -o control.path=PATH",
		    vm->name);
		return -EINVAL;
	}
	if (mkdir(CTL_DIR, 0700) < 0 && errno != EEXIST) {
		hlog("%s: cannot create %s: %s (run as root, or give "
		    "-o control.path=PATH)", vm->name, CTL_DIR, strerror(errno));
		return -errno;
	}
	if (stat(CTL_DIR, &st) < 0 || !S_ISDIR(st.st_mode)) {
		hlog("%s: %s is not a directory (remove it, or give "
		    "-o control.path=PATH)", vm->name, CTL_DIR);
		return -ENOTDIR;
	}
	if ((size_t)snprintf(buf, len, "%s/%s.sock", CTL_DIR, vm->name) >= len) {
		hlog("%s: the VM name is too long for a control socket path; "
		    "give -o control.path=PATH", vm->name);
		return -ENAMETOOLONG;
	}
	return 0;
}

/* Removes a stale socket at path; -EADDRINUSE if someone listens there. */
static int
clear_path(struct vm *vm, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		hlog("%s: control socket %s exists and is not a socket "
		    "(remove it, or choose another -o control.path)", vm->name,
		    path);
		return -EEXIST;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (rc == 0) {
		hlog("%s: control socket %s is in use by another hyve (stop "
		    "it, or choose another -o control.path)", vm->name, path);
		return -EADDRINUSE;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		hlog("%s: cannot remove the stale control socket %s: %s",
		    vm->name, path, strerror(errno));
		return -errno;
	}
	return 0;
}

static int
listen_on(struct vm *vm, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, e;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		e = errno;
		hlog("%s: control socket: %s", vm->name, strerror(e));
		return -e;
	}
	/* Nobody can connect before listen(), so chmod in between is safe. */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0600) < 0 || stat(path, &st) < 0 ||
	    listen(fd, CONTROL_MAX_CONN) < 0) {
		e = errno;
		hlog("%s: control socket %s: %s (check the directory, or "
		    "choose another -o control.path)", vm->name, path,
		    strerror(e));
		close(fd);
		return -e;
	}
	ctl.dev = st.st_dev;
	ctl.ino = st.st_ino;
	return fd;
}

int
control_init(struct vm *vm, const char *path)
{
	char buf[sizeof(ctl.path)];
	int rc;

	if (ctl.lfd >= 0) {
		hlog("%s: the control socket %s is already open", vm->name,
		    ctl.path);
		return -EBUSY;
	}
	if (path == NULL) {
		if ((rc = default_path(vm, buf, sizeof(buf))) < 0)
			return rc;
		path = buf;
	}
	if (path[0] == '\0' || strlen(path) >= sizeof(ctl.path)) {
		hlog("%s: control.path '%s' must be 1 to %zu bytes long",
		    vm->name, path, sizeof(ctl.path) - 1);
		return -ENAMETOOLONG;
	}
	if ((rc = clear_path(vm, path)) < 0)
		return rc;
	if ((rc = listen_on(vm, path)) < 0)
		return rc;
	ctl.lfd = rc;
	ctl.vm = vm;
	snprintf(ctl.path, sizeof(ctl.path), "%s", path);
	clock_gettime(CLOCK_MONOTONIC, &ctl.start);
	ctl.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (ctl.tfd < 0) {
		rc = -errno;
		hlog("%s: control socket: timerfd: %s", vm->name, strerror(-rc));
		control_fini();
		return rc;
	}
	if ((rc = evloop_add(ctl.lfd, on_accept, NULL)) < 0 ||
	    (rc = evloop_add(ctl.tfd, on_timer, NULL)) < 0) {
		control_fini();
		return rc;
	}
	return 0;
}

int64_t
control_started(void)
{
	return ctl.start.tv_sec;
}

int
control_adopt(struct vm *vm, const char *path, int fd, int64_t started)
{
	int rc;

	ctl.vm = vm;
	ctl.handed = true;
	snprintf(ctl.path, sizeof(ctl.path), "%s", path ? path : "");
	/* CLOCK_MONOTONIC is the host's: the VM's uptime goes on. */
	ctl.start.tv_sec = started;
	ctl.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (ctl.tfd < 0) {
		rc = -errno;
		hlog("%s: control socket: timerfd: %s", vm->name, strerror(-rc));
		return rc;
	}
	if ((rc = evloop_add(ctl.tfd, on_timer, NULL)) < 0)
		return rc;
	return control_from_monitor(fd);
}

void
control_fini(void)
{
	struct stat st;
	int i;

	for (i = 0; i < CONTROL_MAX_CONN; i++)
		if (ctl.conns[i] != NULL)
			conn_close(ctl.conns[i]);
	if (ctl.tfd >= 0) {
		evloop_del(ctl.tfd);
		close(ctl.tfd);
	}
	if (ctl.lfd >= 0 && ctl.handed) {
		/* The monitor has it; the path is its to remove. */
	} else if (ctl.lfd >= 0) {
		evloop_del(ctl.lfd);
		close(ctl.lfd);
		/* Only our own socket: another hyve may have replaced it. */
		if (lstat(ctl.path, &st) == 0 && st.st_dev == ctl.dev &&
		    st.st_ino == ctl.ino)
			unlink(ctl.path);
	}
	ctl.lfd = ctl.tfd = -1;
	ctl.handed = false;
	ctl.timer_on = false;
	ctl.path[0] = '\0';
}

const char *
control_path(void)
{
	return ctl.lfd >= 0 ? ctl.path : NULL;
}
