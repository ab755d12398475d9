#ifndef HYVE_LOG_H
#define HYVE_LOG_H

/*
 * Logs go to stderr prefixed with the process role: "hyve[vm0]: ..." for the
 * core, "hyve[blk0]: ..." for a backend.
 */
void log_set_role(const char *role);
const char *log_role(void);
/* The bare role name ("blk0"). */
const char *log_name(void);
void hlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Like hlog, but only the first time the given once-flag is seen clear. */
void hlog_once(int *once, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
