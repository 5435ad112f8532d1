/* Registration with the gateway (registry.h), the backend-neutral part: the
 * public API, the want-registered/stopping state, engine_info, events and
 * the node's name and data. The discovery service itself (connect, create,
 * watch, monitor) is a struct discovery_backend (discovery.h) chosen by
 * kyuubi.ha.client.class: ZooKeeper (zk.c).
 *
 * The neutral state and the backend's share one lock (D.mu), so a stop
 * (stopping = 1) and the node the backend holds change together. */
#include "shim/registry/registry.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/engine_info.h"
#include "base/events.h"
#include "base/lifecycle.h"
#include "base/log.h"
#include "shim/registry/discovery.h"
#include "shim/registry/reg_conf.h"
#include "shim/registry/znode_name.h"

static struct discovery_ctx D = {.mu = PTHREAD_MUTEX_INITIALIZER};
static pthread_once_t cv_once = PTHREAD_ONCE_INIT;

static struct {
	int configured;
	struct reg_config cfg;
	const struct discovery_backend *ops; /* cfg.backend once configured and enabled */
	void *bconf;          /* the backend's settings */
	char *prefix;         /* path to create, "<ns>/serverUri=...;sequence=" */
	char data[300];       /* "<host>:<port>" */
	int connected;        /* registry_connect's session awaits registry_register */
	char **retired;       /* prefixes replaced by registry_update, freed at close: the
			       * monitor may still be creating with one */
	size_t n_retired;
	int dereg_busy;       /* a deregister is deleting right now */
	int dereg_rc;
} R;

static void init_cv(void)
{
	cond_init_monotonic(&D.cv);
	D.cfg = &R.cfg;
	D.data = R.data;
}

void discovery_wait_until(struct discovery_ctx *ctx, int64_t deadline_ms)
{
	struct timespec ts = {.tv_sec = deadline_ms / 1000,
			      .tv_nsec = (deadline_ms % 1000) * 1000000L};
	pthread_cond_timedwait(&ctx->cv, &ctx->mu, &ts);
}

/* ---- engine_info ---- */

struct info_arg {
	enum reg_state st;
	const char *path; /* NULL keeps the current one */
};

static void info_set(struct engine_info *i, void *arg)
{
	const struct info_arg *a = arg;
	i->reg_state = a->st;
	if (a->path)
		snprintf(i->znode_path, sizeof(i->znode_path), "%s", a->path);
}

static void publish(enum reg_state st, const char *path)
{
	struct info_arg a = {st, path};
	engine_info_update(info_set, &a);
}

/* ---- what the backend reports (discovery.h) ---- */

void discovery_registered(const char *path)
{
	publish(REG_REGISTERED, path);
	events_post(EV_REG_REGISTERED, 0, "%s", path);
}

void discovery_node_deleted(const char *path)
{
	publish(REG_DEREGISTERED, "");
	events_post(EV_REG_NODE_DELETED, 0, "%s", path);
}

void discovery_session_lost(int recreate)
{
	publish(recreate ? REG_PENDING : REG_DEREGISTERED, "");
}

void discovery_lost(int64_t down_ms, const char *why)
{
	publish(REG_FAILED, NULL);
	events_post(EV_REG_LOST, down_ms, "%s", why);
}

int discovery_may_recreate(const struct discovery_ctx *ctx)
{
	enum shim_state st = lifecycle_state();
	return ctx->want_node && !ctx->stopping && (st == ST_READY || st == ST_STARTING);
}

/* ---- public API ---- */

static int backend_busy(void)
{
	pthread_mutex_lock(&D.mu);
	const struct discovery_backend *ops = R.ops;
	pthread_mutex_unlock(&D.mu);
	return ops && ops->busy(&D);
}

