#include "launcher/engine_probe.h"
#include "base/clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "base/engine_info.h"
#include "base/events.h"
#include "base/lifecycle.h"
#include "base/log.h"
#include "base/thread.h"
#include "jni/jvm_host.h"
#include "launcher/timeline.h"
#include "shim/ctl/connect_probe.h"

/* Probe period while the connect port has not answered yet. */
#define FIRST_ANSWER_PERIOD_MS 25

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;
static int running;
static int quiesce, quiesced; /* stop probing and close the probe channel */
static int nudged;            /* Spark's log says the connect server started */
static pthread_t thread;
static struct probe_cfg cfg;
static int64_t last_alive;

int64_t probe_last_alive_ms(void)
{
	pthread_mutex_lock(&mu);
	int64_t v = last_alive;
	pthread_mutex_unlock(&mu);
	return v;
}

/* Wait ms or until probe_stop()/probe_quiesce(); returns 0 when asked to stop. */
static int pause_ms(int64_t ms)
{
	struct timespec dl = deadline_after(CLOCK_MONOTONIC, ms);
	pthread_mutex_lock(&mu);
	while (running && !quiesce && !nudged)
		if (pthread_cond_timedwait(&cv, &mu, &dl) == ETIMEDOUT)
			break;
	nudged = 0;
	int r = running && !quiesce;
	pthread_mutex_unlock(&mu);
	return r;
}

static void set_alive(struct engine_info *e, void *arg) { e->connect_alive = *(int *)arg; }

void engine_activity_update(struct engine_info *e, void *arg)
{
	const struct jvm_activity *a = arg;
	/* Work seen now, or finished since we last looked (Spark's mark moved):
	 * either way the engine was active within the last refresh period. */
	if (a->active_operations > 0 ||
	    (a->idle_since_token != -1 && e->idle_token != -1 && a->idle_since_token != e->idle_token))
		e->last_activity_epoch_ms = epoch_ms();
	/* A session closed since we last looked (the client's spark.stop(), or
	 * Spark expiring it) is the client's last word: the idle deadline runs
	 * from when we saw it go, as it leaves no access time behind. */
	if (a->open_sessions >= 0 && e->active_sessions > a->open_sessions)
		e->last_activity_epoch_ms = epoch_ms();
	/* A session touched by a client counts as activity at the time Spark
	 * saw it, so an open session in use keeps the engine, and a quiet or
	 * released one lets the idle deadline run from its last access. */
	if (a->last_session_access_ms > e->last_activity_epoch_ms)
		e->last_activity_epoch_ms = a->last_session_access_ms;
	e->active_operations = a->active_operations;
	e->attached_operations = a->attached_operations;
	e->active_sessions = a->open_sessions;
	e->idle_token = a->idle_since_token;
}

static void set_heap(struct engine_info *e, void *arg)
{
	const int64_t *h = arg;
	e->heap_used = h[0];
	e->heap_max = h[1];
}

static void set_app(struct engine_info *e, void *arg)
{
	const struct jvm_app_info *a = arg;
	snprintf(e->app_id, sizeof(e->app_id), "%s", a->app_id);
	snprintf(e->app_name, sizeof(e->app_name), "%s", a->app_name);
	snprintf(e->ui_url, sizeof(e->ui_url), "%s", a->ui_url);
	if (a->spark_version[0])
		snprintf(e->spark_version, sizeof(e->spark_version), "%s", a->spark_version);
}

/* Close the probe's channel to Spark and say so. An idle gRPC C core
 * channel only reads its socket while a call runs, so it would sit on the
 * server's shutdown PING for up to a probe period and hold up Spark's
 * graceful stop (awaitTermination waits for every connection). */
