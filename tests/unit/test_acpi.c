/*
 * ACPI table builder: structure checks, buffer bounds, and the tables fed to
 * ACPICA's own disassembler (iasl -d) and interpreter (acpiexec).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/acpi.h"
#include "core/layout.h"

#define NCONF	4

/* The machines under test: CPUs, COM ports, windows and slots vary. */
static const struct {
	int		ncpus;
	unsigned	com_mask;
	int		mmio64;
	uint16_t	io_end;
} conf[NCONF] = {
	{ 1, 0x3, 0, 0 },
	{ 2, 0x3, 1, 0xF000 },
	{ 16, 0xC, 1, 0 },
	{ 255, 0x5, 1, 0 },
};
static const int slots[] = { 0, 1, 2, 5, 31 };
#define NSLOTS	(int)(sizeof(slots) / sizeof(slots[0]))

struct tables {
	uint8_t		*buf;
	int		used;
	const uint8_t	*rsdp, *xsdt, *rsdt, *fadt, *facs, *madt, *mcfg, *dsdt;
};

static uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t
rd32(const uint8_t *p)
{
	return rd16(p) | (uint32_t)rd16(p + 2) << 16;
}

static uint64_t
rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static uint8_t
sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s += *p++;
	return s;
}

static void
machine(struct acpi_machine *m, int c)
{
	memset(m, 0, sizeof(*m));
	m->ncpus = conf[c].ncpus;
	m->ecam_base = PCI_ECAM_BASE;
	m->mmio32_base = PCI_MMIO32_BASE;
	m->mmio32_end = PCI_MMIO32_END;
	if (conf[c].mmio64) {
		m->mmio64_base = GB(8);
		m->mmio64_end = GB(8) + PCI_MMIO64_SIZE;
	}
	m->io_base = PCI_PIO_BASE;
	m->io_end = conf[c].io_end;
	m->com_mask = conf[c].com_mask;
	for (int i = 0; i < NSLOTS; i++)
		m->pci_slots[slots[i]] = 1;
	/* The odd machines have a VM generation ID. */
	m->vmgenid_gpa = c % 2 ? VMGENID_ADDR : 0;
}

/* n bytes at guest address gpa, which must lie inside the used part. */
static const uint8_t *
at(const struct tables *t, uint64_t gpa, size_t n)
{
	assert_true(gpa >= ACPI_BASE);
	assert_true(gpa - ACPI_BASE <= (uint64_t)t->used);
	assert_true(n <= (uint64_t)t->used - (gpa - ACPI_BASE));
	return t->buf + (gpa - ACPI_BASE);
}

static const uint8_t *
table(const struct tables *t, uint64_t gpa, const char *sig)
{
	const uint8_t *p = at(t, gpa, 36);
	uint32_t len = rd32(p + 4);

	assert_memory_equal(p, sig, 4);
	assert_true(len >= 36);
	p = at(t, gpa, len);
	assert_int_equal(sum(p, len), 0);
	assert_memory_equal(p + 10, "HYVE  ", 6);
	assert_memory_equal(p + 16, "HYVE    ", 8);
	return p;
}

