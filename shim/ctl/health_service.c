/* grpc.health.v1.Health for the shim ("") and for Spark Connect
 * ("spark.connect.SparkConnectService").
 *
 * Both report SERVING only when the lifecycle is READY *and* the last live
 * probe of the connect port succeeded. STARTING has no endpoint yet;
 * DRAINING has one but must not receive new work (the gateway deregistered
 * it), so a balancer or kubelet readiness probe must see NOT_SERVING;
 * STOPPING/STOPPED/FAILED are going or gone. The two names answer the same
 * today; they are separate so a client can ask for exactly what it uses. */
#include "shim/ctl/health_service.h"

#include <stdlib.h>
#include <string.h>

#include "base/engine_info.h"
#include "health.pb-c.h"
#include "shim/ctl/ctl_service.h"

#define SVC_CONNECT "spark.connect.SparkConnectService"

int health_status_for(const char *service, enum shim_state st, int connect_alive)
{
	if (strcmp(service, "") != 0 && strcmp(service, SVC_CONNECT) != 0)
		return -1;
	return st == ST_READY && connect_alive
		       ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
		       : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
}

static int current_status(const char *service)
{
	struct engine_info info;
	engine_info_get(&info);
	return health_status_for(service, lifecycle_state(), info.connect_alive);
}

/* Packed HealthCheckResponse{status}. 0 / -1 (ENOMEM). */
static int pack_status(int status, uint8_t **msg, size_t *len)
{
	Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
	resp.status = status;
	return ctl_pack(&resp.base, msg, len);
}

static void check(const uint8_t *req, size_t len, struct ctl_reply *out)
{
	Grpc__Health__V1__HealthCheckRequest *r =
		grpc__health__v1__health_check_request__unpack(NULL, len, req);
	if (!r) {
		ctl_reply_error(out, GRPC_STATUS_INVALID_ARGUMENT, "malformed HealthCheckRequest");
		return;
	}
	int st = current_status(r->service);
	if (st < 0)
		ctl_reply_error(out, GRPC_STATUS_NOT_FOUND, "unknown service: %.200s", r->service);
	else if (pack_status(st, &out->msg, &out->len) < 0)
		ctl_reply_error(out, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
	grpc__health__v1__health_check_request__free_unpacked(r, NULL);
}

struct watch {
	char *service;
	int last_sent; /* -1 = nothing sent yet */
};

static int watch_open(const uint8_t *req, size_t len, void **state, struct ctl_reply *err)
{
	Grpc__Health__V1__HealthCheckRequest *r =
		grpc__health__v1__health_check_request__unpack(NULL, len, req);
	if (!r) {
		ctl_reply_error(err, GRPC_STATUS_INVALID_ARGUMENT, "malformed HealthCheckRequest");
		return -1;
	}
	struct watch *w = malloc(sizeof(*w));
	char *svc = strdup(r->service);
	grpc__health__v1__health_check_request__free_unpacked(r, NULL);
	if (!w || !svc) {
		free(w);
		free(svc);
		ctl_reply_error(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return -1;
	}
	w->service = svc;
	w->last_sent = -1;
	*state = w;
	return 0;
}

/* Send when the status differs from what the client last saw; an unknown
 * service gets one SERVICE_UNKNOWN and the stream stays open (the protocol
 * allows the service to appear later; ours never does). */
static int watch_next(void *state, uint8_t **msg, size_t *len)
{
	struct watch *w = state;
	int st = current_status(w->service);
	if (st < 0)
		st = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
	if (st == w->last_sent)
		return 0;
	if (pack_status(st, msg, len) < 0)
		return 0; /* retried on the next wake-up */
	w->last_sent = st;
	return 1;
}

/* At server stop a known service is about to stop serving: say so last. */
static int watch_final(void *state, uint8_t **msg, size_t *len)
{
	struct watch *w = state;
	int ns = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
	if (w->last_sent == ns ||
	    w->last_sent == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN)
		return 0;
	if (pack_status(ns, msg, len) < 0)
		return 0;
	w->last_sent = ns;
	return 1;
}

static void watch_free(void *state)
{
	struct watch *w = state;
	if (w)
		free(w->service);
	free(w);
}

static const struct ctl_stream_ops watch_ops = {
	.open = watch_open, .next = watch_next, .final = watch_final, .free = watch_free,
};

const struct ctl_method health_methods[] = {
	/* Check is what probes hammer: keep many requests posted. */
	{.path = "/grpc.health.v1.Health/Check", .depth = 32, .unary = check},
	{.path = "/grpc.health.v1.Health/Watch", .stream = &watch_ops},
};
const size_t n_health_methods = sizeof(health_methods) / sizeof(health_methods[0]);
const struct ctl_service health_service = {
	.name = "grpc.health.v1.Health", .methods = health_methods,
	.n_methods = sizeof(health_methods) / sizeof(health_methods[0]),
};
