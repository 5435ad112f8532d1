/* The front door's table of Spark Connect sessions and relayed calls
 * (door_sessions.h). One mutex guards everything; the event hook is called
 * after it is released.
 *
 * Sessions live in a hash table (lookup by user and session id) and on a
 * list in opening order (snapshots, oldest first). A session that is
 * closed (ReleaseSession) while other calls on it are still in flight
 * leaves the table at once but its record lives until the last of them
 * ends: calls_in_flight is the record's reference count. Expiry never
 * takes a session with a call in flight. */
#include "shim/ctl/door_sessions.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define RELEASE_SESSION "/spark.connect.SparkConnectService/ReleaseSession"
#define EXECUTE_PLAN "/spark.connect.SparkConnectService/ExecutePlan"
#define REATTACH_EXECUTE "/spark.connect.SparkConnectService/ReattachExecute"
#define FIRST_BUCKETS 64

struct door_session {
	struct door_session *hnext;         /* hash chain */
	struct door_session *prev, *next;   /* opening order */
	uint64_t hash;
	int in_table;                       /* 0: closed, freed with its last call */
	char *user;                         /* NUL-terminated copies */
	size_t user_len;
	char *sid;
	size_t sid_len;
	int64_t first_ms, last_ms;
	unsigned calls_in_flight;
	uint64_t calls_total, bytes_in, bytes_out;
};

struct door_call {
	struct door_session *s;  /* NULL: the call belongs to no session */
	int release_session;     /* a ReleaseSession: closes s when it ends OK */
	int operation;           /* ExecutePlan or ReattachExecute */
};

struct door_sessions {
	pthread_mutex_t mu;
	struct door_limits lim;
	struct door_session **buckets;
	size_t n_buckets;
	struct door_session *oldest, *newest;
	unsigned sessions;
	unsigned calls_in_flight;
	unsigned operations;     /* ExecutePlan + ReattachExecute in flight */
	int draining;
	int64_t last_activity_ms;
	door_session_event_fn hook;
	void *hook_arg;
};

/* A session event to fire once the lock is released. */
struct pending_event {
	struct pending_event *next;
	int opened;
	struct door_session *s;  /* owned here when free_after */
	int free_after;
};

static uint64_t fnv1a(uint64_t h, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ull;
	}
	return h;
}

static uint64_t key_hash(const char *u, size_t ul, const char *sid, size_t sl)
{
	uint64_t h = fnv1a(1469598103934665603ull, u, ul);
	h = fnv1a(h ^ 0xff, sid, sl); /* 0xff never occurs in UTF-8: no ambiguity */
	return h;
}

static char *dup_bytes(const char *p, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		if (n)
			memcpy(d, p, n);
		d[n] = '\0';
	}
	return d;
}

static void session_free(struct door_session *s)
{
	if (!s)
		return;
	free(s->user);
	free(s->sid);
	free(s);
}

struct door_sessions *door_sessions_new(const struct door_limits *lim)
{
	struct door_sessions *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->buckets = calloc(FIRST_BUCKETS, sizeof(*t->buckets));
	if (!t->buckets) {
		free(t);
		return NULL;
	}
	t->n_buckets = FIRST_BUCKETS;
	if (lim)
		t->lim = *lim;
	t->last_activity_ms = -1;
	pthread_mutex_init(&t->mu, NULL);
	return t;
}