static void
build(struct tables *t, int c)
{
	struct acpi_machine m;
	const uint8_t *p;

	machine(&m, c);
	memset(t, 0, sizeof(*t));
	t->buf = malloc(ACPI_SIZE);
	assert_non_null(t->buf);
	memset(t->buf, 0xA5, ACPI_SIZE);
	t->used = acpi_build(&m, t->buf, ACPI_SIZE, ACPI_BASE);
	assert_true(t->used > 0);
	assert_true(t->used <= (int)ACPI_SIZE);

	t->rsdp = at(t, ACPI_BASE, 36);
	t->xsdt = table(t, rd64(t->rsdp + 24), "XSDT");
	t->rsdt = table(t, rd32(t->rsdp + 16), "RSDT");
	assert_int_equal(rd32(t->xsdt + 4), 36 + 3 * 8);
	for (int i = 0; i < 3; i++) {
		uint64_t gpa = rd64(t->xsdt + 36 + 8 * i);

		assert_int_equal(rd32(t->rsdt + 36 + 4 * i), gpa);
		p = at(t, gpa, 4);
		if (memcmp(p, "FACP", 4) == 0)
			t->fadt = table(t, gpa, "FACP");
		else if (memcmp(p, "APIC", 4) == 0)
			t->madt = table(t, gpa, "APIC");
		else if (memcmp(p, "MCFG", 4) == 0)
			t->mcfg = table(t, gpa, "MCFG");
		else
			fail_msg("XSDT entry %d: unexpected table %.4s", i, p);
	}
	assert_non_null(t->fadt);
	assert_non_null(t->madt);
	assert_non_null(t->mcfg);
	assert_int_equal(rd64(t->fadt + 140), rd32(t->fadt + 40));
	t->dsdt = table(t, rd64(t->fadt + 140), "DSDT");
	assert_int_equal(rd64(t->fadt + 132), rd32(t->fadt + 36));
	assert_int_equal(rd64(t->fadt + 132) % 64, 0);
	t->facs = at(t, rd64(t->fadt + 132), 64);
	assert_memory_equal(t->facs, "FACS", 4);
	assert_int_equal(rd32(t->facs + 4), 64);
}

static void
test_rsdp(void **state)
{
	struct tables t;

	(void)state;
	for (int c = 0; c < NCONF; c++) {
		build(&t, c);
		assert_memory_equal(t.rsdp, "RSD PTR ", 8);
		assert_int_equal(sum(t.rsdp, 20), 0);
		assert_int_equal(sum(t.rsdp, 36), 0);
		assert_int_equal(t.rsdp[15], 2);
		assert_int_equal(rd32(t.rsdp + 20), 36);
		assert_memory_equal(t.rsdp + 9, "HYVE  ", 6);
		assert_int_equal(t.xsdt[8], 1);
		free(t.buf);
	}
}

static void
check_gas(const uint8_t *g, uint8_t bits, uint64_t port)
{
	assert_int_equal(g[0], 1);		/* system I/O */
	assert_int_equal(g[1], bits);
	assert_int_equal(g[2], 0);
	assert_int_equal(rd64(g + 4), port);
}

static void
test_fadt(void **state)
{
	struct tables t;
	const uint8_t *f;
	uint32_t flags;

	(void)state;
	for (int c = 0; c < NCONF; c++) {
		build(&t, c);
		f = t.fadt;
		assert_int_equal(rd32(f + 4), 276);
		assert_int_equal(f[8], 6);
		assert_int_equal(rd16(f + 46), SCI_IRQ);
		assert_int_equal(rd32(f + 48), 0);		/* SMI_CMD */
		assert_int_equal(rd32(f + 56), PORT_PM1A_EVT);
		assert_int_equal(rd32(f + 64), PORT_PM1A_CNT);
		assert_int_equal(rd32(f + 76), PORT_PM_TMR);
		assert_int_equal(f[88], 4);
		assert_int_equal(f[89], 2);
		assert_int_equal(f[91], 4);
		assert_int_equal(rd32(f + 80), PORT_GPE0_BLK);
		assert_int_equal(f[92], GPE0_BLK_LEN);
		assert_int_equal(rd32(f + 84), 0);		/* no GPE1 */
		assert_int_equal(f[93], 0);
		assert_int_equal(rd16(f + 109) & 3, 3);	/* legacy, 8042 */
		flags = rd32(f + 112);
		assert_true(flags & (1U << 0));		/* WBINVD */
		assert_true(flags & (1U << 2));		/* PROC_C1 */
		assert_true(flags & (1U << 5));		/* SLP_BUTTON */
		assert_true(flags & (1U << 8));		/* TMR_VAL_EXT */
		assert_true(flags & (1U << 10));	/* RESET_REG_SUP */
		assert_false(flags & (1U << 20));	/* HW_REDUCED */
		check_gas(f + 116, 8, PORT_RESET);
		assert_int_equal(f[128], RESET_VALUE);
		check_gas(f + 148, 32, PORT_PM1A_EVT);
		check_gas(f + 172, 16, PORT_PM1A_CNT);
		check_gas(f + 208, 32, PORT_PM_TMR);
		check_gas(f + 220, 8 * GPE0_BLK_LEN, PORT_GPE0_BLK);
		assert_int_equal(rd64(f + 160 + 4), 0);	/* no PM1b */
		free(t.buf);
	}
}

