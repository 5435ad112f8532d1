/* The ZooKeeper discovery backend (discovery.h): one ZooKeeper session, one
 * ephemeral sequential node, one monitor thread. Everything that knows
 * zhandle_t lives here; the neutral part (registry.c) owns the API, the
 * want-registered/stopping state, engine_info and events.
 *
 * Who does what:
 *  - ZooKeeper's completion thread runs our watchers. They only record what
 *    happened (flags under C->mu) and wake the monitor: a watcher must never
 *    wait for ZooKeeper itself, or it would wait for its own thread.
 *  - The monitor thread acts on those flags: reports a deleted node, re-arms
 *    the watch, replaces an expired session and re-creates the node, and
 *    gives up (EV_REG_LOST) when the connection stays down too long.
 *  - Every ZooKeeper call goes through zk_ops (deadline-bounded), and no
 *    thread holds C->mu while it waits on ZooKeeper.
 *  - Only the monitor (and zk_close, after joining it) closes a handle;
 *    other threads borrow the current one with zh_users held so it cannot
 *    be closed under them. */
#include "shim/registry/zk.h"

#include "shim/registry/discovery.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zookeeper/zookeeper.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/thread.h"
#include "shim/registry/reg_conf.h"
#include "shim/registry/zk_conf.h"
#include "shim/registry/zk_log.h"
#include "shim/registry/zk_ops.h"

#define ZPATH_MAX 4096

/* The neutral part's shared state and lock (set by zk_configure). */
static struct discovery_ctx *C;

static struct {
	const struct zk_config *cfg;
	struct ACL acl_entries[2];
	struct ACL_vector acl;

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

	int ev_deleted, ev_expired, ev_rearm; /* recorded by watchers */
	int delete_unverified; /* a NodeDeleted we could not confirm yet */
	int64_t verify_at;     /* when to (re)check an ev_deleted */
	int64_t rearm_at;
	int reregister_pending;
	int64_t retry_at;
	int lost_posted;

	int session_ready;    /* zk_connect's session (namespace made), no node yet */

	int quit;
	int monitor_running;
	pthread_t monitor;
} Z;

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
	pthread_mutex_lock(&C->mu);
	int ours = Z.zh_gen != 0 && (uintptr_t)ctx == Z.zh_gen;
	int was = Z.zstate;
	if (ours) {
		Z.zstate = state;
		if (state == ZOO_CONNECTED_STATE) {
			Z.disconnected_since = 0;
			Z.session_ms = zoo_recv_timeout(zh);
			if (Z.delete_unverified) {
				Z.delete_unverified = 0;
				Z.ev_deleted = 1; /* same session back: ask again */
				Z.verify_at = 0;
			}
		} else if (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE) {
			Z.ev_expired = 1;
		} else if (!Z.disconnected_since) {
			Z.disconnected_since = monotonic_ms();
		}
		pthread_cond_broadcast(&C->cv);
	}
	pthread_mutex_unlock(&C->mu);
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
	pthread_mutex_lock(&C->mu);
	if (Z.node && (uintptr_t)ctx == Z.node_gen) {
		if (type == ZOO_DELETED_EVENT) {
			Z.ev_deleted = 1;
			Z.verify_at = 0;
		} else {
			/* A watch fires once; keep watching (data change etc.). */
			Z.ev_rearm = 1;
			Z.rearm_at = 0;
		}
		pthread_cond_broadcast(&C->cv);
	}
	pthread_mutex_unlock(&C->mu);
}

/* ---- handle lifetime ---- */

static zhandle_t *open_handle(char *err, size_t errlen)
{
	pthread_mutex_lock(&C->mu);
	uintptr_t gen = ++Z.gen_counter;
	Z.zh_gen = gen; /* before init: the watcher may run before init returns */
	Z.zstate = ZOO_CONNECTING_STATE;
	if (!Z.disconnected_since)
		Z.disconnected_since = monotonic_ms();
	pthread_mutex_unlock(&C->mu);

	zhandle_t *zh = zookeeper_init2(Z.cfg->addresses, session_watcher, Z.cfg->session_timeout_ms,
					NULL, (void *)gen, 0, zk_log_callback);
	if (!zh) {
		snprintf(err, errlen, "cannot start a ZooKeeper client for %s: %s", Z.cfg->addresses,
			 strerror(errno));
		pthread_mutex_lock(&C->mu);
		Z.zh_gen = 0;
		pthread_mutex_unlock(&C->mu);
		return NULL;
	}
	pthread_mutex_lock(&C->mu);
	Z.zh = zh;
	pthread_mutex_unlock(&C->mu);
	return zh;
}