int registry_configure(const struct conf *c, char *err, size_t errlen)
{
	pthread_once(&cv_once, init_cv);
	if (backend_busy()) {
		snprintf(err, errlen, "registry is already registered; close it first");
		return -1;
	}
	struct reg_config cfg;
	if (reg_config_load(&cfg, c, err, errlen) < 0)
		return -1;
	void *bconf = NULL;
	if (cfg.enabled) {
		bconf = cfg.backend->conf_load(c, &cfg, err, errlen);
		if (!bconf) {
			reg_config_free(&cfg);
			return -1;
		}
	}
	pthread_mutex_lock(&D.mu);
	if (R.ops)
		R.ops->conf_free(R.bconf);
	reg_config_free(&R.cfg);
	R.cfg = cfg;
	R.ops = cfg.enabled ? cfg.backend : NULL;
	R.bconf = bconf;
	R.configured = 1;
	pthread_mutex_unlock(&D.mu);
	if (R.ops)
		R.ops->configure(&D, bconf);
	publish(cfg.enabled ? REG_PENDING : REG_DISABLED, "");
	return 0;
}

int registry_enabled(void)
{
	pthread_mutex_lock(&D.mu);
	int on = R.configured && R.cfg.enabled;
	pthread_mutex_unlock(&D.mu);
	return on;
}

/* The attributes to publish, in order: the conf's (appMgrInfo, then the
 * register.attributes list), then the engine's id, UI and control endpoint.
 * Values point into cfg/ep/ui; nothing is allocated. */
static size_t endpoint_attrs(const struct reg_endpoint *ep, struct znode_attr *out, size_t cap,
			     char *ui, size_t uilen)
{
	size_t n = 0;
	for (size_t i = 0; i < R.cfg.n_attrs && n < cap; i++)
		out[n++] = (struct znode_attr){R.cfg.attr_keys[i], R.cfg.attr_values[i]};
	if (ep->app_id && *ep->app_id && n < cap)
		out[n++] = (struct znode_attr){"kyuubi.engine.id", ep->app_id};
	if (ep->ui_url && znode_url_hostport(ep->ui_url, ui, uilen) == 0 && n < cap)
		out[n++] = (struct znode_attr){"kyuubi.engine.url", ui};
	/* A unix socket path means nothing to a remote gateway. */
	const char *ctl = ep->control_endpoint;
	if (ctl && *ctl && !strchr(ctl, '/') && strncmp(ctl, "unix:", 5) != 0 && n < cap)
		out[n++] = (struct znode_attr){REG_ATTR_CONTROL, ctl};
	return n;
}

/* The node's name prefix (owned, in *prefix) and data (in data) for ep.
 * 0, or -1 with a one-line error. */
static int build_node(const struct reg_endpoint *ep, char **prefix, char *data, size_t datalen,
		      char *err, size_t errlen)
{
	if (!ep || !ep->host || !advertise_host_ok(ep->host) || ep->port < 1 || ep->port > 65535) {
		snprintf(err, errlen, "cannot publish endpoint %s:%d (need host name or IPv4 and "
			 "a port 1-65535)", ep && ep->host ? ep->host : "(null)", ep ? ep->port : 0);
		return -1;
	}
	size_t cap = R.cfg.n_attrs + 3;
	struct znode_attr *attrs = calloc(cap, sizeof(*attrs));
	char ui[300];
	if (!attrs) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	size_t n = endpoint_attrs(ep, attrs, cap, ui, sizeof(ui));
	*prefix = znode_build_prefix(R.cfg.namespace_path, ep->host, ep->port, R.cfg.version,
				     attrs, n, R.cfg.ref_id);
	free(attrs);
	if (!*prefix) {
		snprintf(err, errlen, "cannot build the node name: %s", strerror(errno));
		return -1;
	}
	znode_build_data(ep->host, ep->port, data, datalen);
	return 0;
}

