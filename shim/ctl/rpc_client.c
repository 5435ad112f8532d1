#include "shim/ctl/rpc_client.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "shim/ctl/ctl_addr.h"
#include "shim/ctl/grpc_util.h"

void rpc_target(const char *addr, char *buf, size_t cap)
{
	struct ctl_addr a;
	char err[8];
	unsigned char bin[16];
	/* Anything with a scheme, or not host:port, goes to gRPC unchanged. */
	if (strncmp(addr, "unix:", 5) == 0 || strncmp(addr, "dns:", 4) == 0 ||
	    strncmp(addr, "ipv4:", 5) == 0 || strncmp(addr, "ipv6:", 5) == 0 ||
	    ctl_addr_parse(addr, &a, err, sizeof(err)) < 0) {
		snprintf(buf, cap, "%s", addr);
		return;
	}
	/* "localhost" is loopback by definition; resolving it through c-ares
	 * 1.18 (Debian 12) also leaks the name on every resolution. */
	const char *scheme = NULL, *host = a.host;
	if (strcasecmp(a.host, "localhost") == 0) {
		scheme = "ipv4:";
		host = "127.0.0.1";
	} else if (inet_pton(AF_INET, a.host, bin) == 1) {
		scheme = "ipv4:";
	} else if (inet_pton(AF_INET6, a.host, bin) == 1) {
		scheme = "ipv6:";
	}
	if (!scheme || cap <= 5) {
		snprintf(buf, cap, "%s", addr);
		return;
	}
	memcpy(buf, scheme, 6); /* with its NUL */
	ctl_addr_format(host, a.port, buf + 5, cap - 5);
}

grpc_channel *rpc_channel_open(const char *addr)
{
	/* A literal address skips gRPC's DNS resolver (c-ares) altogether:
	 * faster for a probe every few seconds, and nothing to resolve. */
	char target[320];
	rpc_target(addr, target, sizeof(target));
	/* GRPC_ARG_MIN_RECONNECT_BACKOFF_MS is also gRPC's connect+handshake
	 * timeout: 5 s gives a busy JVM time to answer the HTTP/2 preface, yet
	 * a wedged peer does not pin a half-open connection for the default
	 * 20 s. Call deadlines bound every wait of ours anyway. */
	grpc_arg args[] = {
		{.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_ENABLE_HTTP_PROXY, .value.integer = 0},
		{.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL,
		 .value.integer = 1},
		{.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
		 .value.integer = 100},
		{.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
		 .value.integer = 5000},
		{.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
		 .value.integer = 1000},
	};
	grpc_channel_args ca = {.num_args = sizeof(args) / sizeof(args[0]), .args = args};
	grpc_channel_credentials *creds = grpc_insecure_credentials_create();
	grpc_channel *ch = grpc_channel_create(target, creds, &ca);
	grpc_channel_credentials_release(creds);
	return ch;
}

/* Metadata for an optional bearer token; the caller unrefs the slices with
 * auth_md_free(). */
static size_t auth_md(const char *token, grpc_metadata *md)
{
	if (!token)
		return 0;
	char *v;
	if (asprintf(&v, "Bearer %s", token) < 0)
		return 0;
	memset(md, 0, sizeof(*md));
	md->key = grpc_slice_from_static_string("authorization");
	md->value = grpc_slice_from_copied_string(v);
	free(v);
	return 1;
}

static void auth_md_free(grpc_metadata *md, size_t n)
{
	if (n)
		grpc_slice_unref(md->value);
}

/* Shut a private pluck queue down and reap it. */
static void cq_dispose(grpc_completion_queue *cq)
{
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
		       .type != GRPC_QUEUE_SHUTDOWN) {
	}
	grpc_completion_queue_destroy(cq);
}

void rpc_result_free(struct rpc_result *r)
{
	free(r->resp);
	r->resp = NULL;
	r->resp_len = 0;
}

int rpc_unary(grpc_channel *ch, const char *method, const void *req, size_t req_len,
	      const char *token, int timeout_ms, struct rpc_result *out)
{
	grpc_metadata md;
	size_t nmd = auth_md(token, &md);
	int rc = rpc_unary_md(ch, method, req, req_len, nmd ? &md : NULL, nmd, timeout_ms, out);
	auth_md_free(&md, nmd);
	return rc;
}

