/* gRPC C core server object: binding, the CQ threads, call dispatch to the
 * method tables of ctl_service.h and to call handlers (ctl_call.h),
 * Watch/Events stream pumping and graceful shutdown. Each server has its
 * own completion queue, threads and lock; nothing here is global except the
 * claim on the engine's published control endpoint.
 *
 * Call flow. Table calls read their one request message with an explicit
 * RECV batch (methods are registered with PAYLOAD_NONE): the token is
 * checked on the headers before any body is read, and a client that
 * half-closes without a message gets INVALID_ARGUMENT from our code.
 *   unary:  NEW -> token check -> RECV -> handler -> one batch {initial md,
 *           message, status, RECV_CLOSE} -> DONE -> free
 *   stream: NEW -> RECV -> open -> {RECV_CLOSE} pending for the whole life,
 *           plus at most one send batch at a time (SEND) -> ... -> a batch
 *           carrying the status -> CLOSE and no send pending -> free
 *   call handler (table .call, or the generic handler): NEW -> token check
 *           -> {RECV_CLOSE} pending for the whole life -> on_start; then
 *           RECV batches as the handler asks (ctl_call_read), one send
 *           batch at a time from its write queue, the status last;
 *           CLOSE (cancelled -> on_cancel) and nothing pending -> on_done
 *           -> free once the last reference is dropped.
 * Unknown methods arrive through the generic grpc_server_request_call and
 * go to opts.generic, or get UNIMPLEMENTED. Oversized requests never reach
 * us: the server's max_receive_message_length makes gRPC fail them with
 * RESOURCE_EXHAUSTED.
 *
 * Locking: srv->mu guards the stream list, every pumped stream's send
 * state, the handler-call list and the worker/live counts. Batches on a
 * pumped stream are started only under srv->mu (from a CQ thread, the
 * notifier or ctl_server_stop), which is how gRPC wants concurrent
 * start_batch calls on one call serialized. A handler call has its own
 * recursive lock (hmu) held around every callback and every ctl_call_*
 * function; srv->mu may be taken before hmu, never after. Unary calls are
 * touched by one thread at a time (a CQ thread, or the worker it hands the
 * call to) and need no lock. */
#include "shim/ctl/grpc_server.h"
#include "base/clock.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "base/engine_info.h"
#include "base/lifecycle.h"
#include "base/log.h"
#include "base/thread.h"
#include "shim/ctl/ctl_addr.h"
#include "shim/ctl/ctl_call.h"
#include "shim/ctl/ctl_service.h"
#include "shim/ctl/grpc_util.h"

#define DEFAULT_MAX_MESSAGE (64 * 1024)
/* Requests kept posted per method unless the table says otherwise. */
#define DEPTH_DEFAULT 4
#define DEPTH_GENERIC_HANDLER 16 /* a relay takes everything through it */
#define MAX_METHODS 64
#define GENERIC SIZE_MAX /* method index of unknown-method calls */
/* The notifier re-checks streams this often even without a wake-up, as a
 * safety net for a connect_alive change nobody kicked. */
#define NOTIFY_POLL_MS 1000
/* struct ctl_call is what handlers see of a struct call. */
#define CC(c) ((struct ctl_call *)(c))

enum tag_kind { T_NEW, T_RECV, T_DONE, T_SEND, T_CLOSE, T_SHUTDOWN };

struct call;
struct tag {
	enum tag_kind kind;
	struct call *c;
};

/* One queued outgoing message of a handler call. */
struct outmsg {
	grpc_byte_buffer *bb;
	struct outmsg *next;
};

struct ctl_server;

struct call {
	struct ctl_server *srv;
	size_t mi;                   /* index into srv->methods, or GENERIC */
	const struct ctl_method *m;  /* NULL for GENERIC */
	grpc_call *call;
	gpr_timespec deadline;
	grpc_metadata_array md;
	grpc_byte_buffer *payload;   /* request message, or NULL */
	grpc_call_details details;   /* GENERIC only */
	struct tag t_new, t_recv, t_done, t_send, t_close;
	grpc_byte_buffer *send_bb;   /* message of the batch in flight (table calls) */
	grpc_slice status_details;
	int cancelled;               /* RECV_CLOSE_ON_SERVER result */
	/* streams, under srv->mu */
	void *sstate;
	int sent_initial, sending, status_sent, closed, dead;
	struct call *prev, *next;    /* in srv->streams or srv->hcalls (never both) */
	/* call handlers, under hmu (list links under srv->mu) */
	const struct ctl_call_handler *h; /* set once the handler owns the call */
	pthread_mutex_t hmu;
	atomic_int refs;
	char *method;
	void *state;
	struct outmsg *out_head, *out_tail;
	size_t n_out;
	int batch_msg;               /* the send in flight carries out_head */
	grpc_metadata *init_md, *trail_md;
	size_t n_init_md, n_trail_md;
	int init_md_set, finish_queued, reading, close_done, done, is_cancelled;
	grpc_status_code finish_code;
};

struct ctl_server {
	pthread_mutex_t mu;
	pthread_cond_t cv;           /* shutdown_done, n_workers, n_live */
	const char *name;
	grpc_server *server;
	grpc_completion_queue *cq;
	pthread_t *cq_threads, notifier;
	int n_cq_threads, want_cq_threads, has_notifier;
	const struct ctl_method *methods[MAX_METHODS];
	void *rm[MAX_METHODS];
	size_t n_methods;
	const struct ctl_call_handler *generic;
	void *arg;
	char *token;
	int publish;
	int stop_grace_ms;
	char bound[300];
	atomic_int stopping;
	struct call *streams;        /* pumped streams */
	int n_streams;
	struct call *hcalls;         /* handler calls not done yet */
	int n_hcalls;
	int n_live;                  /* handler call objects not freed yet */
	int n_workers;
	int shutdown_done;
	struct tag shutdown_tag;
};

