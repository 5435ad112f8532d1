/* sparkshim.v1.Control over gRPC: Status, Drain, Stop, SetLogLevel, Events,
 * token checks, malformed requests, and the server's start/stop contract. */
#include "tests/unit/ctl_testlib.h"

#include <errno.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <unistd.h>

#include <grpc/support/time.h>

#include "shim/ctl/ctl_service.h"
#include "shim/ctl/control_service.h"
#include "base/clock.h"
#include "shim/ctl/door_sessions.h"

#define TOKEN "s3cret-token"

static void fill_info(struct engine_info *i, void *arg)
{
	(void)arg;
	snprintf(i->connect_host, sizeof(i->connect_host), "10.1.2.3");
	i->connect_port = 15002;
	snprintf(i->spark_version, sizeof(i->spark_version), "3.5.1");
	snprintf(i->app_id, sizeof(i->app_id), "local-1700000000000");
	snprintf(i->app_name, sizeof(i->app_name), "kyuubi_USER_SPARK_SQL_bob_default_x");
	snprintf(i->ui_url, sizeof(i->ui_url), "http://10.1.2.3:4040");
	i->reg_state = REG_REGISTERED;
	snprintf(i->znode_path, sizeof(i->znode_path), "/kyuubi_1.9_USER_SPARK_SQL/bob/default/n1");
	i->active_sessions = 3;
	i->active_operations = 1;
	i->last_activity_epoch_ms = 1700000000123;
	i->heap_used = 100 << 20;
	i->heap_max = 1024 << 20;
	i->connect_alive = 1;
}

static Sparkshim__V1__StatusResponse *get_status(void)
{
	Sparkshim__V1__StatusRequest req = SPARKSHIM__V1__STATUS_REQUEST__INIT;
	struct rpc_result r;
	assert_int_equal(tl_call(M_STATUS, &req.base, NULL, &r), GRPC_STATUS_OK);
	Sparkshim__V1__StatusResponse *s =
		sparkshim__v1__status_response__unpack(NULL, r.resp_len, r.resp);
	rpc_result_free(&r);
	assert_non_null(s);
	return s;
}

static void status_reports_engine_info(void **state)
{
	(void)state;
	tl_server_up(NULL);
	Sparkshim__V1__StatusResponse *s = get_status();
	/* fresh engine: unknowns are -1, not 0 */
	assert_int_equal(s->state, SPARKSHIM__V1__STATE__STATE_STARTING);
	assert_int_equal(s->pid, getpid());
	assert_int_equal(s->active_sessions, -1);
	assert_int_equal(s->heap_used_bytes, -1);
	assert_int_equal(s->last_activity_ms, -1);
	assert_string_equal(s->connect_endpoint, "");
	assert_string_equal(s->control_endpoint, tl_addr);
	assert_string_equal(s->shim_version, SPARKSHIM_VERSION);
	assert_int_equal(s->registration, SPARKSHIM__V1__REGISTRATION__REGISTRATION_DISABLED);
	sparkshim__v1__status_response__free_unpacked(s, NULL);

	engine_info_update(fill_info, NULL);
	assert_int_equal(lifecycle_fire(TR_READY, "up"), 0);
	s = get_status();
	assert_int_equal(s->state, SPARKSHIM__V1__STATE__STATE_READY);
	assert_string_equal(s->connect_endpoint, "10.1.2.3:15002");
	assert_true(s->connect_alive);
	assert_string_equal(s->spark_version, "3.5.1");
	assert_string_equal(s->app_id, "local-1700000000000");
	assert_string_equal(s->app_name, "kyuubi_USER_SPARK_SQL_bob_default_x");
	assert_string_equal(s->ui_url, "http://10.1.2.3:4040");
	assert_int_equal(s->registration, SPARKSHIM__V1__REGISTRATION__REGISTRATION_REGISTERED);
	assert_string_equal(s->znode_path, "/kyuubi_1.9_USER_SPARK_SQL/bob/default/n1");
	assert_int_equal(s->active_sessions, 3);
	assert_int_equal(s->active_operations, 1);
	assert_int_equal(s->last_activity_ms, 1700000000123);
	assert_int_equal(s->heap_used_bytes, 100 << 20);
	assert_int_equal(s->heap_max_bytes, 1024 << 20);
	assert_true(s->uptime_ms >= 0 && s->uptime_ms < 60000);
	assert_true(s->start_time_ms > 1600000000000);
	sparkshim__v1__status_response__free_unpacked(s, NULL);
	tl_server_down();
}

