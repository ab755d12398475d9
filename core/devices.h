#ifndef HYVE_DEVICES_H
#define HYVE_DEVICES_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

/*
 * Legacy (LPC) devices.  Each registers its ports with vm->pio; handlers run
 * with vm->dev_lock held.
 */

/* 16550 UART as COM(idx+1).  path: "stdio" (raw terminal, restored on every
 * exit path), "unix:PATH" (listen, one client at a time), or the path of a
 * file (output appended) or tty/pty (both ways). */
int uart_init(struct vm *vm, int idx, const char *path);
/* Stops the input threads, closes the backends, removes a unix socket. */
void uart_fini(struct vm *vm);
struct upg_out;
/* hyvectl upgrade: every console but stdio goes to the new core. */
int uart_handover(struct upg_out *o);
/* Stops reading the consoles' input (a core that hands over the VM). */
void uart_stop_input(struct vm *vm);
/* Starts them: a new core's, once the old core has let go. */
int uart_start_input(struct vm *vm);
/* Restores the terminal; async-signal-safe, idempotent. */
void uart_restore_tty(void);
/* The core is about to lose unlink: leave the socket files to the monitor. */
void uart_keep_sockets(void);

/* CMOS RTC at 0x70/0x71; utc false means localtime (bhyve's default). */
int rtc_init(struct vm *vm, bool utc);
/* i8042: enough for the reset line (0xFE to port 0x64). */
int i8042_init(struct vm *vm);
/* ACPI PM1 event/control, PM timer, reset register (0xCF9). */
int pm_init(struct vm *vm);
/* SIGTERM: press the power button (PWRBTN_STS, SCI if enabled). */
void pm_power_button(struct vm *vm);
/* Sets GPE0 status bit (SCI if the guest enabled it); dev_lock held. */
void pm_gpe_raise(struct vm *vm, unsigned bit);
/* QEMU isa-debug-exit: writing V exits with (V << 1) | 1. */
int debug_exit_init(struct vm *vm, uint16_t port);

#endif
