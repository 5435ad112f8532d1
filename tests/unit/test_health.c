/* grpc.health.v1 on the control server: status rules, Check, Watch,
 * robustness (malformed, oversized, unknown method, cancel, caps, stop). */
#include "tests/unit/ctl_testlib.h"

#include <pthread.h>

#include "shim/ctl/ctl_service.h"
#include "shim/ctl/health_service.h"

enum {
	SERVING = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING,
	NOT_SERVING = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING,
	SERVICE_UNKNOWN = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN,
};

static void status_rules(void **state)
{
	(void)state;
	const char *svcs[] = {"", SVC_CONNECT};
	for (int s = 0; s < 2; s++)
		for (int st = 0; st < ST__COUNT; st++)
			for (int alive = 0; alive < 2; alive++) {
				int want = st == ST_READY && alive ? SERVING : NOT_SERVING;
				assert_int_equal(health_status_for(svcs[s], st, alive), want);
			}
	assert_int_equal(health_status_for("nope", ST_READY, 1), -1);
	assert_int_equal(health_status_for("spark.connect.SparkConnectServic", ST_READY, 1), -1);
}

static void check_follows_state(void **state)
{
	(void)state;
	tl_server_up(NULL);
	assert_int_equal(tl_check(""), NOT_SERVING); /* STARTING */
	assert_int_equal(lifecycle_fire(TR_READY, "test"), 0);
	assert_int_equal(tl_check(""), NOT_SERVING); /* READY, connect not alive */
	tl_alive(1);
	assert_int_equal(tl_check(""), SERVING);
	assert_int_equal(tl_check(SVC_CONNECT), SERVING);
	assert_int_equal(tl_check("no.such.Service"), -GRPC_STATUS_NOT_FOUND);
	tl_alive(0);
	assert_int_equal(tl_check(SVC_CONNECT), NOT_SERVING);
	tl_alive(1);
	assert_int_equal(lifecycle_fire(TR_DRAIN, "test"), 0);
	assert_int_equal(tl_check(""), NOT_SERVING);
	assert_int_equal(tl_check(SVC_CONNECT), NOT_SERVING);
	assert_int_equal(lifecycle_fire(TR_STOP, "test"), 0);
	assert_int_equal(tl_check(""), NOT_SERVING);
	tl_server_down();
}

static void malformed_request(void **state)
{
	(void)state;
	tl_server_up(NULL);
	/* field 1, length 5, but only one byte follows */
	static const uint8_t trunc[] = {0x0a, 0x05, 'a'};
	assert_int_equal(tl_call_raw(M_CHECK, trunc, sizeof(trunc), NULL),
			 GRPC_STATUS_INVALID_ARGUMENT);
	/* wire type 7 does not exist */
	static const uint8_t badwire[] = {0x0f, 0x00};
	assert_int_equal(tl_call_raw(M_CHECK, badwire, sizeof(badwire), NULL),
			 GRPC_STATUS_INVALID_ARGUMENT);
	assert_int_equal(tl_call_raw(M_WATCH, trunc, sizeof(trunc), NULL),
			 GRPC_STATUS_INVALID_ARGUMENT);
	/* unknown fields are fine (forward compatibility) */
	static const uint8_t unknown_field[] = {0x10, 0x01};
	assert_int_equal(tl_call_raw(M_CHECK, unknown_field, sizeof(unknown_field), NULL),
			 GRPC_STATUS_OK);
	tl_server_down();
}

/* Status of a Check for a service name of n 'x' characters. */
static grpc_status_code check_name_len(size_t n)
{
	char *name = malloc(n + 1);
	assert_non_null(name);
	memset(name, 'x', n);
	name[n] = '\0';
	Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	req.service = name;
	struct rpc_result r;
	grpc_status_code st = tl_call(M_CHECK, &req.base, NULL, &r);
	rpc_result_free(&r);
	free(name);
	return st;
}

static void oversized_request(void **state)
{
	(void)state;
	tl_server_up_opts(NULL, 1024);
	assert_int_equal(check_name_len(4000), GRPC_STATUS_RESOURCE_EXHAUSTED);
	assert_int_equal(check_name_len(1100), GRPC_STATUS_RESOURCE_EXHAUSTED);
	/* just under the limit: decoded, then NOT_FOUND (no such service) */
	assert_int_equal(check_name_len(1000), GRPC_STATUS_NOT_FOUND);
	assert_int_equal(tl_check(""), NOT_SERVING); /* server still fine */
	tl_server_down();
}