static grpc_status_code drain(const char *token, const char *reason)
{
	Sparkshim__V1__DrainRequest req = SPARKSHIM__V1__DRAIN_REQUEST__INIT;
	if (reason)
		req.reason = (char *)reason;
	struct rpc_result r;
	grpc_status_code st = tl_call(M_DRAIN, &req.base, token, &r);
	rpc_result_free(&r);
	return st;
}

/* Stop with grace (< -1 = field absent). */
static grpc_status_code stop(const char *token, long long grace)
{
	Sparkshim__V1__StopRequest req = SPARKSHIM__V1__STOP_REQUEST__INIT;
	if (grace >= -1) {
		req.grace_case = SPARKSHIM__V1__STOP_REQUEST__GRACE_GRACE_MS;
		req.grace_ms = grace;
	}
	struct rpc_result r;
	grpc_status_code st = tl_call(M_STOP, &req.base, token, &r);
	rpc_result_free(&r);
	return st;
}

static int pop(struct shim_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	return events_pop(ev);
}

static void drain_posts_event(void **state)
{
	(void)state;
	tl_server_up(NULL);
	struct shim_event ev;
	/* STARTING: nothing to drain */
	assert_int_equal(drain(NULL, NULL), GRPC_STATUS_FAILED_PRECONDITION);
	assert_int_equal(pop(&ev), 0);
	assert_int_equal(lifecycle_fire(TR_READY, "up"), 0);
	assert_int_equal(drain(NULL, "maintenance"), GRPC_STATUS_OK);
	assert_int_equal(pop(&ev), 1);
	assert_int_equal(ev.type, EV_CTL_DRAIN);
	assert_string_equal(ev.text, "maintenance");
	/* draining again succeeds and does not post twice */
	assert_int_equal(lifecycle_fire(TR_DRAIN, "ctl"), 0);
	assert_int_equal(drain(NULL, NULL), GRPC_STATUS_OK);
	assert_int_equal(pop(&ev), 0);
	tl_server_down();
}

static void stop_posts_event_with_grace(void **state)
{
	(void)state;
	tl_server_up(NULL);
	struct shim_event ev;
	assert_int_equal(stop(NULL, -100), GRPC_STATUS_OK); /* absent */
	assert_int_equal(pop(&ev), 1);
	assert_int_equal(ev.type, EV_CTL_STOP);
	assert_int_equal(ev.value, -1);
	assert_int_equal(stop(NULL, 0), GRPC_STATUS_OK); /* present, 0 = now */
	assert_int_equal(pop(&ev), 1);
	assert_int_equal(ev.value, 0);
	assert_int_equal(stop(NULL, 1500), GRPC_STATUS_OK);
	assert_int_equal(pop(&ev), 1);
	assert_int_equal(ev.value, 1500);
	assert_int_equal(stop(NULL, -1), GRPC_STATUS_INVALID_ARGUMENT);
	assert_int_equal(pop(&ev), 0);
	assert_int_equal(lifecycle_fire(TR_STOP, "x"), 0);
	assert_int_equal(stop(NULL, 10), GRPC_STATUS_OK); /* while STOPPING: passed on */
	assert_int_equal(pop(&ev), 1);
	assert_int_equal(lifecycle_fire(TR_STOPPED, "x"), 0);
	assert_int_equal(stop(NULL, 10), GRPC_STATUS_FAILED_PRECONDITION);
	assert_int_equal(pop(&ev), 0);
	tl_server_down();
}

static int fake_ok_calls;
static char fake_last[16];

static int fake_set_ok(const char *level, char *err, size_t errlen, int timeout_ms)
{
	(void)err;
	(void)errlen;
	assert_true(timeout_ms > 0);
	fake_ok_calls++;
	snprintf(fake_last, sizeof(fake_last), "%s", level);
	return 0;
}

