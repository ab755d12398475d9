/*
 * 16550 UART, as bhyve's uart_emul.c: register file, 16-byte RX FIFO,
 * interrupts per IER on the COM port's ISA IRQ.  Transmission is instant,
 * so THRE and TEMT always read 1.
 *
 * Backends: "stdio" (raw terminal), "unix:PATH" (one client at a time), a
 * tty/pty (both ways) or a file (output appended).  One thread per UART
 * reads input and feeds the RX FIFO under vm->dev_lock; input that does not
 * fit waits in the thread until the guest drains the FIFO.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "core/devices.h"
#include "core/devstate.h"
#include "core/layout.h"
#include "core/snapshot.h"
#include "core/vm.h"
#include "core/upgrade.h"
#include "lib/log.h"

#define REG_DATA	0	/* RBR / THR; DLL with DLAB */
#define REG_IER		1	/* DLM with DLAB */
#define REG_IIR		2	/* read: IIR; write: FCR */
#define REG_LCR		3
#define REG_MCR		4
#define REG_LSR		5
#define REG_MSR		6
#define REG_SCR		7

#define IER_ERXRDY	0x01
#define IER_ETXRDY	0x02
#define IER_ERLS	0x04
#define IER_EMSC	0x08

#define IIR_NOPEND	0x01
#define IIR_MLSC	0x00
#define IIR_TXRDY	0x02
#define IIR_RXRDY	0x04
#define IIR_RLS		0x06
#define IIR_FIFO_MASK	0xC0

#define FCR_ENABLE	0x01
#define FCR_RCV_RST	0x02
#define FCR_MASK	0xC9	/* enable, DMA mode, RX trigger */

#define LCR_DLAB	0x80

#define MCR_DTR		0x01
#define MCR_RTS		0x02
#define MCR_OUT1	0x04
#define MCR_OUT2	0x08
#define MCR_LOOPBACK	0x10

#define LSR_RXRDY	0x01
#define LSR_OE		0x02
#define LSR_THRE	0x20
#define LSR_TEMT	0x40

#define MSR_DCTS	0x01
#define MSR_DDSR	0x02
#define MSR_TERI	0x04
#define MSR_DDCD	0x08
#define MSR_DELTA_MASK	0x0F
#define MSR_CTS		0x10
#define MSR_DSR		0x20
#define MSR_RI		0x40
#define MSR_DCD		0x80

#define FIFOSZ		16
#define OUT_WAIT_MS	100	/* longest a guest write waits for the sink */

#define UART_BACKLOG	16384

struct uart {
	struct vm	*vm;
	char		name[8];	/* "com1" */
	char		*path;
	uint16_t	port;
	unsigned	irq;

	/* Registers; under vm->dev_lock. */
	uint8_t		dll, dlh, ier, fcr, lcr, mcr, lsr, msr, scr;
	bool		thre_pending;
	bool		irq_up;
	uint8_t		rxf[FIFOSZ];
	int		rx_head, rx_count, rx_size;

	/* Backend. */
	int		in_fd;		/* -1: no input (file, EOF) */
	int		out_fd;		/* -1: no output */
	int		listen_fd;	/* unix: listening socket */
	int		conn_fd;	/* unix: the client; under dev_lock */
	/* unix: output kept while no client is connected, for the next one */
	uint8_t		backlog[UART_BACKLOG];
	size_t		bl_start, bl_len;
	bool		is_sock;
	bool		stuck;		/* sink did not drain in time */
	int		stuck_once, err_once;

	/* Input thread. */
	pthread_t	thread;
	bool		running;
	int		wake_fd;	/* eventfd: FIFO drained, or stop */
	bool		stopping;	/* under dev_lock */
	bool		rx_blocked;	/* under dev_lock */
	uint8_t		pend[FIFOSZ];	/* read, not yet in the FIFO */
	int		npend, pend_off;

	struct uart	*next;
};

static struct uart *uarts;
static pthread_mutex_t uarts_lock = PTHREAD_MUTEX_INITIALIZER;

/* The terminal as it was before stdio went raw. */
static struct termios saved_tio;
static int tio_saved;
static const char *stdio_owner;
static bool sockets_kept;