/* The server publishing engine_info.control_endpoint, if any. */
static pthread_mutex_t pub_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ctl_server *publisher;

/* ---- threads ---------------------------------------------------------- */

/* Start a thread with the process-control signals blocked: the main loop
 * takes them through signalfd, and a thread of ours that left them
 * unblocked would receive them instead (default action: die). */
static int spawn(pthread_t *tid, void *(*fn)(void *), void *arg, int detached)
{
	sigset_t block, old;
	sigemptyset(&block);
	int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGCHLD, SIGPIPE};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&block, sigs[i]);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	int rc = thread_start(tid, fn, arg, THREAD_STACK_WORKER, detached);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc != 0 ? -1 : 0;
}

/* ---- metadata copies -------------------------------------------------- */

static void md_free(grpc_metadata *md, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		grpc_slice_unref(md[i].key);
		grpc_slice_unref(md[i].value);
	}
	free(md);
}

/* Own copies of md (kept until the call is freed: gRPC reads them while
 * the batch runs). 0 / -1. */
static int md_copy(const grpc_metadata *md, size_t n, grpc_metadata **out)
{
	*out = NULL;
	if (!n)
		return 0;
	grpc_metadata *p = calloc(n, sizeof(*p));
	if (!p)
		return -1;
	for (size_t i = 0; i < n; i++) {
		p[i].key = grpc_slice_copy(md[i].key);
		p[i].value = grpc_slice_copy(md[i].value);
	}
	*out = p;
	return 0;
}

/* ---- call objects ----------------------------------------------------- */

static struct call *call_new(struct ctl_server *s, size_t mi)
{
	struct call *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->srv = s;
	c->mi = mi;
	c->m = mi == GENERIC ? NULL : s->methods[mi];
	grpc_metadata_array_init(&c->md);
	if (mi == GENERIC)
		grpc_call_details_init(&c->details);
	c->t_new = (struct tag){T_NEW, c};
	c->t_recv = (struct tag){T_RECV, c};
	c->t_done = (struct tag){T_DONE, c};
	c->t_send = (struct tag){T_SEND, c};
	c->t_close = (struct tag){T_CLOSE, c};
	c->status_details = grpc_empty_slice();
	return c;
}

static void call_free(struct call *c)
{
	if (c->sstate && c->m && c->m->stream)
		c->m->stream->free(c->sstate);
	if (c->payload)
		grpc_byte_buffer_destroy(c->payload);
	if (c->send_bb)
		grpc_byte_buffer_destroy(c->send_bb);
	grpc_slice_unref(c->status_details);
	grpc_metadata_array_destroy(&c->md);
	if (c->mi == GENERIC)
		grpc_call_details_destroy(&c->details);
	if (c->call)
		grpc_call_unref(c->call);
	if (c->h) {
		while (c->out_head) {
			struct outmsg *o = c->out_head;
			c->out_head = o->next;
			grpc_byte_buffer_destroy(o->bb);
			free(o);
		}
		md_free(c->init_md, c->n_init_md);
		md_free(c->trail_md, c->n_trail_md);
		free(c->method);
		pthread_mutex_destroy(&c->hmu);
		struct ctl_server *s = c->srv;
		free(c);
		pthread_mutex_lock(&s->mu);
		s->n_live--;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		return;
	}
	free(c);
}

/* Post one request for method mi (or the generic one). Failure is logged:
 * the method then has one fewer request in flight, never zero for long
 * because every accepted call re-posts. */
static void post_request(struct ctl_server *s, size_t mi)
{
	if (atomic_load(&s->stopping))
		return;
	struct call *c = call_new(s, mi);
	if (!c) {
		log_error("%s: out of memory posting a request", s->name);
		return;
	}
	grpc_call_error e;
	if (mi == GENERIC)
		e = grpc_server_request_call(s->server, &c->call, &c->details, &c->md, s->cq, s->cq,
					     &c->t_new);
	else
		e = grpc_server_request_registered_call(s->server, s->rm[mi], &c->call,
							&c->deadline, &c->md, NULL, s->cq, s->cq,
							&c->t_new);
	if (e != GRPC_CALL_OK) {
		log_error("%s: request_call: %s", s->name, grpc_call_error_to_string(e));
		call_free(c);
	}
}

/* Start a one-op receive batch: RECV_MESSAGE into c->payload (tag
 * t_recv) or RECV_CLOSE_ON_SERVER into c->cancelled (tag t_close). */
static grpc_call_error start_recv(struct call *c, grpc_op_type type)
{
	grpc_op op;
	memset(&op, 0, sizeof(op));
	op.op = type;
	if (type == GRPC_OP_RECV_MESSAGE)
		op.data.recv_message.recv_message = &c->payload;
	else
		op.data.recv_close_on_server.cancelled = &c->cancelled;
	return grpc_call_start_batch(c->call, &op, 1,
				     type == GRPC_OP_RECV_MESSAGE ? &c->t_recv : &c->t_close, NULL);
}

/* ---- unary replies ---------------------------------------------------- */

/* Finish a unary call (or refuse any call) with one batch; T_DONE frees. */
static void reply(struct call *c, grpc_status_code code, const char *details, const uint8_t *msg,
		  size_t len)
{
	grpc_op ops[4];
	size_t n = 0;
	memset(ops, 0, sizeof(ops));
	ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	if (code == GRPC_STATUS_OK && msg) {
		c->send_bb = bb_from_bytes(msg, len);
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = c->send_bb;
	}
	if (details && *details) {
		grpc_slice_unref(c->status_details);
		c->status_details = grpc_slice_from_copied_string(details);
	}
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = code;
	ops[n++].data.send_status_from_server.status_details = &c->status_details;
	ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
	grpc_call_error e = grpc_call_start_batch(c->call, ops, n, &c->t_done, NULL);
	if (e != GRPC_CALL_OK) {
		log_error("%s: reply batch: %s", c->srv->name, grpc_call_error_to_string(e));
		call_free(c);
	}
}

