/*
 * MC146818 RTC and CMOS RAM at ports 0x70 (index) and 0x71 (data).
 *
 * The guest's clock is the host clock plus an offset that guest writes to
 * the time registers set.  With localtime (bhyve's default) the "host clock"
 * is the host's local wall time expressed as if it were UTC.
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

#define RTC_SEC		0x00
#define RTC_MIN		0x02
#define RTC_HOUR	0x04
#define RTC_WDAY	0x06
#define RTC_MDAY	0x07
#define RTC_MONTH	0x08
#define RTC_YEAR	0x09
#define RTC_STATUSA	0x0A
#define RTC_STATUSB	0x0B
#define RTC_STATUSC	0x0C
#define RTC_STATUSD	0x0D
#define RTC_CENTURY	0x32

#define RTCA_UIP	0x80
#define RTCB_SET	0x80
#define RTCB_UIE	0x10
#define RTCB_BIN	0x04
#define RTCB_24H	0x02
#define RTCD_VRT	0x80

/* UIP is set for this long before each second's update. */
#define RTC_UIP_NS	244000

struct rtc {
	struct vm	*vm;
	bool		utc;
	uint8_t		index;
	uint8_t		ram[128];
	int64_t		offset;		/* guest seconds - host seconds */
	struct rtc	*next;
};

static struct rtc *rtcs;

static bool
rtc_is_time(unsigned r)
{
	return r == RTC_SEC || r == RTC_MIN || r == RTC_HOUR ||
	    r == RTC_WDAY || r == RTC_MDAY || r == RTC_MONTH ||
	    r == RTC_YEAR || r == RTC_CENTURY;
}

/* Host time in seconds, local wall time unless utc. */
static int64_t
rtc_host_now(struct rtc *r, long *nsec)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (nsec != NULL)
		*nsec = ts.tv_nsec;
	if (r->utc || localtime_r(&ts.tv_sec, &tm) == NULL)
		return ts.tv_sec;
	return ts.tv_sec + tm.tm_gmtoff;
}

static uint8_t
rtc_enc(struct rtc *r, int v)
{
	if (r->ram[RTC_STATUSB] & RTCB_BIN)
		return v;
	return ((v / 10) << 4) | (v % 10);
}

static int
rtc_dec(struct rtc *r, uint8_t v)
{
	if (r->ram[RTC_STATUSB] & RTCB_BIN)
		return v;
	return (v >> 4) * 10 + (v & 0x0F);
}

static uint8_t
rtc_enc_hour(struct rtc *r, int h)
{
	int pm;

	if (r->ram[RTC_STATUSB] & RTCB_24H)
		return rtc_enc(r, h);
	pm = h >= 12;
	h %= 12;
	return rtc_enc(r, h == 0 ? 12 : h) | (pm ? 0x80 : 0);
}

static int
rtc_dec_hour(struct rtc *r, uint8_t v)
{
	int h;

	if (r->ram[RTC_STATUSB] & RTCB_24H)
		return rtc_dec(r, v);
	h = rtc_dec(r, v & 0x7F) % 12;
	return (v & 0x80) ? h + 12 : h;
}

/* Refresh the time registers from the clock, unless the guest holds SET. */
static void
rtc_update(struct rtc *r)
{
	time_t t;
	struct tm tm;

	if (r->ram[RTC_STATUSB] & RTCB_SET)
		return;
	t = rtc_host_now(r, NULL) + r->offset;
	if (gmtime_r(&t, &tm) == NULL)
		return;
	r->ram[RTC_SEC] = rtc_enc(r, tm.tm_sec);
	r->ram[RTC_MIN] = rtc_enc(r, tm.tm_min);
	r->ram[RTC_HOUR] = rtc_enc_hour(r, tm.tm_hour);
	r->ram[RTC_WDAY] = rtc_enc(r, tm.tm_wday + 1);
	r->ram[RTC_MDAY] = rtc_enc(r, tm.tm_mday);
	r->ram[RTC_MONTH] = rtc_enc(r, tm.tm_mon + 1);
	r->ram[RTC_YEAR] = rtc_enc(r, (tm.tm_year + 1900) % 100);
	r->ram[RTC_CENTURY] = rtc_enc(r, (tm.tm_year + 1900) / 100);
}

/* The guest set the time registers: make them the clock. */
static void
rtc_commit(struct rtc *r)
{
	struct tm tm;
	int year;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	tm.tm_sec = rtc_dec(r, r->ram[RTC_SEC]);
	tm.tm_min = rtc_dec(r, r->ram[RTC_MIN]);
	tm.tm_hour = rtc_dec_hour(r, r->ram[RTC_HOUR]);
	tm.tm_mday = rtc_dec(r, r->ram[RTC_MDAY]);
	tm.tm_mon = rtc_dec(r, r->ram[RTC_MONTH]) - 1;
	year = rtc_dec(r, r->ram[RTC_CENTURY]) * 100 +
	    rtc_dec(r, r->ram[RTC_YEAR]);
	/* Hostile or half-written values: keep the clock as it was. */
	if (tm.tm_sec > 59 || tm.tm_min > 59 || tm.tm_hour > 23 ||
	    tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_mon < 0 ||
	    tm.tm_mon > 11 || year < 1970 || year > 9999)
		return;
	tm.tm_year = year - 1900;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return;
	r->offset = (int64_t)t - rtc_host_now(r, NULL);
}

