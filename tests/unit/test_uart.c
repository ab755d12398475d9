/* 16550 UART: registers, FIFO, interrupts and the file and unix backends. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <cmocka.h>

#include "core/devices.h"
#include "core/layout.h"
#include "core/vm.h"

/* In core/uart.c; not yet in core/devices.h. */
void uart_fini(struct vm *vm);

#define COM	PORT_COM1
#define THR	(COM + 0)
#define RBR	(COM + 0)
#define IER	(COM + 1)
#define IIR	(COM + 2)
#define FCR	(COM + 2)
#define LCR	(COM + 3)
#define MCR	(COM + 4)
#define LSR	(COM + 5)
#define MSR	(COM + 6)
#define SCR	(COM + 7)

static struct vm vm;
static char dir[64];
static char out_path[128];

static int
setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/hyve-uart-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(out_path, sizeof(out_path), "%s/com1.log", dir);
	if (vm_create_nokvm(&vm, "t", MB(16)) < 0)
		return -1;
	return uart_init(&vm, 0, out_path) < 0 ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	uart_fini(&vm);
	vm_destroy(&vm);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static uint8_t
in(uint16_t port)
{
	uint64_t v = 0xDEAD;

	assert_int_equal(bus_access(&vm.pio, port, 1, false, &v), 0);
	return v;
}

static void
out(uint16_t port, uint8_t v)
{
	uint64_t val = v;

	assert_int_equal(bus_access(&vm.pio, port, 1, true, &val), 0);
}

static void
test_scratch_and_divisor(void **state)
{
	(void)state;
	out(SCR, 0xA5);
	assert_int_equal(in(SCR), 0xA5);
	out(LCR, 0x83);			/* DLAB, 8N1 */
	out(COM + 0, 0x01);		/* 115200 */
	out(COM + 1, 0x00);
	assert_int_equal(in(COM + 0), 0x01);
	assert_int_equal(in(COM + 1), 0x00);
	out(LCR, 0x03);
	assert_int_equal(in(LCR), 0x03);
	/* DLAB off: the divisor is out of the way. */
	out(IER, 0x05);
	assert_int_equal(in(IER), 0x05);
	out(LCR, 0x83);
	assert_int_equal(in(COM + 0), 0x01);
	assert_int_equal(in(COM + 1), 0x00);
	out(LCR, 0x03);
	out(IER, 0xFF);
	assert_int_equal(in(IER), 0x0F);
}

static void
test_lsr_after_write(void **state)
{
	(void)state;
	assert_int_equal(in(LSR), 0x60);
	out(THR, 'x');
	assert_int_equal(in(LSR), 0x60);	/* THRE, TEMT; no data */
	assert_int_equal(in(IIR) & 0x01, 1);	/* nothing pending */
	assert_int_equal(vm.irq_level[IRQ_COM1], 0);
	/* MSR: DCD and DSR up without loopback. */
	assert_int_equal(in(MSR) & 0xF0, 0xA0);
}

static void
test_loopback_fifo_iir(void **state)
{
	int i;

	(void)state;
	out(FCR, 0x07);				/* FIFO on, reset */
	assert_int_equal(in(IIR) & 0xC0, 0xC0);
	out(MCR, 0x10 | 0x08 | 0x02);		/* loopback, OUT2, RTS */
	assert_int_equal(in(MSR) & 0xF0, 0x90);	/* CTS <- RTS, DCD <- OUT2 */
	for (i = 0; i < 16; i++)
		out(THR, 'a' + i);
	assert_int_equal(in(LSR) & 0x03, 0x01);
	out(THR, '!');				/* 17th: overrun */
	assert_int_equal(in(LSR) & 0x03, 0x03);
	assert_int_equal(in(LSR) & 0x02, 0);	/* OE clears on read */
	out(THR, '!');
	out(MCR, 0x10 | 0x08 | 0x02 | 0x01);	/* DTR: DSR delta */
	/* Enable everything: line status first, then data, then THRE. */
	out(IER, 0x0F);
	assert_int_equal(vm.irq_level[IRQ_COM1], 1);
	assert_int_equal(in(IIR) & 0x0F, 0x06);
	assert_int_equal(in(LSR) & 0x02, 0x02);
	assert_int_equal(in(IIR) & 0x0F, 0x04);
	for (i = 0; i < 16; i++)
		assert_int_equal(in(RBR), 'a' + i);
	assert_int_equal(in(LSR) & 0x01, 0);
	assert_int_equal(in(IIR) & 0x0F, 0x02);	/* THRE, cleared by the read */
	/* MSR deltas from the MCR write come last. */
	assert_int_equal(in(IIR) & 0x0F, 0x00);
	assert_true(in(MSR) & 0x0F);
	assert_int_equal(in(IIR) & 0x0F, 0x01);
	assert_int_equal(vm.irq_level[IRQ_COM1], 0);
}

