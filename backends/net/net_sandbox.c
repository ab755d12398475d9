/*
 * hyve-net: the shared datapath plus the two tap ioctls that follow the
 * features the guest negotiates, and io_uring_enter for batched tap writes
 * (the ring, set up before confinement, takes only WRITEV).  Every other ioctl (TUNSETIFF, SIOC*) is
 * done by the core or before confinement.
 */
#include <sys/ioctl.h>
#include <linux/if_tun.h>

#include "backends/net/net.h"
#include "sandbox/seccomp_impl.h"

static int
sc_rules_net(scmp_filter_ctx c)
{
	static const unsigned long ioctls[] = { TUNSETOFFLOAD, TUNSETVNETHDRSZ };
	int rc;

	if ((rc = sc_backend_base(c)) < 0)
		return rc;
	if ((rc = seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(io_uring_enter),
	    0)) < 0)
		return rc;
	return sc_allow_ioctls(c, ioctls, NELEM(ioctls));
}

const struct sandbox_row net_sandbox = {
	.name = "net", .rules = sc_rules_net, .nofile = 256,
	.device = "/dev/net/tun",
};
