/* Live probe of Spark's connect port, for READY and liveness decisions.
 *
 * It sends a real gRPC call (grpc.health.v1.Health/Check, service "") and
 * counts ANY gRPC answer as alive: Spark does not serve the health service
 * and answers UNIMPLEMENTED, a token-protected Spark answers
 * UNAUTHENTICATED; both prove its gRPC server is up and handling calls.
 * Dead = no answer: connection refused/reset, no HTTP/2 handshake, or no
 * reply within the timeout (UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED).
 *
 * The channel to the last host:port is cached and reused; a refused probe
 * drops it so the next probe dials afresh instead of sitting in gRPC's
 * reconnect backoff (a timed-out one keeps it: see connect_probe.c). */
#ifndef SPARKSHIM_CONNECT_PROBE_H
#define SPARKSHIM_CONNECT_PROBE_H

/* 1 = alive, 0 = no answer. host "" or NULL = 127.0.0.1; IPv6 literals
 * with or without brackets. timeout_ms <= 0 means 1000. Thread-safe (calls
 * may overlap; each uses its own channel if the cached one is busy).
 * Initializes gRPC on first use. */
int connect_probe(const char *host, int port, int timeout_ms);

/* Initialize gRPC now (the first probe would): done while the JVM boots,
 * so that the first probe after Spark binds only dials. */
void connect_probe_prepare(void);

/* Destroy the cached channel and drop the probe's gRPC reference. Call once
 * at exit, after the last connect_probe; a later probe starts over. */
void connect_probe_shutdown(void);

#endif
