/*
 * Seccomp plumbing shared by the roles: building the filter, the datapath
 * every backend needs, and the SIGSYS report.  The default action traps;
 * the handler writes "hyve[blk0]: killed by seccomp: socket (nr 41)" and
 * then makes the one syscall whose action is to kill the process, so the
 * core sees a death by SIGSYS and the log says which call it was.
 */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <linux/seccomp.h>

#include "lib/log.h"
#include "sandbox/seccomp_impl.h"

#define SC_NNAMES	512
/* Obsolete and unused by glibc: the handler's way to die. */
#define SC_DEATH	SYS_tkill

static char sc_names[SC_NNAMES][24];
static char sc_prefix[96];
static volatile uint64_t *sc_slot;	/* where the core reads which call */
static struct sandbox_profile *noting;	/* sandbox_profile's, while it builds */

int
sc_note(uint32_t action, int nr, unsigned nargs, int rc)
{
	struct sandbox_profile *p = noting;
	uint32_t want = SCMP_ACT_ALLOW;
	int i;

	if (p == NULL || rc < 0 || action != want || nr < 0)
		return rc;
	for (i = 0; i < p->n && p->sc[i].nr != nr; i++)
		;
	if (i == p->n) {
		char *name;

		if (p->n == SANDBOX_PROFILE_MAX)
			return rc;
		p->n++;
		p->sc[i].nr = nr;
		p->sc[i].args_filtered = nargs > 0;
		name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, nr);
		snprintf(p->sc[i].name, sizeof(p->sc[i].name), "%s",
		    name ? name : "?");
		free(name);
	} else if (nargs == 0) {
		p->sc[i].args_filtered = false;
	}
	return rc;
}

static int
by_nr(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

int
sandbox_profile(const struct sandbox_row *role, struct sandbox_profile *p)
{
	scmp_filter_ctx c;

	memset(p, 0, sizeof(*p));
	p->denylist = false;
	/* A program hyve did not write loads its own. */
	if (role != NULL && role->rules == NULL)
		return -ENOENT;
	noting = p;
	c = sc_build(role, role != NULL ? role->name : "unknown", NULL);
	noting = NULL;
	if (c == NULL)
		return -EINVAL;
	seccomp_release(c);
	/* sc[] starts with nr, so the entries sort by it. */
	qsort(p->sc, p->n, sizeof(p->sc[0]), by_nr);
	return 0;
}

void
sandbox_report_to(volatile uint64_t *slot)
{
	sc_slot = slot;
}

static size_t
put(char *buf, size_t n, size_t cap, const char *s)
{
	while (*s != '\0' && n < cap)
		buf[n++] = *s++;
	return n;
}

/* Async-signal-safe: no allocation, no stdio, only write(2). */
static void
on_sigsys(int sig, siginfo_t *si, void *uc)
{
	char buf[192], num[24], *p = num + sizeof(num);
	const char *name = "unknown";
	int nr = si->si_syscall;
	unsigned v = nr < 0 ? 0 : nr;
	size_t n = 0;

	(void)sig;
	(void)uc;
	if (nr >= 0 && nr < SC_NNAMES && sc_names[nr][0] != '\0')
		name = sc_names[nr];
	*--p = '\0';
	do
		*--p = '0' + v % 10;
	while ((v /= 10) != 0);
	n = put(buf, n, sizeof(buf), sc_prefix);
	n = put(buf, n, sizeof(buf), name);
	n = put(buf, n, sizeof(buf), " (nr ");
	n = put(buf, n, sizeof(buf), p);
	n = put(buf, n, sizeof(buf), ")\n");
	if (write(2, buf, n) < 0)
		buf[0] = '\0';
	if (sc_slot != NULL && nr >= 0)
		*sc_slot = (uint64_t)nr + 1;
	syscall(SC_DEATH, 0, 0);
	_exit(128 + SIGSYS);
}

int
sc_allow(scmp_filter_ctx c, const int *nrs, size_t n)
{
	int rc;

	for (size_t i = 0; i < n; i++)
		if ((rc = seccomp_rule_add(c, SCMP_ACT_ALLOW, nrs[i], 0)) < 0)
			return rc;
	return 0;
}

int
sc_allow_ioctls(scmp_filter_ctx c, const unsigned long *reqs, size_t n)
{
	int rc;

	for (size_t i = 0; i < n; i++)
		if ((rc = seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
		    SCMP_A1(SCMP_CMP_EQ, reqs[i], 0))) < 0)
			return rc;
	return 0;
}

int
sc_threads_only(scmp_filter_ctx c)
{
	int rc;

	if ((rc = seccomp_rule_add(c, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3),
	    0)) < 0)
		return rc;
	return seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
	    SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
}

