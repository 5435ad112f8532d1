/* The engine process's one process-wide record, shared by the launcher's
 * steps. Owned by main(); the supervisor loop and the exit paths read it. */
#ifndef SPARKSHIM_ENGINE_H
#define SPARKSHIM_ENGINE_H

#include <stdint.h>

#include "base/conf.h"
#include "base/strvec.h"
#include "jni/java_locate.h"
#include "jni/spark_home.h"
#include "launcher/cli.h"
#include "launcher/settings.h"

struct ctl_server;

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
	struct ctl_server *control;   /* the health + control endpoint, once started */

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

#endif
