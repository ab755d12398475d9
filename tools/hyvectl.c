/*
 * hyvectl: talks to running hyve processes over their control sockets, in
 * the manner of bhyvectl.
 *
 * Exit status: 0 success, 1 the VM reported a failure (or an audit found a
 * process not confined as it should be), 2 usage error, 3 the VM cannot be
 * reached.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include "ipc/control.h"

#define EX_OK		0
#define EX_FAIL		1
#define EX_USAGE	2
#define EX_UNREACH	3

#define TIMEOUT_SEC	10
#define SNAP_TIMEOUT_SEC 300	/* writing guest RAM takes a while */
#define MAX_REPLY	(16 << 20)

static void
usage(void)
{
	fprintf(stderr,
	    "usage: hyvectl [--socket PATH] list\n"
	    "       hyvectl [--socket PATH] status VM [--json]\n"
	    "       hyvectl [--socket PATH] audit VM [--json]\n"
	    "       hyvectl [--socket PATH] poweroff VM [--force]\n"
	    "       hyvectl [--socket PATH] stats VM [--json]\n"
	    "       hyvectl [--socket PATH] restart VM DEVICE\n"
	    "       hyvectl [--socket PATH] swap VM DEVICE [--backend PATH] "
	    "[--path IMAGE | --tap NAME]\n"
	    "       hyvectl [--socket PATH] snapshot VM DIR [--resume]\n"
	    "       hyvectl [--socket PATH] upgrade VM [--binary PATH] "
	    "[--timeout SECONDS]\n"
	    "The socket is %s/VM.sock unless --socket is given.\n"
	    "Exit status: 0 ok, 1 the VM reported a failure, 2 usage, "
	    "3 the VM cannot be reached.\n", CTL_DIR);
}

static int
connect_to(const char *path, int *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = TIMEOUT_SEC };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		*err = ENAMETOOLONG;
		return -1;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		*err = errno;
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		*err = errno;
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads one line (malloc'd, without its newline) or NULL. */
static char *
read_line(int fd, size_t *lenp, int *err)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap), *nl, *p;
	ssize_t n;

	*err = 0;
	while (buf != NULL) {
		if (len == cap) {
			if (cap >= MAX_REPLY) {
				*err = EMSGSIZE;
				break;
			}
			if ((p = realloc(buf, cap * 2)) == NULL)
				break;
			buf = p;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*err = n < 0 ? errno : EPIPE;
			break;
		}
		/* The server sends nothing we did not ask for, so the first
		 * newline ends our reply. */
		nl = memchr(buf + len, '\n', n);
		len += n;
		if (nl != NULL) {
			*nl = '\0';
			*lenp = nl - buf;
			return buf;
		}
	}
	free(buf);
	if (*err == 0)
		*err = ENOMEM;
	return NULL;
}

/*
 * Sends req over path and parses the reply.  EX_OK with *res, EX_FAIL with
 * the VM's message printed, EX_UNREACH.  When the connection fails,
 * *conn_err is its errno and nothing is printed (list reports stale
 * sockets its own way).
 */
/* The first bytes of line with nfds descriptors (SCM_RIGHTS). */
static ssize_t
send_fds(int fd, const char *line, size_t len, const int *fds, int nfds)
{
	char cbuf[CMSG_SPACE(2 * sizeof(int))];
	struct iovec iov = { (void *)line, len };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = CMSG_SPACE(nfds *
		    sizeof(int)),
	};
	struct cmsghdr *cm;

	memset(cbuf, 0, sizeof(cbuf));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	return sendmsg(fd, &mh, MSG_NOSIGNAL);
}

static const int *call_fds;	/* snapshot: sent with the request */
static int call_nfds;