static int fake_set_fail(const char *level, char *err, size_t errlen, int timeout_ms)
{
	(void)level;
	(void)timeout_ms;
	snprintf(err, errlen, "java.lang.IllegalStateException: SparkContext stopped");
	return -1;
}

static grpc_status_code set_level(const char *level, const char *token, char *details,
				  size_t cap)
{
	Sparkshim__V1__SetLogLevelRequest req = SPARKSHIM__V1__SET_LOG_LEVEL_REQUEST__INIT;
	req.level = (char *)level;
	struct rpc_result r;
	grpc_status_code st = tl_call(M_LOGLEVEL, &req.base, token, &r);
	if (details)
		snprintf(details, cap, "%s", r.details);
	if (st == GRPC_STATUS_OK) {
		Sparkshim__V1__SetLogLevelResponse *resp =
			sparkshim__v1__set_log_level_response__unpack(NULL, r.resp_len, r.resp);
		assert_non_null(resp);
		assert_string_equal(resp->level, fake_last);
		sparkshim__v1__set_log_level_response__free_unpacked(resp, NULL);
	}
	rpc_result_free(&r);
	return st;
}

static void set_log_level(void **state)
{
	(void)state;
	char d[512];
	tl_server_up(NULL);
	/* the real JVM host: not running here */
	control_set_log_level_hook(NULL);
	assert_int_equal(set_level("INFO", NULL, d, sizeof(d)), GRPC_STATUS_FAILED_PRECONDITION);
	assert_non_null(strstr(d, "setLogLevel(INFO) failed"));

	control_set_log_level_hook(fake_set_ok);
	fake_ok_calls = 0;
	assert_int_equal(set_level("warn", NULL, NULL, 0), GRPC_STATUS_OK);
	assert_string_equal(fake_last, "WARN");
	assert_int_equal(set_level("Trace", NULL, NULL, 0), GRPC_STATUS_OK);
	assert_string_equal(fake_last, "TRACE");
	assert_int_equal(set_level("LOUD", NULL, d, sizeof(d)), GRPC_STATUS_INVALID_ARGUMENT);
	assert_non_null(strstr(d, "invalid log level"));
	assert_int_equal(set_level("", NULL, NULL, 0), GRPC_STATUS_INVALID_ARGUMENT);
	assert_int_equal(fake_ok_calls, 2);

	control_set_log_level_hook(fake_set_fail);
	assert_int_equal(lifecycle_fire(TR_READY, "up"), 0);
	assert_int_equal(set_level("DEBUG", NULL, d, sizeof(d)), GRPC_STATUS_INTERNAL);
	assert_non_null(strstr(d, "SparkContext stopped")); /* the Java message */
	control_set_log_level_hook(NULL);
	log_set_level(LOG_ERROR);
	tl_server_down();
}

/* Drain with a hand-made authorization header value. */
static grpc_status_code raw_auth_drain(const char *value)
{
	grpc_metadata md;
	memset(&md, 0, sizeof(md));
	md.key = grpc_slice_from_static_string("authorization");
	md.value = grpc_slice_from_static_string(value);
	struct rpc_result r;
	assert_int_equal(rpc_unary_md(tl_ch, M_DRAIN, "", 0, &md, 1, T_MS, &r), 0);
	rpc_result_free(&r);
	return r.status;
}