int
sc_backend_base(scmp_filter_ctx c)
{
	static const int plain[] = {
		SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv),
		SCMP_SYS(writev), SCMP_SYS(close),
		/* vhost-user: messages and SCM_RIGHTS from the inherited socket */
		SCMP_SYS(recvmsg), SCMP_SYS(recvfrom), SCMP_SYS(sendmsg),
		SCMP_SYS(sendto), SCMP_SYS(accept4),
		SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl),
		/* guest memory regions and malloc */
		SCMP_SYS(munmap), SCMP_SYS(brk), SCMP_SYS(madvise),
		SCMP_SYS(fstat), SCMP_SYS(clock_gettime),
		SCMP_SYS(restart_syscall),
	};
	/* F_GET_SEALS: is guest memory sealed against shrinking? */
	static const int fcntls[] = { F_GETFL, F_SETFL, F_GETFD, F_SETFD,
	    F_GET_SEALS };
	int rc;

	if ((rc = sc_allow(c, plain, NELEM(plain))) < 0)
		return rc;
	/* Nothing executable: no new code in a process the guest feeds. */
	if ((rc = seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0))) < 0 ||
	    (rc = seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0))) < 0)
		return rc;
	/* fstat(fd) as glibc does it; the root is empty anyway. */
	if ((rc = seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(newfstatat), 1,
	    SCMP_A3(SCMP_CMP_EQ, AT_EMPTY_PATH, 0))) < 0)
		return rc;
	/* vu_serve asks whether its socket listens. */
	if ((rc = seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(getsockopt), 2,
	    SCMP_A1(SCMP_CMP_EQ, SOL_SOCKET, 0),
	    SCMP_A2(SCMP_CMP_EQ, SO_ACCEPTCONN, 0))) < 0)
		return rc;
	for (size_t i = 0; i < NELEM(fcntls); i++)
		if ((rc = seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
		    SCMP_A1(SCMP_CMP_EQ, fcntls[i], 0))) < 0)
			return rc;
	return 0;
}

static void
resolve_names(void)
{
	char *s;

	if (sc_names[0][0] != '\0')
		return;
	for (int nr = 0; nr < SC_NNAMES; nr++) {
		s = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, nr);
		if (s != NULL)
			snprintf(sc_names[nr], sizeof(sc_names[nr]), "%s", s);
		free(s);
	}
}

scmp_filter_ctx
sc_build(const struct sandbox_row *r, const char *name, const char *prefix)
{
	static const int always[] = {
		SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(rt_sigreturn),
	};
	scmp_filter_ctx c;
	int rc;

	if (seccomp_arch_native() != SCMP_ARCH_X86_64) {
		hlog("%s: seccomp profiles exist for x86-64 only; run with "
		    "sandbox=off on this machine", name);
		return NULL;
	}
	resolve_names();
	/* Only for a filter that will be loaded, not one being listed. */
	if (prefix != NULL)
		snprintf(sc_prefix, sizeof(sc_prefix), "%s: killed by seccomp: ",
		    prefix);
	c = seccomp_init(SCMP_ACT_TRAP);
	if (c == NULL) {
		hlog("%s: seccomp_init failed; out of memory?", name);
		return NULL;
	}
	/* Other ABIs (i386 via int 0x80, x32) are killed outright. */
	rc = seccomp_attr_set(c, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (rc == 0 && r != NULL && r->host)
		rc = seccomp_attr_set(c, SCMP_FLTATR_CTL_TSYNC, 1);
	if (rc == 0)
		rc = sc_allow(c, always, NELEM(always));
	if (rc == 0)
		rc = seccomp_rule_add(c, SCMP_ACT_KILL_PROCESS, SC_DEATH, 0);
	if (rc == 0)
		rc = r != NULL && r->rules != NULL ? r->rules(c) : -EINVAL;
	if (rc < 0) {
		hlog("%s: cannot build the seccomp filter: %s", name,
		    strerror(-rc));
		seccomp_release(c);
		return NULL;
	}
	return c;
}

static int
sigsys_handler(const char *name)
{
	struct sigaction sa;
	sigset_t set;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigfillset(&sa.sa_mask);
	sigemptyset(&set);
	sigaddset(&set, SIGSYS);
	if (sigaction(SIGSYS, &sa, NULL) < 0 ||
	    sigprocmask(SIG_UNBLOCK, &set, NULL) < 0) {
		hlog("%s: cannot install the SIGSYS handler: %s", name,
		    strerror(errno));
		return -errno;
	}
	return 0;
}

int
sc_export(scmp_filter_ctx c, struct sock_fprog *prog, const char *name)
{
	struct sock_filter *f = NULL;
	int p[2], rc;
	ssize_t n;

	/* libseccomp 2.5 exports to a descriptor only.  A pipe holds 64
	 * KiB; the core's program is a few. */
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
		rc = -errno;
		goto out;
	}
	if ((rc = seccomp_export_bpf(c, p[1])) == 0) {
		if ((f = malloc(65536)) == NULL)
			rc = -ENOMEM;
		else if ((n = read(p[0], f, 65536)) <= 0 ||
		    n % sizeof(*f) != 0)
			rc = n < 0 ? -errno : -EIO;
		else
			*prog = (struct sock_fprog){ n / sizeof(*f), f };
	}
	close(p[0]);
	close(p[1]);
out:
	seccomp_release(c);
	if (rc < 0) {
		free(f);
		hlog("%s: cannot generate the seccomp filter: %s", name,
		    strerror(-rc));
	}
	return rc;
}

int
sc_load_prog(const struct sock_fprog *prog, const char *name)
{
	int rc;

	if ((rc = sigsys_handler(name)) < 0)
		return rc;
	/* As seccomp_load with CTL_TSYNC: every thread, or none. */
	rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
	    SECCOMP_FILTER_FLAG_TSYNC, prog);
	if (rc != 0) {
		rc = rc < 0 ? -errno : -EAGAIN;
		hlog("%s: cannot load the seccomp filter: %s", name,
		    strerror(-rc));
	}
	return rc;
}

int
sc_load(scmp_filter_ctx c, const char *name)
{
	int rc;

	if ((rc = sigsys_handler(name)) < 0) {
		seccomp_release(c);
		return rc;
	}
	rc = seccomp_load(c);
	seccomp_release(c);
	if (rc < 0)
		hlog("%s: cannot load the seccomp filter: %s", name,
		    strerror(-rc));
	return rc;
}
