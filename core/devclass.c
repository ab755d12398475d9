/*
 * The table of device classes: a new device adds its row here and its
 * class file (dev_*.c) next to it.
 */
#include <stdio.h>
#include <string.h>

#include "core/devclass.h"

extern const struct devclass devclass_blk, devclass_net, devclass_rnd,
    devclass_vsock, devclass_fs, devclass_balloon;

const struct devclass *const devclasses[DEVCLASS_MAX + 1] = {
	&devclass_blk,
	&devclass_net,
	&devclass_rnd,
	&devclass_vsock,
	&devclass_fs,
	&devclass_balloon,
	NULL,
};

const struct devclass *
devclass_by_emul(const char *emul)
{
	int i;

	for (i = 0; emul != NULL && devclasses[i] != NULL; i++)
		if (strcmp(devclasses[i]->pe.name, emul) == 0)
			return devclasses[i];
	return NULL;
}

static const char *
vu_type(const struct devclass *c)
{
	return c->vu_type != NULL ? c->vu_type : c->prefix;
}

const struct devclass *
devclass_by_type(const char *type)
{
	int i;

	for (i = 0; type != NULL && devclasses[i] != NULL; i++)
		if (strcmp(devclasses[i]->prefix, type) == 0 ||
		    strcmp(vu_type(devclasses[i]), type) == 0)
			return devclasses[i];
	return NULL;
}

const struct devclass *
devclass_by_swap(const char *opt)
{
	int i;

	for (i = 0; devclasses[i] != NULL; i++)
		if (devclasses[i]->swap_opt != NULL &&
		    strcmp(devclasses[i]->swap_opt, opt) == 0)
			return devclasses[i];
	return NULL;
}

int
devclass_index(const struct devclass *c)
{
	int i;

	for (i = 0; devclasses[i] != NULL; i++)
		if (devclasses[i] == c)
			return i;
	return -1;
}

void
devclass_types(char *buf, size_t len, const char *sep, const char *last)
{
	size_t off = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; devclasses[i] != NULL && off < len; i++)
		off += snprintf(buf + off, len - off, "%s%s", i == 0 ? "" :
		    devclasses[i + 1] == NULL ? last : sep,
		    vu_type(devclasses[i]));
}

const struct sandbox_exec *
devclass_exec(const char *role)
{
	const struct devclass *c = devclass_by_type(role);

	return c != NULL && c->role != NULL ? c->role->exec : NULL;
}
