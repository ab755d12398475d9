#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "core/control.h"
#include "core/evloop.h"
#include "core/vm.h"
#include "ipc/control.h"

/* --- protocol -------------------------------------------------------------- */

static void
parse_ok(const char *line, struct ctl_req *req)
{
	char err[512] = "";
	size_t len = strlen(line);

	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (ctl_parse_request(line, len, req, err, sizeof(err)) != 0)
		fail_msg("'%s' was refused: %s", line, err);
}

static void
test_request_roundtrip(void **state)
{
	struct ctl_req in, out;
	enum ctl_cmd c;
	char *line;

	(void)state;
	for (c = CTL_STATUS; c <= CTL_POWEROFF; c++) {
		memset(&in, 0, sizeof(in));
		in.cmd = c;
		snprintf(in.vm, sizeof(in.vm), "vm-%d", (int)c);
		in.force = c == CTL_POWEROFF;
		line = ctl_build_request(&in);
		assert_non_null(line);
		assert_int_equal(line[strlen(line) - 1], '\n');
		assert_null(memchr(line, '\n', strlen(line) - 1));
		parse_ok(line, &out);
		assert_int_equal(out.version, CTL_VERSION);
		assert_int_equal(out.cmd, c);
		assert_string_equal(out.vm, in.vm);
		assert_int_equal(out.force, in.force);
		free(line);
	}
	/* No vm, no force. */
	memset(&in, 0, sizeof(in));
	in.cmd = CTL_POWEROFF;
	line = ctl_build_request(&in);
	assert_non_null(line);
	assert_null(strstr(line, "force"));
	assert_null(strstr(line, "\"vm\""));
	parse_ok(line, &out);
	assert_string_equal(out.vm, "");
	assert_false(out.force);
	free(line);
	in.cmd = CTL_NONE;
	assert_null(ctl_build_request(&in));
	/* White space around the object and a CR are tolerated. */
	parse_ok(" {\"cmd\":\"audit\", \"version\": 1}\r", &out);
	assert_int_equal(out.cmd, CTL_AUDIT);
	assert_string_equal(ctl_cmd_name(CTL_AUDIT), "audit");
	assert_int_equal(ctl_cmd_lookup("poweroff"), CTL_POWEROFF);
	assert_int_equal(ctl_cmd_lookup("Status"), CTL_NONE);
	/* snapshot: the directory, and resume only when asked. */
	for (int r = 0; r <= 1; r++) {
		memset(&in, 0, sizeof(in));
		in.cmd = CTL_SNAPSHOT;
		in.resume = r;
		snprintf(in.path, sizeof(in.path), "/srv/snaps/a");
		line = ctl_build_request(&in);
		assert_non_null(line);
		assert_true((strstr(line, "\"resume\":true") != NULL) == r);
		parse_ok(line, &out);
		assert_int_equal(out.cmd, CTL_SNAPSHOT);
		assert_string_equal(out.path, "/srv/snaps/a");
		assert_int_equal(out.resume, r);
		free(line);
	}
	/* upgrade: the binary travels as "binary", the timeout in ms. */
	memset(&in, 0, sizeof(in));
	in.cmd = CTL_UPGRADE;
	snprintf(in.backend, sizeof(in.backend), "/opt/hyve/hyve");
	in.timeout_ms = 5000;
	line = ctl_build_request(&in);
	assert_non_null(line);
	assert_non_null(strstr(line, "\"binary\":\"/opt/hyve/hyve\""));
	assert_null(strstr(line, "\"backend\""));
	parse_ok(line, &out);
	assert_int_equal(out.cmd, CTL_UPGRADE);
	assert_string_equal(out.backend, "/opt/hyve/hyve");
	assert_int_equal(out.timeout_ms, 5000);
	free(line);
	parse_ok("{\"version\":1,\"cmd\":\"upgrade\"}", &out);
	assert_string_equal(out.backend, "");
	assert_int_equal(out.timeout_ms, 0);
}

