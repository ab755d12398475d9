#ifndef HYVE_IPC_CONTROL_H
#define HYVE_IPC_CONTROL_H

/*
 * The control protocol between hyvectl and a running hyve, over the unix
 * stream socket /run/hyve/NAME.sock (or -o control.path=PATH).
 *
 * One JSON object per line, each line ending in '\n'.  A request line is
 * at most CTL_MAX_LINE bytes, the newline included; a longer one is
 * answered with an error and the connection is closed.  Responses may be
 * longer (an audit lists every open fd).  Requests:
 *
 *	{"version":1,"cmd":"status","vm":"vm0"}
 *	{"version":1,"cmd":"audit","vm":"vm0"}
 *	{"version":1,"cmd":"poweroff","vm":"vm0","force":true}
 *	{"version":1,"cmd":"stats","vm":"vm0"}
 *	{"version":1,"cmd":"restart","vm":"vm0","device":"blk0"}
 *	{"version":1,"cmd":"swap","vm":"vm0","device":"blk0",
 *	    "backend":"/path/hyve-blk","path":"/img2"}
 *	{"version":1,"cmd":"snapshot","vm":"vm0","path":"/snaps/a",
 *	    "resume":true}
 *	{"version":1,"cmd":"upgrade","vm":"vm0","binary":"/usr/bin/hyve",
 *	    "timeout":10000}
 *
 *	version	integer, must be 1 (required)
 *	cmd	"status", "audit", "poweroff", "stats", "restart", "swap",
 *		"snapshot" or "upgrade" (required)
 *	vm	string, the VM's name; if given it must be the name of the VM
 *		behind the socket (optional)
 *	force	boolean, poweroff only: end the VM at once instead of
 *		pressing the ACPI power button (optional, default false)
 *	device	string, restart and swap: the device ("blk0") (required)
 *	backend	string, swap only: a new backend binary (optional)
 *	path	string, swap only: a new disk image for a virtio-blk device
 *	tap	string, swap only: a new tap for a virtio-net device
 *	path	snapshot: the snapshot's directory, for messages; the request
 *		line arrives with two descriptors (SCM_RIGHTS), the state file
 *		and the memory file, opened for writing by the client
 *	resume	boolean, snapshot only: run on afterwards (default: the VM
 *		ends once the snapshot is written)
 *	binary	string, upgrade only: the new core's binary (default: the
 *		path hyve was started from, read again)
 *	timeout	integer, upgrade only: milliseconds the new core has to
 *		report ready (default CTL_UPGRADE_TIMEOUT_MS)
 *
 * Any other field is an error.  Every request gets exactly one response
 * line, in order:
 *
 *	{"version":1,"ok":true,"result":{...}}
 *	{"version":1,"ok":false,"error":"what is wrong, and what to do"}
 *
 * status result: name, pid, uptime (seconds), cpus, memory (bytes), state
 * ("running" or "stopping"), devices: [{name, emulation, slot "B:S:F",
 * pid (backend pid or null), state "running"|"failed"|"needs-reset"}].
 * audit result: name, processes: [{role ("core", "blk", ...), name, pid,
 * audit (sandbox_audit_json()'s object, null if unreadable), verdict "OK" or
 * "FAIL", reason (why not OK, else null)}].
 * poweroff result: {action: "power button pressed"|"forced off"}.
 * snapshot result: {path, state_bytes, memory_bytes, resumed}.
 * upgrade result: {binary, old_pid, pid (the new core), pause_ms}.
 * stats result: devices: [{name, restarts, requests, bytes, errors, kicks,
 * interrupts}].  restart and swap result: {device, pid (the new backend)}.
 * status devices also carry restarts and last_exit (why the last backend
 * ended, or null), and state may be "restarting".
 *
 * Only processes with the core's uid (or root) may connect.
 */

#include <sys/socket.h>
#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>

#define CTL_VERSION	1
#define CTL_MAX_LINE	(64 * 1024)
#define CTL_DIR		"/run/hyve"

enum ctl_cmd {
	CTL_NONE = 0,
	CTL_STATUS,
	CTL_AUDIT,
	CTL_POWEROFF,
	CTL_STATS,
	CTL_RESTART,
	CTL_SWAP,
	CTL_SNAPSHOT,
	CTL_UPGRADE,
};

#define CTL_UPGRADE_TIMEOUT_MS	30000

struct ctl_req {
	int		version;
	enum ctl_cmd	cmd;
	char		vm[64];		/* "" when not given */
	bool		force;
	bool		resume;		/* snapshot */
	char		device[32];	/* restart, swap */
	char		backend[1024];	/* swap: "" when not given; upgrade:
					   "binary" */
	int		timeout_ms;	/* upgrade: 0 when not given */
	char		path[1024];
	char		tap[32];
};

const char *ctl_cmd_name(enum ctl_cmd cmd);
/* CTL_NONE if name is not a command. */
enum ctl_cmd ctl_cmd_lookup(const char *name);

/*
 * Parses one request line of len bytes (without its newline).  -EINVAL,
 * -EMSGSIZE or -EPROTO with a message for the client in err.
 */
int ctl_parse_request(const char *line, size_t len, struct ctl_req *req,
    char *err, size_t errlen);
/* The request as one line ending in '\n' (malloc'd), or NULL. */
char *ctl_build_request(const struct ctl_req *req);

/* Response lines ending in '\n' (malloc'd), or NULL.  ctl_build_ok takes
 * the reference to result; NULL means an empty object. */
char *ctl_build_ok(json_object *result);
char *ctl_build_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/*
 * Parses a response line: 0 and *result (the caller's reference) when ok;
 * 1 and the VM's message in err when the VM reports an error; -EPROTO and
 * what is wrong in err when the line is not a valid response.
 */
int ctl_parse_response(const char *line, size_t len, json_object **result,
    char *err, size_t errlen);

/*
 * Whether the peer of the connected socket fd runs as root or as owner:
 * 0 if so, -EACCES if not, -errno if it cannot be told.  *cr is the peer's
 * credentials, for the caller's message.
 */
int ctl_peer_check(int fd, uid_t owner, struct ucred *cr);

/*
 * recv on fd without waiting, keeping the descriptors that come along in
 * fds[*nfds...] up to max in all (more are closed).  recvmsg's result.
 */
ssize_t ctl_recv_fds(int fd, char *p, size_t room, int *fds, int *nfds,
    int max);

/* Splits a byte stream into lines of at most CTL_MAX_LINE bytes. */
struct ctl_lines {
	char	buf[CTL_MAX_LINE];
	size_t	len;		/* bytes held */
	size_t	used;		/* bytes of the line last returned */
};

void ctl_lines_init(struct ctl_lines *l);
/* Where to put more bytes, and how many fit (0: the buffer is full). */
char *ctl_lines_space(struct ctl_lines *l, size_t *room);
void ctl_lines_added(struct ctl_lines *l, size_t n);
/*
 * 1 and the next line (NUL-terminated in place, without its newline; valid
 * until the next call), 0 if no complete line is held yet, -EMSGSIZE if a
 * line is longer than CTL_MAX_LINE.
 */
int ctl_lines_next(struct ctl_lines *l, char **line, size_t *len);

#endif
