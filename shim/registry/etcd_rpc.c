#include "shim/registry/etcd_rpc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "base/clock.h"

static gpr_timespec after_ms(int64_t ms)
{
	if (ms < 0)
		return gpr_inf_future(GPR_CLOCK_MONOTONIC);
	return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

static char *read_file(const char *path, char *err, size_t errlen, const char *what)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "cannot read %s %s: %s", what, path, strerror(errno));
		return NULL;
	}
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		size_t r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (n + 1 < cap)
			break;
		char *nb = realloc(buf, cap *= 2);
		if (!nb) {
			free(buf);
			buf = NULL;
		} else {
			buf = nb;
		}
	}
	int bad = ferror(f);
	fclose(f);
	if (!buf || bad) {
		free(buf);
		snprintf(err, errlen, "cannot read %s %s", what, path);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

static grpc_channel_credentials *tls_creds(const struct etcd_config *ec, char *err, size_t errlen)
{
	char *ca = NULL, *cert = NULL, *key = NULL;
	grpc_channel_credentials *cr = NULL;
	if (ec->ca_path && !(ca = read_file(ec->ca_path, err, errlen, "CA certificate")))
		goto out;
	if (ec->cert_path &&
	    (!(cert = read_file(ec->cert_path, err, errlen, "client certificate")) ||
	     !(key = read_file(ec->key_path, err, errlen, "client key"))))
		goto out;
	grpc_ssl_pem_key_cert_pair pair = {.private_key = key, .cert_chain = cert};
	cr = grpc_ssl_credentials_create(ca, cert ? &pair : NULL, NULL, NULL);
	if (!cr)
		snprintf(err, errlen, "cannot build TLS credentials for etcd");
out:
	free(ca);
	free(cert);
	if (key) {
		memset(key, 0, strlen(key));
		free(key);
	}
	return cr;
}

grpc_channel *etcd_channel_open(const struct etcd_config *ec, size_t idx, char *err,
				size_t errlen)
{
	grpc_init();
	grpc_channel_credentials *creds = ec->tls ? tls_creds(ec, err, errlen)
						  : grpc_insecure_credentials_create();
	if (!creds) {
		grpc_shutdown();
		return NULL;
	}
	grpc_arg args[] = {
		{.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_ENABLE_HTTP_PROXY, .value.integer = 0},
		{.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL,
		 .value.integer = 1},
		{.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
		 .value.integer = 100},
		{.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
		 .value.integer = 1000},
		{.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
		 .value.integer = 1000},
		/* A dead server is noticed by our lease keep-alive; HTTP/2 pings
		 * on top find a silently dropped connection too. */
		{.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_KEEPALIVE_TIME_MS, .value.integer = 5000},
		{.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
		 .value.integer = 3000},
		{.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS,
		 .value.integer = 1},
	};
	grpc_channel_args ca = {.num_args = sizeof(args) / sizeof(args[0]), .args = args};
	grpc_channel *ch = grpc_channel_create(ec->endpoints[idx], creds, &ca);
	grpc_channel_credentials_release(creds);
	if (!ch) {
		snprintf(err, errlen, "cannot open a gRPC channel to %s", ec->endpoint_names[idx]);
		grpc_shutdown();
	}
	return ch;
}

void etcd_channel_close(grpc_channel *ch)
{
	if (!ch)
		return;
	grpc_channel_destroy(ch);
	grpc_shutdown();
}

static grpc_byte_buffer *pack(const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf)
		return NULL;
	protobuf_c_message_pack(m, buf);
	grpc_slice s = grpc_slice_from_copied_buffer((const char *)buf, n);
	free(buf);
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return bb;
}

static ProtobufCMessage *unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *d)
{
	grpc_byte_buffer_reader r;
	if (!grpc_byte_buffer_reader_init(&r, bb))
		return NULL;
	grpc_slice all = grpc_byte_buffer_reader_readall(&r);
	grpc_byte_buffer_reader_destroy(&r);
	ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(all),
							GRPC_SLICE_START_PTR(all));
	grpc_slice_unref(all);
	return m;
}

static void cq_dispose(grpc_completion_queue *cq)
{
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
		       .type != GRPC_QUEUE_SHUTDOWN) {
	}
	grpc_completion_queue_destroy(cq);
}

static size_t token_md(const char *token, grpc_metadata *md)
{
	if (!token)
		return 0;
	memset(md, 0, sizeof(*md));
	md->key = grpc_slice_from_static_string("token");
	md->value = grpc_slice_from_copied_string(token);
	return 1;
}