struct bad {
	const char	*line;
	size_t		len;		/* 0: strlen */
	int		rc;
	const char	*msg;
};

static void
test_request_malformed(void **state)
{
	static const struct bad bad[] = {
		{ "not json", 0, -EINVAL, "not valid JSON" },
		{ "[1,2]", 0, -EINVAL, "must be a JSON object, not array" },
		{ "\"status\"", 0, -EINVAL, "must be a JSON object, not string" },
		{ "42", 0, -EINVAL, "must be a JSON object, not int" },
		{ "{\"cmd\":\"status\"}", 0, -EINVAL, "no \"version\"" },
		{ "{\"version\":2,\"cmd\":\"status\"}", 0, -EPROTO,
		    "version 2 is not supported" },
		{ "{\"version\":\"1\",\"cmd\":\"status\"}", 0, -EINVAL,
		    "\"version\" must be an integer, not string" },
		{ "{\"version\":1.0,\"cmd\":\"status\"}", 0, -EINVAL,
		    "must be an integer, not double" },
		{ "{\"version\":1}", 0, -EINVAL, "no \"cmd\"" },
		{ "{\"version\":1,\"cmd\":5}", 0, -EINVAL,
		    "\"cmd\" must be a string, not int" },
		{ "{\"version\":1,\"cmd\":null}", 0, -EINVAL,
		    "\"cmd\" must be a string, not null" },
		{ "{\"version\":1,\"cmd\":\"reboot\"}", 0, -EINVAL,
		    "unknown cmd \"reboot\"" },
		{ "{\"version\":1,\"cmd\":\"status\",\"force\":true}", 0,
		    -EINVAL, "\"force\" applies only to poweroff" },
		{ "{\"version\":1,\"cmd\":\"poweroff\",\"force\":\"yes\"}", 0,
		    -EINVAL, "\"force\" must be true or false" },
		{ "{\"version\":1,\"cmd\":\"snapshot\"}", 0, -EINVAL,
		    "snapshot needs \"path\"" },
		{ "{\"version\":1,\"cmd\":\"status\",\"resume\":true}", 0,
		    -EINVAL, "\"resume\" applies only to snapshot" },
		{ "{\"version\":1,\"cmd\":\"status\",\"path\":\"/x\"}", 0,
		    -EINVAL, "\"path\" applies only to swap and snapshot" },
		{ "{\"version\":1,\"cmd\":\"snapshot\",\"path\":\"/x\","
		    "\"resume\":1}", 0, -EINVAL, "\"resume\" must be true or "
		    "false" },
		{ "{\"version\":1,\"cmd\":\"status\",\"extra\":1}", 0, -EINVAL,
		    "unknown field \"extra\"" },
		{ "{\"version\":1,\"cmd\":\"swap\",\"device\":\"blk0\","
		    "\"binary\":\"/x\"}", 0, -EINVAL,
		    "\"binary\" applies only to upgrade" },
		{ "{\"version\":1,\"cmd\":\"upgrade\",\"backend\":\"/x\"}", 0,
		    -EINVAL, "\"backend\" applies only to swap" },
		{ "{\"version\":1,\"cmd\":\"upgrade\",\"timeout\":0}", 0,
		    -EINVAL, "\"timeout\" must be milliseconds from 1" },
		{ "{\"version\":1,\"cmd\":\"upgrade\",\"timeout\":\"5\"}", 0,
		    -EINVAL, "\"timeout\" must be milliseconds from 1" },
		{ "{\"version\":1,\"cmd\":\"upgrade\",\"binary\":\"\"}", 0,
		    -EINVAL, "\"binary\" must be 1 to" },
		{ "{\"version\":1,\"cmd\":\"status\",\"vm\":7}", 0, -EINVAL,
		    "\"vm\" must be a string" },
		{ "{\"version\":1,\"cmd\":\"status\",\"vm\":\"\"}", 0, -EINVAL,
		    "\"vm\" must be a name" },
		{ "{\"version\":1,\"cmd\":\"status\"} {}", 0, -EINVAL,
		    "not valid JSON: unexpected character at byte 29" },
		{ "{\"version\":1,\"cmd\":\"st\xff\"}", 0, -EINVAL,
		    "not valid JSON" },
		{ "{\"version\":1,\"cmd\":\"status\"", 0, -EINVAL, "ends early" },
		{ "{'version':1,'cmd':'status'}", 0, -EINVAL, "not valid JSON" },
		{ "", 0, -EINVAL, "empty request" },
		{ "{\"version\":1,\0\"cmd\":\"status\"}", 29, -EINVAL,
		    "NUL byte at offset 13" },
	};
	struct ctl_req req;
	char err[512], *big;
	size_t i, len;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		len = bad[i].len ? bad[i].len : strlen(bad[i].line);
		err[0] = '\0';
		rc = ctl_parse_request(bad[i].line, len, &req, err, sizeof(err));
		if (rc != bad[i].rc || strstr(err, bad[i].msg) == NULL)
			fail_msg("'%s': rc %d err '%s', expected %d '%s'",
			    bad[i].line, rc, err, bad[i].rc, bad[i].msg);
	}
	/* An oversized line is refused before it is parsed. */
	big = malloc(CTL_MAX_LINE + 1);
	assert_non_null(big);
	memset(big, ' ', CTL_MAX_LINE);
	memcpy(big, "{\"version\":1,\"cmd\":\"status\"}", 28);
	assert_int_equal(ctl_parse_request(big, CTL_MAX_LINE, &req, err,
	    sizeof(err)), -EMSGSIZE);
	assert_non_null(strstr(err, "longer than"));
	/* One byte less is a valid (padded) request. */
	assert_int_equal(ctl_parse_request(big, CTL_MAX_LINE - 1, &req, err,
	    sizeof(err)), 0);
	free(big);
	/* Deep nesting is an error, not a stack overflow. */
	big = malloc(100001);
	assert_non_null(big);
	memset(big, '[', 100000);
	big[100000] = '\0';
	assert_int_equal(ctl_parse_request(big, 100000, &req, err, sizeof(err)),
	    -EMSGSIZE);
	assert_int_equal(ctl_parse_request(big, 5000, &req, err, sizeof(err)),
	    -EINVAL);
	assert_non_null(strstr(err, "not valid JSON"));
	free(big);
}