int rpc_unary_md(grpc_channel *ch, const char *method, const void *req, size_t req_len,
		 const grpc_metadata *md, size_t nmd, int timeout_ms, struct rpc_result *out)
{
	memset(out, 0, sizeof(*out));
	out->status = GRPC_STATUS_UNKNOWN;
	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_slice mslice = grpc_slice_from_static_string(method);
	grpc_call *call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, mslice,
						   NULL, deadline_after_ms(timeout_ms), NULL);
	if (!call) {
		snprintf(out->details, sizeof(out->details), "cannot create call");
		cq_dispose(cq);
		return -1;
	}
	grpc_byte_buffer *send = bb_from_bytes(req, req_len);
	grpc_byte_buffer *recv = NULL;
	grpc_metadata_array initial, trailing;
	grpc_metadata_array_init(&initial);
	grpc_metadata_array_init(&trailing);
	grpc_slice details = grpc_empty_slice();
	grpc_op ops[6];
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = nmd;
	/* start_batch copies the metadata, it never writes through it */
	ops[0].data.send_initial_metadata.metadata = (grpc_metadata *)md;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
	ops[5].data.recv_status_on_client.status = &out->status;
	ops[5].data.recv_status_on_client.status_details = &details;
	int rc = -1;
	grpc_call_error ce = grpc_call_start_batch(call, ops, 6, (void *)1, NULL);
	if (ce != GRPC_CALL_OK) {
		snprintf(out->details, sizeof(out->details), "start_batch: %s",
			 grpc_call_error_to_string(ce));
	} else {
		/* The call deadline bounds this wait: RECV_STATUS always completes. */
		grpc_completion_queue_pluck(cq, (void *)1, gpr_inf_future(GPR_CLOCK_REALTIME),
					    NULL);
		slice_to_cstr(details, out->details, sizeof(out->details));
		rc = 0;
		if (recv && bb_to_bytes(recv, &out->resp, &out->resp_len) < 0) {
			snprintf(out->details, sizeof(out->details), "out of memory");
			rc = -1;
		}
	}
	if (recv)
		grpc_byte_buffer_destroy(recv);
	grpc_byte_buffer_destroy(send);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&initial);
	grpc_metadata_array_destroy(&trailing);
	grpc_call_unref(call);
	cq_dispose(cq);
	return rc;
}

/* Tags of the stream's batches: one of each kind may be outstanding. */
enum { TAG_SEND = 1, TAG_STATUS, TAG_RECV, TAG_INITIAL, TAG_HEADERS };

struct rpc_stream {
	grpc_completion_queue *cq;
	grpc_call *call;
	grpc_byte_buffer *send;
	grpc_metadata_array initial, trailing;
	grpc_slice details_slice;
	char details[512];
	grpc_status_code status;
	grpc_byte_buffer *recv;
	int send_pending, status_pending, recv_pending, initial_pending, headers_pending, ended;
	int send_ok;     /* result of the last send batch */
	int closed_send; /* SEND_CLOSE_FROM_CLIENT queued */
};

int rpc_stream_start(grpc_channel *ch, const char *method, const grpc_metadata *md, size_t nmd,
		     int timeout_ms, struct rpc_stream **out, char *err, size_t errlen)
{
	*out = NULL;
	struct rpc_stream *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->status = GRPC_STATUS_UNKNOWN;
	s->details_slice = grpc_empty_slice();
	grpc_metadata_array_init(&s->initial);
	grpc_metadata_array_init(&s->trailing);
	s->cq = grpc_completion_queue_create_for_pluck(NULL);
	s->call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq,
					   grpc_slice_from_static_string(method), NULL,
					   deadline_after_ms(timeout_ms), NULL);
	if (!s->call) {
		snprintf(err, errlen, "cannot create call");
		rpc_stream_close(s);
		return -1;
	}
	/* Three independent batches, none waited for here: our headers (reaped
	 * at close), the server's headers (gRPC hands out the status only once
	 * they are read) and the status. Messages get their own batches. */
	grpc_op ops[1];
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = nmd;
	/* start_batch copies the metadata, it never writes through it */
	ops[0].data.send_initial_metadata.metadata = (grpc_metadata *)md;
	grpc_call_error ce = grpc_call_start_batch(s->call, ops, 1, (void *)TAG_HEADERS, NULL);
	if (ce == GRPC_CALL_OK) {
		s->headers_pending = 1;
		memset(ops, 0, sizeof(ops));
		ops[0].op = GRPC_OP_RECV_INITIAL_METADATA;
		ops[0].data.recv_initial_metadata.recv_initial_metadata = &s->initial;
		ce = grpc_call_start_batch(s->call, ops, 1, (void *)TAG_INITIAL, NULL);
	}
	if (ce == GRPC_CALL_OK) {
		s->initial_pending = 1;
		memset(ops, 0, sizeof(ops));
		ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
		ops[0].data.recv_status_on_client.trailing_metadata = &s->trailing;
		ops[0].data.recv_status_on_client.status = &s->status;
		ops[0].data.recv_status_on_client.status_details = &s->details_slice;
		ce = grpc_call_start_batch(s->call, ops, 1, (void *)TAG_STATUS, NULL);
	}
	if (ce != GRPC_CALL_OK) {
		snprintf(err, errlen, "start_batch: %s", grpc_call_error_to_string(ce));
		rpc_stream_close(s);
		return -1;
	}
	s->status_pending = 1;
	*out = s;
	return 0;
}

