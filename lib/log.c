#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/log.h"

static char role[64] = "hyve";
static char name[48] = "hyve";

void
log_set_role(const char *r)
{
	snprintf(role, sizeof(role), "hyve[%s]", r);
	snprintf(name, sizeof(name), "%s", r);
}

const char *
log_name(void)
{
	return name;
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
	int n;

	/* One write per line, so lines from several threads do not interleave. */
	n = snprintf(buf, sizeof(buf), "%s: ", role);
	vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	n = strlen(buf);
	if (n > 0 && buf[n - 1] != '\n' && n < (int)sizeof(buf) - 1) {
		buf[n++] = '\n';
		buf[n] = '\0';
	}
	fputs(buf, stderr);
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
