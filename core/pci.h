#ifndef HYVE_PCI_H
#define HYVE_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct vm;
struct pci_dev;

enum pci_bar_type { PCIBAR_NONE, PCIBAR_IO, PCIBAR_MEM32, PCIBAR_MEM64 };

struct pci_bar {
	enum pci_bar_type type;
	uint64_t	addr;		/* where it is decoded now; 0 = nowhere */
	uint64_t	size;
	bool		mapped;
};

/*
 * A PCI device emulation.  Every one is listed in pci_devemus[] (pci.c);
 * the virtio devices served by a backend in devclasses[] (devclass.c).
 */
struct pci_devemu {
	const char	*name;
	const char	*usage;		/* for -s help */
	void	(*usage_fn)(char *buf, size_t len);	/* or made on demand */
	/* cfg is the device's config node, e.g. "pci.0.3.0". */
	int	(*init)(struct vm *vm, struct pci_dev *pd, const char *cfg);
	/* Checks the device's options and files before KVM is opened; may
	 * be NULL.  name is "pci 0:3:0 (virtio-blk)". */
	int	(*check)(const char *cfg, const char *name);
	/* Config space hooks: return -ENOENT to get the default handling. */
	int	(*cfgread)(struct pci_dev *pd, int off, int size, uint32_t *val);
	int	(*cfgwrite)(struct pci_dev *pd, int off, int size, uint32_t val);
	/* BAR accesses, off relative to the BAR. */
	int	(*barread)(struct pci_dev *pd, int bar, uint64_t off, int size,
		    uint64_t *val);
	int	(*barwrite)(struct pci_dev *pd, int bar, uint64_t off, int size,
		    uint64_t val);
	/* Frees the emulation's state (pd->arg); may be NULL. */
	void	(*fini)(struct pci_dev *pd);
	/* BAR bar starts (mapped) or stops being decoded at addr. */
	void	(*barmap)(struct pci_dev *pd, int bar, bool mapped, uint64_t addr);
};

struct pci_dev {
	struct vm	*vm;
	const struct pci_devemu *pe;
	int		bus, slot, func;
	char		name[48];	/* "pci 0:3:0 (virtio-blk)" */
	uint8_t		cfg[4096];
	struct pci_bar	bar[6];
	int		intx_pin;	/* 0 none, 1 INTA .. 4 INTD */
	int		intx_gsi;
	int		cap_end;	/* first free byte after the capabilities */
	void		*arg;		/* the emulation's state */
};

#define PCI_SLOTS	32
#define PCI_FUNCS	8

/* Creates every device under pci.0.* from the config; registers the
 * config-space ports and the ECAM window.  Errors name the slot. */
int pci_init(struct vm *vm);
/* Checks every pci.0.* node (emulation known, its options and files)
 * without touching KVM, so bad input fails the same way on any host. */
int pci_check(void);
struct pci_dev *pci_find(int bus, int slot, int func);
/* Config space as the guest sees it (mechanism #1 and ECAM share these). */
uint32_t pci_cfg_read(struct pci_dev *pd, int off, int size);
void pci_cfg_write(struct pci_dev *pd, int off, int size, uint32_t val);
void pci_print_emulations(FILE *f);
void pci_reset_all(void);		/* unit tests: forget every device */

/* For emulations. */
void pci_set_cfg8(struct pci_dev *pd, int off, uint8_t v);
void pci_set_cfg16(struct pci_dev *pd, int off, uint16_t v);
void pci_set_cfg32(struct pci_dev *pd, int off, uint32_t v);
uint8_t pci_get_cfg8(const struct pci_dev *pd, int off);
uint16_t pci_get_cfg16(const struct pci_dev *pd, int off);
uint32_t pci_get_cfg32(const struct pci_dev *pd, int off);
/* Allocates and places BAR idx (a 64-bit BAR also takes idx+1). */
int pci_alloc_bar(struct pci_dev *pd, int idx, enum pci_bar_type type,
    uint64_t size);
/* Appends a capability; returns its offset or -ENOSPC. */
int pci_add_cap(struct pci_dev *pd, const void *cap, int len);
/* INTx: assigns INTA and its GSI (swizzled as the DSDT's _PRT says). */
void pci_intx_request(struct pci_dev *pd);
void pci_intx_assert(struct pci_dev *pd);
void pci_intx_deassert(struct pci_dev *pd);
/* The GSI the _PRT gives slot/pin (pin 1..4). */
int pci_intx_gsi(int slot, int pin);
/* Slots in use, for the ACPI tables. */
void pci_slots_used(int used[PCI_SLOTS]);

/* The LPC bridge (pci_lpc.c). */
int lpc_present(void);
/* Checks the -l devices (an LPC bridge for them, the COM paths, the
 * debug-exit port) before KVM is opened. */
int lpc_check(void);
void lpc_reset(void);

#endif