static void
test_response(void **state)
{
	json_object *r, *v;
	char err[512], *line;
	int rc;

	(void)state;
	r = json_object_new_object();
	json_object_object_add(r, "answer", json_object_new_int(42));
	line = ctl_build_ok(r);
	assert_non_null(line);
	assert_int_equal(line[strlen(line) - 1], '\n');
	rc = ctl_parse_response(line, strlen(line) - 1, &r, err, sizeof(err));
	assert_int_equal(rc, 0);
	assert_true(json_object_object_get_ex(r, "answer", &v));
	assert_int_equal(json_object_get_int(v), 42);
	json_object_put(r);
	free(line);

	line = ctl_build_ok(NULL);
	assert_string_equal(line, "{\"version\":1,\"ok\":true,\"result\":{}}\n");
	free(line);

	line = ctl_build_error("slot %d: \"%s\"\n", 3, "bad");
	assert_non_null(line);
	assert_null(memchr(line, '\n', strlen(line) - 1));
	rc = ctl_parse_response(line, strlen(line) - 1, &r, err, sizeof(err));
	assert_int_equal(rc, 1);
	assert_null(r);
	assert_string_equal(err, "slot 3: \"bad\"\n");
	free(line);

	assert_int_equal(ctl_parse_response("{\"version\":1,\"ok\":true}", 23,
	    &r, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "no \"result\""));
	assert_int_equal(ctl_parse_response("{\"version\":1,\"ok\":1}", 20, &r,
	    err, sizeof(err)), -EPROTO);
	assert_int_equal(ctl_parse_response("{\"version\":3,\"ok\":true}", 23,
	    &r, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "version 3"));
	assert_int_equal(ctl_parse_response("oops", 4, &r, err, sizeof(err)),
	    -EPROTO);
	assert_null(r);
}