void door_sessions_free(struct door_sessions *t)
{
	if (!t)
		return;
	struct door_session *s = t->oldest;
	while (s) {
		struct door_session *n = s->next;
		session_free(s);
		s = n;
	}
	free(t->buckets);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

void door_sessions_set_event_hook(struct door_sessions *t, door_session_event_fn fn, void *arg)
{
	pthread_mutex_lock(&t->mu);
	t->hook = fn;
	t->hook_arg = arg;
	pthread_mutex_unlock(&t->mu);
}

/* ---- the table (lock held) ---- */

static struct door_session *find(struct door_sessions *t, const char *u, size_t ul,
				 const char *sid, size_t sl, uint64_t h)
{
	for (struct door_session *s = t->buckets[h % t->n_buckets]; s; s = s->hnext)
		if (s->hash == h && s->user_len == ul && s->sid_len == sl &&
		    memcmp(s->user, u, ul) == 0 && memcmp(s->sid, sid, sl) == 0)
			return s;
	return NULL;
}

/* Twice the buckets once there are more sessions than buckets; on no
 * memory the chains just get longer. */
static void maybe_grow(struct door_sessions *t)
{
	if (t->sessions < t->n_buckets)
		return;
	size_t n = t->n_buckets * 2;
	struct door_session **b = calloc(n, sizeof(*b));
	if (!b)
		return;
	for (struct door_session *s = t->oldest; s; s = s->next) {
		s->hnext = b[s->hash % n];
		b[s->hash % n] = s;
	}
	free(t->buckets);
	t->buckets = b;
	t->n_buckets = n;
}

static void link_session(struct door_sessions *t, struct door_session *s)
{
	size_t i = s->hash % t->n_buckets;
	s->hnext = t->buckets[i];
	t->buckets[i] = s;
	s->prev = t->newest;
	s->next = NULL;
	if (t->newest)
		t->newest->next = s;
	else
		t->oldest = s;
	t->newest = s;
	s->in_table = 1;
	t->sessions++;
	maybe_grow(t);
}

static void unlink_session(struct door_sessions *t, struct door_session *s)
{
	struct door_session **pp = &t->buckets[s->hash % t->n_buckets];
	while (*pp && *pp != s)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = s->hnext;
	if (s->prev)
		s->prev->next = s->next;
	else
		t->oldest = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		t->newest = s->prev;
	s->hnext = s->prev = s->next = NULL;
	s->in_table = 0;
	t->sessions--;
}

static struct door_session *new_session(const char *u, size_t ul, const char *sid, size_t sl,
					uint64_t h, int64_t now)
{
	struct door_session *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->user = dup_bytes(u, ul);
	s->sid = dup_bytes(sid, sl);
	if (!s->user || !s->sid) {
		session_free(s);
		return NULL;
	}
	s->user_len = ul;
	s->sid_len = sl;
	s->hash = h;
	s->first_ms = s->last_ms = now;
	return s;
}

/* Sessions quiet for longer than the session timeout, none of their calls
 * in flight, leave the table onto *ev (to be closed and freed). */
static void expire(struct door_sessions *t, int64_t now, struct pending_event **ev)
{
	if (t->lim.session_timeout_ms <= 0)
		return;
	struct door_session *s = t->oldest;
	while (s) {
		struct door_session *n = s->next;
		if (s->calls_in_flight == 0 && now - s->last_ms > t->lim.session_timeout_ms) {
			struct pending_event *p = malloc(sizeof(*p));
			if (!p)
				break; /* expired on a later call */
			unlink_session(t, s);
			*p = (struct pending_event){.next = *ev, .opened = 0, .s = s, .free_after = 1};
			*ev = p;
		}
		s = n;
	}
}

static void touch(struct door_sessions *t, struct door_session *s, int64_t now)
{
	if (s && now > s->last_ms)
		s->last_ms = now;
	if (now > t->last_activity_ms)
		t->last_activity_ms = now;
}

/* ---- events (lock released) ---- */

static void fire(struct door_sessions *t, struct pending_event *ev)
{
	pthread_mutex_lock(&t->mu);
	door_session_event_fn fn = t->hook;
	void *arg = t->hook_arg;
	pthread_mutex_unlock(&t->mu);
	while (ev) {
		struct pending_event *n = ev->next;
		if (fn)
			fn(arg, ev->opened, ev->s->user, ev->s->sid);
		if (ev->free_after)
			session_free(ev->s);
		free(ev);
		ev = n;
	}
}

/* An event record for s without freeing it (open, or close of a session
 * whose record a call still holds): the names are copied so the record
 * may go meanwhile. */
static struct pending_event *event_copy(const struct door_session *s, int opened)
{
	struct pending_event *p = calloc(1, sizeof(*p));
	struct door_session *c = p ? new_session(s->user, s->user_len, s->sid, s->sid_len, 0, 0)
				   : NULL;
	if (!c) {
		free(p);
		return NULL;
	}
	*p = (struct pending_event){.opened = opened, .s = c, .free_after = 1};
	return p;
}

/* ---- calls ---- */

static int is_method(const char *method, const char *want)
{
	return method && strcmp(method, want) == 0;
}

enum door_verdict door_call_begin(struct door_sessions *t, const char *method,
				  const char *user_id, size_t user_len,
				  const char *session_id, size_t sid_len,
				  int64_t now_ms, struct door_call **out)
{
	*out = NULL;
	struct door_call *c = calloc(1, sizeof(*c));
	if (!c)
		return DOOR_TOO_MANY_OPERATIONS; /* out of memory: resource exhausted */
	c->release_session = is_method(method, RELEASE_SESSION);
	int new_op = is_method(method, EXECUTE_PLAN);
	c->operation = new_op || is_method(method, REATTACH_EXECUTE);
	struct pending_event *ev = NULL;
	enum door_verdict v = DOOR_ADMIT;

	pthread_mutex_lock(&t->mu);
	uint64_t h = 0;
	struct door_session *s = NULL;
	if (sid_len > 0) {
		h = key_hash(user_id, user_len, session_id, sid_len);
		s = find(t, user_id, user_len, session_id, sid_len, h);
	}
	/* A ReleaseSession never opens a session: one we do not know (expired,
	 * or opened before us) is relayed on its own. */
	int opens = sid_len > 0 && !s && !c->release_session;
	if (opens && t->draining) {
		v = DOOR_DRAINING;
		goto out;
	}
	if (new_op && t->lim.max_operations && t->operations >= t->lim.max_operations) {
		v = DOOR_TOO_MANY_OPERATIONS;
		goto out;
	}
	if (opens) {
		if (t->lim.max_sessions && t->sessions >= t->lim.max_sessions)
			expire(t, now_ms, &ev);
		if (t->lim.max_sessions && t->sessions >= t->lim.max_sessions) {
			v = DOOR_TOO_MANY_SESSIONS;
			goto out;
		}
		s = new_session(user_id, user_len, session_id, sid_len, h, now_ms);
		struct pending_event *p = s ? event_copy(s, 1) : NULL;
		if (!p) {
			session_free(s);
			v = DOOR_TOO_MANY_SESSIONS;
			goto out;
		}
		link_session(t, s);
		/* after the close of any session expired to make room */
		struct pending_event **tail = &ev;
		while (*tail)
			tail = &(*tail)->next;
		*tail = p;
	}
	c->s = s;
	if (c->s) {
		c->s->calls_in_flight++;
		c->s->calls_total++;
	}
	t->calls_in_flight++;
	t->operations += c->operation;
	touch(t, c->s, now_ms);
out:
	pthread_mutex_unlock(&t->mu);
	if (v == DOOR_ADMIT)
		*out = c;
	else
		free(c);
	fire(t, ev);
	return v;
}

void door_call_bytes(struct door_sessions *t, struct door_call *c, uint64_t bytes_in,
		     uint64_t bytes_out, int64_t now_ms)
{
	if (!c)
		return;
	pthread_mutex_lock(&t->mu);
	if (c->s) {
		c->s->bytes_in += bytes_in;
		c->s->bytes_out += bytes_out;
	}
	touch(t, c->s, now_ms);
	pthread_mutex_unlock(&t->mu);
}

void door_call_end(struct door_sessions *t, struct door_call *c, int grpc_status, int64_t now_ms)
{
	if (!c)
		return;
	struct pending_event *ev = NULL;
	struct door_session *dead = NULL;
	pthread_mutex_lock(&t->mu);
	struct door_session *s = c->s;
	t->calls_in_flight--;
	t->operations -= c->operation;
	touch(t, s, now_ms);
	if (s) {
		s->calls_in_flight--;
		if (c->release_session && grpc_status == 0 && s->in_table) {
			ev = event_copy(s, 0);
			/* No memory for the event: the session stays open and
			 * expires later, with its close event then. */
			if (ev)
				unlink_session(t, s);
		}
		if (!s->in_table && s->calls_in_flight == 0)
			dead = s;
	}
	pthread_mutex_unlock(&t->mu);
	session_free(dead);
	free(c);
	fire(t, ev);
}

void door_sessions_drain(struct door_sessions *t)
{
	pthread_mutex_lock(&t->mu);
	t->draining = 1;
	pthread_mutex_unlock(&t->mu);
}

void door_sessions_activity(struct door_sessions *t, int64_t now_ms, struct door_activity *out)
{
	struct pending_event *ev = NULL;
	pthread_mutex_lock(&t->mu);
	expire(t, now_ms, &ev);
	out->sessions = t->sessions;
	out->calls_in_flight = t->calls_in_flight;
	out->last_activity_ms = t->last_activity_ms;
	pthread_mutex_unlock(&t->mu);
	fire(t, ev);
}

static void copy_trunc(char *dst, size_t cap, const char *src, size_t len)
{
	size_t n = len < cap - 1 ? len : cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

size_t door_sessions_snapshot(struct door_sessions *t, struct door_session_info *out, size_t max)
{
	pthread_mutex_lock(&t->mu);
	size_t i = 0;
	for (struct door_session *s = t->oldest; s && i < max; s = s->next, i++) {
		struct door_session_info *o = &out[i];
		copy_trunc(o->user_id, sizeof(o->user_id), s->user, s->user_len);
		copy_trunc(o->session_id, sizeof(o->session_id), s->sid, s->sid_len);
		o->first_ms = s->first_ms;
		o->last_ms = s->last_ms;
		o->calls_in_flight = s->calls_in_flight;
		o->calls_total = s->calls_total;
		o->bytes_in = s->bytes_in;
		o->bytes_out = s->bytes_out;
	}
	size_t n = t->sessions;
	pthread_mutex_unlock(&t->mu);
	return n;
}

int door_verdict_status(enum door_verdict v)
{
	switch (v) {
	case DOOR_ADMIT:
		return 0;
	case DOOR_DRAINING:
		return 14; /* UNAVAILABLE: the client may go to another engine */
	case DOOR_TOO_MANY_SESSIONS:
	case DOOR_TOO_MANY_OPERATIONS:
		return 8; /* RESOURCE_EXHAUSTED */
	}
	return 13; /* INTERNAL: not a verdict */
}

const char *door_verdict_message(enum door_verdict v)
{
	switch (v) {
	case DOOR_ADMIT:
		return "";
	case DOOR_DRAINING:
		return "engine is draining: no new sessions (open one on another engine)";
	case DOOR_TOO_MANY_SESSIONS:
		return "too many sessions on this engine (sparkshim.connect.max.sessions)";
	case DOOR_TOO_MANY_OPERATIONS:
		return "too many operations running on this engine (sparkshim.connect.max.operations)";
	}
	return "unknown door verdict";
}
