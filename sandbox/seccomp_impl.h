#ifndef HYVE_SECCOMP_IMPL_H
#define HYVE_SECCOMP_IMPL_H

/* Inside the sandbox library: the per-role seccomp lists. */

#include <seccomp.h>

#include "lib/util.h"
#include "sandbox/sandbox.h"

/*
 * Every rule a profile adds is also noted, so the profile can be listed
 * (sandbox_profile) from the very rules that are loaded.
 */
int sc_note(uint32_t action, int nr, unsigned nargs, int rc);
#define seccomp_rule_add(c, act, nr, cnt, ...) \
	sc_note((act), (nr), (cnt), seccomp_rule_add((c), (act), (nr), (cnt), \
	##__VA_ARGS__))

/* Allows every syscall in nrs without looking at arguments. */
int sc_allow(scmp_filter_ctx c, const int *nrs, size_t n);
/* The datapath every backend shares: vhost-user, eventfds, memory. */
int sc_backend_base(scmp_filter_ctx c);

int sc_rules_blk(scmp_filter_ctx c);
int sc_rules_net(scmp_filter_ctx c);
int sc_rules_rnd(scmp_filter_ctx c);
int sc_rules_vsock(scmp_filter_ctx c);
int sc_rules_core(scmp_filter_ctx c);
int sc_rules_monitor(scmp_filter_ctx c);
/* What virtiofsd needs, for the monitor that starts it. */
int sc_rules_virtiofsd(scmp_filter_ctx c);
/*
 * A role's row (roles.c).  A backend gets new namespaces, an empty root,
 * no capabilities, rlimits and its list; the core and the monitor, which
 * cannot take namespaces, only what their fields say.
 */
struct sandbox_row {
	const char	*name;			/* "blk" */
	int		(*rules)(scmp_filter_ctx c);	/* its seccomp list */
	unsigned	nofile;			/* RLIMIT_NOFILE by default */
	long long	nproc;			/* RLIMIT_NPROC: threads it needs */
	bool		writes;			/* writes files: no RLIMIT_FSIZE */
	const char	*device;		/* a device node it may hold */
	int		files;			/* regular files it may hold */
	bool		dir;			/* one directory, read-only
						   (sandbox_opts.dir) */
	bool		host;			/* the core: host namespaces and /,
						   a tenant uid, filter on all threads */
	bool		bounding;		/* may keep a full bounding set */
	bool		root;			/* the monitor: may be root, with caps */
	uint64_t	caps;			/* the capabilities it keeps */
	/* A program hyve did not write, and how it is started (sandbox.h);
	 * rules is then NULL: it loads its own filter. */
	const struct sandbox_exec *exec;
	/* What such a program does under the monitor's filter, which it
	 * inherits: added to the monitor's list when the configuration has
	 * the role (sandbox_monitor_starts). */
	int		(*exec_rules)(scmp_filter_ctx c);
};
const struct sandbox_row *sandbox_row(enum sandbox_role role);

/* Loads the base filter of sandbox_pre_exec. */
int sandbox_load_base_filter(void);

/*
 * Builds the filter for role (not loaded yet) and prepares the SIGSYS
 * report "PREFIX: killed by seccomp: NAME (nr N)", which needs the syscall
 * names resolved before confinement.
 */
scmp_filter_ctx sc_build(enum sandbox_role role, const char *name,
    const char *prefix);
/* Installs the SIGSYS handler and loads the filter; releases c. */
int sc_load(scmp_filter_ctx c, const char *name);

#endif
