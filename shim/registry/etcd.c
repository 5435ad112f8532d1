/* The etcd discovery backend (discovery.h), Kyuubi's EtcdDiscoveryClient
 * layout: the namespace key (value: the path itself), the v3 lock
 * "<ns>/lock" while the sequence is chosen, and one key
 * "<ns>/serverUri=...;sequence=%010d" = "host:port" attached to a lease with
 * TTL kyuubi.ha.etcd.lease.timeout, kept alive. Everything that speaks etcd
 * lives here (its wire calls in etcd_rpc.c, its settings in etcd_conf.c).
 *
 * Who does what:
 *  - register_node (caller thread) registers once, then starts the monitor.
 *  - The monitor thread owns the LeaseKeepAlive and Watch streams: it keeps
 *    the lease alive, watches our key, reports a DELETE by another client
 *    (the gateway), re-registers when the lease is gone (expired, etcd
 *    rebuilt) and gives up (EV_REG_LOST) when etcd stays unreachable for
 *    longer than the lease TTL plus the retry budget.
 *  - Deregister (any thread) revokes the lease and deletes the key.
 *  - Only the registering thread and the monitor (never both at once)
 *    replace the channel (failover to the next endpoint); other threads
 *    borrow it with ch_users held. No thread holds C->mu on the network. */
#include "shim/registry/etcd.h"

#include "shim/registry/discovery.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/thread.h"
#include "etcd_lock.pb-c.h"
#include "etcd_rpc.pb-c.h"
#include "shim/registry/etcd_conf.h"
#include "shim/registry/etcd_rpc.h"
#include "shim/registry/reg_conf.h"

#define M_RANGE "/etcdserverpb.KV/Range"
#define M_PUT "/etcdserverpb.KV/Put"
#define M_DELETE "/etcdserverpb.KV/DeleteRange"
#define M_GRANT "/etcdserverpb.Lease/LeaseGrant"
#define M_REVOKE "/etcdserverpb.Lease/LeaseRevoke"
#define M_KEEPALIVE "/etcdserverpb.Lease/LeaseKeepAlive"
#define M_TTL "/etcdserverpb.Lease/LeaseTimeToLive"
#define M_WATCH "/etcdserverpb.Watch/Watch"
#define M_AUTH "/etcdserverpb.Auth/Authenticate"
#define M_LOCK "/v3lockpb.Lock/Lock"
#define M_UNLOCK "/v3lockpb.Lock/Unlock"

static struct discovery_ctx *C;

static struct {
	const struct etcd_config *cfg;
	grpc_channel *ch;     /* current channel, or NULL */
	size_t ep;            /* its endpoint index */
	int ch_users;         /* threads borrowing ch outside mu */
	char *token;          /* auth token for ch, or NULL */

	char *key;            /* our key, NULL when we have none */
	int64_t lease;        /* its lease */
	int64_t stale_lease;  /* a lost lease to revoke once re-registered */
	int64_t watch_rev;    /* watch our key from this revision */
	int rewatch;          /* our key changed (replace): the monitor watches anew */

	int64_t down_since;   /* monotonic ms etcd stopped answering; 0 = fine */
	int reregister_pending;
	int64_t retry_at;
	int lost_posted;

	atomic_int quit;
	int monitor_running;
	pthread_t monitor;
} E;

static int transport_error(int status)
{
	return status == GRPC_STATUS_UNAVAILABLE || status == GRPC_STATUS_DEADLINE_EXCEEDED ||
	       status == GRPC_STATUS_CANCELLED || status == GRPC_STATUS_UNKNOWN || status == -2;
}

/* ---- channel lifetime ---- */

static grpc_channel *borrow(char **token)
{
	pthread_mutex_lock(&C->mu);
	grpc_channel *ch = E.ch;
	if (ch)
		E.ch_users++;
	if (token)
		*token = ch && E.token ? strdup(E.token) : NULL;
	pthread_mutex_unlock(&C->mu);
	return ch;
}

static void give_back(char *token)
{
	free(token);
	pthread_mutex_lock(&C->mu);
	E.ch_users--;
	pthread_cond_broadcast(&C->cv);
	pthread_mutex_unlock(&C->mu);
}

static void drop_channel(void)
{
	pthread_mutex_lock(&C->mu);
	grpc_channel *old = E.ch;
	E.ch = NULL;
	free(E.token);
	E.token = NULL;
	while (E.ch_users)
		pthread_cond_wait(&C->cv, &C->mu);
	pthread_mutex_unlock(&C->mu);
	etcd_channel_close(old);
}

/* Authenticate on ch when a user is configured; the token goes to E.token. */
static int authenticate(grpc_channel *ch, int64_t deadline, char *err, size_t errlen)
{
	if (!E.cfg->user)
		return 0;
	Etcdserverpb__AuthenticateRequest req = ETCDSERVERPB__AUTHENTICATE_REQUEST__INIT;
	req.name = E.cfg->user;
	req.password = E.cfg->password;
	ProtobufCMessage *resp;
	char detail[256];
	int st = etcd_unary(ch, M_AUTH, NULL, &req.base,
			    &etcdserverpb__authenticate_response__descriptor, &resp, deadline,
			    &C->aborting, detail, sizeof(detail));
	if (st != 0) {
		snprintf(err, errlen, "etcd authentication as %s failed: %s", E.cfg->user,
			 detail[0] ? detail : "no answer");
		return transport_error(st) ? -2 : -1;
	}
	char *tok = strdup(((Etcdserverpb__AuthenticateResponse *)resp)->token);
	protobuf_c_message_free_unpacked(resp, NULL);
	pthread_mutex_lock(&C->mu);
	free(E.token);
	E.token = tok;
	pthread_mutex_unlock(&C->mu);
	return 0;
}