/* Wait for the send batch in flight, if any: 1 done, 0 still pending. */
static int reap_send(struct rpc_stream *s, int wait_ms)
{
	if (!s->send_pending)
		return 1;
	grpc_event ev = grpc_completion_queue_pluck(s->cq, (void *)TAG_SEND,
						    deadline_after_ms(wait_ms), NULL);
	if (ev.type == GRPC_QUEUE_TIMEOUT)
		return 0;
	s->send_pending = 0;
	s->send_ok = ev.success;
	if (s->send) {
		grpc_byte_buffer_destroy(s->send);
		s->send = NULL;
	}
	return 1;
}

/* Start a send batch (after the previous one is reaped). */
static int start_send(struct rpc_stream *s, const void *msg, size_t len, int close, int wait_ms)
{
	if (!reap_send(s, wait_ms))
		return -2;
	if (s->closed_send || s->ended)
		return -1;
	grpc_op ops[2];
	size_t n = 0;
	memset(ops, 0, sizeof(ops));
	if (msg) {
		s->send = bb_from_bytes(msg, len);
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = s->send;
	}
	if (close)
		ops[n++].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	if (grpc_call_start_batch(s->call, ops, n, (void *)TAG_SEND, NULL) != GRPC_CALL_OK) {
		if (s->send) {
			grpc_byte_buffer_destroy(s->send);
			s->send = NULL;
		}
		return -1;
	}
	s->send_pending = 1;
	s->closed_send = close;
	return 0;
}

int rpc_stream_write(struct rpc_stream *s, const void *msg, size_t len, int wait_ms)
{
	int rc = start_send(s, msg ? msg : "", len, 0, wait_ms);
	if (rc < 0)
		return rc;
	if (!reap_send(s, wait_ms))
		return -2;
	return s->send_ok ? 0 : -1;
}

int rpc_stream_close_send(struct rpc_stream *s, int wait_ms)
{
	int rc = start_send(s, NULL, 0, 1, wait_ms);
	if (rc < 0)
		return rc;
	if (!reap_send(s, wait_ms))
		return -2;
	return s->send_ok ? 0 : -1;
}

