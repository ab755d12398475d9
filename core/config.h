#ifndef HYVE_CONFIG_H
#define HYVE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/*
 * The configuration: bhyve_config(5)'s tree of dotted keys with string
 * values ("cpus", "memory.size", "pci.0.3.0.device", "lpc.com1.path",
 * "boot.kernel", ...).  One global tree per process, as in bhyve.
 * Every function that fails prints one line naming the key or file at fault
 * and returns -errno.
 */
void config_reset(void);
/* -EINVAL for a malformed path (empty component, bad characters) or a
 * path that would turn a value into a node or back. */
int config_set(const char *path, const char *value);
/* Like config_set, but does not replace an existing value. */
int config_set_default(const char *path, const char *value);
int config_unset(const char *path);
const char *config_get(const char *path);		/* NULL if unset */
const char *config_get_default(const char *path, const char *def);
bool config_node_exists(const char *path);
/* Typed getters: def if unset; -EINVAL (naming the key) if malformed. */
int config_get_bool(const char *path, bool def, bool *out);
int config_get_uint(const char *path, uint64_t def, uint64_t *out);
/* Sizes accept K, M, G, T suffixes (powers of 1024). */
int config_get_size(const char *path, uint64_t def, uint64_t *out);
int parse_size(const char *s, uint64_t *out);
int parse_bool(const char *s, bool *out);
/* Calls fn for every value under prefix ("" for all), in sorted order. */
int config_foreach(const char *prefix,
    int (*fn)(const char *path, const char *value, void *arg), void *arg);
/* Immediate children node names of prefix, e.g. for "pci.0": "3", "31". */
int config_foreach_child(const char *prefix,
    int (*fn)(const char *name, void *arg), void *arg);
/* node.k (e.g. "pci.0.3.0" and "path"): its value, or NULL. */
const char *config_node_get(const char *node, const char *k);
/* node.k as a boolean; false if unset or not a boolean. */
bool config_node_bool(const char *node, const char *k);
/* -k: key=value lines, '#' comments, blank lines.  Errors name file:line. */
int config_load_file(const char *file);
/* config.dump=1: every key=value, sorted, one per line. */
void config_dump(FILE *f);
/* Checks every key against the known-key table; an unknown key is an
 * error naming it (so a typo never silently does nothing). */
int config_check_keys(void);

#endif
