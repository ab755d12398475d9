#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/config.h"

/* stderr capture: what hlog printed between capture() and captured(). */
static char errbuf[8192];
static FILE *errf;
static int saved_fd = -1;

static void
capture(void)
{
	fflush(stderr);
	errf = tmpfile();
	assert_non_null(errf);
	saved_fd = dup(2);
	assert_true(saved_fd >= 0);
	assert_true(dup2(fileno(errf), 2) == 2);
}

static const char *
captured(void)
{
	size_t n;

	fflush(stderr);
	dup2(saved_fd, 2);
	close(saved_fd);
	rewind(errf);
	n = fread(errbuf, 1, sizeof(errbuf) - 1, errf);
	errbuf[n] = '\0';
	fclose(errf);
	return errbuf;
}

static int
nlines(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

static int
setup(void **state)
{
	(void)state;
	config_reset();
	return 0;
}

static void
test_set_get(void **state)
{
	(void)state;
	assert_null(config_get("cpus"));
	assert_int_equal(config_set("cpus", "2"), 0);
	assert_string_equal(config_get("cpus"), "2");
	assert_int_equal(config_set("cpus", "4"), 0);
	assert_string_equal(config_get("cpus"), "4");
	assert_int_equal(config_set_default("cpus", "1"), 0);
	assert_string_equal(config_get("cpus"), "4");
	assert_int_equal(config_set_default("memory.size", "256M"), 0);
	assert_string_equal(config_get("memory.size"), "256M");
	assert_string_equal(config_get_default("nothing", "dflt"), "dflt");
	assert_string_equal(config_get_default("cpus", "dflt"), "4");
	assert_int_equal(config_set("pci.0.3.0.device", "virtio-blk"), 0);
	assert_true(config_node_exists("pci"));
	assert_true(config_node_exists("pci.0.3.0"));
	assert_false(config_node_exists("pci.0.3.0.device"));
	assert_false(config_node_exists("pci.0.4"));
	assert_null(config_get("pci.0.3"));
	assert_int_equal(config_set("empty", ""), 0);
	assert_string_equal(config_get("empty"), "");
	config_reset();
	assert_null(config_get("cpus"));
	assert_false(config_node_exists("pci"));
}

static void
test_bad_paths(void **state)
{
	static const char *bad[] = {
		"", ".a", "a.", "a..b", "a b", "a=b", "a/b", "a.b#", ".",
	};
	char longkey[400];
	size_t i;
	const char *msg;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		capture();
		assert_int_equal(config_set(bad[i], "x"), -EINVAL);
		msg = captured();
		assert_int_equal(nlines(msg), 1);
		if (bad[i][0] != '\0')
			assert_non_null(strstr(msg, bad[i]));
	}
	memset(longkey, 'a', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	capture();
	assert_int_equal(config_set(longkey, "x"), -EINVAL);
	assert_non_null(strstr(captured(), "too long"));
	capture();
	assert_int_equal(config_set("a", "two\nlines"), -EINVAL);
	assert_non_null(strstr(captured(), "a: "));
	assert_null(config_get("a"));
	assert_int_equal(config_set("a-b_C.9", "ok"), 0);
}

static void
test_node_value_conflict(void **state)
{
	const char *msg;

	(void)state;
	assert_int_equal(config_set("a.b", "1"), 0);
	capture();
	assert_int_equal(config_set("a.b.c", "2"), -EINVAL);
	msg = captured();
	assert_non_null(strstr(msg, "a.b.c"));
	assert_non_null(strstr(msg, "a.b is a value"));
	assert_int_equal(nlines(msg), 1);
	assert_string_equal(config_get("a.b"), "1");
	assert_false(config_node_exists("a.b"));

	assert_int_equal(config_set("x.y.z", "1"), 0);
	capture();
	assert_int_equal(config_set("x.y", "2"), -EINVAL);
	msg = captured();
	assert_non_null(strstr(msg, "cannot set x.y:"));
	assert_non_null(strstr(msg, "x.y.z"));
	assert_string_equal(config_get("x.y.z"), "1");
	capture();
	assert_int_equal(config_set_default("x", "2"), -EINVAL);
	assert_non_null(strstr(captured(), "x.y.z"));
	/* A failed set leaves nothing half-made behind. */
	capture();
	assert_int_equal(config_set("a.b.c.d", "2"), -EINVAL);
	captured();
	assert_false(config_node_exists("a.b.c"));
}

static void
test_unset(void **state)
{
	(void)state;
	assert_int_equal(config_set("p.q.r", "1"), 0);
	assert_int_equal(config_set("p.q.s", "2"), 0);
	assert_int_equal(config_set("p.t", "3"), 0);
	assert_int_equal(config_unset("p.q.r"), 0);
	assert_null(config_get("p.q.r"));
	assert_string_equal(config_get("p.q.s"), "2");
	assert_int_equal(config_unset("p.q"), 0);
	assert_false(config_node_exists("p.q"));
	assert_string_equal(config_get("p.t"), "3");
	assert_int_equal(config_unset("p.t"), 0);
	/* Empty nodes go away, so p can be a value now. */
	assert_false(config_node_exists("p"));
	assert_int_equal(config_set("p", "v"), 0);
	assert_string_equal(config_get("p"), "v");
	assert_int_equal(config_unset("not.there"), 0);
	assert_int_equal(config_unset("p.below.a.value"), 0);
	assert_string_equal(config_get("p"), "v");
}

static void
test_parse_bool(void **state)
{
	static const struct { const char *s; int ret; bool v; } t[] = {
		{ "true", 0, true }, { "TRUE", 0, true }, { "yes", 0, true },
		{ "on", 0, true }, { "1", 0, true },
		{ "false", 0, false }, { "No", 0, false }, { "off", 0, false },
		{ "0", 0, false },
		{ "", -EINVAL, false }, { "2", -EINVAL, false },
		{ "truex", -EINVAL, false }, { " true", -EINVAL, false },
		{ "y", -EINVAL, false },
	};
	size_t i;
	bool v;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		v = !t[i].v;
		assert_int_equal(parse_bool(t[i].s, &v), t[i].ret);
		if (t[i].ret == 0)
			assert_int_equal(v, t[i].v);
	}
}

