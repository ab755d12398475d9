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

#include "core/cmdline.h"
#include "core/config.h"

/* Output capture of fd 1 or 2 into buf. */
static char outbuf[16384];
static FILE *capf;
static int saved_fd = -1;

static void
capture(int fd)
{
	fflush(stdout);
	fflush(stderr);
	capf = tmpfile();
	assert_non_null(capf);
	saved_fd = dup(fd);
	assert_true(saved_fd >= 0);
	assert_true(dup2(fileno(capf), fd) == fd);
}

static const char *
captured(int fd)
{
	size_t n;

	fflush(stdout);
	fflush(stderr);
	dup2(saved_fd, fd);
	close(saved_fd);
	rewind(capf);
	n = fread(outbuf, 1, sizeof(outbuf) - 1, capf);
	outbuf[n] = '\0';
	fclose(capf);
	return outbuf;
}

static int
nlines(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* Runs "hyve ARGS" (split at spaces) with fd captured. */
static int
run(const char *args, int fd, const char **out)
{
	char copy[1024], *argv[64], *tok, *p;
	int argc = 0, ret;

	config_reset();
	snprintf(copy, sizeof(copy), "%s", args);
	argv[argc++] = "hyve";
	for (p = copy; (tok = strsep(&p, " ")) != NULL;)
		if (*tok != '\0')
			argv[argc++] = tok;
	argv[argc] = NULL;
	capture(fd);
	ret = cmdline_parse(argc, argv);
	*out = captured(fd);
	return ret;
}

static int
setup(void **state)
{
	(void)state;
	config_reset();
	return 0;
}

struct good_case {
	const char	*args;
	const char	*kv[8];		/* "key=value", or "key=" for unset */
};

static const struct good_case good[] = {
	{ "vm0", { "name=vm0", "cpus=1", "sockets=1", "cores=1", "threads=1",
	    "memory.size=256M", "acpi_tables=true",
	    "rtc.use_localtime=true" } },
	{ "-c 4 vm0", { "cpus=4", "sockets=4", "cores=1", "threads=1" } },
	{ "-c cpus=4 vm0", { "cpus=4", "sockets=4" } },
	{ "-c 4,sockets=2,cores=2 vm0", { "cpus=4", "sockets=2", "cores=2",
	    "threads=1" } },
	{ "-c 4,cores=2 vm0", { "cpus=4", "sockets=2", "cores=2" } },
	{ "-c sockets=2,cores=2,threads=2 vm0", { "cpus=8", "sockets=2",
	    "cores=2", "threads=2" } },
	{ "-c 256 vm0", { "cpus=256" } },
	{ "-c 1 -c 2 vm0", { "cpus=2", "sockets=2" } },
	{ "-m 512 vm0", { "memory.size=512M" } },
	{ "-m 2g vm0", { "memory.size=2g" } },
	{ "-m 1T vm0", { "memory.size=1T" } },
	{ "-m 65536k vm0", { "memory.size=65536k" } },
	{ "-s 0,hostbridge -s 3,virtio-blk,/tmp/d.img,ro vm0",
	    { "pci.0.0.0.device=hostbridge", "pci.0.3.0.device=virtio-blk",
	    "pci.0.3.0.path=/tmp/d.img", "pci.0.3.0.ro=true" } },
	{ "-s 3:1,virtio-blk,path=/d,nocache vm0",
	    { "pci.0.3.1.device=virtio-blk", "pci.0.3.1.path=/d",
	    "pci.0.3.1.nocache=true" } },
	{ "-s 3,virtio-blk,nocache,path=/d vm0",
	    { "pci.0.3.0.path=/d", "pci.0.3.0.nocache=true" } },
	{ "-s 3,virtio-blk,/d,ro,direct vm0",
	    { "pci.0.3.0.path=/d", "pci.0.3.0.ro=true",
	    "pci.0.3.0.direct=true" } },
	{ "-s 3,virtio-net,mac=00:a0:98:00:00:01,tap1 vm0",
	    { "pci.0.3.0.backend=tap1", "pci.0.3.0.mac=00:a0:98:00:00:01" } },
	{ "-s 3,virtio-net,backend=tap2,x vm0",
	    { "pci.0.3.0.backend=tap2", "pci.0.3.0.x=true" } },
	{ "-s 0:31:7,virtio-net,tap0,mac=00:a0:98:00:00:01 vm0",
	    { "pci.0.31.7.device=virtio-net", "pci.0.31.7.backend=tap0",
	    "pci.0.31.7.mac=00:a0:98:00:00:01" } },
	{ "-s 4,virtio-rnd,foo,a.b=c vm0", { "pci.0.4.0.device=virtio-rnd",
	    "pci.0.4.0.foo=true", "pci.0.4.0.a.b=c" } },
	{ "-s 3,virtio-blk,/a -s 3:1,virtio-blk,/b vm0",
	    { "pci.0.3.0.path=/a", "pci.0.3.1.path=/b" } },
	{ "-l com1,stdio -l COM2,unix:/run/c.sock vm0",
	    { "lpc.com1.path=stdio", "lpc.com2.path=unix:/run/c.sock" } },
	{ "-l com4,/dev/pts/3,x vm0", { "lpc.com4.path=/dev/pts/3,x" } },
	{ "-l debug-exit vm0", { "lpc.debug-exit.enabled=true",
	    "lpc.debug-exit.port=" } },
	{ "-l debug-exit,port=0x501 vm0", { "lpc.debug-exit.enabled=true",
	    "lpc.debug-exit.port=0x501" } },
	{ "-l debug-exit,port=1280 vm0", { "lpc.debug-exit.port=0x500" } },
	{ "-o boot.kernel=/k -o boot.cmdline=console=ttyS0 vm0",
	    { "boot.kernel=/k", "boot.cmdline=console=ttyS0" } },
	{ "-o boot.cmdline= vm0", { "boot.cmdline=" } },
	{ "-o memory.share_snapshot=false vm0",
	    { "memory.share_snapshot=false" } },
	{ "-o cpus=2 vm0", { "cpus=2", "sockets=2" } },
	{ "-o cpus=4 -o cores=2 vm0", { "cpus=4", "sockets=2", "cores=2",
	    "threads=1" } },
	{ "-o memory.size=1G -m 2G vm0", { "memory.size=2G" } },
	{ "-o name=other vm0", { "name=vm0" } },
	{ "-A -H -P -S -w -e -u -W -x vm0", { "acpi_tables=true",
	    "x86.vmexit_on_hlt=true", "x86.vmexit_on_pause=true",
	    "memory.wired=true", "x86.strictmsr=false", "x86.strictio=true",
	    "rtc.use_localtime=false", "virtio_msix=false" } },
	{ "-AHx vm0", { "x86.x2apic=true", "x86.vmexit_on_hlt=true" } },
	{ "-U 6ba7b810-9dad-11d1-80B4-00c04fd430c8 vm0",
	    { "uuid=6ba7b810-9dad-11d1-80B4-00c04fd430c8" } },
	{ "my-vm_1.test", { "name=my-vm_1.test" } },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    { "name=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaa" } },
};