/* Open a channel to endpoint idx (replacing any) and authenticate. */
static int open_channel(size_t idx, int64_t deadline, char *err, size_t errlen)
{
	drop_channel();
	grpc_channel *ch = etcd_channel_open(E.cfg, idx, err, errlen);
	if (!ch)
		return -1;
	pthread_mutex_lock(&C->mu);
	E.ch = ch;
	E.ep = idx;
	pthread_cond_broadcast(&C->cv);
	pthread_mutex_unlock(&C->mu);
	return authenticate(ch, deadline, err, errlen);
}

/* Failover: the next endpoint (the same one when there is only one). */
static void next_endpoint(void)
{
	char err[256];
	size_t next = (E.ep + 1) % E.cfg->n_endpoints;
	if (E.cfg->n_endpoints > 1)
		log_info("etcd: trying endpoint %s", E.cfg->endpoint_names[next]);
	if (open_channel(next, monotonic_ms() + 2000, err, sizeof(err)) < 0)
		log_debug("etcd: %s", err);
}

/* One unary call on the current channel (re-authenticating once when the
 * token was refused). The gRPC status, -1 local failure (no channel). */
static int call(const char *method, const ProtobufCMessage *req,
		const ProtobufCMessageDescriptor *rdesc, ProtobufCMessage **resp, int64_t deadline,
		atomic_int *aborting, char *err, size_t errlen)
{
	for (int attempt = 0;; attempt++) {
		char *token;
		grpc_channel *ch = borrow(&token);
		if (!ch) {
			snprintf(err, errlen, "no etcd connection");
			*resp = NULL;
			return -1;
		}
		int st = etcd_unary(ch, method, token, req, rdesc, resp, deadline, aborting, err,
				    errlen);
		if (st == GRPC_STATUS_UNAUTHENTICATED && E.cfg->user && attempt == 0 &&
		    authenticate(ch, deadline, err, errlen) == 0) {
			give_back(token);
			continue;
		}
		give_back(token);
		return st;
	}
}

/* ---- registration (caller thread or monitor; mu not held) ---- */

static char *prefix_end(const char *p, size_t len)
{
	char *e = malloc(len ? len : 1);
	if (!e)
		return NULL;
	memcpy(e, p, len);
	/* The smallest key after every key with this prefix. */
	while (len && (unsigned char)e[len - 1] == 0xff)
		len--;
	if (len)
		e[len - 1]++;
	return e;
}

static ProtobufCBinaryData bin(const char *s)
{
	return (ProtobufCBinaryData){.len = strlen(s), .data = (uint8_t *)s};
}

/* The highest sequence among the namespace's children (keys right under
 * "<ns>/", skipping those starting with "lock", as Kyuubi does); -1 none. */