static void
test_parse_size(void **state)
{
	static const struct { const char *s; int ret; uint64_t v; } t[] = {
		{ "0", 0, 0 }, { "4096", 0, 4096 }, { "1k", 0, 1024 },
		{ "1K", 0, 1024 }, { "256M", 0, 256ULL << 20 },
		{ "256m", 0, 256ULL << 20 }, { "2G", 0, 2ULL << 30 },
		{ "1T", 0, 1ULL << 40 }, { "16777215T", 0, 16777215ULL << 40 },
		{ "16777216T", -ERANGE, 0 },
		{ "18446744073709551616", -ERANGE, 0 },
		{ "", -EINVAL, 0 }, { "M", -EINVAL, 0 }, { "12X", -EINVAL, 0 },
		{ "1MB", -EINVAL, 0 }, { "-1", -EINVAL, 0 },
		{ " 1", -EINVAL, 0 }, { "1 M", -EINVAL, 0 },
		{ "1.5G", -EINVAL, 0 }, { "0x10", -EINVAL, 0 },
	};
	size_t i;
	uint64_t v;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		v = 12345;
		assert_int_equal(parse_size(t[i].s, &v), t[i].ret);
		if (t[i].ret == 0)
			assert_true(v == t[i].v);
	}
}

static void
test_typed_getters(void **state)
{
	uint64_t u;
	bool b;
	const char *msg;

	(void)state;
	assert_int_equal(config_get_bool("x86.strictio", true, &b), 0);
	assert_true(b);
	assert_int_equal(config_get_uint("cpus", 7, &u), 0);
	assert_true(u == 7);
	assert_int_equal(config_get_size("memory.size", 99, &u), 0);
	assert_true(u == 99);

	config_set("x86.strictio", "off");
	assert_int_equal(config_get_bool("x86.strictio", true, &b), 0);
	assert_false(b);
	config_set("cpus", "12");
	assert_int_equal(config_get_uint("cpus", 1, &u), 0);
	assert_true(u == 12);
	config_set("lpc.debug-exit.port", "0x501");
	assert_int_equal(config_get_uint("lpc.debug-exit.port", 1, &u), 0);
	assert_true(u == 0x501);
	config_set("memory.size", "512M");
	assert_int_equal(config_get_size("memory.size", 1, &u), 0);
	assert_true(u == 512ULL << 20);

	config_set("memory.size", "12X");
	capture();
	assert_int_equal(config_get_size("memory.size", 1, &u), -EINVAL);
	msg = captured();
	assert_non_null(strstr(msg, "memory.size: '12X' is not a size (use a "
	    "number with K, M, G or T)"));
	assert_int_equal(nlines(msg), 1);

	config_set("x86.strictio", "maybe");
	capture();
	assert_int_equal(config_get_bool("x86.strictio", true, &b), -EINVAL);
	assert_non_null(strstr(captured(), "x86.strictio: 'maybe'"));

	static const char *badnum[] = { "abc", "-1", "1.0", "0x", "0xg", "",
	    "12 ", "99999999999999999999" };
	for (size_t i = 0; i < sizeof(badnum) / sizeof(badnum[0]); i++) {
		config_set("cpus", badnum[i]);
		capture();
		assert_int_equal(config_get_uint("cpus", 1, &u), -EINVAL);
		msg = captured();
		assert_non_null(strstr(msg, "cpus: '"));
		assert_int_equal(nlines(msg), 1);
	}
}