int rpc_stream_open(grpc_channel *ch, const char *method, const void *req, size_t req_len,
		    const char *token, int timeout_ms, struct rpc_stream **out, char *err,
		    size_t errlen)
{
	grpc_metadata md;
	size_t nmd = auth_md(token, &md);
	int rc = rpc_stream_start(ch, method, nmd ? &md : NULL, nmd, timeout_ms, out, err, errlen);
	/* Metadata is copied by start_batch; our slice can go now. */
	auth_md_free(&md, nmd);
	if (rc < 0)
		return -1;
	/* The request and the half-close go out without waiting: the first
	 * rpc_stream_next (or rpc_stream_close) reaps the batch. */
	if (start_send(*out, req, req_len, 1, -1) < 0) {
		snprintf(err, errlen, "cannot send the request");
		rpc_stream_close(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* Wait for the status batch (it completes once the call is over). */
static void reap_status(struct rpc_stream *s)
{
	if (!s->status_pending)
		return;
	grpc_completion_queue_pluck(s->cq, (void *)TAG_STATUS, gpr_inf_future(GPR_CLOCK_REALTIME),
				    NULL);
	s->status_pending = 0;
	slice_to_cstr(s->details_slice, s->details, sizeof(s->details));
}

int rpc_stream_next(struct rpc_stream *s, uint8_t **msg, size_t *len, int wait_ms)
{
	*msg = NULL;
	*len = 0;
	if (s->ended)
		return 0;
	if (!s->recv_pending) {
		grpc_op op;
		memset(&op, 0, sizeof(op));
		op.op = GRPC_OP_RECV_MESSAGE;
		op.data.recv_message.recv_message = &s->recv;
		if (grpc_call_start_batch(s->call, &op, 1, (void *)TAG_RECV, NULL) != GRPC_CALL_OK)
			return -1;
		s->recv_pending = 1;
	}
	grpc_event ev = grpc_completion_queue_pluck(s->cq, (void *)TAG_RECV,
						    deadline_after_ms(wait_ms), NULL);
	if (ev.type == GRPC_QUEUE_TIMEOUT)
		return -2;
	s->recv_pending = 0;
	if (!s->recv) {
		/* No message: the server closed the stream or the call failed. */
		s->ended = 1;
		reap_status(s);
		return 0;
	}
	int rc = bb_to_bytes(s->recv, msg, len);
	grpc_byte_buffer_destroy(s->recv);
	s->recv = NULL;
	return rc < 0 ? -1 : 1;
}

const grpc_metadata_array *rpc_stream_initial_metadata(struct rpc_stream *s, int wait_ms)
{
	if (s->initial_pending) {
		grpc_event ev = grpc_completion_queue_pluck(s->cq, (void *)TAG_INITIAL,
							    deadline_after_ms(wait_ms), NULL);
		if (ev.type == GRPC_QUEUE_TIMEOUT)
			return NULL;
		s->initial_pending = 0;
	}
	return &s->initial;
}

const grpc_metadata_array *rpc_stream_trailing_metadata(const struct rpc_stream *s)
{
	return s->ended ? &s->trailing : NULL;
}

grpc_status_code rpc_stream_status(const struct rpc_stream *s, const char **details)
{
	if (details)
		*details = s->details;
	return s->status;
}

void rpc_stream_cancel(struct rpc_stream *s)
{
	if (s && s->call)
		grpc_call_cancel(s->call, NULL);
}

void rpc_stream_close(struct rpc_stream *s)
{
	if (!s)
		return;
	if (s->call) {
		if (!s->ended || s->status_pending)
			grpc_call_cancel(s->call, NULL);
		gpr_timespec inf = gpr_inf_future(GPR_CLOCK_REALTIME);
		if (s->recv_pending)
			grpc_completion_queue_pluck(s->cq, (void *)TAG_RECV, inf, NULL);
		if (s->send_pending)
			grpc_completion_queue_pluck(s->cq, (void *)TAG_SEND, inf, NULL);
		if (s->initial_pending)
			grpc_completion_queue_pluck(s->cq, (void *)TAG_INITIAL, inf, NULL);
		if (s->headers_pending)
			grpc_completion_queue_pluck(s->cq, (void *)TAG_HEADERS, inf, NULL);
		reap_status(s);
		grpc_call_unref(s->call);
	}
	if (s->recv)
		grpc_byte_buffer_destroy(s->recv);
	if (s->send)
		grpc_byte_buffer_destroy(s->send);
	grpc_slice_unref(s->details_slice);
	grpc_metadata_array_destroy(&s->initial);
	grpc_metadata_array_destroy(&s->trailing);
	if (s->cq)
		cq_dispose(s->cq);
	free(s);
}

int rpc_client_stream(grpc_channel *ch, const char *method, const struct rpc_msg *msgs, size_t n,
		      const grpc_metadata *md, size_t nmd, int timeout_ms, struct rpc_result *out)
{
	memset(out, 0, sizeof(*out));
	out->status = GRPC_STATUS_UNKNOWN;
	struct rpc_stream *s;
	if (rpc_stream_start(ch, method, md, nmd, timeout_ms, &s, out->details,
			     sizeof(out->details)) < 0)
		return -1;
	/* A failed write means the call is over: its status says why. */
	for (size_t i = 0; i < n; i++)
		if (rpc_stream_write(s, msgs[i].data, msgs[i].len, -1) < 0)
			break;
	rpc_stream_close_send(s, -1);
	uint8_t *msg;
	size_t len;
	int rc = 0;
	for (;;) {
		int r = rpc_stream_next(s, &msg, &len, -1);
		if (r == 1 && !out->resp) {
			out->resp = msg;
			out->resp_len = len;
			continue;
		}
		if (r == 1) {
			free(msg); /* a client-streaming method answers once */
			continue;
		}
		if (r < 0) {
			snprintf(out->details, sizeof(out->details), "stream read failed");
			rc = -1;
		}
		break;
	}
	if (rc == 0) {
		const char *d;
		out->status = rpc_stream_status(s, &d);
		snprintf(out->details, sizeof(out->details), "%s", d);
	}
	rpc_stream_close(s);
	return rc;
}
