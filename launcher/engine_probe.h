/* The watcher thread: finds Spark's connect port through JNI, then keeps
 * asking the port itself (a real gRPC call) whether Spark answers, and
 * refreshes activity/heap figures. It only reports (engine_info + events);
 * the main loop decides. Kept off the main loop because every probe can
 * block up to its timeout when the JVM is wedged. */
#ifndef SPARKSHIM_ENGINE_PROBE_H
#define SPARKSHIM_ENGINE_PROBE_H

#include <stdint.h>

#include "base/clock.h"

struct probe_cfg {
	char host[256];            /* where to probe the connect port (loopback normally) */
	int64_t interval_ms;       /* liveness probe period */
	int64_t activity_interval_ms; /* activity/heap refresh period */
};

int probe_start(const struct probe_cfg *cfg); /* 0 / -1 */
/* Look for the port now (Spark logged that its connect server started). */
void probe_nudge(void);
void probe_stop(void);                         /* stop and forget the thread */
/* Stop probing and close the probe's connection to Spark (waits up to
 * timeout_ms for the thread to do it): called when a stop begins. */
void probe_quiesce(int timeout_ms);
/* Monotonic ms of the last probe that found the port answering (0 = never). */
int64_t probe_last_alive_ms(void);
struct engine_info;
/* Fold a fresh jvm_activity into engine_info (engine_info_update callback). */
void engine_activity_update(struct engine_info *e, void *activity);

#endif
