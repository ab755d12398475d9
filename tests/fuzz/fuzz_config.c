/*
 * Surface 6: what a local user hands the core: the command line
 * (cmdline_parse), the -k config file (config_load_file) and the control
 * socket's JSON request lines (ipc/control.c: line splitting, request and
 * response parsing).
 *
 * Input: u8 mode, then the bytes: NUL-separated arguments, a config file,
 * or a byte stream as a client would write it to the control socket.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/cmdline.h"
#include "core/config.h"
#include "ipc/control.h"
#include "tests/fuzz/fuzz.h"

#define MAXARGS	64

static struct ctl_lines lines;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
read_config(void)
{
	static const char *const keys[] = { "cpus", "memory.size", "name",
	    "pci.0.3.0.device", "lpc.com1.path", "x86.strictmsr" };
	uint64_t u;
	bool b;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		config_get(keys[i]);
		config_get_uint(keys[i], 1, &u);
		config_get_size(keys[i], 1, &u);
		config_get_bool(keys[i], false, &b);
	}
	config_check_keys();
}

static void
args(const uint8_t *p, size_t n)
{
	char *buf = malloc(n + 1), *argv[MAXARGS + 2];
	int argc = 0;
	size_t s = 0;

	if (buf == NULL)
		return;
	memcpy(buf, p, n);
	buf[n] = '\0';
	argv[argc++] = "hyve";
	for (size_t i = 0; i <= n && argc < MAXARGS; i++) {
		if (buf[i] == '\0') {
			argv[argc++] = buf + s;
			s = i + 1;
		}
	}
	argv[argc] = NULL;
	config_reset();
	if (cmdline_parse(argc, argv) == 0)
		read_config();
	free(buf);
}

static void
file(const uint8_t *p, size_t n)
{
	char path[64];
	int fd = memfd_create("fuzz-config", MFD_CLOEXEC);

	if (fd < 0 || write(fd, p, n) != (ssize_t)n)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	config_reset();
	if (config_load_file(path) == 0)
		read_config();
	close(fd);
}

/* The control server's view: chunks into lines, each line a request. */
static void
control(const uint8_t *p, size_t n)
{
	struct ctl_req req;
	json_object *res;
	char err[256], *line, *out;
	size_t room, len, k;
	int rc;

	ctl_lines_init(&lines);
	while (n > 0) {
		char *space = ctl_lines_space(&lines, &room);

		if (space == NULL || room == 0)
			break;
		k = n < room ? n : room;
		k = k > 1 + p[0] % 97 ? 1 + p[0] % 97 : k;
		memcpy(space, p, k);
		ctl_lines_added(&lines, k);
		p += k;
		n -= k;
		while ((rc = ctl_lines_next(&lines, &line, &len)) == 1) {
			FZ_CHECK(len <= CTL_MAX_LINE && line[len] == '\0');
			if (ctl_parse_request(line, len, &req, err, sizeof(err)) == 0) {
				FZ_CHECK(req.cmd != CTL_NONE);
				FZ_CHECK(memchr(req.vm, 0, sizeof(req.vm)) != NULL);
				/* What hyvectl would send back is parsed alike. */
				out = ctl_build_request(&req);
				FZ_CHECK(out != NULL);
				FZ_CHECK(ctl_parse_request(out, strlen(out) - 1, &req,
				    err, sizeof(err)) == 0);
				free(out);
			}
			FZ_CHECK(memchr(err, 0, sizeof(err)) != NULL);
			res = NULL;
			if (ctl_parse_response(line, len, &res, err, sizeof(err)) == 0)
				json_object_put(res);
		}
		if (rc < 0)
			break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	unsigned mode = fz_u8(&f);

	switch (mode % 3) {
	case 0:
		args(f.p, f.n);
		break;
	case 1:
		file(f.p, f.n);
		break;
	case 2:
		control(f.p, f.n);
		break;
	}
	return 0;
}
