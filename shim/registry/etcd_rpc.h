/* The few etcd v3 gRPC calls the etcd discovery backend needs, on gRPC C
 * core (shim/registry sits below shim/ctl, so this does not use the control
 * client): a channel to one endpoint (TLS from the config), unary calls with
 * protobuf-c messages, and bidi streams for LeaseKeepAlive and Watch.
 * Every wait is bounded. */
#ifndef SPARKSHIM_ETCD_RPC_H
#define SPARKSHIM_ETCD_RPC_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>

#include "shim/registry/etcd_conf.h"

/* A channel to ec->endpoints[idx] (calls grpc_init; etcd_channel_close
 * calls grpc_shutdown). NULL with a one-line error (unreadable TLS files). */
grpc_channel *etcd_channel_open(const struct etcd_config *ec, size_t idx, char *err,
				size_t errlen);
void etcd_channel_close(grpc_channel *ch);

/* One unary call. token: etcd auth token or NULL. deadline_ms: monotonic
 * (base/clock.h); aborting (may be NULL) is checked every 100 ms and
 * cancels the call. Returns the gRPC status (0 = OK, *resp unpacked with
 * rdesc, free with protobuf_c_message_free_unpacked), or -1 for a local
 * failure; err gets the status' details. */
int etcd_unary(grpc_channel *ch, const char *method, const char *token,
	       const ProtobufCMessage *req, const ProtobufCMessageDescriptor *rdesc,
	       ProtobufCMessage **resp, int64_t deadline_ms, atomic_int *aborting, char *err,
	       size_t errlen);

struct etcd_stream;

/* A bidi stream without deadline (closed with etcd_stream_close). NULL on
 * a local failure. */
struct etcd_stream *etcd_stream_open(grpc_channel *ch, const char *method, const char *token);
/* Send one message, waiting up to wait_ms: 0 sent, -1 the stream is over,
 * -2 not sent in time (the stream should be closed). */
int etcd_stream_send(struct etcd_stream *s, const ProtobufCMessage *msg, int wait_ms);
/* Next message, waiting up to wait_ms (the receive stays posted across
 * timeouts): 1 *out unpacked, 0 the stream ended, -1 error, -2 nothing yet. */
int etcd_stream_recv(struct etcd_stream *s, const ProtobufCMessageDescriptor *d,
		     ProtobufCMessage **out, int wait_ms);
/* The status once recv returned 0 (details in *details). */
int etcd_stream_status(struct etcd_stream *s, const char **details);
void etcd_stream_close(struct etcd_stream *s);

#endif
