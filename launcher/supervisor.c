/* The main loop: one thread decides everything about the process. It polls
 * the signalfd and the event queue, and on each wake-up checks its
 * deadlines (start timeout, stop budget, idle timeout, max lifetime,
 * watchdog). Workers (JVM host, prober, control server, registry) only
 * report. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "launcher/supervisor.h"
#include "base/engine_info.h"
#include "base/events.h"
#include "base/exitcodes.h"
#include "base/lifecycle.h"
#include "base/log.h"
#include "base/statefile.h"
#include "jni/jvm_host.h"
#include "jni/output_tap.h"
#include "launcher/engine_probe.h"
#include "launcher/exit_path.h"
#include "launcher/sdnotify.h"
#include "launcher/signals.h"
#include "shim/ctl/ctl_service.h"
#include "shim/ctl/grpc_server.h"
#include "shim/registry/registry.h"

#define TICK_MS 250
#define EXTEND_USEC (5ull * 1000 * 1000)

static int64_t last_watchdog_ms, last_extend_ms, last_idle_check_ms;

/* ---- stop ---- */

/* Begin a graceful stop: deregister FIRST (the gateway must not send new
 * sessions to an engine on its way out), then ask Spark to stop its connect
 * server, letting running operations finish within the budget. */
static void begin_stop(struct engine *s, int code, int64_t grace_ms, const char *why)
{
	if (s->stopping)
		return;
	s->stopping = 1;
	s->exit_code = code;
	snprintf(s->stop_reason, sizeof(s->stop_reason), "%s", why);
	if (grace_ms <= 0)
		grace_ms = s->settings.stop_timeout_ms;
	s->stop_deadline_ms = monotonic_ms() + grace_ms;
	log_info("stopping: %s (budget %lld ms)", why, (long long)grace_ms);
	lifecycle_fire(TR_STOP, why);
	registry_deregister();
	probe_quiesce(2500);
	if (!s->jvm_created)
		return; /* EV_JVM_CREATED will finish the job */
	/* Leave a third of the budget for Spark's own shutdown after the
	 * connect server has drained. */
	if (s->connect_port > 0)
		jvm_stop_spark_async(grace_ms * 2 / 3);
	else
		jvm_exit_async(0);
	s->spark_stop_sent = 1;
}

static void fail(struct engine *s, int code, const char *fmt, const char *detail)
{
	char msg[1200];
	snprintf(msg, sizeof(msg), fmt, detail);
	if (!s->jvm_created || s->jvm_gone)
		exit_now(code, "%s", msg);
	/* The JVM is up: stop it properly; the reason is the final error line. */
	begin_stop(s, code, 0, msg);
}

/* ---- reactions to events ---- */

static void set_host(struct engine_info *e, void *arg)
{
	snprintf(e->connect_host, sizeof(e->connect_host), "%s", (const char *)arg);
}

static void start_control(struct engine *s)
{
	const char *want = s->settings.control_address;
	if (!want[0])
		return;
	char addr[320], bound[320], err[512];
	int is_default = strcmp(want, "127.0.0.1:+1") == 0;
	if (is_default)
		snprintf(addr, sizeof(addr), "127.0.0.1:%d", s->connect_port < 65535 ? s->connect_port + 1 : 0);
	else
		snprintf(addr, sizeof(addr), "%s", want);
	static const struct ctl_service *const services[] = {&health_service, &control_service};
	struct ctl_server_opts o = {.bind = addr, .token = s->settings.control_token, .max_message = 0,
				    .services = services, .n_services = 2, .publish_endpoint = 1};
	s->control = ctl_server_start(&o, bound, sizeof(bound), err, sizeof(err));
	if (!s->control && is_default && errno == EADDRINUSE) {
		log_warn("control port %s is taken; using a free port instead", addr);
		o.bind = "127.0.0.1:0";
		s->control = ctl_server_start(&o, bound, sizeof(bound), err, sizeof(err));
	}
	if (!s->control) {
		fail(s, errno == EADDRINUSE ? EXIT_PORT_IN_USE : EXIT_USAGE, "control endpoint: %s", err);
		return;
	}
	/* ctl_server_start published `bound` in engine_info and logged it. */
}