/* Detach the current handle (waiting out borrowers) and close it. The node
 * of that session is forgotten: ZooKeeper removes it with the session. */
static void drop_handle(void)
{
	pthread_mutex_lock(&C->mu);
	zhandle_t *old = Z.zh;
	Z.zh = NULL;
	Z.zh_gen = 0;
	while (Z.zh_users)
		pthread_cond_wait(&C->cv, &C->mu);
	pthread_mutex_unlock(&C->mu);
	if (old)
		zookeeper_close(old); /* a few seconds at most (zookeeper.h) */
}

/* Borrow the current handle for a call made outside mu; NULL if none. */
static zhandle_t *borrow(void)
{
	pthread_mutex_lock(&C->mu);
	zhandle_t *zh = Z.zh;
	if (zh)
		Z.zh_users++;
	pthread_mutex_unlock(&C->mu);
	return zh;
}

static void give_back(void)
{
	pthread_mutex_lock(&C->mu);
	Z.zh_users--;
	pthread_cond_broadcast(&C->cv);
	pthread_mutex_unlock(&C->mu);
}

/* ---- registration steps (caller thread or monitor; mu not held) ---- */

/* When the registration attempt under way began (do_register): a give-up
 * message says how long it really tried, and against which budget. */
static int64_t attempt_started;
static int attempt_cut; /* its deadline is the lost-session budget's, not the full timeout */

static int wait_connected(int64_t deadline, char *err, size_t errlen)
{
	int rc = 0;
	pthread_mutex_lock(&C->mu);
	while (Z.zstate != ZOO_CONNECTED_STATE) {
		if (Z.zstate == ZOO_EXPIRED_SESSION_STATE || Z.zstate == ZOO_AUTH_FAILED_STATE) {
			snprintf(err, errlen, "ZooKeeper at %s refused the session (%s)",
				 Z.cfg->addresses, state_str(Z.zstate));
			rc = -1;
			break;
		}
		if (C->stopping) {
			snprintf(err, errlen, "deregistered while connecting");
			rc = -1;
			break;
		}
		if (monotonic_ms() >= deadline) {
			int64_t tried = monotonic_ms() - attempt_started;
			if (!attempt_cut)
				snprintf(err, errlen,
					 "could not connect to ZooKeeper at %s: gave up after %lld ms "
					 "(kyuubi.ha.zookeeper.connection.timeout=%d ms)",
					 Z.cfg->addresses, (long long)tried, Z.cfg->connect_timeout_ms);
			else
				snprintf(err, errlen,
					 "could not connect to ZooKeeper at %s: gave up after %lld ms "
					 "(what was left of the time a lost session may take to come back)",
					 Z.cfg->addresses, (long long)tried);
			rc = -1;
			break;
		}
		discovery_wait_until(C, deadline);
	}
	pthread_mutex_unlock(&C->mu);
	return rc;
}

/* The namespace and its ancestors, persistent, like Curator's
 * creatingParentsIfNeeded: look first, create what is missing (an existing
 * ancestor we may not write to is fine). */