static void reply_ctl(struct call *c, const struct ctl_reply *r)
{
	reply(c, r->code, r->details, r->msg, r->len);
}

/* ---- auth ------------------------------------------------------------- */

/* "authorization: Bearer <token>" (scheme case-insensitive, RFC 7235).
 * 1 ok, 0 missing, -1 wrong. */
static int auth_check(const struct ctl_server *s, const grpc_metadata_array *md)
{
	static const char scheme[] = "bearer ";
	for (size_t i = 0; i < md->count; i++) {
		if (grpc_slice_str_cmp(md->metadata[i].key, "authorization") != 0)
			continue;
		grpc_slice v = md->metadata[i].value;
		size_t n = GRPC_SLICE_LENGTH(v);
		if (n < sizeof(scheme) - 1 ||
		    strncasecmp((const char *)GRPC_SLICE_START_PTR(v), scheme, sizeof(scheme) - 1))
			return -1;
		grpc_slice tok = grpc_slice_sub_no_ref(v, sizeof(scheme) - 1, n);
		return slice_equals_ct(tok, s->token) ? 1 : -1;
	}
	return 0;
}

/* ---- pumped streams (all under srv->mu) ------------------------------- */

/* The server's call lists (pumped streams, handler calls), under srv->mu. */
static void list_add(struct call **head, int *count, struct call *c)
{
	c->prev = NULL;
	c->next = *head;
	if (*head)
		(*head)->prev = c;
	*head = c;
	(*count)++;
}

static void list_del(struct call **head, int *count, struct call *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		*head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	(*count)--;
}

static void stream_maybe_free(struct call *c)
{
	if (c->closed && !c->sending)
		call_free(c);
}

/* Start the next send on a stream if one is due: a new message, or when the
 * producer is done (or the server stops) the final message and status. */
static void stream_pump(struct call *c)
{
	if (c->sending || c->status_sent || c->closed || c->dead)
		return;
	uint8_t *msg = NULL;
	size_t len = 0;
	int end = 0;
	int r = c->m->stream->next(c->sstate, &msg, &len);
	if (r < 0) {
		end = 1;
		r = 0;
	} else if (r == 0) {
		if (!atomic_load(&c->srv->stopping))
			return;
		r = c->m->stream->final(c->sstate, &msg, &len);
		end = 1;
	}
	grpc_op ops[3];
	size_t n = 0;
	memset(ops, 0, sizeof(ops));
	if (!c->sent_initial)
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	if (r == 1) {
		c->send_bb = bb_from_bytes(msg, len);
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = c->send_bb;
	}
	free(msg);
	if (end) {
		ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
		ops[n].data.send_status_from_server.status = GRPC_STATUS_OK;
		ops[n++].data.send_status_from_server.status_details = &c->status_details;
	}
	grpc_call_error e = grpc_call_start_batch(c->call, ops, n, &c->t_send, NULL);
	if (e != GRPC_CALL_OK) {
		log_error("%s: stream send batch: %s", c->srv->name, grpc_call_error_to_string(e));
		if (c->send_bb) {
			grpc_byte_buffer_destroy(c->send_bb);
			c->send_bb = NULL;
		}
		/* Nothing more can go out; RECV_CLOSE still reaps the call. */
		c->dead = 1;
		grpc_call_cancel(c->call, NULL);
		return;
	}
	c->sending = 1;
	c->sent_initial = 1;
	c->status_sent = end;
}

static void stream_start(struct call *c, const uint8_t *req, size_t len)
{
	struct ctl_server *s = c->srv;
	struct ctl_reply err = {.code = GRPC_STATUS_OK};
	pthread_mutex_lock(&s->mu);
	if (atomic_load(&s->stopping)) {
		ctl_reply_error(&err, GRPC_STATUS_UNAVAILABLE, "%s server is stopping", s->name);
	} else if (s->n_streams >= CTL_MAX_STREAMS) {
		ctl_reply_error(&err, GRPC_STATUS_RESOURCE_EXHAUSTED,
				"too many open streams (max %d)", CTL_MAX_STREAMS);
	} else if (c->m->stream->open(req, len, &c->sstate, &err) == 0) {
		grpc_call_error e = start_recv(c, GRPC_OP_RECV_CLOSE_ON_SERVER);
		if (e != GRPC_CALL_OK) {
			ctl_reply_error(&err, GRPC_STATUS_INTERNAL, "recv_close: %s",
					grpc_call_error_to_string(e));
		} else {
			list_add(&s->streams, &s->n_streams, c);
			stream_pump(c);
			pthread_mutex_unlock(&s->mu);
			return;
		}
	}
	pthread_mutex_unlock(&s->mu);
	reply_ctl(c, &err);
	ctl_reply_free(&err);
}

static void on_send_done(struct call *c, int ok)
{
	struct ctl_server *s = c->srv;
	pthread_mutex_lock(&s->mu);
	c->sending = 0;
	if (c->send_bb) {
		grpc_byte_buffer_destroy(c->send_bb);
		c->send_bb = NULL;
	}
	if (!ok)
		c->dead = 1; /* the peer is gone; RECV_CLOSE will follow */
	else
		stream_pump(c); /* something may have changed while in flight */
	stream_maybe_free(c);
	pthread_mutex_unlock(&s->mu);
}

static void on_close(struct call *c)
{
	struct ctl_server *s = c->srv;
	pthread_mutex_lock(&s->mu);
	c->closed = 1;
	list_del(&s->streams, &s->n_streams, c);
	stream_maybe_free(c);
	pthread_mutex_unlock(&s->mu);
}

