/* A small gRPC C core client for every call mode (unary, server
 * streaming, client streaming, bidi) with raw (already serialized)
 * messages, request metadata, deadlines and cancellation. Used by the
 * connect probe, the `sparkshim ctl` CLI and the tests. Every call owns a
 * private pluck completion queue, so calls are independent; one rpc_stream
 * may be driven by one reading thread (rpc_stream_next) and one writing
 * thread (rpc_stream_write/close_send) at once; rpc_stream_cancel from any
 * thread; rpc_stream_close once both are done. */
#ifndef SPARKSHIM_RPC_CLIENT_H
#define SPARKSHIM_RPC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc.h>

/* Insecure channel to target ("127.0.0.1:15003", "[::1]:1", "unix:/p").
 * Proxies from the environment are ignored (a control or probe connection
 * must never leave the host through http_proxy), subchannels are private to
 * the channel and reconnect backoff is short (max 1 s), so a fresh probe
 * after the server comes up connects at once. Destroy with
 * grpc_channel_destroy(). Needs grpc_init(). */
grpc_channel *rpc_channel_open(const char *target);

/* The gRPC target for an address: "127.0.0.1:1" -> "ipv4:127.0.0.1:1",
 * "[::1]:1" -> "ipv6:[::1]:1", "localhost:1" -> "ipv4:127.0.0.1:1"; other
 * names and "unix:..." unchanged. */
void rpc_target(const char *addr, char *buf, size_t cap);

struct rpc_result {
	grpc_status_code status;
	char details[512];
	uint8_t *resp;   /* malloc'd response message or NULL; rpc_result_free */
	size_t resp_len;
};

/* One unary call. token != NULL adds "authorization: Bearer <token>".
 * timeout_ms < 0 = no deadline. Returns 0 when the call finished with some
 * gRPC status (out->status; resp set when a message came back), -1 when it
 * could not even be started (out->details says why). Always call
 * rpc_result_free(out) afterwards. */
int rpc_unary(grpc_channel *ch, const char *method, const void *req, size_t req_len,
	      const char *token, int timeout_ms, struct rpc_result *out);
void rpc_result_free(struct rpc_result *r);

/* rpc_unary with arbitrary request metadata (md may be NULL when nmd 0). */
int rpc_unary_md(grpc_channel *ch, const char *method, const void *req, size_t req_len,
		 const grpc_metadata *md, size_t nmd, int timeout_ms, struct rpc_result *out);

struct rpc_stream;

/* Start a streaming call of any mode: request metadata md (may be NULL when
 * nmd is 0) goes out, nothing else. Then rpc_stream_write any number of
 * messages, rpc_stream_close_send, and rpc_stream_next until it returns 0.
 * timeout_ms < 0 = no deadline for the whole call. 0 / -1 (err). */
int rpc_stream_start(grpc_channel *ch, const char *method, const grpc_metadata *md, size_t nmd,
		     int timeout_ms, struct rpc_stream **out, char *err, size_t errlen);

/* Start a server-streaming call (request sent and half-closed at once).
 * timeout_ms < 0 = no deadline for the whole stream. 0 / -1 (err). */
int rpc_stream_open(grpc_channel *ch, const char *method, const void *req, size_t req_len,
		    const char *token, int timeout_ms, struct rpc_stream **out, char *err,
		    size_t errlen);

/* Send one message and wait until gRPC took it (flow control): 0 sent;
 * -1 the call is over (see rpc_stream_next / rpc_stream_status) or the
 * stream is half-closed; -2 not taken within wait_ms (it stays in flight;
 * the next write or close_send waits for it first). wait_ms < 0 = forever. */
int rpc_stream_write(struct rpc_stream *s, const void *msg, size_t len, int wait_ms);

/* Half-close: no more messages from us. 0 / -1 / -2 as rpc_stream_write. */
int rpc_stream_close_send(struct rpc_stream *s, int wait_ms);

/* Next message: 1 = *msg and *len set (malloc'd, caller frees), 0 = stream
 * ended (see rpc_stream_status), -2 = nothing within wait_ms (call again;
 * the read stays pending), -1 = local failure. wait_ms < 0 = forever. */
int rpc_stream_next(struct rpc_stream *s, uint8_t **msg, size_t *len, int wait_ms);

/* The server's initial metadata, waiting up to wait_ms for it; NULL when
 * it has not come yet. Valid until rpc_stream_close. */
const grpc_metadata_array *rpc_stream_initial_metadata(struct rpc_stream *s, int wait_ms);

/* Trailing metadata once rpc_stream_next returned 0, else NULL. */
const grpc_metadata_array *rpc_stream_trailing_metadata(const struct rpc_stream *s);

/* Final status once rpc_stream_next returned 0. */
grpc_status_code rpc_stream_status(const struct rpc_stream *s, const char **details);

/* Cancel the call now (the server sees it cancelled; our pending reads and
 * writes end). Safe from any thread while the stream exists. */
void rpc_stream_cancel(struct rpc_stream *s);

/* Cancel (if still open), reap every outstanding operation and free. */
void rpc_stream_close(struct rpc_stream *s);

/* One message of a client-streaming call. */
struct rpc_msg {
	const void *data;
	size_t len;
};

/* A whole client-streaming call: send msgs, half-close, take the one
 * response. Returns as rpc_unary (0 with out->status; -1 not started). */
int rpc_client_stream(grpc_channel *ch, const char *method, const struct rpc_msg *msgs, size_t n,
		      const grpc_metadata *md, size_t nmd, int timeout_ms, struct rpc_result *out);

#endif
