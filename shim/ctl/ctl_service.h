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

#include "shim/ctl/ctl_reply.h"

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

#endif
