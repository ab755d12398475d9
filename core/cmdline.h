#ifndef HYVE_CMDLINE_H
#define HYVE_CMDLINE_H

/*
 * bhyve's command line: parses argv into the config tree.  Returns 0 to go
 * on, 1 when it printed help and the program should exit 0, or -errno after
 * printing one line that names the option at fault (exit status 4).
 */
int cmdline_parse(int argc, char **argv);
void cmdline_usage(FILE *f);

#endif
