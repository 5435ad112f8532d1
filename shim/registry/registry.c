/* Registration with the gateway (registry.h): one ZooKeeper session, one
 * ephemeral sequential node, one monitor thread.
 *
 * Who does what:
 *  - ZooKeeper's completion thread runs our watchers. They only record what
 *    happened (flags under `mu`) and wake the monitor: a watcher must never
 *    wait for ZooKeeper itself, or it would wait for its own thread.
 *  - The monitor thread acts on those flags: reports a deleted node, re-arms
 *    the watch, replaces an expired session and re-creates the node, and
 *    gives up (EV_REG_LOST) when the connection stays down too long.
 *  - Every ZooKeeper call goes through zk_ops (deadline-bounded), and no
 *    thread holds `mu` while it waits on ZooKeeper.
 *  - Only the monitor (and registry_close, after joining it) closes a
 *    handle; other threads borrow the current one with zh_users held so it
 *    cannot be closed under them. */
#include "shim/registry/registry.h"
#include "base/clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zookeeper/zookeeper.h>

#include "base/engine_info.h"
#include "base/events.h"
#include "base/lifecycle.h"
#include "base/log.h"
#include "shim/registry/reg_conf.h"
#include "shim/registry/zk_log.h"
#include "shim/registry/zk_ops.h"
#include "shim/registry/znode_name.h"

#define ZPATH_MAX 4096
#define ATTR_CONTROL "sparkshim.control"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv; /* CLOCK_MONOTONIC; every change of R is broadcast */
static pthread_once_t cv_once = PTHREAD_ONCE_INIT;
/* Set while stopping: bounded waits of an in-flight (re-)registration give
 * up early so a stop is never held up by a slow connect. */
static atomic_int aborting;

static struct {
	int configured;
	struct reg_config cfg;
	struct ACL acl_entries[2];
	struct ACL_vector acl;
	char *prefix;         /* path to create, "<ns>/serverUri=...;sequence=" */
	char data[300];       /* "<host>:<port>" */

	zhandle_t *zh;        /* current session's handle, or NULL */
	uintptr_t zh_gen;     /* its generation: watcher context, 0 = none */
	uintptr_t gen_counter;
	int zh_users;         /* threads borrowing zh outside mu */
	int zstate;           /* last session state seen for zh_gen */
	int64_t session_ms;   /* negotiated session timeout, 0 unknown */
	int64_t disconnected_since; /* monotonic ms; 0 = connected */

	char *node;           /* our node's path, NULL when we have none */
	char *stale_node;     /* the node of a session we gave up: removed after re-registering */
	uintptr_t node_gen;   /* node watcher context */
	int want_node;        /* registered and not deleted/deregistered */

	int ev_deleted, ev_expired, ev_rearm; /* recorded by watchers */
	int delete_unverified; /* a NodeDeleted we could not confirm yet */
	int64_t verify_at;     /* when to (re)check an ev_deleted */
	int64_t rearm_at;
	int reregister_pending;
	int64_t retry_at;
	int lost_posted;

	int stopping;         /* deregister called: never (re)create */
	int dereg_busy;       /* a deregister is deleting right now */
	int dereg_rc;
	int quit;
	int monitor_running;
	pthread_t monitor;
} R;

static void init_cv(void)
{
	cond_init_monotonic(&cv);
}

