/* hyve-rnd: the shared datapath, getrandom and the --rate timer. */
#include "sandbox/seccomp_impl.h"

int
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
