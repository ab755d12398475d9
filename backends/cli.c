/*
 * The command line every backend shares; see cli.h.
 */
#include <errno.h>
#include <stdlib.h>

#include "backends/cli.h"
#include "core/log.h"

#define CLI_MAX_KEEP	16

long long
cli_number(const char *opt, const char *s, long long min, long long max)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < min || v > max) {
		hlog("%s %s: not a number in %lld..%lld", opt, s, min, max);
		exit(2);
	}
	return v;
}

bool
cli_option(struct cli *c, int opt, const char *arg)
{
	switch (opt) {
	case 's':
		c->path = arg;
		break;
	case 'f':
		c->fd = cli_number("--fd", arg, 0, 1 << 20);
		break;
	case 'n':
		log_set_role(arg);
		break;
	case 'X':
		c->statsfd = cli_number("--stats-fd", arg, 0, 1 << 20);
		break;
	case 'O':
		c->so.off = true;
		break;
	case 'U':
		c->so.uid = cli_number("--uid", arg, 0, 1 << 30);
		break;
	case 'G':
		c->so.gid = cli_number("--gid", arg, 0, 1 << 30);
		break;
	default:
		return false;
	}
	return true;
}

int
cli_listen(struct cli *c)
{
	if (c->path != NULL && (c->fd = vu_listen(c->path)) < 0)
		return -1;
	return 0;
}

int
cli_dev_init(struct cli *c, struct vu_dev *d, const struct vu_backend *be,
    void *priv)
{
	int rc;

	if ((rc = vu_dev_init(d, be, priv)) < 0)
		return rc;
	if (c->statsfd >= 0 && (rc = vu_stats_map(d, c->statsfd)) < 0)
		return rc;
	return 0;
}

int
cli_confine(struct cli *c, struct vu_dev *d, enum sandbox_role role,
    const int *extra, int nextra)
{
	int keep[CLI_MAX_KEEP] = { c->fd, d->epfd, d->infl_fd };
	int n = 3;

	for (int i = 0; i < nextra && n < CLI_MAX_KEEP; i++)
		keep[n++] = extra[i];
	/* Everything is open: confine before the first guest byte. */
	c->so.name = log_name();
	return sandbox_enter(role, keep, n, &c->so);
}

int
cli_serve(struct cli *c, struct vu_dev *d)
{
	int rc = vu_serve(d, c->fd);

	vu_dev_free(d);
	return rc < 0 ? 1 : 0;
}
