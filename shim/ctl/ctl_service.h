/* Contract between the gRPC server core (grpc_server.c) and the services
 * it hosts (health_service.c, control_service.c, ...). A service is a table
 * of methods; each method either answers one request (unary), produces a
 * stream of messages on demand (server streaming), or takes the whole call
 * as a call object (any mode: client streaming, bidi, raw relaying; see
 * ctl_call.h). Handlers see only serialized bytes in and out, so the table
 * kinds can be unit-tested and fuzzed without gRPC. */
#ifndef SPARKSHIM_CTL_SERVICE_H
#define SPARKSHIM_CTL_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>

#include "base/lifecycle.h"

struct ctl_reply {
	grpc_status_code code; /* GRPC_STATUS_OK unless a handler says otherwise */
	char details[512];
	uint8_t *msg;          /* malloc'd packed response (code OK), owned by the reply */
	size_t len;
};

/* Serialize m into a fresh malloc'd buffer (*msg, *len; never NULL on
 * success, even for an empty message). 0 / -1 (ENOMEM). */
int ctl_pack(const ProtobufCMessage *m, uint8_t **msg, size_t *len);

/* Serialize m into r->msg. 0 / -1 (r becomes RESOURCE_EXHAUSTED). */
int ctl_reply_pack(struct ctl_reply *r, const ProtobufCMessage *m);
/* Set an error status with a printf-style message; drops any message. */
void ctl_reply_error(struct ctl_reply *r, grpc_status_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void ctl_reply_free(struct ctl_reply *r);

/* A server-streaming method. State is per stream and only touched under the
 * server's stream lock, one callback at a time. */
struct ctl_stream_ops {
	/* Decode the request. 0 = *state allocated; -1 = reject (err filled,
	 * the call ends with err->code). */
	int (*open)(const uint8_t *req, size_t len, void **state, struct ctl_reply *err);
	/* What to send now: 1 = *msg,*len (malloc'd); 0 = nothing new; -1 = the
	 * stream is complete (the server ends it with status OK). */
	int (*next)(void *state, uint8_t **msg, size_t *len);
	/* Server stopping and next() has nothing more: 1 = a last message to send
	 * before status OK, 0 = none. */
	int (*final)(void *state, uint8_t **msg, size_t *len);
	void (*free)(void *state);
};

typedef void (*ctl_unary_fn)(const uint8_t *req, size_t len, struct ctl_reply *out);

struct ctl_call_handler; /* ctl_call.h */

struct ctl_method {
	const char *path;     /* "/package.Service/Method" */
	int mutating;         /* needs the bearer token when one is configured */
	int blocking;         /* unary only: may wait (on the JVM): runs on a worker thread */
	int depth;            /* requests kept posted for it; 0 = a few (hot methods: more) */
	/* Exactly one of: */
	ctl_unary_fn unary;
	const struct ctl_stream_ops *stream;       /* server streaming, pumped */
	const struct ctl_call_handler *call;       /* the call object, any mode */
};

/* A service a server hosts: its methods, and an optional hook run by
 * ctl_server_start before anything is bound (0, or -1 to refuse the start
 * with errno ENOSPC). */
struct ctl_service {
	const char *name;     /* "grpc.health.v1.Health" (logs) */
	const struct ctl_method *methods;
	size_t n_methods;
	int (*on_start)(void);
};

extern const struct ctl_method health_methods[];
extern const size_t n_health_methods;
extern const struct ctl_method control_methods[];
extern const size_t n_control_methods;
extern const struct ctl_service health_service;   /* grpc.health.v1.Health */
extern const struct ctl_service control_service;  /* sparkshim.v1.Control (attaches the event log) */

/* grpc.health.v1 status for a service: 1 SERVING, 2 NOT_SERVING, -1 unknown
 * service. Pure: callers pass the state and the connect liveness. */
int health_status_for(const char *service, enum shim_state st, int connect_alive);

/* proto State/Registration values from the C enums (+1, 0 = unspecified). */
int proto_state(int shim_state);

/* Test seam: the function SetLogLevel calls (default jvm_set_log_level). */
typedef int (*ctl_set_log_level_fn)(const char *level, char *err, size_t errlen, int timeout_ms);
void control_set_log_level_hook(ctl_set_log_level_fn fn);

#endif