static void unknown_method(void **state)
{
	(void)state;
	tl_server_up(NULL);
	assert_int_equal(tl_call_raw("/grpc.health.v1.Health/Nope", "", 0, NULL),
			 GRPC_STATUS_UNIMPLEMENTED);
	assert_int_equal(tl_call_raw("/spark.connect.SparkConnectService/ExecutePlan", "", 0, NULL),
			 GRPC_STATUS_UNIMPLEMENTED);
	assert_int_equal(tl_check(""), NOT_SERVING);
	tl_server_down();
}

static void watch_sees_transitions(void **state)
{
	(void)state;
	tl_server_up(NULL);
	struct rpc_stream *w = tl_watch("");
	struct rpc_stream *wc = tl_watch(SVC_CONNECT);
	assert_int_equal(tl_watch_next(w, T_MS), NOT_SERVING);
	assert_int_equal(tl_watch_next(wc, T_MS), NOT_SERVING);
	/* READY without a live connect port is no change for a watcher */
	assert_int_equal(lifecycle_fire(TR_READY, "test"), 0);
	assert_int_equal(tl_watch_next(w, 200), -2);
	tl_alive(1);
	assert_int_equal(tl_watch_next(w, T_MS), SERVING);
	assert_int_equal(tl_watch_next(wc, T_MS), SERVING);
	assert_int_equal(lifecycle_fire(TR_DRAIN, "test"), 0);
	assert_int_equal(tl_watch_next(w, T_MS), NOT_SERVING);
	assert_int_equal(tl_watch_next(wc, T_MS), NOT_SERVING);
	assert_int_equal(tl_stream_count(), 2);
	/* client goes away: the server must notice and free the stream */
	rpc_stream_close(w);
	rpc_stream_close(wc);
	assert_int_equal(tl_wait_for(tl_stream_count, 0, T_MS), 0);
	tl_server_down();
}

static void watch_unknown_service(void **state)
{
	(void)state;
	tl_server_up(NULL);
	struct rpc_stream *w = tl_watch("no.such.Service");
	assert_int_equal(tl_watch_next(w, T_MS), SERVICE_UNKNOWN);
	assert_int_equal(lifecycle_fire(TR_READY, "test"), 0);
	tl_alive(1);
	assert_int_equal(tl_watch_next(w, 300), -2); /* stays open, silent */
	/* server stop: no final message for an unknown service, status OK */
	tl_server_down();
	assert_int_equal(tl_watch_next(w, T_MS), -1);
	assert_int_equal(rpc_stream_status(w, NULL), GRPC_STATUS_OK);
	rpc_stream_close(w);
}

static void stop_with_streams_open(void **state)
{
	(void)state;
	tl_server_up(NULL);
	assert_int_equal(lifecycle_fire(TR_READY, "test"), 0);
	tl_alive(1);
	struct rpc_stream *w[3];
	for (int i = 0; i < 3; i++) {
		w[i] = tl_watch("");
		assert_int_equal(tl_watch_next(w[i], T_MS), SERVING);
	}
	struct rpc_stream *e = tl_events(0, 0);
	Sparkshim__V1__Event *ev;
	while ((ev = tl_event_next(e, T_MS)) && ev->to_state != SPARKSHIM__V1__STATE__STATE_READY)
		sparkshim__v1__event__free_unpacked(ev, NULL);
	assert_non_null(ev);
	sparkshim__v1__event__free_unpacked(ev, NULL);
	/* one stream whose client never reads: stop must not hang on it */
	struct rpc_stream *idle = tl_watch(SVC_CONNECT);
	assert_int_equal(tl_wait_for(tl_stream_count, 5, T_MS), 5);

	tl_server_down();
	for (int i = 0; i < 3; i++) {
		assert_int_equal(tl_watch_next(w[i], T_MS), NOT_SERVING); /* final */
		assert_int_equal(tl_watch_next(w[i], T_MS), -1);
		assert_int_equal(rpc_stream_status(w[i], NULL), GRPC_STATUS_OK);
		rpc_stream_close(w[i]);
	}
	ev = tl_event_next(e, T_MS);
	assert_non_null(ev);
	assert_int_equal(ev->kind, SPARKSHIM__V1__EVENT__KIND__KIND_END_OF_STREAM);
	sparkshim__v1__event__free_unpacked(ev, NULL);
	assert_null(tl_event_next(e, T_MS));
	assert_int_equal(rpc_stream_status(e, NULL), GRPC_STATUS_OK);
	rpc_stream_close(e);
	rpc_stream_close(idle);
	assert_int_equal(tl_stream_count(), 0);
}

