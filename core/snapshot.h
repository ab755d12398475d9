#ifndef HYVE_SNAPSHOT_H
#define HYVE_SNAPSHOT_H

/*
 * The snapshot format (docs/SNAPSHOT.md): a fixed header (magic, version,
 * body length, CRC-32 of the header and of the body) and a body of tagged
 * sections, each { tag, instance, length, bytes }.  The whole state is
 * built and read in memory: it is small (guest RAM is a file of its own).
 * Every failure that a user can cause prints one line naming the file.
 */
#include <stddef.h>
#include <stdint.h>

#define SNAP_MAGIC	"HYVESNAP"
/*
 * The version this build writes, and the oldest it reads: a format change
 * bumps SNAP_VERSION, and a core that can still read the older state (an
 * upgrade from the last release) keeps SNAP_VERSION_MIN.  A newer state is
 * never read.  The upgrade tests build a core that reads only version 2
 * (build/tests/hyve-v2).
 */
#ifndef SNAP_VERSION
#define SNAP_VERSION	1
#endif
#ifndef SNAP_VERSION_MIN
#define SNAP_VERSION_MIN 1
#endif
/* "version 1" or "versions 1 to 2": what this build reads, for messages. */
const char *snap_versions(void);
#define SNAP_MAX_BODY	(64u << 20)	/* a state bigger than this is refused */

/* File names inside a snapshot directory. */
#define SNAP_STATE_FILE	"state"
#define SNAP_MEM_FILE	"memory"

/*
 * Section tags.  Numbers are part of the format: never reuse one.
 * "inst" is the vCPU index, the irqchip id, the COM index or the PCI
 * device's bus<<8|slot<<3|func, as each tag says.
 */
enum snap_tag {
	SNAP_CONFIG	= 1,	/* key=value\n lines of the configuration */
	SNAP_MEMINFO	= 2,	/* struct snap_meminfo */
	SNAP_NCPUS	= 3,	/* uint32_t */
	/* per vCPU, inst = vCPU index: the KVM structure as is */
	SNAP_VCPU_REGS	= 16,	/* struct kvm_regs */
	SNAP_VCPU_SREGS	= 17,	/* struct kvm_sregs */
	SNAP_VCPU_XSAVE	= 18,	/* struct kvm_xsave (4 KiB region) */
	SNAP_VCPU_XCRS	= 19,	/* struct kvm_xcrs */
	SNAP_VCPU_MSRS	= 20,	/* struct snap_msr[] */
	SNAP_VCPU_LAPIC	= 21,	/* struct kvm_lapic_state */
	SNAP_VCPU_EVENTS = 22,	/* struct kvm_vcpu_events */
	SNAP_VCPU_DEBUGREGS = 23, /* struct kvm_debugregs */
	SNAP_VCPU_MPSTATE = 24,	/* struct kvm_mp_state */
	SNAP_VCPU_FPU	= 25,	/* struct kvm_fpu (when XSAVE is absent) */
	SNAP_VCPU_TSC_OFFSET = 26, /* uint64_t: KVM_VCPU_TSC_OFFSET, where the
				   host has it; used by an upgrade only */
	/* the VM */
	SNAP_VM_IRQCHIP	= 32,	/* struct kvm_irqchip, inst = chip id */
	SNAP_VM_PIT	= 33,	/* struct kvm_pit_state2 */
	SNAP_VM_CLOCK	= 34,	/* struct kvm_clock_data */
	SNAP_VM_IRQLEVEL = 35,	/* uint8_t[24]: the lines the core drives */
	/* devices of the core, each in its own file */
	SNAP_DEV_UART	= 48,	/* inst = COM index */
	SNAP_DEV_RTC	= 49,
	SNAP_DEV_PM	= 50,
	SNAP_DEV_I8042	= 51,
	SNAP_DEV_PCICFG	= 52,	/* inst = bdf: the config space */
	SNAP_DEV_PCIHOST = 53,	/* the 0xcf8 address latch */
	SNAP_DEV_VIRTIO	= 54,	/* inst = bdf: virtio-pci transport, ring bases */
	SNAP_DEV_VUSTATE = 55,	/* inst = bdf: the backend's own state
				   (vhost-user DEVICE_STATE) */
	SNAP_DEV_GPE	= 56,	/* GPE0 status and enable bytes (pm.c) */
	SNAP_VMGENID	= 57,	/* uint64_t: the VM generation ID's address */
	/* an upgrade's handover only (core/upgrade.c), never in a file */
	SNAP_UPG_FDS	= 64,	/* struct upg_fd[]: the descriptors passed */
	SNAP_UPG_DEV	= 65,	/* inst = bdf: struct upg_dev */
	SNAP_UPG_ARGV	= 66,	/* inst = bdf: its backend's argv, NUL-ended */
	SNAP_UPG_START	= 67,	/* int64_t: when the VM started (seconds of
				   CLOCK_MONOTONIC), for its uptime */
};

struct snap_meminfo {
	uint64_t	size;		/* bytes of RAM, the memory file's size */
	uint64_t	lowmem;		/* [0, lowmem) then [4 GiB, ...) */
	uint64_t	hash;		/* snap_memhash() of the whole file */
};

struct snap_msr {
	uint32_t	index;
	uint32_t	pad;
	uint64_t	data;
};

/* The on-disk header, little-endian. */
struct snap_header {
	char		magic[8];
	uint32_t	version;
	uint32_t	header_size;	/* sizeof(struct snap_header) */
	uint64_t	body_len;
	uint32_t	body_crc;	/* CRC-32 (IEEE) of the body */
	uint32_t	header_crc;	/* CRC-32 of the bytes before this field */
};

struct snap_section {
	uint32_t	tag;
	uint32_t	inst;
	uint64_t	len;		/* bytes of data that follow */
};

/* A state being written or one that was read. */
struct snap {
	uint8_t		*buf;		/* the body */
	size_t		len, cap;
	int		err;		/* the first failure of snap_add */
};

void snap_init(struct snap *s);
void snap_free(struct snap *s);
/* Appends a section; a failure is kept in s->err for snap_write. */
int snap_add(struct snap *s, uint32_t tag, uint32_t inst, const void *data,
    size_t len);
/* The header that goes before s's body. */
void snap_header_make(const struct snap *s, struct snap_header *h);
/* Header and body to fd; name is the file, for the message. */
int snap_write(struct snap *s, int fd, const char *name);
/*
 * Reads and checks a whole state file: -EINVAL (foreign, wrong version,
 * corrupt) or -EIO (truncated, read error) with one line naming name.
 */
int snap_read(struct snap *s, int fd, const char *name);
/* The same from a stream that goes on after the snapshot. */
int snap_recv(struct snap *s, int fd, const char *name);
/* The data of section (tag, inst) and its length, or NULL. */
const void *snap_find(const struct snap *s, uint32_t tag, uint32_t inst,
    size_t *len);
/* Like snap_find, but the length must be exactly len: else one line
 * naming what, and NULL. */
const void *snap_get(const struct snap *s, uint32_t tag, uint32_t inst,
    size_t len, const char *what);
/* A section that older states lack: 0 and *data NULL when it is absent,
 * 0 and *data set when it has length len, else snap_get's line and
 * -EINVAL. */
int snap_get_opt(const struct snap *s, uint32_t tag, uint32_t inst,
    size_t len, const char *what, const void **data);

uint32_t snap_crc32(uint32_t crc, const void *p, size_t len);
/* A fast 64-bit hash of guest memory (not cryptographic). */
uint64_t snap_memhash(uint64_t h, const void *p, size_t len);

#endif
