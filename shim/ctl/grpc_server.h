/* The control endpoint: one local gRPC server (C core, one completion queue
 * drained by a dedicated thread) hosting grpc.health.v1.Health and
 * sparkshim.v1.Control next to Spark's connect port. One per process.
 *
 * Threads it owns: CTL_CQ_THREADS CQ threads (all call dispatch, never
 * block; two so that a burst of probes can use both cores), the
 * stream notifier (wakes on lifecycle_wait_change and pushes Watch/Events
 * updates), and short-lived workers for calls that wait on the JVM
 * (SetLogLevel, capped). All are created with the termination signals
 * blocked, so a signalfd main loop keeps receiving them. It installs no
 * signal handlers. */
#ifndef SPARKSHIM_GRPC_SERVER_H
#define SPARKSHIM_GRPC_SERVER_H

#include <stddef.h>

struct ctl_server_opts {
	const char *bind;   /* "127.0.0.1:15003", "127.0.0.1:0", "[::1]:0", "unix:/path/sock" */
	const char *token;  /* bearer token for mutating calls; NULL/"" = none. A
			       non-loopback bind without a token is refused. */
	size_t max_message; /* largest request accepted, bytes; 0 = 64 KiB */
};

#define CTL_MAX_STREAMS 128       /* open Watch + Events streams; more -> RESOURCE_EXHAUSTED */
#define CTL_MAX_WORKERS 4         /* concurrent blocking calls (SetLogLevel) */
#define CTL_STOP_GRACE_MS 2000    /* ctl_server_stop: cancel calls still open after this */
#ifndef CTL_CQ_THREADS
#define CTL_CQ_THREADS 2          /* threads draining the completion queue */
#endif

/* Start the server and its threads. `bound` gets the address actually bound
 * ("host:port" with port 0 resolved, or "unix:/path"); it is also stored in
 * engine_info.control_endpoint. Registers the event log's lifecycle
 * listener (event_log_attach). Takes its own grpc_init() reference.
 * 0, or -1 with a one-line message in err and nothing left running; errno is
 * EADDRINUSE when the port is taken (EXIT_PORT_IN_USE material), EINVAL for a
 * bad address or a remote bind without token, EALREADY if already running. */
int ctl_server_start(const struct ctl_server_opts *o, char *bound, size_t boundlen, char *err,
		     size_t errlen);

/* Graceful stop: every Watch/Events stream gets its final message and
 * status OK, the server stops accepting calls (shutdown_and_notify), calls
 * still open after CTL_STOP_GRACE_MS are cancelled, then everything is
 * destroyed and the gRPC reference dropped. Idempotent; safe when never
 * started. */
void ctl_server_stop(void);

/* Open streams right now (tests, Status diagnostics). */
int ctl_server_stream_count(void);

#endif