static void pump_all_locked(struct ctl_server *s)
{
	for (struct call *c = s->streams; c; c = c->next)
		stream_pump(c);
}

static void *notifier_main(void *arg)
{
	struct ctl_server *s = arg;
	uint64_t gen = lifecycle_generation();
	while (!atomic_load(&s->stopping)) {
		pthread_mutex_lock(&s->mu);
		pump_all_locked(s);
		pthread_mutex_unlock(&s->mu);
		lifecycle_wait_change(&gen, NOTIFY_POLL_MS);
	}
	return NULL;
}

/* ---- call handlers ---------------------------------------------------- */

/* Start the next send batch of a handler call if one is due (under hmu):
 * initial metadata before anything else, then the queued messages one at
 * a time, the status with (or after) the last one. */
static void h_pump(struct call *c)
{
	if (c->sending || c->dead || c->done || c->status_sent)
		return;
	struct outmsg *o = c->out_head;
	int fin = c->finish_queued && (!o || !o->next);
	if (!o && !fin && (c->sent_initial || !c->init_md_set))
		return;
	grpc_op ops[3];
	size_t n = 0;
	memset(ops, 0, sizeof(ops));
	if (!c->sent_initial) {
		ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
		ops[n].data.send_initial_metadata.count = c->n_init_md;
		ops[n++].data.send_initial_metadata.metadata = c->init_md;
	}
	if (o) {
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = o->bb;
	}
	if (fin) {
		ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
		ops[n].data.send_status_from_server.status = c->finish_code;
		ops[n].data.send_status_from_server.status_details = &c->status_details;
		ops[n].data.send_status_from_server.trailing_metadata_count = c->n_trail_md;
		ops[n++].data.send_status_from_server.trailing_metadata = c->trail_md;
	}
	grpc_call_error e = grpc_call_start_batch(c->call, ops, n, &c->t_send, NULL);
	if (e != GRPC_CALL_OK) {
		log_error("%s: send batch: %s", c->srv->name, grpc_call_error_to_string(e));
		/* Nothing more can go out; RECV_CLOSE still ends the call. */
		c->dead = 1;
		grpc_call_cancel(c->call, NULL);
		return;
	}
	c->sending = 1;
	c->sent_initial = 1;
	c->batch_msg = o != NULL;
	c->status_sent = fin;
}

/* Everything over: tell the handler, once. 1 when that happened now (the
 * caller then drops the server's reference, outside hmu). */
static int h_maybe_done(struct call *c)
{
	if (!c->close_done || c->reading || c->sending || c->done)
		return 0;
	c->done = 1;
	if (c->h->on_done)
		c->h->on_done(CC(c));
	return 1;
}

static void h_unlink_and_unref(struct call *c)
{
	struct ctl_server *s = c->srv;
	pthread_mutex_lock(&s->mu);
	list_del(&s->hcalls, &s->n_hcalls, c);
	pthread_mutex_unlock(&s->mu);
	ctl_call_unref(CC(c));
}

/* A completion on a handler call. */
static void h_event(struct call *c, enum tag_kind kind, int ok)
{
	pthread_mutex_lock(&c->hmu);
	switch (kind) {
	case T_RECV: {
		c->reading = 0;
		grpc_byte_buffer *bb = c->payload;
		c->payload = NULL;
		grpc_byte_buffer_reader rd;
		if (bb && c->h->on_message_bb) {
			if (!c->done)
				c->h->on_message_bb(CC(c), bb);
			else
				grpc_byte_buffer_destroy(bb);
			bb = NULL;
		} else if (bb && grpc_byte_buffer_reader_init(&rd, bb)) {
			grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
			grpc_byte_buffer_reader_destroy(&rd);
			if (!c->done && c->h->on_message)
				c->h->on_message(CC(c), GRPC_SLICE_START_PTR(all), GRPC_SLICE_LENGTH(all));
			grpc_slice_unref(all);
		} else if (c->h->on_half_close) {
			c->h->on_half_close(CC(c));
		}
		if (bb)
			grpc_byte_buffer_destroy(bb);
		break;
	}
	case T_SEND:
		c->sending = 0;
		if (c->batch_msg) {
			struct outmsg *o = c->out_head;
			c->out_head = o->next;
			if (!c->out_head)
				c->out_tail = NULL;
			c->n_out--;
			grpc_byte_buffer_destroy(o->bb);
			free(o);
			c->batch_msg = 0;
			if (c->h->on_write_done)
				c->h->on_write_done(CC(c), ok);
		}
		if (!ok)
			c->dead = 1; /* the peer is gone; RECV_CLOSE will follow */
		else
			h_pump(c);
		break;
	case T_CLOSE:
		c->close_done = 1;
		if (c->cancelled) {
			c->is_cancelled = 1;
			c->dead = 1;
			if (c->h->on_cancel)
				c->h->on_cancel(CC(c));
		}
		break;
	default:
		break;
	}
	int done = h_maybe_done(c);
	pthread_mutex_unlock(&c->hmu);
	if (done)
		h_unlink_and_unref(c);
}

