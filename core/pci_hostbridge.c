/* The host bridge: config space only, as bhyve's pci_hostbridge.c. */
#include <linux/pci_regs.h>

#include "core/pci.h"

static int
hostbridge_init(struct vm *vm, struct pci_dev *pd, const char *cfg)
{
	(void)vm;
	(void)cfg;
	pci_set_cfg16(pd, PCI_VENDOR_ID, 0x1275);	/* bhyve's ids */
	pci_set_cfg16(pd, PCI_DEVICE_ID, 0x1275);
	pci_set_cfg8(pd, PCI_HEADER_TYPE, PCI_HEADER_TYPE_NORMAL);
	pci_set_cfg8(pd, PCI_CLASS_DEVICE + 1, 0x06);	/* bridge */
	pci_set_cfg8(pd, PCI_CLASS_DEVICE, 0x00);	/* host */
	return 0;
}

const struct pci_devemu pci_de_hostbridge = {
	.name	= "hostbridge",
	.usage	= "PCI host bridge (slot 0)",
	.init	= hostbridge_init,
};
