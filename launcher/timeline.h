/* The start-up timeline in the debug log: each phase's start and end in ms
 * since exec (exec from /proc/self/stat, 10 ms resolution; everything after
 * main() is on the monotonic clock). One line per phase when it ends:
 *   timeline: launcher 12-15 ms (3 ms) */
#ifndef SPARKSHIM_TIMELINE_H
#define SPARKSHIM_TIMELINE_H

#include <stdint.h>

void timeline_init(void);                 /* first thing in main() */
int64_t timeline_now(void);               /* ms since exec */
void timeline_phase(const char *name, int64_t start_ms); /* logs start..now */
void timeline_point(const char *name);    /* logs an instant */

#endif
