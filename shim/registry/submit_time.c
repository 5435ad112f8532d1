/* Kyuubi's launch-age check (registry.h): the gateway stamps the launch with
 * spark.kyuubi.engine.submit.time and gives up on the engine after
 * kyuubi.session.engine.initialize.timeout, so an engine that starts later
 * than that would register for nobody. */
#include "shim/registry/submit_time.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "shim/registry/registry.h"

#define SUBMIT_TIME_KEY "kyuubi.engine.submit.time"

/* 1 found, 0 absent, -1 malformed (err filled). */
static int submit_time(const struct conf *c, int64_t *out, char *err, size_t errlen)
{
	const char *key = SUBMIT_TIME_KEY;
	const char *v = kconf_get(c, key, &key);
	if (!v)
		return 0;
	char *end;
	errno = 0;
	long long t = strtoll(v, &end, 10);
	if (end == v || *end || errno || t < 0) {
		snprintf(err, errlen, "%s=%s: expected epoch milliseconds", key, v);
		return -1;
	}
	*out = t;
	return 1;
}

int registry_init_timeout_ms(const struct conf *c, int64_t *out, char *err, size_t errlen)
{
	return kconf_get_duration(c, REGISTRY_INIT_TIMEOUT_KEY, REGISTRY_INIT_TIMEOUT_DEFAULT_MS, out,
				  err, errlen);
}

int registry_check_submit_time(const struct conf *c, int64_t now_ms, char *err, size_t errlen)
{
	int64_t submitted, timeout;
	int found = submit_time(c, &submitted, err, errlen);
	if (found < 0)
		return -2;
	if (registry_init_timeout_ms(c, &timeout, err, errlen) < 0)
		return -2;
	if (!found)
		return 0;
	int64_t age = now_ms - submitted;
	/* Strictly greater, as Kyuubi compares; a submit time in the future
	 * (clock skew between gateway and engine host) counts as age 0. */
	if (age > timeout) {
		snprintf(err, errlen,
			 "engine submitted at %lld is %lld ms old, more than the gateway's "
			 "%s of %lld ms: it has given up on this engine",
			 (long long)submitted, (long long)age, REGISTRY_INIT_TIMEOUT_KEY, (long long)timeout);
		return -1;
	}
	return 0;
}

int registry_init_remaining_ms(const struct conf *c, int64_t now_ms, int64_t *remaining_ms)
{
	char err[256];
	int64_t submitted, timeout;
	if (submit_time(c, &submitted, err, sizeof(err)) != 1 ||
	    registry_init_timeout_ms(c, &timeout, err, sizeof(err)) < 0)
		return -1;
	*remaining_ms = submitted + timeout - now_ms;
	return 0;
}
