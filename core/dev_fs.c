/*
 * virtio-fs: a host directory shared with the guest, served by Debian's
 * virtiofsd (QEMU 7.2's C one), a backend hyve did not write.  hyve starts
 * it through the monitor, which holds it to its row (fs_sandbox, below),
 * or connects to one the user started (-s N,vhost-user,type=fs,tag=T).
 * virtiofsd has no device config to give: the core makes it (tag, one
 * request queue; 7.2 serves no more).
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <linux/virtio_fs.h>
#include <linux/virtio_ids.h>

#include "core/config.h"
#include "core/devclass.h"
#include "core/supervisor.h"
#include "core/virtio_pci.h"
#include "lib/log.h"
#include "sandbox/seccomp_impl.h"

#define FS_BINARY	"/usr/lib/qemu/virtiofsd"
#define FS_REQUEST_QUEUES 1

static const char *const fs_keys[] = { "device", "path", "tag", "ro", NULL };
static const char *const fs_vu_keys[] = { "tag", NULL };

/* The config from tag=: 1 to 36 bytes, no NUL, padded with NULs. */
static int
fs_config(const char *node, const char *name, uint8_t *cfg)
{
	const char *tag = config_node_get(node, "tag");
	struct virtio_fs_config c;
	uint32_t n = FS_REQUEST_QUEUES;

	if (tag == NULL || tag[0] == '\0') {
		hlog("%s: virtio-fs needs tag=NAME, the name the guest mounts "
		    "(mount -t virtiofs NAME DIR)", name);
		return -EINVAL;
	}
	if (strlen(tag) > sizeof(c.tag)) {
		hlog("%s: tag '%s' is longer than %zu bytes", name, tag,
		    sizeof(c.tag));
		return -EINVAL;
	}
	memset(&c, 0, sizeof(c));
	memcpy(c.tag, tag, strlen(tag));
	memcpy(&c.num_request_queues, &n, sizeof(n));	/* x86: little-endian */
	memcpy(cfg, &c, sizeof(c));
	return 0;
}

static int
fs_check(const char *node, const char *name)
{
	const char *dir = config_node_get(node, "path");
	uint8_t cfg[sizeof(struct virtio_fs_config)];
	struct stat st;
	int rc;

	if (dir == NULL) {
		hlog("%s: no directory to share (use -s SLOT,virtio-fs,DIR,"
		    "tag=NAME)", name);
		return -EINVAL;
	}
	if (dir[0] != '/') {
		hlog("%s: %s: give the directory as an absolute path", name,
		    dir);
		return -EINVAL;
	}
	if (stat(dir, &st) < 0) {
		rc = -errno;
		hlog("%s: %s: %s", name, dir, strerror(-rc));
		return rc;
	}
	if (!S_ISDIR(st.st_mode)) {
		hlog("%s: %s: not a directory", name, dir);
		return -ENOTDIR;
	}
	if (strchr(dir, ',') != NULL) {
		hlog("%s: %s: virtiofsd cannot take a path with a comma", name,
		    dir);
		return -EINVAL;
	}
	return fs_config(node, name, cfg);
}

/*
 * virtiofsd's own options: the listening socket on fd 3, the directory,
 * its namespace sandbox (pivot_root into the directory), the file limit
 * the monitor set left alone.  "hyve:ro" is for the monitor, which makes
 * the directory a read-only mount in virtiofsd's namespace and drops the
 * word (7.2 has no read-only option).
 */
static int
fs_prepare(struct vpci *v, const char *node)
{
	char src[4200];

	snprintf(src, sizeof(src), "source=%s", config_node_get(node, "path"));
	sup_arg(v, "--fd=3", NULL);
	sup_arg(v, "-o", src);
	sup_arg(v, "-o", "sandbox=namespace");
	sup_arg(v, "--rlimit-nofile=0", NULL);
	if (config_node_bool(node, "ro"))
		sup_arg(v, "hyve:ro", NULL);
	return 0;
}

/*
 * The fs row's exec_rules: what virtiofsd does from its start to its
 * own allowlist (namespaces, pivot_root, a fork, capabilities) and what
 * that allowlist lets through (QEMU 7.2's), threads included.
 */
