/* The Connect front door (front_door.h): a ctl_server with one generic
 * call handler (the relay), one gRPC channel to Spark, and one completion
 * queue with one thread for the upstream calls.
 *
 * Per relayed call (struct relay):
 *   downstream (the client's call, ctl_call.h callbacks on the server's CQ
 *   threads, under the call's lock):
 *     on_start: method and token checked on the headers alone; read the
 *       first message.
 *     on_message_bb: user check (connect_ids.h), session table admit, then
 *       the upstream call starts with {headers, first message}; the next
 *       message is read ahead, and held while the previous one goes out.
 *     on_half_close: SEND_CLOSE_FROM_CLIENT upstream (its own batch).
 *     on_write_done: a Spark message reached the client: read the next one.
 *     on_cancel: cancel upstream.
 *   upstream (the door's call to Spark, completions on the upstream thread):
 *     SEND done -> the held message out, or read the next client message;
 *     INITIAL -> headers to the client; RECV -> message to the client;
 *     STATUS -> read the rest at once (it is buffered), then status,
 *     message and trailers to the client, verbatim.
 * Lock order: the downstream call's lock, then relay.mu; the upstream
 * thread calls ctl_call_* only with relay.mu released. A relay lives until
 * the downstream call is done and no upstream batch is outstanding
 * (relay.refs). */
#include "shim/ctl/front_door.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "base/clock.h"
#include "base/log.h"
#include "shim/ctl/connect_ids.h"
#include "shim/ctl/ctl_addr.h"
#include "shim/ctl/ctl_call.h"
#include "shim/ctl/door_sessions.h"
#include "shim/ctl/grpc_server.h"
#include "shim/ctl/grpc_util.h"
#include "shim/ctl/rpc_client.h"

#define PEM_MAX (1024 * 1024)

struct tls_files {
	pthread_mutex_t mu;
	char *cert, *key, *ca;
	/* The config the fetcher hands gRPC on the next handshake (gRPC
	 * takes ownership); NULL = unchanged. */
	grpc_ssl_server_certificate_config *pending;
};

struct front_door {
	struct ctl_server *srv;
	int port;
	pthread_mutex_t mu;          /* channel, client token */
	grpc_channel *up;            /* to Spark; NULL until set_upstream */
	char *client_token;          /* NULL = none */
	grpc_slice internal_auth;    /* "Bearer <internal token>", or empty */
	int has_internal;
	char *engine_user, *allowed;
	struct door_sessions *sessions;
	grpc_completion_queue *cq;   /* upstream calls */
	pthread_t cq_thread;
	int has_thread;
	atomic_int stopping;
	struct tls_files *tls;
	grpc_server_credentials *creds;
};

enum utag_kind { U_SEND, U_CLOSE, U_INITIAL, U_RECV, U_STATUS };

struct relay;
struct utag {
	enum utag_kind kind;
	struct relay *r;
};

struct relay {
	struct front_door *fd;
	struct ctl_call *dc;
	pthread_mutex_t mu;
	int refs;                    /* downstream + outstanding upstream batches */
	grpc_call *up;
	struct door_call *sc;        /* in the session table; NULL when not admitted */
	grpc_metadata *send_md;      /* forwarded request headers (owned slices) */
	size_t n_send_md;
	grpc_byte_buffer *send_bb, *recv_bb;
	grpc_byte_buffer *held;      /* read ahead while send_bb is still going out */
	grpc_metadata_array initial, trailing;
	grpc_status_code status;
	grpc_slice details;
	struct utag t_send, t_close, t_initial, t_recv, t_status;
	int sending, half_closed, recv_ended, status_done, finished, cancelled;
	int recv_pending;            /* a RECV_MESSAGE from Spark is posted (one at a time) */
	int status_started;          /* the RECV_STATUS batch is posted: it will end sc */
};

/* ---- small helpers ---------------------------------------------------- */

static int has_prefix(grpc_slice s, const char *p)
{
	size_t n = strlen(p);
	return GRPC_SLICE_LENGTH(s) >= n && memcmp(GRPC_SLICE_START_PTR(s), p, n) == 0;
}

static int key_in(grpc_slice k, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (grpc_slice_str_cmp(k, list[i]) == 0)
			return 1;
	return 0;
}

/* Hop-by-hop and transport headers: never relayed either way. */
static const char *const hop_by_hop[] = {
	"connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade",
	"host", "content-type", "content-length", "user-agent", NULL,
};

/* Request headers the door does not pass to Spark: the above, gRPC's own
 * (grpc-timeout and friends: the door's call has its own), and the
 * client's authorization (the door sends the internal token instead). */
static int drop_request_key(grpc_slice k)
{
	return has_prefix(k, ":") || has_prefix(k, "grpc-") || key_in(k, hop_by_hop) ||
	       grpc_slice_str_cmp(k, "authorization") == 0;
}

