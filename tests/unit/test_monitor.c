/*
 * The monitor, driven by a test that plays a compromised core: whatever
 * it asks to start runs as the tenant with no capabilities, no_new_privs,
 * seccomp and namespaces of its own; once sealed, it starts only what the
 * configuration started or an operator named, and opens only what an
 * operator's swap named.  The tests run in order against one monitor.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <json-c/json.h>

#include "core/spawner.h"
#include "ipc/control.h"
#include "sandbox/sandbox.h"

#define TENANT	600321

static uid_t tenant;
static char dir[32], sockpath[64];
static char *const shell[] = { "/bin/sh", "-c", "read x <&3; echo done >&3",
    NULL };

/* Starts argv[0] for device name; the test's end of its socket. */
static int
spawn(const char *name, char *const argv[], pid_t *pid)
{
	int sv[2], rc, conn;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
	    0);
	rc = spawner_spawn(name, "rnd", argv[0], argv, sv[1], NULL, 0, pid,
	    &conn);
	close(sv[1]);
	if (rc < 0) {
		close(sv[0]);
		return rc;
	}
	assert_int_equal(conn, -1);	/* rnd: hyve's own, no listening */
	return sv[0];
}

/* What the kernel shows of pid: confined as the issue asks. */
static void
assert_confined(pid_t pid)
{
	struct sandbox_audit *a = malloc(sizeof(*a));

	assert_non_null(a);
	assert_int_equal(sandbox_audit_pid(pid, a), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(a->uid[i], tenant);
		assert_int_equal(a->gid[i], tenant);
	}
	assert_int_equal(a->cap_inh, 0);
	assert_int_equal(a->cap_prm, 0);
	assert_int_equal(a->cap_eff, 0);
	assert_int_equal(a->cap_bnd, 0);
	assert_int_equal(a->cap_amb, 0);
	assert_int_equal(a->no_new_privs, 1);
	assert_int_equal(a->seccomp, 2);
	assert_true(a->seccomp_filters >= 2);	/* the monitor's, the base */
	assert_int_equal(a->nns, SANDBOX_AUDIT_NNS);
	for (int i = 0; i < a->nns; i++)
		if (a->ns[i].same_as_host)
			fail_msg("pid %d shares the host's %s namespace",
			    (int)pid, a->ns[i].name);
	free(a);
}

/* Lets the shell finish; it must end well, so it really ran. */
static void
release(int sock, pid_t pid)
{
	char buf[16] = "";
	int status;

	assert_int_equal(write(sock, "go\n", 3), 3);
	assert_true(read(sock, buf, sizeof(buf) - 1) > 0);
	assert_string_equal(buf, "done\n");
	close(sock);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static int
setup(void **state)
{
	(void)state;
	tenant = geteuid() == 0 ? TENANT : geteuid();
	snprintf(dir, sizeof(dir), "/tmp/hyve-mon.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(sockpath, sizeof(sockpath), "%s/vm.sock", dir);
	return spawner_start(tenant, geteuid() == 0 ? TENANT : getegid());
}

static int
teardown(void **state)
{
	(void)state;
	spawner_stop();
	unlink(sockpath);
	rmdir(dir);
	return 0;
}

/* Before the seal: a shell chosen by the "core" starts, confined. */
static void
test_shell_confined(void **state)
{
	pid_t pid;
	int s;

	(void)state;
	s = spawn("rnd0", shell, &pid);
	assert_true(s >= 0);
	assert_confined(pid);
	release(s, pid);
}

static int
listener(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sockpath);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

/* After the seal: only what the configuration started, as it started it. */
static void
test_sealed_refuses(void **state)
{
	char *const other[] = { "/bin/sh", "-c", "id", NULL };
	char *const bash[] = { "/bin/bash", "-c", "read x <&3; echo done >&3",
	    NULL };
	pid_t pid = 0;
	int s;

	(void)state;
	assert_int_equal(spawner_seal(listener(), sockpath), 0);
	assert_int_equal(spawn("rnd0", other, &pid), -EPERM);
	assert_int_equal(spawn("rnd0", bash, &pid), -EPERM);
	assert_int_equal(spawn("blk7", shell, &pid), -EPERM);
	assert_int_equal(pid, 0);
	/* a restart: the same binary and arguments */
	s = spawn("rnd0", shell, &pid);
	assert_true(s >= 0);
	assert_confined(pid);
	release(s, pid);
	/* nothing to open that no operator named */
	assert_int_equal(spawner_open("rnd0", "blk", "/etc/passwd", O_RDONLY),
	    -EPERM);
	assert_int_equal(spawner_open("rnd0", "tap", "tap0", 0), -EPERM);
}

static int
client(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sockpath);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static char *
read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;
	ssize_t r;

	while (n < len - 1 && (r = read(fd, buf + n, 1)) == 1 &&
	    buf[n++] != '\n')
		;
	buf[n] = '\0';
	return buf;
}

/* The pair the monitor hands the "core" for one control connection. */
static int
core_conn(void)
{
	char t, cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &t, 1 };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct pollfd p = { .fd = spawner_ctl_fd(), .events = POLLIN };
	int fd;

	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_int_equal(recvmsg(p.fd, &mh, 0), 1);
	assert_int_equal(t, 'C');
	memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(int));
	return fd;
}

