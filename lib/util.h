#ifndef HYVE_UTIL_H
#define HYVE_UTIL_H

/* Small helpers every process shares. */

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

#endif