/* Hand an accepted call to handler h. */
static void h_start(struct call *c, const struct ctl_call_handler *h)
{
	struct ctl_server *s = c->srv;
	if (c->mi == GENERIC) {
		c->method = malloc(GRPC_SLICE_LENGTH(c->details.method) + 1);
		if (c->method)
			slice_to_cstr(c->details.method, c->method,
				      GRPC_SLICE_LENGTH(c->details.method) + 1);
		c->deadline = c->details.deadline;
	} else {
		c->method = strdup(c->m->path);
	}
	if (!c->method) {
		reply(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL, 0);
		return;
	}
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&c->hmu, &ma);
	pthread_mutexattr_destroy(&ma);
	/* From here call_free takes the handler path. */
	c->h = h;
	atomic_init(&c->refs, 1);
	pthread_mutex_lock(&s->mu);
	s->n_live++;
	if (atomic_load(&s->stopping)) {
		pthread_mutex_unlock(&s->mu);
		/* Not linked: finish like a table call, freed on T_DONE. */
		c->h = NULL;
		pthread_mutex_destroy(&c->hmu);
		free(c->method);
		c->method = NULL;
		pthread_mutex_lock(&s->mu);
		s->n_live--;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		reply(c, GRPC_STATUS_UNAVAILABLE, "server is stopping", NULL, 0);
		return;
	}
	list_add(&s->hcalls, &s->n_hcalls, c);
	pthread_mutex_unlock(&s->mu);

	/* hmu is held from before RECV_CLOSE is posted until on_start has
	 * returned, so no completion reaches the handler before on_start. */
	pthread_mutex_lock(&c->hmu);
	grpc_call_error e = start_recv(c, GRPC_OP_RECV_CLOSE_ON_SERVER);
	if (e != GRPC_CALL_OK) {
		/* Cannot happen on a fresh call; the handler never sees it. */
		log_error("%s: recv_close: %s", s->name, grpc_call_error_to_string(e));
		grpc_call_cancel(c->call, NULL);
		c->done = 1;
		pthread_mutex_unlock(&c->hmu);
		h_unlink_and_unref(c);
		return;
	}
	h->on_start(CC(c));
	pthread_mutex_unlock(&c->hmu);
}

const char *ctl_call_method(const struct ctl_call *cc)
{
	return ((const struct call *)cc)->method;
}

const grpc_metadata_array *ctl_call_metadata(const struct ctl_call *cc)
{
	return &((const struct call *)cc)->md;
}

int ctl_call_metadata_get(const struct ctl_call *cc, const char *key, char *buf, size_t cap)
{
	const grpc_metadata_array *md = ctl_call_metadata(cc);
	for (size_t i = 0; i < md->count; i++) {
		if (grpc_slice_str_cmp(md->metadata[i].key, key) == 0) {
			slice_to_cstr(md->metadata[i].value, buf, cap);
			return 1;
		}
	}
	return 0;
}

gpr_timespec ctl_call_deadline(const struct ctl_call *cc)
{
	return ((const struct call *)cc)->deadline;
}

void *ctl_call_server_arg(const struct ctl_call *cc)
{
	return ((const struct call *)cc)->srv->arg;
}

void ctl_call_set_state(struct ctl_call *cc, void *state)
{
	((struct call *)cc)->state = state;
}

void *ctl_call_state(const struct ctl_call *cc)
{
	return ((const struct call *)cc)->state;
}

/* Lock a handler call for an operation: 1 while it can still take one
 * (not over, not failed). The caller unlocks c->hmu either way. */
static int h_begin(struct call *c)
{
	pthread_mutex_lock(&c->hmu);
	return !c->done && !c->dead;
}

int ctl_call_read(struct ctl_call *cc)
{
	struct call *c = (struct call *)cc;
	int ok = h_begin(c) && !c->reading && start_recv(c, GRPC_OP_RECV_MESSAGE) == GRPC_CALL_OK;
	if (ok)
		c->reading = 1;
	pthread_mutex_unlock(&c->hmu);
	return ok ? 0 : -1;
}

int ctl_call_send_metadata(struct ctl_call *cc, const grpc_metadata *md, size_t n)
{
	struct call *c = (struct call *)cc;
	int ok = h_begin(c) && !c->init_md_set && !c->sent_initial &&
		 md_copy(md, n, &c->init_md) == 0;
	if (ok) {
		c->n_init_md = n;
		c->init_md_set = 1;
		h_pump(c);
	}
	pthread_mutex_unlock(&c->hmu);
	return ok ? 0 : -1;
}

int ctl_call_write(struct ctl_call *cc, const void *msg, size_t len)
{
	grpc_byte_buffer *bb = bb_from_bytes(msg, len);
	return bb ? ctl_call_write_bb(cc, bb) : -1;
}

int ctl_call_write_bb(struct ctl_call *cc, grpc_byte_buffer *bb)
{
	struct call *c = (struct call *)cc;
	struct outmsg *o = NULL;
	int ok = bb && h_begin(c) && !c->finish_queued && (o = calloc(1, sizeof(*o)));
	if (ok) {
		o->bb = bb;
		if (c->out_tail)
			c->out_tail->next = o;
		else
			c->out_head = o;
		c->out_tail = o;
		c->n_out++;
		h_pump(c);
	} else if (bb) {
		grpc_byte_buffer_destroy(bb);
	}
	if (bb)
		pthread_mutex_unlock(&c->hmu);
	return ok ? 0 : -1;
}

size_t ctl_call_pending_writes(const struct ctl_call *cc)
{
	struct call *c = (struct call *)cc;
	pthread_mutex_lock(&c->hmu);
	size_t n = c->n_out;
	pthread_mutex_unlock(&c->hmu);
	return n;
}

int ctl_call_finish(struct ctl_call *cc, grpc_status_code code, const char *details,
		    const grpc_metadata *trailing, size_t n)
{
	struct call *c = (struct call *)cc;
	int ok = h_begin(c) && !c->finish_queued && md_copy(trailing, n, &c->trail_md) == 0;
	if (ok) {
		c->n_trail_md = n;
		c->finish_code = code;
		if (details && *details) {
			grpc_slice_unref(c->status_details);
			c->status_details = grpc_slice_from_copied_string(details);
		}
		c->finish_queued = 1;
		h_pump(c);
	}
	pthread_mutex_unlock(&c->hmu);
	return ok ? 0 : -1;
}

void ctl_call_cancel(struct ctl_call *cc)
{
	struct call *c = (struct call *)cc;
	pthread_mutex_lock(&c->hmu);
	if (!c->done)
		grpc_call_cancel(c->call, NULL);
	pthread_mutex_unlock(&c->hmu);
}

