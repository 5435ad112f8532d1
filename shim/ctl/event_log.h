/* A bounded ring of lifecycle events with sequence numbers, fed by a
 * lifecycle listener, read by the control service's Events stream.
 * Sequence numbers start at 1 and never repeat within a process; when the
 * ring is full the oldest entries are overwritten and readers that fall
 * behind learn it (event_log_next reports the gap). */
#ifndef SPARKSHIM_EVENT_LOG_H
#define SPARKSHIM_EVENT_LOG_H

#include <stdint.h>

#include "base/lifecycle.h"

#define EVENT_LOG_SIZE 256
#define EVENT_LOG_REASON 256

enum event_kind {
	EVENT_TRANSITION = 0,   /* from -> to */
	EVENT_SESSION_OPENED,   /* the front door saw a new session: user_id, session_id */
	EVENT_SESSION_CLOSED,   /* released or expired */
};

struct event_rec {
	uint64_t seq;
	int64_t time_ms;       /* epoch ms */
	enum event_kind kind;
	int from, to;          /* EVENT_TRANSITION: enum shim_state, or -1 for "none" (snapshot) */
	char reason[EVENT_LOG_REASON];
	char user_id[128];     /* EVENT_SESSION_*: truncated if longer */
	char session_id[64];
};

/* Register the lifecycle listener (once; later calls are no-ops) and record
 * the current state as a snapshot event (from = -1) so a reader always sees
 * where the engine stood when recording began. Call after lifecycle_reset();
 * the lead may call it early in main to catch every transition; the
 * control server calls it at start otherwise. 0 / -1 (listener table full). */
int event_log_attach(void);

/* Tests: forget everything (ring, sequence, attachment). Pair it with
 * lifecycle_reset(), which drops the listener. */
void event_log_reset(void);

/* Append one event (the listener does this; tests may too). Wakes stream
 * watchers with lifecycle_kick(): lifecycle_fire bumps the generation before
 * listeners run, so without a second kick a watcher could look at the ring
 * just before the new entry lands and then sleep through it. */
void event_log_append(int from, int to, const char *reason);

/* Append a session event (the front door's session table reports them
 * through a hook the launcher sets). Wakes stream watchers likewise. */
void event_log_session(int opened, const char *user_id, const char *session_id);

/* The oldest event with seq > after: 1 = *out filled; 0 = nothing newer.
 * When events after `after` were overwritten, *gap_to is set to the seq of
 * the newest lost event (else 0) and *out is the oldest one still held. */
int event_log_next(uint64_t after, struct event_rec *out, uint64_t *gap_to);

/* Seq of the newest event, 0 when empty. */
uint64_t event_log_last_seq(void);

#endif