static void quiesce_now(void)
{
	connect_probe_shutdown();
	pthread_mutex_lock(&mu);
	quiesced = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

void probe_nudge(void)
{
	pthread_mutex_lock(&mu);
	nudged = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

/* Phase 1: ask Spark for its bound port. Each miss costs the JVM a failed
 * class lookup or an AssertionError while it is busy starting, so poll
 * gently (250 ms .. 1 s) and look at once when Spark's log says it started
 * (probe_nudge from the output tap). */
static int discover_port(void)
{
	int64_t backoff = 250;
	while (pause_ms(backoff) && !quiesce) {
		int port = jvm_connect_port(2000);
		if (port > 0) {
			timeline_point("connect port read from Spark");
			/* The main loop publishes it (or the front door's port). */
			events_post(EV_CONNECT_PORT, port, NULL);
			return port;
		}
		if (backoff < 1000)
			backoff *= 2;
	}
	return 0;
}

static void refresh_activity(void)
{
	struct jvm_activity a;
	if (jvm_query_activity(&a, 2000) == 0)
		engine_info_update(engine_activity_update, &a);
	int64_t heap[2];
	if (jvm_heap(&heap[0], &heap[1], 2000) == 0)
		engine_info_update(set_heap, heap);
}

static void *probe_main(void *arg)
{
	(void)arg;
	int64_t t0 = timeline_now();
	connect_probe_prepare();
	timeline_phase("gRPC client init (probe)", t0);
	int port = discover_port();
	if (!port) {
		quiesce_now();
		return NULL;
	}
	int alive = -1, have_app = 0, attempts = 0;
	int64_t next_activity = 0, timeout = cfg.interval_ms < 2000 ? cfg.interval_ms : 2000;
	/* Until the first answer, probe fast: READY (and the registration)
	 * waits on it. A refused dial costs Spark nothing. */
	int64_t period = FIRST_ANSWER_PERIOD_MS;
	do {
		int64_t t_probe = timeline_now();
		int now_alive = connect_probe(cfg.host, port, (int)timeout);
		if (!have_app && ++attempts <= 20)
			timeline_phase(now_alive ? "probe (answered)" : "probe (no answer)", t_probe);
		if (now_alive) {
			pthread_mutex_lock(&mu);
			last_alive = monotonic_ms();
			pthread_mutex_unlock(&mu);
			period = cfg.interval_ms;
		}
		/* App id and UI before the first "alive": READY publishes them. */
		if (now_alive && !have_app) {
			timeline_point("connect port answered the probe");
			int64_t t_app = timeline_now();
			struct jvm_app_info app;
			memset(&app, 0, sizeof(app));
			if (jvm_query_app(&app, 2000) == 0)
				engine_info_update(set_app, &app);
			have_app = 1;
			timeline_phase("app id and UI from Spark", t_app);
		}
		if (now_alive != alive) {
			alive = now_alive;
			engine_info_update(set_alive, &alive);
			lifecycle_kick();
			events_post(EV_PROBE, alive, NULL);
		}
		if (monotonic_ms() >= next_activity) {
			refresh_activity();
			next_activity = monotonic_ms() + cfg.activity_interval_ms;
		}
	} while (pause_ms(period) && !quiesce);
	quiesce_now();
	return NULL;
}

int probe_start(const struct probe_cfg *c)
{
	cond_init_monotonic(&cv);
	cfg = *c;
	running = 1;
	if (thread_start(&thread, probe_main, NULL, THREAD_STACK_WORKER, 0) != 0) {
		running = 0;
		return -1;
	}
	return 0;
}

void probe_quiesce(int timeout_ms)
{
	struct timespec dl = deadline_after(CLOCK_MONOTONIC, timeout_ms);
	pthread_mutex_lock(&mu);
	quiesce = 1;
	pthread_cond_broadcast(&cv);
	while (running && !quiesced)
		if (pthread_cond_timedwait(&cv, &mu, &dl) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&mu);
}

void probe_stop(void)
{
	pthread_mutex_lock(&mu);
	int was = running;
	running = 0;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	/* The thread may be inside a JNI call the dying JVM never answers; a
	 * join would hang, and it holds nothing that must be released. */
	if (was)
		pthread_detach(thread);
}
