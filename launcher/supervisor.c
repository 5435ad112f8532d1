/* The main loop: one thread decides everything about the process. It polls
 * the signalfd and the event queue, sleeping until its next deadline (start
 * timeout, stop budget and its steps, idle check, max lifetime, watchdog,
 * systemd extension, orphan reaping as PID 1). It never blocks on anything
 * else: registration, deregistration, activity queries and probe quiescing
 * run on workers (jobs.c) that post their results. Workers (JVM host,
 * prober, control server, registry, jobs) only report. */
#include "launcher/supervisor.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "base/engine_info.h"
#include "base/events.h"
#include "base/exitcodes.h"
#include "base/lifecycle.h"
#include "base/log.h"
#include "base/statefile.h"
#include "jni/jvm_host.h"
#include "jni/output_tap.h"
#include "launcher/door_setup.h"
#include "launcher/door_wiring.h"
#include "launcher/engine_probe.h"
#include "launcher/exit_path.h"
#include "launcher/jobs.h"
#include "launcher/reaper.h"
#include "launcher/sdnotify.h"
#include "launcher/signals.h"
#include "launcher/timeline.h"
#include "shim/ctl/ctl_service.h"
#include "shim/ctl/health_service.h"
#include "shim/ctl/control_service.h"
#include "shim/ctl/grpc_server.h"
#include "shim/registry/registry.h"

#define EXTEND_USEC (5ull * 1000 * 1000)
#define EXTEND_EVERY_MS 1000
/* How long a stop waits for deregistration (the registry's own bound is
 * sparkshim.registry.deregister.timeout, 2 s) and for the prober to close
 * its channel before it stops Spark anyway. */
#define DEREG_WAIT_MS 2500
#define QUIESCE_WAIT_MS 2500
#define ACTIVITY_QUERY_MS 1000
#define DRAIN_CHECK_MS 250     /* while draining: stop soon after the last operation */
/* An operation that sent all its results waits for the client's
 * ReleaseExecute, which a client that exits at once never sends (Spark
 * drops it after its detach timeout, minutes): a stop waits this long for
 * it. */
#define RELEASE_WAIT_MS 1000
#define WATCHDOG_RETRY_MS 250  /* a ping withheld (probe stale) is retried this often */
#define MAX_SLEEP_MS 60000

static int stopping(void) { return state_is_stopping(lifecycle_state()); }

/* ---- the front door (s->door NULL: off, Spark's figures alone) ---- */

/* Whether the door relays a call now; d gets its figures. 0 when off. */
static int door_busy(const struct engine *s, int64_t now, struct door_idle *d)
{
	*d = (struct door_idle){.last_epoch_ms = -1, .last_mono_ms = -1};
	if (!s->door)
		return 0;
	door_wiring_idle(s->door, now, epoch_ms(), d);
	return d->busy;
}

/* Deregistered (drain or stop): new sessions get UNAVAILABLE "engine is
 * draining"; the open ones go on. */
static void door_refuse_new_sessions(struct engine *s)
{
	if (!s->door || s->door_refusing)
		return;
	s->door_refusing = 1;
	door_sessions_drain(s->door);
	log_info("front door: refusing new sessions; open sessions go on");
}

/* ---- stop ---- */

/* Leave the gateway: once per process, on a worker; EV_REG_DEREGISTERED
 * says it is done. Without registration there is nothing to wait for. */
static void start_deregister(struct engine *s)
{
	if (s->dereg != JOB_NONE)
		return;
	if (!registry_enabled()) {
		s->dereg = JOB_DONE;
		return;
	}
	s->dereg = JOB_RUNNING;
	jobs_deregister();
}

/* Running operations end before Spark's connect server stops. Once it
 * stops it refuses new calls, the client's follow-ups too (ReleaseExecute,
 * reattach), and the real PySpark client then retries for minutes although
 * its result was already sent. Spark is asked on a worker (EV_ACTIVITY);
 * an unknown answer counts as running, until ops_until_ms. Done: no
 * operation left, or none still sending for RELEASE_WAIT_MS. */
