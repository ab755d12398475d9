/*
 * The virtio-fs device class (core/dev_fs.c): its options, the config the
 * core makes for virtiofsd, the generic vhost-user type=fs, and the row
 * the monitor holds virtiofsd to.
 */
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
#include <linux/virtio_fs.h>
#include <linux/virtio_ids.h>

#include "core/cmdline.h"
#include "core/config.h"
#include "core/devclass.h"
#include "core/monitor.h"
#include "core/pci.h"
#include "sandbox/sandbox.h"

#define NODE	"pci.0.5.0"

extern const struct pci_devemu pci_de_vhost_user;

static char dir[64], file[80];

static int
setup(void **state)
{
	(void)state;
	config_reset();
	return 0;
}

static int
group_setup(void **state)
{
	FILE *f;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/hyve-test-fs.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(file, sizeof(file), "%s/f", dir);
	if ((f = fopen(file, "w")) == NULL)
		return -1;
	fclose(f);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	unlink(file);
	rmdir(dir);
	return 0;
}

static const struct devclass *
fs(void)
{
	const struct devclass *c = devclass_by_emul("virtio-fs");

	assert_non_null(c);
	return c;
}

static void
test_class(void **state)
{
	const struct devclass *c = fs();

	(void)state;
	assert_int_equal(c->virtio_id, VIRTIO_ID_FS);
	assert_int_equal(c->virtio_id, 26);
	assert_int_equal(c->cfg_len, sizeof(struct virtio_fs_config));
	assert_int_equal(c->nqueues, 2);	/* hiprio + 1 request queue */
	assert_true(c->foreign);
	assert_string_equal(c->binary, "/usr/lib/qemu/virtiofsd");
	assert_string_equal(c->role->name, "fs");
	assert_string_equal(c->bare, "path");
	assert_ptr_equal(devclass_by_type("fs"), c);
	assert_true(devclass_index(c) >= 0);
}

static void
test_config(void **state)
{
	const struct devclass *c = fs();
	struct virtio_fs_config cfg;
	uint8_t b[256];
	char tag[40];

	(void)state;
	memset(b, 0xee, sizeof(b));
	assert_int_equal(config_set(NODE ".tag", "hostfs"), 0);
	assert_int_equal(c->config(NODE, "fs0", b), 0);
	memcpy(&cfg, b, sizeof(cfg));
	assert_memory_equal(cfg.tag, "hostfs", 6);
	for (size_t i = 6; i < sizeof(cfg.tag); i++)
		assert_int_equal(cfg.tag[i], 0);
	assert_int_equal(cfg.num_request_queues, 1);
	/* what follows the config is left alone */
	assert_int_equal(b[sizeof(cfg)], 0xee);

	/* 36 bytes fit exactly, without a NUL */
	memset(tag, 'a', 36);
	tag[36] = '\0';
	assert_int_equal(config_set(NODE ".tag", tag), 0);
	assert_int_equal(c->config(NODE, "fs0", b), 0);
	assert_memory_equal(b, tag, 36);
	strcat(tag, "b");
	assert_int_equal(config_set(NODE ".tag", tag), 0);
	assert_int_equal(c->config(NODE, "fs0", b), -EINVAL);
	assert_int_equal(config_set(NODE ".tag", ""), 0);
	assert_int_equal(c->config(NODE, "fs0", b), -EINVAL);
	assert_int_equal(config_unset(NODE ".tag"), 0);
	assert_int_equal(c->config(NODE, "fs0", b), -EINVAL);
}

static void
test_check(void **state)
{
	const struct devclass *c = fs();
	char comma[100];

	(void)state;
	assert_int_equal(config_set(NODE ".device", "virtio-fs"), 0);
	assert_int_equal(config_set(NODE ".tag", "t"), 0);
	assert_int_equal(c->check(NODE, "pci 0:5:0"), -EINVAL);	/* no DIR */
	assert_int_equal(config_set(NODE ".path", dir), 0);
	assert_int_equal(c->check(NODE, "pci 0:5:0"), 0);
	assert_int_equal(config_set(NODE ".path", file), 0);
	assert_int_equal(c->check(NODE, "pci 0:5:0"), -ENOTDIR);
	assert_int_equal(config_set(NODE ".path", "/nonexistent/hyve"), 0);
	assert_int_equal(c->check(NODE, "pci 0:5:0"), -ENOENT);
	assert_int_equal(config_set(NODE ".path", "tmp"), 0);
	assert_int_equal(c->check(NODE, "pci 0:5:0"), -EINVAL);
	snprintf(comma, sizeof(comma), "%s/a,b", dir);
	assert_int_equal(config_set(NODE ".path", comma), 0);
	assert_true(c->check(NODE, "pci 0:5:0") < 0);
	assert_int_equal(config_set(NODE ".path", dir), 0);
	assert_int_equal(config_unset(NODE ".tag"), 0);
	assert_int_equal(c->check(NODE, "pci 0:5:0"), -EINVAL);
}