static void
check_kv(const char *args, const char *kv)
{
	char key[256];
	const char *eq = strchr(kv, '='), *v;

	snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
	v = config_get(key);
	if (eq[1] == '\0' && v == NULL)
		return;
	if (v == NULL || strcmp(v, eq + 1) != 0)
		fail_msg("'%s': %s is '%s', want '%s'", args, key,
		    v != NULL ? v : "(unset)", eq + 1);
}

static void
test_good(void **state)
{
	const char *err;
	size_t i, j;
	int ret;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ret = run(good[i].args, 2, &err);
		if (ret != 0)
			fail_msg("'%s' returned %d: %s", good[i].args, ret, err);
		assert_string_equal(err, "");
		for (j = 0; j < 8 && good[i].kv[j] != NULL; j++)
			check_kv(good[i].args, good[i].kv[j]);
	}
	/* "key=" in the table means unset, checked strictly here. */
	run("-s 3,virtio-blk,/d vm0", 2, &err);
	assert_null(config_get("pci.0.3.0.ro"));
	run("-l debug-exit vm0", 2, &err);
	assert_null(config_get("lpc.debug-exit.port"));
	run("-s 3:1,virtio-blk,path=/d,nocache vm0", 2, &err);
	assert_string_equal(config_get("pci.0.3.1.nocache"), "true");
	run("-s 3,virtio-blk,path=/d,nocache vm0", 2, &err);
	assert_string_equal(config_get("pci.0.3.0.path"), "/d");
}