static int operations_running(struct engine *s, int64_t now)
{
	struct door_idle d;
	if (door_busy(s, now, &d)) {
		/* A call through the door (an operation's stream, a reattach,
		 * a ReleaseExecute) runs: look again soon. */
		if (now >= s->stop.ops_until_ms) {
			log_warn("%u call(s) still in flight through the front door; stopping Spark anyway",
				 d.calls_in_flight);
			return 0;
		}
		if (now >= s->stop.ops_check_ms)
			s->stop.ops_check_ms = now + DRAIN_CHECK_MS;
		return 1;
	}
	struct engine_info e;
	engine_info_get(&e);
	s->stop.ops_idle = 0;
	if (s->stop.ops_fresh && e.active_operations == 0) {
		s->stop.ops_idle = 1;
		return 0;
	}
	if (s->stop.ops_fresh && e.attached_operations == 0) {
		if (!s->stop.sent_since_ms) {
			s->stop.sent_since_ms = now;
			log_info("%d operation(s) listed, none sending: waiting up to %d ms for the "
				 "client's ReleaseExecute", e.active_operations, RELEASE_WAIT_MS);
		}
		if (now - s->stop.sent_since_ms >= RELEASE_WAIT_MS) {
			s->stop.ops_idle = 1; /* all sent: nothing left to wait for */
			return 0;
		}
	} else {
		s->stop.sent_since_ms = 0;
	}
	if (now >= s->stop.ops_until_ms) {
		log_warn("%d operation(s) still running; stopping Spark anyway",
			 e.active_operations);
		return 0;
	}
	if (!s->activity_pending && now >= s->stop.ops_check_ms) {
		s->activity_pending = 1;
		s->stop.ops_check_ms = now + DRAIN_CHECK_MS;
		jobs_query_activity(ACTIVITY_QUERY_MS);
	}
	return 1;
}

/* The stop's next step, once the one before it is done or out of time:
 * deregistered (and the prober quiet) -> operations ended -> stop Spark.
 * Called on every event that may unblock it and on every wake-up. */
static void stop_progress(struct engine *s, int64_t now)
{
	if (!stopping() || s->stop.spark_stop_sent)
		return;
	if (s->dereg == JOB_RUNNING && now < s->stop.dereg_until_ms)
		return; /* deregister FIRST */
	door_refuse_new_sessions(s);
	if (s->quiesce == JOB_RUNNING && now < s->stop.quiesce_until_ms)
		return;
	if (!s->jvm_created)
		return; /* EV_JVM_CREATED comes back here */
	if (s->connect_port > 0 && operations_running(s, now))
		return;
	if (s->dereg == JOB_RUNNING)
		log_warn("deregistration did not finish within %d ms; stopping Spark anyway",
			 DEREG_WAIT_MS);
	/* Leave a third of what is left of the budget for Spark's own
	 * shutdown after the connect server has drained. No operation left:
	 * idle client channels must not hold the stop (jvm_stop_spark_async). */
	if (s->connect_port > 0)
		jvm_stop_spark_async((s->stop.deadline_ms - now) * 2 / 3, s->stop.ops_idle);
	else
		jvm_exit_async(0);
	s->stop.spark_stop_sent = 1;
}

/* Begin a graceful stop: deregister FIRST (the gateway must not send new
 * sessions to an engine on its way out) and quiet the prober, then
 * (stop_progress) ask Spark to stop its connect server, letting running
 * operations finish within the budget. */
static void begin_stop(struct engine *s, int code, int64_t grace_ms, const char *why)
{
	if (stopping())
		return;
	s->exit_code = code;
	snprintf(s->stop_reason, sizeof(s->stop_reason), "%s", why);
	if (grace_ms <= 0)
		grace_ms = s->settings.stop_timeout_ms;
	int64_t now = monotonic_ms();
	s->stop.deadline_ms = now + grace_ms;
	s->stop.dereg_until_ms = now + DEREG_WAIT_MS;
	s->stop.quiesce_until_ms = now + QUIESCE_WAIT_MS;
	/* Two thirds of the budget for running operations, the rest for
	 * Spark's own shutdown. */
	s->stop.ops_until_ms = now + grace_ms * 2 / 3;
	log_info("stopping: %s (budget %lld ms)", why, (long long)grace_ms);
	lifecycle_fire(TR_STOP, why);
	start_deregister(s);
	if (s->quiesce == JOB_NONE) {
		s->quiesce = JOB_RUNNING;
		jobs_quiesce_probe(QUIESCE_WAIT_MS);
	}
	stop_progress(s, now);
}