/* A swap names a disk: the core may open it while the request runs. */
static void
test_operator_grant(void **state)
{
	static char buf[CTL_MAX_LINE];
	const char *req = "{\"version\":1,\"cmd\":\"swap\",\"device\":\"rnd0\","
	    "\"path\":\"/etc/hostname\"}\n";
	int c = client(), k, fd;

	(void)state;
	assert_int_equal(write(c, req, strlen(req)), (ssize_t)strlen(req));
	k = core_conn();
	read_line(k, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\"swap\""));
	/* in flight: only the named disk, only for that device */
	assert_int_equal(spawner_open("rnd1", "blk", "/etc/hostname",
	    O_RDONLY), -EPERM);
	assert_int_equal(spawner_open("rnd0", "blk", "/etc/passwd", O_RDONLY),
	    -EPERM);
	fd = spawner_open("rnd0", "blk", "/etc/hostname", O_RDONLY);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(write(k, "{\"version\":1,\"ok\":true,\"result\":{}}\n",
	    36), 36);
	read_line(c, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\"ok\":true"));
	/* answered: the grant is over */
	assert_int_equal(spawner_open("rnd0", "blk", "/etc/hostname",
	    O_RDONLY), -EPERM);
	close(k);
	close(c);
}

/* The audit is the monitor's: core, monitor, and the monitor's verdict. */
static void
test_audit(void **state)
{
	static char buf[1 << 20];
	const char *req = "{\"version\":1,\"cmd\":\"audit\"}\n";
	json_object *r, *procs, *p, *v;
	int c = client(), monitor = 0;

	(void)state;
	assert_int_equal(write(c, req, strlen(req)), (ssize_t)strlen(req));
	read_line(c, buf, sizeof(buf));
	r = json_tokener_parse(buf);
	assert_non_null(r);
	assert_true(json_object_object_get_ex(r, "result", &v));
	assert_true(json_object_object_get_ex(v, "processes", &procs));
	assert_int_equal(json_object_get_int(json_object_object_get(
	    json_object_array_get_idx(procs, 0), "pid")), getpid());
	for (size_t i = 0; i < json_object_array_length(procs); i++) {
		p = json_object_array_get_idx(procs, i);
		if (strcmp(json_object_get_string(json_object_object_get(p,
		    "role")), "monitor") != 0)
			continue;
		monitor++;
		assert_string_equal(json_object_get_string(
		    json_object_object_get(p, "verdict")), "OK");
	}
	assert_int_equal(monitor, 1);
	json_object_put(r);
	close(c);
}

/* The verdicts: the core fails as root or with any capability; the
 * monitor with any capability beyond its five. */
static void
test_verdicts(void **state)
{
	struct sandbox_audit *a = calloc(1, sizeof(*a));
	char why[256];

	(void)state;
	assert_non_null(a);
	a->seccomp = 2;
	a->seccomp_filters = 1;
	a->no_new_privs = 1;
	for (int i = 0; i < 4; i++)
		a->uid[i] = a->gid[i] = TENANT;
	assert_int_equal(sandbox_audit_verdict(a, &sandbox_core, why,
	    sizeof(why)), 0);
	a->uid[2] = 0;
	assert_int_equal(sandbox_audit_verdict(a, &sandbox_core, why,
	    sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "uid 0"));
	a->uid[2] = TENANT;
	a->cap_prm = 1ULL << 21;	/* CAP_SYS_ADMIN */
	assert_int_equal(sandbox_audit_verdict(a, &sandbox_core, why,
	    sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "permitted capability set"));
	a->cap_prm = 0;
	a->cap_bnd = a->cap_eff = SANDBOX_MONITOR_CAPS;
	assert_int_equal(sandbox_audit_verdict(a, &sandbox_core, why,
	    sizeof(why)), -EPERM);
	assert_int_equal(sandbox_audit_verdict(a, &sandbox_monitor, why,
	    sizeof(why)), 0);
	a->cap_bnd |= 1ULL << 21;
	assert_int_equal(sandbox_audit_verdict(a, &sandbox_monitor, why,
	    sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "more than the monitor's"));
	free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verdicts),
		cmocka_unit_test(test_shell_confined),
		cmocka_unit_test(test_sealed_refuses),
		cmocka_unit_test(test_operator_grant),
		cmocka_unit_test(test_audit),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