static void wait_until(int64_t deadline_ms)
{
	struct timespec ts = {.tv_sec = deadline_ms / 1000,
			      .tv_nsec = (deadline_ms % 1000) * 1000000L};
	pthread_cond_timedwait(&cv, &mu, &ts);
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

/* ---- watchers (ZooKeeper completion thread: record and wake, nothing more) ---- */

static const char *state_str(int s)
{
	if (s == ZOO_CONNECTED_STATE)
		return "CONNECTED";
	if (s == ZOO_CONNECTING_STATE)
		return "CONNECTING";
	if (s == ZOO_ASSOCIATING_STATE)
		return "ASSOCIATING";
	if (s == ZOO_EXPIRED_SESSION_STATE)
		return "EXPIRED";
	if (s == ZOO_AUTH_FAILED_STATE)
		return "AUTH_FAILED";
	return "NOT_CONNECTED";
}

static void session_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	(void)path;
	if (type != ZOO_SESSION_EVENT)
		return;
	pthread_mutex_lock(&mu);
	int ours = R.zh_gen != 0 && (uintptr_t)ctx == R.zh_gen;
	int was = R.zstate;
	if (ours) {
		R.zstate = state;
		if (state == ZOO_CONNECTED_STATE) {
			R.disconnected_since = 0;
			R.session_ms = zoo_recv_timeout(zh);
			if (R.delete_unverified) {
				R.delete_unverified = 0;
				R.ev_deleted = 1; /* same session back: ask again */
				R.verify_at = 0;
			}
		} else if (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE) {
			R.ev_expired = 1;
		} else if (!R.disconnected_since) {
			R.disconnected_since = monotonic_ms();
		}
		pthread_cond_broadcast(&cv);
	}
	pthread_mutex_unlock(&mu);
	if (!ours || was == state)
		return;
	if (state == ZOO_CONNECTED_STATE) {
		const clientid_t *id = zoo_client_id(zh);
		log_info("ZooKeeper session 0x%llx connected (session timeout %d ms)",
			 (unsigned long long)(id ? id->client_id : 0), zoo_recv_timeout(zh));
	} else if (was == ZOO_CONNECTED_STATE) {
		log_warn("ZooKeeper connection lost (%s); the client keeps retrying",
			 state_str(state));
	}
}

static void node_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	(void)zh;
	(void)state;
	(void)path;
	/* Session changes reach every watcher; the session watcher owns them. */
	if (type == ZOO_SESSION_EVENT)
		return;
	pthread_mutex_lock(&mu);
	if (R.node && (uintptr_t)ctx == R.node_gen) {
		if (type == ZOO_DELETED_EVENT) {
			R.ev_deleted = 1;
			R.verify_at = 0;
		} else {
			/* A watch fires once; keep watching (data change etc.). */
			R.ev_rearm = 1;
			R.rearm_at = 0;
		}
		pthread_cond_broadcast(&cv);
	}
	pthread_mutex_unlock(&mu);
}

/* ---- handle lifetime ---- */

static zhandle_t *open_handle(char *err, size_t errlen)
{
	pthread_mutex_lock(&mu);
	uintptr_t gen = ++R.gen_counter;
	R.zh_gen = gen; /* before init: the watcher may run before init returns */
	R.zstate = ZOO_CONNECTING_STATE;
	if (!R.disconnected_since)
		R.disconnected_since = monotonic_ms();
	pthread_mutex_unlock(&mu);

	zhandle_t *zh = zookeeper_init2(R.cfg.addresses, session_watcher, R.cfg.session_timeout_ms,
					NULL, (void *)gen, 0, zk_log_callback);
	if (!zh) {
		snprintf(err, errlen, "cannot start a ZooKeeper client for %s: %s", R.cfg.addresses,
			 strerror(errno));
		pthread_mutex_lock(&mu);
		R.zh_gen = 0;
		pthread_mutex_unlock(&mu);
		return NULL;
	}
	pthread_mutex_lock(&mu);
	R.zh = zh;
	pthread_mutex_unlock(&mu);
	return zh;
}

/* Detach the current handle (waiting out borrowers) and close it. The node
 * of that session is forgotten: ZooKeeper removes it with the session. */
static void drop_handle(void)
{
	pthread_mutex_lock(&mu);
	zhandle_t *old = R.zh;
	R.zh = NULL;
	R.zh_gen = 0;
	while (R.zh_users)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	if (old)
		zookeeper_close(old); /* a few seconds at most (zookeeper.h) */
}

/* Borrow the current handle for a call made outside mu; NULL if none. */
static zhandle_t *borrow(void)
{
	pthread_mutex_lock(&mu);
	zhandle_t *zh = R.zh;
	if (zh)
		R.zh_users++;
	pthread_mutex_unlock(&mu);
	return zh;
}