void
uart_keep_sockets(void)
{
	sockets_kept = true;
}

void
uart_restore_tty(void)
{
	/* tcsetattr is async-signal-safe; the exchange makes this idempotent. */
	if (__atomic_exchange_n(&tio_saved, 0, __ATOMIC_SEQ_CST))
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
}

/* --- FIFO and interrupts (dev_lock held) ------------------------------- */

static void
rxfifo_reset(struct uart *u)
{
	u->rx_head = u->rx_count = 0;
	u->rx_size = (u->fcr & FCR_ENABLE) ? FIFOSZ : 1;
}

static int
rxfifo_put(struct uart *u, uint8_t c)
{
	if (u->rx_count >= u->rx_size)
		return -ENOSPC;
	u->rxf[(u->rx_head + u->rx_count) % FIFOSZ] = c;
	u->rx_count++;
	return 0;
}

static uint8_t
rxfifo_get(struct uart *u)
{
	uint8_t c;

	if (u->rx_count == 0)
		return 0;
	c = u->rxf[u->rx_head];
	u->rx_head = (u->rx_head + 1) % FIFOSZ;
	u->rx_count--;
	return c;
}

/* Tell the input thread there may be room again. */
static void
uart_wake(struct uart *u)
{
	uint64_t one = 1;

	if (u->rx_blocked && u->wake_fd >= 0 &&
	    write(u->wake_fd, &one, sizeof(one)) < 0)
		hlog_once(&u->err_once, "%s: waking input thread: %s", u->name,
		    strerror(errno));
}

static uint8_t
uart_intr_reason(struct uart *u)
{
	if ((u->lsr & LSR_OE) && (u->ier & IER_ERLS))
		return IIR_RLS;
	if (u->rx_count > 0 && (u->ier & IER_ERXRDY))
		return IIR_RXRDY;
	if (u->thre_pending && (u->ier & IER_ETXRDY))
		return IIR_TXRDY;
	if ((u->msr & MSR_DELTA_MASK) && (u->ier & IER_EMSC))
		return IIR_MLSC;
	return IIR_NOPEND;
}

static void
uart_toggle_intr(struct uart *u)
{
	bool up = uart_intr_reason(u) != IIR_NOPEND;

	if (up != u->irq_up) {
		u->irq_up = up;
		vm_irq_line(u->vm, u->irq, up);
	}
}

static uint8_t
modem_status(uint8_t mcr)
{
	uint8_t msr = 0;

	if (!(mcr & MCR_LOOPBACK))
		/* DCD and DSR up, so a tty open without CLOCAL does not hang. */
		return MSR_DCD | MSR_DSR;
	if (mcr & MCR_RTS)
		msr |= MSR_CTS;
	if (mcr & MCR_DTR)
		msr |= MSR_DSR;
	if (mcr & MCR_OUT1)
		msr |= MSR_RI;
	if (mcr & MCR_OUT2)
		msr |= MSR_DCD;
	return msr;
}

/* --- Output ------------------------------------------------------------ */

static void
uart_output(struct uart *u, uint8_t c)
{
	struct pollfd p;
	ssize_t n;
	int fd;

	fd = u->is_sock ? u->conn_fd : u->out_fd;
	if (fd < 0 && u->is_sock) {
		/* Nobody is listening yet: keep the newest bytes. */
		u->backlog[(u->bl_start + u->bl_len) % UART_BACKLOG] = c;
		if (u->bl_len < UART_BACKLOG)
			u->bl_len++;
		else
			u->bl_start = (u->bl_start + 1) % UART_BACKLOG;
		return;
	}
	if (fd < 0)
		return;
	p.fd = fd;
	p.events = POLLOUT;
	for (;;) {
		/* Once stuck, do not wait again until the sink takes a byte. */
		n = poll(&p, 1, u->stuck ? 0 : OUT_WAIT_MS);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || !(p.revents & POLLOUT)) {
			if (n > 0 && (p.revents & (POLLERR | POLLHUP)))
				return;		/* client went away */
			u->stuck = true;
			hlog_once(&u->stuck_once, "%s: %s is not taking output; "
			    "dropping guest output until it drains", u->name,
			    u->path);
			return;
		}
		if (u->is_sock)
			n = send(fd, &c, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		else
			n = write(fd, &c, 1);
		if (n == 1) {
			u->stuck = false;
			return;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN && !u->stuck) {
			u->stuck = true;	/* one more look, without waiting */
			continue;
		}
		if (n < 0 && errno != EAGAIN && !u->is_sock)
			hlog_once(&u->err_once, "%s: writing %s: %s; output "
			    "dropped", u->name, u->path, strerror(errno));
		return;
	}
}