static void
test_madt(void **state)
{
	struct tables t;
	const uint8_t *p, *end;
	int lapics, ioapics, isos, nmis;
	uint8_t seen[256];

	(void)state;
	for (int c = 0; c < NCONF; c++) {
		build(&t, c);
		assert_int_equal(rd32(t.madt + 36), LAPIC_BASE);
		assert_int_equal(rd32(t.madt + 40) & 1, 1);	/* PCAT_COMPAT */
		lapics = ioapics = isos = nmis = 0;
		memset(seen, 0, sizeof(seen));
		end = t.madt + rd32(t.madt + 4);
		for (p = t.madt + 44; p < end; p += p[1]) {
			assert_true(p + 2 <= end && p[1] >= 2 && p + p[1] <= end);
			switch (p[0]) {
			case 0:
				assert_int_equal(p[1], 8);
				assert_int_equal(rd32(p + 4) & 1, 1);
				assert_true(p[3] < conf[c].ncpus);
				assert_int_equal(seen[p[3]]++, 0);
				lapics++;
				break;
			case 1:
				assert_int_equal(p[1], 12);
				assert_int_equal(rd32(p + 4), IOAPIC_BASE);
				assert_int_equal(rd32(p + 8), 0);
				/* Its id must not clash with a LAPIC id. */
				assert_true(p[2] >= conf[c].ncpus);
				ioapics++;
				break;
			case 2:
				assert_int_equal(p[1], 10);
				assert_int_equal(p[2], 0);
				if (p[3] == 0) {
					assert_int_equal(rd32(p + 4), 2);
				} else {
					assert_int_equal(p[3], SCI_IRQ);
					assert_int_equal(rd32(p + 4), SCI_IRQ);
					/* active high, level */
					assert_int_equal(rd16(p + 8), 0x0D);
				}
				isos++;
				break;
			case 4:
				assert_int_equal(p[1], 6);
				assert_int_equal(p[2], 0xFF);
				assert_int_equal(p[5], 1);
				nmis++;
				break;
			default:
				fail_msg("MADT: unexpected entry type %d", p[0]);
			}
		}
		assert_ptr_equal(p, end);
		assert_int_equal(lapics, conf[c].ncpus);
		assert_int_equal(ioapics, 1);
		assert_int_equal(isos, 2);
		assert_int_equal(nmis, 1);
		free(t.buf);
	}
}

static void
test_mcfg(void **state)
{
	struct tables t;

	(void)state;
	build(&t, 1);
	assert_int_equal(rd32(t.mcfg + 4), 60);
	assert_int_equal(rd64(t.mcfg + 44), PCI_ECAM_BASE);
	assert_int_equal(rd16(t.mcfg + 52), 0);
	assert_int_equal(t.mcfg[54], 0);
	assert_int_equal(t.mcfg[55], 0);
	free(t.buf);
}

/*
 * Sends stderr (the builder's error messages) to a log file for the length
 * of a loop.  If a sanitizer aborts the test meanwhile, its report is there.
 */
static char errlog[64];

static int
stderr_off(void)
{
	int saved = dup(2), fd;

	snprintf(errlog, sizeof(errlog), "/tmp/hyve-acpi-stderr-XXXXXX");
	fd = mkstemp(errlog);
	assert_true(saved >= 0 && fd >= 0);
	printf("(stderr goes to %s for now)\n", errlog);
	fflush(stdout);
	dup2(fd, 2);
	close(fd);
	return saved;
}

