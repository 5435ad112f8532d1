/* All process signals the shim owns arrive through one signalfd read by the
 * main loop. They are blocked in every thread before any thread (JVM,
 * gRPC, ZooKeeper) exists, so no other thread can take them; the JVM runs
 * with -Xrs and never installs handlers for them. */
#ifndef SPARKSHIM_SIGNALS_H
#define SPARKSHIM_SIGNALS_H

/* Block TERM, INT, HUP, QUIT, USR1 in the calling (main) thread and ignore
 * SIGPIPE. Returns a signalfd (CLOEXEC, non-blocking) or -1. */
int signals_setup(void);
/* Next pending signal number, 0 if none. */
int signals_next(int fd);
const char *signal_name(int sig);

#endif
