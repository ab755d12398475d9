/*
 * core/log.c for the fuzz targets: every message is still formatted (so a
 * bad format argument is still caught by the sanitizers) but printed only
 * with HYVE_FUZZ_LOG=1, as a fuzzer makes the code under test complain
 * millions of times.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"

static char role[64] = "hyve";
static int verbose = -1;

void
log_set_role(const char *r)
{
	snprintf(role, sizeof(role), "hyve[%s]", r);
}

const char *
log_role(void)
{
	return role;
}

static void
vlog(const char *fmt, va_list ap)
{
	char buf[1024];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (verbose < 0)
		verbose = getenv("HYVE_FUZZ_LOG") != NULL;
	if (verbose)
		fprintf(stderr, "%s: %s\n", role, buf);
}

void
hlog(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

void
hlog_once(int *once, const char *fmt, ...)
{
	va_list ap;

	if (__atomic_exchange_n(once, 1, __ATOMIC_RELAXED))
		return;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}