static void
feed(struct ctl_lines *l, const char *s)
{
	size_t room, n = strlen(s);
	char *p = ctl_lines_space(l, &room);

	assert_true(room >= n);
	memcpy(p, s, n);
	ctl_lines_added(l, n);
}

static void
test_lines(void **state)
{
	struct ctl_lines *l = malloc(sizeof(*l));
	size_t len, room;
	char *line, *p;

	(void)state;
	assert_non_null(l);
	ctl_lines_init(l);
	assert_int_equal(ctl_lines_next(l, &line, &len), 0);
	feed(l, "ab");
	assert_int_equal(ctl_lines_next(l, &line, &len), 0);
	feed(l, "c\nde\n\nf");
	assert_int_equal(ctl_lines_next(l, &line, &len), 1);
	assert_string_equal(line, "abc");
	assert_int_equal(len, 3);
	assert_int_equal(ctl_lines_next(l, &line, &len), 1);
	assert_string_equal(line, "de");
	assert_int_equal(ctl_lines_next(l, &line, &len), 1);
	assert_int_equal(len, 0);
	assert_int_equal(ctl_lines_next(l, &line, &len), 0);
	feed(l, "g\n");
	assert_int_equal(ctl_lines_next(l, &line, &len), 1);
	assert_string_equal(line, "fg");
	/* A full buffer without a newline is an oversized line. */
	p = ctl_lines_space(l, &room);
	assert_int_equal(room, CTL_MAX_LINE);
	memset(p, 'x', room);
	ctl_lines_added(l, room + 100);		/* clamped */
	ctl_lines_space(l, &room);
	assert_int_equal(room, 0);
	assert_int_equal(ctl_lines_next(l, &line, &len), -EMSGSIZE);
	/* The longest line that fits. */
	ctl_lines_init(l);
	p = ctl_lines_space(l, &room);
	memset(p, 'y', room - 1);
	p[room - 1] = '\n';
	ctl_lines_added(l, room);
	assert_int_equal(ctl_lines_next(l, &line, &len), 1);
	assert_int_equal(len, CTL_MAX_LINE - 1);
	free(l);
}

/* --- the server, without KVM ----------------------------------------------- */

static struct vm vm;
static char dir[48], path[64];

static int
srv_setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/hyve-ctl.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/vm.sock", dir);
	if (vm_create_nokvm(&vm, "t", 16 << 20) < 0 || evloop_init() < 0)
		return -1;
	vm.ncpus = 2;
	return control_init(&vm, path) == 0 ? 0 : -1;
}

static int
srv_teardown(void **state)
{
	(void)state;
	control_fini();
	vm_destroy(&vm);
	unlink(path);
	rmdir(dir);
	return 0;
}