static uint8_t
rtc_read(struct rtc *r, unsigned i)
{
	uint8_t v;
	long ns;

	if (rtc_is_time(i))
		rtc_update(r);
	switch (i) {
	case RTC_STATUSA:
		rtc_host_now(r, &ns);
		v = r->ram[i] & ~RTCA_UIP;
		if (!(r->ram[RTC_STATUSB] & RTCB_SET) &&
		    ns >= 1000000000L - RTC_UIP_NS)
			v |= RTCA_UIP;
		return v;
	case RTC_STATUSC:
		/* No interrupt sources are emulated, so no flags; reads clear. */
		v = r->ram[i];
		r->ram[i] = 0;
		return v;
	case RTC_STATUSD:
		return RTCD_VRT;
	default:
		return r->ram[i];
	}
}

static void
rtc_write(struct rtc *r, unsigned i, uint8_t v)
{
	uint8_t old;

	switch (i) {
	case RTC_STATUSA:
		r->ram[i] = v & ~RTCA_UIP;
		break;
	case RTC_STATUSB:
		old = r->ram[i];
		if (!(old & RTCB_SET))
			rtc_update(r);		/* freeze what the guest saw */
		if (v & RTCB_SET)
			v &= ~RTCB_UIE;
		if ((old & RTCB_SET) && !(v & RTCB_SET)) {
			rtc_commit(r);
			r->ram[i] = v;
		} else if ((old ^ v) & (RTCB_BIN | RTCB_24H)) {
			/* Format change: keep the time, re-encode. */
			r->ram[i] = v;
			rtc_update(r);
		} else {
			r->ram[i] = v;
		}
		break;
	case RTC_STATUSC:
	case RTC_STATUSD:
		break;
	default:
		if (rtc_is_time(i) && !(r->ram[RTC_STATUSB] & RTCB_SET)) {
			rtc_update(r);
			r->ram[i] = v;
			rtc_commit(r);
		} else {
			r->ram[i] = v;
		}
		break;
	}
}

static int
rtc_io(void *opaque, uint64_t off, int size, bool write, uint64_t *val)
{
	struct rtc *r = opaque;

	(void)size;
	if (off == 0) {
		/* Bit 7 masks NMIs on real hardware; it is not index. */
		if (write)
			r->index = *val & 0x7F;
		else
			*val = r->index;
		return 0;
	}
	if (write)
		rtc_write(r, r->index, *val & 0xFF);
	else
		*val = rtc_read(r, r->index);
	return 0;
}

/* Memory size cells, as firmware and bhyve's rtc.c expect them. */
static void
rtc_set_memsize(struct rtc *r, struct vm *vm)
{
	uint64_t v;

	v = vm->lowmem / KB(1);
	if (v > 640)
		v = 640;
	r->ram[0x15] = v;
	r->ram[0x16] = v >> 8;
	v = vm->lowmem > MB(1) ? (vm->lowmem - MB(1)) / KB(1) : 0;
	if (v > 0xFFFF)
		v = 0xFFFF;
	r->ram[0x17] = r->ram[0x30] = v;
	r->ram[0x18] = r->ram[0x31] = v >> 8;
	v = vm->lowmem > MB(16) ? (vm->lowmem - MB(16)) / KB(64) : 0;
	if (v > 0xFFFF)
		v = 0xFFFF;
	r->ram[0x34] = v;
	r->ram[0x35] = v >> 8;
	v = vm->highmem / KB(64);
	if (v > 0xFFFFFF)
		v = 0xFFFFFF;
	r->ram[0x5B] = v;
	r->ram[0x5C] = v >> 8;
	r->ram[0x5D] = v >> 16;
}

int
rtc_init(struct vm *vm, bool utc)
{
	struct rtc *r;
	int rc;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -ENOMEM;
	r->vm = vm;
	r->utc = utc;
	r->ram[RTC_STATUSA] = 0x26;	/* 32.768 kHz base, 1024 Hz rate */
	r->ram[RTC_STATUSB] = RTCB_24H;
	r->ram[RTC_STATUSD] = RTCD_VRT;
	rtc_set_memsize(r, vm);
	rtc_update(r);
	rc = vm_register_pio(vm, PORT_RTC, 2, rtc_io, r, "rtc");
	if (rc < 0) {
		hlog("rtc: cannot claim ports 0x70-0x71");
		free(r);
		return rc;
	}
	r->next = rtcs;
	rtcs = r;
	return 0;
}

/* --- snapshot ------------------------------------------------------------ */

struct rtc_state {
	uint8_t		index;
	uint8_t		pad[7];
	int64_t		offset;		/* the guest's clock against the host's */
	uint8_t		ram[128];
};

static struct rtc *
rtc_of(struct vm *vm)
{
	struct rtc *r;

	for (r = rtcs; r != NULL && r->vm != vm; r = r->next)
		;
	return r;
}

int
rtc_save(struct vm *vm, struct snap *s)
{
	struct rtc *r = rtc_of(vm);
	struct rtc_state st;

	if (r == NULL)
		return 0;
	memset(&st, 0, sizeof(st));
	st.index = r->index;
	st.offset = r->offset;
	memcpy(st.ram, r->ram, sizeof(st.ram));
	return snap_add(s, SNAP_DEV_RTC, 0, &st, sizeof(st));
}

int
rtc_load(struct vm *vm, const struct snap *s)
{
	struct rtc *r = rtc_of(vm);
	const struct rtc_state *st;

	if (r == NULL)
		return 0;
	if ((st = snap_get(s, SNAP_DEV_RTC, 0, sizeof(*st), "rtc")) == NULL)
		return -EINVAL;
	r->index = st->index & 0x7f;
	r->offset = st->offset;
	memcpy(r->ram, st->ram, sizeof(r->ram));
	return 0;
}
