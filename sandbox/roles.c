/*
 * What each role is given and held to, one row per role: sandbox.c
 * confines a process by its row, audit.c checks a running one against it.
 */
#include "sandbox/seccomp_impl.h"

static const struct sandbox_row rows[] = {
	[SANDBOX_BLK] = {
		.name = "blk", .rules = sc_rules_blk, .nofile = 256,
		/* io_uring's io-wq workers are threads of the process */
		.nproc = SANDBOX_BLK_NPROC,
		.writes = true, .files = 1,	/* its disk */
	},
	[SANDBOX_NET] = {
		.name = "net", .rules = sc_rules_net, .nofile = 256,
		.device = "/dev/net/tun",
	},
	[SANDBOX_RND] = {
		.name = "rnd", .rules = sc_rules_rnd, .nofile = 64,
	},
	[SANDBOX_VSOCK] = {
		/* a socket per connection (VSOCK_MAX_CONNS) */
		.name = "vsock", .rules = sc_rules_vsock, .nofile = 256,
		.dir = true,	/* PATH's directory, to connect to PATH_P */
	},
	[SANDBOX_CORE] = {
		.name = "core", .rules = sc_rules_core, .host = true,
		.bounding = true,
	},
	[SANDBOX_MONITOR] = {
		.name = "monitor", .rules = sc_rules_monitor, .root = true,
		.caps = SANDBOX_MONITOR_CAPS,
	},
};

const struct sandbox_row *
sandbox_row(enum sandbox_role role)
{
	if ((unsigned)role >= NELEM(rows) || rows[role].name == NULL)
		return NULL;
	return &rows[role];
}