static void copy_details(grpc_slice s, char *dst, size_t cap)
{
	if (!cap)
		return;
	size_t n = GRPC_SLICE_LENGTH(s);
	if (n > cap - 1)
		n = cap - 1;
	memcpy(dst, GRPC_SLICE_START_PTR(s), n);
	dst[n] = '\0';
}

int etcd_unary(grpc_channel *ch, const char *method, const char *token,
	       const ProtobufCMessage *req, const ProtobufCMessageDescriptor *rdesc,
	       ProtobufCMessage **resp, int64_t deadline_ms, atomic_int *aborting, char *err,
	       size_t errlen)
{
	*resp = NULL;
	if (errlen)
		err[0] = '\0';
	int64_t left = deadline_ms - monotonic_ms();
	if (left < 1)
		left = 1;
	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_call *call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
						   grpc_slice_from_static_string(method), NULL,
						   after_ms(left), NULL);
	if (!call) {
		snprintf(err, errlen, "cannot create call %s", method);
		cq_dispose(cq);
		return -1;
	}
	grpc_metadata md;
	size_t nmd = token_md(token, &md);
	grpc_byte_buffer *send = pack(req), *recv = NULL;
	grpc_metadata_array initial, trailing;
	grpc_metadata_array_init(&initial);
	grpc_metadata_array_init(&trailing);
	grpc_slice details = grpc_empty_slice();
	grpc_status_code status = GRPC_STATUS_UNKNOWN;
	grpc_op ops[6];
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = nmd;
	ops[0].data.send_initial_metadata.metadata = nmd ? &md : NULL;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
	ops[5].data.recv_status_on_client.status = &status;
	ops[5].data.recv_status_on_client.status_details = &details;
	int rc = -1;
	if (!send) {
		snprintf(err, errlen, "out of memory");
	} else if (grpc_call_start_batch(call, ops, 6, (void *)1, NULL) != GRPC_CALL_OK) {
		snprintf(err, errlen, "cannot start call %s", method);
	} else {
		/* The call deadline bounds this; a stop cancels it sooner. */
		int cancelled = 0;
		for (;;) {
			grpc_event ev = grpc_completion_queue_pluck(cq, (void *)1, after_ms(100), NULL);
			if (ev.type == GRPC_OP_COMPLETE)
				break;
			if (!cancelled && aborting && atomic_load(aborting)) {
				grpc_call_cancel(call, NULL);
				cancelled = 1;
			}
		}
		rc = (int)status;
		copy_details(details, err, errlen);
		if (status == GRPC_STATUS_OK) {
			*resp = recv ? unpack(recv, rdesc) : NULL;
			if (!*resp) {
				snprintf(err, errlen, "%s: cannot decode the response", method);
				rc = -1;
			}
		}
	}
	if (recv)
		grpc_byte_buffer_destroy(recv);
	if (send)
		grpc_byte_buffer_destroy(send);
	if (nmd)
		grpc_slice_unref(md.value);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&initial);
	grpc_metadata_array_destroy(&trailing);
	grpc_call_unref(call);
	cq_dispose(cq);
	return rc;
}

enum { T_SEND = 1, T_STATUS, T_RECV, T_INITIAL, T_HEADERS };

struct etcd_stream {
	grpc_completion_queue *cq;
	grpc_call *call;
	grpc_byte_buffer *send, *recv;
	grpc_metadata_array initial, trailing;
	grpc_slice details_slice;
	char details[256];
	grpc_status_code status;
	int send_pending, recv_pending, status_pending, initial_pending, headers_pending, ended;
};

struct etcd_stream *etcd_stream_open(grpc_channel *ch, const char *method, const char *token)
{
	struct etcd_stream *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->status = GRPC_STATUS_UNKNOWN;
	s->details_slice = grpc_empty_slice();
	grpc_metadata_array_init(&s->initial);
	grpc_metadata_array_init(&s->trailing);
	s->cq = grpc_completion_queue_create_for_pluck(NULL);
	s->call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq,
					   grpc_slice_from_static_string(method), NULL,
					   gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	if (!s->call) {
		etcd_stream_close(s);
		return NULL;
	}
	grpc_metadata md;
	size_t nmd = token_md(token, &md);
	grpc_op op;
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_SEND_INITIAL_METADATA;
	op.data.send_initial_metadata.count = nmd;
	op.data.send_initial_metadata.metadata = nmd ? &md : NULL;
	grpc_call_error ce = grpc_call_start_batch(s->call, &op, 1, (void *)T_HEADERS, NULL);
	if (nmd)
		grpc_slice_unref(md.value);
	s->headers_pending = ce == GRPC_CALL_OK;
	if (ce == GRPC_CALL_OK) {
		memset(&op, 0, sizeof(op));
		op.op = GRPC_OP_RECV_INITIAL_METADATA;
		op.data.recv_initial_metadata.recv_initial_metadata = &s->initial;
		ce = grpc_call_start_batch(s->call, &op, 1, (void *)T_INITIAL, NULL);
		s->initial_pending = ce == GRPC_CALL_OK;
	}
	if (ce == GRPC_CALL_OK) {
		memset(&op, 0, sizeof(op));
		op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
		op.data.recv_status_on_client.trailing_metadata = &s->trailing;
		op.data.recv_status_on_client.status = &s->status;
		op.data.recv_status_on_client.status_details = &s->details_slice;
		ce = grpc_call_start_batch(s->call, &op, 1, (void *)T_STATUS, NULL);
		s->status_pending = ce == GRPC_CALL_OK;
	}
	if (ce != GRPC_CALL_OK) {
		etcd_stream_close(s);
		return NULL;
	}
	return s;
}

