/* Shared helpers for the control-channel unit tests (header-only: the
 * Makefile builds each tests/unit/test_*.c on its own). They start the real
 * server on 127.0.0.1:0 in-process and talk to it with the C core client. */
#ifndef SPARKSHIM_CTL_TESTLIB_H
#define SPARKSHIM_CTL_TESTLIB_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <grpc/grpc.h>

#include "base/engine_info.h"
#include "base/events.h"
#include "base/lifecycle.h"
#include "base/log.h"
#include "control.pb-c.h"
#include "health.pb-c.h"
#include "shim/ctl/ctl_service.h"
#include "shim/ctl/health_service.h"
#include "shim/ctl/control_service.h"
#include "shim/ctl/event_log.h"
#include "shim/ctl/grpc_server.h"
#include "shim/ctl/rpc_client.h"

#define M_CHECK "/grpc.health.v1.Health/Check"
#define M_WATCH "/grpc.health.v1.Health/Watch"
#define M_STATUS "/sparkshim.v1.Control/Status"
#define M_DRAIN "/sparkshim.v1.Control/Drain"
#define M_STOP "/sparkshim.v1.Control/Stop"
#define M_EVENTS "/sparkshim.v1.Control/Events"
#define M_LOGLEVEL "/sparkshim.v1.Control/SetLogLevel"
#define SVC_CONNECT "spark.connect.SparkConnectService"
#define T_MS 5000 /* generous per-call deadline: valgrind is slow */

static char tl_addr[300];
static grpc_channel *tl_ch;
static struct ctl_server *tl_srv; /* the health + control server under test */

/* The health + control instance, as the launcher builds it. */
static const struct ctl_service *const tl_services[] = {&health_service, &control_service};

static inline struct ctl_server *tl_start(const char *bind, const char *token, size_t max_message,
					  char *bound, size_t boundlen, char *err, size_t errlen)
{
	struct ctl_server_opts o = {.bind = bind, .token = token, .max_message = max_message,
				    .services = tl_services, .n_services = 2,
				    .publish_endpoint = 1};
	return ctl_server_start(&o, bound, boundlen, err, errlen);
}

static inline void tl_stop(void)
{
	ctl_server_stop(tl_srv);
	tl_srv = NULL;
}

/* Open streams of the server under test (for tl_wait_for). */
static inline int tl_stream_count(void) { return ctl_server_stream_count(tl_srv); }

static void tl_set_alive(struct engine_info *i, void *arg) { i->connect_alive = *(int *)arg; }

static inline void tl_alive(int v)
{
	engine_info_update(tl_set_alive, &v);
	lifecycle_kick(); /* what the lead's main loop does after a probe */
}

/* Fresh process-wide state, then the server on an ephemeral port. */
static inline void tl_server_up_opts(const char *token, size_t max_message)
{
	log_set_level(LOG_ERROR);
	lifecycle_reset();
	event_log_reset();
	engine_info_reset();
	events_init();
	struct shim_event ev;
	while (events_pop(&ev)) {
	}
	char err[256];
	tl_srv = tl_start("127.0.0.1:0", token, max_message, tl_addr, sizeof(tl_addr), err,
			  sizeof(err));
	if (!tl_srv)
		fail_msg("ctl_server_start: %s", err);
	tl_ch = rpc_channel_open(tl_addr);
	assert_non_null(tl_ch);
}

static inline void tl_server_up(const char *token) { tl_server_up_opts(token, 0); }

static inline void tl_server_down(void)
{
	if (tl_ch)
		grpc_channel_destroy(tl_ch);
	tl_ch = NULL;
	tl_stop();
}

/* cmocka teardown: whatever a test left running goes down. */
static inline int tl_down(void **state)
{
	(void)state;
	tl_server_down();
	return 0;
}

/* Pack any protobuf-c message into a malloc'd buffer. */
static inline uint8_t *tl_pack(const ProtobufCMessage *m, size_t *len)
{
	*len = protobuf_c_message_get_packed_size(m);
	uint8_t *p = malloc(*len ? *len : 1);
	assert_non_null(p);
	protobuf_c_message_pack(m, p);
	return p;
}

/* Unary call with a packed message; returns the status, response in r. */
static inline grpc_status_code tl_call(const char *method, const ProtobufCMessage *m,
				       const char *token, struct rpc_result *r)
{
	size_t len;
	uint8_t *buf = tl_pack(m, &len);
	int rc = rpc_unary(tl_ch, method, buf, len, token, T_MS, r);
	free(buf);
	assert_int_equal(rc, 0);
	return r->status;
}