static void give_back(void)
{
	pthread_mutex_lock(&mu);
	R.zh_users--;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

/* ---- registration steps (caller thread or monitor; mu not held) ---- */

static int wait_connected(int64_t deadline, char *err, size_t errlen)
{
	int rc = 0;
	pthread_mutex_lock(&mu);
	while (R.zstate != ZOO_CONNECTED_STATE) {
		if (R.zstate == ZOO_EXPIRED_SESSION_STATE || R.zstate == ZOO_AUTH_FAILED_STATE) {
			snprintf(err, errlen, "ZooKeeper at %s refused the session (%s)",
				 R.cfg.addresses, state_str(R.zstate));
			rc = -1;
			break;
		}
		if (R.stopping) {
			snprintf(err, errlen, "deregistered while connecting");
			rc = -1;
			break;
		}
		if (monotonic_ms() >= deadline) {
			snprintf(err, errlen,
				 "could not connect to ZooKeeper at %s within %d ms "
				 "(kyuubi.ha.zookeeper.connection.timeout)",
				 R.cfg.addresses, R.cfg.connect_timeout_ms);
			rc = -1;
			break;
		}
		wait_until(deadline);
	}
	pthread_mutex_unlock(&mu);
	return rc;
}

/* The namespace and its ancestors, persistent, like Curator's
 * creatingParentsIfNeeded: look first, create what is missing (an existing
 * ancestor we may not write to is fine). */
static int ensure_parents(zhandle_t *zh, int64_t deadline, char *err, size_t errlen)
{
	const char *ns = R.cfg.namespace_path;
	size_t len = strlen(ns);
	char path[ZPATH_MAX];
	if (len >= sizeof(path)) {
		snprintf(err, errlen, "namespace %s is too long", ns);
		return -1;
	}
	for (size_t i = 1; i <= len; i++) {
		if (i < len && ns[i] != '/')
			continue;
		memcpy(path, ns, i);
		path[i] = '\0';
		int rc = zkop_exists(zh, path, NULL, NULL, NULL, deadline, &aborting);
		if (rc == ZNONODE)
			rc = zkop_create(zh, path, "", 0, &R.acl, 0, NULL, 0, deadline, &aborting);
		if (rc != ZOK && rc != ZNODEEXISTS) {
			snprintf(err, errlen, "cannot create namespace node %s: %s", path,
				 zerror(rc));
			return -1;
		}
	}
	return 0;
}

/* After a connection loss during create the node may exist without us
 * knowing its name: look for a child with our prefix owned by our session.
 * 1 found (path in out), 0 not found, -1 error. */
static int find_own_node(zhandle_t *zh, int64_t deadline, char *out, size_t outlen)
{
	char **names = NULL;
	const char *base = strrchr(R.prefix, '/') + 1;
	size_t blen = strlen(base);
	if (zkop_children(zh, R.cfg.namespace_path, &names, deadline, &aborting) != ZOK)
		return -1;
	const clientid_t *id = zoo_client_id(zh);
	int found = 0;
	for (char **n = names; *n && !found; n++) {
		if (strncmp(*n, base, blen) != 0)
			continue;
		char path[ZPATH_MAX];
		struct Stat st;
		snprintf(path, sizeof(path), "%s/%s",
			 strcmp(R.cfg.namespace_path, "/") ? R.cfg.namespace_path : "", *n);
		if (zkop_exists(zh, path, NULL, NULL, &st, deadline, &aborting) == ZOK && id &&
		    st.ephemeralOwner == id->client_id && strlen(path) < outlen) {
			strcpy(out, path);
			found = 1;
		}
	}
	zkop_free_names(names);
	return found;
}

static int create_node(zhandle_t *zh, int64_t deadline, char *out, size_t outlen, char *err,
		       size_t errlen)
{
	for (;;) {
		int rc = zkop_create(zh, R.prefix, R.data, (int)strlen(R.data), &R.acl,
				     ZOO_EPHEMERAL_SEQUENTIAL, out, outlen, deadline, &aborting);
		if (rc == ZOK)
			return 0;
		if (rc != ZCONNECTIONLOSS) {
			snprintf(err, errlen, "cannot create %s: %s", R.prefix, zerror(rc));
			return -1;
		}
		/* The create may have happened before the connection dropped. */
		if (wait_connected(deadline, err, errlen) < 0)
			return -1;
		int f = find_own_node(zh, deadline, out, outlen);
		if (f == 1)
			return 0;
		if (f < 0 && monotonic_ms() >= deadline) {
			snprintf(err, errlen, "cannot create %s: connection lost", R.prefix);
			return -1;
		}
	}
}

/* Open a session and create + watch our node. On failure the handle stays
 * in R.zh for the caller to drop. */
static int do_register(int64_t deadline, char *err, size_t errlen)
{
	zhandle_t *zh = open_handle(err, errlen);
	if (!zh || wait_connected(deadline, err, errlen) < 0)
		return -1;
	if (R.cfg.digest) {
		int rc = zkop_add_auth(zh, "digest", R.cfg.digest, deadline, &aborting);
		if (rc != ZOK) {
			snprintf(err, errlen, "ZooKeeper digest authentication failed: %s",
				 zerror(rc));
			return -1;
		}
	}
	char path[ZPATH_MAX];
	if (ensure_parents(zh, deadline, err, errlen) < 0 ||
	    create_node(zh, deadline, path, sizeof(path), err, errlen) < 0)
		return -1;

	char *copy = strdup(path);
	pthread_mutex_lock(&mu);
	if (R.stopping || !copy) {
		/* Deregistered meanwhile: our fresh node must not survive. */
		pthread_mutex_unlock(&mu);
		zkop_delete(zh, path, monotonic_ms() + R.cfg.deregister_timeout_ms, NULL);
		snprintf(err, errlen, "%s", copy ? "deregistered while registering" : "out of memory");
		free(copy);
		return -1;
	}
	free(R.node);
	R.node = copy;
	R.node_gen = ++R.gen_counter;
	uintptr_t node_gen = R.node_gen;
	R.ev_deleted = R.ev_rearm = R.delete_unverified = 0;
	R.want_node = 1;
	pthread_mutex_unlock(&mu);

	int rc = zkop_exists(zh, path, node_watcher, (void *)node_gen, NULL, deadline, &aborting);
	pthread_mutex_lock(&mu);
	if (rc == ZNONODE) {
		R.ev_deleted = 1; /* gone already: report it like any deletion */
		R.verify_at = 0;
	} else if (rc != ZOK) {
		R.ev_rearm = 1; /* the monitor keeps trying to watch it */
		R.rearm_at = monotonic_ms() + 1000;
	}
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);

	publish(REG_REGISTERED, path);
	events_post(EV_REG_REGISTERED, 0, "%s", path);
	return 0;
}