int etcd_stream_send(struct etcd_stream *s, const ProtobufCMessage *msg, int wait_ms)
{
	if (s->ended)
		return -1;
	if (s->send_pending) {
		grpc_event ev = grpc_completion_queue_pluck(s->cq, (void *)T_SEND, after_ms(wait_ms),
							    NULL);
		if (ev.type == GRPC_QUEUE_TIMEOUT)
			return -2;
		s->send_pending = 0;
		grpc_byte_buffer_destroy(s->send);
		s->send = NULL;
		if (!ev.success)
			return -1;
	}
	s->send = pack(msg);
	if (!s->send)
		return -1;
	grpc_op op;
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_SEND_MESSAGE;
	op.data.send_message.send_message = s->send;
	if (grpc_call_start_batch(s->call, &op, 1, (void *)T_SEND, NULL) != GRPC_CALL_OK) {
		grpc_byte_buffer_destroy(s->send);
		s->send = NULL;
		return -1;
	}
	s->send_pending = 1;
	grpc_event ev = grpc_completion_queue_pluck(s->cq, (void *)T_SEND, after_ms(wait_ms), NULL);
	if (ev.type == GRPC_QUEUE_TIMEOUT)
		return -2;
	s->send_pending = 0;
	grpc_byte_buffer_destroy(s->send);
	s->send = NULL;
	return ev.success ? 0 : -1;
}

static void reap_status(struct etcd_stream *s)
{
	if (!s->status_pending)
		return;
	grpc_completion_queue_pluck(s->cq, (void *)T_STATUS, gpr_inf_future(GPR_CLOCK_REALTIME),
				    NULL);
	s->status_pending = 0;
	copy_details(s->details_slice, s->details, sizeof(s->details));
}

int etcd_stream_recv(struct etcd_stream *s, const ProtobufCMessageDescriptor *d,
		     ProtobufCMessage **out, int wait_ms)
{
	*out = NULL;
	if (s->ended)
		return 0;
	if (!s->recv_pending) {
		grpc_op op;
		memset(&op, 0, sizeof(op));
		op.op = GRPC_OP_RECV_MESSAGE;
		op.data.recv_message.recv_message = &s->recv;
		if (grpc_call_start_batch(s->call, &op, 1, (void *)T_RECV, NULL) != GRPC_CALL_OK)
			return -1;
		s->recv_pending = 1;
	}
	grpc_event ev = grpc_completion_queue_pluck(s->cq, (void *)T_RECV, after_ms(wait_ms), NULL);
	if (ev.type == GRPC_QUEUE_TIMEOUT)
		return -2;
	s->recv_pending = 0;
	if (!s->recv) {
		s->ended = 1;
		grpc_call_cancel(s->call, NULL);
		reap_status(s);
		return 0;
	}
	*out = unpack(s->recv, d);
	grpc_byte_buffer_destroy(s->recv);
	s->recv = NULL;
	return *out ? 1 : -1;
}

int etcd_stream_status(struct etcd_stream *s, const char **details)
{
	if (details)
		*details = s->details;
	return (int)s->status;
}

void etcd_stream_close(struct etcd_stream *s)
{
	if (!s)
		return;
	if (s->call) {
		grpc_call_cancel(s->call, NULL);
		gpr_timespec inf = gpr_inf_future(GPR_CLOCK_REALTIME);
		if (s->recv_pending)
			grpc_completion_queue_pluck(s->cq, (void *)T_RECV, inf, NULL);
		if (s->send_pending)
			grpc_completion_queue_pluck(s->cq, (void *)T_SEND, inf, NULL);
		if (s->initial_pending)
			grpc_completion_queue_pluck(s->cq, (void *)T_INITIAL, inf, NULL);
		if (s->headers_pending)
			grpc_completion_queue_pluck(s->cq, (void *)T_HEADERS, inf, NULL);
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
