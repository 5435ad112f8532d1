/* sparkshim.v1.Control: Status, Drain, Stop, Events, SetLogLevel.
 * The service never acts on the process itself: Drain and Stop post events
 * to the main loop, which owns every decision (base/events.h). It only
 * refuses requests that cannot make sense in the current state, so a caller
 * gets FAILED_PRECONDITION instead of a silent no-op. */
#include "shim/ctl/control_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "base/clock.h"
#include "base/engine_info.h"
#include "base/events.h"
#include "base/log.h"
#include "control.pb-c.h"
#include "jni/jvm_host.h"
#include "shim/ctl/ctl_addr.h"
#include "shim/ctl/ctl_service.h"
#include "shim/ctl/door_sessions.h"
#include "shim/ctl/event_log.h"

#ifndef SPARKSHIM_VERSION
#define SPARKSHIM_VERSION "0.0.0"
#endif

/* SetLogLevel waits this long for the JVM; it runs on a worker thread. */
#define LOG_LEVEL_TIMEOUT_MS 5000

int proto_state(int shim_state)
{
	return shim_state >= 0 && shim_state < ST__COUNT ? shim_state + 1 : 0;
}

/* At most this many sessions are listed in a Status answer. */
#define STATUS_MAX_SESSIONS 1000

struct door_status {
	struct door_session_info info[STATUS_MAX_SESSIONS];
	Sparkshim__V1__DoorSession msg[STATUS_MAX_SESSIONS];
	Sparkshim__V1__DoorSession *ptr[STATUS_MAX_SESSIONS];
};

static ctl_set_log_level_fn set_log_level_fn = jvm_set_log_level;

void control_set_log_level_hook(ctl_set_log_level_fn fn)
{
	set_log_level_fn = fn ? fn : jvm_set_log_level;
}

/* The front door's session table, set by the launcher (NULL: door off). */
static struct door_sessions *door;

void control_set_door_sessions(struct door_sessions *t) { door = t; }


/* Fill s's door fields; returns what the caller frees (or NULL). */
static struct door_status *door_status_fill(Sparkshim__V1__StatusResponse *s)
{
	s->door_session_count = -1;
	s->door_calls_in_flight = -1;
	if (!door)
		return NULL;
	s->front_door = 1;
	int64_t now = monotonic_ms(), wall = epoch_ms();
	struct door_activity a;
	door_sessions_activity(door, now, &a);
	s->door_calls_in_flight = (int32_t)a.calls_in_flight;
	struct door_status *ds = calloc(1, sizeof(*ds));
	if (!ds)
		return NULL;
	size_t all = door_sessions_snapshot(door, ds->info, STATUS_MAX_SESSIONS);
	size_t n = all < STATUS_MAX_SESSIONS ? all : STATUS_MAX_SESSIONS;
	s->door_session_count = (int32_t)all;
	for (size_t i = 0; i < n; i++) {
		const struct door_session_info *in = &ds->info[i];
		Sparkshim__V1__DoorSession *o = &ds->msg[i];
		sparkshim__v1__door_session__init(o);
		o->user_id = (char *)in->user_id;
		o->session_id = (char *)in->session_id;
		o->first_activity_ms = wall - (now - in->first_ms);
		o->last_activity_ms = wall - (now - in->last_ms);
		o->calls_in_flight = (int32_t)in->calls_in_flight;
		o->calls_total = in->calls_total;
		o->bytes_in = in->bytes_in;
		o->bytes_out = in->bytes_out;
		ds->ptr[i] = o;
	}
	s->n_door_sessions = n;
	s->door_sessions = ds->ptr;
	return ds;
}

static void status(const uint8_t *req, size_t len, struct ctl_reply *out)
{
	Sparkshim__V1__StatusRequest *r = sparkshim__v1__status_request__unpack(NULL, len, req);
	if (!r) {
		ctl_reply_error(out, GRPC_STATUS_INVALID_ARGUMENT, "malformed StatusRequest");
		return;
	}
	sparkshim__v1__status_request__free_unpacked(r, NULL);

	struct engine_info info;
	engine_info_get(&info);
	char endpoint[300] = "";
	if (info.connect_port > 0) {
		const char *h = info.connect_host[0] ? info.connect_host : "127.0.0.1";
		ctl_addr_format(h, info.connect_port, endpoint, sizeof(endpoint));
	}
	Sparkshim__V1__StatusResponse s = SPARKSHIM__V1__STATUS_RESPONSE__INIT;
	s.state = proto_state(lifecycle_state());
	s.pid = (int32_t)info.pid;
	s.start_time_ms = info.start_epoch_ms;
	s.uptime_ms = info.start_epoch_ms > 0 ? epoch_ms() - info.start_epoch_ms : 0;
	s.connect_endpoint = endpoint;
	s.connect_alive = info.connect_alive != 0;
	s.spark_version = info.spark_version;
	s.app_id = info.app_id;
	s.app_name = info.app_name;
	s.ui_url = info.ui_url;
	s.registration = (int)info.reg_state + 1;
	s.znode_path = info.znode_path;
	s.active_sessions = info.active_sessions;
	s.active_operations = info.active_operations;
	s.last_activity_ms = info.last_activity_epoch_ms > 0 ? info.last_activity_epoch_ms : -1;
	s.heap_used_bytes = info.heap_used;
	s.heap_max_bytes = info.heap_max;
	s.shim_version = (char *)SPARKSHIM_VERSION;
	s.control_endpoint = info.control_endpoint;
	struct door_status *ds = door_status_fill(&s);
	ctl_reply_pack(out, &s.base);
	free(ds);
}