/* --- Registers --------------------------------------------------------- */

static void
uart_reg_write(struct uart *u, unsigned reg, uint8_t v)
{
	uint8_t msr;

	if ((u->lcr & LCR_DLAB) && reg == REG_DATA) {
		u->dll = v;
		return;
	}
	if ((u->lcr & LCR_DLAB) && reg == REG_IER) {
		u->dlh = v;
		return;
	}
	switch (reg) {
	case REG_DATA:
		if (u->mcr & MCR_LOOPBACK) {
			if (rxfifo_put(u, v) < 0)
				u->lsr |= LSR_OE;
		} else {
			uart_output(u, v);
		}
		u->thre_pending = true;
		break;
	case REG_IER:
		/* THRE interrupts are raised on the enable's edge. */
		if (!(u->ier & IER_ETXRDY) && (v & IER_ETXRDY))
			u->thre_pending = true;
		u->ier = v & 0x0F;
		break;
	case REG_IIR:
		if (((v ^ u->fcr) & FCR_ENABLE) || (v & FCR_RCV_RST)) {
			u->fcr = v & FCR_MASK;
			rxfifo_reset(u);
			uart_wake(u);
		}
		u->fcr = v & FCR_MASK;
		break;
	case REG_LCR:
		u->lcr = v;
		break;
	case REG_MCR:
		u->mcr = v & 0x1F;
		msr = modem_status(u->mcr);
		if ((msr ^ u->msr) & MSR_CTS)
			u->msr |= MSR_DCTS;
		if ((msr ^ u->msr) & MSR_DSR)
			u->msr |= MSR_DDSR;
		if ((msr ^ u->msr) & MSR_DCD)
			u->msr |= MSR_DDCD;
		if ((u->msr & MSR_RI) && !(msr & MSR_RI))
			u->msr |= MSR_TERI;
		u->msr = (u->msr & MSR_DELTA_MASK) | msr;
		uart_wake(u);		/* input resumes when loopback ends */
		break;
	case REG_LSR:
	case REG_MSR:
		break;			/* read-only */
	case REG_SCR:
		u->scr = v;
		break;
	}
}

static uint8_t
uart_reg_read(struct uart *u, unsigned reg)
{
	uint8_t v, why;

	if ((u->lcr & LCR_DLAB) && reg == REG_DATA)
		return u->dll;
	if ((u->lcr & LCR_DLAB) && reg == REG_IER)
		return u->dlh;
	switch (reg) {
	case REG_DATA:
		v = rxfifo_get(u);
		uart_wake(u);
		return v;
	case REG_IER:
		return u->ier;
	case REG_IIR:
		why = uart_intr_reason(u);
		if (why == IIR_TXRDY)
			u->thre_pending = false;
		return why | ((u->fcr & FCR_ENABLE) ? IIR_FIFO_MASK : 0);
	case REG_LCR:
		return u->lcr;
	case REG_MCR:
		return u->mcr;
	case REG_LSR:
		v = u->lsr | LSR_THRE | LSR_TEMT;
		if (u->rx_count > 0)
			v |= LSR_RXRDY;
		u->lsr &= ~LSR_OE;
		return v;
	case REG_MSR:
		v = u->msr;
		u->msr &= ~MSR_DELTA_MASK;
		return v;
	default:
		return u->scr;
	}
}

static int
uart_io(void *opaque, uint64_t off, int size, bool write, uint64_t *val)
{
	struct uart *u = opaque;

	(void)size;		/* wider accesses act on the low byte */
	if (off > REG_SCR)
		return 0;
	if (write)
		uart_reg_write(u, off, *val & 0xFF);
	else
		*val = uart_reg_read(u, off);
	uart_toggle_intr(u);
	return 0;
}