static int max_sequence(const char *dir, int64_t deadline, int64_t *max, char *err,
			size_t errlen)
{
	size_t dlen = strlen(dir);
	char *end = prefix_end(dir, dlen);
	if (!end) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
	req.key = bin(dir);
	req.range_end = (ProtobufCBinaryData){.len = dlen, .data = (uint8_t *)end};
	req.keys_only = 1;
	ProtobufCMessage *m;
	char detail[256];
	int st = call(M_RANGE, &req.base, &etcdserverpb__range_response__descriptor, &m, deadline,
		      &C->aborting, detail, sizeof(detail));
	free(end);
	if (st != 0) {
		snprintf(err, errlen, "cannot list %s in etcd: %s", dir, detail);
		return st;
	}
	Etcdserverpb__RangeResponse *r = (Etcdserverpb__RangeResponse *)m;
	*max = -1;
	for (size_t i = 0; i < r->n_kvs; i++) {
		const ProtobufCBinaryData *k = &r->kvs[i]->key;
		if (k->len <= dlen)
			continue;
		const char *child = (const char *)k->data + dlen;
		size_t clen = k->len - dlen;
		if (clen >= 4 && memcmp(child, "lock", 4) == 0)
			continue;
		if (memchr(child, '/', clen))
			continue; /* a deeper key, not a child */
		/* The last "sequence=" part of the name. */
		const char *seq = NULL;
		for (size_t j = 0; j + 9 <= clen; j++)
			if ((j == 0 || child[j - 1] == ';') && memcmp(child + j, "sequence=", 9) == 0)
				seq = child + j + 9;
		if (!seq)
			continue;
		int64_t v = 0;
		int digits = 0;
		while (seq < child + clen && *seq >= '0' && *seq <= '9' && digits < 18) {
			v = v * 10 + (*seq++ - '0');
			digits++;
		}
		if (digits && v > *max)
			*max = v;
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

static void revoke(int64_t lease, int64_t deadline)
{
	if (!lease)
		return;
	Etcdserverpb__LeaseRevokeRequest req = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
	req.id = lease;
	ProtobufCMessage *m;
	char detail[256];
	if (call(M_REVOKE, &req.base, &etcdserverpb__lease_revoke_response__descriptor, &m,
		 deadline, NULL, detail, sizeof(detail)) == 0)
		protobuf_c_message_free_unpacked(m, NULL);
}

/* Put ctx->prefix + the next sequence number with ctx->data under lease
 * (namespace key, lock, sequence, put, unlock) on the current channel. 0
 * (key and its revision out), or the failing call's gRPC status with err
 * set. The lease is the caller's. */
static int put_node_steps(int64_t lease, int64_t deadline, char *out_key, size_t keylen,
			  int64_t *out_rev, char *err, size_t errlen)
{
	const char *ns = C->cfg->namespace_path;
	ProtobufCMessage *m;
	char detail[256];
	int st;

	/* The namespace key, its own path as value (like Kyuubi). */
	Etcdserverpb__PutRequest p = ETCDSERVERPB__PUT_REQUEST__INIT;
	p.key = bin(ns);
	p.value = bin(ns);
	st = call(M_PUT, &p.base, &etcdserverpb__put_response__descriptor, &m, deadline,
		  &C->aborting, detail, sizeof(detail));
	if (st != 0) {
		snprintf(err, errlen, "cannot put the namespace key %s: %s", ns, detail);
		return st;
	}
	protobuf_c_message_free_unpacked(m, NULL);

	char lockname[4300], dir[4200];
	snprintf(dir, sizeof(dir), "%s/", strcmp(ns, "/") ? ns : "");
	snprintf(lockname, sizeof(lockname), "%slock", dir);
	V3lockpb__LockRequest lr = V3LOCKPB__LOCK_REQUEST__INIT;
	lr.name = bin(lockname);
	lr.lease = lease;
	st = call(M_LOCK, &lr.base, &v3lockpb__lock_response__descriptor, &m, deadline,
		  &C->aborting, detail, sizeof(detail));
	if (st != 0) {
		snprintf(err, errlen, "cannot take the etcd lock %s: %s", lockname, detail);
		return st;
	}
	V3lockpb__LockResponse *lresp = (V3lockpb__LockResponse *)m;
	ProtobufCBinaryData lockkey = {.len = lresp->key.len, .data = malloc(lresp->key.len + 1)};
	if (lockkey.data)
		memcpy(lockkey.data, lresp->key.data, lresp->key.len);
	protobuf_c_message_free_unpacked(m, NULL);
	if (!lockkey.data) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}

	int64_t max;
	st = max_sequence(dir, deadline, &max, err, errlen);
	int64_t rev = 0;
	if (st == 0) {
		int n = snprintf(out_key, keylen, "%s%010" PRId64, C->prefix, max + 1);
		if (n < 0 || (size_t)n >= keylen) {
			snprintf(err, errlen, "key too long");
			st = -1;
		}
	}
	if (st == 0) {
		Etcdserverpb__PutRequest k = ETCDSERVERPB__PUT_REQUEST__INIT;
		k.key = bin(out_key);
		k.value = bin(C->data);
		k.lease = lease;
		st = call(M_PUT, &k.base, &etcdserverpb__put_response__descriptor, &m, deadline,
			  &C->aborting, detail, sizeof(detail));
		if (st != 0) {
			snprintf(err, errlen, "cannot put %s: %s", out_key, detail);
		} else {
			Etcdserverpb__PutResponse *pr = (Etcdserverpb__PutResponse *)m;
			rev = pr->header ? pr->header->revision : 0;
			protobuf_c_message_free_unpacked(m, NULL);
		}
	}
	/* Unlock whatever happened (the lease frees it anyway). */
	V3lockpb__UnlockRequest ur = V3LOCKPB__UNLOCK_REQUEST__INIT;
	ur.key = lockkey;
	int64_t udl = monotonic_ms() + 2000;
	if (call(M_UNLOCK, &ur.base, &v3lockpb__unlock_response__descriptor, &m,
		 udl > deadline ? udl : deadline, NULL, detail, sizeof(detail)) == 0)
		protobuf_c_message_free_unpacked(m, NULL);
	else
		log_warn("etcd: cannot release the lock %s: %s", lockname, detail);
	free(lockkey.data);
	if (st == 0)
		*out_rev = rev;
	return st;
}

/* The deadline of the attempt under way is the lost-lease budget's, not the
 * full connection timeout: for the give-up message. */
static int attempt_cut;

/* The registration steps on the current channel: a lease, then our key
 * under it. 0, or the failing call's gRPC status (transport errors are
 * worth another endpoint) with err set; nothing is left behind. */
static int register_steps(int64_t deadline, char *out_key, size_t keylen, int64_t *out_lease,
			  int64_t *out_rev, char *err, size_t errlen)
{
	ProtobufCMessage *m;
	char detail[256];
	Etcdserverpb__LeaseGrantRequest g = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
	g.ttl = E.cfg->lease_ttl_s;
	int st = call(M_GRANT, &g.base, &etcdserverpb__lease_grant_response__descriptor, &m,
		      deadline, &C->aborting, detail, sizeof(detail));
	if (st != 0) {
		snprintf(err, errlen, "etcd lease grant failed: %s", detail);
		return st;
	}
	int64_t lease = ((Etcdserverpb__LeaseGrantResponse *)m)->id;
	protobuf_c_message_free_unpacked(m, NULL);
	st = put_node_steps(lease, deadline, out_key, keylen, out_rev, err, errlen);
	if (st != 0) {
		revoke(lease, monotonic_ms() + 1000);
		return st;
	}
	*out_lease = lease;
	return 0;
}

/* Register (failing over between endpoints) until the deadline. */
static int do_register(int64_t deadline, char *err, size_t errlen)
{
	int64_t started = monotonic_ms();
	char key[8192];
	int64_t lease = 0, rev = 0;
	for (size_t tries = 0;; tries++) {
		int st;
		pthread_mutex_lock(&C->mu);
		int have = E.ch != NULL;
		size_t ep = E.ep;
		pthread_mutex_unlock(&C->mu);
		st = 0;
		if (!have || tries > 0)
			st = open_channel(tries ? (ep + 1) % E.cfg->n_endpoints : ep, deadline, err,
					  errlen);
		if (st == 0)
			st = register_steps(deadline, key, sizeof(key), &lease, &rev, err, errlen);
		if (st == 0)
			break;
		if (atomic_load(&C->aborting)) {
			snprintf(err, errlen, "deregistered while registering");
			return -1;
		}
		if (!transport_error(st) || monotonic_ms() >= deadline) {
			if (transport_error(st)) {
				char why[512];
				snprintf(why, sizeof(why), "%s", err);
				char budget[128];
				if (!attempt_cut)
					snprintf(budget, sizeof(budget),
						 "kyuubi.ha.zookeeper.connection.timeout=%d ms",
						 E.cfg->connect_timeout_ms);
				else
					snprintf(budget, sizeof(budget),
						 "what was left of the time a lost lease may take to come back");
				snprintf(err, errlen,
					 "could not register with etcd at %s: gave up after %lld ms (%s): %s",
					 C->cfg->addresses, (long long)(monotonic_ms() - started), budget,
					 why);
			}
			return -1;
		}
		if (tries + 1 >= E.cfg->n_endpoints) {
			/* Every endpoint tried once: pause before the next round. */
			pthread_mutex_lock(&C->mu);
			int64_t until = monotonic_ms() + 200;
			discovery_wait_until(C, until < deadline ? until : deadline);
			pthread_mutex_unlock(&C->mu);
		}
	}

	char *copy = strdup(key);
	pthread_mutex_lock(&C->mu);
	if (C->stopping || !copy) {
		pthread_mutex_unlock(&C->mu);
		revoke(lease, monotonic_ms() + C->cfg->deregister_timeout_ms);
		snprintf(err, errlen, "%s", copy ? "deregistered while registering" : "out of memory");
		free(copy);
		return -1;
	}
	free(E.key);
	E.key = copy;
	E.lease = lease;
	E.watch_rev = rev + 1;
	E.down_since = 0;
	E.lost_posted = 0;
	C->want_node = 1;
	pthread_cond_broadcast(&C->cv);
	pthread_mutex_unlock(&C->mu);
	log_debug("etcd: %s under lease %" PRIx64 " (TTL %d s) via %s", key, (uint64_t)lease,
		  E.cfg->lease_ttl_s, E.cfg->endpoint_names[E.ep]);
	discovery_registered(key);
	return 0;
}

/* ---- monitor thread ---- */

static struct etcd_stream *ka_stream, *watch_stream; /* monitor only */
static int64_t ka_due, watch_retry_at;

static void close_streams(void)
{
	etcd_stream_close(ka_stream);
	etcd_stream_close(watch_stream);
	ka_stream = watch_stream = NULL;
}

static void mark_down(void)
{
	pthread_mutex_lock(&C->mu);
	if (!E.down_since) {
		E.down_since = monotonic_ms();
		pthread_mutex_unlock(&C->mu);
		log_warn("etcd at %s does not answer; retrying", E.cfg->endpoint_names[E.ep]);
		return;
	}
	pthread_mutex_unlock(&C->mu);
}

static void mark_up(void)
{
	pthread_mutex_lock(&C->mu);
	int64_t since = E.down_since;
	E.down_since = 0;
	pthread_mutex_unlock(&C->mu);
	if (since)
		log_info("etcd at %s answers again after %lld ms", E.cfg->endpoint_names[E.ep],
			 (long long)(monotonic_ms() - since));
}

/* Our lease is gone (expired, or etcd lost it): the key went with it.
 * Re-register if the engine still serves. */
static void lease_lost(int64_t lease, const char *why)
{
	pthread_mutex_lock(&C->mu);
	if (C->stopping || !E.key || E.lease != lease) {
		pthread_mutex_unlock(&C->mu);
		return; /* our own revoke, or already handled */
	}
	char *gone = E.key;
	E.key = NULL;
	E.lease = 0;
	int again = !atomic_load(&E.quit) && discovery_may_recreate(C);
	if (again) {
		E.reregister_pending = 1;
		E.retry_at = 0;
		E.stale_lease = lease;
	}
	pthread_mutex_unlock(&C->mu);
	close_streams();
	log_warn("%s; etcd key %s is gone%s", why, gone,
		 again ? "; registering again" : "");
	free(gone);
	discovery_session_lost(again);
}

/* Is the lease still alive? 1 yes, 0 no, -1 cannot tell now. */
static int lease_alive(int64_t lease)
{
	Etcdserverpb__LeaseTimeToLiveRequest req = ETCDSERVERPB__LEASE_TIME_TO_LIVE_REQUEST__INIT;
	req.id = lease;
	ProtobufCMessage *m;
	char detail[256];
	int st = call(M_TTL, &req.base, &etcdserverpb__lease_time_to_live_response__descriptor, &m,
		      monotonic_ms() + 3000, &E.quit, detail, sizeof(detail));
	if (st != 0)
		return st == GRPC_STATUS_NOT_FOUND ? 0 : -1;
	int alive = ((Etcdserverpb__LeaseTimeToLiveResponse *)m)->ttl > 0;
	protobuf_c_message_free_unpacked(m, NULL);
	return alive;
}

/* A DELETE of our key: by another client (the gateway: graceful stop) when
 * our lease still lives, else the lease's expiry took it. */
static void on_delete(int64_t lease, const char *key)
{
	int alive = lease_alive(lease);
	for (int i = 0; alive < 0 && i < 20 && !atomic_load(&E.quit); i++) {
		pthread_mutex_lock(&C->mu);
		discovery_wait_until(C, monotonic_ms() + 250);
		pthread_mutex_unlock(&C->mu);
		alive = lease_alive(lease);
	}
	if (alive == 0) {
		lease_lost(lease, "etcd lease expired");
		return;
	}
	pthread_mutex_lock(&C->mu);
	/* A key we replaced ourselves (etcd_replace) is no stop request. */
	if (C->stopping || !E.key || E.lease != lease || strcmp(E.key, key) != 0) {
		pthread_mutex_unlock(&C->mu);
		return;
	}
	char *path = E.key;
	int64_t l = E.lease;
	E.key = NULL;
	E.lease = 0;
	C->want_node = 0;
	pthread_mutex_unlock(&C->mu);
	close_streams();
	log_warn("etcd key %s was deleted by another client (the gateway stops engines this way);"
		 " stopping gracefully", path);
	/* Our lease has nothing left to keep; let it go. */
	revoke(l, monotonic_ms() + 1000);
	discovery_node_deleted(path);
	free(path);
}

static void keepalive_step(int64_t lease)
{
	if (!ka_stream) {
		char *token;
		grpc_channel *ch = borrow(&token);
		if (ch) {
			ka_stream = etcd_stream_open(ch, M_KEEPALIVE, token);
			give_back(token);
		}
		if (!ka_stream) {
			mark_down();
			ka_due = monotonic_ms() + 500;
			return;
		}
	}
	Etcdserverpb__LeaseKeepAliveRequest req = ETCDSERVERPB__LEASE_KEEP_ALIVE_REQUEST__INIT;
	req.id = lease;
	ProtobufCMessage *m = NULL;
	int r = etcd_stream_send(ka_stream, &req.base, 2000) == 0 ? -2 : -1;
	for (int64_t until = monotonic_ms() + 3000; r == -2 && monotonic_ms() < until;) {
		if (atomic_load(&E.quit))
			return;
		r = etcd_stream_recv(ka_stream, &etcdserverpb__lease_keep_alive_response__descriptor,
				     &m, 200);
	}
	if (r == 1) {
		int64_t ttl = ((Etcdserverpb__LeaseKeepAliveResponse *)m)->ttl;
		protobuf_c_message_free_unpacked(m, NULL);
		mark_up();
		if (ttl <= 0) {
			lease_lost(lease, "etcd no longer knows our lease (expired, revoked, or etcd "
					  "lost its data)");
			return;
		}
		int64_t every = ttl * 1000 / 3;
		ka_due = monotonic_ms() + (every < 500 ? 500 : every);
		return;
	}
	/* No answer in time, or the stream is over: a new stream, maybe on
	 * another endpoint. */
	etcd_stream_close(ka_stream);
	ka_stream = NULL;
	etcd_stream_close(watch_stream);
	watch_stream = NULL;
	mark_down();
	next_endpoint();
	ka_due = monotonic_ms() + 500;
}

static void watch_step(int64_t lease, const char *key, int64_t wait_ms)
{
	if (!watch_stream) {
		if (monotonic_ms() < watch_retry_at) {
			pthread_mutex_lock(&C->mu);
			discovery_wait_until(C, monotonic_ms() + wait_ms);
			pthread_mutex_unlock(&C->mu);
			return;
		}
		char *token;
		grpc_channel *ch = borrow(&token);
		if (ch) {
			watch_stream = etcd_stream_open(ch, M_WATCH, token);
			give_back(token);
		}
		Etcdserverpb__WatchCreateRequest cr = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
		cr.key = bin(key);
		pthread_mutex_lock(&C->mu);
		cr.start_revision = E.watch_rev;
		pthread_mutex_unlock(&C->mu);
		Etcdserverpb__WatchRequest wr = ETCDSERVERPB__WATCH_REQUEST__INIT;
		wr.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
		wr.create_request = &cr;
		if (!watch_stream || etcd_stream_send(watch_stream, &wr.base, 2000) < 0) {
			etcd_stream_close(watch_stream);
			watch_stream = NULL;
			watch_retry_at = monotonic_ms() + 500;
			return;
		}
	}
	ProtobufCMessage *m;
	int r = etcd_stream_recv(watch_stream, &etcdserverpb__watch_response__descriptor, &m,
				 (int)wait_ms);
	if (r == -2)
		return;
	if (r != 1) {
		etcd_stream_close(watch_stream);
		watch_stream = NULL;
		watch_retry_at = monotonic_ms() + 500;
		return;
	}
	Etcdserverpb__WatchResponse *w = (Etcdserverpb__WatchResponse *)m;
	int deleted = 0, reopen = w->canceled;
	for (size_t i = 0; i < w->n_events; i++) {
		const Mvccpb__Event *ev = w->events[i];
		if (ev->type == MVCCPB__EVENT__EVENT_TYPE__DELETE && ev->kv &&
		    ev->kv->key.len == strlen(key) && memcmp(ev->kv->key.data, key, ev->kv->key.len) == 0)
			deleted = 1;
	}
	pthread_mutex_lock(&C->mu);
	if (w->header && w->header->revision >= E.watch_rev)
		E.watch_rev = w->header->revision + 1;
	if (w->compact_revision > 0 && E.watch_rev <= w->compact_revision)
		E.watch_rev = w->compact_revision; /* history gone: check the key itself */
	pthread_mutex_unlock(&C->mu);
	if (w->compact_revision > 0) {
		/* Missed events: look whether the key is still there. */
		Etcdserverpb__RangeRequest rq = ETCDSERVERPB__RANGE_REQUEST__INIT;
		rq.key = bin(key);
		rq.count_only = 1;
		ProtobufCMessage *rm;
		char detail[128];
		if (call(M_RANGE, &rq.base, &etcdserverpb__range_response__descriptor, &rm,
			 monotonic_ms() + 3000, &E.quit, detail, sizeof(detail)) == 0) {
			deleted = ((Etcdserverpb__RangeResponse *)rm)->count == 0;
			protobuf_c_message_free_unpacked(rm, NULL);
		}
		reopen = 1;
	}
	protobuf_c_message_free_unpacked(m, NULL);
	if (reopen) {
		etcd_stream_close(watch_stream);
		watch_stream = NULL;
	}
	if (deleted)
		on_delete(lease, key);
}

static void reregister(void)
{
	pthread_mutex_lock(&C->mu);
	E.reregister_pending = 0;
	if (atomic_load(&E.quit) || !discovery_may_recreate(C)) {
		pthread_mutex_unlock(&C->mu);
		return;
	}
	int64_t t0 = monotonic_ms();
	int64_t deadline = t0 + E.cfg->connect_timeout_ms;
	if (E.down_since) {
		int64_t lost_at = E.down_since + etcd_lost_budget_ms(E.cfg);
		if (lost_at <= t0) {
			pthread_mutex_unlock(&C->mu);
			return;
		}
		if (lost_at < deadline)
			deadline = lost_at;
	}
	attempt_cut = deadline < t0 + E.cfg->connect_timeout_ms;
	pthread_mutex_unlock(&C->mu);
	char err[1024];
	int rc = do_register(deadline, err, sizeof(err));
	pthread_mutex_lock(&C->mu);
	if (rc == 0) {
		int64_t stale = E.stale_lease;
		E.stale_lease = 0;
		ka_due = 0;
		watch_retry_at = 0;
		char *now_key = E.key ? strdup(E.key) : NULL;
		pthread_mutex_unlock(&C->mu);
		log_info("re-registered with etcd under a new lease as %s (%lld ms)",
			 now_key ? now_key : "(deregistered meanwhile)",
			 (long long)(monotonic_ms() - t0));
		free(now_key);
		/* If etcd still had the old lease (it was down with us), its
		 * key must not linger next to the new one. */
		revoke(stale, monotonic_ms() + 2000);
		return;
	}
	if (!E.down_since)
		E.down_since = t0;
	if (!atomic_load(&E.quit) && discovery_may_recreate(C)) {
		int wait = E.cfg->retry_base_ms > 100 ? E.cfg->retry_base_ms : 100;
		E.reregister_pending = 1;
		E.retry_at = monotonic_ms() + wait;
		pthread_mutex_unlock(&C->mu);
		log_warn("etcd re-registration failed: %s; retrying in %d ms", err, wait);
		return;
	}
	pthread_mutex_unlock(&C->mu);
}

static void check_lost(void)
{
	pthread_mutex_lock(&C->mu);
	int64_t now = monotonic_ms(), budget = etcd_lost_budget_ms(E.cfg);
	int64_t down = E.down_since ? now - E.down_since : 0;
	if (!E.down_since || E.lost_posted || C->stopping || down < budget) {
		pthread_mutex_unlock(&C->mu);
		return;
	}
	E.lost_posted = 1;
	E.reregister_pending = 0;
	pthread_mutex_unlock(&C->mu);
	log_error("etcd unreachable for %lld ms (lease TTL + retry budget %lld ms); giving up on "
		  "discovery", (long long)down, (long long)budget);
	char why[96];
	snprintf(why, sizeof(why), "no etcd connection for %lld ms", (long long)down);
	discovery_lost(down, why);
}

static void *monitor_main(void *arg)
{
	(void)arg;
	ka_due = 0;
	watch_retry_at = 0;
	while (!atomic_load(&E.quit)) {
		pthread_mutex_lock(&C->mu);
		int64_t now = monotonic_ms();
		int rereg = E.reregister_pending && now >= E.retry_at;
		int64_t lease = E.key && !C->stopping ? E.lease : 0;
		char *key = lease ? strdup(E.key) : NULL;
		int rewatch = E.rewatch;
		E.rewatch = 0;
		int64_t retry_at = E.reregister_pending ? E.retry_at : now + 1000;
		pthread_mutex_unlock(&C->mu);
		if (rewatch) {
			etcd_stream_close(watch_stream);
			watch_stream = NULL;
		}
		if (rereg) {
			free(key);
			reregister();
		} else if (key) {
			if (monotonic_ms() >= ka_due)
				keepalive_step(lease);
			if (!atomic_load(&E.quit)) {
				int64_t wait = ka_due - monotonic_ms();
				watch_step(lease, key, wait < 0 ? 0 : wait > 200 ? 200 : wait);
			}
			free(key);
		} else {
			close_streams();
			pthread_mutex_lock(&C->mu);
			if (!atomic_load(&E.quit))
				discovery_wait_until(C, retry_at < now + 200 ? retry_at : now + 200);
			pthread_mutex_unlock(&C->mu);
		}
		check_lost();
	}
	close_streams();
	return NULL;
}

static void stop_monitor(void)
{
	pthread_mutex_lock(&C->mu);
	atomic_store(&E.quit, 1);
	pthread_cond_broadcast(&C->cv);
	int running = E.monitor_running;
	E.monitor_running = 0;
	pthread_mutex_unlock(&C->mu);
	if (running)
		pthread_join(E.monitor, NULL);
}

/* CONNECTION share level: the engine space belongs to this engine alone. */
static void delete_namespace(void)
{
	const char *ns = C->cfg->namespace_path;
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/", strcmp(ns, "/") ? ns : "");
	char *end = prefix_end(dir, strlen(dir));
	if (!end)
		return;
	int64_t deadline = monotonic_ms() + C->cfg->deregister_timeout_ms;
	Etcdserverpb__DeleteRangeRequest req = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
	req.key = bin(dir);
	req.range_end = (ProtobufCBinaryData){.len = strlen(dir), .data = (uint8_t *)end};
	ProtobufCMessage *m;
	char detail[256];
	int st = call(M_DELETE, &req.base, &etcdserverpb__delete_range_response__descriptor, &m,
		      deadline, NULL, detail, sizeof(detail));
	free(end);
	if (st == 0) {
		protobuf_c_message_free_unpacked(m, NULL);
		Etcdserverpb__DeleteRangeRequest nreq = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
		nreq.key = bin(ns);
		st = call(M_DELETE, &nreq.base, &etcdserverpb__delete_range_response__descriptor,
			  &m, deadline, NULL, detail, sizeof(detail));
		if (st == 0)
			protobuf_c_message_free_unpacked(m, NULL);
	}
	if (st == 0)
		log_info("removed the CONNECTION-level namespace %s from etcd", ns);
	else
		log_warn("could not remove namespace %s from etcd: %s", ns, detail);
}

/* ---- the backend's ops ---- */

static void *etcd_conf_load_op(const struct conf *c, const struct reg_config *rc, char *err,
			       size_t errlen)
{
	struct etcd_config *ec = malloc(sizeof(*ec));
	if (!ec) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (etcd_config_load(ec, c, rc, err, errlen) < 0) {
		free(ec);
		return NULL;
	}
	return ec;
}

static void etcd_conf_free_op(void *bconf)
{
	if (!bconf)
		return;
	etcd_config_free(bconf);
	free(bconf);
}

static void etcd_configure(struct discovery_ctx *ctx, const void *bconf)
{
	C = ctx;
	pthread_mutex_lock(&C->mu);
	E.cfg = bconf;
	E.ep = 0;
	pthread_mutex_unlock(&C->mu);
}

static int etcd_busy(struct discovery_ctx *ctx)
{
	C = ctx;
	pthread_mutex_lock(&C->mu);
	int busy = E.ch != NULL || E.monitor_running;
	pthread_mutex_unlock(&C->mu);
	return busy;
}

static int etcd_register(struct discovery_ctx *ctx, char *path, size_t pathlen, char *err,
			 size_t errlen)
{
	C = ctx;
	pthread_mutex_lock(&C->mu);
	atomic_store(&E.quit, 0);
	E.lost_posted = E.reregister_pending = 0;
	E.down_since = 0;
	E.stale_lease = 0;
	pthread_mutex_unlock(&C->mu);

	attempt_cut = 0;
	if (do_register(monotonic_ms() + E.cfg->connect_timeout_ms, err, errlen) < 0) {
		drop_channel();
		return -1;
	}
	pthread_mutex_lock(&C->mu);
	int prc = thread_start(&E.monitor, monitor_main, NULL, THREAD_STACK_WORKER, 0);
	E.monitor_running = prc == 0;
	snprintf(path, pathlen, "%s", E.key ? E.key : "?");
	pthread_mutex_unlock(&C->mu);
	if (prc != 0) {
		snprintf(err, errlen, "cannot start the registry monitor thread");
		return -2;
	}
	return 0;
}

/* While the JVM boots: open the channel (and log in) and let gRPC connect
 * in the background, so that the registration finds it ready. Never fatal:
 * a failure here is retried, with failover, by the registration. */
static int etcd_connect(struct discovery_ctx *ctx, char *err, size_t errlen)
{
	C = ctx;
	pthread_mutex_lock(&C->mu);
	size_t ep = E.ep;
	pthread_mutex_unlock(&C->mu);
	if (open_channel(ep, monotonic_ms() + E.cfg->connect_timeout_ms, err, errlen) < 0) {
		log_debug("etcd: early connect: %s; the registration tries again", err);
		drop_channel();
		return 0;
	}
	pthread_mutex_lock(&C->mu);
	if (E.ch)
		grpc_channel_check_connectivity_state(E.ch, 1);
	pthread_mutex_unlock(&C->mu);
	return 0;
}

/* Make before break: the new key is put under the lease we hold before the
 * old one is deleted, so a gateway listing the engine space always sees
 * this engine. */
static int etcd_replace(struct discovery_ctx *ctx, char *path, size_t pathlen, char *err,
			size_t errlen)
{
	C = ctx;
	pthread_mutex_lock(&C->mu);
	int64_t lease = E.key && E.ch && !E.down_since && !C->stopping ? E.lease : 0;
	pthread_mutex_unlock(&C->mu);
	if (!lease) {
		snprintf(err, errlen, "no etcd lease with our key");
		return -1;
	}
	char key[8192];
	int64_t rev = 0;
	if (put_node_steps(lease, monotonic_ms() + E.cfg->connect_timeout_ms, key, sizeof(key),
			   &rev, err, errlen) != 0)
		return -1;
	char *copy = strdup(key);
	pthread_mutex_lock(&C->mu);
	char *old = NULL;
	int ok = copy && !C->stopping && E.key && E.lease == lease;
	if (ok) {
		old = E.key;
		E.key = copy;
		E.watch_rev = rev + 1;
		E.rewatch = 1;
		pthread_cond_broadcast(&C->cv);
	}
	pthread_mutex_unlock(&C->mu);
	ProtobufCMessage *m;
	char detail[256];
	Etcdserverpb__DeleteRangeRequest dr = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
	dr.key = bin(ok ? old : key);
	if (!ok) {
		/* Deregistered or the lease was lost meanwhile: not ours to keep. */
		if (call(M_DELETE, &dr.base, &etcdserverpb__delete_range_response__descriptor, &m,
			 monotonic_ms() + C->cfg->deregister_timeout_ms, NULL, detail,
			 sizeof(detail)) == 0)
			protobuf_c_message_free_unpacked(m, NULL);
		free(copy);
		snprintf(err, errlen, "deregistered while replacing the key");
		return -1;
	}
	discovery_registered(key);
	if (call(M_DELETE, &dr.base, &etcdserverpb__delete_range_response__descriptor, &m,
		 monotonic_ms() + C->cfg->deregister_timeout_ms, &C->aborting, detail,
		 sizeof(detail)) == 0)
		protobuf_c_message_free_unpacked(m, NULL);
	else
		log_warn("could not delete the previous etcd key %s: %s; it goes with the lease",
			 old, detail);
	free(old);
	snprintf(path, pathlen, "%s", key);
	return 0;
}

static int etcd_deregister(struct discovery_ctx *ctx)
{
	C = ctx;
	pthread_mutex_lock(&C->mu);
	E.reregister_pending = 0;
	char *key = E.key;
	int64_t lease = E.lease;
	E.key = NULL;
	E.lease = 0;
	int64_t t0 = monotonic_ms(), deadline = t0 + C->cfg->deregister_timeout_ms;
	/* The monitor may be switching endpoints right now: wait for its new
	 * channel rather than leave the key to the lease's expiry. */
	while (key && !E.ch && E.monitor_running && monotonic_ms() < deadline)
		discovery_wait_until(C, deadline);
	int have = E.ch != NULL;
	pthread_mutex_unlock(&C->mu);
	if (!key)
		return 1;
	if (!have) {
		log_warn("could not delete %s: no etcd connection; etcd drops it within %d s", key,
			 E.cfg->lease_ttl_s);
		free(key);
		return -1;
	}
	Etcdserverpb__LeaseRevokeRequest rr = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
	rr.id = lease;
	ProtobufCMessage *m;
	char detail[256];
	int st = call(M_REVOKE, &rr.base, &etcdserverpb__lease_revoke_response__descriptor, &m,
		      deadline, NULL, detail, sizeof(detail));
	if (st == 0)
		protobuf_c_message_free_unpacked(m, NULL);
	/* Delete the key too: a lease etcd no longer knows (NOT_FOUND) took it
	 * already, anything else may have left it. */
	Etcdserverpb__DeleteRangeRequest dr = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
	dr.key = bin(key);
	char ddetail[256];
	int dst = call(M_DELETE, &dr.base, &etcdserverpb__delete_range_response__descriptor, &m,
		       deadline, NULL, ddetail, sizeof(ddetail));
	if (dst == 0)
		protobuf_c_message_free_unpacked(m, NULL);
	int64_t ms = monotonic_ms() - t0;
	int rc = st == 0 || st == GRPC_STATUS_NOT_FOUND || dst == 0 ? 0 : -1;
	if (rc == 0)
		log_info("deregistered %s (%lld ms)", key, (long long)ms);
	else
		log_warn("could not revoke the lease of %s: %s; etcd drops it within %d s", key,
			 detail, E.cfg->lease_ttl_s);
	free(key);
	return rc;
}

static void etcd_close(struct discovery_ctx *ctx, int remove_namespace)
{
	C = ctx;
	stop_monitor();
	pthread_mutex_lock(&C->mu);
	int have = E.ch != NULL && !E.down_since;
	int64_t stale = E.stale_lease;
	E.stale_lease = 0;
	pthread_mutex_unlock(&C->mu);
	if (have && stale)
		revoke(stale, monotonic_ms() + 1000);
	if (have && remove_namespace)
		delete_namespace();
	drop_channel();
	pthread_mutex_lock(&C->mu);
	free(E.key);
	E.key = NULL;
	E.lease = 0;
	pthread_mutex_unlock(&C->mu);
}

const struct discovery_backend etcd_backend = {
	.name = "etcd",
	.conf_load = etcd_conf_load_op,
	.conf_free = etcd_conf_free_op,
	.configure = etcd_configure,
	.busy = etcd_busy,
	.connect = etcd_connect,
	.register_node = etcd_register,
	.replace_node = etcd_replace,
	.deregister = etcd_deregister,
	.close = etcd_close,
};