static void drain(const uint8_t *req, size_t len, struct ctl_reply *out)
{
	Sparkshim__V1__DrainRequest *r = sparkshim__v1__drain_request__unpack(NULL, len, req);
	if (!r) {
		ctl_reply_error(out, GRPC_STATUS_INVALID_ARGUMENT, "malformed DrainRequest");
		return;
	}
	enum shim_state st = lifecycle_state();
	if (st == ST_READY) {
		log_info("control: drain requested (%.200s)", r->reason[0] ? r->reason : "no reason");
		events_post(EV_CTL_DRAIN, 0, "%s", r->reason[0] ? r->reason : "control request");
	} else if (st != ST_DRAINING) {
		/* Draining again is a no-op that succeeds; any other state has
		 * nothing to drain (not serving yet, or already stopping). */
		ctl_reply_error(out, GRPC_STATUS_FAILED_PRECONDITION, "cannot drain in state %s",
				state_name(st));
	}
	sparkshim__v1__drain_request__free_unpacked(r, NULL);
	if (out->code != GRPC_STATUS_OK)
		return;
	Sparkshim__V1__DrainResponse resp = SPARKSHIM__V1__DRAIN_RESPONSE__INIT;
	resp.state = proto_state(st);
	ctl_reply_pack(out, &resp.base);
}

static void stop(const uint8_t *req, size_t len, struct ctl_reply *out)
{
	Sparkshim__V1__StopRequest *r = sparkshim__v1__stop_request__unpack(NULL, len, req);
	if (!r) {
		ctl_reply_error(out, GRPC_STATUS_INVALID_ARGUMENT, "malformed StopRequest");
		return;
	}
	long long grace = -1;
	if (r->grace_case == SPARKSHIM__V1__STOP_REQUEST__GRACE_GRACE_MS)
		grace = r->grace_ms;
	enum shim_state st = lifecycle_state();
	if (grace < -1 || (grace < 0 && r->grace_case == SPARKSHIM__V1__STOP_REQUEST__GRACE_GRACE_MS))
		ctl_reply_error(out, GRPC_STATUS_INVALID_ARGUMENT, "grace_ms must be >= 0");
	else if (st == ST_STOPPED || st == ST_FAILED)
		ctl_reply_error(out, GRPC_STATUS_FAILED_PRECONDITION, "cannot stop in state %s",
				state_name(st));
	else {
		/* A Stop while STOPPING is passed on too: the main loop decides
		 * whether a new grace shortens the one in progress. */
		log_info("control: stop requested, grace %lld ms (%.200s)", grace,
			 r->reason[0] ? r->reason : "no reason");
		events_post(EV_CTL_STOP, grace, "%s", r->reason[0] ? r->reason : "control request");
	}
	sparkshim__v1__stop_request__free_unpacked(r, NULL);
	if (out->code != GRPC_STATUS_OK)
		return;
	Sparkshim__V1__StopResponse resp = SPARKSHIM__V1__STOP_RESPONSE__INIT;
	resp.state = proto_state(st);
	ctl_reply_pack(out, &resp.base);
}

static void set_log_level(const uint8_t *req, size_t len, struct ctl_reply *out)
{
	Sparkshim__V1__SetLogLevelRequest *r =
		sparkshim__v1__set_log_level_request__unpack(NULL, len, req);
	if (!r) {
		ctl_reply_error(out, GRPC_STATUS_INVALID_ARGUMENT, "malformed SetLogLevelRequest");
		return;
	}
	/* The levels SparkContext.setLogLevel accepts. */
	const struct log_level_name *e = log_spark_level(r->level);
	if (!e) {
		ctl_reply_error(out, GRPC_STATUS_INVALID_ARGUMENT,
				"invalid log level '%.64s' (" LOG_SPARK_LEVELS ")", r->level);
		sparkshim__v1__set_log_level_request__free_unpacked(r, NULL);
		return;
	}
	sparkshim__v1__set_log_level_request__free_unpacked(r, NULL);
	const char *lvl = e->name;
	char err[400] = "";
	if (set_log_level_fn(lvl, err, sizeof(err), LOG_LEVEL_TIMEOUT_MS) < 0) {
		enum shim_state st = lifecycle_state();
		/* Not serving yet (or any more) is the caller's timing problem;
		 * a failure while serving is ours. */
		grpc_status_code code = st == ST_READY || st == ST_DRAINING
						? GRPC_STATUS_INTERNAL
						: GRPC_STATUS_FAILED_PRECONDITION;
		ctl_reply_error(out, code, "setLogLevel(%s) failed: %s", lvl,
				err[0] ? err : "no detail");
		return;
	}
	/* The shim's own log follows, as far as its four levels go. */
	log_set_level(e->level);
	log_info("control: log level set to %s", lvl);
	Sparkshim__V1__SetLogLevelResponse resp = SPARKSHIM__V1__SET_LOG_LEVEL_RESPONSE__INIT;
	resp.level = (char *)lvl;
	ctl_reply_pack(out, &resp.base);
}

