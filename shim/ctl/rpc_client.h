/* A minimal gRPC C core client for unary and server-streaming calls with
 * raw (already serialized) messages. Used by the connect probe, the
 * `sparkshim ctl` CLI and the tests. Every call owns a private pluck
 * completion queue, so calls are independent and thread-safe as long as a
 * single rpc_stream is driven by one thread at a time. */
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

/* Start a server-streaming call (request sent and half-closed at once).
 * timeout_ms < 0 = no deadline for the whole stream. 0 / -1 (err). */
int rpc_stream_open(grpc_channel *ch, const char *method, const void *req, size_t req_len,
		    const char *token, int timeout_ms, struct rpc_stream **out, char *err,
		    size_t errlen);

/* Next message: 1 = *msg and *len set (malloc'd, caller frees), 0 = stream
 * ended (see rpc_stream_status), -2 = nothing within wait_ms (call again;
 * the read stays pending), -1 = local failure. wait_ms < 0 = forever. */
int rpc_stream_next(struct rpc_stream *s, uint8_t **msg, size_t *len, int wait_ms);

/* Final status once rpc_stream_next returned 0. */
grpc_status_code rpc_stream_status(const struct rpc_stream *s, const char **details);

/* Cancel (if still open), reap every outstanding operation and free. */
void rpc_stream_close(struct rpc_stream *s);

#endif