static void fail(struct engine *s, int code, const char *fmt, const char *detail)
{
	char msg[1200];
	snprintf(msg, sizeof(msg), fmt, detail);
	/* No JVM left, or its creation is what hangs: nothing to stop. */
	if (s->jvm_gone || (!s->jvm_created && code == EXIT_START_TIMEOUT))
		exit_now(code, "%s", msg);
	/* The JVM is up or on its way (a failure of the set-up overlapped with
	 * its boot): stop it properly once it exists; the reason is the final
	 * error line. */
	begin_stop(s, code, 0, msg);
}

/* ---- reactions to events ---- */

static void set_host(struct engine_info *e, void *arg)
{
	snprintf(e->connect_host, sizeof(e->connect_host), "%s", (const char *)arg);
}

/* The default control address is next to the connect port: known only
 * once Spark bound it. Any other is bound while the JVM boots. */
static int control_waits_for_port(const struct engine *s)
{
	return strcmp(s->settings.control_address, SETTINGS_CONTROL_DEFAULT) == 0;
}

static void set_control_note(struct engine_info *e, void *arg)
{
	snprintf(e->control_note, sizeof(e->control_note), "%s", (const char *)arg);
}

static void start_control(struct engine *s)
{
	const char *want = s->settings.control_address;
	if (!want[0] || s->control)
		return;
	int64_t t0 = timeline_now();
	char addr[320], bound[320], err[512];
	int is_default = control_waits_for_port(s);
	if (is_default)
		snprintf(addr, sizeof(addr), "127.0.0.1:%d", s->connect_port < 65535 ? s->connect_port + 1 : 0);
	else
		snprintf(addr, sizeof(addr), "%s", want);
	static const struct ctl_service *const services[] = {&health_service, &control_service};
	struct ctl_server_opts o = {.bind = addr, .token = s->settings.control_token, .max_message = 0,
				    .services = services, .n_services = 2, .publish_endpoint = 1};
	s->control = ctl_server_start(&o, bound, sizeof(bound), err, sizeof(err));
	if (!s->control && is_default && errno == EADDRINUSE) {
		/* The default moves; an operator looking at connect+1 must
		 * learn where it went: INFO line, stdout, state file. */
		char note[160];
		snprintf(note, sizeof(note), "%.100s (the connect port + 1) was taken", addr);
		engine_info_update(set_control_note, note);
		o.bind = "127.0.0.1:0";
		s->control = ctl_server_start(&o, bound, sizeof(bound), err, sizeof(err));
		if (s->control)
			log_info("control port %s is taken: the control endpoint is %s instead",
				 addr, bound);
	}
	if (!s->control) {
		fail(s, errno == EADDRINUSE ? EXIT_PORT_IN_USE : EXIT_USAGE, "control endpoint: %s", err);
		return;
	}
	timeline_phase("control server start", t0);
	/* ctl_server_start published `bound` in engine_info and logged it. */
}

static void set_port(struct engine_info *e, void *arg) { e->connect_port = *(int *)arg; }

