#include "shim/ctl/connect_probe.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc.h>

#include "shim/ctl/ctl_addr.h"
#include "shim/ctl/grpc_util.h"
#include "shim/ctl/rpc_client.h"

#define PROBE_METHOD "/grpc.health.v1.Health/Check"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int grpc_ref;            /* 1 while we hold a grpc_init() reference */
static grpc_channel *cached;    /* idle cached channel, or NULL */
static char cached_target[300];

/* With mu held: our grpc_init() reference. */
static void grpc_ref_locked(void)
{
	if (!grpc_ref) {
		grpc_log_bridge_install();
		grpc_init();
		grpc_ref = 1;
	}
}

void connect_probe_prepare(void)
{
	pthread_mutex_lock(&mu);
	grpc_ref_locked();
	pthread_mutex_unlock(&mu);
}

/* Take the cached channel for target out of the cache (exclusive use
 * without holding the lock during the probe), or open a new one. */
static grpc_channel *channel_take(const char *target)
{
	grpc_channel *ch = NULL, *stale = NULL;
	pthread_mutex_lock(&mu);
	grpc_ref_locked();
	if (cached && strcmp(cached_target, target) == 0) {
		ch = cached;
		cached = NULL;
	} else if (cached) {
		/* The main loop probes one endpoint; a new target replaces it. */
		stale = cached;
		cached = NULL;
	}
	pthread_mutex_unlock(&mu);
	if (stale)
		grpc_channel_destroy(stale);
	return ch ? ch : rpc_channel_open(target);
}

/* Put a healthy channel back; destroy it if another one got there first. */
static void channel_put(grpc_channel *ch, const char *target)
{
	pthread_mutex_lock(&mu);
	if (!cached && grpc_ref) {
		cached = ch;
		snprintf(cached_target, sizeof(cached_target), "%s", target);
		ch = NULL;
	}
	pthread_mutex_unlock(&mu);
	if (ch)
		grpc_channel_destroy(ch);
}

int connect_probe(const char *host, int port, int timeout_ms)
{
	if (port <= 0 || port > 65535)
		return 0;
	if (timeout_ms <= 0)
		timeout_ms = 1000;
	char target[300];
	ctl_addr_format(host && *host ? host : "127.0.0.1", port, target, sizeof(target));
	grpc_channel *ch = channel_take(target);
	if (!ch)
		return 0;
	struct rpc_result r;
	/* HealthCheckRequest{service: ""} serializes to zero bytes. */
	int rc = rpc_unary(ch, PROBE_METHOD, "", 0, NULL, timeout_ms, &r);
	rpc_result_free(&r);
	int alive = rc == 0 && r.status != GRPC_STATUS_UNAVAILABLE &&
		    r.status != GRPC_STATUS_DEADLINE_EXCEEDED &&
		    r.status != GRPC_STATUS_CANCELLED;
	/* Refused or reset: drop the channel, so the next probe dials at once
	 * instead of sitting out gRPC's reconnect backoff. A timeout keeps it:
	 * its connection (attempt) is still the best bet, and a new channel
	 * per probe would pile up half-open connections to a wedged JVM. */
	if (rc == 0 && (alive || r.status == GRPC_STATUS_DEADLINE_EXCEEDED))
		channel_put(ch, target);
	else
		grpc_channel_destroy(ch);
	return alive;
}

void connect_probe_shutdown(void)
{
	pthread_mutex_lock(&mu);
	grpc_channel *ch = cached;
	int ref = grpc_ref;
	cached = NULL;
	grpc_ref = 0;
	pthread_mutex_unlock(&mu);
	if (ch)
		grpc_channel_destroy(ch);
	if (ref)
		grpc_shutdown();
}
