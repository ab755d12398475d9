/*
 * bhyve(8)'s command line, mapped onto the configuration keys as bhyve
 * maps it.  Options are applied in order; every error is one line that
 * names the option and its argument.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cmdline.h"
#include "core/config.h"
#include "core/devclass.h"
#include "core/pci.h"
#include "core/vmsnap.h"
#include "lib/log.h"

#define MAXCPUS		256
#define MAXMEM		(1ULL << 40)
#define NAME_MAX_LEN	64
#define KEY_MAX_LEN	256	/* as in config.c */

void
cmdline_usage(FILE *f)
{
	fprintf(f,
	    "usage: hyve [-AHPSuWwehx] [-c [[cpus=]numcpus][,sockets=n]"
	    "[,cores=n][,threads=n]]\n"
	    "            [-k config_file] [-l lpcdev[,conf]] "
	    "[-m memsize[K|k|M|m|G|g|T|t]]\n"
	    "            [-o var=value] [-s slot,emulation[,conf]] [-U uuid] "
	    "vmname\n"
	    "       hyve -r snapshot_dir [options] [vmname]\n"
	    "  -A: create ACPI tables (the default)\n"
	    "  -c: number of vCPUs and their topology (at most %d)\n"
	    "  -e: exit on unhandled I/O port accesses\n"
	    "  -H: exit from the guest on HLT\n"
	    "  -h: this help\n"
	    "  -k: read key=value configuration lines from a file\n"
	    "  -l: LPC device configuration (-l help lists them)\n"
	    "  -m: memory size (MiB without a suffix; default 256M)\n"
	    "  -o: set a configuration key\n"
	    "  -P: exit from the guest on PAUSE\n"
	    "  -r: restore the VM saved in a snapshot directory "
	    "(hyvectl snapshot)\n"
	    "  -S: wire guest memory\n"
	    "  -s: PCI slot configuration (-s help lists the emulations)\n"
	    "  -U: the guest's UUID\n"
	    "  -u: the RTC keeps UTC time\n"
	    "  -W: virtio devices use MSI instead of MSI-X\n"
	    "  -w: ignore unimplemented MSRs\n"
	    "  -x: local APICs in x2APIC mode\n"
	    "  -o config.dump=1 prints the configuration and exits\n",
	    MAXCPUS);
}

static void
lpc_print_devices(FILE *f)
{
	fprintf(f,
	    "LPC devices (-l device[,conf]):\n"
	    "  com1, com2, com3, com4   16550 UART; conf is where it goes:\n"
	    "                           stdio, unix:PATH (a socket), a file "
	    "or a tty\n"
	    "  debug-exit[,port=N]      a guest write to port N (default "
	    "0x501) ends hyve\n");
}

/* Decimal only; -EINVAL unless all of s is a number. */
static int
parse_dec(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)s[0]) || strlen(s) > 18)
		return -EINVAL;
	v = strtoull(s, &end, 10);
	if (*end != '\0')
		return -EINVAL;
	*out = v;
	return 0;
}

static bool
key_ok(const char *key)
{
	const char *p;
	bool empty = true;

	if (strlen(key) >= KEY_MAX_LEN)
		return false;
	for (p = key; *p != '\0'; p++) {
		if (*p == '.') {
			if (empty)
				return false;
			empty = true;
		} else if (isalnum((unsigned char)*p) || *p == '_' || *p == '-')
			empty = false;
		else
			return false;
	}
	return !empty;
}

/*
 * config_set, with the checks config_set would make done here first, so
 * that the one error line names the option rather than only the key.
 */
