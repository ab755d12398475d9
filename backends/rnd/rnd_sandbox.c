/* hyve-rnd: the shared datapath, getrandom and the --rate timer. */
#include "backends/rnd/rnd.h"
#include "sandbox/seccomp_impl.h"

static int
sc_rules_rnd(scmp_filter_ctx c)
{
	static const int nrs[] = {
		SCMP_SYS(getrandom), SCMP_SYS(timerfd_settime),
	};
	int rc;

	if ((rc = sc_backend_base(c)) < 0)
		return rc;
	return sc_allow(c, nrs, NELEM(nrs));
}

const struct sandbox_row rnd_sandbox = {
	.name = "rnd", .rules = sc_rules_rnd, .nofile = 64,
};