struct collect {
	char	buf[1024];
	int	stop_after;
	int	n;
};

static int
collect_kv(const char *path, const char *value, void *arg)
{
	struct collect *c = arg;
	size_t len = strlen(c->buf);

	snprintf(c->buf + len, sizeof(c->buf) - len, "%s=%s;", path, value);
	if (++c->n == c->stop_after)
		return 42;
	return 0;
}

static int
collect_name(const char *name, void *arg)
{
	struct collect *c = arg;
	size_t len = strlen(c->buf);

	snprintf(c->buf + len, sizeof(c->buf) - len, "%s;", name);
	return 0;
}

static void
test_foreach(void **state)
{
	struct collect c;

	(void)state;
	config_set("pci.0.31.0.device", "lpc");
	config_set("pci.0.3.0.device", "virtio-blk");
	config_set("pci.0.3.0.path", "/d");
	config_set("pci.0.10.0.device", "virtio-net");
	config_set("pci.0.0.0.device", "hostbridge");
	config_set("cpus", "2");

	memset(&c, 0, sizeof(c));
	assert_int_equal(config_foreach("pci.0", collect_kv, &c), 0);
	assert_string_equal(c.buf, "pci.0.0.0.device=hostbridge;"
	    "pci.0.3.0.device=virtio-blk;pci.0.3.0.path=/d;"
	    "pci.0.10.0.device=virtio-net;pci.0.31.0.device=lpc;");

	memset(&c, 0, sizeof(c));
	assert_int_equal(config_foreach("cpus", collect_kv, &c), 0);
	assert_string_equal(c.buf, "cpus=2;");

	memset(&c, 0, sizeof(c));
	assert_int_equal(config_foreach("nothing", collect_kv, &c), 0);
	assert_string_equal(c.buf, "");

	memset(&c, 0, sizeof(c));
	c.stop_after = 2;
	assert_int_equal(config_foreach("", collect_kv, &c), 42);
	assert_string_equal(c.buf, "cpus=2;pci.0.0.0.device=hostbridge;");

	memset(&c, 0, sizeof(c));
	assert_int_equal(config_foreach_child("pci.0", collect_name, &c), 0);
	assert_string_equal(c.buf, "0;3;10;31;");
	memset(&c, 0, sizeof(c));
	assert_int_equal(config_foreach_child("pci.0.3.0", collect_name, &c),
	    0);
	assert_string_equal(c.buf, "device;path;");
	memset(&c, 0, sizeof(c));
	assert_int_equal(config_foreach_child("pci.7", collect_name, &c), 0);
	assert_string_equal(c.buf, "");
}

