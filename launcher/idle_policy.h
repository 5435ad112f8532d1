/* Who started this engine, and so whether it stops itself when idle.
 *
 *   gateway  launched by a gateway: through scripts/spark-submit-wrapper.sh
 *            (SPARKSHIM_WRAPPER_PID is our pid: exec keeps it), or with
 *            Kyuubi's launch confs (kyuubi.ha.engine.ref.id,
 *            kyuubi.engine.submit.time). Kyuubi's default applies: idle stop
 *            after 30 min, the gateway starts a new engine when needed.
 *   systemd  a dedicated engine under systemd (NOTIFY_SOCKET set): no idle
 *            stop unless configured; it is meant to stay up.
 *   manual   started by hand: no idle stop unless configured.
 *
 * kyuubi.session.engine.idle.timeout (as spark.kyuubi.X or kyuubi.X)
 * overrides the default in every mode; 0 = never. docs/operations.md,
 * "Idle policy per mode". */
#ifndef SPARKSHIM_IDLE_POLICY_H
#define SPARKSHIM_IDLE_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "base/conf.h"

enum engine_mode { MODE_MANUAL, MODE_GATEWAY, MODE_SYSTEMD };

#define IDLE_TIMEOUT_KEY "kyuubi.session.engine.idle.timeout"
#define GATEWAY_IDLE_DEFAULT_MS (30LL * 60 * 1000) /* Kyuubi's PT30M */

enum engine_mode engine_mode_detect(const struct conf *spark_conf);
const char *engine_mode_name(enum engine_mode m);

struct idle_policy {
	enum engine_mode mode;
	int64_t timeout_ms;  /* 0 = never */
	char source[160];    /* where timeout_ms came from, for the start-up line */
};

/* 0, or -1 with a one-line error naming the bad key=value. */
int idle_policy_choose(const struct conf *spark_conf, struct idle_policy *out, char *err,
		       size_t errlen);

#endif
