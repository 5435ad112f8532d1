/* Exit paths that cannot go back to the loop (exit_path.c): JVM hooks,
 * forced stop. Deregister, tell systemd, remove our files, print one line,
 * _exit. */
#ifndef SPARKSHIM_EXIT_PATH_H
#define SPARKSHIM_EXIT_PATH_H

#include "launcher/engine.h"

void exit_now(int code, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
void exit_paths_install(struct engine *s);
/* jvm_launch hooks (see jni/jvm_host.h). */
void shim_hook_exit(int status);
void shim_hook_abort(void);
void shim_hook_oom(void);
void cleanup_files(void);

#endif
