/* The engine's lifecycle as one explicit state machine (a table, s6 style).
 * Every other part observes it: health reports it, control streams it,
 * systemd gets STATUS= from it, registration follows it.
 *
 *   STARTING --ready--> READY --drain--> DRAINING
 *      |                  |                 |
 *      +------stop--------+------stop-------+--> STOPPING --stopped--> STOPPED
 *   any non-final --fail--> FAILED
 */
#ifndef SPARKSHIM_LIFECYCLE_H
#define SPARKSHIM_LIFECYCLE_H

#include <stdint.h>

enum shim_state {
	ST_STARTING,
	ST_READY,
	ST_DRAINING,
	ST_STOPPING,
	ST_STOPPED,
	ST_FAILED,
	ST__COUNT
};

enum shim_trigger {
	TR_READY,   /* connect port answers */
	TR_DRAIN,   /* deregistered, no new work taken */
	TR_STOP,    /* graceful stop begins */
	TR_STOPPED, /* JVM gone, clean */
	TR_FAIL,    /* anything fatal */
	TR__COUNT
};

typedef void (*lifecycle_listener)(enum shim_state from, enum shim_state to,
				   const char *reason, void *arg);

const char *state_name(enum shim_state st);
const char *trigger_name(enum shim_trigger tr);

/* What a state means for the rest of the engine, so nobody keeps a shadow
 * flag: a stop has begun (STOPPING or final), READY has been announced and
 * the engine has not begun stopping (READY or DRAINING). */
int state_is_stopping(enum shim_state st);
int state_is_serving(enum shim_state st);

/* Reset to STARTING with no listeners (start of main and tests). */
void lifecycle_reset(void);

enum shim_state lifecycle_state(void);

/* Apply a trigger. Returns 0 when the table allows it (listeners are called,
 * waiters woken), -1 when the transition is not allowed from the current
 * state (nothing changes). `reason` is free text for logs/events. */
int lifecycle_fire(enum shim_trigger tr, const char *reason);

/* Pure table lookup, for tests and for callers that want to ask first.
 * Returns the next state or -1. */
int lifecycle_next(enum shim_state from, enum shim_trigger tr);

/* Listeners run synchronously inside lifecycle_fire, in the firing thread,
 * without the lifecycle lock held. Keep them short. Max 8. */
int lifecycle_add_listener(lifecycle_listener fn, void *arg);

/* Change counter for stream watchers: wait until the generation differs from
 * *gen (or timeout_ms passes, -1 = forever). Updates *gen and returns the
 * current state. */
uint64_t lifecycle_generation(void);
enum shim_state lifecycle_wait_change(uint64_t *gen, int timeout_ms);

/* Wake every waiter without a state change (used at shutdown so streams end). */
void lifecycle_kick(void);

#endif