/* Response headers and trailers: everything Spark sent except transport
 * headers; grpc-status-details-bin (the client's error details) stays. */
static int drop_response_key(grpc_slice k)
{
	if (grpc_slice_str_cmp(k, "grpc-status-details-bin") == 0)
		return 0;
	return has_prefix(k, ":") || has_prefix(k, "grpc-") || key_in(k, hop_by_hop);
}

/* The entries of md that keep(key) == 1, as a fresh array of borrowed
 * slices (valid while md is); free() it. */
static grpc_metadata *md_filter(const grpc_metadata_array *md, int (*drop)(grpc_slice), size_t *n)
{
	*n = 0;
	grpc_metadata *out = calloc(md->count + 1, sizeof(*out));
	if (!out)
		return NULL;
	for (size_t i = 0; i < md->count; i++)
		if (!drop(md->metadata[i].key))
			out[(*n)++] = md->metadata[i];
	return out;
}

int front_door_user_allowed(const char *engine_user, const char *allowed, const char *user,
			    size_t len)
{
	if (!user || len == 0)
		return 0;
	if (engine_user && *engine_user && strlen(engine_user) == len &&
	    memcmp(engine_user, user, len) == 0)
		return 1;
	for (const char *p = allowed ? allowed : ""; *p;) {
		while (*p == ',' || *p == ' ')
			p++;
		const char *e = p;
		while (*e && *e != ',')
			e++;
		const char *t = e;
		while (t > p && t[-1] == ' ')
			t--;
		size_t n = (size_t)(t - p);
		if ((n == 1 && *p == '*') || (n == len && n && memcmp(p, user, len) == 0))
			return 1;
		p = e;
	}
	return 0;
}

/* "authorization: Bearer <token>" against the client token: 1 ok, 0
 * missing, -1 wrong. Constant time in the presented value. */
static int client_auth(struct front_door *fd, const grpc_metadata_array *md)
{
	static const char scheme[] = "bearer ";
	int rc = 0;
	pthread_mutex_lock(&fd->mu);
	if (!fd->client_token) {
		pthread_mutex_unlock(&fd->mu);
		return 1;
	}
	for (size_t i = 0; i < md->count; i++) {
		if (grpc_slice_str_cmp(md->metadata[i].key, "authorization") != 0)
			continue;
		grpc_slice v = md->metadata[i].value;
		size_t n = GRPC_SLICE_LENGTH(v);
		if (n < sizeof(scheme) - 1 ||
		    strncasecmp((const char *)GRPC_SLICE_START_PTR(v), scheme, sizeof(scheme) - 1)) {
			rc = -1;
			break;
		}
		grpc_slice tok = grpc_slice_sub_no_ref(v, sizeof(scheme) - 1, n);
		rc = slice_equals_ct(tok, fd->client_token) ? 1 : -1;
		break;
	}
	pthread_mutex_unlock(&fd->mu);
	return rc;
}

/* ---- relay lifetime --------------------------------------------------- */