static int
call(const char *path, const struct ctl_req *req, json_object **res,
    int *conn_err)
{
	char *line, *reply, err[1024];
	size_t len, off;
	ssize_t n;
	int fd, e, rc;

	*res = NULL;
	*conn_err = 0;
	if ((fd = connect_to(path, &e)) < 0) {
		*conn_err = e;
		return EX_UNREACH;
	}
	if ((line = ctl_build_request(req)) == NULL) {
		close(fd);
		fprintf(stderr, "hyvectl: out of memory\n");
		return EX_UNREACH;
	}
	if (req->cmd == CTL_SNAPSHOT || req->cmd == CTL_UPGRADE) {
		/* The core answers an upgrade after the new one's deadline. */
		struct timeval tv = { .tv_sec = req->cmd == CTL_SNAPSHOT ?
		    SNAP_TIMEOUT_SEC : TIMEOUT_SEC + (req->timeout_ms ?
		    req->timeout_ms : CTL_UPGRADE_TIMEOUT_MS) / 1000 };

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	for (off = 0, len = strlen(line); off < len; off += n) {
		if (off == 0 && call_nfds > 0)
			n = send_fds(fd, line, len, call_fds, call_nfds);
		else
			n = send(fd, line + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n < 0) {
			e = errno;
			free(line);
			close(fd);
			fprintf(stderr, "hyvectl: %s: sending the request: %s\n",
			    path, strerror(e));
			return EX_UNREACH;
		}
	}
	free(line);
	reply = read_line(fd, &len, &e);
	close(fd);
	if (reply == NULL) {
		fprintf(stderr, "hyvectl: %s: no reply: %s (is the VM "
		    "stopping?)\n", path, e == EAGAIN ? "timed out" :
		    e == EPIPE ? "connection closed" : strerror(e));
		return EX_UNREACH;
	}
	rc = ctl_parse_response(reply, len, res, err, sizeof(err));
	free(reply);
	if (rc < 0) {
		fprintf(stderr, "hyvectl: %s: %s\n", path, err);
		return EX_UNREACH;
	}
	if (rc > 0) {
		fprintf(stderr, "hyvectl: %s: %s\n", path, err);
		return EX_FAIL;
	}
	return EX_OK;
}

static void
report_unreachable(const char *path, int e)
{
	if (e == ENOENT)
		fprintf(stderr, "hyvectl: %s: no such socket (is the VM "
		    "running? see hyvectl list)\n", path);
	else if (e == ECONNREFUSED)
		fprintf(stderr, "hyvectl: %s: stale socket, nobody listens "
		    "(the VM is gone)\n", path);
	else if (e == EACCES)
		fprintf(stderr, "hyvectl: %s: permission denied (run as the "
		    "VM's owner or root)\n", path);
	else
		fprintf(stderr, "hyvectl: %s: %s\n", path, strerror(e));
}

static int
call_or_report(const char *path, const struct ctl_req *req,
    json_object **res)
{
	int rc, e;

	rc = call(path, req, res, &e);
	if (e != 0)
		report_unreachable(path, e);
	return rc;
}

/* --- output ---------------------------------------------------------------- */

static const char *
str(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return "-";
	return json_object_get_string(v);
}

static int64_t
num(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return -1;
	return json_object_get_int64(v);
}

static void
fmt_size(int64_t b, char *buf, size_t len)
{
	if (b < 0)
		snprintf(buf, len, "-");
	else if (b >= (1LL << 30) && b % (1LL << 30) == 0)
		snprintf(buf, len, "%" PRId64 "G", b >> 30);
	else if (b >= (1LL << 20))
		snprintf(buf, len, "%" PRId64 "M", b >> 20);
	else
		snprintf(buf, len, "%" PRId64 "K", b >> 10);
}

static void
print_json(json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
}

static void
print_status(json_object *r)
{
	json_object *devs, *d;
	int64_t up = num(r, "uptime");
	char mem[32], held[32];
	size_t i;

	fmt_size(num(r, "memory"), mem, sizeof(mem));
	fmt_size(num(r, "memory_held"), held, sizeof(held));
	printf("%s: %s, pid %" PRId64 ", up %" PRId64 ":%02" PRId64 ":%02"
	    PRId64 ", %" PRId64 " cpu(s), %s memory (%s held by the host)\n",
	    str(r, "name"), str(r, "state"), num(r, "pid"), up / 3600,
	    up / 60 % 60, up % 60, num(r, "cpus"), mem, held);
	if (!json_object_object_get_ex(r, "devices", &devs) ||
	    !json_object_is_type(devs, json_type_array))
		return;
	printf("%-8s %-12s %-7s %-7s %-11s %-8s %s\n", "DEVICE", "EMULATION",
	    "SLOT", "PID", "STATE", "RESTARTS", "LAST EXIT");
	for (i = 0; i < json_object_array_length(devs); i++) {
		d = json_object_array_get_idx(devs, i);
		printf("%-8s %-12s %-7s %-7s %-11s %-8s %s", str(d, "name"),
		    str(d, "emulation"), str(d, "slot"), str(d, "pid"),
		    str(d, "state"), str(d, "restarts"), str(d, "last_exit"));
		if (num(d, "next_try_s") >= 0)
			printf(" (next try in %" PRId64 " s)",
			    num(d, "next_try_s"));
		printf("\n");
	}
}

static void
print_stats(json_object *r)
{
	json_object *devs, *d;
	size_t i;

	if (!json_object_object_get_ex(r, "devices", &devs) ||
	    !json_object_is_type(devs, json_type_array))
		return;
	printf("%-8s %8s %12s %14s %8s %10s %10s\n", "DEVICE", "RESTARTS",
	    "REQUESTS", "BYTES", "ERRORS", "KICKS", "INTERRUPTS");
	for (i = 0; i < json_object_array_length(devs); i++) {
		d = json_object_array_get_idx(devs, i);
		printf("%-8s %8s %12s %14s %8s %10s %10s\n", str(d, "name"),
		    str(d, "restarts"), str(d, "requests"), str(d, "bytes"),
		    str(d, "errors"), str(d, "kicks"), str(d, "interrupts"));
	}
}

static void
print_field(const char *key, json_object *v)
{
	printf("  %-16s %s\n", key, v == NULL ? "-" :
	    json_object_is_type(v, json_type_string) ? json_object_get_string(v) :
	    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* [real, effective, saved, fs] ids: one number when all agree. */
static void
print_ids(const char *key, json_object *v)
{
	size_t i, n;
	bool same = true;

	if (!json_object_is_type(v, json_type_array) ||
	    (n = json_object_array_length(v)) == 0) {
		print_field(key, v);
		return;
	}
	for (i = 1; i < n; i++)
		same &= json_object_get_int64(json_object_array_get_idx(v, i)) ==
		    json_object_get_int64(json_object_array_get_idx(v, 0));
	if (same)
		printf("  %-16s %s\n", key, json_object_get_string(
		    json_object_array_get_idx(v, 0)));
	else
		print_field(key, v);
}

/* Namespaces: those the process has of its own, and those it shares. */
static void
print_namespaces(json_object *v)
{
	json_object *shared;
	char own[256] = "", host[256] = "";
	size_t no = 0, nh = 0;

	if (!json_object_is_type(v, json_type_object)) {
		print_field("namespaces", v);
		return;
	}
	json_object_object_foreach(v, name, ns) {
		if (json_object_object_get_ex(ns, "shared_with_host", &shared) &&
		    json_object_get_boolean(shared))
			nh += snprintf(host + nh, nh < sizeof(host) ?
			    sizeof(host) - nh : 0, " %s", name);
		else
			no += snprintf(own + no, no < sizeof(own) ?
			    sizeof(own) - no : 0, " %s", name);
	}
	printf("  %-16s%s\n", "own ns", no ? own : " none");
	printf("  %-16s%s\n", "host's ns", nh ? host : " none");
}

static void
print_pairs(const char *key, json_object *v, const char *a, const char *b)
{
	json_object *x, *y;

	if (!json_object_is_type(v, json_type_object)) {
		print_field(key, v);
		return;
	}
	printf("  %-16s", key);
	json_object_object_foreach(v, name, val) {
		if (a == NULL) {
			printf(" %s=%s", name, json_object_get_string(val));
		} else if (json_object_object_get_ex(val, a, &x) &&
		    json_object_object_get_ex(val, b, &y)) {
			printf(" %s=%s/%s", name, json_object_get_string(x),
			    json_object_get_string(y));
		}
	}
	printf("\n");
}

static void
print_fds(json_object *v)
{
	json_object *f;
	size_t i;

	if (!json_object_is_type(v, json_type_array)) {
		print_field("fds", v);
		return;
	}
	printf("  %-16s %zu open\n", "fds", json_object_array_length(v));
	for (i = 0; i < json_object_array_length(v); i++) {
		f = json_object_array_get_idx(v, i);
		printf("  %16s %s -> %s\n", "", str(f, "fd"), str(f, "target"));
	}
}

/* "/ <- /run/vm0 (ext4, ro)": the process's mounts, as the host sees them. */
static void
print_mounts(json_object *v)
{
	json_object *m, *ro;
	size_t i, n;

	if (!json_object_is_type(v, json_type_array)) {
		print_field("mounts", v);
		return;
	}
	n = json_object_array_length(v);
	for (i = 0; i < n; i++) {
		m = json_object_array_get_idx(v, i);
		printf("  %-16s %s <- %s (%s, %s)\n", i == 0 ? "mounts" : "",
		    str(m, "at"), str(m, "path"), str(m, "fs"),
		    json_object_object_get_ex(m, "ro", &ro) &&
		    json_object_get_boolean(ro) ? "ro" : "rw");
	}
}

/* "allowlist  29 syscalls: read write ..." wrapped at 72 columns. */
static void
print_profile(json_object *p)
{
	json_object *pr, *list;
	size_t i, col;

	if (!json_object_object_get_ex(p, "profile", &pr) || pr == NULL)
		return;
	/* A program hyve did not write (virtiofsd) loads its own. */
	if (!json_object_object_get_ex(pr, "syscalls", &list)) {
		printf("  %-16s %s\n", "seccomp", str(pr, "kind"));
		return;
	}
	printf("  %-16s %s syscalls (%s):\n", str(pr, "kind"), str(pr, "count"),
	    strcmp(str(pr, "kind"), "denylist") == 0 ? "refused" :
	    "all that is let through; (args): only with certain arguments");
	col = 0;
	for (i = 0; i < json_object_array_length(list); i++) {
		const char *n = json_object_get_string(
		    json_object_array_get_idx(list, i));

		if (col == 0)
			col = printf("  %16s", "");
		col += printf(" %s", n);
		if (col > 72) {
			printf("\n");
			col = 0;
		}
	}
	if (col != 0)
		printf("\n");
}

static void
print_audit_one(json_object *p)
{
	json_object *a, *root;

	printf("%s %s (pid %s): %s%s%s\n", str(p, "role"), str(p, "name"),
	    str(p, "pid"), str(p, "verdict"),
	    strcmp(str(p, "reason"), "-") != 0 ? ": " : "",
	    strcmp(str(p, "reason"), "-") != 0 ? str(p, "reason") : "");
	if (!json_object_object_get_ex(p, "audit", &a) ||
	    !json_object_is_type(a, json_type_object))
		return;
	json_object_object_foreach(a, key, val) {
		if (strcmp(key, "pid") == 0 || strcmp(key, "fds_truncated") == 0)
			continue;
		if (strcmp(key, "uid") == 0 || strcmp(key, "gid") == 0)
			print_ids(key, val);
		else if (strcmp(key, "namespaces") == 0)
			print_namespaces(val);
		else if (strcmp(key, "capabilities") == 0)
			print_pairs("capabilities", val, NULL, NULL);
		else if (strcmp(key, "rlimits") == 0)
			print_pairs("rlimits", val, "soft", "hard");
		else if (strcmp(key, "root") == 0 &&
		    json_object_object_get_ex(val, "host", &root))
			printf("  %-16s %s%s\n", "root", str(val, "path"),
			    json_object_get_boolean(root) ? " (the host's)" : "");
		else if (strcmp(key, "fds") == 0)
			print_fds(val);
		else if (strcmp(key, "mounts") == 0)
			print_mounts(val);
		else
			print_field(key, val);
	}
	if (json_object_object_get_ex(a, "fds_truncated", &root) &&
	    json_object_get_boolean(root))
		printf("  %16s ... (more not shown)\n", "");
	print_profile(p);
}

/* EX_FAIL if a process failed its audit. */
static int
print_audit(json_object *r, bool json)
{
	json_object *procs, *p;
	int rc = EX_OK;
	size_t i;

	if (!json_object_object_get_ex(r, "processes", &procs) ||
	    !json_object_is_type(procs, json_type_array)) {
		fprintf(stderr, "hyvectl: the audit reply has no process list\n");
		return EX_UNREACH;
	}
	for (i = 0; i < json_object_array_length(procs); i++) {
		p = json_object_array_get_idx(procs, i);
		if (strcmp(str(p, "verdict"), "OK") != 0)
			rc = EX_FAIL;
		if (!json) {
			if (i > 0)
				printf("\n");
			print_audit_one(p);
		}
	}
	if (json)
		print_json(r);
	return rc;
}

/* --- commands -------------------------------------------------------------- */

/*
 * snapshot VM DIR: hyvectl creates the files, as the user who asks, and
 * passes them to the VM, whose core opens no path.  Both are written
 * under temporary names and renamed once complete, so DIR never holds a
 * state file that a failed snapshot left half written, and a VM still
 * reading DIR's old memory file (restored with memory.share_snapshot, or
 * while its RAM loads) keeps reading the old one.
 */
static int
cmd_snapshot(const char *sock, struct ctl_req *req, const char *dir)
{
	char tmp[4096], state[4096], mtmp[4096], mem[4096];
	json_object *r;
	int fds[2], rc;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "hyvectl: %s: %s\n", dir, strerror(errno));
		return EX_USAGE;
	}
	if (realpath(dir, req->path) == NULL) {
		fprintf(stderr, "hyvectl: %s: %s\n", dir, strerror(errno));
		return EX_USAGE;
	}
	snprintf(tmp, sizeof(tmp), "%s/.state.partial", req->path);
	snprintf(state, sizeof(state), "%s/state", req->path);
	snprintf(mtmp, sizeof(mtmp), "%s/.memory.partial", req->path);
	snprintf(mem, sizeof(mem), "%s/memory", req->path);
	unlink(state);
	fds[0] = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	fds[1] = open(mtmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fds[0] < 0 || fds[1] < 0) {
		fprintf(stderr, "hyvectl: %s: %s\n", fds[0] < 0 ? tmp : mtmp,
		    strerror(errno));
		rc = EX_USAGE;
		goto out;
	}
	call_fds = fds;
	call_nfds = 2;
	if ((rc = call_or_report(sock, req, &r)) != EX_OK)
		goto out;
	if (fsync(fds[0]) < 0 || fsync(fds[1]) < 0 || rename(mtmp, mem) < 0 ||
	    rename(tmp, state) < 0) {
		fprintf(stderr, "hyvectl: %s: %s\n", state, strerror(errno));
		json_object_put(r);
		rc = EX_FAIL;
		goto out;
	}
	printf("%s: snapshot in %s (state %s bytes, memory %s bytes stored)%s\n",
	    req->vm, req->path, str(r, "state_bytes"), str(r, "memory_bytes"),
	    req->resume ? ", running on" : ", the VM has stopped");
	json_object_put(r);
out:
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	if (rc != EX_OK) {
		unlink(tmp);
		unlink(mtmp);
	}
	return rc;
}

static void
list_row(const char *path)
{
	struct ctl_req req = { .version = CTL_VERSION, .cmd = CTL_STATUS };
	json_object *r, *devs, *d;
	char name[64], mem[32], devlist[256];
	const char *base, *dot;
	size_t i, n = 0;
	int e;

	base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	dot = strrchr(base, '.');
	snprintf(name, sizeof(name), "%.*s", (int)(dot ? dot - base :
	    (long)strlen(base)), base);
	if (call(path, &req, &r, &e) != EX_OK) {
		printf("%-16s %-7s %-4s %-7s (%s: %s)\n", name, "-", "-", "-",
		    path, e == ECONNREFUSED ? "stale socket, no hyve listens; "
		    "remove it" : e != 0 ? strerror(e) : "no valid reply");
		return;
	}
	devlist[0] = '\0';
	if (json_object_object_get_ex(r, "devices", &devs) &&
	    json_object_is_type(devs, json_type_array)) {
		for (i = 0; i < json_object_array_length(devs); i++) {
			d = json_object_array_get_idx(devs, i);
			if (strcmp(str(d, "pid"), "-") == 0)
				continue;	/* in the core: not a backend */
			n += snprintf(devlist + n, n < sizeof(devlist) ?
			    sizeof(devlist) - n : 0, "%s%s", n ? "," : "",
			    str(d, "name"));
		}
	}
	fmt_size(num(r, "memory"), mem, sizeof(mem));
	printf("%-16s %-7s %-4s %-7s %s\n", str(r, "name"), str(r, "pid"),
	    str(r, "cpus"), mem, devlist[0] ? devlist : "-");
	json_object_put(r);
}

static int
cmd_list(const char *sock)
{
	glob_t g;
	size_t i;
	int rc;

	printf("%-16s %-7s %-4s %-7s %s\n", "NAME", "PID", "CPUS", "MEMORY",
	    "DEVICES");
	if (sock != NULL) {
		list_row(sock);
		return EX_OK;
	}
	rc = glob(CTL_DIR "/*.sock", 0, NULL, &g);
	if (rc == GLOB_NOMATCH)
		return EX_OK;
	if (rc != 0) {
		fprintf(stderr, "hyvectl: cannot list %s\n", CTL_DIR);
		return EX_UNREACH;
	}
	for (i = 0; i < g.gl_pathc; i++)
		list_row(g.gl_pathv[i]);
	globfree(&g);
	return EX_OK;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "force", no_argument, NULL, 'f' },
		{ "backend", required_argument, NULL, 'b' },
		{ "path", required_argument, NULL, 'p' },
		{ "tap", required_argument, NULL, 't' },
		{ "resume", no_argument, NULL, 'r' },
		{ "binary", required_argument, NULL, 'B' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_req req = { .version = CTL_VERSION };
	const char *sock = NULL, *vm, *backend = NULL, *ipath = NULL,
	    *tap = NULL, *binary = NULL;
	long timeout = 0;
	char *end;
	bool json = false, force = false, resume = false;
	json_object *r;
	char path[256];
	int c, rc;

	while ((c = getopt_long(argc, argv, "s:jfb:p:t:rhB:T:", opts,
	    NULL)) != -1) {
		switch (c) {
		case 'B':
			binary = optarg;
			break;
		case 'T':
			timeout = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || timeout < 1 ||
			    timeout > 3600) {
				fprintf(stderr, "hyvectl: --timeout %s: give "
				    "whole seconds from 1 to 3600\n", optarg);
				return EX_USAGE;
			}
			break;
		case 'r':
			resume = true;
			break;
		case 'b':
			backend = optarg;
			break;
		case 'p':
			ipath = optarg;
			break;
		case 't':
			tap = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'f':
			force = true;
			break;
		case 'h':
			usage();
			return EX_OK;
		default:
			usage();
			return EX_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage();
		return EX_USAGE;
	}
	if (strcmp(argv[0], "list") == 0) {
		if (argc != 1 || json || force) {
			fprintf(stderr, "hyvectl: list takes no arguments\n");
			return EX_USAGE;
		}
		return cmd_list(sock);
	}
	if ((req.cmd = ctl_cmd_lookup(argv[0])) == CTL_NONE) {
		fprintf(stderr, "hyvectl: unknown command '%s' (list, status, "
		    "audit, poweroff, stats, restart, swap, snapshot or "
		    "upgrade)\n", argv[0]);
		return EX_USAGE;
	}
	if (req.cmd == CTL_RESTART || req.cmd == CTL_SWAP) {
		if (argc != 3) {
			fprintf(stderr, "hyvectl: %s needs a VM name and a "
			    "device (see hyvectl status VM)\n", argv[0]);
			return EX_USAGE;
		}
		if (strlen(argv[2]) == 0 || strlen(argv[2]) >= sizeof(req.device)) {
			fprintf(stderr, "hyvectl: '%s' is not a device name\n",
			    argv[2]);
			return EX_USAGE;
		}
		snprintf(req.device, sizeof(req.device), "%s", argv[2]);
	} else if (req.cmd == CTL_SNAPSHOT) {
		if (argc != 3) {
			fprintf(stderr, "hyvectl: snapshot needs a VM name and a "
			    "directory\n");
			return EX_USAGE;
		}
	} else if (argc != 2) {
		fprintf(stderr, "hyvectl: %s needs exactly one VM name\n",
		    argv[0]);
		return EX_USAGE;
	}
	if ((backend || ipath || tap) && req.cmd != CTL_SWAP) {
		fprintf(stderr, "hyvectl: --backend, --path and --tap apply "
		    "only to swap\n");
		return EX_USAGE;
	}
	if ((binary || timeout) && req.cmd != CTL_UPGRADE) {
		fprintf(stderr, "hyvectl: --binary and --timeout apply only to "
		    "upgrade\n");
		return EX_USAGE;
	}
	if (binary && (strlen(binary) >= sizeof(req.backend) ||
	    realpath(binary, req.backend) == NULL)) {
		fprintf(stderr, "hyvectl: %s: %s\n", binary,
		    strlen(binary) >= sizeof(req.backend) ? "path too long" :
		    strerror(errno));
		return EX_USAGE;
	}
	req.timeout_ms = timeout * 1000;
	if (ipath && tap) {
		fprintf(stderr, "hyvectl: give --path or --tap, not both\n");
		return EX_USAGE;
	}
	if ((backend && strlen(backend) >= sizeof(req.backend)) ||
	    (ipath && strlen(ipath) >= sizeof(req.path)) ||
	    (tap && strlen(tap) >= sizeof(req.tap))) {
		fprintf(stderr, "hyvectl: a path or name is too long\n");
		return EX_USAGE;
	}
	/* Paths travel to hyve, whose working directory is not ours. */
	if (backend && realpath(backend, req.backend) == NULL) {
		fprintf(stderr, "hyvectl: %s: %s\n", backend, strerror(errno));
		return EX_USAGE;
	}
	if (ipath && realpath(ipath, req.path) == NULL) {
		fprintf(stderr, "hyvectl: %s: %s\n", ipath, strerror(errno));
		return EX_USAGE;
	}
	if (tap)
		snprintf(req.tap, sizeof(req.tap), "%s", tap);
	vm = argv[1];
	if (vm[0] == '\0' || vm[0] == '.' || strchr(vm, '/') != NULL ||
	    strlen(vm) >= sizeof(req.vm)) {
		fprintf(stderr, "hyvectl: '%s' is not a VM name\n", vm);
		return EX_USAGE;
	}
	if (resume && req.cmd != CTL_SNAPSHOT) {
		fprintf(stderr, "hyvectl: --resume applies only to snapshot\n");
		return EX_USAGE;
	}
	if (force && req.cmd != CTL_POWEROFF) {
		fprintf(stderr, "hyvectl: --force applies only to poweroff\n");
		return EX_USAGE;
	}
	if (json && req.cmd != CTL_STATUS && req.cmd != CTL_AUDIT &&
	    req.cmd != CTL_STATS) {
		fprintf(stderr, "hyvectl: --json applies to status, audit and "
		    "stats\n");
		return EX_USAGE;
	}
	snprintf(req.vm, sizeof(req.vm), "%s", vm);
	req.force = force;
	if (sock == NULL) {
		snprintf(path, sizeof(path), "%s/%s.sock", CTL_DIR, vm);
		sock = path;
	}
	if (req.cmd == CTL_SNAPSHOT) {
		req.resume = resume;
		return cmd_snapshot(sock, &req, argv[2]);
	}
	if ((rc = call_or_report(sock, &req, &r)) != EX_OK)
		return rc;
	switch (req.cmd) {
	case CTL_STATUS:
		if (json)
			print_json(r);
		else
			print_status(r);
		break;
	case CTL_AUDIT:
		rc = print_audit(r, json);
		break;
	case CTL_STATS:
		if (json)
			print_json(r);
		else
			print_stats(r);
		break;
	case CTL_RESTART:
	case CTL_SWAP:
		printf("%s: %s: new backend pid %s\n", vm, str(r, "device"),
		    str(r, "pid"));
		break;
	case CTL_UPGRADE:
		printf("%s: upgraded to %s: core pid %s (was %s), handover %s "
		    "ms\n", vm, str(r, "binary"), str(r, "pid"),
		    str(r, "old_pid"), str(r, "handover_ms"));
		break;
	default:
		printf("%s: %s\n", vm, str(r, "action"));
		break;
	}
	json_object_put(r);
	return rc;
}