static void
stderr_on(int saved)
{
	dup2(saved, 2);
	close(saved);
	unlink(errlog);
}

/* Every length short of what is needed fails, without writing past it. */
static void
test_enospc(void **state)
{
	struct acpi_machine m;
	struct tables t;
	uint8_t *buf;
	int fd, rc;

	(void)state;
	for (int c = 0; c < 3; c++) {
		build(&t, c);
		free(t.buf);
		machine(&m, c);
		fd = stderr_off();
		for (int len = 0; len < t.used; len++) {
			buf = malloc(len ? (size_t)len : 1);
			rc = acpi_build(&m, buf, (size_t)len, ACPI_BASE);
			free(buf);
			if (rc != -ENOSPC) {
				stderr_on(fd);
				fail_msg("%d CPUs, %d bytes: got %d, want -ENOSPC",
				    m.ncpus, len, rc);
			}
		}
		buf = malloc((size_t)t.used);
		rc = acpi_build(&m, buf, (size_t)t.used, ACPI_BASE);
		free(buf);
		stderr_on(fd);
		assert_int_equal(rc, t.used);
	}
}

static void
test_bad_machine(void **state)
{
	struct acpi_machine m;
	uint8_t *buf = malloc(ACPI_SIZE);
	int fd;

	(void)state;
	assert_non_null(buf);
	fd = stderr_off();
	machine(&m, 0);
	m.ncpus = 0;
	assert_int_equal(acpi_build(&m, buf, ACPI_SIZE, ACPI_BASE), -EINVAL);
	m.ncpus = 256;
	assert_int_equal(acpi_build(&m, buf, ACPI_SIZE, ACPI_BASE), -EINVAL);
	machine(&m, 0);
	m.mmio32_end = m.mmio32_base;
	assert_int_equal(acpi_build(&m, buf, ACPI_SIZE, ACPI_BASE), -EINVAL);
	machine(&m, 0);
	m.io_end = m.io_base;
	assert_int_equal(acpi_build(&m, buf, ACPI_SIZE, ACPI_BASE), -EINVAL);
	machine(&m, 0);
	assert_int_equal(acpi_build(&m, buf, ACPI_SIZE, ACPI_BASE + 8), -EINVAL);
	stderr_on(fd);
	free(buf);
}

