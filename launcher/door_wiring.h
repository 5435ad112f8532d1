/* The launcher's side of the front door's session table
 * (shim/ctl/door_sessions.h): creates it with the configured limits, wires
 * its open/close hook to the log and the control Events stream and the
 * table itself to control Status, and answers the main loop's idle
 * question from it. The table is NULL when the front door is off. */
#ifndef SPARKSHIM_DOOR_WIRING_H
#define SPARKSHIM_DOOR_WIRING_H

#include <stdint.h>

#include "launcher/settings.h"
#include "shim/ctl/door_sessions.h"

/* A new table with st's limits, hooked up; NULL on no memory. */
struct door_sessions *door_wiring_open(const struct settings *st);
/* Unhook and free (NULL ok). Only once nothing relays through it. */
void door_wiring_close(struct door_sessions *t);

/* What the door says about idleness: busy while a call is in flight;
 * last_epoch_ms is the newest activity on the wall clock, -1 if none. */
struct door_idle {
	int busy;
	int64_t last_epoch_ms;
	int64_t last_mono_ms;   /* the same on the monotonic clock, -1 if none */
	unsigned sessions;
	unsigned calls_in_flight;
};
void door_wiring_idle(struct door_sessions *t, int64_t now_mono_ms, int64_t now_epoch_ms,
		      struct door_idle *out);

#endif