static void on_connect_port(struct engine *s, int port)
{
	s->connect_port = port;
	char host[256];
	if (advertised_host(&s->spark_conf, host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "%s", s->probe_host);
	engine_info_update(set_host, host);
	log_info("Spark Connect server bound port %d", port);
	start_control(s);
}

static void announce_ready(struct engine *s)
{
	struct engine_info e;
	engine_info_get(&e);
	s->ready_epoch_ms = epoch_ms();
	lifecycle_fire(TR_READY, "connect port answers");
	char status[400];
	snprintf(status, sizeof(status), "serving Spark Connect at sc://%s:%d", e.connect_host,
		 e.connect_port);
	log_info("%s", status);
	sdn_ready(status);
	if (registry_enabled()) {
		char err[1024];
		struct reg_endpoint ep = {
			.host = e.connect_host,
			.port = e.connect_port,
			.control_endpoint = e.control_endpoint,
			.app_id = e.app_id,
			.ui_url = e.ui_url,
		};
		if (registry_register(&ep, err, sizeof(err)) < 0) {
			fail(s, EXIT_REGISTER, "registration with the gateway failed: %s", err);
			return;
		}
	} else {
		/* Manual mode: the URL is the product, on stdout. */
		printf("sc://%s:%d\n", e.connect_host, e.connect_port);
		if (e.control_endpoint[0])
			printf("control: %s\n", e.control_endpoint);
		fflush(stdout);
	}
	s->ready_announced = 1;
}

static void on_spark_main_ended(struct engine *s, const char *exc)
{
	if (s->stopping) {
		if (exc[0])
			log_info("Spark's main ended with %s while stopping", exc);
		return;
	}
	enum shim_state st = lifecycle_state();
	if (!exc[0]) {
		fail(s, st == ST_STARTING ? EXIT_SPARK_START : EXIT_SPARK_DIED, "%s",
		     st == ST_STARTING ? "Spark returned before its connect server started"
				       : "Spark stopped on its own while serving");
		return;
	}
	char tapped[700];
	output_tap_last_exception(tapped, sizeof(tapped));
	if (strstr(exc, "OutOfMemoryError")) {
		fail(s, EXIT_JVM_OOM, "the JVM ran out of memory: %s", exc);
	} else if (st != ST_STARTING) {
		fail(s, EXIT_SPARK_DIED, "Spark failed while serving: %s", exc);
	} else if (strstr(exc, "ClassNotFoundException") && strstr(exc, "connect")) {
		char msg[1200];
		snprintf(msg, sizeof(msg),
			 "%s. Spark 3.5 needs the connect jar: --packages org.apache.spark:spark-connect_<scala>:<version> or --jars <spark-connect jar>",
			 exc);
		fail(s, EXIT_SPARK_START, "Spark failed to start: %s", msg);
	} else {
		fail(s, EXIT_SPARK_START, "Spark failed to start: %s", exc);
	}
}

static void reload(struct engine *s)
{
	struct settings ns;
	char err[1024];
	if (settings_load(&s->cli.shim, s->cli.config_file, &s->spark_conf, &ns, err,
			  sizeof(err)) < 0) {
		log_error("SIGHUP: config not reloaded: %s", err);
		return;
	}
	struct settings *o = &s->settings;
#define CHANGED(f, fmt)                                                                        \
	if (o->f != ns.f)                                                                      \
		log_info("SIGHUP: " #f " " fmt " -> " fmt, (long long)o->f, (long long)ns.f);
	CHANGED(stop_timeout_ms, "%lld")
	CHANGED(idle_timeout_ms, "%lld")
	CHANGED(check_interval_ms, "%lld")
	CHANGED(max_lifetime_ms, "%lld")
	CHANGED(log_level, "%lld")
#undef CHANGED
	if (strcmp(o->control_token, ns.control_token) != 0)
		log_info("SIGHUP: control token changed (takes effect on restart)");
	/* Things bound at start-up stay as they are. */
	snprintf(ns.control_address, sizeof(ns.control_address), "%s", o->control_address);
	snprintf(ns.control_token, sizeof(ns.control_token), "%s", o->control_token);
	snprintf(ns.state_file, sizeof(ns.state_file), "%s", o->state_file);
	snprintf(ns.pid_file, sizeof(ns.pid_file), "%s", o->pid_file);
	ns.start_timeout_ms = o->start_timeout_ms;
	*o = ns;
	log_set_level(o->log_level);
	if (lifecycle_state() == ST_READY && registry_enabled()) {
		log_info("SIGHUP: re-registering with the gateway");
		registry_deregister();
		struct engine_info e;
		engine_info_get(&e);
		struct reg_endpoint ep = {e.connect_host, e.connect_port, e.control_endpoint, e.app_id,
					  e.ui_url};
		if (registry_register(&ep, err, sizeof(err)) < 0)
			log_error("SIGHUP: re-registration failed: %s", err);
	}
}

static void log_status(void)
{
	struct engine_info e;
	engine_info_get(&e);
	log_info("status: state=%s connect=%s:%d alive=%d control=%s app=%s ops=%d heap=%lld/%lld registration=%s %s",
		 state_name(lifecycle_state()), e.connect_host, e.connect_port, e.connect_alive,
		 e.control_endpoint, e.app_id, e.active_operations, (long long)e.heap_used,
		 (long long)e.heap_max, reg_state_name(e.reg_state), e.znode_path);
}

static void on_signal(struct engine *s, int sig)
{
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		if (s->stopping)
			exit_now(128 + sig, "second %s: forced stop", signal_name(sig));
		begin_stop(s, EXIT_CLEAN, 0, signal_name(sig));
		break;
	case SIGHUP:
		reload(s);
		break;
	case SIGQUIT:
		log_info("SIGQUIT: thread dump of the JVM follows");
		if (jvm_thread_dump(0) < 0)
			log_warn("no thread dump: the JVM is not running");
		break;
	case SIGUSR1:
		log_status();
		break;
	}
}

static void on_event(struct engine *s, const struct shim_event *ev)
{
	log_debug("event %s %lld %s", event_name(ev->type), ev->value, ev->text);
	switch (ev->type) {
	case EV_JVM_CREATED:
		s->jvm_created = 1;
		if (s->stopping && !s->spark_stop_sent) {
			jvm_exit_async(0);
			s->spark_stop_sent = 1;
		}
		break;
	case EV_JVM_CREATE_FAILED:
		s->jvm_gone = 1;
		exit_now(EXIT_JVM_CREATE, "cannot create the JVM: %s", ev->text);
	case EV_CONNECT_PORT:
		if (!s->stopping)
			on_connect_port(s, (int)ev->value);
		break;
	case EV_PROBE:
		if (ev->value && lifecycle_state() == ST_STARTING && !s->stopping)
			announce_ready(s);
		else if (!ev->value && lifecycle_state() == ST_READY)
			log_warn("Spark Connect port %d stopped answering", s->connect_port);
		else if (ev->value && s->ready_announced)
			log_info("Spark Connect port %d answers again", s->connect_port);
		break;
	case EV_SPARK_MAIN_ENDED:
		on_spark_main_ended(s, ev->text);
		break;
	case EV_SPARK_STOPPED:
		if (ev->value < 0) {
			log_warn("Spark Connect service stop failed (%s); stopping the JVM", ev->text);
			jvm_exit_async(0);
		}
		break;
	case EV_JVM_DESTROYED:
		s->jvm_gone = 1;
		break;
	case EV_CTL_DRAIN:
		if (lifecycle_state() == ST_READY) {
			registry_deregister();
			lifecycle_fire(TR_DRAIN, "control Drain");
			s->drain_since_ms = monotonic_ms();
			log_info("draining: deregistered; stopping once no operation runs");
		}
		break;
	case EV_CTL_STOP:
		begin_stop(s, EXIT_CLEAN, ev->value, "control Stop");
		break;
	case EV_REG_NODE_DELETED:
		begin_stop(s, EXIT_CLEAN, 0, "the gateway deleted our discovery node");
		break;
	case EV_REG_LOST:
		begin_stop(s, EXIT_CLEAN, 0, "lost the discovery service beyond the retry budget");
		break;
	case EV_REG_REGISTERED:
		log_info("registered with the gateway as %s", ev->text);
		break;
	case EV__COUNT:
		break;
	}
}

/* ---- deadlines ---- */

static void check_idle(struct engine *s, int64_t now)
{
	enum shim_state st = lifecycle_state();
	if (now - last_idle_check_ms < s->settings.check_interval_ms && st != ST_DRAINING)
		return;
	last_idle_check_ms = now;
	struct engine_info e;
	engine_info_get(&e);
	/* Never stop while an operation runs; unknown activity counts as busy. */
	if (e.active_operations != 0)
		return;
	int64_t wall = epoch_ms();
	int64_t last = e.last_activity_epoch_ms > s->ready_epoch_ms ? e.last_activity_epoch_ms
								     : s->ready_epoch_ms;
	int idle = s->settings.idle_timeout_ms > 0 && wall - last >= s->settings.idle_timeout_ms;
	char why[160];
	if (st == ST_DRAINING)
		snprintf(why, sizeof(why), "drained: no operation running");
	else if (idle)
		snprintf(why, sizeof(why), "idle for %lld ms (idle timeout %lld ms)",
			 (long long)(wall - last), (long long)s->settings.idle_timeout_ms);
	else if (s->settings.max_lifetime_ms > 0 &&
		 wall - e.start_epoch_ms >= s->settings.max_lifetime_ms)
		snprintf(why, sizeof(why), "max lifetime reached and no operation running");
	else
		return;
	/* The figures above may be seconds old: ask Spark once more before
	 * stopping, and count no answer as busy. */
	struct jvm_activity a;
	if (jvm_query_activity(&a, 1000) < 0)
		return;
	engine_info_update(engine_activity_update, &a);
	engine_info_get(&e);
	if (e.active_operations != 0 || e.last_activity_epoch_ms > last)
		return; /* something ran since the figures we decided on */
	begin_stop(s, EXIT_CLEAN, 0, why);
}

static void check_max_lifetime_drain(struct engine *s)
{
	/* Past max lifetime with work still running: leave discovery now so
	 * no new session arrives, and stop once the work is done. */
	struct engine_info e;
	engine_info_get(&e);
	if (s->settings.max_lifetime_ms > 0 && lifecycle_state() == ST_READY &&
	    epoch_ms() - e.start_epoch_ms >= s->settings.max_lifetime_ms &&
	    e.active_operations != 0) {
		registry_deregister();
		lifecycle_fire(TR_DRAIN, "max lifetime reached");
		log_info("max lifetime reached: draining");
	}
}

static void check_deadlines(struct engine *s)
{
	int64_t now = monotonic_ms();
	enum shim_state st = lifecycle_state();
	if (!s->stopping && st == ST_STARTING && now >= s->start_deadline_ms) {
		char d[64];
		snprintf(d, sizeof(d), "%lld ms", (long long)s->settings.start_timeout_ms);
		fail(s, EXIT_START_TIMEOUT,
		     "Spark Connect did not answer within the start timeout (%s)", d);
	}
	if (s->stopping && s->stop_deadline_ms && now >= s->stop_deadline_ms) {
		log_warn("stop budget exceeded: thread dump of the JVM follows");
		jvm_thread_dump(3000);
		exit_now(s->exit_code ? s->exit_code : EXIT_STOP_TIMEOUT,
			 "graceful stop exceeded its budget; forced exit");
	}
	if (!s->stopping && (st == ST_READY || st == ST_DRAINING)) {
		check_max_lifetime_drain(s);
		check_idle(s, now);
	}
	/* systemd: keep start/stop timeouts extended while we make progress,
	 * and ping the watchdog only while Spark answers. */
	if ((st == ST_STARTING || st == ST_STOPPING) && now - last_extend_ms >= 1000) {
		sdn_extend_timeout(EXTEND_USEC);
		last_extend_ms = now;
	}
	uint64_t wd = sdn_watchdog_usec();
	if (wd && now - last_watchdog_ms >= (int64_t)(wd / 2000)) {
		int64_t fresh = 2 * s->settings.probe_interval_ms + 2000;
		struct engine_info e;
		engine_info_get(&e);
		int healthy = st == ST_STARTING || st == ST_STOPPING ||
			      (e.connect_alive && probe_last_alive_ms() &&
			       now - probe_last_alive_ms() <= fresh);
		if (healthy) {
			sdn_watchdog();
			last_watchdog_ms = now;
		}
	}
}

static void on_state(enum shim_state from, enum shim_state to, const char *reason, void *arg)
{
	(void)from;
	(void)arg;
	sdn_status("%s: %s", state_name(to), reason);
	if (to == ST_STOPPING)
		sdn_stopping(reason);
	if (to != ST_STOPPED && to != ST_FAILED)
		statefile_write(to);
}

int supervise(struct engine *s)
{
	lifecycle_add_listener(on_state, NULL);
	statefile_write(ST_STARTING);
	sdn_status("STARTING: Spark %s from %s", s->home.version, s->home.path);
	s->start_deadline_ms = monotonic_ms() + s->settings.start_timeout_ms;
	if (s->settings.exit_with_parent) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() == 1)
			begin_stop(s, EXIT_CLEAN, 0, "parent already gone (--exit-with-parent)");
	}
	output_tap_set_start_hook(probe_nudge);
	struct probe_cfg pc = {.interval_ms = s->settings.probe_interval_ms,
			       .activity_interval_ms = s->settings.check_interval_ms < 5000
							       ? s->settings.check_interval_ms
							       : 5000};
	snprintf(pc.host, sizeof(pc.host), "%s", s->probe_host);
	if (probe_start(&pc) < 0)
		fail(s, EXIT_INTERNAL, "%s", "cannot start the probe thread");

	while (!s->jvm_gone) {
		struct pollfd p[2] = {{s->signal_fd, POLLIN, 0}, {events_fd(), POLLIN, 0}};
		if (poll(p, 2, TICK_MS) < 0 && errno != EINTR)
			fail(s, EXIT_INTERNAL, "poll: %s", strerror(errno));
		int sig;
		while ((sig = signals_next(s->signal_fd)) > 0)
			on_signal(s, sig);
		struct shim_event ev;
		while (!s->jvm_gone && events_pop(&ev))
			on_event(s, &ev);
		if (!s->jvm_gone)
			check_deadlines(s);
	}
	probe_stop();
	if (!s->stopping)
		s->exit_code = EXIT_SPARK_DIED;
	return s->exit_code;
}
