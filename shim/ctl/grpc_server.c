/* gRPC C core server for the control endpoint: binding, the CQ threads, call
 * dispatch to the method tables of ctl_service.h, Watch/Events stream
 * pumping and graceful shutdown.
 *
 * Call flow. Every call reads its one request message with an explicit
 * RECV batch (methods are registered with PAYLOAD_NONE): the token is
 * checked on the headers before any body is read, and a client that
 * half-closes without a message gets INVALID_ARGUMENT from our code. The
 * extra completion costs nothing measurable next to the HTTP/2 work.
 *   unary:  NEW -> token check -> RECV -> handler -> one batch {initial md,
 *           message, status, RECV_CLOSE} -> DONE -> free
 *   stream: NEW -> RECV -> open -> {RECV_CLOSE} pending for the whole life,
 *           plus at most one send batch at a time (SEND) -> ... -> a batch
 *           carrying the status -> CLOSE and no send pending -> free
 * Unknown methods arrive through the generic grpc_server_request_call and
 * get UNIMPLEMENTED. Oversized requests never reach us: the server's
 * max_receive_message_length makes gRPC fail them with RESOURCE_EXHAUSTED.
 *
 * Locking: srv.mu guards the stream list, every stream's send state and
 * the worker count. Batches on a stream are started only under srv.mu
 * (from a CQ thread, the notifier or ctl_server_stop), which is how gRPC
 * wants concurrent start_batch calls on one call serialized. Unary calls
 * are touched by one thread at a time (a CQ thread, or the worker it hands
 * the call to) and need no lock. */
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
#include "shim/ctl/ctl_addr.h"
#include "shim/ctl/ctl_service.h"
#include "shim/ctl/event_log.h"
#include "shim/ctl/grpc_util.h"

#define DEFAULT_MAX_MESSAGE (64 * 1024)
/* Requests kept posted per method: Check is what probes hammer. */
#define DEPTH_HOT 32
#define DEPTH_COLD 4
#define MAX_METHODS 16
#define GENERIC SIZE_MAX /* method index of unknown-method calls */
/* The notifier re-checks streams this often even without a wake-up, as a
 * safety net for a connect_alive change nobody kicked. */
#define NOTIFY_POLL_MS 1000

enum tag_kind { T_NEW, T_RECV, T_DONE, T_SEND, T_CLOSE, T_SHUTDOWN };

struct call;
struct tag {
	enum tag_kind kind;
	struct call *c;
};

