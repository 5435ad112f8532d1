/* libFuzzer harness for every request decoder of the control server.
 * Input: byte 0 picks the method, byte 1 the lifecycle state to be in,
 * byte 2 whether the connect port is alive; the rest is the request message
 * exactly as it would arrive off the wire. Each handler must answer with
 * either a status or a message, never crash, leak or read out of bounds
 * (ASan/UBSan/LSan check that), whatever the bytes.
 *
 * Links the services and their pure dependencies only, no gRPC: the
 * handlers see serialized bytes, which is exactly the attack surface.
 * tests/fuzz/stubs.c stands in for the JVM. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/engine_info.h"
#include "base/events.h"
#include "base/lifecycle.h"
#include "base/log.h"
#include "shim/ctl/ctl_service.h"
#include "shim/ctl/health_service.h"
#include "shim/ctl/control_service.h"
#include "shim/ctl/event_log.h"

static void set_alive(struct engine_info *i, void *arg) { i->connect_alive = *(int *)arg; }

/* Reach state st from STARTING through the lifecycle table. */
static void enter_state(int st)
{
	lifecycle_reset();
	static const enum shim_trigger path[ST__COUNT][3] = {
		[ST_STARTING] = {TR__COUNT},
		[ST_READY] = {TR_READY, TR__COUNT},
		[ST_DRAINING] = {TR_READY, TR_DRAIN, TR__COUNT},
		[ST_STOPPING] = {TR_STOP, TR__COUNT},
		[ST_STOPPED] = {TR_STOP, TR_STOPPED, TR__COUNT},
		[ST_FAILED] = {TR_FAIL, TR__COUNT},
	};
	for (int i = 0; i < 3 && path[st][i] != TR__COUNT; i++)
		lifecycle_fire(path[st][i], "fuzz");
}

static void check_reply(const struct ctl_reply *r)
{
	if (r->code == GRPC_STATUS_OK && !r->msg)
		abort(); /* OK must carry a response */
	if (r->code != GRPC_STATUS_OK && r->msg)
		abort(); /* errors carry no message */
	if (memchr(r->details, '\0', sizeof(r->details)) == NULL)
		abort();
}

static void run_stream(const struct ctl_stream_ops *ops, const uint8_t *req, size_t len)
{
	void *st = NULL;
	struct ctl_reply err = {.code = GRPC_STATUS_OK};
	if (ops->open(req, len, &st, &err) < 0) {
		if (err.code == GRPC_STATUS_OK)
			abort(); /* a refusal needs a status */
		ctl_reply_free(&err);
		return;
	}
	/* Pull a few messages, as the server would while serving the stream. */
	for (int i = 0; i < 4; i++) {
		uint8_t *msg = NULL;
		size_t n = 0;
		int r = ops->next(st, &msg, &n);
		free(msg);
		if (r < 0)
			break;
	}
	uint8_t *msg = NULL;
	size_t n = 0;
	ops->final(st, &msg, &n);
	free(msg);
	ops->free(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int inited;
	if (!inited) {
		log_set_level(LOG_ERROR);
		engine_info_reset();
		events_init();
		inited = 1;
	}
	if (size < 3)
		return 0;
	size_t n_methods = n_health_methods + n_control_methods;
	size_t mi = data[0] % n_methods;
	const struct ctl_method *m =
		mi < n_health_methods ? &health_methods[mi] : &control_methods[mi - n_health_methods];
	enter_state(data[1] % ST__COUNT);
	event_log_reset();
	event_log_attach();
	int alive = data[2] & 1;
	engine_info_update(set_alive, &alive);
	const uint8_t *req = data + 3;
	size_t len = size - 3;
	if (m->unary) {
		struct ctl_reply r = {.code = GRPC_STATUS_OK};
		m->unary(req, len, &r);
		check_reply(&r);
		ctl_reply_free(&r);
		log_set_level(LOG_ERROR); /* SetLogLevel changes the shim's level too */
	} else {
		run_stream(m->stream, req, len);
	}
	/* Drain/Stop post to the main loop's queue; empty it like main would. */
	struct shim_event ev;
	while (events_pop(&ev)) {
	}
	return 0;
}