static void relay_free(struct relay *r)
{
	if (r->up)
		grpc_call_unref(r->up);
	for (size_t i = 0; i < r->n_send_md; i++)
		grpc_slice_unref(r->send_md[i].value), grpc_slice_unref(r->send_md[i].key);
	free(r->send_md);
	if (r->send_bb)
		grpc_byte_buffer_destroy(r->send_bb);
	if (r->recv_bb)
		grpc_byte_buffer_destroy(r->recv_bb);
	if (r->held)
		grpc_byte_buffer_destroy(r->held);
	grpc_metadata_array_destroy(&r->initial);
	grpc_metadata_array_destroy(&r->trailing);
	grpc_slice_unref(r->details);
	ctl_call_unref(r->dc);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

static void relay_unref(struct relay *r)
{
	pthread_mutex_lock(&r->mu);
	int last = --r->refs == 0;
	pthread_mutex_unlock(&r->mu);
	if (last)
		relay_free(r);
}

/* Start an upstream batch (under r->mu); takes a reference. */
static int up_batch(struct relay *r, grpc_op *ops, size_t n, struct utag *t)
{
	grpc_call_error e = grpc_call_start_batch(r->up, ops, n, t, NULL);
	if (e != GRPC_CALL_OK) {
		log_warn("front door: upstream batch: %s", grpc_call_error_to_string(e));
		return -1;
	}
	r->refs++;
	return 0;
}

/* Post the next read from Spark (under r->mu), unless one is posted or
 * the messages ended. */
static int up_recv_next(struct relay *r)
{
	if (r->recv_pending || r->recv_ended)
		return 0;
	grpc_op op;
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &r->recv_bb;
	if (up_batch(r, &op, 1, &r->t_recv) < 0)
		return -1;
	r->recv_pending = 1;
	return 0;
}

/* ---- refusing ----------------------------------------------------------- */

static void refuse(struct ctl_call *c, grpc_status_code code, const char *what)
{
	log_warn("front door: %s refused: %s: %s", ctl_call_method(c), status_code_name(code), what);
	ctl_call_finish(c, code, what, NULL, 0);
}

/* ---- downstream callbacks --------------------------------------------- */

static void on_start(struct ctl_call *c)
{
	struct front_door *fd = ctl_call_server_arg(c);
	const char *m = ctl_call_method(c);
	if (strncmp(m, FRONT_DOOR_SERVICE, strlen(FRONT_DOOR_SERVICE)) != 0 ||
	    !m[strlen(FRONT_DOOR_SERVICE)]) {
		char msg[300];
		snprintf(msg, sizeof(msg), "unknown method %s (the front door relays %s*)", m,
			 FRONT_DOOR_SERVICE);
		ctl_call_finish(c, GRPC_STATUS_UNIMPLEMENTED, msg, NULL, 0);
		return;
	}
	int a = client_auth(fd, ctl_call_metadata(c));
	if (a <= 0) {
		refuse(c, GRPC_STATUS_UNAUTHENTICATED,
		       a == 0 ? "missing bearer token (authorization metadata)"
			      : "invalid bearer token");
		return;
	}
	struct relay *r = calloc(1, sizeof(*r));
	if (!r) {
		refuse(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	r->fd = fd;
	r->dc = c;
	r->refs = 1;
	pthread_mutex_init(&r->mu, NULL);
	grpc_metadata_array_init(&r->initial);
	grpc_metadata_array_init(&r->trailing);
	r->details = grpc_empty_slice();
	r->t_send = (struct utag){U_SEND, r};
	r->t_close = (struct utag){U_CLOSE, r};
	r->t_initial = (struct utag){U_INITIAL, r};
	r->t_recv = (struct utag){U_RECV, r};
	r->t_status = (struct utag){U_STATUS, r};
	ctl_call_ref(c);
	ctl_call_set_state(c, r);
	ctl_call_read(c);
}

/* The message's bytes for the parser: the byte buffer's one slice as is,
 * or (several slices) a flat copy. 0 / -1. */
static int bb_view(grpc_byte_buffer *bb, grpc_slice *out)
{
	grpc_byte_buffer_reader rd;
	if (!grpc_byte_buffer_reader_init(&rd, bb))
		return -1;
	grpc_slice *first;
	if (grpc_byte_buffer_length(bb) == 0) {
		*out = grpc_empty_slice();
	} else if (bb->type == GRPC_BB_RAW && bb->data.raw.compression == GRPC_COMPRESS_NONE &&
		   bb->data.raw.slice_buffer.count == 1 && grpc_byte_buffer_reader_peek(&rd, &first)) {
		*out = grpc_slice_ref(*first);
	} else {
		*out = grpc_byte_buffer_reader_readall(&rd);
	}
	grpc_byte_buffer_reader_destroy(&rd);
	return 0;
}

/* The user check on one client message. GRPC_STATUS_OK, or the refusal
 * (msg filled). ids gets what the message says. */
static grpc_status_code check_message(struct front_door *fd, grpc_slice s, struct connect_ids *ids,
				      char *msg, size_t cap)
{
	if (connect_ids_read(GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s), ids) < 0) {
		snprintf(msg, cap, "malformed request message");
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	if (!ids->user_len) {
		snprintf(msg, cap, "request without user_context.user_id (the client sets it from "
				   "';user_id=' or SPARK_USER/USER); engine user '%s'",
			 fd->engine_user);
		return GRPC_STATUS_PERMISSION_DENIED;
	}
	if (!front_door_user_allowed(fd->engine_user, fd->allowed, (const char *)ids->user_id,
				     ids->user_len)) {
		snprintf(msg, cap, "user_id '%.*s' may not use this engine (engine user '%s')",
			 ids->user_len > 64 ? 64 : (int)ids->user_len,
			 ids->user_id ? (const char *)ids->user_id : "", fd->engine_user);
		return GRPC_STATUS_PERMISSION_DENIED;
	}
	return GRPC_STATUS_OK;
}

/* The first message passed the checks: open the upstream call and send
 * the headers and the message (under r->mu). */
static grpc_status_code start_upstream(struct relay *r, grpc_byte_buffer *bb, char *msg,
				       size_t cap)
{
	struct front_door *fd = r->fd;
	const grpc_metadata_array *md = ctl_call_metadata(r->dc);
	size_t n;
	grpc_metadata *keep = md_filter(md, drop_request_key, &n);
	r->send_md = keep ? calloc(n + 1, sizeof(*r->send_md)) : NULL;
	if (!r->send_md) {
		free(keep);
		snprintf(msg, cap, "out of memory");
		return GRPC_STATUS_RESOURCE_EXHAUSTED;
	}
	for (size_t i = 0; i < n; i++) {
		r->send_md[i].key = grpc_slice_ref(keep[i].key);
		r->send_md[i].value = grpc_slice_ref(keep[i].value);
	}
	free(keep);
	r->n_send_md = n;
	if (fd->has_internal) {
		r->send_md[n].key = grpc_slice_from_static_string("authorization");
		r->send_md[n].value = grpc_slice_ref(fd->internal_auth);
		r->n_send_md++;
	}
	grpc_slice method = grpc_slice_from_copied_string(ctl_call_method(r->dc));
	pthread_mutex_lock(&fd->mu);
	if (fd->up)
		r->up = grpc_channel_create_call(fd->up, NULL, GRPC_PROPAGATE_DEFAULTS, fd->cq, method,
						 NULL, ctl_call_deadline(r->dc), NULL);
	pthread_mutex_unlock(&fd->mu);
	grpc_slice_unref(method); /* the call keeps its own */
	if (!r->up) {
		snprintf(msg, cap, "Spark Connect is not serving yet");
		return GRPC_STATUS_UNAVAILABLE;
	}
	grpc_op ops[2];
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = r->n_send_md;
	ops[0].data.send_initial_metadata.metadata = r->send_md;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = bb;
	r->send_bb = bb;
	int ok = up_batch(r, ops, 2, &r->t_send) == 0;
	if (ok) {
		r->sending = 1;
		memset(ops, 0, sizeof(ops));
		ops[0].op = GRPC_OP_RECV_INITIAL_METADATA;
		ops[0].data.recv_initial_metadata.recv_initial_metadata = &r->initial;
		ok = up_batch(r, ops, 1, &r->t_initial) == 0;
	}
	if (ok) {
		memset(ops, 0, sizeof(ops));
		ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
		ops[0].data.recv_status_on_client.trailing_metadata = &r->trailing;
		ops[0].data.recv_status_on_client.status = &r->status;
		ops[0].data.recv_status_on_client.status_details = &r->details;
		ok = up_batch(r, ops, 1, &r->t_status) == 0;
		r->status_started = ok;
	}
	if (ok)
		ok = up_recv_next(r) == 0;
	if (!ok) {
		/* Whatever did start completes (cancelled) and drops its ref. */
		grpc_call_cancel(r->up, NULL);
		snprintf(msg, cap, "cannot start the call to Spark");
		return GRPC_STATUS_INTERNAL;
	}
	return GRPC_STATUS_OK;
}

/* The user check on a message's bytes (in place). GRPC_STATUS_OK, or the
 * refusal with msg filled. ids point into *view (unref it after use). */
static grpc_status_code inspect(struct front_door *fd, grpc_byte_buffer *bb, grpc_slice *view,
				struct connect_ids *ids, char *msg, size_t cap)
{
	*view = grpc_empty_slice();
	if (bb_view(bb, view) < 0) {
		snprintf(msg, cap, "unreadable request message");
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	return check_message(fd, *view, ids, msg, cap);
}

/* The first message passed the checks: admit the call in the session
 * table and open the call to Spark with it (under r->mu). *bb is set to
 * NULL once the relay owns it. */
static grpc_status_code open_call(struct relay *r, const struct connect_ids *ids,
				  grpc_byte_buffer **bb, char *msg, size_t cap)
{
	struct front_door *fd = r->fd;
	if (atomic_load(&fd->stopping)) {
		snprintf(msg, cap, "engine is stopping");
		return GRPC_STATUS_UNAVAILABLE;
	}
	if (fd->sessions) {
		enum door_verdict v = door_call_begin(
			fd->sessions, ctl_call_method(r->dc), (const char *)ids->user_id, ids->user_len,
			(const char *)ids->session_id, ids->session_len, monotonic_ms(), &r->sc);
		if (v != DOOR_ADMIT) {
			snprintf(msg, cap, "%s", door_verdict_message(v));
			return (grpc_status_code)door_verdict_status(v);
		}
	}
	grpc_status_code code = start_upstream(r, *bb, msg, cap);
	if (r->send_bb == *bb)
		*bb = NULL;
	return code;
}

/* A later client message: to Spark (under r->mu), or held while the
 * previous one is still going out (the next read waits for it). 1 when it
 * went out (read ahead again). */
static int forward_next(struct relay *r, grpc_byte_buffer **bb)
{
	if (r->finished)
		return 0; /* Spark's status is already relayed: dropped */
	if (r->sending) {
		r->held = *bb;
		*bb = NULL;
		return 0;
	}
	grpc_op op;
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_SEND_MESSAGE;
	op.data.send_message.send_message = *bb;
	r->send_bb = *bb;
	*bb = NULL;
	if (up_batch(r, &op, 1, &r->t_send) == 0) {
		r->sending = 1;
		return 1;
	}
	grpc_call_cancel(r->up, NULL);
	return 0;
}

static void on_message_bb(struct ctl_call *c, grpc_byte_buffer *bb)
{
	struct relay *r = ctl_call_state(c);
	char msg[300] = "";
	struct connect_ids ids;
	grpc_slice view;
	grpc_status_code code = inspect(r->fd, bb, &view, &ids, msg, sizeof(msg));
	size_t len = grpc_byte_buffer_length(bb);
	pthread_mutex_lock(&r->mu);
	/* Read ahead once a message went out: a unary call's half-close then
	 * reaches Spark without waiting for the send to complete. At most one
	 * message is held besides the one going out. */
	int read_ahead = 0;
	if (code == GRPC_STATUS_OK && !r->up) {
		code = open_call(r, &ids, &bb, msg, sizeof(msg));
		read_ahead = code == GRPC_STATUS_OK;
	} else if (code == GRPC_STATUS_OK) {
		read_ahead = forward_next(r, &bb);
	}
	if (code == GRPC_STATUS_OK && r->sc)
		door_call_bytes(r->fd->sessions, r->sc, len, 0, monotonic_ms());
	if (code != GRPC_STATUS_OK) {
		r->finished = 1;
		if (r->up)
			grpc_call_cancel(r->up, NULL);
	}
	/* Without a status batch to Spark nothing else will end it. */
	struct door_call *end_sc = NULL;
	if (r->finished && !r->status_started) {
		end_sc = r->sc;
		r->sc = NULL;
	}
	pthread_mutex_unlock(&r->mu);
	if (end_sc)
		door_call_end(r->fd->sessions, end_sc, code, monotonic_ms());
	if (bb)
		grpc_byte_buffer_destroy(bb);
	if (read_ahead)
		ctl_call_read(c);
	if (code == GRPC_STATUS_PERMISSION_DENIED || code == GRPC_STATUS_INVALID_ARGUMENT)
		refuse(c, code, msg);
	else if (code != GRPC_STATUS_OK)
		ctl_call_finish(c, code, msg, NULL, 0);
	grpc_slice_unref(view);
}

static void on_half_close(struct ctl_call *c)
{
	struct relay *r = ctl_call_state(c);
	pthread_mutex_lock(&r->mu);
	int no_msg = !r->up && !r->finished;
	if (r->up && !r->half_closed && !r->finished) {
		r->half_closed = 1;
		/* Reads stop while a message is held, so none is: the close may
		 * follow the message going out at once (its own batch). */
		grpc_op op;
		memset(&op, 0, sizeof(op));
		op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
		if (up_batch(r, &op, 1, &r->t_close) < 0)
			grpc_call_cancel(r->up, NULL);
	}
	if (no_msg)
		r->finished = 1;
	pthread_mutex_unlock(&r->mu);
	if (no_msg && !ctl_call_is_cancelled(c))
		ctl_call_finish(c, GRPC_STATUS_INVALID_ARGUMENT, "missing request message", NULL, 0);
}

static void on_write_done(struct ctl_call *c, int ok)
{
	struct relay *r = ctl_call_state(c);
	pthread_mutex_lock(&r->mu);
	if (!ok) {
		if (r->up)
			grpc_call_cancel(r->up, NULL);
	} else if (r->up && !r->recv_ended && !r->finished) {
		if (up_recv_next(r) < 0)
			grpc_call_cancel(r->up, NULL);
	}
	pthread_mutex_unlock(&r->mu);
}

static void on_cancel(struct ctl_call *c)
{
	struct relay *r = ctl_call_state(c);
	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	r->cancelled = 1;
	if (r->up)
		grpc_call_cancel(r->up, NULL);
	pthread_mutex_unlock(&r->mu);
}

static void on_done(struct ctl_call *c)
{
	struct relay *r = ctl_call_state(c);
	if (r)
		relay_unref(r);
}

static const struct ctl_call_handler relay_handler = {
	.on_start = on_start,
	.on_message_bb = on_message_bb,
	.on_half_close = on_half_close,
	.on_write_done = on_write_done,
	.on_cancel = on_cancel,
	.on_done = on_done,
};

/* ---- upstream completions (the upstream thread) ------------------------ */

/* Spark's status is in: relay it once the messages before it are out. */
static void maybe_finish(struct relay *r)
{
	pthread_mutex_lock(&r->mu);
	int now = r->status_done && !r->finished &&
		  (r->recv_ended || r->status != GRPC_STATUS_OK || r->cancelled);
	struct door_call *sc = NULL;
	if (r->status_done && (now || r->finished)) {
		sc = r->sc;
		r->sc = NULL;
	}
	if (now)
		r->finished = 1;
	pthread_mutex_unlock(&r->mu);
	if (!now) {
		if (sc)
			door_call_end(r->fd->sessions, sc, r->status, monotonic_ms());
		return;
	}
	size_t n;
	grpc_metadata *tr = md_filter(&r->trailing, drop_response_key, &n);
	size_t dl = GRPC_SLICE_LENGTH(r->details);
	char *details = malloc(dl + 1);
	if (details)
		slice_to_cstr(r->details, details, dl + 1);
	grpc_status_code code = r->status;
	if (code == GRPC_STATUS_CANCELLED && !r->cancelled) {
		/* Nobody on our side cancelled: Spark's server reset the call
		 * (stopped, or its JVM went away). The client may retry. */
		code = GRPC_STATUS_UNAVAILABLE;
		free(details);
		details = strdup("Spark Connect ended the call: its server stopped or went away");
	}
	ctl_call_finish(r->dc, code, details ? details : "", tr, tr ? n : 0);
	free(details);
	free(tr);
	if (sc)
		door_call_end(r->fd->sessions, sc, r->status, monotonic_ms());
}

static void up_event(struct utag *t, int ok)
{
	struct relay *r = t->r;
	switch (t->kind) {
	case U_SEND: {
		pthread_mutex_lock(&r->mu);
		r->sending = 0;
		if (r->send_bb) {
			grpc_byte_buffer_destroy(r->send_bb);
			r->send_bb = NULL;
		}
		int read_next = 0;
		if (ok && r->held && !r->finished) {
			grpc_byte_buffer *h = r->held;
			r->held = NULL;
			read_next = forward_next(r, &h);
			if (h)
				grpc_byte_buffer_destroy(h);
		} else {
			read_next = ok && !r->half_closed && !r->finished;
		}
		pthread_mutex_unlock(&r->mu);
		if (read_next)
			ctl_call_read(r->dc);
		break;
	}
	case U_CLOSE:
		break;
	case U_INITIAL: {
		size_t n;
		grpc_metadata *md = md_filter(&r->initial, drop_response_key, &n);
		if (ok && md && n)
			ctl_call_send_metadata(r->dc, md, n);
		free(md);
		break;
	}
	case U_RECV: {
		pthread_mutex_lock(&r->mu);
		r->recv_pending = 0;
		grpc_byte_buffer *bb = r->recv_bb;
		r->recv_bb = NULL;
		if (!bb)
			r->recv_ended = 1;
		else if (r->sc)
			door_call_bytes(r->fd->sessions, r->sc, 0, grpc_byte_buffer_length(bb),
					monotonic_ms());
		pthread_mutex_unlock(&r->mu);
		int written = bb && ctl_call_write_bb(r->dc, bb) == 0;
		pthread_mutex_lock(&r->mu);
		if (bb && !written)
			grpc_call_cancel(r->up, NULL);
		else if (written && r->status_done)
			up_recv_next(r); /* the rest is in gRPC's buffers already */
		pthread_mutex_unlock(&r->mu);
		if (!bb)
			maybe_finish(r);
		break;
	}
	case U_STATUS:
		pthread_mutex_lock(&r->mu);
		r->status_done = 1;
		/* Spark is done: whatever it sent is buffered in gRPC, so reading
		 * the end now (not after the client took the last message) holds
		 * nothing more, and the status follows the last message at once. */
		if (ok && !r->finished)
			up_recv_next(r);
		pthread_mutex_unlock(&r->mu);
		maybe_finish(r);
		break;
	}
	relay_unref(r);
}

static void *up_main(void *arg)
{
	struct front_door *fd = arg;
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(fd->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC),
							   NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type == GRPC_OP_COMPLETE)
			up_event(ev.tag, ev.success);
	}
	return NULL;
}

/* ---- TLS ---------------------------------------------------------------- */

/* A whole PEM file into a fresh string; NULL with err naming it. */
static char *read_pem(const char *what, const char *path, const char *marker, char *err,
		      size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		return NULL;
	}
	char *buf = malloc(PEM_MAX + 1);
	size_t n = buf ? fread(buf, 1, PEM_MAX, f) : 0;
	int big = buf && n == PEM_MAX && fgetc(f) != EOF;
	fclose(f);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	buf[n] = '\0';
	if (big || strlen(buf) != n || !strstr(buf, "-----BEGIN ") || !strstr(buf, marker)) {
		snprintf(err, errlen, "%s %s: expected a PEM file with a %s block", what, path,
			 marker);
		free(buf);
		return NULL;
	}
	return buf;
}

/* Read cert, key and CA into a new gRPC config. NULL with err. */
static grpc_ssl_server_certificate_config *tls_load(struct tls_files *t, char *err, size_t errlen)
{
	char *cert = read_pem("TLS certificate", t->cert, "CERTIFICATE", err, errlen);
	char *key = cert ? read_pem("TLS key", t->key, "PRIVATE KEY", err, errlen) : NULL;
	char *ca = NULL;
	if (key && t->ca)
		ca = read_pem("TLS client CA", t->ca, "CERTIFICATE", err, errlen);
	grpc_ssl_server_certificate_config *cfg = NULL;
	if (key && (!t->ca || ca)) {
		grpc_ssl_pem_key_cert_pair pair = {.private_key = key, .cert_chain = cert};
		/* gRPC 1.51 asserts that a fetched config has root certificates
		 * even when client certificates are not requested: without a
		 * client CA the server's own chain stands in (never used). */
		cfg = grpc_ssl_server_certificate_config_create(ca ? ca : cert, &pair, 1);
		if (!cfg)
			snprintf(err, errlen, "TLS: cannot use %s / %s", t->cert, t->key);
	}
	if (key)
		memset(key, 0, strlen(key));
	free(cert);
	free(key);
	free(ca);
	return cfg;
}

static grpc_ssl_certificate_config_reload_status tls_fetch(
	void *arg, grpc_ssl_server_certificate_config **config)
{
	struct tls_files *t = arg;
	pthread_mutex_lock(&t->mu);
	grpc_ssl_server_certificate_config *p = t->pending;
	t->pending = NULL;
	pthread_mutex_unlock(&t->mu);
	if (!p)
		return GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_UNCHANGED;
	*config = p;
	return GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_NEW;
}

static void tls_free(struct tls_files *t)
{
	if (!t)
		return;
	if (t->pending)
		grpc_ssl_server_certificate_config_destroy(t->pending);
	free(t->cert);
	free(t->key);
	free(t->ca);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

static int tls_setup(struct front_door *fd, const struct front_door_opts *o, char *err,
		     size_t errlen)
{
	if (!o->tls_cert || !*o->tls_cert) {
		if (o->tls_key && *o->tls_key) {
			snprintf(err, errlen, "TLS key %s given without a certificate", o->tls_key);
			return -1;
		}
		if (o->tls_client_ca && *o->tls_client_ca) {
			snprintf(err, errlen, "TLS client CA %s given without a certificate and key",
				 o->tls_client_ca);
			return -1;
		}
		return 0;
	}
	if (!o->tls_key || !*o->tls_key) {
		snprintf(err, errlen, "TLS certificate %s given without a key", o->tls_cert);
		return -1;
	}
	struct tls_files *t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_init(&t->mu, NULL);
	t->cert = strdup(o->tls_cert);
	t->key = strdup(o->tls_key);
	t->ca = o->tls_client_ca && *o->tls_client_ca ? strdup(o->tls_client_ca) : NULL;
	fd->tls = t;
	t->pending = tls_load(t, err, errlen);
	if (!t->pending)
		return -1;
	grpc_ssl_server_credentials_options *so =
		grpc_ssl_server_credentials_create_options_using_config_fetcher(
			t->ca ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
			      : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
			tls_fetch, t);
	fd->creds = so ? grpc_ssl_server_credentials_create_with_options(so) : NULL;
	if (!fd->creds) {
		snprintf(err, errlen, "TLS: cannot create server credentials");
		return -1;
	}
	return 0;
}

/* ---- start / stop ------------------------------------------------------- */

static void door_free(struct front_door *fd)
{
	if (fd->cq) {
		grpc_completion_queue_shutdown(fd->cq);
		if (fd->has_thread)
			pthread_join(fd->cq_thread, NULL);
		else
			while (grpc_completion_queue_next(fd->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC),
							  NULL)
				       .type != GRPC_QUEUE_SHUTDOWN) {
			}
		grpc_completion_queue_destroy(fd->cq);
	}
	if (fd->up)
		grpc_channel_destroy(fd->up);
	if (fd->creds)
		grpc_server_credentials_release(fd->creds);
	tls_free(fd->tls);
	grpc_slice_unref(fd->internal_auth);
	free(fd->client_token);
	free(fd->engine_user);
	free(fd->allowed);
	pthread_mutex_destroy(&fd->mu);
	free(fd);
	grpc_shutdown();
}

static int spawn_blocked(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc == 0 ? 0 : -1;
}

static struct front_door *start_fail(struct front_door *fd, int e)
{
	door_free(fd);
	errno = e;
	return NULL;
}

struct front_door *front_door_start(const struct front_door_opts *o, char *bound, size_t boundlen,
				    char *err, size_t errlen)
{
	struct front_door *fd = calloc(1, sizeof(*fd));
	if (!fd) {
		snprintf(err, errlen, "front door: out of memory");
		errno = ENOMEM;
		return NULL;
	}
	grpc_log_bridge_install();
	grpc_init();
	pthread_mutex_init(&fd->mu, NULL);
	fd->internal_auth = grpc_empty_slice();
	if (o->internal_token && *o->internal_token) {
		char *v;
		if (asprintf(&v, "Bearer %s", o->internal_token) < 0)
			return start_fail(fd, ENOMEM);
		grpc_slice_unref(fd->internal_auth);
		fd->internal_auth = grpc_slice_from_copied_string(v);
		memset(v, 0, strlen(v));
		free(v);
		fd->has_internal = 1;
	}
	fd->client_token = o->client_token && *o->client_token ? strdup(o->client_token) : NULL;
	fd->engine_user = strdup(o->engine_user ? o->engine_user : "");
	fd->allowed = strdup(o->allowed_users ? o->allowed_users : "");
	fd->sessions = o->sessions;
	if (!fd->engine_user || !fd->allowed) {
		snprintf(err, errlen, "front door: out of memory");
		return start_fail(fd, ENOMEM);
	}
	if (tls_setup(fd, o, err, errlen) < 0)
		return start_fail(fd, EINVAL);
	fd->cq = grpc_completion_queue_create_for_next(NULL);
	if (spawn_blocked(&fd->cq_thread, up_main, fd) < 0) {
		snprintf(err, errlen, "front door: cannot start its thread");
		return start_fail(fd, EAGAIN);
	}
	fd->has_thread = 1;
	struct ctl_server_opts so = {
		.bind = o->bind,
		.max_message = o->max_message ? o->max_message : FRONT_DOOR_MAX_MESSAGE,
		.generic = &relay_handler,
		.generic_depth = 64,
		.arg = fd,
		.name = "front door",
		.allow_remote = 1,
		.creds = fd->creds,
		/* The door stops after Spark: nothing can be relayed any more,
		 * and idle client connections must not hold the exit. */
		.stop_grace_ms = FRONT_DOOR_STOP_GRACE_MS,
	};
	char e2[512];
	fd->srv = ctl_server_start(&so, bound, boundlen, e2, sizeof(e2));
	if (!fd->srv) {
		int e = errno;
		snprintf(err, errlen, "%s", e2);
		return start_fail(fd, e);
	}
	struct ctl_addr a;
	char perr[64];
	if (ctl_addr_parse(bound, &a, perr, sizeof(perr)) == 0)
		fd->port = a.port;
	log_info("front door: %s on %s%s%s; user check: engine user '%s'%s%s",
		 fd->creds ? "TLS" : "plaintext", bound,
		 fd->tls && fd->tls->ca ? " (client certificates required)" : "",
		 fd->client_token ? ", bearer token required" : "", fd->engine_user,
		 fd->allowed[0] ? " + allowed " : "", fd->allowed);
	return fd;
}

int front_door_set_upstream(struct front_door *fd, const char *host, int port)
{
	char addr[300], target[320];
	ctl_addr_format(host && *host ? host : "127.0.0.1", port, addr, sizeof(addr));
	rpc_target(addr, target, sizeof(target));
	grpc_arg args[] = {
		{.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_ENABLE_HTTP_PROXY, .value.integer = 0},
		{.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
		 .value.integer = -1},
		{.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, .value.integer = -1},
		{.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
		 .value.integer = 100},
		{.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
		 .value.integer = 1000},
		{.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, .value.integer = 1},
	};
	grpc_channel_args ca = {.num_args = sizeof(args) / sizeof(args[0]), .args = args};
	grpc_channel_credentials *creds = grpc_insecure_credentials_create();
	grpc_channel *ch = grpc_channel_create(target, creds, &ca);
	grpc_channel_credentials_release(creds);
	if (!ch)
		return -1;
	pthread_mutex_lock(&fd->mu);
	grpc_channel *old = fd->up;
	fd->up = ch;
	pthread_mutex_unlock(&fd->mu);
	if (old)
		grpc_channel_destroy(old);
	log_info("front door: relaying to Spark Connect at %s", addr);
	return 0;
}

int front_door_port(const struct front_door *fd)
{
	return fd ? fd->port : 0;
}

int front_door_reload(struct front_door *fd, const char *client_token, char *err, size_t errlen)
{
	int rc = 0;
	if (client_token) {
		char *t = *client_token ? strdup(client_token) : NULL;
		pthread_mutex_lock(&fd->mu);
		free(fd->client_token);
		fd->client_token = t;
		pthread_mutex_unlock(&fd->mu);
	}
	if (fd->tls) {
		grpc_ssl_server_certificate_config *cfg = tls_load(fd->tls, err, errlen);
		if (!cfg) {
			rc = -1;
		} else {
			pthread_mutex_lock(&fd->tls->mu);
			if (fd->tls->pending)
				grpc_ssl_server_certificate_config_destroy(fd->tls->pending);
			fd->tls->pending = cfg;
			pthread_mutex_unlock(&fd->tls->mu);
		}
	}
	return rc;
}

void front_door_stop(struct front_door *fd)
{
	if (!fd)
		return;
	atomic_store(&fd->stopping, 1);
	/* The server's stop waits for every relay (each holds a reference on
	 * its downstream call until its upstream call is over), so the
	 * upstream thread keeps running until after it. */
	ctl_server_stop(fd->srv);
	fd->srv = NULL;
	door_free(fd);
}