static void token_guards_mutating_calls(void **state)
{
	(void)state;
	tl_server_up(TOKEN);
	assert_int_equal(lifecycle_fire(TR_READY, "up"), 0);
	struct shim_event ev;
	assert_int_equal(drain(NULL, NULL), GRPC_STATUS_UNAUTHENTICATED);
	assert_int_equal(drain("wrong", NULL), GRPC_STATUS_UNAUTHENTICATED);
	assert_int_equal(drain(TOKEN "x", NULL), GRPC_STATUS_UNAUTHENTICATED);
	assert_int_equal(drain("s3cret-toke", NULL), GRPC_STATUS_UNAUTHENTICATED);
	assert_int_equal(stop(NULL, 5), GRPC_STATUS_UNAUTHENTICATED);
	control_set_log_level_hook(fake_set_ok);
	assert_int_equal(set_level("INFO", NULL, NULL, 0), GRPC_STATUS_UNAUTHENTICATED);
	assert_int_equal(set_level("INFO", "nope", NULL, 0), GRPC_STATUS_UNAUTHENTICATED);
	assert_int_equal(pop(&ev), 0); /* nothing got through */

	/* read-only calls stay open */
	Sparkshim__V1__StatusResponse *s = get_status();
	sparkshim__v1__status_response__free_unpacked(s, NULL);
	assert_true(tl_check("") >= 0);

	assert_int_equal(set_level("INFO", TOKEN, NULL, 0), GRPC_STATUS_OK);
	assert_int_equal(drain(TOKEN, NULL), GRPC_STATUS_OK);
	assert_int_equal(pop(&ev), 1);
	assert_int_equal(ev.type, EV_CTL_DRAIN);
	assert_int_equal(stop(TOKEN, 7), GRPC_STATUS_OK);
	assert_int_equal(pop(&ev), 1);
	assert_int_equal(ev.value, 7);

	/* the scheme is case-insensitive; the token itself is not */
	assert_int_equal(raw_auth_drain("bearer " TOKEN), GRPC_STATUS_OK);
	assert_int_equal(raw_auth_drain("BEARER " TOKEN), GRPC_STATUS_OK);
	assert_int_equal(raw_auth_drain("Bearer " "S3CRET-TOKEN"), GRPC_STATUS_UNAUTHENTICATED);
	assert_int_equal(raw_auth_drain("Basic " TOKEN), GRPC_STATUS_UNAUTHENTICATED);
	assert_int_equal(raw_auth_drain("Bearer"), GRPC_STATUS_UNAUTHENTICATED);
	assert_int_equal(raw_auth_drain(TOKEN), GRPC_STATUS_UNAUTHENTICATED);
	while (pop(&ev)) {
	}
	control_set_log_level_hook(NULL);
	log_set_level(LOG_ERROR);
	tl_server_down();
}

static void malformed_control_requests(void **state)
{
	(void)state;
	tl_server_up(NULL);
	static const uint8_t trunc[] = {0x0a, 0x09, 'a'};
	const char *methods[] = {M_STATUS, M_DRAIN, M_STOP, M_LOGLEVEL, M_EVENTS};
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		assert_int_equal(tl_call_raw(methods[i], trunc, sizeof(trunc), NULL),
				 GRPC_STATUS_INVALID_ARGUMENT);
	/* Status takes no fields; a bad varint is still malformed */
	static const uint8_t badvarint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
					    0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	assert_int_equal(tl_call_raw(M_STATUS, badvarint, sizeof(badvarint), NULL),
			 GRPC_STATUS_INVALID_ARGUMENT);
	tl_server_down();
}

