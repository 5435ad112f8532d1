/* The Connect front door: the published Spark Connect endpoint, a gRPC C
 * core server that relays every spark.connect.SparkConnectService call to
 * Spark's own server on loopback, which only the door can use (Spark
 * requires an internal token that only the door knows).
 *
 * On the way it enforces what Spark's server does not: TLS (optionally
 * mutual), a client bearer token, and the user check (the request's
 * user_context.user_id must be the engine's user or an allowed one). Every
 * admitted call is counted in the session table (door_sessions.h).
 *
 * Relay model (front_door.c): per call, one upstream grpc_call on one
 * channel to Spark; one message in flight per direction (the next Spark
 * message is read only once the previous one went to the client; a client
 * message is read ahead and held while the previous one goes upstream), so
 * a slow reader's backpressure reaches Spark through HTTP/2 flow control.
 * Bytes are forwarded as gRPC byte buffers, never copied or re-encoded. */
#ifndef SPARKSHIM_FRONT_DOOR_H
#define SPARKSHIM_FRONT_DOOR_H

#include <stddef.h>

struct door_sessions;
struct front_door;

struct front_door_opts {
	const char *bind;            /* "host:port"; port 0 = any */
	const char *client_token;    /* clients must send "authorization: Bearer <it>"; NULL/"" = none */
	const char *internal_token;  /* what the door sends to Spark; NULL/"" = nothing (Spark 3.5, tests) */
	const char *engine_user;     /* user_id every session must carry (unless allowed) */
	const char *allowed_users;   /* comma-separated extra user_ids; "*" = any user */
	const char *tls_cert;        /* PEM file; NULL/"" = plaintext */
	const char *tls_key;         /* PEM file; with tls_cert */
	const char *tls_client_ca;   /* PEM file: require and verify client certificates (mTLS) */
	size_t max_message;          /* largest client message; 0 = 128 MiB (Spark's default) */
	struct door_sessions *sessions; /* borrowed; must outlive the door */
};

#define FRONT_DOOR_MAX_MESSAGE (128u * 1024 * 1024)
#define FRONT_DOOR_SERVICE "/spark.connect.SparkConnectService/"
#define FRONT_DOOR_STOP_GRACE_MS 200 /* front_door_stop: then open calls and connections are cut */

/* Bind and start serving. Until front_door_set_upstream, calls get
 * UNAVAILABLE ("Spark Connect is starting"). NULL with a one-line error;
 * errno EADDRINUSE when the port is taken, EINVAL for bad options (an
 * unreadable or invalid certificate, key or CA names the file). */
struct front_door *front_door_start(const struct front_door_opts *o, char *bound, size_t boundlen,
				    char *err, size_t errlen);

/* Spark's connect server is listening on host:port: relay there. */
int front_door_set_upstream(struct front_door *d, const char *host, int port);

/* Port the door listens on. */
int front_door_port(const struct front_door *d);

/* SIGHUP: re-read the TLS certificate, key and client CA (new connections
 * use them; a bad file keeps the old ones and says why in err) and take a
 * new client token (NULL = keep). 0 / -1. */
int front_door_reload(struct front_door *d, const char *client_token, char *err, size_t errlen);

/* Stop serving (open calls get UNAVAILABLE after the server's grace) and free. */
void front_door_stop(struct front_door *d);

/* 1 when user (len bytes) may open sessions: the engine user, or listed in
 * allowed ("a,b,c"; "*" = everyone). Exposed for the unit tests. */
int front_door_user_allowed(const char *engine_user, const char *allowed, const char *user,
			    size_t len);

#endif
