/*
 * hyve-vsock: the shared datapath plus its host sockets: unix stream
 * sockets only, connected (to PATH_P, in the one directory its sandbox
 * holds) or accepted (from PATH, given), shut down for writing, and an
 * epoll set of its own.  It opens nothing, binds nothing, listens on
 * nothing.
 */
#include <sys/socket.h>

#include "backends/vsock/vsock.h"
#include "sandbox/seccomp_impl.h"

static int
sc_rules_vsock(scmp_filter_ctx c)
{
	static const int nrs[] = {
		SCMP_SYS(connect), SCMP_SYS(shutdown),
	};
	int rc;

	if ((rc = sc_backend_base(c)) < 0 || (rc = sc_allow(c, nrs,
	    NELEM(nrs))) < 0)
		return rc;
	return seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(socket), 2,
	    SCMP_A0(SCMP_CMP_EQ, AF_UNIX, 0),
	    SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_STREAM));
}

const struct sandbox_row vsock_sandbox = {
	/* a socket per connection (VSOCK_MAX_CONNS) */
	.name = "vsock", .rules = sc_rules_vsock, .nofile = 256,
	.dir = true,	/* PATH's directory, to connect to PATH_P */
};
