/*
 * What each role is given and held to, one row per role: sandbox.c
 * confines a process by its row, audit.c checks a running one against it.
 */
#include <string.h>

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
	/*
	 * Debian's virtiofsd (QEMU 7.2).  It runs as root of its own user
	 * namespace (the tenant's uid outside), starts with SYS_ADMIN there
	 * for its own sandbox (-o sandbox=namespace: new mount, pid and net
	 * namespaces, pivot_root into the shared directory), then keeps only
	 * CHOWN, DAC_OVERRIDE, FOWNER, FSETID, SETGID, SETUID, MKNOD and
	 * SETFCAP (caps below) and loads its own allowlist.  Its first
	 * process stays outside the pivot_root to wait for the second.
	 */
	[SANDBOX_FS] = {
		.name = "fs", .nofile = 4096, .nproc = 64, .writes = true,
		.files = -1, .caps = 0x880000dbULL, .exec = &(const struct
		    sandbox_exec) {
			.binary = "/usr/lib/qemu/virtiofsd",
			/* and SETPCAP to drop its bounding set, SYS_ADMIN */
			.caps = 0x880000dbULL | (1ULL << 8) | (1ULL << 21),
			.nofile = 4096, .nproc = 64, .listen = true,
		},
		.exec_rules = sc_rules_virtiofsd,
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

const struct sandbox_exec *
sandbox_exec_of(const char *role)
{
	for (size_t i = 0; i < NELEM(rows); i++)
		if (rows[i].name != NULL && rows[i].exec != NULL &&
		    strcmp(rows[i].name, role) == 0)
			return rows[i].exec;
	return NULL;
}