static void
test_irq_rx_and_thre(void **state)
{
	(void)state;
	out(MCR, 0x10);
	out(IER, 0x01);				/* RX data only */
	assert_int_equal(vm.irq_level[IRQ_COM1], 0);
	out(THR, 'z');
	assert_int_equal(vm.irq_level[IRQ_COM1], 1);
	assert_int_equal(in(IIR), 0x04);	/* FIFO off: no 0xC0 */
	assert_int_equal(in(RBR), 'z');
	assert_int_equal(vm.irq_level[IRQ_COM1], 0);
	/* FIFO off: one byte holds; a second overruns. */
	out(THR, '1');
	out(THR, '2');
	assert_int_equal(in(LSR) & 0x03, 0x03);
	assert_int_equal(in(RBR), '1');
	/* THRE on the enable's edge, gone once IIR reported it. */
	out(IER, 0x02);
	assert_int_equal(vm.irq_level[IRQ_COM1], 1);
	assert_int_equal(in(IIR), 0x02);
	assert_int_equal(vm.irq_level[IRQ_COM1], 0);
	assert_int_equal(in(IIR), 0x01);
	out(THR, 'q');				/* sent: THRE again */
	assert_int_equal(vm.irq_level[IRQ_COM1], 1);
	out(IER, 0);
	assert_int_equal(vm.irq_level[IRQ_COM1], 0);
}