static int ensure_parents(zhandle_t *zh, int64_t deadline, char *err, size_t errlen)
{
	const char *ns = C->cfg->namespace_path;
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
		int rc = zkop_exists(zh, path, NULL, NULL, NULL, deadline, &C->aborting);
		if (rc == ZNONODE)
			rc = zkop_create(zh, path, "", 0, &Z.acl, 0, NULL, 0, deadline, &C->aborting);
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
	const char *base = strrchr(C->prefix, '/') + 1;
	size_t blen = strlen(base);
	if (zkop_children(zh, C->cfg->namespace_path, &names, deadline, &C->aborting) != ZOK)
		return -1;
	const clientid_t *id = zoo_client_id(zh);
	int found = 0;
	for (char **n = names; *n && !found; n++) {
		if (strncmp(*n, base, blen) != 0)
			continue;
		char path[ZPATH_MAX];
		struct Stat st;
		snprintf(path, sizeof(path), "%s/%s",
			 strcmp(C->cfg->namespace_path, "/") ? C->cfg->namespace_path : "", *n);
		if (zkop_exists(zh, path, NULL, NULL, &st, deadline, &C->aborting) == ZOK && id &&
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
		int rc = zkop_create(zh, C->prefix, C->data, (int)strlen(C->data), &Z.acl,
				     ZOO_EPHEMERAL_SEQUENTIAL, out, outlen, deadline, &C->aborting);
		if (rc == ZOK)
			return 0;
		if (rc != ZCONNECTIONLOSS) {
			snprintf(err, errlen, "cannot create %s: %s", C->prefix, zerror(rc));
			return -1;
		}
		/* The create may have happened before the connection dropped. */
		if (wait_connected(deadline, err, errlen) < 0)
			return -1;
		int f = find_own_node(zh, deadline, out, outlen);
		if (f == 1)
			return 0;
		if (f < 0 && monotonic_ms() >= deadline) {
			snprintf(err, errlen, "cannot create %s: connection lost", C->prefix);
			return -1;
		}
	}
}

/* Make the freshly created node at path ours and watch it. The previous
 * node's path (if any) goes to *prev for the caller (owned; its watch no
 * longer counts). -1 when a deregister came meanwhile: the new node is
 * deleted again. */
static int adopt_node(zhandle_t *zh, const char *path, int64_t deadline, char **prev, char *err,
		      size_t errlen)
{
	char *copy = strdup(path);
	pthread_mutex_lock(&C->mu);
	if (C->stopping || !copy) {
		/* Deregistered meanwhile: our fresh node must not survive. */
		pthread_mutex_unlock(&C->mu);
		zkop_delete(zh, path, monotonic_ms() + C->cfg->deregister_timeout_ms, NULL);
		snprintf(err, errlen, "%s", copy ? "deregistered while registering" : "out of memory");
		free(copy);
		return -1;
	}
	*prev = Z.node;
	Z.node = copy;
	Z.node_gen = ++Z.gen_counter;
	uintptr_t node_gen = Z.node_gen;
	Z.ev_deleted = Z.ev_rearm = Z.delete_unverified = 0;
	C->want_node = 1;
	pthread_mutex_unlock(&C->mu);

	int rc = zkop_exists(zh, path, node_watcher, (void *)node_gen, NULL, deadline, &C->aborting);
	pthread_mutex_lock(&C->mu);
	if (rc == ZNONODE) {
		Z.ev_deleted = 1; /* gone already: report it like any deletion */
		Z.verify_at = 0;
	} else if (rc != ZOK) {
		Z.ev_rearm = 1; /* the monitor keeps trying to watch it */
		Z.rearm_at = monotonic_ms() + 1000;
	}
	pthread_cond_broadcast(&C->cv);
	pthread_mutex_unlock(&C->mu);
	return 0;
}

/* Open a session, authenticate and create the namespace. NULL on failure;
 * the handle stays in Z.zh for the caller to drop either way. */
static zhandle_t *open_session(int64_t deadline, char *err, size_t errlen)
{
	attempt_started = monotonic_ms();
	zhandle_t *zh = open_handle(err, errlen);
	if (!zh || wait_connected(deadline, err, errlen) < 0)
		return NULL;
	if (Z.cfg->digest) {
		int rc = zkop_add_auth(zh, "digest", Z.cfg->digest, deadline, &C->aborting);
		if (rc != ZOK) {
			snprintf(err, errlen, "ZooKeeper digest authentication failed: %s",
				 zerror(rc));
			return NULL;
		}
	}
	return ensure_parents(zh, deadline, err, errlen) < 0 ? NULL : zh;
}

/* Create + watch our node in the session zh (open_session's, or a fresh
 * one when zh is NULL). On failure the handle stays in Z.zh for the caller
 * to drop. */
static int do_register(zhandle_t *zh, int64_t deadline, char *err, size_t errlen)
{
	if (!zh && !(zh = open_session(deadline, err, errlen)))
		return -1;
	char path[ZPATH_MAX];
	if (create_node(zh, deadline, path, sizeof(path), err, errlen) < 0)
		return -1;
	char *prev = NULL;
	if (adopt_node(zh, path, deadline, &prev, err, errlen) < 0)
		return -1;
	free(prev);
	discovery_registered(path);
	return 0;
}

/* ---- monitor thread (entered and left with mu held) ---- */

static void on_deleted_locked(void)
{
	if (C->stopping || !Z.node)
		return; /* our own delete, or a node we already gave up */
	char *path = Z.node;
	Z.node = NULL;
	C->want_node = 0;
	pthread_mutex_unlock(&C->mu);
	log_warn("znode %s was deleted by another client (the gateway stops engines this way);"
		 " stopping gracefully", path);
	discovery_node_deleted(path);
	free(path);
	pthread_mutex_lock(&C->mu);
}

/* exists() on our node, re-arming its watch, with mu released for the
 * round trip (only this thread closes handles, so Z.zh stays valid). Call
 * with mu held and Z.node, Z.zh set; *gen gets the node generation asked
 * about, to compare with Z.node_gen afterwards. Returns the ZooKeeper rc. */
static int node_exists_unlocked(uintptr_t *gen)
{
	char *path = strdup(Z.node);
	*gen = Z.node_gen;
	zhandle_t *zh = Z.zh;
	pthread_mutex_unlock(&C->mu);
	int rc = path ? zkop_exists(zh, path, node_watcher, (void *)*gen, NULL,
				    monotonic_ms() + Z.cfg->connect_timeout_ms, &C->aborting)
		      : ZSYSTEMERROR;
	free(path);
	pthread_mutex_lock(&C->mu);
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
	if (C->stopping || !Z.node || !Z.zh)
		return;
	uintptr_t gen;
	int rc = node_exists_unlocked(&gen);
	if (gen != Z.node_gen || C->stopping)
		return;
	if (rc == ZNONODE)
		on_deleted_locked();
	else if (rc == ZCONNECTIONLOSS || rc == ZSESSIONEXPIRED || rc == ZINVALIDSTATE ||
		 Z.zstate != ZOO_CONNECTED_STATE)
		Z.delete_unverified = 1; /* the session watcher re-triggers or expiry decides */
	else if (rc != ZOK) {
		Z.ev_deleted = 1; /* other error on a live session: ask again shortly */
		Z.verify_at = monotonic_ms() + 1000;
	}
}

static int may_recreate(void)
{
	return !Z.quit && discovery_may_recreate(C);
}

/* The session is over: expired (the server said so) or given up (no
 * connection for a whole session timeout: whatever the server thinks, it
 * expires the session now or soon, and a client that saw a newer zxid than
 * a rebuilt ensemble is refused forever; Curator starts a new session here
 * too). Re-create the node under a new session if the engine still serves. */
static void on_expired_locked(const char *why)
{
	Z.delete_unverified = 0; /* the expiry explains the NodeDeleted */
	char *gone = Z.node;
	Z.node = NULL;
	int again = may_recreate();
	if (again) {
		Z.reregister_pending = 1;
		Z.retry_at = 0;
	}
	/* If the server still has it, the old node must not linger next to
	 * the new one: remember it for removal once we are back. */
	if (gone && again) {
		free(Z.stale_node);
		Z.stale_node = gone;
	}
	pthread_mutex_unlock(&C->mu);
	log_warn("%s%s%s", why, gone ? "; znode " : "", gone ? gone : "");
	if (!again)
		free(gone);
	drop_handle();
	discovery_session_lost(again);
	pthread_mutex_lock(&C->mu);
}

static int64_t session_limit_ms(void)
{
	return Z.session_ms > 0 ? Z.session_ms : Z.cfg->session_timeout_ms;
}

/* After re-registering: remove the previous session's node if the server
 * kept it (same ACL identity, so we may). */
static void remove_stale_locked(void)
{
	char *stale = Z.stale_node;
	Z.stale_node = NULL;
	/* A rebuilt ensemble restarts the sequence: the new node may have the
	 * old name. */
	if (!stale || (Z.node && strcmp(stale, Z.node) == 0)) {
		free(stale);
		return;
	}
	pthread_mutex_unlock(&C->mu);
	zhandle_t *zh = borrow();
	int rc = zh ? zkop_delete(zh, stale, monotonic_ms() + C->cfg->deregister_timeout_ms, &C->aborting)
		    : ZINVALIDSTATE;
	if (zh)
		give_back();
	if (rc == ZOK)
		log_info("removed the previous session's znode %s", stale);
	else if (rc != ZNONODE)
		log_warn("could not remove the previous session's znode %s: %s", stale,
			 zerror(rc));
	free(stale);
	pthread_mutex_lock(&C->mu);
}

static void reregister_locked(void)
{
	Z.reregister_pending = 0;
	if (!may_recreate())
		return;
	/* Never try past the point where we give up (check_lost_locked). */
	int64_t t0 = monotonic_ms();
	int64_t deadline = t0 + Z.cfg->connect_timeout_ms;
	if (Z.disconnected_since) {
		int64_t lost_at = Z.disconnected_since + zk_lost_budget_ms(Z.cfg, Z.session_ms);
		if (lost_at <= t0)
			return;
		if (lost_at < deadline)
			deadline = lost_at;
	}
	attempt_cut = deadline < t0 + Z.cfg->connect_timeout_ms;
	pthread_mutex_unlock(&C->mu);
	char err[512];
	int rc = do_register(NULL, deadline, err, sizeof(err));
	if (rc < 0)
		drop_handle();
	int64_t ms = monotonic_ms() - t0;
	pthread_mutex_lock(&C->mu);
	if (rc == 0) {
		log_info("re-registered with a new ZooKeeper session as %s (%lld ms)",
			 Z.node ? Z.node : "(deregistered meanwhile)", (long long)ms);
		remove_stale_locked();
		return;
	}
	if (may_recreate()) {
		int wait = Z.cfg->retry_base_ms > 100 ? Z.cfg->retry_base_ms : 100;
		log_warn("re-registration failed: %s; retrying in %d ms", err, wait);
		Z.reregister_pending = 1;
		Z.retry_at = monotonic_ms() + wait;
	}
}

static void rearm_locked(void)
{
	Z.ev_rearm = 0;
	if (!Z.node || C->stopping || !Z.zh)
		return;
	uintptr_t gen;
	int rc = node_exists_unlocked(&gen);
	if (gen != Z.node_gen)
		return;
	if (rc == ZNONODE) {
		Z.ev_deleted = 1;
		Z.verify_at = 0;
	} else if (rc != ZOK) {
		Z.ev_rearm = 1;
		Z.rearm_at = monotonic_ms() + 1000;
	}
}

static int check_lost_locked(int64_t now)
{
	if (!Z.disconnected_since || Z.lost_posted || C->stopping)
		return 0;
	int64_t budget = zk_lost_budget_ms(Z.cfg, Z.session_ms);
	int64_t down = now - Z.disconnected_since;
	if (down < budget)
		return 0;
	Z.lost_posted = 1;
	pthread_mutex_unlock(&C->mu);
	log_error("no ZooKeeper connection for %lld ms (session timeout + retry budget %lld ms);"
		  " giving up on discovery", (long long)down, (long long)budget);
	char why[96];
	snprintf(why, sizeof(why), "no ZooKeeper connection for %lld ms", (long long)down);
	discovery_lost(down, why);
	pthread_mutex_lock(&C->mu);
	return 1;
}

static void *monitor_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&C->mu);
	while (!Z.quit) {
		int64_t now = monotonic_ms();
		if (Z.ev_deleted && now >= Z.verify_at) {
			Z.ev_deleted = 0;
			verify_deleted_locked();
			continue;
		}
		if (Z.ev_expired) {
			Z.ev_expired = 0;
			on_expired_locked("ZooKeeper session expired");
			continue;
		}
		if (Z.zh && Z.disconnected_since &&
		    now - Z.disconnected_since >= session_limit_ms()) {
			on_expired_locked("no ZooKeeper connection for a whole session timeout: "
					  "giving the session up and starting a new one");
			continue;
		}
		if (Z.ev_rearm && now >= Z.rearm_at) {
			rearm_locked();
			continue;
		}
		if (Z.reregister_pending && now >= Z.retry_at) {
			reregister_locked();
			continue;
		}
		if (check_lost_locked(now))
			continue;
		int64_t wake = now + 1000;
		if (Z.ev_rearm && Z.rearm_at < wake)
			wake = Z.rearm_at;
		if (Z.ev_deleted && Z.verify_at < wake)
			wake = Z.verify_at;
		if (Z.zh && Z.disconnected_since && Z.disconnected_since + session_limit_ms() < wake)
			wake = Z.disconnected_since + session_limit_ms();
		if (Z.reregister_pending && Z.retry_at < wake)
			wake = Z.retry_at;
		if (Z.disconnected_since && !Z.lost_posted) {
			int64_t at = Z.disconnected_since + zk_lost_budget_ms(Z.cfg, Z.session_ms);
			if (at < wake)
				wake = at;
		}
		if (wake > now)
			discovery_wait_until(C, wake);
	}
	pthread_mutex_unlock(&C->mu);
	return NULL;
}