static int
opt_set(const char *opt, const char *arg, const char *key, const char *value)
{
	char buf[KEY_MAX_LEN], who[KEY_MAX_LEN];
	const char *v;
	char *dot;

	snprintf(who, sizeof(who), "%s%s%s", opt, *arg != '\0' ? " " : "",
	    arg);
	if (!key_ok(key)) {
		hlog("%s: '%s' is not a valid key (use letters, digits, "
		    "'_' and '-' between dots)", who, key);
		return -EINVAL;
	}
	if (strchr(value, '\n') != NULL) {
		hlog("%s: the value of %s must be one line", who, key);
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", key);
	for (dot = strchr(buf, '.'); dot != NULL; dot = strchr(dot + 1, '.')) {
		*dot = '\0';
		if ((v = config_get(buf)) != NULL) {
			hlog("%s: %s is already set to '%s', so %s cannot be "
			    "set", who, buf, v, key);
			return -EINVAL;
		}
		*dot = '.';
	}
	if (config_node_exists(key)) {
		hlog("%s: %s already holds other keys (%s.*), so it cannot "
		    "be given a value", who, key, key);
		return -EINVAL;
	}
	return config_set(key, value);
}

/* -c [[cpus=]n][,sockets=n][,cores=n][,threads=n] */
static int
opt_cpus(const char *arg)
{
	uint64_t cpus = 0, sockets = 0, cores = 0, threads = 0, *dst, n, ct;
	char *dup, *p, *item, *val, num[24];
	int ret = -EINVAL;

	if ((dup = strdup(arg)) == NULL)
		return -ENOMEM;
	p = dup;
	while ((item = strsep(&p, ",")) != NULL) {
		if (strncmp(item, "cpus=", 5) == 0)
			dst = &cpus, val = item + 5;
		else if (strncmp(item, "sockets=", 8) == 0)
			dst = &sockets, val = item + 8;
		else if (strncmp(item, "cores=", 6) == 0)
			dst = &cores, val = item + 6;
		else if (strncmp(item, "threads=", 8) == 0)
			dst = &threads, val = item + 8;
		else if (strchr(item, '=') != NULL) {
			hlog("-c %s: unknown item '%s' (use cpus, sockets, "
			    "cores or threads)", arg, item);
			goto out;
		} else
			dst = &cpus, val = item;
		if (parse_dec(val, &n) < 0 || n < 1 || n > MAXCPUS) {
			hlog("-c %s: '%s' is not a number from 1 to %d", arg,
			    *val != '\0' ? val : item, MAXCPUS);
			goto out;
		}
		*dst = n;
	}
	cores = cores ? cores : 1;
	threads = threads ? threads : 1;
	ct = cores * threads;
	if (sockets == 0)
		sockets = cpus == 0 ? 1 : (cpus % ct == 0 ? cpus / ct : cpus);
	if (cpus == 0)
		cpus = sockets * ct;
	if (sockets * ct != cpus) {
		hlog("-c %s: sockets*cores*threads is %llu*%llu*%llu, not cpus "
		    "(%llu) (give a topology that multiplies out to cpus)", arg,
		    (unsigned long long)sockets, (unsigned long long)cores,
		    (unsigned long long)threads, (unsigned long long)cpus);
		goto out;
	}
	if (cpus > MAXCPUS) {
		hlog("-c %s: %llu vCPUs is more than %d (use fewer)", arg,
		    (unsigned long long)cpus, MAXCPUS);
		goto out;
	}
	snprintf(num, sizeof(num), "%llu", (unsigned long long)cpus);
	ret = opt_set("-c", arg, "cpus", num);
	snprintf(num, sizeof(num), "%llu", (unsigned long long)sockets);
	ret = ret ? ret : opt_set("-c", arg, "sockets", num);
	snprintf(num, sizeof(num), "%llu", (unsigned long long)cores);
	ret = ret ? ret : opt_set("-c", arg, "cores", num);
	snprintf(num, sizeof(num), "%llu", (unsigned long long)threads);
	ret = ret ? ret : opt_set("-c", arg, "threads", num);
out:
	free(dup);
	return ret;
}

/* -m size: MiB without a suffix, as in bhyve. */
static int
opt_mem(const char *arg)
{
	char buf[32];
	size_t len = strlen(arg);
	uint64_t sz;

	if (len == 0 || len > 20 || parse_size(arg, &sz) < 0) {
		hlog("-m %s: not a size (use a number with an optional K, M, "
		    "G or T suffix; no suffix means M)", arg);
		return -EINVAL;
	}
	if (isdigit((unsigned char)arg[len - 1]))
		snprintf(buf, sizeof(buf), "%sM", arg);
	else
		snprintf(buf, sizeof(buf), "%s", arg);
	if (parse_size(buf, &sz) < 0 || sz > MAXMEM) {
		hlog("-m %s: more than the 1T limit (use a smaller size)", arg);
		return -EINVAL;
	}
	if (sz == 0) {
		hlog("-m %s: the guest needs some memory (use e.g. 256M)", arg);
		return -EINVAL;
	}
	if (sz % 4096 != 0) {
		hlog("-m %s: not a multiple of 4K pages (use whole K, M or G)",
		    arg);
		return -EINVAL;
	}
	return opt_set("-m", arg, "memory.size", buf);
}

/* "slot", "slot:func" or "bus:slot:func". */
static int
parse_bsf(const char *s, uint64_t *bus, uint64_t *slot, uint64_t *func)
{
	uint64_t v[3] = { 0, 0, 0 };
	char *dup, *p, *tok;
	int n = 0, ret = 0;

	if ((dup = strdup(s)) == NULL)
		return -ENOMEM;
	p = dup;
	while ((tok = strsep(&p, ":")) != NULL) {
		if (n == 3 || parse_dec(tok, &v[n]) < 0) {
			ret = -EINVAL;
			break;
		}
		n++;
	}
	free(dup);
	if (n == 3) {
		*bus = v[0];
		*slot = v[1];
		*func = v[2];
	} else {
		*bus = 0;
		*slot = v[0];
		*func = v[1];
	}
	return ret;
}

static bool
emul_ok(const char *s)
{
	if (*s == '\0' || strlen(s) > 32)
		return false;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
			return false;
	return true;
}

/*
 * The conf items of -s, after the emulation.  A device class may name the
 * key its first bare item sets (virtio-blk's path, virtio-net's backend),
 * unless that key is given; other bare items are flags ("ro").
 */
static int
slot_conf(const char *arg, const char *pfx, const char *emul, char *conf)
{
	const struct devclass *c = devclass_by_emul(emul);
	char key[KEY_MAX_LEN + 64], given[16];
	const char *val, *bare = c ? c->bare : NULL;
	char *item, *eq;
	int ret;

	if (bare != NULL) {
		snprintf(given, sizeof(given), ",%s=", bare);
		snprintf(key, sizeof(key), ",%s", conf);
		if (strstr(key, given) != NULL)
			bare = NULL;
	}
	while ((item = strsep(&conf, ",")) != NULL) {
		if (*item == '\0') {
			hlog("-s %s: empty item (remove the extra ',')", arg);
			return -EINVAL;
		}
		if ((eq = strchr(item, '=')) != NULL) {
			*eq = '\0';
			val = eq + 1;
			if (*item == '\0') {
				hlog("-s %s: '=%s' has no key (use key=value)",
				    arg, val);
				return -EINVAL;
			}
		} else if (bare != NULL) {
			val = item;
			item = (char *)bare;
			bare = NULL;
		} else
			val = "true";
		if (strcmp(item, "device") == 0) {
			hlog("-s %s: 'device' cannot be set here (the "
			    "emulation names it)", arg);
			return -EINVAL;
		}
		snprintf(key, sizeof(key), "%s.%s", pfx, item);
		if ((ret = opt_set("-s", arg, key, val)) < 0)
			return ret;
	}
	return 0;
}

/* -s slot,emulation[,conf] */
static int
opt_slot(const char *arg)
{
	char pfx[80], key[96], *dup, *p, *bsf, *emul;
	uint64_t bus, slot, func;
	const char *used;
	int ret = -EINVAL;

	if (strcmp(arg, "help") == 0) {
		pci_print_emulations(stdout);
		return 1;
	}
	if ((dup = strdup(arg)) == NULL)
		return -ENOMEM;
	p = dup;
	bsf = strsep(&p, ",");
	emul = strsep(&p, ",");
	if (parse_bsf(bsf, &bus, &slot, &func) < 0) {
		hlog("-s %s: '%s' is not a slot (use slot, slot:func or "
		    "bus:slot:func)", arg, bsf);
		goto out;
	}
	if (bus != 0) {
		hlog("-s %s: bus %s is not supported (use bus 0)", arg, bsf);
		goto out;
	}
	if (slot > 31) {
		hlog("-s %s: slot out of range in '%s' (use 0 to 31)", arg, bsf);
		goto out;
	}
	if (func > 7) {
		hlog("-s %s: function out of range in '%s' (use 0 to 7)", arg,
		    bsf);
		goto out;
	}
	if (emul == NULL || *emul == '\0') {
		hlog("-s %s: no emulation (use -s slot,emulation[,conf]; "
		    "-s help lists them)", arg);
		goto out;
	}
	if (!emul_ok(emul)) {
		hlog("-s %s: '%s' is not an emulation name (-s help lists "
		    "them)", arg, emul);
		goto out;
	}
	snprintf(pfx, sizeof(pfx), "pci.%u.%u.%u", (unsigned)bus,
	    (unsigned)slot, (unsigned)func);
	snprintf(key, sizeof(key), "%s.device", pfx);
	if ((used = config_get(key)) != NULL) {
		hlog("-s %s: slot %u:%u:%u is already used by %s (pick a free "
		    "slot)", bsf, (unsigned)bus, (unsigned)slot,
		    (unsigned)func, used);
		goto out;
	}
	if ((ret = opt_set("-s", arg, key, emul)) == 0 && p != NULL)
		ret = slot_conf(arg, pfx, emul, p);
out:
	free(dup);
	return ret;
}

/* An I/O port, decimal or 0x hex, 1 to 0xffff. */
static int
parse_port(const char *s, uint64_t *out)
{
	char *end;

	if (!isdigit((unsigned char)s[0]) || strlen(s) > 8)
		return -EINVAL;
	*out = strtoul(s, &end, s[0] == '0' && s[1] == 'x' ? 16 : 10);
	if (*end != '\0' || *out < 1 || *out > 0xffff)
		return -EINVAL;
	return 0;
}

/* -l com1,PATH or -l debug-exit[,port=N] */
static int
opt_lpc(const char *arg)
{
	char key[64], num[16], *dup, *p, *dev, *item;
	uint64_t port;
	int ret = -EINVAL;

	if (strcasecmp(arg, "help") == 0) {
		lpc_print_devices(stdout);
		return 1;
	}
	if ((dup = strdup(arg)) == NULL)
		return -ENOMEM;
	p = dup;
	dev = strsep(&p, ",");
	for (item = dev; *item != '\0'; item++)
		*item = tolower((unsigned char)*item);
	if (strlen(dev) == 4 && strncmp(dev, "com", 3) == 0 &&
	    dev[3] >= '1' && dev[3] <= '4') {
		if (p == NULL || *p == '\0') {
			hlog("-l %s: no path for %s (use -l %s,stdio, "
			    "unix:PATH, a file or a tty)", arg, dev, dev);
			goto out;
		}
		snprintf(key, sizeof(key), "lpc.%s.path", dev);
		ret = opt_set("-l", arg, key, p);
	} else if (strcmp(dev, "debug-exit") == 0) {
		ret = opt_set("-l", arg, "lpc.debug-exit.enabled", "true");
		while (ret == 0 && (item = strsep(&p, ",")) != NULL) {
			if (strncmp(item, "port=", 5) != 0 ||
			    parse_port(item + 5, &port) < 0) {
				hlog("-l %s: bad item '%s' (use port=N, N a "
				    "port from 1 to 0xffff)", arg, item);
				ret = -EINVAL;
				break;
			}
			snprintf(num, sizeof(num), "0x%llx",
			    (unsigned long long)port);
			ret = opt_set("-l", arg, "lpc.debug-exit.port", num);
		}
	} else
		hlog("-l %s: unknown LPC device '%s' (use com1 to com4 or "
		    "debug-exit; -l help lists them)", arg, dev);
out:
	free(dup);
	return ret;
}

/* -o key=value */
static int
opt_var(const char *arg)
{
	char *dup, *eq;
	int ret;

	if ((eq = strchr(arg, '=')) == NULL) {
		hlog("-o %s: no '=' (use -o key=value)", arg);
		return -EINVAL;
	}
	if ((dup = strndup(arg, eq - arg)) == NULL)
		return -ENOMEM;
	ret = opt_set("-o", arg, dup, eq + 1);
	free(dup);
	return ret;
}

static bool
uuid_ok(const char *s)
{
	int i;

	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)s[i]))
			return false;
	}
	return s[36] == '\0';
}

