/*
 * hyve-balloon: the shared datapath only.  Giving pages back is madvise
 * (MADV_REMOVE) on the guest RAM every backend maps, which the common
 * list already allows.
 */
#include "backends/balloon/balloon.h"
#include "sandbox/seccomp_impl.h"

static int
sc_rules_balloon(scmp_filter_ctx c)
{
	return sc_backend_base(c);
}

const struct sandbox_row balloon_sandbox = {
	.name = "balloon", .rules = sc_rules_balloon, .nofile = 64,
};