static void on_connect_port(struct engine *s, int port)
{
	s->spark_port = port;
	s->connect_port = door_upstream(s, port);
	engine_info_update(set_port, &s->connect_port);
	char host[256];
	if (advertised_host(&s->spark_conf, host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "%s", s->probe_host);
	engine_info_update(set_host, host);
	if (s->front)
		log_info("Spark Connect server bound port %d (loopback, behind the front door on port %d)",
			 port, s->connect_port);
	else
		log_info("Spark Connect server bound port %d", port);
	timeline_point("connect port known");
	if (control_waits_for_port(s))
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
	jobs_release_memory();
	if (registry_enabled()) {
		/* On a worker: EV_REG_REGISTERED or EV_REG_FAILED follows. */
		jobs_register();
	} else {
		log_set_error_tag(NULL); /* started: later failures are no start failures */
		/* Manual mode: the URL is the product, on stdout. */
		printf("sc://%s:%d\n", e.connect_host, e.connect_port);
		if (e.control_endpoint[0])
			printf("control: %s%s%s%s\n", e.control_endpoint, e.control_note[0] ? " (" : "",
			       e.control_note, e.control_note[0] ? ")" : "");
		fflush(stdout);
	}
}

static void on_spark_main_ended(struct engine *s, const char *exc)
{
	enum shim_state st = lifecycle_state();
	if (state_is_stopping(st)) {
		if (exc[0])
			log_info("Spark's main ended with %s while stopping", exc);
		return;
	}
	char msg[1200];
	struct jvm_end end = {.state = st, .system_exit = 0, .exception = exc};
	int code = classify_exit(&end, msg, sizeof(msg));
	fail(s, code, "%s", msg);
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
	door_reload(s, &ns);
	ns.front_door = o->front_door;
	/* Things bound at start-up stay as they are. */
	snprintf(ns.control_address, sizeof(ns.control_address), "%s", o->control_address);
	snprintf(ns.control_token, sizeof(ns.control_token), "%s", o->control_token);
	snprintf(ns.state_file, sizeof(ns.state_file), "%s", o->state_file);
	snprintf(ns.pid_file, sizeof(ns.pid_file), "%s", o->pid_file);
	ns.start_timeout_ms = o->start_timeout_ms;
	*o = ns;
	log_set_level(o->log_level);
	if (lifecycle_state() == ST_READY && registry_enabled() && s->dereg == JOB_NONE) {
		/* On a worker (the advertised host is looked up again there: it
		 * may need the resolver): EV_REG_FAILED on failure. */
		if (jobs_reregister(&s->spark_conf) == 0)
			log_info("SIGHUP: checking the discovery node");
		else
			log_warn("SIGHUP: a registration is under way; not re-registering");
	}
}

static void log_status(void)
{
	struct engine_info e;
	engine_info_get(&e);
	log_info("status: state=%s connect=%s:%d alive=%d control=%s app=%s sessions=%d ops=%d heap=%lld/%lld registration=%s%s%s",
		 state_name(lifecycle_state()), e.connect_host, e.connect_port, e.connect_alive,
		 e.control_endpoint, e.app_id, e.active_sessions, e.active_operations,
		 (long long)e.heap_used, (long long)e.heap_max, reg_state_name(e.reg_state),
		 e.znode_path[0] ? " " : "", e.znode_path);
}

static void on_signal(struct engine *s, int sig)
{
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		if (stopping()) {
			/* Asked for, not a failure to start: no start-failure tag. */
			log_set_error_tag(NULL);
			exit_forced(EXIT_SIGNAL_BASE + sig, "second %s: forced stop", signal_name(sig));
		}
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

static void finish_drain(struct engine *s);

/* Drain: leave the gateway (on a worker), DRAINING once that is done. */
static void begin_drain(struct engine *s, const char *why)
{
	if (lifecycle_state() != ST_READY || s->drain_pending)
		return;
	s->drain_pending = 1;
	snprintf(s->drain_reason, sizeof(s->drain_reason), "%s", why);
	log_info("%s: deregistering, then draining", why);
	start_deregister(s);
	if (s->dereg == JOB_DONE)
		finish_drain(s);
}

static void finish_drain(struct engine *s)
{
	if (!s->drain_pending)
		return;
	s->drain_pending = 0;
	door_refuse_new_sessions(s);
	if (lifecycle_fire(TR_DRAIN, s->drain_reason) == 0) {
		s->drain_since_ms = monotonic_ms();
		log_info("draining: deregistered; stopping once no operation runs");
	}
}

/* The idle check's answer (EV_ACTIVITY): stop unless something ran since
 * the figures it decided on. No answer counts as busy. */
static void on_activity(struct engine *s, long long rc)
{
	if (!s->activity_pending)
		return;
	s->activity_pending = 0;
	if (stopping()) {
		/* The stop's question (operations_running), or an idle check's
		 * answer that arrived after the stop began: fresh either way. */
		if (rc >= 0)
			s->stop.ops_fresh = 1;
		stop_progress(s, monotonic_ms());
		return;
	}
	if (rc < 0 || !state_is_serving(lifecycle_state()))
		return;
	struct engine_info e;
	engine_info_get(&e);
	if (e.active_operations != 0)
		return;
	/* With the front door its sessions say what activity is; Spark only
	 * whether an operation still runs. */
	struct door_idle d;
	if (s->door) {
		if (door_busy(s, monotonic_ms(), &d) || d.last_mono_ms > s->idle_door_mark_ms)
			return;
	} else if (e.last_activity_epoch_ms > s->idle_last_epoch_ms) {
		return;
	}
	begin_stop(s, EXIT_CLEAN, 0, s->idle_why);
}

static void on_event(struct engine *s, const struct shim_event *ev)
{
	log_debug("event %s %lld %s", event_name(ev->type), ev->value, ev->text);
	enum shim_state st = lifecycle_state();
	switch (ev->type) {
	case EV_JVM_CREATED:
		s->jvm_created = 1;
		stop_progress(s, monotonic_ms());
		break;
	case EV_JVM_CREATE_FAILED:
		s->jvm_gone = 1;
		exit_now(EXIT_JVM_CREATE, "cannot create the JVM: %s", ev->text);
	case EV_CONNECT_PORT:
		if (!state_is_stopping(st))
			on_connect_port(s, (int)ev->value);
		break;
	case EV_PROBE:
		if (ev->value && st == ST_STARTING)
			announce_ready(s);
		else if (!ev->value && st == ST_READY)
			log_warn("Spark Connect port %d stopped answering", s->connect_port);
		else if (ev->value && state_is_serving(st))
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
		begin_drain(s, "control Drain");
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
		/* Started, as the gateway sees it: what fails from now on is no
		 * start failure (the registry logged the node). */
		log_set_error_tag(NULL);
		break;
	case EV_REG_CONNECT_FAILED:
		if (!state_is_stopping(st))
			fail(s, EXIT_REGISTER, "registration with the gateway failed: %s", ev->text);
		break;
	case EV_REG_FAILED:
		if (ev->value)
			log_error("SIGHUP: re-registration failed: %s", ev->text);
		else if (st == ST_READY && s->dereg == JOB_NONE)
			fail(s, EXIT_REGISTER, "registration with the gateway failed: %s", ev->text);
		break;
	case EV_REG_DEREGISTERED:
		s->dereg = JOB_DONE;
		finish_drain(s);
		stop_progress(s, monotonic_ms());
		break;
	case EV_ACTIVITY:
		on_activity(s, ev->value);
		break;
	case EV_PROBE_QUIESCED:
		s->quiesce = JOB_DONE;
		stop_progress(s, monotonic_ms());
		break;
	case EV__COUNT:
		break;
	}
}

/* ---- deadlines ---- */

static int64_t idle_check_interval(const struct engine *s, enum shim_state st)
{
	return st == ST_DRAINING ? DRAIN_CHECK_MS : s->settings.check_interval_ms;
}

static void check_idle(struct engine *s, int64_t now, enum shim_state st)
{
	if (s->activity_pending || now - s->last_idle_check_ms < idle_check_interval(s, st))
		return;
	s->last_idle_check_ms = now;
	struct engine_info e;
	engine_info_get(&e);
	/* Never stop while an operation runs; unknown activity counts as busy. */
	if (e.active_operations != 0)
		return;
	/* Front door on: nothing in flight through it, and its sessions'
	 * newest activity is the clock (a quiet open session does not count). */
	struct door_idle d;
	if (door_busy(s, now, &d))
		return;
	int64_t wall = epoch_ms();
	int64_t seen = s->door ? d.last_epoch_ms : e.last_activity_epoch_ms;
	int64_t last = seen > s->ready_epoch_ms ? seen : s->ready_epoch_ms;
	int idle = s->settings.idle_timeout_ms > 0 && wall - last >= s->settings.idle_timeout_ms;
	char *why = s->idle_why;
	size_t len = sizeof(s->idle_why);
	if (st == ST_DRAINING)
		snprintf(why, len, "drained: no operation running");
	else if (idle)
		snprintf(why, len, "idle for %lld ms (idle timeout %lld ms)",
			 (long long)(wall - last), (long long)s->settings.idle_timeout_ms);
	else if (s->settings.max_lifetime_ms > 0 &&
		 wall - e.start_epoch_ms >= s->settings.max_lifetime_ms)
		snprintf(why, len, "max lifetime reached and no operation running");
	else
		return;
	/* The figures above may be seconds old: ask Spark once more (on a
	 * worker; EV_ACTIVITY decides) before stopping. */
	s->idle_last_epoch_ms = last;
	s->idle_door_mark_ms = d.last_mono_ms;
	s->activity_pending = 1;
	jobs_query_activity(ACTIVITY_QUERY_MS);
}

/* Monotonic time at which max lifetime is reached, 0 = never. */
static int64_t max_lifetime_at(const struct engine *s, int64_t now)
{
	if (s->settings.max_lifetime_ms <= 0)
		return 0;
	struct engine_info e;
	engine_info_get(&e);
	return now + (e.start_epoch_ms + s->settings.max_lifetime_ms - epoch_ms());
}

static void check_max_lifetime_drain(struct engine *s, int64_t now)
{
	/* Past max lifetime with work still running: leave discovery now so
	 * no new session arrives, and stop once the work is done. */
	int64_t at = max_lifetime_at(s, now);
	struct engine_info e;
	engine_info_get(&e);
	struct door_idle d;
	if (at && now >= at && lifecycle_state() == ST_READY &&
	    (e.active_operations != 0 || door_busy(s, now, &d)))
		begin_drain(s, "max lifetime reached");
}

static int watchdog_healthy(const struct engine *s, int64_t now, enum shim_state st)
{
	int64_t fresh = 2 * s->settings.probe_interval_ms + 2000;
	struct engine_info e;
	engine_info_get(&e);
	return st == ST_STARTING || st == ST_STOPPING ||
	       (e.connect_alive && probe_last_alive_ms() && now - probe_last_alive_ms() <= fresh);
}

static void check_deadlines(struct engine *s, int64_t now)
{
	enum shim_state st = lifecycle_state();
	if (st == ST_STARTING && now >= s->start_deadline_ms) {
		char d[64];
		snprintf(d, sizeof(d), "%lld ms", (long long)s->settings.start_timeout_ms);
		fail(s, EXIT_START_TIMEOUT,
		     "Spark Connect did not answer within the start timeout (%s)", d);
	}
	if (stopping() && s->stop.deadline_ms && now >= s->stop.deadline_ms) {
		log_warn("stop budget exceeded: thread dump of the JVM follows");
		jvm_thread_dump(3000);
		exit_now(s->exit_code ? s->exit_code : EXIT_STOP_TIMEOUT,
			 "graceful stop exceeded its budget; forced exit");
	}
	stop_progress(s, now);
	st = lifecycle_state();
	if (state_is_serving(st)) {
		check_max_lifetime_drain(s, now);
		check_idle(s, now, lifecycle_state());
	}
	if (reaper_active() && now >= reaper_next_ms())
		reaper_scan(now);
	/* systemd: keep start/stop timeouts extended while we make progress,
	 * and ping the watchdog only while Spark answers. */
	st = lifecycle_state();
	if ((st == ST_STARTING || st == ST_STOPPING) && now - s->last_extend_ms >= EXTEND_EVERY_MS) {
		sdn_extend_timeout(EXTEND_USEC);
		s->last_extend_ms = now;
	}
	uint64_t wd = sdn_watchdog_usec();
	if (wd && now - s->last_watchdog_ms >= (int64_t)(wd / 2000) && watchdog_healthy(s, now, st)) {
		sdn_watchdog();
		s->last_watchdog_ms = now;
	}
}

/* The earliest thing the loop must do without being woken by a signal or
 * an event: poll()'s timeout. */
static int next_timeout_ms(const struct engine *s, int64_t now)
{
	enum shim_state st = lifecycle_state();
	int64_t next = now + MAX_SLEEP_MS;
#define AT(t)                                                                                  \
	do {                                                                                   \
		int64_t t_ = (t);                                                              \
		if (t_ < next)                                                                 \
			next = t_;                                                             \
	} while (0)
	if (st == ST_STARTING)
		AT(s->start_deadline_ms);
	if (state_is_stopping(st) && s->stop.deadline_ms)
		AT(s->stop.deadline_ms);
	if (state_is_stopping(st) && !s->stop.spark_stop_sent && s->jvm_created) {
		if (s->dereg == JOB_RUNNING)
			AT(s->stop.dereg_until_ms);
		if (s->quiesce == JOB_RUNNING)
			AT(s->stop.quiesce_until_ms);
		if (s->stop.ops_check_ms)
			AT(s->stop.ops_check_ms);
		AT(s->stop.ops_until_ms);
	}
	if (state_is_serving(st) && !s->activity_pending)
		AT(s->last_idle_check_ms + idle_check_interval(s, st));
	int64_t life = max_lifetime_at(s, now);
	if (st == ST_READY && life > now)
		AT(life);
	if (st == ST_STARTING || st == ST_STOPPING)
		AT(s->last_extend_ms + EXTEND_EVERY_MS);
	if (reaper_active())
		AT(reaper_next_ms());
	uint64_t wd = sdn_watchdog_usec();
	if (wd) {
		int64_t due = s->last_watchdog_ms + (int64_t)(wd / 2000);
		AT(due > now ? due : now + WATCHDOG_RETRY_MS);
	}
#undef AT
	int64_t ms = next - now;
	return ms < 0 ? 0 : ms > INT_MAX ? INT_MAX : (int)ms;
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

/* What needs no running Spark is done while the JVM boots (its creation
 * runs on the JVM thread): connect to the discovery service (the node is
 * created once Spark serves) and bind a control address that does not
 * depend on the connect port. A failure stops the JVM like any other. */
static void start_during_boot(struct engine *s)
{
	if (registry_enabled())
		jobs_connect_registry();
	if (!control_waits_for_port(s))
		start_control(s);
}

static void log_idle_policy(const struct settings *st)
{
	if (st->idle.timeout_ms > 0)
		log_info("idle policy: %s engine, stops after %lld ms without work (%s)",
			 engine_mode_name(st->idle.mode), (long long)st->idle.timeout_ms,
			 st->idle.source);
	else
		log_info("idle policy: %s engine, no idle stop (%s)",
			 engine_mode_name(st->idle.mode), st->idle.source);
}

int supervise(struct engine *s)
{
	log_idle_policy(&s->settings);
	lifecycle_add_listener(on_state, NULL);
	statefile_write(ST_STARTING);
	/* From now on the file follows every change it shows (registration,
	 * node, endpoints, sessions), not only the lifecycle's. */
	engine_info_set_listener(statefile_refresh);
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
	start_during_boot(s);

	while (!s->jvm_gone) {
		struct pollfd p[2] = {{s->signal_fd, POLLIN, 0}, {events_fd(), POLLIN, 0}};
		if (poll(p, 2, next_timeout_ms(s, monotonic_ms())) < 0 && errno != EINTR)
			fail(s, EXIT_INTERNAL, "poll: %s", strerror(errno));
		int sig;
		while ((sig = signals_next(s->signal_fd)) > 0)
			on_signal(s, sig);
		struct shim_event ev;
		while (!s->jvm_gone && events_pop(&ev))
			on_event(s, &ev);
		if (!s->jvm_gone)
			check_deadlines(s, monotonic_ms());
	}
	probe_stop();
	/* registry_close (main) must not race a registration still unwinding. */
	if (jobs_wait_registry(5000) < 0)
		log_warn("a registry worker is still busy; closing the registry anyway");
	if (!stopping())
		s->exit_code = EXIT_SPARK_DIED;
	return s->exit_code;
}