static void
test_file_output(void **state)
{
	const char *msg = "hello\r\n";
	char buf[64];
	struct stat st;
	ssize_t n;
	int fd;

	(void)state;
	for (; *msg != '\0'; msg++)
		out(THR, *msg);
	out(MCR, 0x10);
	out(THR, 'L');				/* loopback: not on the line */
	fd = open(out_path, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(n, 7);
	assert_memory_equal(buf, "hello\r\n", 7);
	assert_int_equal(stat(out_path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* A second VM appends to the same file. */
	uart_fini(&vm);
	assert_int_equal(uart_init(&vm, 0, out_path), 0);
	out(THR, 'X');
	assert_int_equal(stat(out_path, &st), 0);
	assert_int_equal(st.st_size, 8);
}

static void
test_bad_paths(void **state)
{
	char p[160];

	(void)state;
	assert_int_equal(uart_init(&vm, 1, "/nope/x"), -ENOENT);
	assert_int_equal(uart_init(&vm, 1, "unix:/nope/x"), -ENOENT);
	/* A regular file is not a stale socket: refuse, leave it alone. */
	assert_int_equal(uart_init(&vm, 1, "unix:/etc/hostname") < 0, 1);
	snprintf(p, sizeof(p), "unix:%s", out_path);
	assert_int_equal(uart_init(&vm, 1, p), -EEXIST);
	assert_int_equal(access(out_path, F_OK), 0);
	assert_int_equal(uart_init(&vm, 4, "/dev/null"), -EINVAL);
	/* COM1 is taken. */
	assert_true(uart_init(&vm, 0, "/dev/null") < 0);
	/* None of them claimed COM2. */
	assert_int_equal(uart_init(&vm, 1, "/dev/null"), 0);
}

static int
connect_to(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

static void
msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Polls LSR.DR until data arrives or 2 s pass. */
static bool
wait_rx(uint16_t com)
{
	uint64_t v;
	int i;

	for (i = 0; i < 400; i++) {
		pthread_mutex_lock(&vm.dev_lock);
		bus_access(&vm.pio, com + 5, 1, false, &v);
		pthread_mutex_unlock(&vm.dev_lock);
		if (v & 0x01)
			return true;
		msleep(5);
	}
	return false;
}

static uint8_t
locked_in(uint16_t port)
{
	uint8_t v;

	pthread_mutex_lock(&vm.dev_lock);
	v = in(port);
	pthread_mutex_unlock(&vm.dev_lock);
	return v;
}

static void
locked_out(uint16_t port, uint8_t v)
{
	pthread_mutex_lock(&vm.dev_lock);
	out(port, v);
	pthread_mutex_unlock(&vm.dev_lock);
}

static void
test_unix_socket(void **state)
{
	char path[128], spec[140], buf[64];
	const uint16_t com2 = PORT_COM2;
	int fd, i, n, got;

	(void)state;
	snprintf(path, sizeof(path), "%s/com2.sock", dir);
	snprintf(spec, sizeof(spec), "unix:%s", path);
	/* A stale socket from an earlier run is replaced. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	{
		struct sockaddr_un sun = { .sun_family = AF_UNIX };

		strcpy(sun.sun_path, path);
		assert_int_equal(bind(fd, (struct sockaddr *)&sun,
		    sizeof(sun)), 0);
		close(fd);
	}
	assert_int_equal(uart_init(&vm, 1, spec), 0);

	/* No client: output is kept for the first one, not stuck. */
	locked_out(com2, 'd');

	fd = connect_to(path);
	/* The kept output, then what follows, once the client is accepted. */
	for (i = 0; i < 200; i++) {
		locked_out(com2, 'g');
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0)
			break;
		msleep(10);
	}
	assert_true(n > 0);
	assert_int_equal(buf[0], 'd');
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	locked_out(com2, 'o');
	locked_out(com2, 'k');
	assert_int_equal(recv(fd, buf, 2, MSG_WAITALL), 2);
	assert_memory_equal(buf, "ok", 2);

	/* Input: 40 bytes through the 16-byte FIFO, nothing lost. */
	locked_out(com2 + 2, 0x01);			/* FIFO on */
	locked_out(com2 + 1, 0x01);			/* RX interrupt */
	for (i = 0; i < 40; i++)
		buf[i] = 'A' + i;
	assert_int_equal(send(fd, buf, 40, 0), 40);
	got = 0;
	while (got < 40 && wait_rx(com2)) {
		msleep(20);		/* let the thread fill the FIFO */
		pthread_mutex_lock(&vm.dev_lock);
		assert_int_equal(vm.irq_level[IRQ_COM2], 1);
		assert_int_equal(in(com2 + 2) & 0x0F, 0x04);
		n = 0;
		while (in(com2 + 5) & 0x01) {
			assert_int_equal(in(com2), 'A' + got);
			got++;
			n++;
		}
		assert_true(n <= 16);
		assert_int_equal(vm.irq_level[IRQ_COM2], 0);
		pthread_mutex_unlock(&vm.dev_lock);
	}
	assert_int_equal(got, 40);

	/* The client leaves; another one can connect. */
	close(fd);
	msleep(50);
	locked_out(com2, 'x');				/* dropped */
	fd = connect_to(path);
	assert_int_equal(send(fd, "Z", 1, 0), 1);
	assert_true(wait_rx(com2));
	assert_int_equal(locked_in(com2), 'Z');
	close(fd);
	uart_fini(&vm);
	/* The socket is removed with the UART. */
	assert_int_equal(access(path, F_OK), -1);
}

static void
test_slow_sink_does_not_block(void **state)
{
	char spec[140], path[128];
	int fd, i;
	struct timespec a, b;

	(void)state;
	snprintf(path, sizeof(path), "%s/com3.sock", dir);
	snprintf(spec, sizeof(spec), "unix:%s", path);
	assert_int_equal(uart_init(&vm, 2, spec), 0);
	fd = connect_to(path);
	msleep(50);
	/* The client never reads: the socket fills, then bytes drop. */
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < 2000000; i++)
		locked_out(PORT_COM3, 'y');
	clock_gettime(CLOCK_MONOTONIC, &b);
	/* Waiting OUT_WAIT_MS (100 ms) for even 600 of those bytes would
	 * take longer; a loaded machine under ASan takes 10-20 s for the
	 * whole loop without any wait. */
	assert_true(b.tv_sec - a.tv_sec < 60);
	/* What went out before the socket filled is there. */
	assert_int_equal(recv(fd, spec, 1, MSG_DONTWAIT), 1);
	assert_int_equal(spec[0], 'y');
	close(fd);
}

#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_scratch_and_divisor),
		T(test_lsr_after_write),
		T(test_loopback_fifo_iir),
		T(test_irq_rx_and_thre),
		T(test_file_output),
		T(test_bad_paths),
		T(test_unix_socket),
		T(test_slow_sink_does_not_block),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