static void events_backlog_then_live(void **state)
{
	(void)state;
	tl_server_up(NULL);
	assert_int_equal(lifecycle_fire(TR_READY, "connect port answers"), 0);
	struct rpc_stream *e = tl_events(0, 0);
	Sparkshim__V1__Event *ev = tl_event_next(e, T_MS);
	/* seq 1: the snapshot taken when recording started */
	assert_int_equal(ev->seq, 1);
	assert_int_equal(ev->kind, SPARKSHIM__V1__EVENT__KIND__KIND_TRANSITION);
	assert_int_equal(ev->from_state, SPARKSHIM__V1__STATE__STATE_UNSPECIFIED);
	assert_int_equal(ev->to_state, SPARKSHIM__V1__STATE__STATE_STARTING);
	sparkshim__v1__event__free_unpacked(ev, NULL);
	ev = tl_event_next(e, T_MS);
	assert_int_equal(ev->seq, 2);
	assert_int_equal(ev->from_state, SPARKSHIM__V1__STATE__STATE_STARTING);
	assert_int_equal(ev->to_state, SPARKSHIM__V1__STATE__STATE_READY);
	assert_string_equal(ev->reason, "connect port answers");
	assert_true(ev->time_ms > 1600000000000);
	sparkshim__v1__event__free_unpacked(ev, NULL);
	/* live */
	assert_int_equal(lifecycle_fire(TR_DRAIN, "deregistered"), 0);
	ev = tl_event_next(e, T_MS);
	assert_int_equal(ev->seq, 3);
	assert_int_equal(ev->to_state, SPARKSHIM__V1__STATE__STATE_DRAINING);
	sparkshim__v1__event__free_unpacked(ev, NULL);
	/* a second reader resuming after seq 2 gets only seq 3 */
	struct rpc_stream *e2 = tl_events(2, 1);
	ev = tl_event_next(e2, T_MS);
	assert_int_equal(ev->seq, 3);
	sparkshim__v1__event__free_unpacked(ev, NULL);
	assert_null(tl_event_next(e2, T_MS)); /* backlog_only: ends */
	assert_int_equal(rpc_stream_status(e2, NULL), GRPC_STATUS_OK);
	rpc_stream_close(e2);
	/* a reader already up to date with backlog_only ends at once */
	e2 = tl_events(3, 1);
	assert_null(tl_event_next(e2, T_MS));
	rpc_stream_close(e2);
	/* a burst of transitions all arrive, in order */
	assert_int_equal(lifecycle_fire(TR_STOP, "a"), 0);
	assert_int_equal(lifecycle_fire(TR_STOPPED, "b"), 0);
	ev = tl_event_next(e, T_MS);
	assert_int_equal(ev->seq, 4);
	assert_int_equal(ev->to_state, SPARKSHIM__V1__STATE__STATE_STOPPING);
	sparkshim__v1__event__free_unpacked(ev, NULL);
	ev = tl_event_next(e, T_MS);
	assert_int_equal(ev->seq, 5);
	assert_int_equal(ev->to_state, SPARKSHIM__V1__STATE__STATE_STOPPED);
	sparkshim__v1__event__free_unpacked(ev, NULL);
	rpc_stream_close(e);
	tl_server_down();
}

static void events_gap_when_ring_overflows(void **state)
{
	(void)state;
	tl_server_up(NULL);
	for (int i = 0; i < EVENT_LOG_SIZE + 10; i++)
		event_log_append(ST_READY, ST_READY, "filler");
	uint64_t last = event_log_last_seq();
	assert_int_equal(last, EVENT_LOG_SIZE + 11);
	struct rpc_stream *e = tl_events(0, 1);
	Sparkshim__V1__Event *ev = tl_event_next(e, T_MS);
	assert_int_equal(ev->kind, SPARKSHIM__V1__EVENT__KIND__KIND_GAP);
	assert_int_equal(ev->seq, last - EVENT_LOG_SIZE);
	assert_string_equal(ev->reason, "11 event(s) dropped");
	sparkshim__v1__event__free_unpacked(ev, NULL);
	int n = 0;
	uint64_t prev = last - EVENT_LOG_SIZE;
	while ((ev = tl_event_next(e, T_MS))) {
		assert_int_equal(ev->seq, prev + 1);
		prev = ev->seq;
		n++;
		sparkshim__v1__event__free_unpacked(ev, NULL);
	}
	assert_int_equal(n, EVENT_LOG_SIZE);
	rpc_stream_close(e);
	tl_server_down();
}

static void to_event_log(void *arg, int opened, const char *user, const char *sid)
{
	(void)arg;
	event_log_session(opened, user, sid);
}

/* Front door on: Status lists the door's sessions and Events streams their
 * opening and closing; off (the default) Status says so with -1s. */