struct bad_case {
	const char	*args;
	const char	*msg;	/* must appear in the one line printed */
};

static const struct bad_case bad[] = {
	{ "-o memory.share_snapshot=true vm0",
	    "memory.share_snapshot: only a restore (-r DIR)" },
	/* -c */
	{ "-c 0 vm0", "-c 0: '0' is not a number from 1 to 256" },
	{ "-c 257 vm0", "-c 257: '257' is not" },
	{ "-c x vm0", "-c x: 'x' is not" },
	{ "-c -1 vm0", "-c -1:" },
	{ "-c 4,sockets=3 vm0", "-c 4,sockets=3: sockets*cores*threads" },
	{ "-c 6,cores=4 vm0", "-c 6,cores=4: sockets*cores*threads" },
	{ "-c 2,cores=2,threads=2 vm0", "-c 2,cores=2,threads=2:" },
	{ "-c sockets=256,cores=2 vm0", "-c sockets=256,cores=2: 512 vCPUs" },
	{ "-c 4,bogus=1 vm0", "-c 4,bogus=1: unknown item 'bogus=1'" },
	{ "-c 4, vm0", "-c 4,: '' is not" },
	{ "-c cpus= vm0", "-c cpus=: 'cpus=' is not" },
	{ "-c 2 -o sockets=3 vm0", "cpus=2 does not match" },
	{ "-o cpus=300 vm0", "cpus: '300' is out of range (use 1 to 256)" },
	{ "-o cpus=0 vm0", "cpus: '0' is out of range" },
	{ "-o threads=0 vm0", "threads: '0' is out of range" },
	{ "-o cpus=3 -o cores=2 vm0", "cpus=3 does not match "
	    "sockets*cores*threads = 1*2*1" },
	/* -m */
	{ "-m 0 vm0", "-m 0: the guest needs some memory" },
	{ "-m 0G vm0", "-m 0G:" },
	{ "-m abc vm0", "-m abc: not a size" },
	{ "-m 12X vm0", "-m 12X: not a size" },
	{ "-m 1.5G vm0", "-m 1.5G: not a size" },
	{ "-m -1 vm0", "-m -1: not a size" },
	{ "-m 1025G vm0", "-m 1025G: more than the 1T limit" },
	{ "-m 2T vm0", "-m 2T: more than" },
	{ "-m 1048577 vm0", "-m 1048577: more than" },
	{ "-m 99999999999999999999 vm0", "-m 99999999999999999999:" },
	{ "-m 1000 -m 5k vm0", "-m 5k: not a multiple of 4K" },
	{ "-o memory.size=0 vm0", "memory.size: '0' must be" },
	{ "-o memory.size=lots vm0", "memory.size: 'lots' is not a size" },
	/* -s */
	{ "-s 32,virtio-blk,/d vm0", "-s 32,virtio-blk,/d: slot out of range" },
	{ "-s 3:8,virtio-blk vm0", "-s 3:8,virtio-blk: function out of range" },
	{ "-s 1:3:0,virtio-blk vm0", "-s 1:3:0,virtio-blk: bus 1:3:0 is not "
	    "supported" },
	{ "-s 0:3:0:0,virtio-blk vm0", "is not a slot" },
	{ "-s x,virtio-blk vm0", "-s x,virtio-blk: 'x' is not a slot" },
	{ "-s ,virtio-blk vm0", "'' is not a slot" },
	{ "-s 3 vm0", "-s 3: no emulation" },
	{ "-s 3, vm0", "-s 3,: no emulation" },
	{ "-s 3,virtio/blk vm0", "'virtio/blk' is not an emulation name" },
	{ "-s 3,virtio-blk,/a -s 3,virtio-net,tap0 vm0",
	    "-s 3: slot 0:3:0 is already used by virtio-blk" },
	{ "-s 3,virtio-blk,/a -s 0:3:0,virtio-net vm0",
	    "-s 0:3:0: slot 0:3:0 is already used by virtio-blk" },
	{ "-s 3,virtio-blk,,ro vm0", "-s 3,virtio-blk,,ro: empty item" },
	{ "-s 3,virtio-blk,/d,=x vm0", "'=x' has no key" },
	{ "-s 3,virtio-blk,/d,b@d=1 vm0", "'pci.0.3.0.b@d' is not a valid "
	    "key" },
	{ "-s 3,virtio-blk,/d,a..b=1 vm0", "'pci.0.3.0.a..b' is not a valid "
	    "key" },
	{ "-s 3,virtio-blk,ro,/d vm0", "'pci.0.3.0./d' is not a valid key" },
	{ "-s 3,virtio-blk,device=x vm0", "'device' cannot be set" },
	{ "-s 3,virtio-blk,/d,ro=1,ro.x=2 vm0", "pci.0.3.0.ro is already set" },
	/* -l */
	{ "-l com5,stdio vm0", "-l com5,stdio: unknown LPC device 'com5'" },
	{ "-l bootrom,/x vm0", "unknown LPC device 'bootrom'" },
	{ "-l com1 vm0", "-l com1: no path for com1" },
	{ "-l com1, vm0", "-l com1,: no path" },
	{ "-l debug-exit,port=0 vm0", "-l debug-exit,port=0: bad item" },
	{ "-l debug-exit,port=0x10000 vm0", "bad item 'port=0x10000'" },
	{ "-l debug-exit,port=x vm0", "bad item 'port=x'" },
	{ "-l debug-exit,speed=1 vm0", "bad item 'speed=1'" },
	/* -o */
	{ "-o cpus vm0", "-o cpus: no '='" },
	{ "-o =1 vm0", "-o =1: '' is not a valid key" },
	{ "-o a..b=1 vm0", "-o a..b=1: 'a..b' is not a valid key" },
	{ "-o bogus.key=1 vm0", "bogus.key: unknown configuration key" },
	{ "-o debug.a=1 -o debug.a.b=2 vm0", "-o debug.a.b=2: debug.a is "
	    "already set to '1'" },
	{ "-o debug.a.b=1 -o debug.a=2 vm0", "-o debug.a=2: debug.a already "
	    "holds other keys" },
	{ "-o x86.strictio=maybe vm0", "x86.strictio: 'maybe'" },
	/* -U */
	{ "-U 1234 vm0", "-U 1234: not a UUID" },
	{ "-U 6ba7b810-9dad-11d1-80b4-00c04fd430c vm0", "-U 6ba7b810" },
	{ "-U 6ba7b810-9dad-11d1-80b4-00c04fd430c88 vm0", "not a UUID" },
	{ "-U 6ba7b810x9dad-11d1-80b4-00c04fd430c8 vm0", "not a UUID" },
	{ "-U 6ba7b810-9dad-11d1-80b4-00c04fd430cg vm0", "not a UUID" },
	/* options and vmname */
	{ "-z vm0", "-z: unknown option" },
	{ "vm0 -c", "unexpected argument '-c' after vmname 'vm0'" },
	{ "-c", "-c: missing argument" },
	{ "", "missing vmname" },
	{ "-c 2", "missing vmname" },
	{ "vm0 vm1", "unexpected argument 'vm1' after vmname 'vm0'" },
	{ "vm0 -m 512", "unexpected argument '-m'" },
	{ "vm/0", "vmname 'vm/0': bad character '/'" },
	{ "vm:0", "vmname 'vm:0'" },
	{ ".hidden", "vmname '.hidden'" },
	{ "..", "vmname '..'" },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    "use 1 to 64 characters" },
};

