/*
 * The control protocol: building and strictly parsing request and response
 * lines (see ipc/control.h).  The peer is trusted no more than the guest:
 * every field is checked for presence and type.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "ipc/control.h"

static const char *const cmd_names[] = {
	[CTL_STATUS] = "status",
	[CTL_AUDIT] = "audit",
	[CTL_POWEROFF] = "poweroff",
	[CTL_STATS] = "stats",
	[CTL_RESTART] = "restart",
	[CTL_SWAP] = "swap",
	[CTL_SNAPSHOT] = "snapshot",
	[CTL_UPGRADE] = "upgrade",
};
#define NCMDS	(sizeof(cmd_names) / sizeof(cmd_names[0]))
#define CMD_LIST "status, audit, poweroff, stats, restart, swap, snapshot or upgrade"

const char *
ctl_cmd_name(enum ctl_cmd cmd)
{
	if ((unsigned)cmd >= NCMDS || cmd_names[cmd] == NULL)
		return "?";
	return cmd_names[cmd];
}

enum ctl_cmd
ctl_cmd_lookup(const char *name)
{
	size_t i;

	for (i = 1; i < NCMDS; i++)
		if (strcmp(name, cmd_names[i]) == 0)
			return i;
	return CTL_NONE;
}

static const char *
type_name(json_object *o)
{
	return json_type_to_name(json_object_get_type(o));
}

/*
 * Parses exactly one JSON value from [s, s+len): malformed JSON, invalid
 * UTF-8 and trailing bytes other than white space are errors.
 */
static json_object *
parse_json(const char *s, size_t len, const char *what, char *err,
    size_t errlen)
{
	struct json_tokener *tok;
	json_object *o;
	enum json_tokener_error je;
	size_t end;
	const char *nul;

	if ((nul = memchr(s, '\0', len)) != NULL) {
		snprintf(err, errlen, "%s contains a NUL byte at offset %zu",
		    what, (size_t)(nul - s));
		return NULL;
	}
	if (len == 0) {
		snprintf(err, errlen, "empty %s line (send one JSON object "
		    "per line)", what);
		return NULL;
	}
	if ((tok = json_tokener_new()) == NULL) {
		snprintf(err, errlen, "out of memory parsing the %s", what);
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, s, (int)len);
	je = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (je == json_tokener_continue) {
		/* A bare number ends only at the next byte: give it one. */
		o = json_tokener_parse_ex(tok, " ", 1);
		je = json_tokener_get_error(tok);
		end = len;
	}
	json_tokener_free(tok);
	if (je == json_tokener_continue) {
		snprintf(err, errlen, "%s is not valid JSON: it ends early",
		    what);
		return NULL;
	}
	if (o == NULL || je != json_tokener_success) {
		snprintf(err, errlen, "%s is not valid JSON: %s at byte %zu",
		    what, json_tokener_error_desc(je), end);
		json_object_put(o);
		return NULL;
	}
	for (; end < len; end++) {
		if (s[end] != ' ' && s[end] != '\t' && s[end] != '\r') {
			snprintf(err, errlen, "%s has bytes after its JSON value "
			    "at byte %zu (send one object per line)", what, end);
			json_object_put(o);
			return NULL;
		}
	}
	return o;
}

static int
check_version(json_object *o, const char *what, char *err, size_t errlen)
{
	json_object *v;
	int64_t n;

	if (!json_object_object_get_ex(o, "version", &v)) {
		snprintf(err, errlen, "%s has no \"version\" (send "
		    "\"version\":%d)", what, CTL_VERSION);
		return -EINVAL;
	}
	if (!json_object_is_type(v, json_type_int)) {
		snprintf(err, errlen, "\"version\" must be an integer, not %s",
		    type_name(v));
		return -EINVAL;
	}
	n = json_object_get_int64(v);
	if (n != CTL_VERSION) {
		snprintf(err, errlen, "%s version %lld is not supported (this "
		    "hyve speaks version %d)", what, (long long)n, CTL_VERSION);
		return -EPROTO;
	}
	return 0;
}

