/* The one process-wide record the launcher's steps share. Owned by main();
 * the supervisor loop and the exit paths read it. */
#ifndef SPARKSHIM_ENGINE_H
#define SPARKSHIM_ENGINE_H

#include <stdint.h>

#include "base/conf.h"
#include "base/strvec.h"
#include "jni/java_locate.h"
#include "jni/spark_home.h"
#include "launcher/cli.h"
#include "launcher/settings.h"

struct engine {
	struct cli cli;
	struct settings settings;
	struct conf spark_conf;       /* effective Spark conf (defaults + --conf) */
	struct spark_home home;
	struct java_install java;
	struct strvec submit_args;    /* what SparkSubmit.main gets, adjusted for connect */
	char probe_host[256];         /* where the connect port is probed */
	int signal_fd;
	int using_standin;

	/* supervisor state */
	int jvm_created;
	int jvm_gone;
	int stopping;                 /* a stop has begun; exit_code is final */
	int exit_code;
	char stop_reason[1200];       /* why we stop; the final error line when exit_code != 0 */
	int spark_stop_sent;
	int connect_port;
	int ready_announced;
	int64_t start_deadline_ms;    /* monotonic */
	int64_t stop_deadline_ms;     /* monotonic, 0 = none */
	int64_t ready_epoch_ms;
	int64_t drain_since_ms;
};

/* Steps of main, each 0 on success or an exit code (after printing the
 * one-line error). */
int setup_spark_home(struct engine *s);
int setup_conf_and_settings(struct engine *s);
int setup_java(struct engine *s);
int setup_connect_args(struct engine *s);
int check_connect_port_free(struct engine *s);
int start_engine_jvm(struct engine *s);

/* The poll loop; returns the exit code. */
int supervise(struct engine *s);

/* Exit paths that cannot go back to the loop (JVM hooks, forced stop):
 * deregister, tell systemd, remove our files, print one line, _exit. */
void exit_now(int code, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
void exit_paths_install(struct engine *s);
/* jvm_launch hooks (see jni/jvm_host.h). */
void shim_hook_exit(int status);
void shim_hook_abort(void);
void shim_hook_oom(void);
void cleanup_files(void);

#endif