struct events_stream {
	uint64_t after;   /* seq of the last event sent */
	uint64_t end_seq; /* backlog_only: stop after this seq; 0 = follow */
	int backlog_only;
};

static int events_open(const uint8_t *req, size_t len, void **state, struct ctl_reply *err)
{
	Sparkshim__V1__EventsRequest *r = sparkshim__v1__events_request__unpack(NULL, len, req);
	if (!r) {
		ctl_reply_error(err, GRPC_STATUS_INVALID_ARGUMENT, "malformed EventsRequest");
		return -1;
	}
	struct events_stream *es = calloc(1, sizeof(*es));
	if (!es) {
		sparkshim__v1__events_request__free_unpacked(r, NULL);
		ctl_reply_error(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return -1;
	}
	es->after = r->after_seq;
	es->backlog_only = r->backlog_only;
	es->end_seq = event_log_last_seq();
	sparkshim__v1__events_request__free_unpacked(r, NULL);
	*state = es;
	return 0;
}

static int events_next(void *state, uint8_t **msg, size_t *len)
{
	struct events_stream *es = state;
	struct event_rec rec;
	uint64_t gap_to;
	if (es->backlog_only && es->after >= es->end_seq)
		return -1;
	if (!event_log_next(es->after, &rec, &gap_to))
		return es->backlog_only ? -1 : 0;
	Sparkshim__V1__Event ev = SPARKSHIM__V1__EVENT__INIT;
	char reason[96];
	if (gap_to) {
		/* The reader fell behind the ring: say how much it lost. */
		snprintf(reason, sizeof(reason), "%llu event(s) dropped",
			 (unsigned long long)(gap_to - es->after));
		ev.seq = gap_to;
		ev.time_ms = epoch_ms();
		ev.kind = SPARKSHIM__V1__EVENT__KIND__KIND_GAP;
		ev.reason = reason;
	} else if (rec.kind != EVENT_TRANSITION) {
		ev.seq = rec.seq;
		ev.time_ms = rec.time_ms;
		ev.kind = rec.kind == EVENT_SESSION_OPENED
				  ? SPARKSHIM__V1__EVENT__KIND__KIND_SESSION_OPENED
				  : SPARKSHIM__V1__EVENT__KIND__KIND_SESSION_CLOSED;
		ev.reason = rec.reason;
		ev.user_id = rec.user_id;
		ev.session_id = rec.session_id;
	} else {
		ev.seq = rec.seq;
		ev.time_ms = rec.time_ms;
		ev.kind = SPARKSHIM__V1__EVENT__KIND__KIND_TRANSITION;
		ev.from_state = proto_state(rec.from);
		ev.to_state = proto_state(rec.to);
		ev.reason = rec.reason;
	}
	if (ctl_pack(&ev.base, msg, len) < 0)
		return 0; /* retried on the next wake-up */
	es->after = ev.seq;
	return 1;
}

static int events_final(void *state, uint8_t **msg, size_t *len)
{
	struct events_stream *es = state;
	Sparkshim__V1__Event ev = SPARKSHIM__V1__EVENT__INIT;
	ev.seq = es->after;
	ev.time_ms = epoch_ms();
	ev.kind = SPARKSHIM__V1__EVENT__KIND__KIND_END_OF_STREAM;
	ev.reason = (char *)"control server stopping";
	return ctl_pack(&ev.base, msg, len) < 0 ? 0 : 1;
}

static void events_free(void *state) { free(state); }

static const struct ctl_stream_ops events_ops = {
	.open = events_open, .next = events_next, .final = events_final, .free = events_free,
};

const struct ctl_method control_methods[] = {
	{.path = "/sparkshim.v1.Control/Status", .unary = status},
	{.path = "/sparkshim.v1.Control/Drain", .mutating = 1, .unary = drain},
	{.path = "/sparkshim.v1.Control/Stop", .mutating = 1, .unary = stop},
	{.path = "/sparkshim.v1.Control/Events", .stream = &events_ops},
	{.path = "/sparkshim.v1.Control/SetLogLevel", .mutating = 1, .blocking = 1,
	 .unary = set_log_level},
};
const size_t n_control_methods = sizeof(control_methods) / sizeof(control_methods[0]);
/* Recording starts with the server that hosts the service. */
const struct ctl_service control_service = {
	.name = "sparkshim.v1.Control", .methods = control_methods,
	.n_methods = sizeof(control_methods) / sizeof(control_methods[0]),
	.on_start = event_log_attach,
};