int registry_register(const struct reg_endpoint *ep, char *err, size_t errlen)
{
	pthread_once(&cv_once, init_cv);
	if (!registry_enabled()) {
		pthread_mutex_lock(&D.mu);
		int configured = R.configured;
		pthread_mutex_unlock(&D.mu);
		if (configured)
			return 0;
		snprintf(err, errlen, "registry_register called before registry_configure");
		return -1;
	}
	pthread_mutex_lock(&D.mu);
	int stopping = D.stopping, connected = R.connected && !stopping;
	R.connected = 0;
	pthread_mutex_unlock(&D.mu);
	if (!stopping && !connected && R.ops->busy(&D)) {
		snprintf(err, errlen, "already registered; deregister first");
		return -1;
	}
	/* Registering again after a deregister: start from a fresh session, as
	 * on the first registration. The first one uses the session
	 * registry_connect opened while Spark started. */
	if (!connected)
		R.ops->close(&D, 0);
	char *prefix = NULL, data[sizeof(R.data)];
	if (build_node(ep, &prefix, data, sizeof(data), err, errlen) < 0)
		return -1;
	pthread_mutex_lock(&D.mu);
	free(R.prefix);
	R.prefix = prefix;
	D.prefix = prefix;
	memcpy(R.data, data, sizeof(R.data));
	D.stopping = 0;
	D.want_node = 1;
	atomic_store(&D.aborting, 0);
	pthread_mutex_unlock(&D.mu);

	publish(REG_PENDING, "");
	int64_t t0 = monotonic_ms();
	char path[4096];
	int rc = R.ops->register_node(&D, path, sizeof(path), err, errlen);
	if (rc == -2) {
		/* The node exists but cannot be watched: take it down again. */
		registry_deregister();
		R.ops->close(&D, 0);
		return -1;
	}
	if (rc < 0) {
		pthread_mutex_lock(&D.mu);
		D.want_node = 0;
		pthread_mutex_unlock(&D.mu);
		publish(REG_FAILED, "");
		return -1;
	}
	log_info("registered with the gateway as %s -> %s (%lld ms)", path, R.data,
		 (long long)(monotonic_ms() - t0));
	return 0;
}

int registry_connect(char *err, size_t errlen)
{
	pthread_once(&cv_once, init_cv);
	pthread_mutex_lock(&D.mu);
	const struct discovery_backend *ops = R.configured && R.cfg.enabled ? R.ops : NULL;
	int stopping = D.stopping;
	pthread_mutex_unlock(&D.mu);
	if (!ops || !ops->connect)
		return 0;
	if (stopping) {
		snprintf(err, errlen, "deregistered while connecting");
		return -1;
	}
	int64_t t0 = monotonic_ms();
	int rc = ops->connect(&D, err, errlen);
	pthread_mutex_lock(&D.mu);
	R.connected = rc == 0;
	pthread_mutex_unlock(&D.mu);
	if (rc < 0) {
		publish(REG_FAILED, "");
		return -1;
	}
	log_debug("%s: connected for registration in %lld ms", ops->name,
		  (long long)(monotonic_ms() - t0));
	return 0;
}