static void
test_dump(void **state)
{
	char buf[1024];
	FILE *f;
	size_t n;

	(void)state;
	config_set("name", "vm0");
	config_set("memory.size", "256M");
	config_set("cpus", "2");
	config_set("pci.0.10.0.device", "virtio-net");
	config_set("pci.0.2.0.device", "virtio-blk");
	f = tmpfile();
	assert_non_null(f);
	config_dump(f);
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	assert_string_equal(buf, "cpus=2\nmemory.size=256M\nname=vm0\n"
	    "pci.0.2.0.device=virtio-blk\npci.0.10.0.device=virtio-net\n");
}

static char tmpname[64];

static const char *
write_tmp(const char *text)
{
	int fd;

	snprintf(tmpname, sizeof(tmpname), "/tmp/hyve-test-config.XXXXXX");
	fd = mkstemp(tmpname);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return tmpname;
}

/*
 * Loads text from a file, which must fail with rc and a message that
 * names the file followed by where; returns the message.
 */
static const char *
load_fails(const char *text, int rc, const char *where)
{
	const char *file = write_tmp(text), *msg;
	char want[128];

	capture();
	assert_int_equal(config_load_file(file), rc);
	msg = captured();
	unlink(file);
	snprintf(want, sizeof(want), "%s%s", file, where);
	assert_non_null(strstr(msg, want));
	return msg;
}

static void
test_load_file(void **state)
{
	const char *file, *msg;
	char *big;

	(void)state;
	file = write_tmp("# a comment\n"
	    "\n"
	    "cpus=2\n"
	    "  memory.size = 1G  \n"
	    "\t# indented comment\n"
	    "boot.cmdline=console=ttyS0 quiet\n"
	    "uuid=\n"
	    "name=vm0\r\n");
	assert_int_equal(config_load_file(file), 0);
	unlink(file);
	assert_string_equal(config_get("cpus"), "2");
	assert_string_equal(config_get("memory.size"), "1G");
	assert_string_equal(config_get("boot.cmdline"), "console=ttyS0 quiet");
	assert_string_equal(config_get("uuid"), "");
	assert_string_equal(config_get("name"), "vm0");

	msg = load_fails("cpus=2\n# ok\nmemory.size 1G\n", -EINVAL, ":3: ");
	assert_non_null(strstr(msg, "memory.size 1G"));
	assert_int_equal(nlines(msg), 1);

	load_fails("a.b=1\na.b.c=2\n", -EINVAL, ":2: cannot set a.b.c");

	load_fails("bad key=1\n", -EINVAL, ":1: bad key");

	load_fails("=1\n", -EINVAL, ":1: empty");

	/* Bounded: an endless line, an endless device, an endless file. */
	big = malloc(2u << 20);
	assert_non_null(big);
	memset(big, 'a', 8191);
	big[0] = '#';
	strcpy(big + 8191, "\ncpus=3\n");
	file = write_tmp(big);
	config_reset();
	assert_int_equal(config_load_file(file), 0);
	unlink(file);
	assert_string_equal(config_get("cpus"), "3");

	memset(big, 'a', 9000);
	strcpy(big + 9000, "=1\n");
	msg = load_fails(big, -E2BIG, ":1: line longer than 8191 bytes");
	assert_int_equal(nlines(msg), 1);

	capture();
	assert_int_equal(config_load_file("/dev/zero"), -EINVAL);
	msg = captured();
	assert_non_null(strstr(msg, "/dev/zero:1: NUL byte"));

	for (size_t i = 0; i < (2u << 20) / 4; i++)
		memcpy(big + 4 * i, "# x\n", 4);
	big[(2u << 20) - 1] = '\0';
	load_fails(big, -EFBIG, ": larger than 1024 KiB");
	free(big);

	capture();
	assert_int_equal(config_load_file("/nonexistent/hyve.conf"), -ENOENT);
	msg = captured();
	assert_non_null(strstr(msg, "/nonexistent/hyve.conf: cannot open"));
	assert_int_equal(nlines(msg), 1);
}

