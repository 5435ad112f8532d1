/* The ways out that do not return to the main loop: the JVM calling
 * System.exit or crashing (we are inside its hooks, on a VM thread, and the
 * process ends when we return), and forced stops. Each does the same short
 * list: deregister from the gateway first, tell systemd, remove our files,
 * say one line, _exit with a code that names the cause. */
#include "launcher/exit_path.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/exitcodes.h"
#include "base/lifecycle.h"
#include "base/log.h"
#include "base/statefile.h"
#include "jni/output_tap.h"
#include "launcher/pidfile.h"
#include "launcher/sdnotify.h"
#include "shim/registry/registry.h"

static struct engine *S;

void exit_paths_install(struct engine *s) { S = s; }

void cleanup_files(void)
{
	statefile_remove();
	pidfile_release();
}

static void __attribute__((noreturn)) vexit(int code, int deregister, const char *fmt, va_list ap)
{
	if (deregister)
		registry_deregister();
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	lifecycle_fire(code == 0 ? TR_STOPPED : TR_FAIL, msg);
	sdn_stopping(msg);
	cleanup_files();
	/* Let the JVM's last lines through before ours. */
	output_tap_stop(1000);
	if (code == 0)
		log_info("%s", msg);
	else
		die_msg("%s", msg);
	_exit(code);
}

void exit_now(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vexit(code, 1, fmt, ap);
}

void exit_forced(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vexit(code, !(S && S->dereg == JOB_RUNNING), fmt, ap);
}

#define CONNECT_JAR_HINT                                                                       \
	"Spark 3.5 needs the connect jar: --packages "                                         \
	"org.apache.spark:spark-connect_<scala>:<version> or --jars <spark-connect jar>"

int classify_exit(const struct jvm_end *end, char *msg, size_t len)
{
	const char *exc = end->exception ? end->exception : "";
	int n = end->status;
	if (end->system_exit && end->state != ST_STARTING) {
		snprintf(msg, len, "Spark called System.exit(%d); the engine stops with its status", n);
		return n & 0xff;
	}
	if (strstr(exc, "OutOfMemoryError")) {
		snprintf(msg, len, "the JVM ran out of memory%s: %s",
			 end->state == ST_STARTING ? " while Spark started" : "", exc);
		return EXIT_JVM_OOM;
	}
	if (end->state != ST_STARTING) {
		if (exc[0])
			snprintf(msg, len, "Spark failed while serving: %s", exc);
		else
			snprintf(msg, len, "Spark stopped on its own while serving");
		return EXIT_SPARK_DIED;
	}
	/* Still starting. A bind failure is the connect port's only when it
	 * names no other service: Spark's web UI (4040 and up) fails with
	 * "Service 'SparkUI' failed after N retries" and then System.exit(1). */
	if (strstr(exc, "BindException") || strstr(exc, "Failed to bind")) {
		const char *svc = strstr(exc, "Service '");
		if (svc && strncmp(svc, "Service 'SparkUI'", 17) == 0) {
			snprintf(msg, len,
				 "Spark failed to start: its web UI could not bind a port (spark.ui.port, "
				 "spark.port.maxRetries; or spark.ui.enabled=false): %s", exc);
			return EXIT_SPARK_START;
		}
		if (svc && !strstr(svc, "SparkConnectService'")) {
			snprintf(msg, len, "Spark failed to start: one of its services could not bind a port: %s",
				 exc);
			return EXIT_SPARK_START;
		}
		snprintf(msg, len, "Spark Connect could not bind its port: %s", exc);
		return EXIT_PORT_IN_USE;
	}
	if (end->system_exit && n == 101) /* SparkSubmit: "Failed to load class" */
		snprintf(msg, len,
			 "Spark failed to start: SparkSubmit could not load the main class (exit 101)%s%s; " CONNECT_JAR_HINT,
			 exc[0] ? ": " : "", exc);
	else if (!end->system_exit && strstr(exc, "ClassNotFoundException") && strstr(exc, "connect"))
		snprintf(msg, len, "Spark failed to start: %s. " CONNECT_JAR_HINT, exc);
	else if (exc[0] && end->system_exit)
		snprintf(msg, len, "Spark failed to start: %s (then System.exit(%d))", exc, n);
	else if (exc[0])
		snprintf(msg, len, "Spark failed to start: %s", exc);
	else if (end->system_exit)
		snprintf(msg, len, "Spark failed to start: System.exit(%d)", n);
	else
		snprintf(msg, len, "Spark returned before its connect server started");
	return EXIT_SPARK_START;
}

/* What does a System.exit mean, given where we are? */
void shim_hook_exit(int status)
{
	char exc[700], msg[1200];
	output_tap_stop(1000);
	output_tap_last_exception(exc, sizeof(exc));
	enum shim_state st = lifecycle_state();
	if (state_is_stopping(st)) {
		if (S && S->exit_code)
			exit_now(S->exit_code, "%s", S->stop_reason);
		exit_now(0, "stopped cleanly (JVM exited with status %d)", status);
	}
	struct jvm_end end = {.state = st, .system_exit = 1, .status = status, .exception = exc};
	int code = classify_exit(&end, msg, sizeof(msg));
	exit_now(code, "%s", msg);
}

void shim_hook_abort(void)
{
	exit_now(EXIT_JVM_CRASH, "the JVM crashed (fatal error); see hs_err_pid%d.log in %s",
		 (int)getpid(), "the working directory");
}

void shim_hook_oom(void)
{
	exit_now(EXIT_JVM_OOM, "the JVM ran out of memory (java.lang.OutOfMemoryError; ExitOnOutOfMemoryError)");
}
