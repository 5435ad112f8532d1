/* A local gRPC server (C core) as an object: it hosts the services its
 * caller hands it (ctl_service.h method tables) and, optionally, a generic
 * handler for every method no table names (ctl_call.h). The engine's health
 * and control endpoint is one instance (grpc.health.v1.Health +
 * sparkshim.v1.Control, built by the launcher); several servers can run in
 * one process at once, each with its own completion queue and threads.
 *
 * Threads each server owns: its CQ threads (all call dispatch, never
 * block; two by default so that a burst of probes can use both cores), a
 * stream notifier when a hosted method is a pumped server stream (wakes on
 * lifecycle_wait_change and pushes Watch/Events updates), and short-lived
 * workers for blocking unary calls (SetLogLevel, capped). All are created
 * with the termination signals blocked, so a signalfd main loop keeps
 * receiving them. It installs no signal handlers. */
#ifndef SPARKSHIM_GRPC_SERVER_H
#define SPARKSHIM_GRPC_SERVER_H

#include <stddef.h>

#include <grpc/grpc.h>

struct ctl_service;
struct ctl_call_handler;
struct ctl_server;

struct ctl_server_opts {
	const char *bind;   /* "127.0.0.1:15003", "127.0.0.1:0", "[::1]:0", "unix:/path/sock" */
	const char *token;  /* bearer token for mutating calls; NULL/"" = none. A
			       non-loopback bind without a token is refused
			       unless allow_remote. */
	size_t max_message; /* largest request accepted, bytes; 0 = 64 KiB */
	const struct ctl_service *const *services; /* hosted method tables */
	size_t n_services;
	/* Methods no table names: NULL = UNIMPLEMENTED ("unknown method /x/Y"). */
	const struct ctl_call_handler *generic;
	void *arg;          /* handed to call handlers: ctl_call_server_arg() */
	const char *name;   /* for log lines; NULL = "control" */
	/* This server is the engine's control endpoint: its bound address goes
	 * to engine_info.control_endpoint (cleared at stop). One at a time. */
	int publish_endpoint;
	int allow_remote;   /* allow a non-loopback bind without a token */
	int cq_threads;     /* 0 = CTL_CQ_THREADS */
	/* Listening credentials (borrowed; the server takes its own reference):
	 * NULL = plaintext. The front door passes TLS ones here. */
	grpc_server_credentials *creds;
	/* Requests kept posted for the generic handler; 0 = 16. */
	int generic_depth;
	/* ctl_server_stop's grace for open calls and connections; 0 =
	 * CTL_STOP_GRACE_MS. C core's shutdown also waits for every client
	 * connection to go, which an idle client may not do promptly. */
	int stop_grace_ms;
};

#define CTL_MAX_STREAMS 128       /* per server: open Watch + Events streams; more -> RESOURCE_EXHAUSTED */
#define CTL_MAX_WORKERS 4         /* per server: concurrent blocking calls (SetLogLevel) */
#define CTL_STOP_GRACE_MS 2000    /* ctl_server_stop: cancel calls still open after this */
#ifndef CTL_CQ_THREADS
#define CTL_CQ_THREADS 2          /* threads draining a server's completion queue */
#endif

/* Start a server and its threads. `bound` gets the address actually bound
 * ("host:port" with port 0 resolved, or "unix:/path"). Runs each service's
 * on_start hook (the control service attaches the event log) and takes its
 * own grpc_init() reference. The server, or NULL with a one-line message in
 * err and nothing left running; errno is EADDRINUSE when the port is taken
 * (EXIT_PORT_IN_USE material), EINVAL for a bad address or a remote bind
 * without token, EALREADY when publish_endpoint is set and another
 * publishing server runs. */
struct ctl_server *ctl_server_start(const struct ctl_server_opts *opts, char *bound,
				    size_t boundlen, char *err, size_t errlen);

/* Graceful stop, then free: every Watch/Events stream gets its final
 * message and status OK, call handlers get on_server_stop, the server
 * stops accepting calls (shutdown_and_notify), calls still open after
 * CTL_STOP_GRACE_MS are cancelled, then everything is destroyed and the
 * gRPC reference dropped. NULL is a no-op. */
void ctl_server_stop(struct ctl_server *srv);

/* Open pumped streams plus open call-handler calls right now (tests,
 * diagnostics); 0 for NULL (no server, no streams). */
int ctl_server_stream_count(struct ctl_server *srv);

/* The address it bound (as returned by ctl_server_start). */
const char *ctl_server_address(const struct ctl_server *srv);

#endif