static int
check_fields(json_object *o, const char *req_cmd, char *err, size_t errlen)
{
	json_object_object_foreach(o, key, val) {
		(void)val;
		if (strcmp(key, "version") == 0 || strcmp(key, "cmd") == 0 ||
		    strcmp(key, "vm") == 0)
			continue;
		if (strcmp(key, "force") == 0) {
			if (strcmp(req_cmd, "poweroff") == 0)
				continue;
			snprintf(err, errlen, "\"force\" applies only to "
			    "poweroff, not to %s", req_cmd);
			return -EINVAL;
		}
		if (strcmp(key, "device") == 0) {
			if (strcmp(req_cmd, "restart") == 0 ||
			    strcmp(req_cmd, "swap") == 0)
				continue;
			snprintf(err, errlen, "\"device\" applies only to "
			    "restart and swap, not to %s", req_cmd);
			return -EINVAL;
		}
		if (strcmp(key, "resume") == 0 ||
		    (strcmp(key, "path") == 0 && strcmp(req_cmd, "swap") != 0)) {
			if (strcmp(req_cmd, "snapshot") == 0)
				continue;
			snprintf(err, errlen, "\"%s\" applies only to %s, "
			    "not to %s", key, strcmp(key, "path") == 0 ?
			    "swap and snapshot" : "snapshot", req_cmd);
			return -EINVAL;
		}
		if (strcmp(key, "backend") == 0 || strcmp(key, "path") == 0 ||
		    strcmp(key, "tap") == 0) {
			if (strcmp(req_cmd, "swap") == 0)
				continue;
			snprintf(err, errlen, "\"%s\" applies only to swap, "
			    "not to %s", key, req_cmd);
			return -EINVAL;
		}
		if (strcmp(key, "binary") == 0 || strcmp(key, "timeout") == 0) {
			if (strcmp(req_cmd, "upgrade") == 0)
				continue;
			snprintf(err, errlen, "\"%s\" applies only to upgrade, "
			    "not to %s", key, req_cmd);
			return -EINVAL;
		}
		snprintf(err, errlen, "unknown field \"%.32s\" in the request "
		    "(known: version, cmd, vm, force, device, backend, path, "
		    "tap, resume, binary, timeout)", key);
		return -EINVAL;
	}
	return 0;
}

/* An optional string field into buf: present means 1..len-1 bytes. */
static int
get_str(json_object *o, const char *key, char *buf, size_t len, char *err,
    size_t errlen)
{
	json_object *v;
	const char *s;

	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_string)) {
		snprintf(err, errlen, "\"%s\" must be a string, not %s", key,
		    type_name(v));
		return -EINVAL;
	}
	s = json_object_get_string(v);
	if (strlen(s) == 0 || strlen(s) >= len) {
		snprintf(err, errlen, "\"%s\" must be 1 to %zu bytes", key,
		    len - 1);
		return -EINVAL;
	}
	snprintf(buf, len, "%s", s);
	return 0;
}