static void
test_check_keys_good(void **state)
{
	static const char *good[][2] = {
		{ "cpus", "2" }, { "sockets", "1" }, { "cores", "2" },
		{ "threads", "1" }, { "memory.size", "1G" },
		{ "memory.wired", "true" }, { "name", "vm0" },
		{ "uuid", "x" }, { "acpi_tables", "true" },
		{ "rtc.use_localtime", "false" }, { "x86.strictio", "1" },
		{ "x86.strictmsr", "false" }, { "x86.vmexit_on_hlt", "on" },
		{ "x86.vmexit_on_pause", "no" },
		{ "config.dump", "1" }, { "boot.kernel", "/k" },
		{ "boot.initrd", "/i" }, { "boot.cmdline", "c" },
		{ "lpc.com1.path", "stdio" }, { "lpc.com4.path", "/f" },
		{ "lpc.debug-exit.enabled", "true" },
		{ "lpc.debug-exit.port", "0x501" },
		{ "pci.0.3.0.device", "virtio-blk" },
		{ "pci.0.3.0.opt.sub", "x" }, { "tenant.uid_range", "600000-600099" },
		{ "control.socket", "/s" }, { "debug.trace", "1" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(config_set(good[i][0], good[i][1]), 0);
	assert_int_equal(config_check_keys(), 0);
	config_reset();
	config_set("sandbox", "off");
	assert_int_equal(config_check_keys(), 0);
}

static void
test_check_keys_bad(void **state)
{
	static const struct { const char *key, *val, *msg; } t[] = {
		{ "cpu", "2", "cpu: unknown configuration key" },
		{ "memory.sise", "1G", "memory.sise: unknown" },
		{ "lpc.com5.path", "x", "lpc.com5.path: unknown" },
		{ "pci.x.3.0.device", "x", "pci.x.3.0.device: unknown" },
		{ "pci.0.3.0", "x", "pci.0.3.0: unknown" },
		{ "pci.0.3", "x", "pci.0.3: unknown" },
		{ "control", "x", "control: unknown" },
		{ "x86.strictio", "maybe", "x86.strictio: 'maybe' is not a "
		    "boolean" },
		{ "cpus", "two", "cpus: 'two' is not a number" },
		{ "memory.size", "1Q", "memory.size: '1Q' is not a size" },
	};
	const char *msg;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		config_reset();
		config_set("name", "vm0");
		assert_int_equal(config_set(t[i].key, t[i].val), 0);
		capture();
		assert_int_equal(config_check_keys(), -EINVAL);
		msg = captured();
		assert_non_null(strstr(msg, t[i].msg));
		assert_int_equal(nlines(msg), 1);
	}
	assert_non_null(strstr(msg, "memory.size"));
	config_reset();
	config_set("cpu", "2");
	capture();
	assert_int_equal(config_check_keys(), -EINVAL);
	assert_non_null(strstr(captured(), "-o config.dump=1"));
	/* Every unknown key is named. */
	config_set("foo", "1");
	capture();
	assert_int_equal(config_check_keys(), -EINVAL);
	msg = captured();
	assert_non_null(strstr(msg, "cpu: "));
	assert_non_null(strstr(msg, "foo: "));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_set_get, setup),
		cmocka_unit_test_setup(test_bad_paths, setup),
		cmocka_unit_test_setup(test_node_value_conflict, setup),
		cmocka_unit_test_setup(test_unset, setup),
		cmocka_unit_test_setup(test_parse_bool, setup),
		cmocka_unit_test_setup(test_parse_size, setup),
		cmocka_unit_test_setup(test_typed_getters, setup),
		cmocka_unit_test_setup(test_foreach, setup),
		cmocka_unit_test_setup(test_dump, setup),
		cmocka_unit_test_setup(test_load_file, setup),
		cmocka_unit_test_setup(test_check_keys_good, setup),
		cmocka_unit_test_setup(test_check_keys_bad, setup),
	};

	return cmocka_run_group_tests(tests, NULL, setup);
}
