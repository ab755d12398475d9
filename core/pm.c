/*
 * ACPI fixed hardware: PM1a event block (PM1_STS, PM1_EN), PM1a control
 * block (PM1_CNT), the PM timer, the reset register and a GPE0 block of
 * eight general-purpose events (one status byte, one enable byte), as the
 * FADT describes them.  Like bhyve's pm.c, the machine is always in ACPI mode
 * (SCI_EN reads 1) and only S5 is implemented.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/devices.h"
#include "core/devstate.h"
#include "core/layout.h"
#include "core/snapshot.h"
#include "core/vm.h"
#include "lib/log.h"

#define PM1_TMR_STS	0x0001
#define PM1_BM_STS	0x0010
#define PM1_GBL_STS	0x0020
#define PM1_PWRBTN_STS	0x0100
#define PM1_SLPBTN_STS	0x0200
#define PM1_RTC_STS	0x0400
#define PM1_WAK_STS	0x8000
#define PM1_STS_CLEAR	(PM1_TMR_STS | PM1_BM_STS | PM1_GBL_STS | \
			 PM1_PWRBTN_STS | PM1_SLPBTN_STS | PM1_RTC_STS | \
			 PM1_WAK_STS)

#define PM1_TMR_EN	0x0001
#define PM1_GBL_EN	0x0020
#define PM1_PWRBTN_EN	0x0100
#define PM1_SLPBTN_EN	0x0200
#define PM1_RTC_EN	0x0400
/* ACPICA insists on setting GBL_EN although there is no global lock. */
#define PM1_EN_MASK	(PM1_GBL_EN | PM1_PWRBTN_EN | PM1_RTC_EN)

#define PM1_SCI_EN	0x0001
#define PM1_SLP_TYP	0x1C00
#define PM1_SLP_EN	0x2000
#define PM1_CNT_ZERO	0xC003		/* write-only or reserved */

#define PM_TMR_HZ	3579545ULL

struct pm {
	struct vm	*vm;
	uint16_t	sts, en, cnt;
	uint8_t		reset;
	uint16_t	gpe_sts, gpe_en;	/* 8 bits each */
	bool		sci;		/* level we drive on SCI_IRQ */
	int		slp_once;
	struct pm	*next;
};

/* Every instance, so none is lost: there is no teardown hook. */
static struct pm *pms;

static void
pm_sci_update(struct pm *p)
{
	bool need;

	need = (p->cnt & PM1_SCI_EN) && ((p->sts & p->en &
	    (PM1_GBL_STS | PM1_PWRBTN_STS | PM1_RTC_STS)) ||
	    (p->gpe_sts & p->gpe_en));
	if (need != p->sci) {
		p->sci = need;
		vm_irq_line(p->vm, SCI_IRQ, need);
	}
}

/* Byte lanes [off, off+size) of a little-endian register of width bytes. */
static uint64_t
lanes(uint64_t off, int size)
{
	return (size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1) << (off * 8);
}

/*
 * An event block: a status register, then an enable register, w bytes
 * each.  Status bits in clear are cleared by writing 1; enable bits in
 * en_mask are read-write.
 */
static void
evt_block_io(uint16_t *sts, uint16_t *en, int w, uint16_t clear,
    uint16_t en_mask, uint64_t off, int size, bool write, uint64_t *val)
{
	uint64_t m = lanes(off, size), v;
	int shift = 8 * w;

	if (!write) {
		v = *sts | (uint32_t)*en << shift;
		*val = (v & m) >> (off * 8);
		return;
	}
	v = (*val << (off * 8)) & m;
	*sts &= ~(v & clear);
	if (m >> shift)
		*en = (*en & ~(m >> shift)) | ((v >> shift) & en_mask);
}

static int
pm1_evt_io(void *opaque, uint64_t off, int size, bool write, uint64_t *val)
{
	struct pm *p = opaque;

	if (off + size > 4)
		return 0;
	evt_block_io(&p->sts, &p->en, 2, PM1_STS_CLEAR, PM1_EN_MASK, off, size,
	    write, val);
	if (write)
		pm_sci_update(p);
	return 0;
}

static void
pm_sleep(struct pm *p, unsigned typ)
{
	if (typ == SLP_TYP_S5) {
		vm_request_exit(p->vm, EXIT_POWEROFF, "ACPI S5");
		return;
	}
	hlog_once(&p->slp_once, "pm: guest asked for sleep type %u, which "
	    "hyve does not implement (only S5, power off); ignored", typ);
}

static int
pm1_cnt_io(void *opaque, uint64_t off, int size, bool write, uint64_t *val)
{
	struct pm *p = opaque;
	uint64_t m, v;

	if (off + size > 2)
		return 0;
	m = lanes(off, size);
	if (!write) {
		*val = (p->cnt & m) >> (off * 8);
		return 0;
	}
	v = (*val << (off * 8)) & m;
	p->cnt = PM1_SCI_EN | (p->cnt & ~m) | (v & ~(PM1_SLP_EN | PM1_CNT_ZERO));
	if (v & PM1_SLP_EN)
		pm_sleep(p, (p->cnt & PM1_SLP_TYP) >> 10);
	pm_sci_update(p);
	return 0;
}