int
ctl_parse_request(const char *line, size_t len, struct ctl_req *req,
    char *err, size_t errlen)
{
	json_object *o, *v;
	const char *s;
	int rc = -EINVAL;

	memset(req, 0, sizeof(*req));
	if (len >= CTL_MAX_LINE) {
		snprintf(err, errlen, "request line of %zu bytes is longer than "
		    "%d", len, CTL_MAX_LINE - 1);
		return -EMSGSIZE;
	}
	if ((o = parse_json(line, len, "request", err, errlen)) == NULL)
		return -EINVAL;
	if (!json_object_is_type(o, json_type_object)) {
		snprintf(err, errlen, "request must be a JSON object, not %s",
		    type_name(o));
		goto out;
	}
	if ((rc = check_version(o, "request", err, errlen)) < 0)
		goto out;
	rc = -EINVAL;
	if (!json_object_object_get_ex(o, "cmd", &v)) {
		snprintf(err, errlen, "request has no \"cmd\" (one of %s)",
		    CMD_LIST);
		goto out;
	}
	if (!json_object_is_type(v, json_type_string)) {
		snprintf(err, errlen, "\"cmd\" must be a string, not %s",
		    type_name(v));
		goto out;
	}
	s = json_object_get_string(v);
	if ((req->cmd = ctl_cmd_lookup(s)) == CTL_NONE) {
		snprintf(err, errlen, "unknown cmd \"%.32s\" (use %s)", s,
		    CMD_LIST);
		goto out;
	}
	if (check_fields(o, s, err, errlen) < 0)
		goto out;
	if (json_object_object_get_ex(o, "vm", &v)) {
		if (!json_object_is_type(v, json_type_string)) {
			snprintf(err, errlen, "\"vm\" must be a string, not %s",
			    type_name(v));
			goto out;
		}
		s = json_object_get_string(v);
		if (strlen(s) == 0 || strlen(s) >= sizeof(req->vm)) {
			snprintf(err, errlen, "\"vm\" must be a name of 1 to "
			    "%zu bytes", sizeof(req->vm) - 1);
			goto out;
		}
		snprintf(req->vm, sizeof(req->vm), "%s", s);
	}
	if (json_object_object_get_ex(o, "force", &v)) {
		if (!json_object_is_type(v, json_type_boolean)) {
			snprintf(err, errlen, "\"force\" must be true or false, "
			    "not %s", type_name(v));
			goto out;
		}
		req->force = json_object_get_boolean(v);
	}
	if (json_object_object_get_ex(o, "resume", &v)) {
		if (!json_object_is_type(v, json_type_boolean)) {
			snprintf(err, errlen, "\"resume\" must be true or false, "
			    "not %s", type_name(v));
			goto out;
		}
		req->resume = json_object_get_boolean(v);
	}
	if (json_object_object_get_ex(o, "timeout", &v)) {
		if (!json_object_is_type(v, json_type_int) ||
		    json_object_get_int64(v) < 1 ||
		    json_object_get_int64(v) > 3600000) {
			snprintf(err, errlen, "\"timeout\" must be milliseconds "
			    "from 1 to 3600000");
			goto out;
		}
		req->timeout_ms = json_object_get_int64(v);
	}
	if (req->cmd == CTL_UPGRADE && get_str(o, "binary", req->backend,
	    sizeof(req->backend), err, errlen) < 0)
		goto out;
	if (get_str(o, "device", req->device, sizeof(req->device), err,
	    errlen) < 0 || get_str(o, "backend", req->backend,
	    sizeof(req->backend), err, errlen) < 0 || get_str(o, "path",
	    req->path, sizeof(req->path), err, errlen) < 0 || get_str(o, "tap",
	    req->tap, sizeof(req->tap), err, errlen) < 0)
		goto out;
	if ((req->cmd == CTL_RESTART || req->cmd == CTL_SWAP) &&
	    req->device[0] == '\0') {
		snprintf(err, errlen, "%s needs \"device\" (a name from status, "
		    "such as blk0)", ctl_cmd_name(req->cmd));
		goto out;
	}
	if (req->cmd == CTL_SNAPSHOT && req->path[0] == '\0') {
		snprintf(err, errlen, "snapshot needs \"path\" (the snapshot's "
		    "directory)");
		goto out;
	}
	if (req->path[0] != '\0' && req->tap[0] != '\0') {
		snprintf(err, errlen, "give \"path\" or \"tap\", not both");
		goto out;
	}
	req->version = CTL_VERSION;
	rc = 0;
out:
	json_object_put(o);
	return rc;
}

/* o as one plain line ending in '\n'; drops the reference to o. */
static char *
to_line(json_object *o)
{
	const char *s;
	char *line = NULL;

	if (o == NULL)
		return NULL;
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s != NULL && asprintf(&line, "%s\n", s) < 0)
		line = NULL;
	json_object_put(o);
	return line;
}

char *
ctl_build_request(const struct ctl_req *req)
{
	json_object *o;

	if (req->cmd == CTL_NONE || (unsigned)req->cmd >= NCMDS)
		return NULL;
	if ((o = json_object_new_object()) == NULL)
		return NULL;
	json_object_object_add(o, "version", json_object_new_int(CTL_VERSION));
	json_object_object_add(o, "cmd",
	    json_object_new_string(ctl_cmd_name(req->cmd)));
	if (req->vm[0] != '\0')
		json_object_object_add(o, "vm", json_object_new_string(req->vm));
	if (req->cmd == CTL_POWEROFF && req->force)
		json_object_object_add(o, "force", json_object_new_boolean(1));
	if (req->cmd == CTL_SNAPSHOT && req->resume)
		json_object_object_add(o, "resume", json_object_new_boolean(1));
	if (req->device[0] != '\0')
		json_object_object_add(o, "device",
		    json_object_new_string(req->device));
	if (req->backend[0] != '\0')
		json_object_object_add(o, req->cmd == CTL_UPGRADE ? "binary" :
		    "backend", json_object_new_string(req->backend));
	if (req->cmd == CTL_UPGRADE && req->timeout_ms > 0)
		json_object_object_add(o, "timeout",
		    json_object_new_int(req->timeout_ms));
	if (req->path[0] != '\0')
		json_object_object_add(o, "path", json_object_new_string(req->path));
	if (req->tap[0] != '\0')
		json_object_object_add(o, "tap", json_object_new_string(req->tap));
	return to_line(o);
}

