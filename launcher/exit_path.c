/* The ways out that do not return to the main loop: the JVM calling
 * System.exit or crashing (we are inside its hooks, on a VM thread, and the
 * process ends when we return), and forced stops. Each does the same short
 * list: deregister from the gateway first, tell systemd, remove our files,
 * say one line, _exit with a code that names the cause. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "launcher/exit_path.h"
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

void exit_now(int code, const char *fmt, ...)
{
	registry_deregister();
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
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

/* What does a System.exit mean, given where we are? */
void shim_hook_exit(int status)
{
	char exc[700];
	output_tap_stop(1000);
	output_tap_last_exception(exc, sizeof(exc));
	if (S && S->stopping) {
		if (S->exit_code)
			exit_now(S->exit_code, "%s", S->stop_reason);
		exit_now(0, "stopped cleanly (JVM exited with status %d)", status);
	}
	if (lifecycle_state() == ST_STARTING) {
		if (strstr(exc, "BindException") || strstr(exc, "Failed to bind"))
			exit_now(EXIT_PORT_IN_USE, "Spark Connect could not bind its port: %s", exc);
		/* SparkSubmit's "Error: Failed to load class ..." exit status. */
		if (status == 101)
			exit_now(EXIT_SPARK_START,
				 "Spark failed to start: SparkSubmit could not load the main class (exit 101)%s%s; Spark 3.5 needs the connect jar: --packages org.apache.spark:spark-connect_<scala>:<version> or --jars <spark-connect jar>",
				 exc[0] ? ": " : "", exc);
		if (strstr(exc, "OutOfMemoryError"))
			exit_now(EXIT_JVM_OOM, "the JVM ran out of memory while Spark started: %s", exc);
		if (exc[0])
			exit_now(EXIT_SPARK_START, "Spark failed to start: %s (then System.exit(%d))",
				 exc, status);
		exit_now(EXIT_SPARK_START, "Spark failed to start: System.exit(%d)", status);
	}
	exit_now(status & 0xff, "Spark called System.exit(%d); the engine stops with its status",
		 status);
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
