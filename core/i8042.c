/*
 * i8042 keyboard controller: only what guests need to find it and to reset
 * the machine through it (command 0xFE pulses the CPU reset line).
 */
#include <errno.h>
#include <stdlib.h>

#include "core/devices.h"
#include "core/devstate.h"
#include "core/layout.h"
#include "core/snapshot.h"
#include "core/vm.h"
#include "lib/log.h"

#define KBC_STS_OBF	0x01		/* output buffer full */
#define KBC_STS_SYS	0x04		/* self test passed */
#define KBC_STS_CMD	0x08		/* last write was a command */
#define KBC_STS_UNLOCK	0x10		/* keyboard not inhibited */

struct i8042 {
	struct vm	*vm;
	uint8_t		status;
	uint8_t		out;		/* byte waiting at port 0x60 */
	uint8_t		ctr;		/* controller command byte */
	uint8_t		pending;	/* command waiting for a data byte */
	struct i8042	*next;
};

static struct i8042 *i8042s;

static void
kbc_output(struct i8042 *k, uint8_t v)
{
	k->out = v;
	k->status |= KBC_STS_OBF;
}

static void
kbc_command(struct i8042 *k, uint8_t cmd)
{
	k->status |= KBC_STS_CMD;
	switch (cmd) {
	case 0x20:		/* read command byte */
		kbc_output(k, k->ctr);
		break;
	case 0x60:		/* write command byte */
	case 0xD1:		/* write output port */
		k->pending = cmd;
		break;
	case 0xAA:		/* controller self test */
		kbc_output(k, 0x55);
		break;
	case 0xAB:		/* keyboard interface test */
		kbc_output(k, 0x00);
		break;
	case 0xFE:		/* pulse the reset line */
		vm_request_exit(k->vm, EXIT_REBOOT, "i8042 reset");
		break;
	default:		/* enable/disable ports and the like */
		break;
	}
}

static void
kbc_data(struct i8042 *k, uint8_t v)
{
	k->status &= ~KBC_STS_CMD;
	switch (k->pending) {
	case 0x60:
		k->ctr = v;
		break;
	case 0xD1:
		/* Output port bit 0 low holds the CPU in reset. */
		if ((v & 0x01) == 0)
			vm_request_exit(k->vm, EXIT_REBOOT, "i8042 reset");
		break;
	default:		/* to the keyboard, which is not there */
		break;
	}
	k->pending = 0;
}

static int
i8042_io(void *opaque, uint64_t off, int size, bool write, uint64_t *val,
    bool cmdport)
{
	struct i8042 *k = opaque;

	(void)off;
	(void)size;
	if (write) {
		if (cmdport)
			kbc_command(k, *val & 0xFF);
		else
			kbc_data(k, *val & 0xFF);
		return 0;
	}
	if (cmdport) {
		*val = k->status;
	} else {
		*val = (k->status & KBC_STS_OBF) ? k->out : 0;
		k->out = 0;
		k->status &= ~KBC_STS_OBF;
	}
	return 0;
}

static int
i8042_data_io(void *opaque, uint64_t off, int size, bool write, uint64_t *val)
{
	return i8042_io(opaque, off, size, write, val, false);
}

static int
i8042_cmd_io(void *opaque, uint64_t off, int size, bool write, uint64_t *val)
{
	return i8042_io(opaque, off, size, write, val, true);
}

int
i8042_init(struct vm *vm)
{
	struct i8042 *k;
	int rc;

	if ((k = calloc(1, sizeof(*k))) == NULL)
		return -ENOMEM;
	k->vm = vm;
	k->status = KBC_STS_SYS | KBC_STS_CMD | KBC_STS_UNLOCK;
	k->ctr = 0x30;		/* both ports disabled, no interrupts */
	rc = vm_register_pio(vm, PORT_I8042_DATA, 1, i8042_data_io, k, "i8042");
	if (rc == 0) {
		rc = vm_register_pio(vm, PORT_I8042_CMD, 1, i8042_cmd_io, k,
		    "i8042");
		if (rc < 0)
			bus_unregister(&vm->pio, PORT_I8042_DATA);
	}
	if (rc < 0) {
		hlog("i8042: cannot claim ports 0x60/0x64");
		free(k);
		return rc;
	}
	k->next = i8042s;
	i8042s = k;
	return 0;
}

/* --- snapshot ------------------------------------------------------------ */

struct i8042_state {
	uint8_t		status, out, ctr, pending;
};

static struct i8042 *
i8042_of(struct vm *vm)
{
	struct i8042 *k;

	for (k = i8042s; k != NULL && k->vm != vm; k = k->next)
		;
	return k;
}

int
i8042_save(struct vm *vm, struct snap *s)
{
	struct i8042 *k = i8042_of(vm);
	struct i8042_state st;

	if (k == NULL)
		return 0;
	st.status = k->status;
	st.out = k->out;
	st.ctr = k->ctr;
	st.pending = k->pending;
	return snap_add(s, SNAP_DEV_I8042, 0, &st, sizeof(st));
}

int
i8042_load(struct vm *vm, const struct snap *s)
{
	struct i8042 *k = i8042_of(vm);
	const struct i8042_state *st;

	if (k == NULL)
		return 0;
	if ((st = snap_get(s, SNAP_DEV_I8042, 0, sizeof(*st), "i8042")) == NULL)
		return -EINVAL;
	k->status = st->status;
	k->out = st->out;
	k->ctr = st->ctr;
	k->pending = st->pending;
	return 0;
}