static void door_sessions_in_status_and_events(void **state)
{
	(void)state;
	tl_server_up(NULL);
	Sparkshim__V1__StatusResponse *s = get_status();
	assert_false(s->front_door);
	assert_int_equal(s->door_session_count, -1);
	assert_int_equal(s->door_calls_in_flight, -1);
	assert_int_equal(s->n_door_sessions, 0);
	sparkshim__v1__status_response__free_unpacked(s, NULL);

	struct door_limits lim = {0};
	struct door_sessions *t = door_sessions_new(&lim);
	door_sessions_set_event_hook(t, to_event_log, NULL);
	control_set_door_sessions(t);
	uint64_t after = event_log_last_seq();
	int64_t now = monotonic_ms();
	struct door_call *c, *r;
	assert_int_equal(door_call_begin(t, "/spark.connect.SparkConnectService/ExecutePlan",
					 "alice", 5, "sid-1", 5, now, &c), DOOR_ADMIT);
	door_call_bytes(t, c, 100, 4096, now);
	s = get_status();
	assert_true(s->front_door);
	assert_int_equal(s->door_session_count, 1);
	assert_int_equal(s->door_calls_in_flight, 1);
	assert_int_equal(s->n_door_sessions, 1);
	assert_string_equal(s->door_sessions[0]->user_id, "alice");
	assert_string_equal(s->door_sessions[0]->session_id, "sid-1");
	assert_int_equal(s->door_sessions[0]->calls_in_flight, 1);
	assert_int_equal(s->door_sessions[0]->bytes_in, 100);
	assert_int_equal(s->door_sessions[0]->bytes_out, 4096);
	int64_t wall = epoch_ms();
	assert_true(s->door_sessions[0]->last_activity_ms <= wall);
	assert_true(s->door_sessions[0]->last_activity_ms > wall - 60000);
	sparkshim__v1__status_response__free_unpacked(s, NULL);

	door_call_end(t, c, 0, now);
	assert_int_equal(door_call_begin(t, "/spark.connect.SparkConnectService/ReleaseSession",
					 "alice", 5, "sid-1", 5, now, &r), DOOR_ADMIT);
	door_call_end(t, r, 0, now);
	struct rpc_stream *e = tl_events(after, 1);
	Sparkshim__V1__Event *ev = tl_event_next(e, T_MS);
	assert_non_null(ev);
	assert_int_equal(ev->kind, SPARKSHIM__V1__EVENT__KIND__KIND_SESSION_OPENED);
	assert_string_equal(ev->user_id, "alice");
	assert_string_equal(ev->session_id, "sid-1");
	sparkshim__v1__event__free_unpacked(ev, NULL);
	ev = tl_event_next(e, T_MS);
	assert_non_null(ev);
	assert_int_equal(ev->kind, SPARKSHIM__V1__EVENT__KIND__KIND_SESSION_CLOSED);
	assert_string_equal(ev->session_id, "sid-1");
	sparkshim__v1__event__free_unpacked(ev, NULL);
	assert_null(tl_event_next(e, T_MS));
	rpc_stream_close(e);
	s = get_status();
	assert_int_equal(s->door_session_count, 0);
	assert_int_equal(s->n_door_sessions, 0);
	sparkshim__v1__status_response__free_unpacked(s, NULL);
	tl_server_down();
	control_set_door_sessions(NULL);
	door_sessions_free(t);
}

static int slow_ms;

static int fake_set_slow(const char *level, char *err, size_t errlen, int timeout_ms)
{
	(void)level;
	(void)err;
	(void)errlen;
	(void)timeout_ms;
	tl_sleep_ms(slow_ms);
	snprintf(fake_last, sizeof(fake_last), "%s", level);
	return 0;
}

struct slow_call {
	pthread_t t;
	grpc_status_code st;
};

static void *slow_caller(void *arg)
{
	struct slow_call *sc = arg;
	Sparkshim__V1__SetLogLevelRequest req = SPARKSHIM__V1__SET_LOG_LEVEL_REQUEST__INIT;
	req.level = (char *)"INFO";
	size_t len;
	uint8_t *buf = tl_pack(&req.base, &len);
	struct rpc_result r;
	rpc_unary(tl_ch, M_LOGLEVEL, buf, len, NULL, 20000, &r);
	free(buf);
	rpc_result_free(&r);
	sc->st = r.status;
	return NULL;
}

/* SetLogLevel waits on the JVM on a worker thread: the CQ keeps serving,
 * and more than CTL_MAX_WORKERS at once are refused. */