struct call {
	size_t mi;                   /* index into srv.methods, or GENERIC */
	const struct ctl_method *m;  /* NULL for GENERIC */
	grpc_call *call;
	gpr_timespec deadline;
	grpc_metadata_array md;
	grpc_byte_buffer *payload;   /* request message, or NULL */
	grpc_call_details details;   /* GENERIC only */
	struct tag t_new, t_recv, t_done, t_send, t_close;
	grpc_byte_buffer *send_bb;   /* message of the batch in flight */
	grpc_slice status_details;
	int cancelled;               /* RECV_CLOSE_ON_SERVER result */
	/* streams, under srv.mu */
	void *sstate;
	int sent_initial, sending, status_sent, closed, dead;
	struct call *prev, *next;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;           /* shutdown_done, n_workers */
	int running;
	grpc_server *server;
	grpc_completion_queue *cq;
	pthread_t cq_threads[CTL_CQ_THREADS], notifier;
	int n_cq_threads;
	const struct ctl_method *methods[MAX_METHODS];
	void *rm[MAX_METHODS];
	size_t n_methods;
	char *token;
	atomic_int stopping;
	struct call *streams;
	int n_streams;
	int n_workers;
	int shutdown_done;
	struct tag shutdown_tag;
} srv = {.mu = PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t cv_once = PTHREAD_ONCE_INIT;

static void init_cv(void)
{
	cond_init_monotonic(&srv.cv);
}

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
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	if (detached)
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_t t;
	int rc = pthread_create(&t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return -1;
	if (tid)
		*tid = t;
	return 0;
}

/* ---- call objects ----------------------------------------------------- */

static struct call *call_new(size_t mi)
{
	struct call *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->mi = mi;
	c->m = mi == GENERIC ? NULL : srv.methods[mi];
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
	free(c);
}

/* Post one request for method mi (or the generic one). Failure is logged:
 * the method then has one fewer request in flight, never zero for long
 * because every accepted call re-posts. */
static void post_request(size_t mi)
{
	if (atomic_load(&srv.stopping))
		return;
	struct call *c = call_new(mi);
	if (!c) {
		log_error("control: out of memory posting a request");
		return;
	}
	grpc_call_error e;
	if (mi == GENERIC)
		e = grpc_server_request_call(srv.server, &c->call, &c->details, &c->md, srv.cq,
					     srv.cq, &c->t_new);
	else
		e = grpc_server_request_registered_call(srv.server, srv.rm[mi], &c->call,
							&c->deadline, &c->md, NULL, srv.cq, srv.cq,
							&c->t_new);
	if (e != GRPC_CALL_OK) {
		log_error("control: request_call: %s", grpc_call_error_to_string(e));
		call_free(c);
	}
}

/* ---- unary replies ---------------------------------------------------- */

/* Finish a unary call (or refuse a stream) with one batch; T_DONE frees. */
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
		log_error("control: reply batch: %s", grpc_call_error_to_string(e));
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
static int auth_check(const grpc_metadata_array *md)
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
		return slice_equals_ct(tok, srv.token) ? 1 : -1;
	}
	return 0;
}

/* ---- streams (all under srv.mu) --------------------------------------- */

static void stream_unlink(struct call *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		srv.streams = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	srv.n_streams--;
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
		if (!atomic_load(&srv.stopping))
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
		log_error("control: stream send batch: %s", grpc_call_error_to_string(e));
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
	struct ctl_reply err = {.code = GRPC_STATUS_OK};
	pthread_mutex_lock(&srv.mu);
	if (atomic_load(&srv.stopping)) {
		ctl_reply_error(&err, GRPC_STATUS_UNAVAILABLE, "control server is stopping");
	} else if (srv.n_streams >= CTL_MAX_STREAMS) {
		ctl_reply_error(&err, GRPC_STATUS_RESOURCE_EXHAUSTED,
				"too many open streams (max %d)", CTL_MAX_STREAMS);
	} else if (c->m->stream->open(req, len, &c->sstate, &err) == 0) {
		grpc_op op;
		memset(&op, 0, sizeof(op));
		op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
		op.data.recv_close_on_server.cancelled = &c->cancelled;
		grpc_call_error e = grpc_call_start_batch(c->call, &op, 1, &c->t_close, NULL);
		if (e != GRPC_CALL_OK) {
			ctl_reply_error(&err, GRPC_STATUS_INTERNAL, "recv_close: %s",
					grpc_call_error_to_string(e));
		} else {
			c->next = srv.streams;
			if (srv.streams)
				srv.streams->prev = c;
			srv.streams = c;
			srv.n_streams++;
			stream_pump(c);
			pthread_mutex_unlock(&srv.mu);
			return;
		}
	}
	pthread_mutex_unlock(&srv.mu);
	reply_ctl(c, &err);
	ctl_reply_free(&err);
}

static void on_send_done(struct call *c, int ok)
{
	pthread_mutex_lock(&srv.mu);
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
	pthread_mutex_unlock(&srv.mu);
}

static void on_close(struct call *c)
{
	pthread_mutex_lock(&srv.mu);
	c->closed = 1;
	stream_unlink(c);
	stream_maybe_free(c);
	pthread_mutex_unlock(&srv.mu);
}