/* ---- monitor thread (entered and left with mu held) ---- */

static void on_deleted_locked(void)
{
	if (R.stopping || !R.node)
		return; /* our own delete, or a node we already gave up */
	char *path = R.node;
	R.node = NULL;
	R.want_node = 0;
	pthread_mutex_unlock(&mu);
	log_warn("znode %s was deleted by another client (the gateway stops engines this way);"
		 " stopping gracefully", path);
	publish(REG_DEREGISTERED, "");
	events_post(EV_REG_NODE_DELETED, 0, "%s", path);
	free(path);
	pthread_mutex_lock(&mu);
}

/* exists() on our node, re-arming its watch, with mu released for the
 * round trip (only this thread closes handles, so R.zh stays valid). Call
 * with mu held and R.node, R.zh set; *gen gets the node generation asked
 * about, to compare with R.node_gen afterwards. Returns the ZooKeeper rc. */
static int node_exists_unlocked(uintptr_t *gen)
{
	char *path = strdup(R.node);
	*gen = R.node_gen;
	zhandle_t *zh = R.zh;
	pthread_mutex_unlock(&mu);
	int rc = path ? zkop_exists(zh, path, node_watcher, (void *)*gen, NULL,
				    monotonic_ms() + R.cfg.connect_timeout_ms, &aborting)
		      : ZSYSTEMERROR;
	free(path);
	pthread_mutex_lock(&mu);
	return rc;
}

/* A NodeDeleted also arrives when our own session expired: the server
 * deletes the session's ephemeral node and tells the (frozen, partitioned)
 * client before closing its connection. Only a server that still answers
 * on our session proves someone else deleted the node: ask it. ZNONODE on a
 * live session = deleted by another client; no answer = wait for the
 * session's fate (reconnect: ask again; expiry: on_expired_locked). */
