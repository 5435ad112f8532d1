/* Exit paths that cannot go back to the loop (exit_path.c): JVM hooks,
 * forced stop. Deregister, tell systemd, remove our files, print one line,
 * _exit. */
#ifndef SPARKSHIM_EXIT_PATH_H
#define SPARKSHIM_EXIT_PATH_H

#include <stddef.h>

#include "base/lifecycle.h"
#include "launcher/engine.h"

void exit_now(int code, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
/* exit_now for a forced stop (a second SIGTERM): it does not wait on a
 * deregistration a worker already has under way (ZooKeeper may hang; it
 * drops the node with our session). */
void exit_forced(int code, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
void exit_paths_install(struct engine *s);
/* jvm_launch hooks (see jni/jvm_host.h). */
void shim_hook_exit(int status);
void shim_hook_abort(void);
void shim_hook_oom(void);
void cleanup_files(void);

/* How Spark's JVM ended, as either exit path sees it: the exit hook
 * (System.exit) or the JVM thread (SparkSubmit.main returned or threw). */
struct jvm_end {
	enum shim_state state;  /* lifecycle state when it ended (not stopping) */
	int system_exit;        /* 1: System.exit(status); 0: main returned */
	int status;             /* the System.exit status */
	const char *exception;  /* what Spark threw or last logged, "" if nothing */
};

/* The one classification of an unplanned end: returns the exit code and
 * writes the final line to msg. (A stop under way keeps its own code.) */
int classify_exit(const struct jvm_end *end, char *msg, size_t msglen);

#endif