int registry_update(const struct reg_endpoint *ep, char *err, size_t errlen)
{
	pthread_once(&cv_once, init_cv);
	if (!registry_enabled())
		return 1;
	char *prefix = NULL, data[sizeof(R.data)];
	if (build_node(ep, &prefix, data, sizeof(data), err, errlen) < 0)
		return -1;
	pthread_mutex_lock(&D.mu);
	if (!D.want_node || D.stopping || !R.prefix) {
		pthread_mutex_unlock(&D.mu);
		free(prefix);
		snprintf(err, errlen, "not registered");
		return -1;
	}
	if (strcmp(prefix, R.prefix) == 0 && strcmp(data, R.data) == 0) {
		pthread_mutex_unlock(&D.mu);
		free(prefix);
		return 1; /* same name, same data: the node stays as it is */
	}
	if (!R.ops->replace_node) {
		pthread_mutex_unlock(&D.mu);
		free(prefix);
		snprintf(err, errlen, "%s cannot replace a node in place", R.ops->name);
		return -1;
	}
	/* From now on (re-)creations use the new name and data; put the old
	 * ones back if the new node cannot be created. */
	char *old_prefix = R.prefix, old_data[sizeof(R.data)];
	memcpy(old_data, R.data, sizeof(R.data));
	R.prefix = prefix;
	D.prefix = prefix;
	memcpy(R.data, data, sizeof(R.data));
	pthread_mutex_unlock(&D.mu);

	int64_t t0 = monotonic_ms();
	char path[4096];
	int rc = R.ops->replace_node(&D, path, sizeof(path), err, errlen);
	pthread_mutex_lock(&D.mu);
	if (rc < 0 && R.prefix == prefix) {
		R.prefix = old_prefix;
		D.prefix = old_prefix;
		memcpy(R.data, old_data, sizeof(R.data));
		old_prefix = prefix;
	}
	char **grown = realloc(R.retired, (R.n_retired + 1) * sizeof(*grown));
	if (grown) {
		R.retired = grown;
		R.retired[R.n_retired++] = old_prefix;
	} /* else: leak one string rather than free what the monitor may read */
	pthread_mutex_unlock(&D.mu);
	if (rc < 0)
		return -1;
	log_info("re-registered as %s -> %s, then removed the previous node (%lld ms)", path,
		 data, (long long)(monotonic_ms() - t0));
	return 0;
}

int registry_deregister(void)
{
	pthread_once(&cv_once, init_cv);
	pthread_mutex_lock(&D.mu);
	if (!R.configured || !R.cfg.enabled) {
		pthread_mutex_unlock(&D.mu);
		return 0;
	}
	D.stopping = 1;
	D.want_node = 0;
	atomic_store(&D.aborting, 1);
	pthread_cond_broadcast(&D.cv);
	if (R.dereg_busy) {
		/* Another thread is deleting: wait for its result. */
		while (R.dereg_busy)
			pthread_cond_wait(&D.cv, &D.mu);
		int rc = R.dereg_rc;
		pthread_mutex_unlock(&D.mu);
		return rc;
	}
	R.dereg_busy = 1;
	pthread_mutex_unlock(&D.mu);

	int rc = R.ops->deregister(&D);
	if (rc == 1) {
		/* There was no node. */
		struct engine_info info;
		engine_info_get(&info);
		if (info.reg_state == REG_REGISTERED || info.reg_state == REG_PENDING)
			publish(REG_DEREGISTERED, "");
		rc = 0;
	} else {
		publish(rc == 0 ? REG_DEREGISTERED : REG_FAILED, rc == 0 ? "" : NULL);
	}

	pthread_mutex_lock(&D.mu);
	R.dereg_busy = 0;
	R.dereg_rc = rc;
	pthread_cond_broadcast(&D.cv);
	pthread_mutex_unlock(&D.mu);
	return rc;
}

void registry_close(void)
{
	pthread_once(&cv_once, init_cv);
	registry_deregister();
	pthread_mutex_lock(&D.mu);
	const struct discovery_backend *ops = R.ops;
	/* At CONNECTION share level the engine space belongs to this engine
	 * alone; Kyuubi's engine removes it on the way out. */
	int connection_level = R.cfg.enabled && R.cfg.share_level &&
			       strcmp(R.cfg.share_level, "CONNECTION") == 0;
	pthread_mutex_unlock(&D.mu);
	if (ops)
		ops->close(&D, connection_level);
	pthread_mutex_lock(&D.mu);
	if (ops)
		ops->conf_free(R.bconf);
	R.bconf = NULL;
	R.ops = NULL;
	reg_config_free(&R.cfg);
	free(R.prefix);
	R.prefix = NULL;
	D.prefix = NULL;
	for (size_t i = 0; i < R.n_retired; i++)
		free(R.retired[i]);
	free(R.retired);
	R.retired = NULL;
	R.n_retired = 0;
	R.configured = 0;
	R.connected = 0;
	D.stopping = 0;
	pthread_mutex_unlock(&D.mu);
}
