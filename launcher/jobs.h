/* The main loop's blocking work, done elsewhere (jobs.c). Each call starts
 * a short-lived worker thread and returns at once; the worker reports its
 * result as an event the loop reacts to:
 *
 *   jobs_register        registry_register, from engine_info's endpoint
 *                        -> EV_REG_REGISTERED (posted by the registry) or
 *                        EV_REG_FAILED
 *   jobs_reregister      SIGHUP: the advertised host looked up again, then
 *                        registry_update (the node stays when nothing in it
 *                        changes, else make before break) -> as above
 *   jobs_deregister      registry_deregister, aborting any registration
 *                        under way; none starts afterwards -> EV_REG_DEREGISTERED
 *   jobs_query_activity  jvm_query_activity into engine_info -> EV_ACTIVITY
 *   jobs_quiesce_probe   probe_quiesce -> EV_PROBE_QUIESCED
 *
 * Call from the main thread only (workers inherit its signal mask, and so
 * do the ZooKeeper threads a registration starts). */
#ifndef SPARKSHIM_JOBS_H
#define SPARKSHIM_JOBS_H

/* 0 started; -1 when a registration is already under way or deregistration
 * has begun (nothing is started, no event comes). */
#include "base/conf.h"

int jobs_register(void);
/* spark_conf must outlive the job (the engine's, alive for the process). */
int jobs_reregister(const struct conf *spark_conf);
void jobs_deregister(void);
void jobs_query_activity(int timeout_ms);
void jobs_quiesce_probe(int timeout_ms);

/* Wait up to timeout_ms for registry workers to finish (before
 * registry_close). 0 = none left, -1 = some still running. */
int jobs_wait_registry(int timeout_ms);

#endif