/* Stop the monitor thread (if any) and wait for it; it gives up any
 * re-registration in flight quickly because deregister set `aborting`. */
static void stop_monitor(void)
{
	pthread_mutex_lock(&C->mu);
	Z.quit = 1;
	pthread_cond_broadcast(&C->cv);
	int running = Z.monitor_running;
	Z.monitor_running = 0;
	pthread_mutex_unlock(&C->mu);
	if (running)
		pthread_join(Z.monitor, NULL);
}

static void build_acl(void)
{
	if (Z.cfg->acl_mode == REG_AUTH_DIGEST) {
		/* Kyuubi's secured ACL: anyone may read (the gateway lists
		 * engines), only the creating identity may change or delete. */
		Z.acl_entries[0].perms = ZOO_PERM_READ;
		Z.acl_entries[0].id = ZOO_ANYONE_ID_UNSAFE;
		Z.acl_entries[1].perms = ZOO_PERM_ALL;
		Z.acl_entries[1].id = ZOO_AUTH_IDS;
		Z.acl.count = 2;
		Z.acl.data = Z.acl_entries;
	} else {
		Z.acl = ZOO_OPEN_ACL_UNSAFE;
	}
}

/* At CONNECTION share level the engine space belongs to this engine alone;
 * Kyuubi's engine removes it on the way out so they do not pile up. */