static int
cli(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void
put(int fd, const char *s, size_t n)
{
	assert_int_equal(write(fd, s, n), (ssize_t)n);
}

/*
 * Serves the core until fd has a whole line; returns it (malloc'd), or
 * NULL at end of file.
 */
static char *
reply(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[65536];
	size_t n = 0;
	int i;

	for (i = 0; i < 500; i++) {
		if (poll(&p, 1, 0) == 1) {
			ssize_t r = read(fd, buf + n, 1);

			if (r <= 0)
				return NULL;
			if (buf[n] == '\n') {
				buf[n] = '\0';
				return strdup(buf);
			}
			if (++n == sizeof(buf) - 1)
				fail_msg("reply line too long");
			i = 0;
			continue;
		}
		evloop_run_once(10);
	}
	fail_msg("no reply from the control socket");
	return NULL;
}

/* Sends req, serves, parses the reply: 0 ok (*res set), 1 error (err). */
static int
ask(int fd, const char *req, json_object **res, char *err, size_t errlen)
{
	char *line;
	int rc;

	put(fd, req, strlen(req));
	line = reply(fd);
	assert_non_null(line);
	rc = ctl_parse_response(line, strlen(line), res, err, errlen);
	if (rc < 0)
		fail_msg("bad response '%s': %s", line, err);
	free(line);
	return rc;
}

static json_object *
get(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("no \"%s\" in %s", key, json_object_to_json_string(o));
	return v;
}

static void
test_server_status(void **state)
{
	json_object *r, *p;
	struct stat st;
	char err[512];
	int fd;

	(void)state;
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_string_equal(control_path(), path);

	fd = cli();
	assert_int_equal(ask(fd, "{\"version\":1,\"cmd\":\"status\",\"vm\":\"t\"}\n",
	    &r, err, sizeof(err)), 0);
	assert_string_equal(json_object_get_string(get(r, "name")), "t");
	assert_int_equal(json_object_get_int(get(r, "pid")), getpid());
	assert_int_equal(json_object_get_int(get(r, "cpus")), 2);
	assert_int_equal(json_object_get_int64(get(r, "memory")), 16 << 20);
	assert_string_equal(json_object_get_string(get(r, "state")), "running");
	assert_true(json_object_get_int64(get(r, "uptime")) >= 0);
	assert_true(json_object_is_type(get(r, "devices"), json_type_array));
	json_object_put(r);

	/* Two requests in one write are answered in order. */
	{
		const char *two = "{\"version\":1,\"cmd\":\"audit\"}\n"
		    "{\"version\":1,\"cmd\":\"nope\"}\n";

		put(fd, two, strlen(two));
	}
	{
		char *a = reply(fd), *b = reply(fd);

		assert_non_null(a);
		assert_non_null(b);
		assert_int_equal(ctl_parse_response(a, strlen(a), &r, err,
		    sizeof(err)), 0);
		p = json_object_array_get_idx(get(r, "processes"), 0);
		assert_non_null(p);
		assert_string_equal(json_object_get_string(get(p, "role")),
		    "core");
		assert_int_equal(json_object_get_int(get(p, "pid")), getpid());
		/* This test is not sandboxed: the audit must say so. */
		assert_string_equal(json_object_get_string(get(p, "verdict")),
		    "FAIL");
		assert_non_null(strstr(json_object_get_string(get(p, "reason")),
		    "seccomp"));
		assert_int_equal(json_object_get_int(get(get(p, "audit"),
		    "pid")), getpid());
		assert_true(json_object_is_type(get(get(p, "audit"), "fds"),
		    json_type_array));
		json_object_put(r);
		assert_int_equal(ctl_parse_response(b, strlen(b), &r, err,
		    sizeof(err)), 1);
		assert_non_null(strstr(err, "unknown cmd \"nope\""));
		free(a);
		free(b);
	}

	/* The wrong VM. */
	assert_int_equal(ask(fd, "{\"version\":1,\"cmd\":\"status\",\"vm\":\"u\"}\n",
	    &r, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "serves VM \"t\", not \"u\""));
	close(fd);
}

static void
test_server_malformed(void **state)
{
	static const char *bad[] = {
		"garbage\n", "[]\n", "{\"cmd\":\"status\"}\n",
		"{\"version\":2,\"cmd\":\"status\"}\n", "{\"version\":1}\n",
		"{\"version\":1,\"cmd\":[]}\n", "\xc3\x28\n", "\n",
	};
	json_object *r;
	char err[512], *big, *line;
	size_t i;
	int fd;

	(void)state;
	fd = cli();
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(ask(fd, bad[i], &r, err, sizeof(err)), 1);
	/* Embedded NUL. */
	put(fd, "{\"version\":1,\0\"cmd\":\"status\"}\n", 30);
	line = reply(fd);
	assert_non_null(line);
	assert_non_null(strstr(line, "NUL byte"));
	free(line);
	/* Still served after all that. */
	assert_int_equal(ask(fd, "{\"version\":1,\"cmd\":\"status\"}\n", &r,
	    err, sizeof(err)), 0);
	json_object_put(r);
	assert_false(vm.exiting);

	/* An oversized line: an error, then the connection is closed. */
	big = malloc(CTL_MAX_LINE + 10);
	assert_non_null(big);
	memset(big, 'a', CTL_MAX_LINE + 10);
	put(fd, big, CTL_MAX_LINE + 10);
	free(big);
	line = reply(fd);
	assert_non_null(line);
	assert_non_null(strstr(line, "longer than"));
	free(line);
	assert_null(reply(fd));
	close(fd);
}

static void
test_server_slow_clients(void **state)
{
	json_object *r;
	char err[512], *buf, *line;
	int slow, flood, good, i, fl;
	size_t off, len, one;
	ssize_t n;

	(void)state;
	/* Sends half a request and waits forever. */
	slow = cli();
	put(slow, "{\"vers", 6);
	/* Sends requests as fast as it can and never reads. */
	flood = cli();
	fl = fcntl(flood, F_GETFL);
	fcntl(flood, F_SETFL, fl | O_NONBLOCK);
	one = strlen("{\"version\":1,\"cmd\":\"status\"}\n");
	len = one * 20000;
	buf = malloc(len);
	assert_non_null(buf);
	for (off = 0; off < len; off += one)
		memcpy(buf + off, "{\"version\":1,\"cmd\":\"status\"}\n", one);
	for (off = 0, i = 0; i < 400 && off < len; i++) {
		n = write(flood, buf + off, len - off);
		if (n > 0)
			off += n;
		else if (n < 0 && errno != EAGAIN)
			break;		/* the core dropped it */
		evloop_run_once(5);
	}
	free(buf);

	/* Neither stops a good client from being served. */
	good = cli();
	assert_int_equal(ask(good, "{\"version\":1,\"cmd\":\"status\"}\n", &r,
	    err, sizeof(err)), 0);
	json_object_put(r);

	/* The flooder got replies until it stopped reading, then was dropped. */
	fcntl(flood, F_SETFL, fl);
	for (i = 0; (line = reply(flood)) != NULL; i++)
		free(line);
	assert_true(i > 0);
	assert_true((size_t)i < len / one);
	close(flood);
	close(slow);
	close(good);
}

static void
test_server_conn_cap(void **state)
{
	int fds[CONTROL_MAX_CONN + 1], i;
	json_object *r;
	char err[512];

	(void)state;
	for (i = 0; i < CONTROL_MAX_CONN; i++) {
		fds[i] = cli();
		assert_int_equal(ask(fds[i], "{\"version\":1,\"cmd\":\"status\"}\n",
		    &r, err, sizeof(err)), 0);
		json_object_put(r);
	}
	fds[i] = cli();
	assert_int_equal(ask(fds[i], "{\"version\":1,\"cmd\":\"status\"}\n", &r,
	    err, sizeof(err)), 1);
	assert_non_null(strstr(err, "too many control connections"));
	close(fds[i]);
	/* A slot freed is a slot for the next client. */
	close(fds[0]);
	for (i = 0; i < 5; i++)
		evloop_run_once(10);
	fds[0] = cli();
	assert_int_equal(ask(fds[0], "{\"version\":1,\"cmd\":\"status\"}\n", &r,
	    err, sizeof(err)), 0);
	json_object_put(r);
	for (i = 0; i < CONTROL_MAX_CONN; i++)
		close(fds[i]);
	for (i = 0; i < 5; i++)
		evloop_run_once(10);
}

static void
test_server_other_uid(void **state)
{
	pid_t pid;
	int st, i;

	(void)state;
	if (geteuid() != 0)
		skip();
	/* Let it reach the socket, so that only SO_PEERCRED stops it. */
	assert_int_equal(chmod(dir, 0711), 0);
	assert_int_equal(chmod(path, 0666), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		char buf[512];
		ssize_t n;
		int fd;

		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			_exit(3);
		n = read(fd, buf, sizeof(buf) - 1);
		if (n <= 0)
			_exit(4);
		buf[n] = '\0';
		_exit(strstr(buf, "permission denied") ? 0 : 5);
	}
	for (i = 0; i < 300 && waitpid(pid, &st, WNOHANG) == 0; i++)
		evloop_run_once(10);
	assert_int_equal(chmod(path, 0600), 0);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void
test_server_poweroff(void **state)
{
	json_object *r;
	char err[512];
	int fd;

	(void)state;
	fd = cli();
	assert_int_equal(ask(fd, "{\"version\":1,\"cmd\":\"poweroff\"}\n", &r,
	    err, sizeof(err)), 0);
	assert_string_equal(json_object_get_string(get(r, "action")),
	    "power button pressed");
	json_object_put(r);
	assert_int_equal(vm.exiting, 0);
	assert_int_equal(ask(fd, "{\"version\":1,\"cmd\":\"poweroff\",\"force\":"
	    "false}\n", &r, err, sizeof(err)), 0);
	json_object_put(r);
	assert_int_equal(vm.exiting, 0);
	assert_int_equal(ask(fd, "{\"version\":1,\"cmd\":\"poweroff\",\"vm\":\"t\","
	    "\"force\":true}\n", &r, err, sizeof(err)), 0);
	assert_string_equal(json_object_get_string(get(r, "action")),
	    "forced off");
	json_object_put(r);
	assert_int_equal(vm.exiting, 1);
	assert_int_equal(vm.exit_code, EXIT_POWEROFF);
	/* While stopping, status still answers. */
	assert_int_equal(ask(fd, "{\"version\":1,\"cmd\":\"status\"}\n", &r, err,
	    sizeof(err)), 0);
	assert_string_equal(json_object_get_string(get(r, "state")), "stopping");
	json_object_put(r);
	close(fd);
}

static void
test_server_paths(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	(void)state;
	assert_int_equal(control_init(&vm, path), -EBUSY);
	control_fini();
	assert_int_equal(lstat(path, &st), -1);		/* removed */
	assert_null(control_path());

	/* A stale socket is replaced. */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(control_init(&vm, path), 0);
	control_fini();

	/* A live one is not. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(control_init(&vm, path), -EADDRINUSE);
	close(fd);
	unlink(path);

	/* Nor is a file that is not a socket. */
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(control_init(&vm, path), -EEXIST);
	assert_int_equal(lstat(path, &st), 0);		/* left alone */
	unlink(path);

	assert_int_equal(control_init(&vm, ""), -ENAMETOOLONG);
	assert_int_equal(control_init(&vm, path), 0);	/* for teardown */
}

/* Root and the owner pass; anyone else is refused, with their uid. */
static void
test_peer_check(void **state)
{
	struct ucred cr;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(ctl_peer_check(sv[0], geteuid(), &cr), 0);
	assert_int_equal(cr.uid, geteuid());
	assert_int_equal(cr.pid, getpid());
	if (geteuid() != 0)
		assert_int_equal(ctl_peer_check(sv[0], geteuid() + 1, &cr),
		    -EACCES);
	else
		assert_int_equal(ctl_peer_check(sv[0], 4242, &cr), 0);
	close(sv[0]);
	close(sv[1]);
	/* Not a socket: the reason, not a verdict. */
	assert_true((sv[0] = open("/dev/null", O_RDONLY)) >= 0);
	assert_int_equal(ctl_peer_check(sv[0], 0, &cr), -ENOTSOCK);
	close(sv[0]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_roundtrip),
		cmocka_unit_test(test_request_malformed),
		cmocka_unit_test(test_response),
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_peer_check),
		cmocka_unit_test_setup_teardown(test_server_status,
		    srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_server_malformed,
		    srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_server_slow_clients,
		    srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_server_conn_cap,
		    srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_server_other_uid,
		    srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_server_poweroff,
		    srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_server_paths,
		    srv_setup, srv_teardown),
	};

	/* Writes to a connection the core dropped must fail, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