static int
sc_rules_virtiofsd(scmp_filter_ctx c)
{
	static const int plain[] = {
		SCMP_SYS(clock_nanosleep), SCMP_SYS(getgroups),
		SCMP_SYS(get_mempolicy), SCMP_SYS(set_mempolicy),
		SCMP_SYS(umask), SCMP_SYS(mkdir), SCMP_SYS(wait4),
		SCMP_SYS(connect), SCMP_SYS(getsockname), SCMP_SYS(fchdir),
		SCMP_SYS(copy_file_range), SCMP_SYS(fallocate),
		SCMP_SYS(fchmod), SCMP_SYS(fchmodat), SCMP_SYS(fchownat),
		SCMP_SYS(fdatasync), SCMP_SYS(fsync), SCMP_SYS(fgetxattr),
		SCMP_SYS(flistxattr), SCMP_SYS(flock), SCMP_SYS(fremovexattr),
		SCMP_SYS(fsetxattr), SCMP_SYS(getdents), SCMP_SYS(gettimeofday),
		SCMP_SYS(getxattr), SCMP_SYS(linkat), SCMP_SYS(listxattr),
		SCMP_SYS(mkdirat), SCMP_SYS(open), SCMP_SYS(preadv),
		SCMP_SYS(pwritev), SCMP_SYS(pwrite64), SCMP_SYS(renameat),
		SCMP_SYS(renameat2), SCMP_SYS(removexattr),
		SCMP_SYS(sched_getattr), SCMP_SYS(sched_setattr),
		SCMP_SYS(setxattr), SCMP_SYS(symlinkat), SCMP_SYS(time),
		SCMP_SYS(tgkill), SCMP_SYS(unlinkat), SCMP_SYS(utimensat),
		SCMP_SYS(accept), SCMP_SYS(statx), SCMP_SYS(syncfs),
	};
	int rc;

	if ((rc = sc_allow(c, plain, NELEM(plain))) < 0)
		return rc;
	/* libvhost-user probes for it (post-copy migration): "none". */
	if ((rc = seccomp_rule_add(c, SCMP_ACT_ERRNO(ENOSYS),
	    SCMP_SYS(userfaultfd), 0)) < 0)
		return rc;
	/* Its threads (the monitor itself makes none). */
	return seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
	    SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
}


/*
 * Debian's virtiofsd (QEMU 7.2).  It runs as root of its own user
 * namespace (the tenant's uid outside), starts with SYS_ADMIN there for
 * its own sandbox (-o sandbox=namespace: new mount, pid and net
 * namespaces, pivot_root into the shared directory), then keeps only
 * CHOWN, DAC_OVERRIDE, FOWNER, FSETID, SETGID, SETUID, MKNOD and SETFCAP
 * (caps below) and loads its own allowlist.  Its first process stays
 * outside the pivot_root to wait for the second.
 */
static const struct sandbox_row fs_sandbox = {
	.name = "fs", .nofile = 4096, .nproc = 64, .writes = true,
	.files = -1, .caps = 0x880000dbULL, .exec = &(const struct
	    sandbox_exec) {
		.binary = FS_BINARY,
		/* and SETPCAP to drop its bounding set, SYS_ADMIN */
		.caps = 0x880000dbULL | (1ULL << 8) | (1ULL << 21),
		.nofile = 4096, .nproc = 64, .listen = true,
	},
	.exec_rules = sc_rules_virtiofsd,
};

const struct devclass devclass_fs = {
	.pe = VPCI_DEVEMU("virtio-fs", "DIR,tag=NAME[,ro]  (backend "
	    FS_BINARY ")"),
	.prefix = "fs",
	.binary = FS_BINARY,
	.foreign = true,
	.virtio_id = VIRTIO_ID_FS,
	.class = 0x01, .subclass = 0x80,
	.cfg_len = sizeof(struct virtio_fs_config),
	.nqueues = 1 + FS_REQUEST_QUEUES,	/* hiprio, then requests */
	.bare = "path",
	.keys = fs_keys,
	.vu_keys = fs_vu_keys,
	.config = fs_config,
	.role = &fs_sandbox,
	.unsaved = "open files",
	.check = fs_check,
	.prepare = fs_prepare,
};