static void delete_namespace(void)
{
	zhandle_t *zh = borrow();
	if (!zh)
		return;
	int64_t deadline = monotonic_ms() + C->cfg->deregister_timeout_ms;
	const char *ns = C->cfg->namespace_path;
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


/* ---- the backend's ops ---- */

static void *zk_conf_load_op(const struct conf *c, const struct reg_config *rc, char *err,
			     size_t errlen)
{
	struct zk_config *zc = malloc(sizeof(*zc));
	if (!zc) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (zk_config_load(zc, c, rc, err, errlen) < 0) {
		free(zc);
		return NULL;
	}
	return zc;
}

static void zk_conf_free_op(void *bconf)
{
	if (!bconf)
		return;
	zk_config_free(bconf);
	free(bconf);
}

static void zk_configure(struct discovery_ctx *ctx, const void *bconf)
{
	C = ctx;
	const struct zk_config *zc = bconf;
	if (zk_log_install(zc->zk_log_level) < 0)
		log_warn("cannot redirect the ZooKeeper client's log; it writes to stderr");
	pthread_mutex_lock(&C->mu);
	Z.cfg = zc;
	build_acl();
	pthread_mutex_unlock(&C->mu);
}

static int zk_busy(struct discovery_ctx *ctx)
{
	C = ctx;
	pthread_mutex_lock(&C->mu);
	int busy = Z.zh != NULL || Z.monitor_running;
	pthread_mutex_unlock(&C->mu);
	return busy;
}

static int zk_register(struct discovery_ctx *ctx, char *path, size_t pathlen, char *err,
		       size_t errlen)
{
	C = ctx;
	pthread_mutex_lock(&C->mu);
	/* The session zk_connect opened while the JVM booted, if still good. */
	zhandle_t *ready = Z.session_ready && Z.zstate == ZOO_CONNECTED_STATE ? Z.zh : NULL;
	int stale = Z.zh && !ready;
	Z.session_ready = 0;
	Z.quit = Z.lost_posted = Z.reregister_pending = 0;
	Z.ev_deleted = Z.ev_expired = Z.ev_rearm = Z.delete_unverified = 0;
	if (!ready)
		Z.disconnected_since = 0;
	pthread_mutex_unlock(&C->mu);

	if (stale)
		drop_handle();
	attempt_cut = 0;
	if (do_register(ready, monotonic_ms() + Z.cfg->connect_timeout_ms, err, errlen) < 0) {
		drop_handle();
		return -1;
	}
	pthread_mutex_lock(&C->mu);
	int prc = thread_start(&Z.monitor, monitor_main, NULL, THREAD_STACK_WORKER, 0);
	Z.monitor_running = prc == 0;
	snprintf(path, pathlen, "%s", Z.node ? Z.node : "?");
	pthread_mutex_unlock(&C->mu);
	if (prc != 0) {
		snprintf(err, errlen, "cannot start the registry monitor thread: %s", strerror(prc));
		return -2;
	}
	return 0;
}

static int zk_connect(struct discovery_ctx *ctx, char *err, size_t errlen)
{
	C = ctx;
	pthread_mutex_lock(&C->mu);
	Z.session_ready = 0;
	Z.disconnected_since = 0;
	pthread_mutex_unlock(&C->mu);
	zhandle_t *zh = open_session(monotonic_ms() + Z.cfg->connect_timeout_ms, err, errlen);
	if (!zh) {
		drop_handle();
		return -1;
	}
	pthread_mutex_lock(&C->mu);
	Z.session_ready = 1;
	pthread_mutex_unlock(&C->mu);
	log_debug("ZooKeeper: session ready for registration (namespace %s)",
		  C->cfg->namespace_path);
	return 0;
}

/* Make before break: the new node exists before the old one is deleted, both
 * on the session we have, so a gateway listing the engine space always sees
 * this engine. */
static int zk_replace(struct discovery_ctx *ctx, char *path, size_t pathlen, char *err,
		      size_t errlen)
{
	C = ctx;
	pthread_mutex_lock(&C->mu);
	int have = Z.node && Z.zh && Z.zstate == ZOO_CONNECTED_STATE && !C->stopping;
	pthread_mutex_unlock(&C->mu);
	zhandle_t *zh = have ? borrow() : NULL;
	if (!zh) {
		snprintf(err, errlen, "no connected ZooKeeper session with our node");
		return -1;
	}
	int64_t deadline = monotonic_ms() + Z.cfg->connect_timeout_ms;
	char fresh[ZPATH_MAX];
	char *prev = NULL;
	if (create_node(zh, deadline, fresh, sizeof(fresh), err, errlen) < 0 ||
	    adopt_node(zh, fresh, deadline, &prev, err, errlen) < 0) {
		give_back();
		return -1;
	}
	discovery_registered(fresh);
	if (prev) {
		int rc = zkop_delete(zh, prev, monotonic_ms() + C->cfg->deregister_timeout_ms,
				     &C->aborting);
		if (rc != ZOK && rc != ZNONODE)
			log_warn("could not delete the previous znode %s: %s; ZooKeeper drops it "
				 "when the session ends", prev, zerror(rc));
		free(prev);
	}
	give_back();
	snprintf(path, pathlen, "%s", fresh);
	return 0;
}

static int zk_deregister(struct discovery_ctx *ctx)
{
	C = ctx;
	pthread_mutex_lock(&C->mu);
	Z.reregister_pending = 0;
	char *path = Z.node;
	Z.node = NULL;
	zhandle_t *zh = path ? Z.zh : NULL;
	if (!zh) {
		pthread_mutex_unlock(&C->mu);
		free(path);
		return 1;
	}
	Z.zh_users++;
	pthread_mutex_unlock(&C->mu);

	int64_t t0 = monotonic_ms();
	int zrc = zkop_delete(zh, path, t0 + C->cfg->deregister_timeout_ms, NULL);
	int64_t ms = monotonic_ms() - t0;
	int rc = zrc == ZOK || zrc == ZNONODE ? 0 : -1;
	if (rc == 0)
		log_info("deregistered %s (%lld ms)", path, (long long)ms);
	else
		log_warn("could not delete %s: %s; ZooKeeper drops it when the session ends", path,
			 zerror(zrc));
	free(path);
	give_back();
	return rc;
}

static void zk_close(struct discovery_ctx *ctx, int remove_namespace)
{
	C = ctx;
	stop_monitor();
	pthread_mutex_lock(&C->mu);
	int connected = Z.zh && Z.zstate == ZOO_CONNECTED_STATE;
	pthread_mutex_unlock(&C->mu);
	if (connected && remove_namespace)
		delete_namespace();
	drop_handle();
	pthread_mutex_lock(&C->mu);
	free(Z.node);
	Z.node = NULL;
	free(Z.stale_node);
	Z.stale_node = NULL;
	pthread_mutex_unlock(&C->mu);
}

const struct discovery_backend zk_backend = {
	.name = "ZooKeeper",
	.conf_load = zk_conf_load_op,
	.conf_free = zk_conf_free_op,
	.configure = zk_configure,
	.busy = zk_busy,
	.connect = zk_connect,
	.register_node = zk_register,
	.replace_node = zk_replace,
	.deregister = zk_deregister,
	.close = zk_close,
};