static void
test_bad(void **state)
{
	const char *err;
	size_t i;
	int ret;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ret = run(bad[i].args, 2, &err);
		if (ret >= 0)
			fail_msg("'%s' returned %d, want an error", bad[i].args,
			    ret);
		if (strncmp(err, "hyve: ", 6) != 0 || nlines(err) != 1 ||
		    strstr(err, bad[i].msg) == NULL)
			fail_msg("'%s' printed '%s', want one line with '%s'",
			    bad[i].args, err, bad[i].msg);
	}
}

/* Errors come first: nothing is left half-set for the caller to use. */
static void
test_error_stops(void **state)
{
	const char *err;

	(void)state;
	assert_true(run("-c 0 -m 512 vm0", 2, &err) < 0);
	assert_null(config_get("memory.size"));
	assert_null(config_get("name"));
	/* -h stops parsing; later errors are not reached. */
	assert_int_equal(run("-h -c 0 vm0", 1, &err), 1);
	/* A later parse starts clean, even after stopping in a cluster. */
	assert_int_equal(run("-hA vm0", 1, &err), 1);
	assert_int_equal(run("-H vm0", 2, &err), 0);
	assert_null(config_get("acpi_tables.x"));
	assert_string_equal(config_get("x86.vmexit_on_hlt"), "true");
	assert_string_equal(config_get("acpi_tables"), "true");
}