static void pump_all_locked(void)
{
	for (struct call *c = srv.streams; c; c = c->next)
		stream_pump(c);
}

static void *notifier_main(void *arg)
{
	(void)arg;
	uint64_t gen = lifecycle_generation();
	while (!atomic_load(&srv.stopping)) {
		pthread_mutex_lock(&srv.mu);
		pump_all_locked();
		pthread_mutex_unlock(&srv.mu);
		lifecycle_wait_change(&gen, NOTIFY_POLL_MS);
	}
	return NULL;
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
	struct ctl_reply r = {.code = GRPC_STATUS_OK};
	j->c->m->unary(j->req, j->len, &r);
	reply_ctl(j->c, &r);
	ctl_reply_free(&r);
	free(j->req);
	free(j);
	pthread_mutex_lock(&srv.mu);
	srv.n_workers--;
	pthread_cond_broadcast(&srv.cv);
	pthread_mutex_unlock(&srv.mu);
	return NULL;
}

static void run_blocking(struct call *c, const uint8_t *req, size_t len)
{
	struct job *j = malloc(sizeof(*j));
	uint8_t *copy = malloc(len ? len : 1);
	const char *why = NULL;
	if (!j || !copy) {
		why = "out of memory";
	} else {
		pthread_mutex_lock(&srv.mu);
		if (srv.n_workers >= CTL_MAX_WORKERS)
			why = "too many slow calls in progress";
		else
			srv.n_workers++;
		pthread_mutex_unlock(&srv.mu);
	}
	if (!why) {
		memcpy(copy, req, len);
		*j = (struct job){c, copy, len};
		if (spawn(NULL, worker_main, j, 1) == 0)
			return;
		pthread_mutex_lock(&srv.mu);
		srv.n_workers--;
		pthread_cond_broadcast(&srv.cv);
		pthread_mutex_unlock(&srv.mu);
		why = "cannot start a worker thread";
	}
	free(j);
	free(copy);
	reply(c, GRPC_STATUS_RESOURCE_EXHAUSTED, why, NULL, 0);
}

/* ---- dispatch --------------------------------------------------------- */

/* A call arrived: refuse what can be refused from the headers alone, else
 * read the request message. */
static void on_new_call(struct call *c)
{
	if (c->mi == GENERIC) {
		char method[256];
		slice_to_cstr(c->details.method, method, sizeof(method));
		char msg[300];
		snprintf(msg, sizeof(msg), "unknown method %s", method);
		reply(c, GRPC_STATUS_UNIMPLEMENTED, msg, NULL, 0);
		return;
	}
	if (c->m->mutating && srv.token) {
		int a = auth_check(&c->md);
		if (a <= 0) {
			reply(c, GRPC_STATUS_UNAUTHENTICATED,
			      a == 0 ? "missing bearer token (authorization metadata)"
				     : "invalid bearer token",
			      NULL, 0);
			return;
		}
	}
	grpc_op op;
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &c->payload;
	grpc_call_error e = grpc_call_start_batch(c->call, &op, 1, &c->t_recv, NULL);
	if (e != GRPC_CALL_OK) {
		log_error("control: recv batch: %s", grpc_call_error_to_string(e));
		call_free(c);
	}
}

