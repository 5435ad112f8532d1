#include "launcher/idle_policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int launched_by_wrapper(void)
{
	const char *w = getenv("SPARKSHIM_WRAPPER_PID");
	return w && *w && atol(w) == (long)getpid();
}

enum engine_mode engine_mode_detect(const struct conf *c)
{
	if (launched_by_wrapper() || kconf_get(c, "kyuubi.ha.engine.ref.id", NULL) ||
	    kconf_get(c, "kyuubi.engine.submit.time", NULL))
		return MODE_GATEWAY;
	const char *ns = getenv("NOTIFY_SOCKET");
	if (ns && *ns)
		return MODE_SYSTEMD;
	return MODE_MANUAL;
}

const char *engine_mode_name(enum engine_mode m)
{
	return m == MODE_GATEWAY ? "gateway" : m == MODE_SYSTEMD ? "systemd" : "manual";
}

int idle_policy_choose(const struct conf *c, struct idle_policy *p, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	p->mode = engine_mode_detect(c);
	int64_t dflt = p->mode == MODE_GATEWAY ? GATEWAY_IDLE_DEFAULT_MS : 0;
	if (kconf_get_duration(c, IDLE_TIMEOUT_KEY, dflt, &p->timeout_ms, err, errlen) < 0)
		return -1;
	const char *used = NULL;
	if (kconf_get(c, IDLE_TIMEOUT_KEY, &used))
		snprintf(p->source, sizeof(p->source), "%s", used);
	else if (p->mode == MODE_GATEWAY)
		snprintf(p->source, sizeof(p->source), "Kyuubi's default for gateway engines");
	else
		snprintf(p->source, sizeof(p->source), "default for %s engines",
			 engine_mode_name(p->mode));
	return 0;
}