static void
test_help(void **state)
{
	const char *out;

	(void)state;
	assert_int_equal(run("-h", 1, &out), 1);
	assert_non_null(strstr(out, "usage: hyve [-AHPSuWwehx]"));
	assert_non_null(strstr(out, "vmname"));
	assert_int_equal(run("-l help", 1, &out), 1);
	assert_non_null(strstr(out, "com1"));
	assert_non_null(strstr(out, "com4"));
	assert_non_null(strstr(out, "debug-exit"));
	assert_non_null(strstr(out, "unix:PATH"));
	assert_int_equal(run("-s help", 1, &out), 1);
	assert_non_null(strstr(out, "hostbridge"));
	/* from the table of device classes */
	assert_non_null(strstr(out, "virtio-fs    DIR,tag=NAME[,ro]"));
	assert_non_null(strstr(out, "type=blk|net|rng|vsock|fs"));
	assert_non_null(strstr(out, "virtio-vsock cid=N,socket=PATH"));
	assert_int_equal(run("-c 2 -s help vm0", 1, &out), 1);
}

static char tmpname[64];

static const char *
write_tmp(const char *text)
{
	int fd;

	snprintf(tmpname, sizeof(tmpname), "/tmp/hyve-test-cmdline.XXXXXX");
	fd = mkstemp(tmpname);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return tmpname;
}

static void
test_config_file(void **state)
{
	char args[256], want[128];
	const char *file, *err;

	(void)state;
	file = write_tmp("# vm0\ncpus=2\nmemory.size=1G\n"
	    "pci.0.3.0.device=virtio-blk\npci.0.3.0.path=/d\n");

	/* Applied in command-line order. */
	snprintf(args, sizeof(args), "-m 512 -k %s vm0", file);
	assert_int_equal(run(args, 2, &err), 0);
	assert_string_equal(config_get("memory.size"), "1G");
	assert_string_equal(config_get("cpus"), "2");
	assert_string_equal(config_get("pci.0.3.0.path"), "/d");
	snprintf(args, sizeof(args), "-k %s -m 512 vm0", file);
	assert_int_equal(run(args, 2, &err), 0);
	assert_string_equal(config_get("memory.size"), "512M");
	/* A slot the file took is taken. */
	snprintf(args, sizeof(args), "-k %s -s 3,virtio-net,tap0 vm0", file);
	assert_true(run(args, 2, &err) < 0);
	assert_non_null(strstr(err, "slot 0:3:0 is already used by "
	    "virtio-blk"));
	unlink(file);

	file = write_tmp("cpus=2\nthis is not a pair\n");
	snprintf(args, sizeof(args), "-k %s vm0", file);
	assert_true(run(args, 2, &err) < 0);
	unlink(file);
	snprintf(want, sizeof(want), "%s:2: ", file);
	assert_non_null(strstr(err, want));
	assert_int_equal(nlines(err), 1);

	file = write_tmp("cpus.x=2\n");
	snprintf(args, sizeof(args), "-k %s vm0", file);
	assert_true(run(args, 2, &err) < 0);
	unlink(file);
	assert_non_null(strstr(err, "cpus.x: unknown configuration key"));

	assert_true(run("-k /nonexistent/vm.conf vm0", 2, &err) < 0);
	assert_non_null(strstr(err, "/nonexistent/vm.conf: cannot open"));
	assert_int_equal(nlines(err), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_good, setup),
		cmocka_unit_test_setup(test_bad, setup),
		cmocka_unit_test_setup(test_error_stops, setup),
		cmocka_unit_test_setup(test_help, setup),
		cmocka_unit_test_setup(test_config_file, setup),
	};

	return cmocka_run_group_tests(tests, NULL, setup);
}
