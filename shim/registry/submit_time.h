/* The gateway's start-up budget (submit_time.c): Kyuubi's initialize
 * timeout and the launch-age check against spark.kyuubi.engine.submit.time. */
#ifndef SPARKSHIM_SUBMIT_TIME_H
#define SPARKSHIM_SUBMIT_TIME_H

#include <stddef.h>
#include <stdint.h>

#include "base/conf.h"

/* kyuubi.session.engine.initialize.timeout: how long the gateway waits for a
 * launched engine to register (Kyuubi's default 180 s). The engine's own
 * start timeout defaults to it too. */
#define REGISTRY_INIT_TIMEOUT_KEY "kyuubi.session.engine.initialize.timeout"
#define REGISTRY_INIT_TIMEOUT_DEFAULT_MS 180000

/* The init timeout as set (either spelling), else the default. 0, or -1 with
 * a one-line error naming the key and value. */
int registry_init_timeout_ms(const struct conf *c, int64_t *out, char *err, size_t errlen);

/* Kyuubi's launch-age check: spark.kyuubi.engine.submit.time (epoch ms, set
 * by the gateway) against the init timeout above. 0 = fine or no submit
 * time; -1 = too old (exit EXIT_SUBMIT_EXPIRED); -2 = a value is malformed
 * (exit EXIT_USAGE). err has the one-line reason for -1/-2. */
int registry_check_submit_time(const struct conf *c, int64_t now_ms, char *err, size_t errlen);

/* How much of the gateway's start-up budget is left (submit time + init
 * timeout - now, may be <= 0), for bounding the engine's own start. 0 and
 * *remaining_ms, or -1 when there is no submit time or it is malformed. */
int registry_init_remaining_ms(const struct conf *c, int64_t now_ms, int64_t *remaining_ms);

#endif