int ctl_call_is_cancelled(const struct ctl_call *cc)
{
	struct call *c = (struct call *)cc;
	pthread_mutex_lock(&c->hmu);
	int v = c->is_cancelled;
	pthread_mutex_unlock(&c->hmu);
	return v;
}

void ctl_call_ref(struct ctl_call *cc)
{
	atomic_fetch_add(&((struct call *)cc)->refs, 1);
}

void ctl_call_unref(struct ctl_call *cc)
{
	struct call *c = (struct call *)cc;
	if (atomic_fetch_sub(&c->refs, 1) == 1)
		call_free(c);
}

/* ---- blocking calls --------------------------------------------------- */

struct job {
	struct call *c;
	uint8_t *req;
	size_t len;
};

static void *worker_main(void *arg)
{
	struct job *j = arg;
	struct ctl_server *s = j->c->srv;
	struct ctl_reply r = {.code = GRPC_STATUS_OK};
	j->c->m->unary(j->req, j->len, &r);
	reply_ctl(j->c, &r);
	ctl_reply_free(&r);
	free(j->req);
	free(j);
	pthread_mutex_lock(&s->mu);
	s->n_workers--;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static void run_blocking(struct call *c, const uint8_t *req, size_t len)
{
	struct ctl_server *s = c->srv;
	struct job *j = malloc(sizeof(*j));
	uint8_t *copy = malloc(len ? len : 1);
	const char *why = NULL;
	if (!j || !copy) {
		why = "out of memory";
	} else {
		pthread_mutex_lock(&s->mu);
		if (s->n_workers >= CTL_MAX_WORKERS)
			why = "too many slow calls in progress";
		else
			s->n_workers++;
		pthread_mutex_unlock(&s->mu);
	}
	if (!why) {
		memcpy(copy, req, len);
		*j = (struct job){c, copy, len};
		if (spawn(NULL, worker_main, j, 1) == 0)
			return;
		pthread_mutex_lock(&s->mu);
		s->n_workers--;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		why = "cannot start a worker thread";
	}
	free(j);
	free(copy);
	reply(c, GRPC_STATUS_RESOURCE_EXHAUSTED, why, NULL, 0);
}

/* ---- dispatch --------------------------------------------------------- */

/* A call arrived: refuse what can be refused from the headers alone, hand
 * it to its call handler, or read the request message. */
static void on_new_call(struct call *c)
{
	struct ctl_server *s = c->srv;
	if (c->mi == GENERIC) {
		if (s->generic) {
			h_start(c, s->generic);
			return;
		}
		char method[256];
		slice_to_cstr(c->details.method, method, sizeof(method));
		char msg[300];
		snprintf(msg, sizeof(msg), "unknown method %s", method);
		reply(c, GRPC_STATUS_UNIMPLEMENTED, msg, NULL, 0);
		return;
	}
	if (c->m->mutating && s->token) {
		int a = auth_check(s, &c->md);
		if (a <= 0) {
			reply(c, GRPC_STATUS_UNAUTHENTICATED,
			      a == 0 ? "missing bearer token (authorization metadata)"
				     : "invalid bearer token",
			      NULL, 0);
			return;
		}
	}
	if (c->m->call) {
		h_start(c, c->m->call);
		return;
	}
	grpc_call_error e = start_recv(c, GRPC_OP_RECV_MESSAGE);
	if (e != GRPC_CALL_OK) {
		log_error("%s: recv batch: %s", s->name, grpc_call_error_to_string(e));
		call_free(c);
	}
}

/* The request message of a table call is in (or is not coming): dispatch. */
static void on_message(struct call *c)
{
	const struct ctl_method *m = c->m;
	if (!c->payload) {
		/* The client half-closed without a message, or cancelled. */
		reply(c, GRPC_STATUS_INVALID_ARGUMENT, "missing request message", NULL, 0);
		return;
	}
	grpc_byte_buffer_reader rd;
	if (!grpc_byte_buffer_reader_init(&rd, c->payload)) {
		reply(c, GRPC_STATUS_INVALID_ARGUMENT, "unreadable request message", NULL, 0);
		return;
	}
	grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
	grpc_byte_buffer_reader_destroy(&rd);
	const uint8_t *req = GRPC_SLICE_START_PTR(all);
	size_t len = GRPC_SLICE_LENGTH(all);
	if (m->stream) {
		stream_start(c, req, len);
	} else if (m->blocking) {
		run_blocking(c, req, len);
	} else {
		struct ctl_reply r = {.code = GRPC_STATUS_OK};
		m->unary(req, len, &r);
		reply_ctl(c, &r);
		ctl_reply_free(&r);
	}
	grpc_slice_unref(all);
}

static void *cq_main(void *arg)
{
	struct ctl_server *s = arg;
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC),
							   NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type != GRPC_OP_COMPLETE)
			continue;
		struct tag *t = ev.tag;
		struct call *c = t->c;
		if (c && c->h && t->kind != T_NEW && t->kind != T_DONE) {
			h_event(c, t->kind, ev.success);
			continue;
		}
		switch (t->kind) {
		case T_NEW:
			if (!ev.success) {
				/* Server shutting down: the request was never matched. */
				call_free(c);
				break;
			}
			post_request(s, c->mi);
			on_new_call(c);
			break;
		case T_RECV:
			on_message(c);
			break;
		case T_DONE:
			call_free(c);
			break;
		case T_SEND:
			on_send_done(c, ev.success);
			break;
		case T_CLOSE:
			on_close(c);
			break;
		case T_SHUTDOWN:
			pthread_mutex_lock(&s->mu);
			s->shutdown_done = 1;
			pthread_cond_broadcast(&s->cv);
			pthread_mutex_unlock(&s->mu);
			break;
		}
	}
	return NULL;
}

