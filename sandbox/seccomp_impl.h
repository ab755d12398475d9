#ifndef HYVE_SECCOMP_IMPL_H
#define HYVE_SECCOMP_IMPL_H

/* The per-role seccomp lists: the sandbox library and each backend's
 * *_sandbox.c. */

#include <seccomp.h>
#include <linux/filter.h>

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
/* ioctl with these requests only (its second argument). */
int sc_allow_ioctls(scmp_filter_ctx c, const unsigned long *reqs, size_t n);
/* Threads, never a new process: clone with CLONE_THREAD; clone3, whose
 * flags a filter cannot see, answers ENOSYS (glibc falls back). */
int sc_threads_only(scmp_filter_ctx c);
/* The datapath every backend shares: vhost-user, eventfds, memory. */
int sc_backend_base(scmp_filter_ctx c);

int sc_rules_core(scmp_filter_ctx c);
/* A new core from exec until it loads sc_rules_core (seccomp_core.c). */
int sc_rules_core_start(scmp_filter_ctx c);
int sc_rules_monitor(scmp_filter_ctx c);

/* Loads the base filter of sandbox_pre_exec. */
int sandbox_load_base_filter(void);

/*
 * Builds the filter for role (not loaded yet) and prepares the SIGSYS
 * report "PREFIX: killed by seccomp: NAME (nr N)", which needs the syscall
 * names resolved before confinement.
 */
scmp_filter_ctx sc_build(const struct sandbox_row *role, const char *name,
    const char *prefix);
/* Installs the SIGSYS handler and loads the filter; releases c. */
int sc_load(scmp_filter_ctx c, const char *name);
/* The filter as the kernel takes it (prog->filter is malloc'd); releases
 * c.  sc_load_prog installs the handler and loads it, on every thread. */
int sc_export(scmp_filter_ctx c, struct sock_fprog *prog, const char *name);
int sc_load_prog(const struct sock_fprog *prog, const char *name);

#endif