static int
gpe0_io(void *opaque, uint64_t off, int size, bool write, uint64_t *val)
{
	struct pm *p = opaque;

	if (off + size > GPE0_BLK_LEN)
		return 0;
	evt_block_io(&p->gpe_sts, &p->gpe_en, GPE0_BLK_LEN / 2, 0xFF, 0xFF, off,
	    size, write, val);
	if (write)
		pm_sci_update(p);
	return 0;
}

static uint32_t
pm_timer(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)((uint64_t)ts.tv_sec * PM_TMR_HZ +
	    (uint64_t)ts.tv_nsec * PM_TMR_HZ / 1000000000ULL);
}

static int
pm_tmr_io(void *opaque, uint64_t off, int size, bool write, uint64_t *val)
{
	(void)opaque;
	if (!write && off + size <= 4)
		*val = pm_timer() >> (off * 8);
	return 0;
}

static int
pm_reset_io(void *opaque, uint64_t off, int size, bool write, uint64_t *val)
{
	struct pm *p = opaque;

	(void)off;
	(void)size;
	if (!write) {
		*val = p->reset;
		return 0;
	}
	p->reset = *val & 0xFF;
	/* Hard and soft reset alike, as bhyve. */
	if (p->reset & 0x04)
		vm_request_exit(p->vm, EXIT_REBOOT, "reset register");
	return 0;
}

int
pm_init(struct vm *vm)
{
	static const struct {
		uint16_t	port, len;
		bus_handler_t	fn;
		const char	*name;
	} regs[] = {
		{ PORT_PM1A_EVT, 4, pm1_evt_io, "pm1a-evt" },
		{ PORT_PM1A_CNT, 2, pm1_cnt_io, "pm1a-cnt" },
		{ PORT_PM_TMR, 4, pm_tmr_io, "pm-timer" },
		{ PORT_RESET, 1, pm_reset_io, "reset-reg" },
		{ PORT_GPE0_BLK, GPE0_BLK_LEN, gpe0_io, "gpe0" },
	};
	struct pm *p;
	size_t i;
	int rc;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return -ENOMEM;
	p->vm = vm;
	p->cnt = PM1_SCI_EN;
	for (i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		rc = vm_register_pio(vm, regs[i].port, regs[i].len, regs[i].fn,
		    p, regs[i].name);
		if (rc < 0) {
			hlog("pm: cannot claim port 0x%x for %s", regs[i].port,
			    regs[i].name);
			while (i-- > 0)
				bus_unregister(&vm->pio, regs[i].port);
			free(p);
			return rc;
		}
	}
	p->next = pms;
	pms = p;
	return 0;
}

void
pm_power_button(struct vm *vm)
{
	const struct bus_range *r;
	struct pm *p;

	pthread_mutex_lock(&vm->dev_lock);
	r = bus_find(&vm->pio, PORT_PM1A_EVT);
	if (r == NULL || r->fn != pm1_evt_io) {
		pthread_mutex_unlock(&vm->dev_lock);
		return;
	}
	p = r->opaque;
	p->sts |= PM1_PWRBTN_STS;
	pm_sci_update(p);
	pthread_mutex_unlock(&vm->dev_lock);
}

static struct pm *
pm_of(struct vm *vm)
{
	struct pm *p;

	for (p = pms; p != NULL && p->vm != vm; p = p->next)
		;
	return p;
}

void
pm_gpe_raise(struct vm *vm, unsigned bit)
{
	struct pm *p = pm_of(vm);

	if (p == NULL || bit > 7)
		return;
	p->gpe_sts |= 1u << bit;
	pm_sci_update(p);
}

/* --- snapshot ------------------------------------------------------------ */

struct pm_state {
	uint16_t	sts, en, cnt;
	uint8_t		reset, sci;
};

struct pm_gpe_state {
	uint8_t		sts, en, pad[6];
};

int
pm_save(struct vm *vm, struct snap *s)
{
	struct pm *p = pm_of(vm);
	struct pm_state st;
	struct pm_gpe_state gs;
	int rc;

	if (p == NULL)
		return 0;
	memset(&st, 0, sizeof(st));
	st.sts = p->sts;
	st.en = p->en;
	st.cnt = p->cnt;
	st.reset = p->reset;
	st.sci = p->sci;
	memset(&gs, 0, sizeof(gs));
	gs.sts = p->gpe_sts;
	gs.en = p->gpe_en;
	if ((rc = snap_add(s, SNAP_DEV_PM, 0, &st, sizeof(st))) < 0)
		return rc;
	return snap_add(s, SNAP_DEV_GPE, 0, &gs, sizeof(gs));
}

int
pm_load(struct vm *vm, const struct snap *s)
{
	struct pm *p = pm_of(vm);
	const struct pm_state *st;
	const struct pm_gpe_state *gs;

	if (p == NULL)
		return 0;
	if ((st = snap_get(s, SNAP_DEV_PM, 0, sizeof(*st), "pm")) == NULL)
		return -EINVAL;
	/* A state from before the GPE block has none: all clear. */
	if (snap_get_opt(s, SNAP_DEV_GPE, 0, sizeof(*gs), "gpe",
	    (const void **)&gs) < 0)
		return -EINVAL;
	p->gpe_sts = gs != NULL ? gs->sts : 0;
	p->gpe_en = gs != NULL ? gs->en : 0;
	p->sts = st->sts;
	p->en = st->en;
	p->cnt = st->cnt;
	p->reset = st->reset;
	/* The SCI line's level itself is in the irqchip's state. */
	p->sci = st->sci != 0;
	return 0;
}
