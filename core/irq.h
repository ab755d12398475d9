#ifndef HYVE_IRQ_H
#define HYVE_IRQ_H

#include <stdint.h>

struct vm;

/*
 * The VM's GSI routing table: ISA IRQs to the PIC and IOAPIC (IRQ 0 to pin
 * 2, as the MADT's override says), PCI INTx pins 16-23 to the IOAPIC, and
 * one MSI route per MSI-X vector in use.  KVM_SET_GSI_ROUTING replaces the
 * whole table, so every change rewrites it.
 */
int irq_init(struct vm *vm);
/* A free GSI for an MSI route, or -ENOSPC. */
int irq_alloc_msi(struct vm *vm);
/* Points gsi at an MSI message; the route takes effect at once. */
int irq_set_msi(struct vm *vm, int gsi, uint64_t addr, uint32_t data);
/* Connects an eventfd to gsi as an irqfd, or disconnects it. */
int irq_irqfd_assign(struct vm *vm, int gsi, int fd);
int irq_irqfd_deassign(struct vm *vm, int gsi, int fd);
/* Sends one MSI now, from the core. */
int irq_signal_msi(struct vm *vm, uint64_t addr, uint32_t data);

#endif
