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
	char engine_host[256];        /* advertised, and the driver's (driver_host.h) */
	char engine_host_from[128];   /* the key that gave it; "": discovered */
	int signal_fd;
	int using_standin;
	struct ctl_server *control;   /* the health + control endpoint, once started */

	/* supervisor state (supervisor.c). Whether a stop has begun and whether
	 * READY was announced are the lifecycle state's to say
	 * (state_is_stopping, state_is_serving), not flags here. */
	int jvm_created;
	int jvm_gone;
	int exit_code;                /* final once a stop has begun */
	char stop_reason[1200];       /* why we stop; the final error line when exit_code != 0 */
	int connect_port;
	int64_t start_deadline_ms;    /* monotonic */
	int64_t ready_epoch_ms;
	int64_t drain_since_ms;

	/* The stop progression: deregister (and quiesce the prober), let the
	 * running operations end, then stop Spark, each wait bounded. */
	struct {
		int64_t deadline_ms;        /* monotonic end of the stop budget, 0 = none */
		int64_t dereg_until_ms;     /* stop Spark anyway after this */
		int64_t quiesce_until_ms;   /* likewise for the prober */
		int64_t ops_until_ms;       /* likewise for running operations */
		int64_t ops_check_ms;       /* next activity query while they run */
		int ops_fresh;              /* Spark answered an activity query since the stop began */
		int ops_idle;               /* operations_running: none left (not: gave up waiting) */
		int64_t sent_since_ms;      /* since when every operation has sent all it had, 0 = not */
		int spark_stop_sent;
	} stop;

	/* Blocking work out on worker threads (jobs.c), by its result event. */
	enum job_state { JOB_NONE, JOB_RUNNING, JOB_DONE } dereg, quiesce;
	int drain_pending;            /* TR_DRAIN once deregistered */
	char drain_reason[64];
	int activity_pending;         /* an idle decision waits for EV_ACTIVITY */
	char idle_why[160];           /* ... and would stop for this reason */
	int64_t idle_last_epoch_ms;   /* ... unless activity is newer than this */

	/* The loop's own clocks (monotonic ms). */
	int64_t last_watchdog_ms;
	int64_t last_extend_ms;
	int64_t last_idle_check_ms;
};

#endif
