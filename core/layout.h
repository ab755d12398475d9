/*
 * Guest-physical memory map of a hyve VM.  Shared by the VMM, the boot
 * loaders and the ACPI builder; the test guest has its own copy of the few
 * addresses it needs.
 */
#ifndef HYVE_LAYOUT_H
#define HYVE_LAYOUT_H

#define GB(x)			((uint64_t)(x) << 30)
#define MB(x)			((uint64_t)(x) << 20)
#define KB(x)			((uint64_t)(x) << 10)

/* RAM below 4 GiB ends where the PCI hole begins. */
#define LOWMEM_LIMIT		0xC0000000ULL
#define HIGHMEM_BASE		0x100000000ULL

/* Legacy area: RAM up to the EBDA, then reserved up to 1 MiB. */
#define EBDA_BASE		0x9FC00ULL
#define BIOS_AREA_BASE		0xE0000ULL
#define BIOS_AREA_END		0x100000ULL

/* Where the boot loaders put their structures (all below 1 MiB). */
#define BOOT_GDT_ADDR		0x0500ULL	/* 4 entries for 64-bit Linux entry */
#define BOOT_INFO_ADDR		0x7000ULL	/* hvm_start_info or boot_params (zero page) */
#define BOOT_MEMMAP_ADDR	0x8000ULL	/* PVH memory map, up to 128 entries */
#define BOOT_MODLIST_ADDR	0x8C00ULL	/* PVH module list */
#define BOOT_PML4_ADDR		0x9000ULL	/* Linux 64-bit entry page tables */
#define BOOT_PDPT_ADDR		0xA000ULL
#define BOOT_PD_ADDR		0xB000ULL	/* 4 pages: 4 GiB with 2 MiB pages */
#define BOOT_CMDLINE_ADDR	0x20000ULL
#define BOOT_CMDLINE_MAX	4096
#define KERNEL_LOAD_ADDR	0x100000ULL	/* bzImage protected-mode part */

/* ACPI tables live in the BIOS area; the RSDP is first, 16-byte aligned.
 * The BIOS area's last page holds the VM generation ID (vmgenid.c). */
#define VMGENID_ADDR		(BIOS_AREA_END - 0x1000)
#define ACPI_BASE		BIOS_AREA_BASE
#define ACPI_SIZE		(VMGENID_ADDR - BIOS_AREA_BASE)

/* The PCI hole. */
#define PCI_MMIO32_BASE		0xC0000000ULL
#define PCI_MMIO32_END		0xE0000000ULL
#define PCI_ECAM_BASE		0xE0000000ULL
#define PCI_ECAM_SIZE		0x100000ULL	/* bus 0 only */
#define PCI_PIO_BASE		0x2000U
#define PCI_PIO_END		0x10000U
#define IOAPIC_BASE		0xFEC00000ULL
#define LAPIC_BASE		0xFEE00000ULL
#define PCI_MMIO64_SIZE		GB(64)		/* placed above high RAM, 1 GiB aligned */

/* Legacy I/O ports. */
#define PORT_COM1		0x3F8
#define PORT_COM2		0x2F8
#define PORT_COM3		0x3E8
#define PORT_COM4		0x2E8
#define IRQ_COM1		4
#define IRQ_COM2		3
#define IRQ_COM3		4
#define IRQ_COM4		3
#define PORT_RTC		0x70		/* 0x70-0x71 */
#define IRQ_RTC			8
#define PORT_I8042_DATA		0x60
#define PORT_I8042_CMD		0x64
#define PORT_PM1A_EVT		0x600		/* PM1_STS (2) + PM1_EN (2) */
#define PORT_PM1A_CNT		0x604		/* 2 bytes */
#define PORT_PM_TMR		0x608		/* 4 bytes, 3.579545 MHz */
#define PORT_GPE0_BLK		0x620		/* GPE0_STS (1) + GPE0_EN (1) */
#define GPE0_BLK_LEN		2
#define GPE_VMGENID		0		/* \_GPE._E00 tells of a new VM generation ID */
#define PORT_RESET		0xCF9		/* FADT RESET_REG, value 6 */
#define RESET_VALUE		0x06
#define SCI_IRQ			9
#define PORT_DEBUG_EXIT		0x501
#define PORT_PCI_CONF_ADDR	0xCF8
#define PORT_PCI_CONF_DATA	0xCFC

/* PM1_CNT SLP_TYP value the DSDT's \_S5 package advertises. */
#define SLP_TYP_S5		5

/* PCI INTx: slot/pin is swizzled onto IOAPIC pins 16..23 (level, low). */
#define PCI_INTX_GSI_BASE	16
#define PCI_INTX_GSI_COUNT	8
#define IOAPIC_PINS		24

#endif
