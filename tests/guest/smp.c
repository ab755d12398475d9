/*
 * SMP: start every AP the MADT lists with INIT, SIPI, SIPI.  Each AP enters
 * long mode through the trampoline, drops to CPL 3 in ap_main and counts.
 */
#include "guest.h"

#define AP_LOOPS	1000000

volatile uint32_t cpus_done;
static volatile uint32_t ap_alive[MAX_CPUS], ap_done[MAX_CPUS];
static volatile uint64_t ap_counter[MAX_CPUS];

void
ap_main(uint32_t cpu)
{
	uint32_t i;

	if (cpu < MAX_CPUS) {
		ap_alive[cpu] = 1;
		for (i = 0; i < AP_LOOPS; i++)
			ap_counter[cpu]++;
		barrier();
		ap_done[cpu] = 1;
	}
	syscall2(SYS_HALT, 0, 0);
	for (;;)
		;
}

void
lapic_enable(void)
{
	mmio_write32(LAPIC + 0xF0, 0x100 | SPURIOUS_VECTOR);
}

static int
send_ipi(uint32_t id, uint32_t icr)
{
	uint64_t end;

	mmio_write32(LAPIC + 0x310, id << 24);
	mmio_write32(LAPIC + 0x300, icr);
	end = now_us() + 100000;
	while (mmio_read32(LAPIC + 0x300) & (1u << 12))
		if (now_us() > end)
			return -1;
	return 0;
}

static int
wait_flag(volatile uint32_t *flag, uint64_t us)
{
	uint64_t end = now_us() + us;

	while (!*flag) {
		if (now_us() > end)
			return -1;
		cpu_relax();
	}
	return 0;
}

int
test_smp(char *why, size_t len)
{
	uint32_t bsp, i, slot = 1, id, ncpu = acpi.ncpus;
	size_t tlen = (size_t)(trampoline_end - trampoline_start);

	if (!acpi.madt || ncpu < 1) {
		snprintf_(why, len, "no MADT with enabled LAPICs");
		return FAIL;
	}
	if (ncpu > MAX_CPUS) {
		snprintf_(why, len, "MADT lists %u CPUs, the guest handles %d",
		    ncpu, MAX_CPUS);
		return FAIL;
	}
	if (cpus_done) {
		snprintf_(why, len, "APs were already started");
		return FAIL;
	}
	lapic_enable();
	bsp = mmio_read32(LAPIC + 0x20) >> 24;
	memcpy((void *)TRAMPOLINE, trampoline_start, tlen);
	for (i = 0; i < ncpu; i++) {
		id = acpi.apic_id[i];
		if (id == bsp)
			continue;
		if (slot >= ncpu) {
			snprintf_(why, len, "the BSP's APIC id %u is not in the "
			    "MADT", bsp);
			return FAIL;
		}
		cpu_boot_index = slot;
		barrier();
		if (send_ipi(id, 0x4500) < 0) {
			snprintf_(why, len, "INIT to APIC id %u: ICR delivery "
			    "status stuck", id);
			return FAIL;
		}
		udelay(10000);
		send_ipi(id, 0x4600 | (TRAMPOLINE >> 12));
		udelay(200);
		if (!ap_alive[slot]) {
			send_ipi(id, 0x4600 | (TRAMPOLINE >> 12));
		}
		if (wait_flag(&ap_alive[slot], 2000000) < 0) {
			snprintf_(why, len, "CPU %u (APIC id %u) did not reach "
			    "CPL 3 within 2 s of INIT-SIPI-SIPI", i, id);
			return FAIL;
		}
		slot++;
	}
	for (i = 1; i < slot; i++) {
		if (wait_flag(&ap_done[i], 2000000) < 0) {
			snprintf_(why, len, "AP %u did not finish its CPL 3 "
			    "loop within 2 s (count %lu)", i,
			    (unsigned long)ap_counter[i]);
			return FAIL;
		}
		if (ap_counter[i] != AP_LOOPS) {
			snprintf_(why, len, "AP %u counted %lu, not %d", i,
			    (unsigned long)ap_counter[i], AP_LOOPS);
			return FAIL;
		}
	}
	cpus_done = slot;
	if (slot != ncpu) {
		snprintf_(why, len, "started %u of %u CPUs", slot, ncpu);
		return FAIL;
	}
	return PASS;
}