static void stream_cap(void **state)
{
	(void)state;
	tl_server_up(NULL);
	static struct rpc_stream *s[CTL_MAX_STREAMS];
	for (int i = 0; i < CTL_MAX_STREAMS; i++) {
		s[i] = tl_watch("");
		assert_int_equal(tl_watch_next(s[i], T_MS), NOT_SERVING);
	}
	struct rpc_stream *over = tl_watch("");
	assert_int_equal(tl_watch_next(over, T_MS), -1);
	assert_int_equal(rpc_stream_status(over, NULL), GRPC_STATUS_RESOURCE_EXHAUSTED);
	rpc_stream_close(over);
	/* unary calls still work at the cap */
	assert_int_equal(tl_check(""), NOT_SERVING);
	/* freeing one slot admits a new stream */
	rpc_stream_close(s[0]);
	assert_int_equal(tl_wait_for(tl_stream_count, CTL_MAX_STREAMS - 1, T_MS),
			 CTL_MAX_STREAMS - 1);
	s[0] = tl_watch("");
	assert_int_equal(tl_watch_next(s[0], T_MS), NOT_SERVING);
	for (int i = 0; i < CTL_MAX_STREAMS; i++)
		rpc_stream_close(s[i]);
	tl_server_down();
}

#define N_CLIENTS 64
#define N_CALLS 50

static void *client_main(void *arg)
{
	grpc_channel *ch = rpc_channel_open(tl_addr);
	long ok = 0;
	for (int i = 0; i < N_CALLS; i++) {
		struct rpc_result r;
		/* service "" -> zero-byte request */
		if (rpc_unary(ch, M_CHECK, "", 0, NULL, T_MS * 4, &r) == 0 &&
		    r.status == GRPC_STATUS_OK && r.resp_len == 2 && r.resp[1] == SERVING)
			ok++;
		rpc_result_free(&r);
	}
	grpc_channel_destroy(ch);
	(void)arg;
	return (void *)ok;
}

static void many_concurrent_clients(void **state)
{
	(void)state;
	tl_server_up(NULL);
	assert_int_equal(lifecycle_fire(TR_READY, "test"), 0);
	tl_alive(1);
	pthread_t t[N_CLIENTS];
	for (int i = 0; i < N_CLIENTS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, client_main, NULL), 0);
	long total = 0;
	for (int i = 0; i < N_CLIENTS; i++) {
		void *ok;
		pthread_join(t[i], &ok);
		total += (long)ok;
	}
	assert_int_equal(total, N_CLIENTS * N_CALLS);
	tl_server_down();
}

static void client_cancels_unary_deadline(void **state)
{
	(void)state;
	tl_server_up(NULL);
	/* A deadline that expires at once must leave the server unharmed. */
	for (int i = 0; i < 20; i++) {
		struct rpc_result r;
		assert_int_equal(rpc_unary(tl_ch, M_CHECK, "", 0, NULL, 0, &r), 0);
		rpc_result_free(&r);
	}
	assert_int_equal(tl_check(""), NOT_SERVING);
	tl_server_down();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(status_rules, tl_down),
		cmocka_unit_test_teardown(check_follows_state, tl_down),
		cmocka_unit_test_teardown(malformed_request, tl_down),
		cmocka_unit_test_teardown(oversized_request, tl_down),
		cmocka_unit_test_teardown(unknown_method, tl_down),
		cmocka_unit_test_teardown(watch_sees_transitions, tl_down),
		cmocka_unit_test_teardown(watch_unknown_service, tl_down),
		cmocka_unit_test_teardown(stop_with_streams_open, tl_down),
		cmocka_unit_test_teardown(stream_cap, tl_down),
		cmocka_unit_test_teardown(many_concurrent_clients, tl_down),
		cmocka_unit_test_teardown(client_cancels_unary_deadline, tl_down),
	};
	/* One outer gRPC reference for the whole run (see tl_grpc_quiesce). */
	grpc_init();
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	tl_grpc_quiesce();
	return rc;
}