static void verify_deleted_locked(void)
{
	if (R.stopping || !R.node || !R.zh)
		return;
	uintptr_t gen;
	int rc = node_exists_unlocked(&gen);
	if (gen != R.node_gen || R.stopping)
		return;
	if (rc == ZNONODE)
		on_deleted_locked();
	else if (rc == ZCONNECTIONLOSS || rc == ZSESSIONEXPIRED || rc == ZINVALIDSTATE ||
		 R.zstate != ZOO_CONNECTED_STATE)
		R.delete_unverified = 1; /* the session watcher re-triggers or expiry decides */
	else if (rc != ZOK) {
		R.ev_deleted = 1; /* other error on a live session: ask again shortly */
		R.verify_at = monotonic_ms() + 1000;
	}
}

static int may_recreate(void)
{
	enum shim_state st = lifecycle_state();
	return R.want_node && !R.stopping && !R.quit && (st == ST_READY || st == ST_STARTING);
}

/* The session is over: expired (the server said so) or given up (no
 * connection for a whole session timeout: whatever the server thinks, it
 * expires the session now or soon, and a client that saw a newer zxid than
 * a rebuilt ensemble is refused forever; Curator starts a new session here
 * too). Re-create the node under a new session if the engine still serves. */
static void on_expired_locked(const char *why)
{
	R.delete_unverified = 0; /* the expiry explains the NodeDeleted */
	char *gone = R.node;
	R.node = NULL;
	int again = may_recreate();
	if (again) {
		R.reregister_pending = 1;
		R.retry_at = 0;
	}
	/* If the server still has it, the old node must not linger next to
	 * the new one: remember it for removal once we are back. */
	if (gone && again) {
		free(R.stale_node);
		R.stale_node = gone;
	}
	pthread_mutex_unlock(&mu);
	log_warn("%s%s%s", why, gone ? "; znode " : "", gone ? gone : "");
	if (!again)
		free(gone);
	drop_handle();
	publish(again ? REG_PENDING : REG_DEREGISTERED, "");
	pthread_mutex_lock(&mu);
}

static int64_t session_limit_ms(void)
{
	return R.session_ms > 0 ? R.session_ms : R.cfg.session_timeout_ms;
}

/* After re-registering: remove the previous session's node if the server
 * kept it (same ACL identity, so we may). */
static void remove_stale_locked(void)
{
	char *stale = R.stale_node;
	R.stale_node = NULL;
	/* A rebuilt ensemble restarts the sequence: the new node may have the
	 * old name. */
	if (!stale || (R.node && strcmp(stale, R.node) == 0)) {
		free(stale);
		return;
	}
	pthread_mutex_unlock(&mu);
	zhandle_t *zh = borrow();
	int rc = zh ? zkop_delete(zh, stale, monotonic_ms() + R.cfg.deregister_timeout_ms, &aborting)
		    : ZINVALIDSTATE;
	if (zh)
		give_back();
	if (rc == ZOK)
		log_info("removed the previous session's znode %s", stale);
	else if (rc != ZNONODE)
		log_warn("could not remove the previous session's znode %s: %s", stale,
			 zerror(rc));
	free(stale);
	pthread_mutex_lock(&mu);
}

static void reregister_locked(void)
{
	R.reregister_pending = 0;
	if (!may_recreate())
		return;
	/* Never try past the point where we give up (check_lost_locked). */
	int64_t t0 = monotonic_ms();
	int64_t deadline = t0 + R.cfg.connect_timeout_ms;
	if (R.disconnected_since) {
		int64_t lost_at = R.disconnected_since + reg_lost_budget_ms(&R.cfg, R.session_ms);
		if (lost_at <= t0)
			return;
		if (lost_at < deadline)
			deadline = lost_at;
	}
	pthread_mutex_unlock(&mu);
	char err[512];
	int rc = do_register(deadline, err, sizeof(err));
	if (rc < 0)
		drop_handle();
	int64_t ms = monotonic_ms() - t0;
	pthread_mutex_lock(&mu);
	if (rc == 0) {
		log_info("re-registered with a new ZooKeeper session as %s (%lld ms)",
			 R.node ? R.node : "(deregistered meanwhile)", (long long)ms);
		remove_stale_locked();
		return;
	}
	if (may_recreate()) {
		int wait = R.cfg.retry_base_ms > 100 ? R.cfg.retry_base_ms : 100;
		log_warn("re-registration failed: %s; retrying in %d ms", err, wait);
		R.reregister_pending = 1;
		R.retry_at = monotonic_ms() + wait;
	}
}