/* ---- start / stop ----------------------------------------------------- */

static void set_control_endpoint(struct engine_info *info, void *arg)
{
	snprintf(info->control_endpoint, sizeof(info->control_endpoint), "%s", (const char *)arg);
}

static void unpublish(struct ctl_server *s)
{
	pthread_mutex_lock(&pub_mu);
	if (publisher == s)
		publisher = NULL;
	pthread_mutex_unlock(&pub_mu);
}

/* Destroy the server and its queue, drop our gRPC reference and free it.
 * Used to undo a partial start (the server never started, so no call
 * exists) and at the end of ctl_server_stop (every call already finished):
 * either way cq_shutdown may follow server_destroy directly. Without CQ
 * threads (start failed before them) the queue is drained here. */
static void destroy_server(struct ctl_server *s)
{
	if (s->server)
		grpc_server_destroy(s->server);
	grpc_completion_queue_shutdown(s->cq);
	if (s->n_cq_threads) {
		for (int i = 0; i < s->n_cq_threads; i++)
			pthread_join(s->cq_threads[i], NULL);
	} else {
		while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL)
			       .type != GRPC_QUEUE_SHUTDOWN) {
		}
	}
	grpc_completion_queue_destroy(s->cq);
	grpc_shutdown();
	unpublish(s);
	free(s->cq_threads);
	free(s->token);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static int add_methods(struct ctl_server *s, const struct ctl_service *svc)
{
	for (size_t i = 0; i < svc->n_methods; i++) {
		const struct ctl_method *m = &svc->methods[i];
		if (s->n_methods == MAX_METHODS)
			return -1;
		void *h = grpc_server_register_method(s->server, m->path, NULL,
						      GRPC_SRM_PAYLOAD_NONE, 0);
		if (!h)
			return -1;
		if (m->stream)
			s->has_notifier = 1;
		s->methods[s->n_methods] = m;
		s->rm[s->n_methods++] = h;
	}
	return 0;
}

/* Undo a start that failed after the publish claim (no gRPC yet). */
static struct ctl_server *refuse(struct ctl_server *s, int e)
{
	unpublish(s);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
	errno = e;
	return NULL;
}

/* Undo a start that failed after grpc_init. */
static struct ctl_server *fail_started(struct ctl_server *s, int e)
{
	destroy_server(s);
	errno = e;
	return NULL;
}

struct ctl_server *ctl_server_start(const struct ctl_server_opts *o, char *bound,
				    size_t boundlen, char *err, size_t errlen)
{
	struct ctl_server *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "control: out of memory");
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&s->mu, NULL);
	cond_init_monotonic(&s->cv);
	s->name = o->name ? o->name : "control";
	s->generic = o->generic;
	s->arg = o->arg;
	s->publish = o->publish_endpoint;
	s->stop_grace_ms = o->stop_grace_ms > 0 ? o->stop_grace_ms : CTL_STOP_GRACE_MS;
	if (s->publish) {
		pthread_mutex_lock(&pub_mu);
		int taken = publisher != NULL;
		if (!taken)
			publisher = s;
		pthread_mutex_unlock(&pub_mu);
		if (taken) {
			snprintf(err, errlen, "control server already running");
			return refuse(s, EALREADY);
		}
	}
	struct ctl_addr a;
	if (ctl_addr_parse(o->bind, &a, err, errlen) < 0)
		return refuse(s, EINVAL);
	int have_token = o->token && *o->token;
	if (!have_token && !o->allow_remote && !ctl_addr_is_loopback(&a)) {
		snprintf(err, errlen,
			 "%s address %s is not loopback: a control token is required "
			 "(--control-token-file or SPARKSHIM_CONTROL_TOKEN)",
			 s->name, o->bind);
		return refuse(s, EINVAL);
	}
	for (size_t i = 0; i < o->n_services; i++) {
		if (o->services[i]->on_start && o->services[i]->on_start() < 0) {
			snprintf(err, errlen, "%s: cannot start service %s", s->name,
				 o->services[i]->name);
			return refuse(s, ENOSPC);
		}
	}

	grpc_log_bridge_install();
	grpc_init();
	s->shutdown_tag = (struct tag){T_SHUTDOWN, NULL};
	s->token = have_token ? strdup(o->token) : NULL;
	s->want_cq_threads = o->cq_threads > 0 ? o->cq_threads : CTL_CQ_THREADS;
	s->cq_threads = calloc((size_t)s->want_cq_threads, sizeof(*s->cq_threads));
	size_t maxmsg = o->max_message ? o->max_message : DEFAULT_MAX_MESSAGE;
	if (maxmsg > INT32_MAX)
		maxmsg = INT32_MAX;
	grpc_arg args[] = {
		{.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
		 .value.integer = (int)maxmsg},
		/* gRPC sets SO_REUSEPORT by default: a second engine on the same
		 * port would then bind "successfully" and steal half the calls. */
		{.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_ALLOW_REUSEPORT, .value.integer = 0},
	};
	grpc_channel_args ca = {.num_args = sizeof(args) / sizeof(args[0]), .args = args};
	s->server = grpc_server_create(&ca, NULL);
	s->cq = grpc_completion_queue_create_for_next(NULL);
	grpc_server_register_completion_queue(s->server, s->cq, NULL);
	int reg_ok = (!have_token || s->token) && s->cq_threads;
	for (size_t i = 0; reg_ok && i < o->n_services; i++)
		reg_ok = add_methods(s, o->services[i]) == 0;
	if (!reg_ok) {
		snprintf(err, errlen, "%s: cannot register methods", s->name);
		return fail_started(s, ENOMEM);
	}
	grpc_server_credentials *creds =
		o->creds ? o->creds : grpc_insecure_server_credentials_create();
	int port = grpc_server_add_http2_port(s->server, o->bind, creds);
	if (!o->creds)
		grpc_server_credentials_release(creds);
	if (port <= 0) {
		int e = ctl_addr_bind_errno(&a);
		if (e > 0)
			snprintf(err, errlen, "cannot listen on %s address %s: %s", s->name, o->bind,
				 strerror(e));
		else
			snprintf(err, errlen, "cannot listen on %s address %s", s->name, o->bind);
		return fail_started(s, e > 0 ? e : EINVAL);
	}
	/* Threads first, server second: a thread that cannot start then leaves
	 * nothing but an unstarted server to undo. */
	for (int i = 0; i < s->want_cq_threads; i++) {
		if (spawn(&s->cq_threads[i], cq_main, s, 0) < 0) {
			snprintf(err, errlen, "%s: cannot start a completion queue thread", s->name);
			return fail_started(s, EAGAIN);
		}
		s->n_cq_threads++;
	}
	if (s->has_notifier && spawn(&s->notifier, notifier_main, s, 0) < 0) {
		snprintf(err, errlen, "%s: cannot start the notifier thread", s->name);
		return fail_started(s, EAGAIN);
	}
	grpc_server_start(s->server);
	for (size_t i = 0; i < s->n_methods; i++) {
		int depth = s->methods[i]->depth > 0 ? s->methods[i]->depth : DEPTH_DEFAULT;
		for (int d = 0; d < depth; d++)
			post_request(s, i);
	}
	int gdepth = o->generic_depth > 0 ? o->generic_depth : DEPTH_GENERIC_HANDLER;
	for (int d = 0; d < (s->generic ? gdepth : DEPTH_DEFAULT); d++)
		post_request(s, GENERIC);
	if (a.is_unix)
		snprintf(s->bound, sizeof(s->bound), "%s", o->bind);
	else
		ctl_addr_format(a.host, port, s->bound, sizeof(s->bound));
	snprintf(bound, boundlen, "%s", s->bound);
	if (s->publish)
		engine_info_update(set_control_endpoint, s->bound);
	char what[256] = "";
	for (size_t i = 0; i < o->n_services; i++)
		snprintf(what + strlen(what), sizeof(what) - strlen(what), "%s%s", i ? ", " : "",
			 o->services[i]->name);
	if (s->generic)
		snprintf(what + strlen(what), sizeof(what) - strlen(what), "%sany other method",
			 o->n_services ? ", " : "");
	log_info("%s: gRPC server (%s) listening on %s%s", s->name, what, s->bound,
		 have_token ? " (token required for mutating calls)" : "");
	return s;
}

