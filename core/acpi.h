#ifndef HYVE_ACPI_H
#define HYVE_ACPI_H

#include <stddef.h>
#include <stdint.h>

/* What the ACPI tables describe; filled from the VM's configuration. */
struct acpi_machine {
	int		ncpus;
	const uint8_t	*apic_ids;	/* per CPU; NULL means 0..ncpus-1 */
	uint64_t	ecam_base;	/* MCFG: segment 0, buses 0..0 */
	uint64_t	mmio32_base, mmio32_end;	/* _CRS windows */
	uint64_t	mmio64_base, mmio64_end;	/* end exclusive; 0 = none */
	uint32_t	io_base, io_end;	/* end exclusive */
	unsigned	com_mask;	/* bit i set: COM(i+1) present */
	int		pci_slots[32];	/* nonzero: a device sits in slot i */
	uint64_t	vmgenid_gpa;	/* the VM generation ID; 0 = none */
};

/*
 * Builds RSDP, XSDT, FADT (with FACS and DSDT), MADT, MCFG and the DSDT into
 * buf, which the guest will see at guest-physical base_gpa.  The RSDP is at
 * offset 0.  Returns bytes used, -ENOSPC if buf is too small, or -EINVAL
 * for a machine it cannot describe.
 */
int acpi_build(const struct acpi_machine *m, uint8_t *buf, size_t len,
    uint64_t base_gpa);

#endif