static void blocking_calls_use_capped_workers(void **state)
{
	(void)state;
	tl_server_up(NULL);
	control_set_log_level_hook(fake_set_slow);
	slow_ms = 1500;
	struct slow_call sc[CTL_MAX_WORKERS + 1];
	for (int i = 0; i < CTL_MAX_WORKERS; i++)
		assert_int_equal(pthread_create(&sc[i].t, NULL, slow_caller, &sc[i]), 0);
	tl_sleep_ms(300); /* let them all reach the workers */
	long long t0 = 0;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	assert_int_equal(tl_check(""), GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* not stuck behind the slow calls (generous bound for valgrind) */
	assert_true((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - t0 < 1000);
	slow_caller(&sc[CTL_MAX_WORKERS]);
	assert_int_equal(sc[CTL_MAX_WORKERS].st, GRPC_STATUS_RESOURCE_EXHAUSTED);
	for (int i = 0; i < CTL_MAX_WORKERS; i++) {
		pthread_join(sc[i].t, NULL);
		assert_int_equal(sc[i].st, GRPC_STATUS_OK);
	}
	control_set_log_level_hook(NULL);
	log_set_level(LOG_ERROR);
	tl_server_down();
}

/* A call still running when the server stops: stop waits the grace, then
 * cancels it, waits for the worker, and leaves nothing behind. */
static void stop_cancels_calls_after_grace(void **state)
{
	(void)state;
	tl_server_up(NULL);
	control_set_log_level_hook(fake_set_slow);
	slow_ms = CTL_STOP_GRACE_MS + 1000;
	struct slow_call sc;
	assert_int_equal(pthread_create(&sc.t, NULL, slow_caller, &sc), 0);
	tl_sleep_ms(300);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	tl_stop();
	clock_gettime(CLOCK_MONOTONIC, &b);
	long long ms = (b.tv_sec - a.tv_sec) * 1000LL + (b.tv_nsec - a.tv_nsec) / 1000000;
	assert_true(ms >= CTL_STOP_GRACE_MS - 100);
	pthread_join(sc.t, NULL);
	assert_int_not_equal(sc.st, GRPC_STATUS_OK);
	control_set_log_level_hook(NULL);
	log_set_level(LOG_ERROR);
	tl_server_down();
}

/* A client that half-closes without sending the request message. */
static void missing_request_message(void **state)
{
	(void)state;
	tl_server_up(NULL);
	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_call *call = grpc_channel_create_call(
		tl_ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, grpc_slice_from_static_string(M_STATUS),
		NULL, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(T_MS, GPR_TIMESPAN)),
		NULL);
	grpc_metadata_array trailing;
	grpc_metadata_array_init(&trailing);
	grpc_status_code st = GRPC_STATUS_OK;
	grpc_slice details = grpc_empty_slice();
	grpc_metadata_array initial;
	grpc_metadata_array_init(&initial);
	grpc_op ops[4];
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	/* gRPC only hands a client its status once initial metadata is read */
	ops[2].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[2].data.recv_initial_metadata.recv_initial_metadata = &initial;
	ops[3].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[3].data.recv_status_on_client.trailing_metadata = &trailing;
	ops[3].data.recv_status_on_client.status = &st;
	ops[3].data.recv_status_on_client.status_details = &details;
	assert_int_equal(grpc_call_start_batch(call, ops, 4, (void *)1, NULL), GRPC_CALL_OK);
	grpc_completion_queue_pluck(cq, (void *)1, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	assert_int_equal(st, GRPC_STATUS_INVALID_ARGUMENT);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&trailing);
	grpc_metadata_array_destroy(&initial);
	grpc_call_unref(call);
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN) {
	}
	grpc_completion_queue_destroy(cq);
	tl_server_down();
}

static int start_err(const char *bind, const char *token, char *bound, int *err_no)
{
	char err[256];
	char b[300];
	errno = 0;
	struct ctl_server *srv = tl_start(bind, token, 0, bound ? bound : b, 300, err, sizeof(err));
	*err_no = errno;
	int rc = srv ? 0 : -1;
	if (srv)
		tl_srv = srv;
	if (rc < 0) {
		assert_true(strlen(err) > 0);
		assert_null(strchr(err, '\n'));
	}
	return rc;
}

