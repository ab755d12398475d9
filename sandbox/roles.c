/*
 * The rows of the two processes that are not backends: the core and the
 * monitor.  Each backend's row is in its own directory, beside its list.
 */
#include "sandbox/seccomp_impl.h"

const struct sandbox_row sandbox_core = {
	.name = "core", .rules = sc_rules_core, .host = true,
	.bounding = true,
};

const struct sandbox_row sandbox_monitor = {
	.name = "monitor", .rules = sc_rules_monitor, .root = true,
	.caps = SANDBOX_MONITOR_CAPS,
};