char *
ctl_build_ok(json_object *result)
{
	json_object *o;

	if (result == NULL && (result = json_object_new_object()) == NULL)
		return NULL;
	if ((o = json_object_new_object()) == NULL) {
		json_object_put(result);
		return NULL;
	}
	json_object_object_add(o, "version", json_object_new_int(CTL_VERSION));
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	json_object_object_add(o, "result", result);
	return to_line(o);
}

char *
ctl_build_error(const char *fmt, ...)
{
	json_object *o;
	va_list ap;
	char msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if ((o = json_object_new_object()) == NULL)
		return NULL;
	json_object_object_add(o, "version", json_object_new_int(CTL_VERSION));
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(msg));
	return to_line(o);
}

int
ctl_parse_response(const char *line, size_t len, json_object **result,
    char *err, size_t errlen)
{
	json_object *o, *ok, *v;
	int rc = -EPROTO;

	*result = NULL;
	if ((o = parse_json(line, len, "response", err, errlen)) == NULL)
		return -EPROTO;
	if (!json_object_is_type(o, json_type_object)) {
		snprintf(err, errlen, "response must be a JSON object, not %s",
		    type_name(o));
		goto out;
	}
	if (check_version(o, "response", err, errlen) < 0)
		goto out;
	if (!json_object_object_get_ex(o, "ok", &ok) ||
	    !json_object_is_type(ok, json_type_boolean)) {
		snprintf(err, errlen, "response has no boolean \"ok\"");
		goto out;
	}
	if (!json_object_get_boolean(ok)) {
		if (!json_object_object_get_ex(o, "error", &v) ||
		    !json_object_is_type(v, json_type_string)) {
			snprintf(err, errlen, "error response has no "
			    "\"error\" string");
			goto out;
		}
		snprintf(err, errlen, "%s", json_object_get_string(v));
		rc = 1;
		goto out;
	}
	if (!json_object_object_get_ex(o, "result", &v) ||
	    !json_object_is_type(v, json_type_object)) {
		snprintf(err, errlen, "response has no \"result\" object");
		goto out;
	}
	*result = json_object_get(v);
	rc = 0;
out:
	json_object_put(o);
	return rc;
}

void
ctl_lines_init(struct ctl_lines *l)
{
	l->len = 0;
	l->used = 0;
}

/* Drops the line returned last. */
static void
ctl_lines_drop(struct ctl_lines *l)
{
	if (l->used == 0)
		return;
	memmove(l->buf, l->buf + l->used, l->len - l->used);
	l->len -= l->used;
	l->used = 0;
}

char *
ctl_lines_space(struct ctl_lines *l, size_t *room)
{
	ctl_lines_drop(l);
	*room = sizeof(l->buf) - l->len;
	return l->buf + l->len;
}

void
ctl_lines_added(struct ctl_lines *l, size_t n)
{
	if (n > sizeof(l->buf) - l->len)
		n = sizeof(l->buf) - l->len;
	l->len += n;
}

int
ctl_lines_next(struct ctl_lines *l, char **line, size_t *len)
{
	char *nl;

	ctl_lines_drop(l);
	nl = memchr(l->buf, '\n', l->len);
	if (nl == NULL)
		return l->len == sizeof(l->buf) ? -EMSGSIZE : 0;
	*nl = '\0';
	*line = l->buf;
	*len = nl - l->buf;
	l->used = *len + 1;
	return 1;
}

int
ctl_peer_check(int fd, uid_t owner, struct ucred *cr)
{
	socklen_t len = sizeof(*cr);

	memset(cr, 0, sizeof(*cr));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cr, &len) < 0)
		return -errno;
	return cr->uid == 0 || cr->uid == owner ? 0 : -EACCES;
}

ssize_t
ctl_recv_fds(int fd, char *p, size_t room, int *fds, int *nfds, int max)
{
	char cbuf[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov = { p, room };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	ssize_t n;
	int got;

	n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return n;
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < k; i++) {
			memcpy(&got, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (*nfds < max)
				fds[(*nfds)++] = got;
			else
				close(got);
		}
	}
	return n;
}
