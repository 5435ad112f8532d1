/*
 * door_sessions: the Connect front door's table of sessions and calls.
 *
 * CONTRACT between the front-door relay (helper "fdcore") and the session
 * table (helper "fdsess"). Both copy this file unchanged to
 * shim/ctl/door_sessions.h; change it only by agreement (write a note in
 * /work/helpers/door_sessions.CHANGES and keep both sides compiling).
 *
 * Byte-in/byte-out: no gRPC, no threads of its own, no clock of its own (the
 * caller passes now_ms from clock_mono_ms()). Thread-safe: the relay's call
 * handlers call it from several threads; one internal mutex.
 */
#ifndef SPARKSHIM_DOOR_SESSIONS_H
#define SPARKSHIM_DOOR_SESSIONS_H

#include <stddef.h>
#include <stdint.h>

enum door_verdict {
	DOOR_ADMIT = 0,          /* go on and relay the call */
	DOOR_DRAINING,           /* new session while draining -> UNAVAILABLE "engine is draining" */
	DOOR_TOO_MANY_SESSIONS,  /* -> RESOURCE_EXHAUSTED */
	DOOR_TOO_MANY_OPERATIONS /* -> RESOURCE_EXHAUSTED */
};

/* What the relay answers a refusal with (one home for the text):
 * door_verdict_status gives the gRPC status code number (0 OK for
 * DOOR_ADMIT, 14 UNAVAILABLE, 8 RESOURCE_EXHAUSTED), door_verdict_message
 * the status message ("" for DOOR_ADMIT). */
int door_verdict_status(enum door_verdict v);
const char *door_verdict_message(enum door_verdict v);

struct door_limits {
	unsigned max_sessions;      /* 0: unlimited */
	unsigned max_operations;    /* operations (ExecutePlan + ReattachExecute calls) in flight; a new
				     * ExecutePlan beyond it is refused, a ReattachExecute never; 0: unlimited */
	int64_t session_timeout_ms; /* a session with no activity for this long expires (Spark's session timeout) */
};

struct door_sessions;
struct door_call; /* one relayed call; owned by the table until door_call_end() */

struct door_sessions *door_sessions_new(const struct door_limits *lim);
void door_sessions_free(struct door_sessions *t);

/*
 * A call arrives. method is the full path ("/spark.connect.SparkConnectService/ExecutePlan").
 * user_id and session_id come from the first request message; either may be
 * empty (len 0) when the message does not carry it: the call is then counted
 * in flight but belongs to no session. Not NUL-terminated.
 * On DOOR_ADMIT *out is a new call the caller must end with door_call_end();
 * otherwise *out is NULL and nothing was counted.
 * A call for a session not in the table opens it (event "open"), except a
 * ReleaseSession, which is relayed without opening one.
 */
enum door_verdict door_call_begin(struct door_sessions *t, const char *method,
				  const char *user_id, size_t user_len,
				  const char *session_id, size_t sid_len,
				  int64_t now_ms, struct door_call **out);

/* Bytes moved (message payload sizes) on a call; counts as session activity. */
void door_call_bytes(struct door_sessions *t, struct door_call *c,
		     uint64_t bytes_in, uint64_t bytes_out, int64_t now_ms);

/*
 * The call ended with this gRPC status code. A ReleaseSession that ended OK
 * closes its session (event "close"). Frees c.
 */
void door_call_end(struct door_sessions *t, struct door_call *c,
		   int grpc_status, int64_t now_ms);

/* From now on a call for a session not in the table gets DOOR_DRAINING. */
void door_sessions_drain(struct door_sessions *t);

struct door_activity {
	unsigned sessions;         /* open sessions */
	unsigned calls_in_flight;  /* calls begun and not ended */
	int64_t last_activity_ms;  /* newest begin/bytes/end, any session; -1 if none ever */
};
/* Expires sessions idle longer than session_timeout_ms (event "close"), then reports. */
void door_sessions_activity(struct door_sessions *t, int64_t now_ms,
			    struct door_activity *out);

struct door_session_info {
	char user_id[128];      /* truncated if longer */
	char session_id[64];
	int64_t first_ms, last_ms;
	unsigned calls_in_flight;
	uint64_t calls_total, bytes_in, bytes_out;
};
/* Copies up to max sessions (oldest first); returns how many there are in all. */
size_t door_sessions_snapshot(struct door_sessions *t,
			      struct door_session_info *out, size_t max);

/* Injected hook for session open/close (opened: 1 open, 0 close); called
 * without the table's lock held. */
typedef void (*door_session_event_fn)(void *arg, int opened,
				      const char *user_id,
				      const char *session_id);
void door_sessions_set_event_hook(struct door_sessions *t,
				  door_session_event_fn fn, void *arg);

#endif