static inline grpc_status_code tl_call_raw(const char *method, const void *buf, size_t len,
					   const char *token)
{
	struct rpc_result r;
	assert_int_equal(rpc_unary(tl_ch, method, buf, len, token, T_MS, &r), 0);
	rpc_result_free(&r);
	return r.status;
}

/* Health Check: serving status, or -(grpc status) on a non-OK call. */
static inline int tl_check(const char *service)
{
	Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	req.service = (char *)service;
	struct rpc_result r;
	grpc_status_code st = tl_call(M_CHECK, &req.base, NULL, &r);
	if (st != GRPC_STATUS_OK) {
		rpc_result_free(&r);
		return -(int)st;
	}
	Grpc__Health__V1__HealthCheckResponse *resp =
		grpc__health__v1__health_check_response__unpack(NULL, r.resp_len, r.resp);
	rpc_result_free(&r);
	assert_non_null(resp);
	int s = resp->status;
	grpc__health__v1__health_check_response__free_unpacked(resp, NULL);
	return s;
}

static inline struct rpc_stream *tl_open_stream(const char *method, const ProtobufCMessage *m)
{
	size_t len;
	uint8_t *buf = tl_pack(m, &len);
	struct rpc_stream *s;
	char err[256];
	int rc = rpc_stream_open(tl_ch, method, buf, len, NULL, -1, &s, err, sizeof(err));
	free(buf);
	if (rc != 0)
		fail_msg("rpc_stream_open: %s", err);
	return s;
}

static inline struct rpc_stream *tl_watch(const char *service)
{
	Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	req.service = (char *)service;
	return tl_open_stream(M_WATCH, &req.base);
}

/* Next Watch message: its status; -1 stream ended; -2 nothing in wait_ms. */
static inline int tl_watch_next(struct rpc_stream *s, int wait_ms)
{
	uint8_t *msg;
	size_t len;
	int r = rpc_stream_next(s, &msg, &len, wait_ms);
	if (r == 0)
		return -1;
	if (r == -2)
		return -2;
	assert_int_equal(r, 1);
	Grpc__Health__V1__HealthCheckResponse *resp =
		grpc__health__v1__health_check_response__unpack(NULL, len, msg);
	free(msg);
	assert_non_null(resp);
	int st = resp->status;
	grpc__health__v1__health_check_response__free_unpacked(resp, NULL);
	return st;
}

static inline struct rpc_stream *tl_events(uint64_t after, int backlog_only)
{
	Sparkshim__V1__EventsRequest req = SPARKSHIM__V1__EVENTS_REQUEST__INIT;
	req.after_seq = after;
	req.backlog_only = backlog_only;
	return tl_open_stream(M_EVENTS, &req.base);
}

/* Next event (caller frees with sparkshim__v1__event__free_unpacked), NULL
 * when the stream ended. Fails the test when nothing comes in wait_ms. */
static inline Sparkshim__V1__Event *tl_event_next(struct rpc_stream *s, int wait_ms)
{
	uint8_t *msg;
	size_t len;
	int r = rpc_stream_next(s, &msg, &len, wait_ms);
	if (r == 0)
		return NULL;
	if (r == -2)
		fail_msg("no event within %d ms", wait_ms);
	assert_int_equal(r, 1);
	Sparkshim__V1__Event *ev = sparkshim__v1__event__unpack(NULL, len, msg);
	free(msg);
	assert_non_null(ev);
	return ev;
}

static inline void tl_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* End of a test binary: channels and subchannels are torn down
 * asynchronously by gRPC's executor and grpc_shutdown_blocking() does not
 * wait for that; give it a moment so valgrind/LSan see an idle library
 * rather than objects still being freed. Pairs with a grpc_init() at the
 * start of main. */
static inline void tl_grpc_quiesce(void)
{
	tl_sleep_ms(500);
	grpc_shutdown_blocking();
}

/* Poll until fn() == want or timeout; returns the last value. */
static inline int tl_wait_for(int (*fn)(void), int want, int timeout_ms)
{
	int v = fn();
	for (int t = 0; v != want && t < timeout_ms; t += 10) {
		tl_sleep_ms(10);
		v = fn();
	}
	return v;
}

#endif