static int
check_name(const char *name)
{
	const char *p;

	if (*name == '\0' || *name == '.' || strlen(name) > NAME_MAX_LEN) {
		hlog("vmname '%s': use 1 to %d characters, not starting with "
		    "'.'", name, NAME_MAX_LEN);
		return -EINVAL;
	}
	for (p = name; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' &&
		    *p != '-') {
			hlog("vmname '%s': bad character '%c' (use letters, "
			    "digits, '.', '_' and '-')", name,
			    isprint((unsigned char)*p) ? *p : '?');
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * The vCPU keys may also come from -o or -k: check them together, and
 * fill in a topology of one core per socket when none was given.
 */
static int
check_topology(void)
{
	static const char *keys[] = { "cpus", "cores", "threads", "sockets" };
	uint64_t v[4], def;
	char num[24];
	int i, ret;

	for (i = 0; i < 4; i++) {
		def = 1;
		/* Unless given, sockets fill up what cores*threads leave. */
		if (i == 3 && v[0] % (v[1] * v[2]) == 0)
			def = v[0] / (v[1] * v[2]);
		if (config_get_uint(keys[i], def, &v[i]) < 0)
			return -EINVAL;
		if (v[i] < 1 || v[i] > MAXCPUS) {
			hlog("%s: '%s' is out of range (use 1 to %d)", keys[i],
			    config_get(keys[i]), MAXCPUS);
			return -EINVAL;
		}
	}
	if (v[1] * v[2] * v[3] != v[0]) {
		hlog("cpus=%llu does not match sockets*cores*threads = "
		    "%llu*%llu*%llu (fix -c, -o or the -k file)",
		    (unsigned long long)v[0], (unsigned long long)v[3],
		    (unsigned long long)v[1], (unsigned long long)v[2]);
		return -EINVAL;
	}
	snprintf(num, sizeof(num), "%llu", (unsigned long long)v[3]);
	if ((ret = config_set_default("sockets", num)) < 0 ||
	    (ret = config_set_default("cores", "1")) < 0 ||
	    (ret = config_set_default("threads", "1")) < 0)
		return ret;
	return 0;
}

static int
check_memory(void)
{
	uint64_t sz;

	if (config_get_size("memory.size", 0, &sz) < 0)
		return -EINVAL;
	if (sz == 0 || sz > MAXMEM || sz % 4096 != 0) {
		hlog("memory.size: '%s' must be from 4K to 1T in whole 4K "
		    "pages", config_get("memory.size"));
		return -EINVAL;
	}
	return 0;
}

static int
set_defaults(void)
{
	int ret;

	if ((ret = config_set_default("cpus", "1")) < 0 ||
	    (ret = config_set_default("memory.size", "256M")) < 0 ||
	    (ret = config_set_default("acpi_tables", "true")) < 0 ||
	    (ret = config_set_default("rtc.use_localtime", "true")) < 0)
		return ret;
	return 0;
}

static int finish(const char *name, bool restored);

static int
option(int c, const char *arg)
{
	char opt[3] = { '-', c, '\0' };

	switch (c) {
	case 'A':
		return opt_set(opt, "", "acpi_tables", "true");
	case 'c':
		return opt_cpus(arg);
	case 'e':
		return opt_set(opt, "", "x86.strictio", "true");
	case 'H':
		return opt_set(opt, "", "x86.vmexit_on_hlt", "true");
	case 'h':
		cmdline_usage(stdout);
		return 1;
	case 'k':
		return config_load_file(arg);
	case 'l':
		return opt_lpc(arg);
	case 'm':
		return opt_mem(arg);
	case 'o':
		return opt_var(arg);
	case 'P':
		return opt_set(opt, "", "x86.vmexit_on_pause", "true");
	case 'r':
		return opt_set(opt, arg, "restore", arg);
	case 'S':
		return opt_set(opt, "", "memory.wired", "true");
	case 's':
		return opt_slot(arg);
	case 'U':
		if (!uuid_ok(arg)) {
			hlog("-U %s: not a UUID (use the form "
			    "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, x in hex)",
			    arg);
			return -EINVAL;
		}
		return opt_set(opt, arg, "uuid", arg);
	case 'u':
		return opt_set(opt, "", "rtc.use_localtime", "false");
	case 'W':
		return opt_set(opt, "", "virtio_msix", "false");
	case 'w':
		return opt_set(opt, "", "x86.strictmsr", "false");
	case 'x':
		return opt_set(opt, "", "x86.x2apic", "true");
	}
	return -EINVAL;
}

int
cmdline_parse(int argc, char **argv)
{
	bool shared = false;
	int c, ret;

	/* optind = 0 makes glibc forget all state from an earlier parse. */
	optind = 0;
	opterr = 0;
	/* '+': stop at the vmname, as bhyve's getopt does. */
	while ((c = getopt(argc, argv, "+:AHPSuWwehxc:k:l:m:o:r:s:U:")) != -1) {
		if (c == '?') {
			hlog("-%c: unknown option (hyve -h lists the options)",
			    isprint(optopt) ? optopt : '?');
			return -EINVAL;
		}
		if (c == ':') {
			hlog("-%c: missing argument (hyve -h shows it)", optopt);
			return -EINVAL;
		}
		if ((ret = option(c, optarg)) != 0)
			return ret < 0 ? ret : 1;
	}
	/* -r (or -o restore=): the snapshot's configuration under what the
	 * command line set, the vmname included. */
	if (config_get("restore") != NULL &&
	    ((ret = vmsnap_config(config_get("restore"))) < 0))
		return ret;
	if (config_get("restore") == NULL &&
	    config_get_bool("memory.share_snapshot", false, &shared) == 0 &&
	    shared) {
		hlog("-o memory.share_snapshot: only a restore (-r DIR) has a "
		    "snapshot to share; drop it or add -r");
		return -EINVAL;
	}
	if (optind >= argc && config_get("restore") != NULL &&
	    config_get("name") != NULL)
		return finish(config_get("name"), true);
	if (optind >= argc) {
		hlog("missing vmname (usage: hyve [options] vmname; hyve -h "
		    "for help)");
		return -EINVAL;
	}
	if (argc - optind > 1) {
		hlog("unexpected argument '%s' after vmname '%s' (options go "
		    "before the vmname)", argv[optind + 1], argv[optind]);
		return -EINVAL;
	}
	return finish(argv[optind], false);
}

static int
finish(const char *name, bool restored)
{
	int ret;

	if ((ret = check_name(name)) < 0 ||
	    (!restored && (ret = opt_set("vmname", name, "name", name)) < 0) ||
	    (ret = config_check_keys()) < 0 ||
	    (ret = set_defaults()) < 0 ||
	    (ret = check_topology()) < 0 ||
	    (ret = check_memory()) < 0)
		return ret;
	return 0;
}
