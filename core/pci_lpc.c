/*
 * The LPC (PCI-ISA) bridge, and the legacy devices behind it that the
 * user configures with -l: COM1-COM4 and the debug-exit port.
 */
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <linux/pci_regs.h>

#include "core/config.h"
#include "core/devices.h"
#include "core/layout.h"
#include "core/pci.h"
#include "core/vm.h"
#include "lib/log.h"

static int lpc_slot = -1;

int
lpc_present(void)
{
	return lpc_slot >= 0;
}

static bool
lpc_configured(void)
{
	char key[48];
	const char *emul;
	int slot, func;

	for (slot = 0; slot < PCI_SLOTS; slot++)
		for (func = 0; func < PCI_FUNCS; func++) {
			snprintf(key, sizeof(key), "pci.0.%d.%d.device", slot, func);
			emul = config_get(key);
			if (emul != NULL && strcmp(emul, "lpc") == 0)
				return true;
		}
	return false;
}

/* A COM port's sink: an existing file or tty we may write, or a new file
 * or socket in a directory we may write. */
static int
com_path_check(const char *com, const char *path)
{
	bool sock = strncmp(path, "unix:", 5) == 0;
	const char *probe;
	char dir[4096];
	struct stat st;
	int e;

	if (strcmp(path, "stdio") == 0)
		return 0;
	if (sock)
		path += 5;
	if (*path == '\0') {
		hlog("%s: no path given (use stdio, unix:PATH or a file)", com);
		return -EINVAL;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	probe = !sock && stat(path, &st) == 0 ? path : dirname(dir);
	if (access(probe, W_OK) < 0) {
		e = errno;
		hlog("%s: %s: %s", com, path, strerror(e));
		return -e;
	}
	return 0;
}

static int
debug_exit_port(uint64_t *port)
{
	int rc;

	if ((rc = config_get_uint("lpc.debug-exit.port", PORT_DEBUG_EXIT,
	    port)) < 0)
		return rc;
	if (*port == 0 || *port > 0xfffe) {
		hlog("lpc.debug-exit.port: 0x%llx is not a usable port",
		    (unsigned long long)*port);
		return -EINVAL;
	}
	return 0;
}

int
lpc_check(void)
{
	char key[32], com[16];
	const char *path;
	uint64_t port;
	bool on;
	int i, rc;

	if (!config_node_exists("lpc"))
		return 0;
	if (!lpc_configured()) {
		hlog("-l devices need an LPC bridge: add -s 31,lpc");
		return -EINVAL;
	}
	for (i = 0; i < 4; i++) {
		snprintf(key, sizeof(key), "lpc.com%d.path", i + 1);
		snprintf(com, sizeof(com), "com%d", i + 1);
		if ((path = config_get(key)) != NULL &&
		    (rc = com_path_check(com, path)) < 0)
			return rc;
	}
	if ((rc = config_get_bool("lpc.debug-exit.enabled", false, &on)) < 0)
		return rc;
	return on ? debug_exit_port(&port) : 0;
}

static int
lpc_devices(struct vm *vm)
{
	char key[32];
	const char *path;
	uint64_t port;
	bool on;
	int i, rc;

	for (i = 0; i < 4; i++) {
		snprintf(key, sizeof(key), "lpc.com%d.path", i + 1);
		if ((path = config_get(key)) == NULL)
			continue;
		if ((rc = uart_init(vm, i, path)) < 0)
			return rc;
	}
	if ((rc = config_get_bool("lpc.debug-exit.enabled", false, &on)) < 0)
		return rc;
	if (on) {
		if ((rc = debug_exit_port(&port)) < 0)
			return rc;
		if ((rc = debug_exit_init(vm, port)) < 0)
			return rc;
	}
	return 0;
}

static int
lpc_init(struct vm *vm, struct pci_dev *pd, const char *cfg)
{
	(void)cfg;
	if (lpc_slot >= 0) {
		hlog("%s: only one LPC bridge is allowed (one is at slot %d)",
		    pd->name, lpc_slot);
		return -EEXIST;
	}
	if (pd->func != 0) {
		hlog("%s: the LPC bridge must be function 0", pd->name);
		return -EINVAL;
	}
	lpc_slot = pd->slot;
	pci_set_cfg16(pd, PCI_VENDOR_ID, 0x8086);	/* 82371SB PIIX3 ISA */
	pci_set_cfg16(pd, PCI_DEVICE_ID, 0x7000);
	pci_set_cfg8(pd, PCI_HEADER_TYPE, PCI_HEADER_TYPE_NORMAL);
	pci_set_cfg8(pd, PCI_CLASS_DEVICE + 1, 0x06);	/* bridge */
	pci_set_cfg8(pd, PCI_CLASS_DEVICE, 0x01);	/* ISA */
	return lpc_devices(vm);
}

void
lpc_reset(void)
{
	lpc_slot = -1;
}

const struct pci_devemu pci_de_lpc = {
	.name	= "lpc",
	.usage	= "LPC/ISA bridge for -l devices (COM ports, debug-exit)",
	.init	= lpc_init,
};
