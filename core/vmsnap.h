#ifndef HYVE_VMSNAP_H
#define HYVE_VMSNAP_H

/*
 * Taking a snapshot of a running VM and restoring one (docs/SNAPSHOT.md).
 * A snapshot is a directory: SNAP_STATE_FILE (the configuration, every
 * vCPU, the VM's in-kernel devices and the core's devices) and
 * SNAP_MEM_FILE (guest RAM, sparse where it is zero).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct snap;

struct vmsnap_result {
	uint64_t	state_bytes, memory_bytes;
};

/*
 * Pauses the vCPUs, writes the state to state_fd and RAM to mem_fd (both
 * opened by the client, so the confined core opens no path), then resumes
 * the vCPUs or, unless resume, ends the VM (exit 1, powered off).  On
 * failure the VM runs on and err says why in one line.  -EAGAIN: a
 * device's backend is being restarted (or died during the snapshot),
 * nothing was written; the caller tries again once the supervisor had
 * its turn, for at most VMSNAP_WAIT_S seconds.
 */
#define VMSNAP_WAIT_S	10
int vmsnap_take(struct vm *vm, int state_fd, int mem_fd, bool resume,
    struct vmsnap_result *res, char *err, size_t errlen);
/*
 * -r DIR: the snapshot's configuration as defaults under what the command
 * line set (so it may name another console or control socket, not other
 * hardware).  Refuses a damaged state file with one line.
 */
int vmsnap_config(const char *dir);
/* Loads RAM and every state into vm, built from that configuration and
 * not yet running. */
int vmsnap_restore(struct vm *vm, const char *dir);

/*
 * Guest RAM alone (exposed for tests): writes vm's non-zero pages to fd
 * (sparse, as long as RAM) with their hash and byte count; loads DIR's
 * memory file into vm, whose RAM is cleared first, checking it against
 * mi (size, layout, hash).  0 or -errno (logged on load).
 */
struct snap_meminfo;
int vmsnap_ram_save(struct vm *vm, int fd, uint64_t *written, uint64_t *hash);
int vmsnap_ram_load(struct vm *vm, const char *dir,
    const struct snap_meminfo *mi);

/*
 * Walks a snapshot's memory file fd (path) from off to size: its data
 * extents a MiB at a time, every non-zero page folded into *hash with its
 * offset (if hash is given) and every run of them given to put(arg, p,
 * len, off).  0, or the first error (a read's logged), or -ECANCELED once
 * *stop (if given) is set.
 * The restore's two loaders share it (vmsnap.c, ramfill.c), and so does
 * ramfill_fetch for a part of the file.
 */
typedef int (*vmsnap_put_fn)(void *arg, const uint8_t *p, size_t len,
    uint64_t off);
int vmsnap_ram_walk(int fd, const char *path, uint64_t off, uint64_t size,
    vmsnap_put_fn put, void *arg, const bool *stop, uint64_t *hash);
/* The runs of non-zero pages of buf (len bytes of the file at off) to
 * put; each such page folded into *h too, if h is given. */
int vmsnap_put_runs(const uint8_t *buf, size_t len, uint64_t off,
    vmsnap_put_fn put, void *arg, uint64_t *h);
/* A page of zeros. */
bool vmsnap_page_zero(const uint8_t *p);

/* The state without RAM, vCPUs paused: the configuration, every device
 * (its rings stopped; with backends, their own state), every vCPU. */
int vmsnap_build(struct vm *vm, struct snap *s, bool backends);
/* Loads it into a VM not yet running; live (an upgrade): time went on,
 * and the rings wait for vpci_start. */
int vmsnap_load(struct vm *vm, const struct snap *s, bool live);
/* Adds the configuration as one section of key=value lines. */
int vmsnap_save_config(struct snap *s);
/* Parses the configuration section into defaults (as vmsnap_config). */
int vmsnap_config_from(const struct snap *s, const char *what);

#endif