static void rearm_locked(void)
{
	R.ev_rearm = 0;
	if (!R.node || R.stopping || !R.zh)
		return;
	uintptr_t gen;
	int rc = node_exists_unlocked(&gen);
	if (gen != R.node_gen)
		return;
	if (rc == ZNONODE) {
		R.ev_deleted = 1;
		R.verify_at = 0;
	} else if (rc != ZOK) {
		R.ev_rearm = 1;
		R.rearm_at = monotonic_ms() + 1000;
	}
}

static int check_lost_locked(int64_t now)
{
	if (!R.disconnected_since || R.lost_posted || R.stopping)
		return 0;
	int64_t budget = reg_lost_budget_ms(&R.cfg, R.session_ms);
	int64_t down = now - R.disconnected_since;
	if (down < budget)
		return 0;
	R.lost_posted = 1;
	pthread_mutex_unlock(&mu);
	log_error("no ZooKeeper connection for %lld ms (session timeout + retry budget %lld ms);"
		  " giving up on discovery", (long long)down, (long long)budget);
	publish(REG_FAILED, NULL);
	events_post(EV_REG_LOST, down, "no ZooKeeper connection for %lld ms", (long long)down);
	pthread_mutex_lock(&mu);
	return 1;
}

static void *monitor_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	while (!R.quit) {
		int64_t now = monotonic_ms();
		if (R.ev_deleted && now >= R.verify_at) {
			R.ev_deleted = 0;
			verify_deleted_locked();
			continue;
		}
		if (R.ev_expired) {
			R.ev_expired = 0;
			on_expired_locked("ZooKeeper session expired");
			continue;
		}
		if (R.zh && R.disconnected_since &&
		    now - R.disconnected_since >= session_limit_ms()) {
			on_expired_locked("no ZooKeeper connection for a whole session timeout: "
					  "giving the session up and starting a new one");
			continue;
		}
		if (R.ev_rearm && now >= R.rearm_at) {
			rearm_locked();
			continue;
		}
		if (R.reregister_pending && now >= R.retry_at) {
			reregister_locked();
			continue;
		}
		if (check_lost_locked(now))
			continue;
		int64_t wake = now + 1000;
		if (R.ev_rearm && R.rearm_at < wake)
			wake = R.rearm_at;
		if (R.ev_deleted && R.verify_at < wake)
			wake = R.verify_at;
		if (R.zh && R.disconnected_since && R.disconnected_since + session_limit_ms() < wake)
			wake = R.disconnected_since + session_limit_ms();
		if (R.reregister_pending && R.retry_at < wake)
			wake = R.retry_at;
		if (R.disconnected_since && !R.lost_posted) {
			int64_t at = R.disconnected_since + reg_lost_budget_ms(&R.cfg, R.session_ms);
			if (at < wake)
				wake = at;
		}
		if (wake > now)
			wait_until(wake);
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

/* Stop the monitor thread (if any) and wait for it; it gives up any
 * re-registration in flight quickly because deregister set `aborting`. */
static void stop_monitor(void)
{
	pthread_mutex_lock(&mu);
	R.quit = 1;
	pthread_cond_broadcast(&cv);
	int running = R.monitor_running;
	R.monitor_running = 0;
	pthread_mutex_unlock(&mu);
	if (running)
		pthread_join(R.monitor, NULL);
}

/* ---- public API ---- */

static void build_acl(void)
{
	if (R.cfg.acl_mode == REG_AUTH_DIGEST) {
		/* Kyuubi's secured ACL: anyone may read (the gateway lists
		 * engines), only the creating identity may change or delete. */
		R.acl_entries[0].perms = ZOO_PERM_READ;
		R.acl_entries[0].id = ZOO_ANYONE_ID_UNSAFE;
		R.acl_entries[1].perms = ZOO_PERM_ALL;
		R.acl_entries[1].id = ZOO_AUTH_IDS;
		R.acl.count = 2;
		R.acl.data = R.acl_entries;
	} else {
		R.acl = ZOO_OPEN_ACL_UNSAFE;
	}
}

int registry_configure(const struct conf *c, char *err, size_t errlen)
{
	pthread_once(&cv_once, init_cv);
	pthread_mutex_lock(&mu);
	int busy = R.zh != NULL || R.monitor_running;
	pthread_mutex_unlock(&mu);
	if (busy) {
		snprintf(err, errlen, "registry is already registered; close it first");
		return -1;
	}
	struct reg_config cfg;
	if (reg_config_load(&cfg, c, err, errlen) < 0)
		return -1;
	if (cfg.enabled && zk_log_install(cfg.zk_log_level) < 0)
		log_warn("cannot redirect the ZooKeeper client's log; it writes to stderr");
	pthread_mutex_lock(&mu);
	reg_config_free(&R.cfg);
	R.cfg = cfg;
	R.configured = 1;
	build_acl();
	pthread_mutex_unlock(&mu);
	publish(cfg.enabled ? REG_PENDING : REG_DISABLED, "");
	return 0;
}

int registry_enabled(void)
{
	pthread_mutex_lock(&mu);
	int on = R.configured && R.cfg.enabled;
	pthread_mutex_unlock(&mu);
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
		out[n++] = (struct znode_attr){ATTR_CONTROL, ctl};
	return n;
}

int registry_register(const struct reg_endpoint *ep, char *err, size_t errlen)
{
	pthread_once(&cv_once, init_cv);
	if (!registry_enabled()) {
		pthread_mutex_lock(&mu);
		int configured = R.configured;
		pthread_mutex_unlock(&mu);
		if (configured)
			return 0;
		snprintf(err, errlen, "registry_register called before registry_configure");
		return -1;
	}
	pthread_mutex_lock(&mu);
	int busy = (R.zh != NULL || R.monitor_running) && !R.stopping;
	pthread_mutex_unlock(&mu);
	if (busy) {
		snprintf(err, errlen, "already registered; deregister first");
		return -1;
	}
	/* Registering again after a deregister (SIGHUP): start from a fresh
	 * session, as on the first registration. */
	stop_monitor();
	drop_handle();
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
	char *prefix = znode_build_prefix(R.cfg.namespace_path, ep->host, ep->port,
					  R.cfg.version, attrs, n, R.cfg.ref_id);
	free(attrs);
	if (!prefix) {
		snprintf(err, errlen, "cannot build the node name: %s", strerror(errno));
		return -1;
	}
	pthread_mutex_lock(&mu);
	free(R.prefix);
	R.prefix = prefix;
	znode_build_data(ep->host, ep->port, R.data, sizeof(R.data));
	R.stopping = R.quit = R.lost_posted = R.reregister_pending = 0;
	R.ev_deleted = R.ev_expired = R.ev_rearm = R.delete_unverified = 0;
	R.disconnected_since = 0;
	R.want_node = 1;
	atomic_store(&aborting, 0);
	pthread_mutex_unlock(&mu);

	publish(REG_PENDING, "");
	int64_t t0 = monotonic_ms();
	if (do_register(t0 + R.cfg.connect_timeout_ms, err, errlen) < 0) {
		drop_handle();
		pthread_mutex_lock(&mu);
		R.want_node = 0;
		pthread_mutex_unlock(&mu);
		publish(REG_FAILED, "");
		return -1;
	}
	int64_t ms = monotonic_ms() - t0;

	pthread_mutex_lock(&mu);
	int prc = pthread_create(&R.monitor, NULL, monitor_main, NULL);
	R.monitor_running = prc == 0;
	char *path = R.node ? strdup(R.node) : NULL;
	pthread_mutex_unlock(&mu);
	if (prc != 0) {
		snprintf(err, errlen, "cannot start the registry monitor thread: %s", strerror(prc));
		free(path);
		registry_deregister();
		drop_handle();
		return -1;
	}
	log_info("registered with the gateway as %s -> %s (%lld ms)", path ? path : "?", R.data,
		 (long long)ms);
	free(path);
	return 0;
}

int registry_deregister(void)
{
	pthread_once(&cv_once, init_cv);
	pthread_mutex_lock(&mu);
	if (!R.configured || !R.cfg.enabled) {
		pthread_mutex_unlock(&mu);
		return 0;
	}
	R.stopping = 1;
	R.want_node = 0;
	R.reregister_pending = 0;
	atomic_store(&aborting, 1);
	pthread_cond_broadcast(&cv);
	if (R.dereg_busy) {
		/* Another thread is deleting: wait for its result. */
		while (R.dereg_busy)
			pthread_cond_wait(&cv, &mu);
		int rc = R.dereg_rc;
		pthread_mutex_unlock(&mu);
		return rc;
	}
	char *path = R.node;
	R.node = NULL;
	zhandle_t *zh = path ? R.zh : NULL;
	if (!zh) {
		pthread_mutex_unlock(&mu);
		free(path);
		struct engine_info info;
		engine_info_get(&info);
		if (info.reg_state == REG_REGISTERED || info.reg_state == REG_PENDING)
			publish(REG_DEREGISTERED, "");
		return 0;
	}
	R.zh_users++;
	R.dereg_busy = 1;
	pthread_mutex_unlock(&mu);

	int64_t t0 = monotonic_ms();
	int zrc = zkop_delete(zh, path, t0 + R.cfg.deregister_timeout_ms, NULL);
	int64_t ms = monotonic_ms() - t0;
	int rc = zrc == ZOK || zrc == ZNONODE ? 0 : -1;
	if (rc == 0) {
		log_info("deregistered %s (%lld ms)", path, (long long)ms);
		publish(REG_DEREGISTERED, "");
	} else {
		log_warn("could not delete %s: %s; ZooKeeper drops it when the session ends", path,
			 zerror(zrc));
		publish(REG_FAILED, NULL);
	}
	free(path);

	pthread_mutex_lock(&mu);
	R.zh_users--;
	R.dereg_busy = 0;
	R.dereg_rc = rc;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	return rc;
}

/* At CONNECTION share level the engine space belongs to this engine alone;
 * Kyuubi's engine removes it on the way out so they do not pile up. */
static void delete_namespace(void)
{
	zhandle_t *zh = borrow();
	if (!zh)
		return;
	int64_t deadline = monotonic_ms() + R.cfg.deregister_timeout_ms;
	const char *ns = R.cfg.namespace_path;
	char **names = NULL;
	int rc = zkop_children(zh, ns, &names, deadline, NULL);
	for (char **n = names; rc == ZOK && *n; n++) {
		char path[ZPATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", ns, *n);
		int drc = zkop_delete(zh, path, deadline, NULL);
		if (drc != ZOK && drc != ZNONODE)
			rc = drc;
	}
	zkop_free_names(names);
	if (rc == ZOK)
		rc = zkop_delete(zh, ns, deadline, NULL);
	give_back();
	if (rc == ZOK || rc == ZNONODE)
		log_info("removed the CONNECTION-level namespace %s", ns);
	else
		log_warn("could not remove namespace %s: %s", ns, zerror(rc));
}

void registry_close(void)
{
	pthread_once(&cv_once, init_cv);
	registry_deregister();
	stop_monitor();
	pthread_mutex_lock(&mu);
	int connected = R.zh && R.zstate == ZOO_CONNECTED_STATE;
	int connection_level = R.cfg.enabled && R.cfg.share_level &&
			       strcmp(R.cfg.share_level, "CONNECTION") == 0;
	pthread_mutex_unlock(&mu);
	if (connected && connection_level)
		delete_namespace();
	drop_handle();
	pthread_mutex_lock(&mu);
	reg_config_free(&R.cfg);
	free(R.prefix);
	R.prefix = NULL;
	free(R.node);
	R.node = NULL;
	free(R.stale_node);
	R.stale_node = NULL;
	R.configured = 0;
	R.stopping = 0;
	pthread_mutex_unlock(&mu);
}