/* The request message is in (or is not coming): dispatch. */
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
	(void)arg;
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(srv.cq, gpr_inf_future(GPR_CLOCK_MONOTONIC),
							   NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type != GRPC_OP_COMPLETE)
			continue;
		struct tag *t = ev.tag;
		struct call *c = t->c;
		switch (t->kind) {
		case T_NEW:
			if (!ev.success) {
				/* Server shutting down: the request was never matched. */
				call_free(c);
				break;
			}
			post_request(c->mi);
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
			pthread_mutex_lock(&srv.mu);
			srv.shutdown_done = 1;
			pthread_cond_broadcast(&srv.cv);
			pthread_mutex_unlock(&srv.mu);
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

static void join_cq_threads(void)
{
	for (int i = 0; i < srv.n_cq_threads; i++)
		pthread_join(srv.cq_threads[i], NULL);
	srv.n_cq_threads = 0;
}

/* Destroy the server and its queue and drop our gRPC reference. Used to
 * undo a partial start (the server never started, so no call exists) and
 * at the end of ctl_server_stop (every call already finished): either way
 * cq_shutdown may follow server_destroy directly. Without CQ threads (start
 * failed before them) the queue is drained here. */
static void destroy_server(void)
{
	if (srv.server)
		grpc_server_destroy(srv.server);
	grpc_completion_queue_shutdown(srv.cq);
	if (srv.n_cq_threads) {
		join_cq_threads();
	} else {
		while (grpc_completion_queue_next(srv.cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL)
			       .type != GRPC_QUEUE_SHUTDOWN) {
		}
	}
	grpc_completion_queue_destroy(srv.cq);
	free(srv.token);
	srv.server = NULL;
	srv.cq = NULL;
	srv.token = NULL;
	srv.n_methods = 0;
	grpc_shutdown();
}

static int add_methods(const struct ctl_method *tab, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (srv.n_methods == MAX_METHODS)
			return -1;
		void *h = grpc_server_register_method(srv.server, tab[i].path, NULL,
						      GRPC_SRM_PAYLOAD_NONE, 0);
		if (!h)
			return -1;
		srv.methods[srv.n_methods] = &tab[i];
		srv.rm[srv.n_methods++] = h;
	}
	return 0;
}

int ctl_server_start(const struct ctl_server_opts *o, char *bound, size_t boundlen, char *err,
		     size_t errlen)
{
	pthread_once(&cv_once, init_cv);
	if (srv.running) {
		snprintf(err, errlen, "control server already running");
		errno = EALREADY;
		return -1;
	}
	struct ctl_addr a;
	if (ctl_addr_parse(o->bind, &a, err, errlen) < 0) {
		errno = EINVAL;
		return -1;
	}
	int have_token = o->token && *o->token;
	if (!have_token && !ctl_addr_is_loopback(&a)) {
		snprintf(err, errlen,
			 "control address %s is not loopback: a control token is required "
			 "(--control-token-file or SPARKSHIM_CONTROL_TOKEN)",
			 o->bind);
		errno = EINVAL;
		return -1;
	}
	if (event_log_attach() < 0) {
		snprintf(err, errlen, "control: cannot register a lifecycle listener");
		errno = ENOSPC;
		return -1;
	}

	grpc_log_bridge_install();
	grpc_init();
	atomic_store(&srv.stopping, 0);
	srv.shutdown_done = 0;
	srv.shutdown_tag = (struct tag){T_SHUTDOWN, NULL};
	srv.n_streams = 0;
	srv.n_workers = 0;
	srv.streams = NULL;
	srv.token = have_token ? strdup(o->token) : NULL;
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
	srv.server = grpc_server_create(&ca, NULL);
	srv.cq = grpc_completion_queue_create_for_next(NULL);
	grpc_server_register_completion_queue(srv.server, srv.cq, NULL);
	if ((have_token && !srv.token) || add_methods(health_methods, n_health_methods) < 0 ||
	    add_methods(control_methods, n_control_methods) < 0) {
		snprintf(err, errlen, "control: cannot register methods");
		destroy_server();
		errno = ENOMEM;
		return -1;
	}
	grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
	int port = grpc_server_add_http2_port(srv.server, o->bind, creds);
	grpc_server_credentials_release(creds);
	if (port <= 0) {
		int e = ctl_addr_bind_errno(&a);
		if (e > 0)
			snprintf(err, errlen, "cannot listen on control address %s: %s", o->bind,
				 strerror(e));
		else
			snprintf(err, errlen, "cannot listen on control address %s", o->bind);
		destroy_server();
		errno = e > 0 ? e : EINVAL;
		return -1;
	}
	/* Threads first, server second: a thread that cannot start then leaves
	 * nothing but an unstarted server to undo. */
	srv.n_cq_threads = 0;
	for (int i = 0; i < CTL_CQ_THREADS; i++) {
		if (spawn(&srv.cq_threads[i], cq_main, NULL, 0) < 0) {
			snprintf(err, errlen, "control: cannot start a completion queue thread");
			destroy_server();
			errno = EAGAIN;
			return -1;
		}
		srv.n_cq_threads++;
	}
	if (spawn(&srv.notifier, notifier_main, NULL, 0) < 0) {
		snprintf(err, errlen, "control: cannot start the notifier thread");
		destroy_server();
		errno = EAGAIN;
		return -1;
	}
	grpc_server_start(srv.server);
	for (size_t i = 0; i < srv.n_methods; i++) {
		int depth = strcmp(srv.methods[i]->path, "/grpc.health.v1.Health/Check") == 0
				    ? DEPTH_HOT
				    : DEPTH_COLD;
		for (int d = 0; d < depth; d++)
			post_request(i);
	}
	for (int d = 0; d < DEPTH_COLD; d++)
		post_request(GENERIC);
	if (a.is_unix)
		snprintf(bound, boundlen, "%s", o->bind);
	else
		ctl_addr_format(a.host, port, bound, boundlen);
	srv.running = 1;
	engine_info_update(set_control_endpoint, bound);
	log_info("control: gRPC health and control service listening on %s%s", bound,
		 have_token ? " (token required for mutating calls)" : "");
	return 0;
}