static void start_refusals(void **state)
{
	(void)state;
	lifecycle_reset();
	event_log_reset();
	engine_info_reset();
	int e;
	assert_int_equal(start_err("0.0.0.0:0", NULL, NULL, &e), -1);
	assert_int_equal(e, EINVAL);
	assert_int_equal(start_err("[::]:0", "", NULL, &e), -1);
	assert_int_equal(e, EINVAL);
	assert_int_equal(start_err("example.com:0", NULL, NULL, &e), -1);
	assert_int_equal(start_err("127.0.0.1", NULL, NULL, &e), -1);
	assert_int_equal(e, EINVAL);
	assert_int_equal(start_err("127.0.0.1:99999", NULL, NULL, &e), -1);
	assert_int_equal(start_err("unix:relative.sock", NULL, NULL, &e), -1);
	assert_int_equal(start_err("", NULL, NULL, &e), -1);

	/* port in use */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	socklen_t sl = sizeof(sa);
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	char busy[64];
	snprintf(busy, sizeof(busy), "127.0.0.1:%d", ntohs(sa.sin_port));
	assert_int_equal(start_err(busy, NULL, NULL, &e), -1);
	assert_int_equal(e, EADDRINUSE);
	close(fd);

	/* a non-loopback bind with a token is allowed */
	char bound[300];
	assert_int_equal(start_err("0.0.0.0:0", TOKEN, bound, &e), 0);
	assert_non_null(strstr(bound, "0.0.0.0:"));
	assert_int_equal(start_err("127.0.0.1:0", NULL, NULL, &e), -1);
	assert_int_equal(e, EALREADY);
	tl_stop();
	tl_stop(); /* idempotent */
}

static void bind_variants(void **state)
{
	(void)state;
	lifecycle_reset();
	event_log_reset();
	engine_info_reset();
	char bound[300], path[128], ubind[140];
	int e;
	snprintf(path, sizeof(path), "/tmp/sparkshim-ctl-test-%d.sock", (int)getpid());
	snprintf(ubind, sizeof(ubind), "unix:%s", path);
	assert_int_equal(start_err(ubind, NULL, bound, &e), 0);
	assert_string_equal(bound, ubind);
	tl_ch = rpc_channel_open(bound);
	assert_true(tl_check("") >= 0);
	grpc_channel_destroy(tl_ch);
	tl_ch = NULL;
	tl_stop();
	unlink(path);

	/* IPv6 loopback, when the host has it */
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 sa6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	int have6 = fd >= 0 && bind(fd, (struct sockaddr *)&sa6, sizeof(sa6)) == 0;
	if (fd >= 0)
		close(fd);
	if (have6) {
		assert_int_equal(start_err("[::1]:0", NULL, bound, &e), 0);
		assert_true(strncmp(bound, "[::1]:", 6) == 0 && atoi(bound + 6) > 0);
		tl_ch = rpc_channel_open(bound);
		assert_true(tl_check("") >= 0);
		grpc_channel_destroy(tl_ch);
		tl_ch = NULL;
		tl_stop();
	}
	/* restart on the same process works, and the port is reusable */
	assert_int_equal(start_err("127.0.0.1:0", NULL, bound, &e), 0);
	tl_stop();
	char again[300];
	assert_int_equal(start_err(bound, NULL, again, &e), 0);
	assert_string_equal(again, bound);
	tl_stop();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(status_reports_engine_info, tl_down),
		cmocka_unit_test_teardown(drain_posts_event, tl_down),
		cmocka_unit_test_teardown(stop_posts_event_with_grace, tl_down),
		cmocka_unit_test_teardown(set_log_level, tl_down),
		cmocka_unit_test_teardown(token_guards_mutating_calls, tl_down),
		cmocka_unit_test_teardown(malformed_control_requests, tl_down),
		cmocka_unit_test_teardown(events_backlog_then_live, tl_down),
		cmocka_unit_test_teardown(events_gap_when_ring_overflows, tl_down),
		cmocka_unit_test_teardown(door_sessions_in_status_and_events, tl_down),
		cmocka_unit_test_teardown(blocking_calls_use_capped_workers, tl_down),
		cmocka_unit_test_teardown(stop_cancels_calls_after_grace, tl_down),
		cmocka_unit_test_teardown(missing_request_message, tl_down),
		cmocka_unit_test_teardown(start_refusals, tl_down),
		cmocka_unit_test_teardown(bind_variants, tl_down),
	};
	/* One outer gRPC reference for the whole run (see tl_grpc_quiesce). */
	grpc_init();
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	tl_grpc_quiesce();
	return rc;
}
