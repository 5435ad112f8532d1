/* sparkshim: a Spark Connect engine in one process.
 *
 * main() reads as the list of steps. Until the JVM exists, any failure is a
 * one-line error with its own exit code and nothing to clean up but the pid
 * file. From then on the supervisor loop owns the process. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/engine_info.h"
#include "base/events.h"
#include "base/exitcodes.h"
#include "base/lifecycle.h"
#include "base/log.h"
#include "base/statefile.h"
#include "launcher/door_setup.h"
#include "launcher/engine_probe.h"
#include "launcher/engine_setup.h"
#include "launcher/exit_path.h"
#include "launcher/pidfile.h"
#include "launcher/reaper.h"
#include "launcher/sdnotify.h"
#include "launcher/signals.h"
#include "launcher/supervisor.h"
#include "launcher/timeline.h"
#include "shim/ctl/connect_probe.h"
#include "shim/ctl/ctl_cli.h"
#include "shim/ctl/event_log.h"
#include "shim/ctl/grpc_server.h"
#include "shim/registry/registry.h"

static struct engine S;

static int parse_command_line(int argc, char **argv)
{
	char err[1024];
	cli_init(&S.cli);
	if (cli_parse(argc, argv, &S.cli, err, sizeof(err)) < 0) {
		die_msg("%s", err);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < S.cli.spark_args.n; i++)
		if (strstr(S.cli.spark_args.v[i], "spark.kyuubi.ha.engine.ref.id=") ||
		    strstr(S.cli.spark_args.v[i], "spark.kyuubi.ha.addresses="))
			log_set_error_tag("sparkshim.EngineStartException");
	return 0;
}

static int setup_process(void)
{
	/* Before any thread exists, so every thread inherits the mask. */
	S.signal_fd = signals_setup();
	if (S.signal_fd < 0 || events_init() < 0) {
		die_msg("cannot set up signal handling");
		return EXIT_INTERNAL;
	}
	lifecycle_reset();
	engine_info_reset();
	/* Record lifecycle events from the start, for the control Events stream. */
	event_log_attach();
	sdn_init();
	return 0;
}

static int setup_files(void)
{
	char err[1024];
	if (S.settings.pid_file[0]) {
		int rc = pidfile_acquire(S.settings.pid_file, err, sizeof(err));
		if (rc < 0) {
			die_msg("%s", err);
			return rc == -2 ? EXIT_ALREADY_RUNNING : EXIT_USAGE;
		}
	}
	statefile_set_path(S.settings.state_file);
	return 0;
}

static int setup_registry(void)
{
	char err[1024];
	int64_t now = epoch_ms(), left;
	int rc = registry_check_submit_time(&S.spark_conf, now, err, sizeof(err));
	if (rc < 0) {
		die_msg("%s", err);
		return rc == -1 ? EXIT_SUBMIT_EXPIRED : EXIT_USAGE;
	}
	/* The gateway gives up at submit time + init timeout: no point in
	 * waiting for Spark longer than that. */
	if (registry_init_remaining_ms(&S.spark_conf, now, &left) == 0 && left > 0 &&
	    left < S.settings.start_timeout_ms)
		S.settings.start_timeout_ms = left;
	if (registry_configure(&S.spark_conf, err, sizeof(err)) < 0) {
		die_msg("%s", err);
		return EXIT_USAGE;
	}
	/* A bad advertised host is a config error: say so before Spark starts.
	 * It is also the driver's host (driver_host.h): it must resolve. */
	char why[256];
	const char *from = NULL;
	if (advertised_host_from(&S.spark_conf, S.engine_host, sizeof(S.engine_host), &from) < 0) {
		die_msg("%s", S.engine_host);
		return EXIT_USAGE;
	}
	snprintf(S.engine_host_from, sizeof(S.engine_host_from), "%s", from ? from : "");
	if (advertise_resolves(S.engine_host, why, sizeof(why)) < 0) {
		die_msg("%s=%s: cannot be resolved (%s); expected a host name or address of this "
			"engine that the gateway and the executors can reach",
			from ? from : "the local host name", S.engine_host, why);
		return EXIT_BAD_HOST;
	}
	return 0;
}

/* PID 1 of a container, or --subreaper: adopted orphans are reaped by the
 * main loop (reaper.c). Before the JVM exists, so none escapes. */
static int setup_reaper(void)
{
	char err[256];
	if (reaper_init(S.settings.subreaper, err, sizeof(err)) < 0) {
		die_msg("%s", err);
		return EXIT_INTERNAL;
	}
	return 0;
}

static void timeline_on_state(enum shim_state from, enum shim_state to, const char *reason,
			      void *arg)
{
	(void)from;
	(void)reason;
	(void)arg;
	if (to == ST_READY) {
		timeline_point("READY (connect port answered)");
		engine_cds_ready();
	}
}

static void set_version(struct engine_info *e, void *arg)
{
	snprintf(e->spark_version, sizeof(e->spark_version), "%s", (const char *)arg);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "ctl") == 0)
		return ctl_main(argc - 1, argv + 1);

	timeline_init();
	int rc;
	if ((rc = parse_command_line(argc, argv)))
		return rc;
	if (S.cli.help) {
		cli_usage(stdout);
		return 0;
	}
	if (S.cli.version) {
		printf("sparkshim %s\n", SPARKSHIM_VERSION);
		return 0;
	}
	strvec_init(&S.submit_args);
	conf_init(&S.spark_conf);
	int64_t t_setup = timeline_now();
	if ((rc = setup_process()) || (rc = setup_spark_home(&S)) ||
	    (rc = setup_conf_and_settings(&S)) || (rc = setup_files()) || (rc = setup_registry()) ||
	    (rc = setup_java(&S)) || (rc = setup_connect_args(&S)) ||
	    (rc = check_connect_port_free(&S)) || (rc = check_control_port_free(&S))) {
		cleanup_files();
		return rc;
	}
	timeline_phase("checks (home, conf, settings, files, registry conf, java, port)", t_setup);
	lifecycle_add_listener(timeline_on_state, NULL);
	if (S.cli.print_launch) {
		rc = print_launch_command(&S);
		cleanup_files();
		return rc;
	}
	/* The published port, bound before the JVM exists: a taken port
	 * costs nothing to undo. */
	if ((rc = door_open(&S))) {
		cleanup_files();
		return rc;
	}
	engine_info_update(set_version, S.home.version);
	log_info("sparkshim %s: Spark %s at %s, Java at %s", SPARKSHIM_VERSION, S.home.version,
		 S.home.path, S.java.home);
	if ((rc = setup_reaper()) || (rc = start_engine_jvm(&S))) {
		door_close(&S);
		cleanup_files();
		return rc;
	}
	engine_cache_prune_start(&S);

	rc = supervise(&S);
	engine_cds_cancel();

	/* The JVM is gone: tear down in reverse order (exit_now deregisters,
	 * tells systemd and removes our files). */
	registry_close();
	ctl_server_stop(S.control);
	S.control = NULL;
	door_close(&S);
	connect_probe_shutdown();
	if (rc == 0)
		exit_now(0, "stopped cleanly");
	exit_now(rc, "%s", S.stop_reason[0] ? S.stop_reason : "engine stopped");
}