/* Wait on s->cv until cond(s) (read under s->mu) is true; timeout_ms < 0 =
 * forever. 1 = true, 0 = timed out. */
static int wait_until(struct ctl_server *s, int (*cond)(const struct ctl_server *), int timeout_ms)
{
	struct timespec dl = deadline_after(CLOCK_MONOTONIC, timeout_ms);
	pthread_mutex_lock(&s->mu);
	int rc = 0;
	while (!(rc = cond(s))) {
		if (timeout_ms < 0)
			pthread_cond_wait(&s->cv, &s->mu);
		else if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT)
			break;
	}
	rc = cond(s);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int is_shutdown_done(const struct ctl_server *s) { return s->shutdown_done; }
static int nothing_left(const struct ctl_server *s) { return s->n_workers == 0 && s->n_live == 0; }

/* Tell every open handler call the server is stopping (outside s->mu:
 * the callbacks may take it). */
static void notify_handlers(struct ctl_server *s, struct call **list, int n)
{
	for (int i = 0; i < n; i++) {
		struct call *c = list[i];
		pthread_mutex_lock(&c->hmu);
		if (!c->done && c->h->on_server_stop)
			c->h->on_server_stop(CC(c));
		pthread_mutex_unlock(&c->hmu);
		ctl_call_unref(CC(c));
	}
	(void)s;
}

void ctl_server_stop(struct ctl_server *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	/* From here every stream pump ends its stream, and each send that
	 * completes chains the next one until the status is out. */
	atomic_store(&s->stopping, 1);
	pump_all_locked(s);
	struct call **hl = s->n_hcalls ? calloc((size_t)s->n_hcalls, sizeof(*hl)) : NULL;
	int nh = 0;
	for (struct call *c = s->hcalls; hl && c; c = c->next) {
		atomic_fetch_add(&c->refs, 1);
		hl[nh++] = c;
	}
	pthread_mutex_unlock(&s->mu);
	notify_handlers(s, hl, nh);
	free(hl);
	if (s->has_notifier) {
		lifecycle_kick();
		pthread_join(s->notifier, NULL);
	}

	grpc_server_shutdown_and_notify(s->server, s->cq, &s->shutdown_tag);
	if (!wait_until(s, is_shutdown_done, s->stop_grace_ms)) {
		log_warn("%s: calls or connections still open after %d ms, cancelling them",
			 s->name, s->stop_grace_ms);
		grpc_server_cancel_all_calls(s->server);
		wait_until(s, is_shutdown_done, -1);
	}
	/* A worker may still hold a call gRPC already let go of; it finishes
	 * within its own JVM timeout and must do so before the queue dies. So
	 * must every handler call (and its holders' references). */
	wait_until(s, nothing_left, -1);
	const char *name = s->name;
	/* Cleared before destroy_server gives up the claim. */
	if (s->publish)
		engine_info_update(set_control_endpoint, "");
	destroy_server(s);
	log_info("%s: server stopped", name);
}

int ctl_server_stream_count(struct ctl_server *s)
{
	if (!s)
		return 0;
	pthread_mutex_lock(&s->mu);
	int n = s->n_streams + s->n_hcalls;
	pthread_mutex_unlock(&s->mu);
	return n;
}

const char *ctl_server_address(const struct ctl_server *s)
{
	return s->bound;
}
