/*
 * hyve test guest: a freestanding PVH kernel.  The boot code (entry.S) runs
 * at CPL 0 only long enough to enter long mode; everything else runs at
 * CPL 3 with IOPL 3, because on kvm_pvm CPL 0 code is emulated.
 */
#ifndef GUEST_H
#define GUEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_CPUS	16
#define LAPIC		0xFEE00000UL
#define IOAPIC		0xFEC00000UL
#define TRAMPOLINE	0x30000UL
#define PORT_COM1	0x3F8
#define PORT_DEBUG_EXIT	0x501

/* Services of the CPL 0 stub (int $0x80, number in %rax). */
#define SYS_HLT		0	/* sti; hlt; back with IF as before */
#define SYS_HALT	1	/* cli; hlt forever */
#define SYS_WRMSR	2
#define SYS_RDMSR	3
#define SYS_LIDT0	4	/* load an empty IDT */
#define SYS_STI		5
#define SYS_CLI		6
#define SYS_IN		7	/* port | size << 16 */
#define SYS_OUT		8	/* port | size << 16, value */

#define TIMER_VECTOR	0x40
#define SPURIOUS_VECTOR	0xFF

/* hvm_start_info, from Xen's public/arch-x86/hvm/start_info.h. */
#define HVM_START_MAGIC	0x336ec578
struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};
struct hvm_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};
#define MAX_MEMMAP	32

/* entry.S */
extern volatile uint32_t boot_info_ptr;
extern volatile uint32_t cpu_boot_index;
extern volatile uint32_t irq_count[256];
extern volatile uint64_t fault_vec, fault_err, fault_rip, fault_cs, fault_cr2;
extern char trampoline_start[], trampoline_end[];
long syscall2(long nr, long a, long b);

/*
 * Port I/O: direct when IOPL 3 holds at CPL 3, else through the CPL 0 stub
 * (kvm_pvm runs CPL 3 natively and keeps the real IOPL at 0).
 */
extern int io_direct;
#define IO_ARG(port, size)	((long)(port) | (long)(size) << 16)
static inline void outb(uint16_t p, uint8_t v)
{
	if (io_direct)
		__asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(p));
	else
		syscall2(SYS_OUT, IO_ARG(p, 1), v);
}
static inline void outw(uint16_t p, uint16_t v)
{
	if (io_direct)
		__asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(p));
	else
		syscall2(SYS_OUT, IO_ARG(p, 2), v);
}
static inline void outl(uint16_t p, uint32_t v)
{
	if (io_direct)
		__asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(p));
	else
		syscall2(SYS_OUT, IO_ARG(p, 4), v);
}
static inline uint8_t inb(uint16_t p)
{
	uint8_t v;

	if (!io_direct)
		return (uint8_t)syscall2(SYS_IN, IO_ARG(p, 1), 0);
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(p));
	return v;
}
static inline uint16_t inw(uint16_t p)
{
	uint16_t v;

	if (!io_direct)
		return (uint16_t)syscall2(SYS_IN, IO_ARG(p, 2), 0);
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(p));
	return v;
}
static inline uint32_t inl(uint16_t p)
{
	uint32_t v;

	if (!io_direct)
		return (uint32_t)syscall2(SYS_IN, IO_ARG(p, 4), 0);
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(p));
	return v;
}
static inline uint8_t mmio_read8(uint64_t a) { return *(volatile uint8_t *)a; }
static inline uint16_t mmio_read16(uint64_t a) { return *(volatile uint16_t *)a; }
static inline uint32_t mmio_read32(uint64_t a) { return *(volatile uint32_t *)a; }
static inline void mmio_write8(uint64_t a, uint8_t v) { *(volatile uint8_t *)a = v; }
static inline void mmio_write16(uint64_t a, uint16_t v) { *(volatile uint16_t *)a = v; }
static inline void mmio_write32(uint64_t a, uint32_t v) { *(volatile uint32_t *)a = v; }
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
#define barrier() __asm__ volatile("" ::: "memory")
/* A full barrier without SSE: orders stores before later loads. */
#define mb() __asm__ volatile("lock; addl $0, (%%rsp)" ::: "memory", "cc")

/* main.c */
extern struct hvm_start_info start_info;
extern char cmdline[];
extern struct hvm_memmap_entry memmap[MAX_MEMMAP];
extern unsigned int memmap_count;
extern uint64_t tsc_khz;
uint64_t now_us(void);
void udelay(uint64_t us);
void exit_vm(int value) __attribute__((noreturn));
const char *cmdline_value(const char *key, char *buf, size_t len);
unsigned long cmdline_num(const char *key, unsigned long def);
extern int test_explicit;	/* the running test was named in test= */

/* uart.c */
int uart_init(void);
void putch(char c);
void puts_(const char *s);
void printf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vsnprintf_(char *buf, size_t len, const char *fmt, va_list ap);
void snprintf_(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* lib.c */
void *memcpy(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);
unsigned long strtoul_(const char *s, const char **end, int base);

/* acpi.c */
struct acpi_info {
	int found;
	uint64_t rsdp;
	uint64_t fadt, madt, mcfg, dsdt;
	uint32_t ncpus;
	uint8_t apic_id[MAX_CPUS];
	uint16_t pm1a_evt, pm1a_cnt;
	uint32_t pm_tmr;
	uint8_t pm_tmr_len;
	uint32_t smi_cmd;
	uint8_t acpi_enable;
	uint32_t flags;
	uint16_t boot_arch;
	int reset_ok;
	uint8_t reset_space, reset_val;
	uint64_t reset_addr;
	int slp_typ_s5;		/* -1: not found */
	uint64_t ecam;		/* 0: no MCFG */
	uint8_t ecam_bus_start, ecam_bus_end;
};
extern struct acpi_info acpi;
int acpi_scan(char *why, size_t len);

/* pci.c */
uint32_t pci_cf8_read(int bus, int slot, int fn, int off);
uint32_t pci_ecam_read(int bus, int slot, int fn, int off);
int pci_has_cf8(void);
void pci_list(void);
int pci_usable(void);
uint32_t pci_cfg_read(int slot, int fn, int off);
void pci_cfg_write16(int slot, int fn, int off, uint16_t v);
void pci_cfg_write32(int slot, int fn, int off, uint32_t v);
int map_high(uint64_t addr, uint64_t len);

/* smp.c */
extern volatile uint32_t cpus_done;

/* Tests: return 0 pass, 1 fail, 2 skip, with the reason in why. */
struct test {
	const char *name;
	int (*fn)(char *why, size_t len);
};
int test_uart(char *, size_t);
int test_pci(char *, size_t);
int test_acpi(char *, size_t);
int test_smp(char *, size_t);
int test_timer(char *, size_t);
int test_rtc(char *, size_t);
int test_idle(char *, size_t);
int test_reboot(char *, size_t);
int test_poweroff(char *, size_t);
int test_halt(char *, size_t);
int test_triplefault(char *, size_t);
int test_tour(char *, size_t);
int test_idle_deaf(char *, size_t);
int test_rng(char *, size_t);
int test_blk(char *, size_t);
int test_net(char *, size_t);
int test_hostile(char *, size_t);
int test_vsock(char *, size_t);
int test_count(char *, size_t);
int test_count_rng(char *, size_t);
int test_tscgap(char *, size_t);
int rng_count_step(char *, size_t);
void ap_main(uint32_t cpu) __attribute__((noreturn));
void guest_main(void) __attribute__((noreturn));
void fault_entry(void) __attribute__((noreturn));
void lapic_enable(void);

#define PASS	0
#define FAIL	1
#define SKIP	2

#endif
