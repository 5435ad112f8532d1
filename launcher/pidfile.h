/* A pid file that is also a lock: flock() on it is held for the process's
 * life, so a second instance is refused even if a stale file remains. */
#ifndef SPARKSHIM_PIDFILE_H
#define SPARKSHIM_PIDFILE_H

#include <stddef.h>

/* 0 = written and locked; -1 = error (err); -2 = held by another instance. */
int pidfile_acquire(const char *path, char *err, size_t errlen);
void pidfile_release(void); /* unlink + close; async-signal-safe enough for exit paths */

#endif
