/* The seam between the backend-neutral registry (registry.c: public API,
 * want-registered/stopping state, engine_info, events, the node's name) and
 * one discovery service (zk.c: ZooKeeper). A backend is a struct
 * discovery_backend; kyuubi.ha.client.class picks one from the table in
 * backends.c (backends.h: discovery_backend_for_class).
 *
 * Adding a backend (etcd): one file with its ops and its settings, one row
 * in backends.c, and its tests. See docs/registration.md, "Backends".
 *
 * Locking: the neutral state and the backend's own share ctx->mu, so that
 * "stopping" and "our node" change together (a node created while a
 * deregister runs is deleted at once, never left behind). The backend never
 * holds ctx->mu while it waits on the network. */
#ifndef SPARKSHIM_DISCOVERY_H
#define SPARKSHIM_DISCOVERY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/conf.h"

struct reg_config;

/* What the neutral part shares with the backend; one per process. */
struct discovery_ctx {
	pthread_mutex_t mu;  /* guards the fields below and the backend's state */
	pthread_cond_t cv;   /* CLOCK_MONOTONIC; broadcast on every change */
	/* Set while stopping: bounded waits of an in-flight (re-)registration
	 * give up early so a stop is never held up by a slow connect. */
	atomic_int aborting;

	/* Read-only while registered. */
	const struct reg_config *cfg; /* Kyuubi-generic settings */
	const char *prefix;  /* node to create: "<ns>/serverUri=...;sequence=" */
	const char *data;    /* its data: "<host>:<port>" */

	/* Under mu. */
	int want_node;       /* registered and not deleted/deregistered */
	int stopping;        /* deregister called: never (re)create */
};

struct discovery_backend {
	const char *name; /* in messages: "ZooKeeper" */

	/* Read and check the backend's own settings (rc holds the Kyuubi ones,
	 * already loaded). Pure: no I/O. Returns the backend's config (free with
	 * conf_free), or NULL with a one-line error naming key=value. */
	void *(*conf_load)(const struct conf *c, const struct reg_config *rc, char *err,
			   size_t errlen);
	void (*conf_free)(void *bconf);

	/* Use bconf (owned by the caller, alive until the next configure or
	 * close) from now on; process-wide set-up such as the client's log.
	 * Only while not busy. */
	void (*configure)(struct discovery_ctx *ctx, const void *bconf);

	/* 1 while a session or a monitor exists. */
	int (*busy)(struct discovery_ctx *ctx);

	/* Start from a fresh session: connect, create ctx->prefix with ctx->data
	 * (ephemeral, sequential), watch it and start monitoring; bounded by the
	 * backend's connection timeout. 0 and the node's path in path; -1 with
	 * a one-line error (nothing left behind); -2 when the node exists but
	 * it cannot be monitored (the caller deregisters and closes). Reports
	 * discovery_registered() itself. */
	int (*register_node)(struct discovery_ctx *ctx, char *path, size_t pathlen, char *err,
			     size_t errlen);

	/* Replace our node on the current session: create ctx->prefix with
	 * ctx->data (already the new ones), watch it, make it ours, then delete
	 * the previous node, in that order: the gateway always sees one. 0 and
	 * the new path; -1 with a one-line error (the previous node stays).
	 * Reports discovery_registered() itself. NULL: not supported. */
	int (*replace_node)(struct discovery_ctx *ctx, char *path, size_t pathlen, char *err,
			    size_t errlen);

	/* Delete our node (ctx->stopping is already set), bounded by
	 * cfg->deregister_timeout_ms; logs the outcome. 0 deleted, 1 there was
	 * no node, -1 could not delete in time. */
	int (*deregister)(struct discovery_ctx *ctx);

	/* Stop monitoring and close the session; remove_namespace: delete the
	 * (now empty) engine space too when still connected (CONNECTION share
	 * level). Bounded. Also the reset before a new registration. */
	void (*close)(struct discovery_ctx *ctx, int remove_namespace);
};


/* ---- what a backend reports to the neutral part (registry.c) ---- */

/* A node was created (first registration and every re-registration):
 * engine_info and EV_REG_REGISTERED. Call without ctx->mu. */
void discovery_registered(const char *path);

/* Another client (the gateway) deleted our node: EV_REG_NODE_DELETED, a
 * graceful stop. The backend has cleared ctx->want_node. Without ctx->mu. */
void discovery_node_deleted(const char *path);

/* The session and its node are gone; recreate: a new one is on its way
 * (REG_PENDING), else REG_DEREGISTERED. Without ctx->mu. */
void discovery_session_lost(int recreate);

/* No discovery service for longer than the backend's budget: EV_REG_LOST, a
 * graceful stop. `why` goes to the log and the event. Without ctx->mu. */
void discovery_lost(int64_t down_ms, const char *why);

/* With ctx->mu held: may the node be created again (wanted, not stopping,
 * and the engine is STARTING or READY)? */
int discovery_may_recreate(const struct discovery_ctx *ctx);

/* pthread_cond_timedwait on ctx->cv until a CLOCK_MONOTONIC ms deadline. */
void discovery_wait_until(struct discovery_ctx *ctx, int64_t deadline_ms);

#endif