/* --- Input thread ------------------------------------------------------ */

/* Moves what the thread holds into the FIFO; true if some is left. */
static bool
uart_push_pending(struct uart *u)
{
	/* Loopback disconnects the receiver from the line. */
	if (u->mcr & MCR_LOOPBACK)
		return u->npend > 0;
	while (u->pend_off < u->npend &&
	    rxfifo_put(u, u->pend[u->pend_off]) == 0)
		u->pend_off++;
	if (u->pend_off == u->npend)
		u->npend = u->pend_off = 0;
	uart_toggle_intr(u);
	return u->npend > 0;
}

static void
uart_drop_client(struct uart *u)
{
	int fd;

	pthread_mutex_lock(&u->vm->dev_lock);
	fd = u->conn_fd;
	u->conn_fd = -1;
	pthread_mutex_unlock(&u->vm->dev_lock);
	if (fd >= 0)
		close(fd);
}

static void
uart_accept(struct uart *u)
{
	int fd;

	fd = accept4(u->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	pthread_mutex_lock(&u->vm->dev_lock);
	u->conn_fd = fd;
	u->stuck = false;
	/* What the guest printed before anyone connected; a fresh socket's
	 * buffer holds it, and what does not fit is dropped. */
	while (u->bl_len > 0) {
		size_t n = UART_BACKLOG - u->bl_start;

		if (n > u->bl_len)
			n = u->bl_len;
		if (send(fd, u->backlog + u->bl_start, n, MSG_NOSIGNAL |
		    MSG_DONTWAIT) <= 0)
			break;
		u->bl_start = (u->bl_start + n) % UART_BACKLOG;
		u->bl_len -= n;
	}
	u->bl_start = u->bl_len = 0;
	pthread_mutex_unlock(&u->vm->dev_lock);
}

static void
uart_read_input(struct uart *u, int fd)
{
	ssize_t n;

	n = read(fd, u->pend, sizeof(u->pend));
	if (n > 0) {
		u->npend = n;
		u->pend_off = 0;
		return;
	}
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	/* EOF or error (a pty whose other side closed): stop reading. */
	if (u->is_sock) {
		uart_drop_client(u);
	} else {
		pthread_mutex_lock(&u->vm->dev_lock);
		u->in_fd = -1;
		pthread_mutex_unlock(&u->vm->dev_lock);
	}
}

static void *
uart_thread(void *arg)
{
	struct uart *u = arg;
	struct pollfd p[2];
	uint64_t cnt;
	bool blocked;
	int fd, nfd;

	for (;;) {
		pthread_mutex_lock(&u->vm->dev_lock);
		if (u->stopping) {
			pthread_mutex_unlock(&u->vm->dev_lock);
			break;
		}
		blocked = uart_push_pending(u);
		u->rx_blocked = blocked;
		fd = u->is_sock ? u->conn_fd : u->in_fd;
		pthread_mutex_unlock(&u->vm->dev_lock);

		p[0].fd = u->wake_fd;
		p[0].events = POLLIN;
		nfd = 1;
		if (!blocked && fd >= 0) {
			p[1].fd = fd;
			p[1].events = POLLIN;
			nfd = 2;
		} else if (u->is_sock && fd < 0) {
			p[1].fd = u->listen_fd;
			p[1].events = POLLIN;
			nfd = 2;
		}
		if (poll(p, nfd, -1) < 0) {
			if (errno == EINTR)
				continue;
			hlog("%s: input thread: poll: %s; guest input stops",
			    u->name, strerror(errno));
			break;
		}
		if (p[0].revents & POLLIN &&
		    read(u->wake_fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
			break;
		if (nfd == 2 && p[1].revents) {
			if (p[1].fd == u->listen_fd)
				uart_accept(u);
			else
				uart_read_input(u, fd);
		}
	}
	return NULL;
}

/* --- Backends ---------------------------------------------------------- */

static int
uart_err(struct uart *u, const char *path, int err)
{
	hlog("%s: %s: %s", u->name, path, strerror(err));
	return -err;
}

static void
set_raw(int fd, struct termios *save)
{
	struct termios tio;

	if (tcgetattr(fd, &tio) < 0)
		return;
	if (save != NULL)
		*save = tio;
	cfmakeraw(&tio);
	tcsetattr(fd, TCSANOW, &tio);
}

static int
uart_open_stdio(struct uart *u)
{
	static int atexit_done;

	if (stdio_owner != NULL) {
		hlog("%s: stdio is already the console of %s; give %s another "
		    "path", u->name, stdio_owner, u->name);
		return -EBUSY;
	}
	stdio_owner = u->name;
	u->in_fd = STDIN_FILENO;
	u->out_fd = STDOUT_FILENO;
	if (isatty(STDIN_FILENO)) {
		if (!atexit_done) {
			atexit(uart_restore_tty);
			atexit_done = 1;
		}
		set_raw(STDIN_FILENO, &saved_tio);
		__atomic_store_n(&tio_saved, 1, __ATOMIC_SEQ_CST);
	}
	return 0;
}

static int
uart_open_unix(struct uart *u, const char *path)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		hlog("%s: %s: socket path longer than %zu bytes; use a shorter "
		    "one", u->name, path, sizeof(sun.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			hlog("%s: %s: exists and is not a socket; remove it or "
			    "choose another path", u->name, path);
			return -EEXIST;
		}
		unlink(path);		/* stale socket of an earlier run */
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return uart_err(u, path, errno);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(fd, 1) < 0) {
		int e = errno;

		close(fd);
		return uart_err(u, path, e);
	}
	u->listen_fd = fd;
	u->is_sock = true;
	return 0;
}

static int
uart_open_path(struct uart *u, const char *path)
{
	struct stat st;
	int fd;

	if (stat(path, &st) == 0 && S_ISCHR(st.st_mode)) {
		fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			return uart_err(u, path, errno);
		if (isatty(fd)) {
			set_raw(fd, NULL);
			u->in_fd = fd;
		}
		u->out_fd = fd;
		return 0;
	}
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOCTTY | O_CLOEXEC,
	    0600);
	if (fd < 0)
		return uart_err(u, path, errno);
	u->out_fd = fd;
	return 0;
}

static void
uart_close_backend(struct uart *u)
{
	if (u->out_fd > STDERR_FILENO)
		close(u->out_fd);
	if (u->listen_fd >= 0) {
		close(u->listen_fd);
		/* Once the core is confined the monitor removes it. */
		if (!sockets_kept)
			unlink(u->path + strlen("unix:"));
	}
	if (u->conn_fd >= 0)
		close(u->conn_fd);
	if (u->wake_fd >= 0)
		close(u->wake_fd);
	if (stdio_owner == u->name) {
		uart_restore_tty();
		stdio_owner = NULL;
	}
}

static void
uart_free(struct uart *u)
{
	uart_close_backend(u);
	free(u->path);
	free(u);
}

/* hyvectl upgrade: a console other than stdio (which every core shares)
 * goes to the new core as it is, connection and all. */
int
uart_handover(struct upg_out *o)
{
	int rc = 0;

	pthread_mutex_lock(&uarts_lock);
	for (struct uart *u = uarts; u != NULL && rc == 0; u = u->next) {
		uint32_t idx = u->name[3] - '1';

		if (strcmp(u->path, "stdio") == 0)
			continue;
		pthread_mutex_lock(&u->vm->dev_lock);
		if ((rc = upg_give(o, u->in_fd, UPG_UART, idx, 0)) == 0 &&
		    (rc = upg_give(o, u->out_fd, UPG_UART, idx, 1)) == 0 &&
		    (rc = upg_give(o, u->listen_fd, UPG_UART, idx, 2)) == 0)
			rc = upg_give(o, u->conn_fd, UPG_UART, idx, 3);
		pthread_mutex_unlock(&u->vm->dev_lock);
	}
	pthread_mutex_unlock(&uarts_lock);
	return rc;
}

/* The new core's side: the old core's descriptors, opened by path no more
 * (a socket's path stays the old core's until the handover is done). */
static int
uart_adopt(struct uart *u, int idx)
{
	u->in_fd = upg_take(UPG_UART, idx, 0);
	u->out_fd = upg_take(UPG_UART, idx, 1);
	u->listen_fd = upg_take(UPG_UART, idx, 2);
	u->conn_fd = upg_take(UPG_UART, idx, 3);
	u->is_sock = u->listen_fd >= 0;
	sockets_kept = true;
	if (u->in_fd < 0 && u->out_fd < 0 && u->listen_fd < 0) {
		hlog("%s: the old core handed over no console for %s", u->name,
		    u->path);
		return -EINVAL;
	}
	return 0;
}

static int
start_input(struct uart *u)
{
	int rc;

	if (u->running || (u->in_fd < 0 && !u->is_sock))
		return 0;
	if ((rc = -pthread_create(&u->thread, NULL, uart_thread, u)) < 0) {
		hlog("%s: cannot start input thread: %s", u->name,
		    strerror(-rc));
		return rc;
	}
	u->running = true;
	return 0;
}

int
uart_init(struct vm *vm, int idx, const char *path)
{
	static const uint16_t ports[] = { PORT_COM1, PORT_COM2, PORT_COM3,
	    PORT_COM4 };
	static const uint8_t irqs[] = { IRQ_COM1, IRQ_COM2, IRQ_COM3,
	    IRQ_COM4 };
	struct uart *u;
	int rc;

	if (idx < 0 || idx > 3) {
		hlog("com%d: no such port; hyve has com1 to com4", idx + 1);
		return -EINVAL;
	}
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return -ENOMEM;
	snprintf(u->name, sizeof(u->name), "com%d", idx + 1);
	u->vm = vm;
	u->port = ports[idx];
	u->irq = irqs[idx];
	u->in_fd = u->out_fd = u->listen_fd = u->conn_fd = -1;
	u->dll = 12;			/* 9600 baud */
	u->lsr = LSR_THRE | LSR_TEMT;
	u->msr = modem_status(0);
	rxfifo_reset(u);
	u->path = strdup(path);
	u->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (u->path == NULL || u->wake_fd < 0) {
		rc = u->path == NULL ? -ENOMEM : -errno;
		hlog("%s: %s", u->name, strerror(-rc));
		goto fail;
	}

	if (strcmp(path, "stdio") == 0)
		rc = uart_open_stdio(u);
	else if (upgrading())
		rc = uart_adopt(u, idx);
	else if (strncmp(path, "unix:", 5) == 0)
		rc = uart_open_unix(u, path + 5);
	else
		rc = uart_open_path(u, path);
	if (rc < 0)
		goto fail;

	rc = vm_register_pio(vm, u->port, 8, uart_io, u, u->name);
	if (rc < 0) {
		hlog("%s: cannot claim ports 0x%x-0x%x", u->name, u->port,
		    u->port + 7);
		goto fail;
	}
	/* A new core reads no input before the old one lets go of it
	 * (uart_start_input). */
	if (!upgrading() && (rc = start_input(u)) < 0) {
		bus_unregister(&vm->pio, u->port);
		goto fail;
	}
	pthread_mutex_lock(&uarts_lock);
	u->next = uarts;
	uarts = u;
	pthread_mutex_unlock(&uarts_lock);
	return 0;
fail:
	uart_free(u);
	return rc;
}

/* Stops the input thread of u (the caller holds uarts_lock). */
static void
stop_input(struct uart *u)
{
	uint64_t one = 1;

	if (!u->running)
		return;
	pthread_mutex_lock(&u->vm->dev_lock);
	u->stopping = true;
	pthread_mutex_unlock(&u->vm->dev_lock);
	if (write(u->wake_fd, &one, sizeof(one)) < 0)
		hlog("%s: stopping input thread: %s", u->name, strerror(errno));
	pthread_join(u->thread, NULL);
	u->running = false;
}

void
uart_stop_input(struct vm *vm)
{
	pthread_mutex_lock(&uarts_lock);
	for (struct uart *u = uarts; u != NULL; u = u->next)
		if (u->vm == vm)
			stop_input(u);
	pthread_mutex_unlock(&uarts_lock);
}

int
uart_start_input(struct vm *vm)
{
	int rc = 0;

	pthread_mutex_lock(&uarts_lock);
	for (struct uart *u = uarts; u != NULL; u = u->next)
		if (u->vm == vm && rc == 0)
			rc = start_input(u);
	pthread_mutex_unlock(&uarts_lock);
	return rc;
}

/*
 * Stops the input threads and closes the backends of every UART of vm, and
 * releases their ports.  For unit tests and an orderly shutdown.
 */
void
uart_fini(struct vm *vm)
{
	struct uart **pp, *u;

	pthread_mutex_lock(&uarts_lock);
	for (pp = &uarts; (u = *pp) != NULL;) {
		if (u->vm != vm) {
			pp = &u->next;
			continue;
		}
		*pp = u->next;
		stop_input(u);
		bus_unregister(&vm->pio, u->port);
		uart_free(u);
	}
	pthread_mutex_unlock(&uarts_lock);
}

/* --- snapshot ------------------------------------------------------------ */

/* The registers and the receive FIFO; not the host side (backlog, input
 * read but not yet in the FIFO), which belongs to this process. */
struct uart_state {
	uint8_t		dll, dlh, ier, fcr, lcr, mcr, lsr, msr, scr;
	uint8_t		thre_pending, irq_up;
	uint8_t		rx_head, rx_count, rx_size;
	uint8_t		rxf[FIFOSZ];
};

static int
uart_index(const struct uart *u)
{
	return u->name[3] - '1';	/* "com1" -> 0 */
}

int
uart_save(struct vm *vm, struct snap *s)
{
	struct uart_state st;
	struct uart *u;
	int rc = 0;

	pthread_mutex_lock(&uarts_lock);
	for (u = uarts; u != NULL && rc == 0; u = u->next) {
		if (u->vm != vm)
			continue;
		memset(&st, 0, sizeof(st));
		st.dll = u->dll; st.dlh = u->dlh; st.ier = u->ier;
		st.fcr = u->fcr; st.lcr = u->lcr; st.mcr = u->mcr;
		st.lsr = u->lsr; st.msr = u->msr; st.scr = u->scr;
		st.thre_pending = u->thre_pending;
		st.irq_up = u->irq_up;
		st.rx_head = u->rx_head;
		st.rx_count = u->rx_count;
		st.rx_size = u->rx_size;
		memcpy(st.rxf, u->rxf, sizeof(st.rxf));
		rc = snap_add(s, SNAP_DEV_UART, uart_index(u), &st, sizeof(st));
	}
	pthread_mutex_unlock(&uarts_lock);
	return rc;
}

int
uart_load(struct vm *vm, const struct snap *s)
{
	const struct uart_state *st;
	struct uart *u;
	int rc = 0;

	pthread_mutex_lock(&uarts_lock);
	for (u = uarts; u != NULL; u = u->next) {
		if (u->vm != vm)
			continue;
		st = snap_get(s, SNAP_DEV_UART, uart_index(u), sizeof(*st),
		    u->name);
		if (st == NULL || st->rx_head >= FIFOSZ ||
		    st->rx_count > FIFOSZ || st->rx_size < 1 ||
		    st->rx_size > FIFOSZ) {
			if (st != NULL)
				hlog("snapshot: %s: FIFO state out of range",
				    u->name);
			rc = -EINVAL;
			break;
		}
		u->dll = st->dll; u->dlh = st->dlh; u->ier = st->ier;
		u->fcr = st->fcr; u->lcr = st->lcr; u->mcr = st->mcr;
		u->lsr = st->lsr; u->msr = st->msr; u->scr = st->scr;
		u->thre_pending = st->thre_pending;
		u->irq_up = st->irq_up;	/* the line itself is in the irqchip */
		u->rx_head = st->rx_head;
		u->rx_count = st->rx_count;
		u->rx_size = st->rx_size;
		memcpy(u->rxf, st->rxf, sizeof(u->rxf));
	}
	pthread_mutex_unlock(&uarts_lock);
	return rc;
}
