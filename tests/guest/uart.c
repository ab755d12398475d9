/* COM1 16550 output and a small printf. */
#include "guest.h"

#define THR	0
#define IER	1
#define FCR	2
#define LCR	3
#define MCR	4
#define LSR	5
#define SCR	7
#define LSR_THRE 0x20

/* Returns 0 if a 16550 answers at COM1 (scratch register round trip). */
int
uart_init(void)
{
	int ok;

	outb(PORT_COM1 + IER, 0);
	outb(PORT_COM1 + LCR, 0x80);
	outb(PORT_COM1 + 0, 1);		/* 115200 baud */
	outb(PORT_COM1 + 1, 0);
	outb(PORT_COM1 + LCR, 0x03);	/* 8N1 */
	outb(PORT_COM1 + FCR, 0x07);
	outb(PORT_COM1 + MCR, 0x03);
	outb(PORT_COM1 + SCR, 0x5a);
	ok = inb(PORT_COM1 + SCR) == 0x5a;
	outb(PORT_COM1 + SCR, 0xa5);
	ok = ok && inb(PORT_COM1 + SCR) == 0xa5;
	return ok ? 0 : -1;
}

void
putch(char c)
{
	int i;

	for (i = 0; i < 100000; i++)
		if (inb(PORT_COM1 + LSR) & LSR_THRE)
			break;
	outb(PORT_COM1 + THR, (uint8_t)c);
}

void
puts_(const char *s)
{
	while (*s)
		putch(*s++);
}

struct out {
	char *buf;
	size_t len, pos;
};

static void
emit(struct out *o, char c)
{
	if (o->pos + 1 < o->len)
		o->buf[o->pos] = c;
	o->pos++;
}

static void
emit_num(struct out *o, uint64_t v, int base, int width, char pad, int neg)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg)
		tmp[n++] = '-';
	while (width-- > n)
		emit(o, pad);
	while (n)
		emit(o, tmp[--n]);
}

void
vsnprintf_(char *buf, size_t len, const char *fmt, va_list ap)
{
	struct out o = { buf, len, 0 };
	const char *s;
	int width, lng;
	char pad;
	int64_t sv;

	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			emit(&o, *fmt);
			continue;
		}
		fmt++;
		pad = ' ';
		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		width = 0;
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + *fmt++ - '0';
		lng = 0;
		while (*fmt == 'l') {
			lng = 1;
			fmt++;
		}
		switch (*fmt) {
		case 'd':
			sv = lng ? va_arg(ap, long) : va_arg(ap, int);
			emit_num(&o, sv < 0 ? -(uint64_t)sv : (uint64_t)sv, 10,
			    width, pad, sv < 0);
			break;
		case 'u':
			emit_num(&o, lng ? va_arg(ap, unsigned long) :
			    va_arg(ap, unsigned int), 10, width, pad, 0);
			break;
		case 'x':
			emit_num(&o, lng ? va_arg(ap, unsigned long) :
			    va_arg(ap, unsigned int), 16, width, pad, 0);
			break;
		case 'p':
			emit(&o, '0');
			emit(&o, 'x');
			emit_num(&o, (uintptr_t)va_arg(ap, void *), 16, width,
			    pad, 0);
			break;
		case 'c':
			emit(&o, (char)va_arg(ap, int));
			break;
		case 's':
			s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			width -= (int)strlen(s);
			while (width-- > 0)
				emit(&o, ' ');
			while (*s)
				emit(&o, *s++);
			break;
		case '%':
			emit(&o, '%');
			break;
		default:
			emit(&o, '?');
			if (!*fmt)
				fmt--;
			break;
		}
	}
	if (len)
		buf[o.pos < len ? o.pos : len - 1] = 0;
}

void
snprintf_(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf_(buf, len, fmt, ap);
	va_end(ap);
}

void
printf_(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf_(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	puts_(buf);
}