/* Runs cmd in dir; returns its exit status and its output (to free). */
static int
run(const char *dir, const char *cmd, char **out)
{
	char *line, *buf = NULL;
	size_t blen = 0;
	FILE *f, *mem;
	int rc, n;

	n = asprintf(&line, "cd '%s' && %s 2>&1", dir, cmd);
	assert_true(n > 0);
	mem = open_memstream(&buf, &blen);
	assert_non_null(mem);
	f = popen(line, "r");
	assert_non_null(f);
	while ((n = fgetc(f)) != EOF)
		fputc(n, mem);
	rc = pclose(f);
	fclose(mem);
	free(line);
	*out = buf;
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void
need_tool(const char *tool)
{
	char cmd[64], *out;
	int rc;

	snprintf(cmd, sizeof(cmd), "command -v %s", tool);
	rc = run("/", cmd, &out);
	free(out);
	if (rc != 0)
		fail_msg("%s not found: install acpica-tools to run this test",
		    tool);
}

static void
write_file(const char *dir, const char *name, const uint8_t *p, size_t n)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/*
 * Reads an iasl output file without its comments and white space, so that
 * ASL can be matched as one line.
 */
static char *
read_squeezed(const char *dir, const char *name)
{
	char path[256], *s;
	FILE *f;
	size_t n = 0;
	int ch, next;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (f == NULL)
		fail_msg("%s: not written by iasl -d", path);
	s = malloc(1 << 20);
	assert_non_null(s);
	while ((ch = fgetc(f)) != EOF && n < (1 << 20) - 1) {
		if (ch == '/' && (next = fgetc(f)) == '/') {
			while ((ch = fgetc(f)) != EOF && ch != '\n')
				;
			continue;
		} else if (ch == '/' && next == '*') {
			for (ch = 0; (next = fgetc(f)) != EOF; ch = next)
				if (ch == '*' && next == '/')
					break;
			continue;
		} else if (ch == '/' && next != EOF)
			ungetc(next, f);
		if (ch != ' ' && ch != '\n' && ch != '\t' && ch != '\r')
			s[n++] = (char)ch;
	}
	s[n] = '\0';
	fclose(f);
	return s;
}

static int
count(const char *s, const char *what)
{
	int n = 0;

	while ((s = strstr(s, what)) != NULL) {
		n++;
		s += strlen(what);
	}
	return n;
}

static void
check_dsdt_asl(const char *dsl, int c)
{
	static const char *const com_port[4] = { "0x03F8", "0x02F8",
	    "0x03E8", "0x02E8" };
	static const char *const com_irq[4] = { "{4}", "{3}", "{4}", "{3}" };
	char want[256], addr[16];

	assert_non_null(strstr(dsl, "Name(\\_S5,Package(0x04){0x05,0x05,Zero,Zero})"));
	assert_non_null(strstr(dsl, "Scope(\\_SB){"));
	assert_non_null(strstr(dsl, "Device(PC00){Name(_HID,EisaId(\"PNP0A08\"))"
	    "Name(_CID,EisaId(\"PNP0A03\"))Name(_SEG,Zero)Name(_BBN,Zero)"
	    "Name(_UID,Zero)Name(_CRS,ResourceTemplate(){"));
	assert_non_null(strstr(dsl, "Name(_PRT,Package("));
	/* _CRS windows */
	assert_non_null(strstr(dsl, "WordBusNumber(ResourceProducer,MinFixed,"
	    "MaxFixed,PosDecode,0x0000,0x0000,0x0000,0x0000,0x0001,"));
	assert_non_null(strstr(dsl, "IO(Decode16,0x0CF8,0x0CF8,0x01,0x08,)"));
	assert_non_null(strstr(dsl, "EntireRange,0x0000,0x0000,0x0CF7,0x0000,"
	    "0x0CF8,"));
	snprintf(want, sizeof(want), "EntireRange,0x0000,0x2000,0x%04X,0x0000,"
	    "0x%04X,", conf[c].io_end ? conf[c].io_end - 1 : 0xFFFF,
	    (conf[c].io_end ? conf[c].io_end : 0x10000) - 0x2000);
	assert_non_null(strstr(dsl, want));
	assert_non_null(strstr(dsl, "NonCacheable,ReadWrite,0x00000000,"
	    "0xC0000000,0xDFFFFFFF,0x00000000,0x20000000,"));
	if (conf[c].mmio64)
		assert_non_null(strstr(dsl, "QWordMemory(ResourceProducer,"
		    "PosDecode,MinFixed,MaxFixed,Cacheable,ReadWrite,"
		    "0x0000000000000000,0x0000000200000000,0x00000011FFFFFFFF,"
		    "0x0000000000000000,0x0000001000000000,"));
	else
		assert_null(strstr(dsl, "QWordMemory"));
	/* _PRT: 4 pins per occupied slot (+1 for \_S5), swizzled onto 16-23 */
	assert_int_equal(count(dsl, "Package(0x04){"), 4 * NSLOTS + 1);
	for (int i = 0; i < NSLOTS; i++) {
		for (int pin = 0; pin < 4; pin++) {
			static const char *const pn[4] = { "Zero", "One",
			    "0x02", "0x03" };
			int s = slots[i];

			/* iasl prints slot 0's address as a Word */
			if (s == 0)
				snprintf(addr, sizeof(addr), "0xFFFF");
			else
				snprintf(addr, sizeof(addr), "0x%04XFFFF", s);
			snprintf(want, sizeof(want), "Package(0x04){%s,%s,"
			    "Zero,0x%02X}", addr, pn[pin],
			    (s + pin) % PCI_INTX_GSI_COUNT + PCI_INTX_GSI_BASE);
			if (strstr(dsl, want) == NULL)
				fail_msg("_PRT: no entry %s", want);
		}
	}
	assert_null(strstr(dsl, "0x0003FFFF"));
	/* COM ports: exactly those in com_mask */
	assert_int_equal(count(dsl, "PNP0501"), __builtin_popcount(conf[c].com_mask));
	for (int i = 0; i < 4; i++) {
		snprintf(want, sizeof(want), "Device(COM%d){Name(_HID,EisaId("
		    "\"PNP0501\"))", i + 1);
		if (!(conf[c].com_mask & (1U << i))) {
			assert_null(strstr(dsl, want));
			continue;
		}
		assert_non_null(strstr(dsl, want));
		snprintf(want, sizeof(want), "IO(Decode16,%s,%s,0x01,0x08,)"
		    "IRQNoFlags()%s", com_port[i], com_port[i], com_irq[i]);
		assert_non_null(strstr(dsl, want));
	}
	assert_non_null(strstr(dsl, "Device(RTC){Name(_HID,EisaId(\"PNP0B00\"))"
	    "Name(_CRS,ResourceTemplate(){IO(Decode16,0x0070,0x0070,0x01,0x02,)"
	    "IRQNoFlags(){8}})}"));
	assert_non_null(strstr(dsl, "Device(KBD){Name(_HID,EisaId(\"PNP0303\"))"
	    "Name(_CRS,ResourceTemplate(){IO(Decode16,0x0060,0x0060,0x01,0x01,)"
	    "IO(Decode16,0x0064,0x0064,0x01,0x01,)IRQNoFlags(){1}})}"));
	/* one processor device per CPU */
	assert_int_equal(count(dsl, "\"ACPI0007\""), conf[c].ncpus);
	/* the VM generation ID and the GPE method that announces a new one */
	snprintf(want, sizeof(want), "Device(VGEN){Name(_HID,\"VMGENCTR\")"
	    "Name(_CID,\"VM_GEN_COUNTER\")Name(_DDN,\"VM_Gen_Counter\")"
	    "Name(ADDR,Package(0x02){0x%08llX,Zero})}",
	    (unsigned long long)VMGENID_ADDR);
	if (c % 2 == 0) {
		assert_null(strstr(dsl, "VGEN"));
		assert_null(strstr(dsl, "_GPE"));
		return;
	}
	if (strstr(dsl, want) == NULL)
		fail_msg("no %s in\n%s", want, dsl);
	assert_non_null(strstr(dsl, "Scope(\\_GPE){Method(_E00,0,NotSerialized)"
	    "{Notify(\\_SB.VGEN,0x80)}}"));
}

static void
test_iasl(void **state)
{
	static const char *const names[] = { "xsdt", "rsdt", "facp", "facs",
	    "apic", "mcfg", "dsdt" };
	char dir[] = "/tmp/hyve-acpi-XXXXXX", cmd[128], file[32], *out, *dsl;
	const uint8_t *tab[7];
	struct tables t;
	int rc;

	(void)state;
	need_tool("iasl");
	assert_non_null(mkdtemp(dir));
	for (int c = 0; c < NCONF; c++) {
		build(&t, c);
		tab[0] = t.xsdt; tab[1] = t.rsdt; tab[2] = t.fadt;
		tab[3] = t.facs; tab[4] = t.madt; tab[5] = t.mcfg;
		tab[6] = t.dsdt;
		for (int i = 0; i < 7; i++) {
			snprintf(file, sizeof(file), "%s.dat", names[i]);
			write_file(dir, file, tab[i], rd32(tab[i] + 4));
			snprintf(cmd, sizeof(cmd), "iasl -d %s", file);
			rc = run(dir, cmd, &out);
			if (rc != 0 || strstr(out, "Error") != NULL)
				fail_msg("%d CPUs: %s in %s: exit %d:\n%s",
				    conf[c].ncpus, cmd, dir, rc, out);
			free(out);
		}
		dsl = read_squeezed(dir, "dsdt.dsl");
		check_dsdt_asl(dsl, c);
		free(dsl);
		/* What iasl decodes of the fixed tables. */
		dsl = read_squeezed(dir, "apic.dsl");
		assert_int_equal(count(dsl, "SubtableType:00[ProcessorLocalAPIC]"),
		    conf[c].ncpus);
		free(dsl);
		dsl = read_squeezed(dir, "facp.dsl");
		assert_non_null(strstr(dsl, "ResetRegister:[GenericAddressStructure]"
		    "[074h01161]SpaceID:01[SystemIO]"));
		assert_non_null(strstr(dsl, "Address:0000000000000CF9"));
		assert_non_null(strstr(dsl, "Valuetocausereset:06"));
		assert_non_null(strstr(dsl, "HardwareReduced(V5):0"));
		free(dsl);
		free(t.buf);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* ACPICA's interpreter loads the DSDT and evaluates what Linux will. */
static void
test_acpiexec(void **state)
{
	char dir[] = "/tmp/hyve-acpi-XXXXXX", cmd[256], *out;
	struct tables t;
	int rc;

	(void)state;
	need_tool("acpiexec");
	assert_non_null(mkdtemp(dir));
	build(&t, 1);
	write_file(dir, "dsdt.dat", t.dsdt, rd32(t.dsdt + 4));
	snprintf(cmd, sizeof(cmd), "acpiexec -b 'Evaluate \\_S5; "
	    "Evaluate \\_SB.PC00.LPC.COM1._CRS; Evaluate \\_SB.PC00._PRT; "
	    "Evaluate \\_SB.VGEN.ADDR; Execute \\_GPE._E00' "
	    "dsdt.dat </dev/null");
	rc = run(dir, cmd, &out);
	if (rc != 0 || strstr(out, "Error") != NULL ||
	    strstr(out, "AE_") != NULL)
		fail_msg("%s in %s: exit %d:\n%s", cmd, dir, rc, out);
	assert_non_null(strstr(out, "[Package] Contains 4 Elements:"));
	assert_non_null(strstr(out, "[Integer] = 0000000000000005"));
	/* COM1: IO 0x3F8 len 8, IRQ 4, end tag */
	assert_non_null(strstr(out, "47 01 F8 03 F8 03 01 08 22 10 00 79 00"));
	/* _PRT: 4 entries for each of the occupied slots */
	snprintf(cmd, sizeof(cmd), "[Package] Contains %d Elements:",
	    4 * NSLOTS);
	assert_non_null(strstr(out, cmd));
	/* VGEN.ADDR: the ID's address, low and high DWord; _E00 notifies */
	snprintf(cmd, sizeof(cmd), "[Package] Contains 2 Elements:\n"
	    "    [Integer] = %016llX\n    [Integer] = 0000000000000000",
	    (unsigned long long)VMGENID_ADDR);
	if (strstr(out, cmd) == NULL)
		fail_msg("no \"%s\" in:\n%s", cmd, out);
	assert_non_null(strstr(out, "Notify on [VGEN]"));
	assert_non_null(strstr(out, "Value 0x80"));
	free(out);
	free(t.buf);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rsdp),
		cmocka_unit_test(test_fadt),
		cmocka_unit_test(test_madt),
		cmocka_unit_test(test_mcfg),
		cmocka_unit_test(test_enospc),
		cmocka_unit_test(test_bad_machine),
		cmocka_unit_test(test_iasl),
		cmocka_unit_test(test_acpiexec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