/* -s on the command line: the bare item is the directory, ro a flag. */
static void
test_cmdline(void **state)
{
	char arg[128];
	char *argv[] = { "hyve", "-s", arg, "vm", NULL };

	(void)state;
	snprintf(arg, sizeof(arg), "5,virtio-fs,%s,tag=share,ro", dir);
	assert_int_equal(cmdline_parse(4, argv), 0);
	assert_string_equal(config_get(NODE ".device"), "virtio-fs");
	assert_string_equal(config_get(NODE ".path"), dir);
	assert_string_equal(config_get(NODE ".tag"), "share");
	assert_true(config_node_bool(NODE, "ro"));
}

/* vhost-user,type=fs takes tag= (and needs it); other types do not. */
static void
test_vhost_user(void **state)
{
	(void)state;
	assert_int_equal(config_set(NODE ".device", "vhost-user"), 0);
	assert_int_equal(config_set(NODE ".socket", "/tmp/nosuch.sock"), 0);
	assert_int_equal(config_set(NODE ".type", "fs"), 0);
	assert_int_equal(pci_de_vhost_user.check(NODE, "pci 0:5:0"), -EINVAL);
	assert_int_equal(config_set(NODE ".tag", "usr"), 0);
	assert_int_equal(pci_de_vhost_user.check(NODE, "pci 0:5:0"), 0);
	assert_int_equal(config_set(NODE ".type", "blk"), 0);
	assert_int_equal(pci_de_vhost_user.check(NODE, "pci 0:5:0"), -EINVAL);
	assert_int_equal(config_unset(NODE ".tag"), 0);
	assert_int_equal(pci_de_vhost_user.check(NODE, "pci 0:5:0"), 0);
}

/* The monitor starts only virtiofsd for the fs role, with its caps. */
static void
test_row(void **state)
{
	const struct sandbox_exec *x = devclass_exec("fs");

	(void)state;
	assert_non_null(x);
	assert_string_equal(x->binary, "/usr/lib/qemu/virtiofsd");
	assert_true(x->listen);
	assert_true(x->caps & (1ULL << 21));		/* SYS_ADMIN */
	assert_false(x->caps & (1ULL << 19));		/* no SYS_PTRACE */
	assert_false(x->caps & (1ULL << 16));		/* no SYS_MODULE */
	assert_true(x->nproc > 0 && x->nofile > 0);
	assert_null(devclass_exec("blk"));
	assert_null(devclass_exec("core"));
	assert_null(devclass_exec("nosuch"));
}

static bool
allows(const char *name)
{
	static struct sandbox_profile p;

	assert_int_equal(sandbox_profile(&sandbox_monitor, &p), 0);
	for (int i = 0; i < p.n; i++)
		if (strcmp(p.sc[i].name, name) == 0)
			return true;
	return false;
}

/*
 * The monitor's allowlist covers every class's backend row, read from the
 * table, and virtiofsd's calls only when the configuration has an fs
 * device.
 */
static void
test_monitor_covers(void **state)
{
	(void)state;
	assert_false(allows("io_uring_enter"));
	assert_int_equal(monitor_cover_roles(), 0);
	assert_true(allows("io_uring_enter"));	/* blk */
	assert_true(allows("getrandom"));	/* rnd */
	assert_true(allows("shutdown"));	/* vsock */
	assert_false(allows("linkat"));		/* virtiofsd's */
	assert_int_equal(config_set(NODE ".device", "virtio-fs"), 0);
	assert_int_equal(monitor_cover_roles(), 0);
	assert_true(allows("linkat"));
	assert_true(allows("io_uring_enter"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_class, setup),
		cmocka_unit_test_setup(test_config, setup),
		cmocka_unit_test_setup(test_check, setup),
		cmocka_unit_test_setup(test_cmdline, setup),
		cmocka_unit_test_setup(test_vhost_user, setup),
		cmocka_unit_test_setup(test_row, setup),
		cmocka_unit_test_setup(test_monitor_covers, setup),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