/* Wait on srv.cv until *flag (read under srv.mu) is true; timeout_ms < 0 =
 * forever. 1 = true, 0 = timed out. */
static int wait_until(int (*cond)(void), int timeout_ms)
{
	struct timespec dl = deadline_after(CLOCK_MONOTONIC, timeout_ms);
	pthread_mutex_lock(&srv.mu);
	int rc = 0;
	while (!(rc = cond())) {
		if (timeout_ms < 0)
			pthread_cond_wait(&srv.cv, &srv.mu);
		else if (pthread_cond_timedwait(&srv.cv, &srv.mu, &dl) == ETIMEDOUT)
			break;
	}
	rc = cond();
	pthread_mutex_unlock(&srv.mu);
	return rc;
}

static int is_shutdown_done(void) { return srv.shutdown_done; }
static int no_workers(void) { return srv.n_workers == 0; }

void ctl_server_stop(void)
{
	pthread_mutex_lock(&srv.mu);
	if (!srv.running) {
		pthread_mutex_unlock(&srv.mu);
		return;
	}
	srv.running = 0;
	/* From here every stream pump ends its stream, and each send that
	 * completes chains the next one until the status is out. */
	atomic_store(&srv.stopping, 1);
	pump_all_locked();
	pthread_mutex_unlock(&srv.mu);
	lifecycle_kick();
	pthread_join(srv.notifier, NULL);

	grpc_server_shutdown_and_notify(srv.server, srv.cq, &srv.shutdown_tag);
	if (!wait_until(is_shutdown_done, CTL_STOP_GRACE_MS)) {
		log_warn("control: calls still open after %d ms, cancelling them",
			 CTL_STOP_GRACE_MS);
		grpc_server_cancel_all_calls(srv.server);
		wait_until(is_shutdown_done, -1);
	}
	/* A worker may still hold a call gRPC already let go of; it finishes
	 * within its own JVM timeout and must do so before the queue dies. */
	wait_until(no_workers, -1);
	destroy_server();
	engine_info_update(set_control_endpoint, "");
	log_info("control: server stopped");
}

int ctl_server_stream_count(void)
{
	pthread_mutex_lock(&srv.mu);
	int n = srv.n_streams;
	pthread_mutex_unlock(&srv.mu);
	return n;
}
