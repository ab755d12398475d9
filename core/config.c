/*
 * The configuration tree: bhyve_config(5)'s dotted keys with string values.
 * A path names either a node (which holds other keys) or a value, never
 * both.  Children are kept sorted, numbers in numeric order, so that
 * config_dump and config_foreach list "pci.0.3" before "pci.0.10".
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "lib/log.h"

#define PATH_MAX_LEN	256

struct cnode {
	char		*name;
	char		*value;		/* NULL for a node */
	struct cnode	*parent;
	struct cnode	*child;		/* sorted */
	struct cnode	*next;
};

static struct cnode root;

static void
node_free(struct cnode *n)
{
	struct cnode *c, *next;

	for (c = n->child; c != NULL; c = next) {
		next = c->next;
		node_free(c);
	}
	free(n->name);
	free(n->value);
	free(n);
}

void
config_reset(void)
{
	struct cnode *c, *next;

	for (c = root.child; c != NULL; c = next) {
		next = c->next;
		node_free(c);
	}
	root.child = NULL;
}

static bool
all_digits(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* strcmp, except that two numbers compare by value. */
static int
name_cmp(const char *a, const char *b)
{
	const char *x = a, *y = b;
	size_t lx, ly;
	int r;

	if (!all_digits(a, strlen(a)) || !all_digits(b, strlen(b)))
		return strcmp(a, b);
	while (x[0] == '0' && x[1] != '\0')
		x++;
	while (y[0] == '0' && y[1] != '\0')
		y++;
	lx = strlen(x);
	ly = strlen(y);
	if (lx != ly)
		return lx < ly ? -1 : 1;
	if ((r = strcmp(x, y)) != 0)
		return r;
	return strcmp(a, b);
}

static bool
comp_char_ok(int c)
{
	return isalnum(c) || c == '_' || c == '-';
}

/* Prints why a path is malformed, prefixed with where (may be ""). */
static int
check_path(const char *path, const char *where)
{
	const char *p;
	bool empty = true;

	if (path == NULL || *path == '\0') {
		hlog("%sempty configuration key (use a dotted key such as "
		    "memory.size)", where);
		return -EINVAL;
	}
	if (strlen(path) >= PATH_MAX_LEN) {
		hlog("%s%.40s...: configuration key is too long (limit %d "
		    "characters)", where, path, PATH_MAX_LEN - 1);
		return -EINVAL;
	}
	for (p = path; *p != '\0'; p++) {
		if (*p == '.') {
			if (empty)
				break;
			empty = true;
		} else if (comp_char_ok((unsigned char)*p)) {
			empty = false;
		} else {
			hlog("%s%s: bad character '%c' in configuration key "
			    "(use letters, digits, '_' and '-' between dots)",
			    where, path, isprint((unsigned char)*p) ? *p : '?');
			return -EINVAL;
		}
	}
	if (empty) {
		hlog("%s%s: empty component in configuration key (remove the "
		    "extra '.')", where, path);
		return -EINVAL;
	}
	return 0;
}

static struct cnode *
child_find(struct cnode *n, const char *name, size_t len)
{
	struct cnode *c;

	for (c = n->child; c != NULL; c = c->next)
		if (strlen(c->name) == len && memcmp(c->name, name, len) == 0)
			return c;
	return NULL;
}

static struct cnode *
child_add(struct cnode *n, const char *name, size_t len)
{
	struct cnode *c, **pp;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((c->name = strndup(name, len)) == NULL) {
		free(c);
		return NULL;
	}
	c->parent = n;
	for (pp = &n->child; *pp != NULL; pp = &(*pp)->next)
		if (name_cmp(c->name, (*pp)->name) < 0)
			break;
	c->next = *pp;
	*pp = c;
	return c;
}

static void
child_remove(struct cnode *c)
{
	struct cnode **pp;

	for (pp = &c->parent->child; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	node_free(c);
}

/* The node or value at path, or NULL.  "" is the root. */
static struct cnode *
lookup(const char *path)
{
	struct cnode *n = &root;
	const char *p = path, *e;

	if (path == NULL)
		return NULL;
	while (*p != '\0') {
		e = strchrnul(p, '.');
		if (n->value != NULL)
			return NULL;
		if ((n = child_find(n, p, e - p)) == NULL)
			return NULL;
		p = *e != '\0' ? e + 1 : e;
	}
	return n;
}

/* Writes into buf the path of the first value below node n. */
static void
first_value_path(struct cnode *n, const char *path, char *buf, size_t len)
{
	size_t off;

	snprintf(buf, len, "%s", path);
	while (n->value == NULL && n->child != NULL) {
		n = n->child;
		off = strlen(buf);
		snprintf(buf + off, len - off, ".%s", n->name);
	}
}

static int
set_value(const char *path, const char *value, bool replace,
    const char *where)
{
	char held[PATH_MAX_LEN + 64];
	struct cnode *n = &root, *c;
	const char *p, *e;
	char *v;
	int ret;

	if ((ret = check_path(path, where)) < 0)
		return ret;
	if (value == NULL || strchr(value, '\n') != NULL) {
		hlog("%s%s: the value must be one line of text", where, path);
		return -EINVAL;
	}

	/* Check the whole path before changing anything. */
	for (p = path; *p != '\0' && n != NULL; p = *e != '\0' ? e + 1 : e) {
		e = strchrnul(p, '.');
		n = child_find(n, p, e - p);
		if (n != NULL && n->value != NULL && *e != '\0') {
			hlog("%scannot set %s: %.*s is a value ('%s'), not a "
			    "node (unset %.*s first)", where, path,
			    (int)(e - path), path, n->value,
			    (int)(e - path), path);
			return -EINVAL;
		}
	}
	if (n != NULL && n->value == NULL) {
		first_value_path(n, path, held, sizeof(held));
		hlog("%scannot set %s: it is a node holding %s (unset %s first)",
		    where, path, held, held);
		return -EINVAL;
	}
	if (n != NULL && !replace)
		return 0;

	if ((v = strdup(value)) == NULL)
		return -ENOMEM;
	n = &root;
	for (p = path; *p != '\0'; p = *e != '\0' ? e + 1 : e) {
		e = strchrnul(p, '.');
		c = child_find(n, p, e - p);
		if (c == NULL && (c = child_add(n, p, e - p)) == NULL) {
			free(v);
			hlog("%s%s: out of memory", where, path);
			return -ENOMEM;
		}
		n = c;
	}
	free(n->value);
	n->value = v;
	return 0;
}

int
config_set(const char *path, const char *value)
{
	return set_value(path, value, true, "");
}

int
config_set_default(const char *path, const char *value)
{
	return set_value(path, value, false, "");
}

/* Removes a value or a whole node; unsetting what is not set is no error. */
int
config_unset(const char *path)
{
	struct cnode *n, *parent;

	if (path == NULL || *path == '\0')
		return -EINVAL;
	if ((n = lookup(path)) == NULL)
		return 0;
	parent = n->parent;
	child_remove(n);
	/* Drop nodes left empty, so the path can become a value again. */
	while (parent != &root && parent->child == NULL) {
		n = parent;
		parent = n->parent;
		child_remove(n);
	}
	return 0;
}

const char *
config_get(const char *path)
{
	struct cnode *n = lookup(path);

	return n != NULL ? n->value : NULL;
}

const char *
config_get_default(const char *path, const char *def)
{
	const char *v = config_get(path);

	return v != NULL ? v : def;
}

/* True if path is a node (holds keys); false for a value or nothing. */
bool
config_node_exists(const char *path)
{
	struct cnode *n = lookup(path);

	return n != NULL && n->value == NULL;
}

/* parse_bool and parse_size print nothing: their callers name the key. */
int
parse_bool(const char *s, bool *out)
{
	static const char *yes[] = { "true", "yes", "on", "1" };
	static const char *no[] = { "false", "no", "off", "0" };
	size_t i;

	if (s == NULL)
		return -EINVAL;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* Decimal or 0x hex, no sign, no spaces. */
static int
parse_uint(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (s == NULL || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		if (!isxdigit((unsigned char)s[2]))
			return -EINVAL;
		errno = 0;
		v = strtoull(s + 2, &end, 16);
	} else {
		errno = 0;
		v = strtoull(s, &end, 10);
	}
	if (errno == ERANGE)
		return -ERANGE;
	if (*end != '\0')
		return -EINVAL;
	*out = v;
	return 0;
}

int
parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (s == NULL || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K':
		shift = 10;
		break;
	case 'm': case 'M':
		shift = 20;
		break;
	case 'g': case 'G':
		shift = 30;
		break;
	case 't': case 'T':
		shift = 40;
		break;
	default:
		return -EINVAL;
	}
	if (shift != 0 && end[1] != '\0')
		return -EINVAL;
	if (v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

int
config_get_bool(const char *path, bool def, bool *out)
{
	const char *v = config_get(path);

	if (v == NULL) {
		*out = def;
		return 0;
	}
	if (parse_bool(v, out) < 0) {
		hlog("%s: '%s' is not a boolean (use true or false)", path, v);
		return -EINVAL;
	}
	return 0;
}

int
config_get_uint(const char *path, uint64_t def, uint64_t *out)
{
	const char *v = config_get(path);
	int ret;

	if (v == NULL) {
		*out = def;
		return 0;
	}
	if ((ret = parse_uint(v, out)) < 0) {
		if (ret == -ERANGE)
			hlog("%s: '%s' is too large (use a number below 2^64)",
			    path, v);
		else
			hlog("%s: '%s' is not a number (use decimal, or hex "
			    "with 0x)", path, v);
		return -EINVAL;
	}
	return 0;
}

int
config_get_size(const char *path, uint64_t def, uint64_t *out)
{
	const char *v = config_get(path);
	int ret;

	if (v == NULL) {
		*out = def;
		return 0;
	}
	if ((ret = parse_size(v, out)) < 0) {
		if (ret == -ERANGE)
			hlog("%s: '%s' is too large a size", path, v);
		else
			hlog("%s: '%s' is not a size (use a number with K, M, "
			    "G or T)", path, v);
		return -EINVAL;
	}
	return 0;
}

static int
walk(struct cnode *n, char *buf, size_t len,
    int (*fn)(const char *, const char *, void *), void *arg)
{
	struct cnode *c;
	int ret;

	if (n->value != NULL)
		return fn(buf, n->value, arg);
	for (c = n->child; c != NULL; c = c->next) {
		/* Paths are checked shorter than PATH_MAX_LEN when set. */
		if (len == 0)
			snprintf(buf, PATH_MAX_LEN, "%s", c->name);
		else
			snprintf(buf + len, PATH_MAX_LEN - len, ".%s", c->name);
		if ((ret = walk(c, buf, strlen(buf), fn, arg)) != 0)
			return ret;
		buf[len] = '\0';
	}
	return 0;
}

/* fn must not change the tree; a non-zero return from fn stops the walk. */
int
config_foreach(const char *prefix,
    int (*fn)(const char *path, const char *value, void *arg), void *arg)
{
	char buf[PATH_MAX_LEN];
	struct cnode *n;

	if (prefix == NULL)
		prefix = "";
	if ((n = lookup(prefix)) == NULL || strlen(prefix) >= PATH_MAX_LEN)
		return 0;
	snprintf(buf, sizeof(buf), "%s", prefix);
	return walk(n, buf, strlen(buf), fn, arg);
}

/* Every child of prefix, nodes and values, in sorted order. */
int
config_foreach_child(const char *prefix,
    int (*fn)(const char *name, void *arg), void *arg)
{
	struct cnode *n, *c;
	int ret;

	if ((n = lookup(prefix != NULL ? prefix : "")) == NULL)
		return 0;
	for (c = n->child; c != NULL; c = c->next)
		if ((ret = fn(c->name, arg)) != 0)
			return ret;
	return 0;
}

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/*
 * A -k file is read with bounds: it may be a pipe or a device that never
 * ends (/dev/zero), and one endless line must not take all memory.
 */
#define CONFIG_MAX_LINE	8192u
#define CONFIG_MAX_FILE	(1u << 20)

/*
 * One line into buf, without its newline.  Returns its length, -1 at the
 * end of the file, -EINVAL for a NUL byte, -E2BIG for a line too long,
 * -EFBIG once the file has passed CONFIG_MAX_FILE.
 */
static int
read_line(FILE *f, char *buf, size_t *total)
{
	size_t n = 0;
	int c;

	while ((c = getc(f)) != EOF && c != '\n') {
		if (c == '\0')
			return -EINVAL;
		if (n == CONFIG_MAX_LINE - 1)
			return -E2BIG;
		buf[n++] = c;
	}
	if (c == EOF && n == 0)
		return -1;
	*total += n + 1;
	if (*total > CONFIG_MAX_FILE)
		return -EFBIG;
	buf[n] = '\0';
	return n;
}

int
config_load_file(const char *file)
{
	char where[PATH_MAX_LEN + 32];
	char *line, *s, *eq;
	size_t total = 0;
	unsigned lineno = 0;
	FILE *f;
	int len, ret = 0;

	if ((f = fopen(file, "re")) == NULL) {
		ret = -errno;
		hlog("%s: cannot open the configuration file: %s (check the "
		    "-k path)", file, strerror(-ret));
		return ret;
	}
	if ((line = malloc(CONFIG_MAX_LINE)) == NULL) {
		fclose(f);
		return -ENOMEM;
	}
	while ((len = read_line(f, line, &total)) != -1) {
		lineno++;
		snprintf(where, sizeof(where), "%s:%u: ", file, lineno);
		if (len < 0) {
			ret = len;
			if (len == -EINVAL)
				hlog("%sNUL byte in the line (the file must be "
				    "text)", where);
			else if (len == -E2BIG)
				hlog("%sline longer than %u bytes (check the -k "
				    "path: it must be key=value lines)", where,
				    CONFIG_MAX_LINE - 1);
			else
				hlog("%s: larger than %u KiB (check the -k path: "
				    "it must be key=value lines)", file,
				    CONFIG_MAX_FILE >> 10);
			break;
		}
		s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		if ((eq = strchr(s, '=')) == NULL) {
			hlog("%s'%.60s' is not key=value (write key=value, or "
			    "# for a comment)", where, s);
			ret = -EINVAL;
			break;
		}
		*eq = '\0';
		if ((ret = set_value(trim(s), trim(eq + 1), true, where)) < 0)
			break;
	}
	if (ret == 0 && ferror(f)) {
		ret = -EIO;
		hlog("%s: read error (check the file)", file);
	}
	free(line);
	fclose(f);
	return ret;
}

static int
dump_one(const char *path, const char *value, void *arg)
{
	fprintf(arg, "%s=%s\n", path, value);
	return 0;
}

void
config_dump(FILE *f)
{
	config_foreach("", dump_one, f);
}

enum ktype { K_STR, K_BOOL, K_UINT, K_SIZE };

/*
 * The keys hyve knows.  In a pattern "#" matches one number, "*" one
 * component and a final "**" one or more components.  A device checks its
 * own keys under pci.B.S.F.
 */
static const struct known_key {
	const char	*pat;
	enum ktype	 type;
} known_keys[] = {
	{ "cpus",			K_UINT },
	{ "sockets",			K_UINT },
	{ "cores",			K_UINT },
	{ "threads",			K_UINT },
	{ "memory.size",		K_SIZE },
	{ "memory.wired",		K_BOOL },
	{ "memory.huge_pages",		K_BOOL },
	{ "memory.lazy_restore",	K_BOOL },
	{ "memory.share_snapshot",	K_BOOL },
	{ "name",			K_STR },
	{ "uuid",			K_STR },
	{ "acpi_tables",		K_BOOL },
	{ "rtc.use_localtime",		K_BOOL },
	{ "virtio_msix",		K_BOOL },
	{ "x86.strictio",		K_BOOL },
	{ "x86.strictmsr",		K_BOOL },
	{ "x86.vmexit_on_hlt",		K_BOOL },
	{ "x86.vmexit_on_pause",	K_BOOL },
	{ "x86.x2apic",			K_BOOL },
	{ "config.dump",		K_BOOL },
	{ "restore",			K_STR },
	{ "boot.kernel",		K_STR },
	{ "boot.initrd",		K_STR },
	{ "boot.cmdline",		K_STR },
	{ "lpc.com1.path",		K_STR },
	{ "lpc.com2.path",		K_STR },
	{ "lpc.com3.path",		K_STR },
	{ "lpc.com4.path",		K_STR },
	{ "lpc.debug-exit.enabled",	K_BOOL },
	{ "lpc.debug-exit.port",	K_UINT },
	{ "pci.#.#.#.**",		K_STR },
	{ "sandbox",			K_STR },
	{ "tenant.uid",			K_UINT },
	{ "tenant.gid",			K_UINT },
	{ "tenant.uid_range",		K_STR },
	{ "control.**",			K_STR },
	{ "restart.max",		K_UINT },
	{ "restart.window",		K_UINT },
	{ "restart.retry",		K_UINT },
	{ "debug.**",			K_STR },
};

static bool
key_match(const char *pat, const char *key)
{
	const char *pe, *ke;
	size_t pl, kl;

	while (*pat != '\0') {
		if (*key == '\0')
			return false;
		pe = strchrnul(pat, '.');
		ke = strchrnul(key, '.');
		pl = pe - pat;
		kl = ke - key;
		if (pl == 2 && memcmp(pat, "**", 2) == 0 && *pe == '\0')
			return true;
		if (pl == 1 && *pat == '#') {
			if (!all_digits(key, kl))
				return false;
		} else if (!(pl == 1 && *pat == '*') &&
		    (pl != kl || memcmp(pat, key, pl) != 0))
			return false;
		pat = *pe != '\0' ? pe + 1 : pe;
		key = *ke != '\0' ? ke + 1 : ke;
	}
	return *key == '\0';
}

static int
check_one(const char *path, const char *value, void *arg)
{
	const struct known_key *k = NULL;
	int *bad = arg;
	uint64_t u;
	size_t i;
	bool b;

	(void)value;
	for (i = 0; i < sizeof(known_keys) / sizeof(known_keys[0]); i++) {
		if (key_match(known_keys[i].pat, path)) {
			k = &known_keys[i];
			break;
		}
	}
	if (k == NULL) {
		hlog("%s: unknown configuration key (check its spelling; "
		    "-o config.dump=1 lists the keys that are set)", path);
		*bad = 1;
		return 0;
	}
	if ((k->type == K_BOOL && config_get_bool(path, false, &b) < 0) ||
	    (k->type == K_UINT && config_get_uint(path, 0, &u) < 0) ||
	    (k->type == K_SIZE && config_get_size(path, 0, &u) < 0))
		*bad = 1;
	return 0;
}

/* Also checks the type of every known key; prints one line per bad key. */
int
config_check_keys(void)
{
	int bad = 0;

	config_foreach("", check_one, &bad);
	return bad ? -EINVAL : 0;
}

const char *
config_node_get(const char *node, const char *k)
{
	char path[256];

	snprintf(path, sizeof(path), "%s.%s", node, k);
	return config_get(path);
}

bool
config_node_bool(const char *node, const char *k)
{
	const char *v = config_node_get(node, k);
	bool b = false;

	return v != NULL && parse_bool(v, &b) == 0 && b;
}
