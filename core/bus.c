#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/bus.h"
#include "lib/log.h"

void
bus_init(struct bus *b, const char *what)
{
	memset(b, 0, sizeof(*b));
	b->what = what;
}

void
bus_free(struct bus *b)
{
	free(b->r);
	b->r = NULL;
	b->n = b->cap = 0;
}

int
bus_register(struct bus *b, uint64_t base, uint64_t len, bus_handler_t fn,
    void *opaque, const char *name)
{
	struct bus_range *r;
	int i;

	if (len == 0 || base + len < base) {
		hlog("%s: bad %s range 0x%llx+0x%llx", name, b->what,
		    (unsigned long long)base, (unsigned long long)len);
		return -EINVAL;
	}
	for (i = 0; i < b->n; i++) {
		r = &b->r[i];
		if (base < r->base + r->len && r->base < base + len) {
			hlog("%s: %s range 0x%llx-0x%llx overlaps %s (0x%llx-0x%llx)",
			    name, b->what, (unsigned long long)base,
			    (unsigned long long)(base + len - 1), r->name,
			    (unsigned long long)r->base,
			    (unsigned long long)(r->base + r->len - 1));
			return -EEXIST;
		}
	}
	if (b->n == b->cap) {
		int cap = b->cap ? b->cap * 2 : 16;
		r = realloc(b->r, cap * sizeof(*r));
		if (r == NULL)
			return -ENOMEM;
		b->r = r;
		b->cap = cap;
	}
	for (i = b->n; i > 0 && b->r[i - 1].base > base; i--)
		b->r[i] = b->r[i - 1];
	b->r[i] = (struct bus_range){ base, len, fn, opaque, name };
	b->n++;
	return 0;
}

int
bus_unregister(struct bus *b, uint64_t base)
{
	int i;

	for (i = 0; i < b->n; i++) {
		if (b->r[i].base == base) {
			memmove(&b->r[i], &b->r[i + 1],
			    (b->n - i - 1) * sizeof(b->r[0]));
			b->n--;
			return 0;
		}
	}
	return -ENOENT;
}

const struct bus_range *
bus_find(const struct bus *b, uint64_t addr)
{
	int lo = 0, hi = b->n - 1, mid;

	while (lo <= hi) {
		mid = (lo + hi) / 2;
		if (addr < b->r[mid].base)
			hi = mid - 1;
		else if (addr - b->r[mid].base >= b->r[mid].len)
			lo = mid + 1;
		else
			return &b->r[mid];
	}
	return NULL;
}

int
bus_access(const struct bus *b, uint64_t addr, int size, bool write,
    uint64_t *val)
{
	const struct bus_range *r = bus_find(b, addr);
	int rc;

	if (r == NULL)
		return -ENOENT;
	if (!write)
		*val = 0;
	rc = r->fn(r->opaque, addr - r->base, size, write, val);
	if (!write && size < 8)
		*val &= (1ULL << (size * 8)) - 1;
	return rc;
}
