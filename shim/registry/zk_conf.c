#include "shim/registry/zk_conf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

char *zk_normalize_addresses(const char *in, char *err, size_t errlen)
{
	size_t len = strlen(in);
	const char *chroot = strchr(in, '/');
	size_t hosts_len = chroot ? (size_t)(chroot - in) : len;
	/* Worst case every host gains ":2181". */
	size_t cap = len + 1 + 5 * (hosts_len + 1);
	char *out = malloc(cap);
	if (!out) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	size_t o = 0;
	const char *p = in, *end = in + hosts_len;
	while (p <= end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *e = comma ? comma : end;
		const char *a = p, *b = e;
		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		if (a == b) {
			snprintf(err, errlen, "kyuubi.ha.addresses=%s: empty host in the list", in);
			free(out);
			return NULL;
		}
		if (o)
			out[o++] = ',';
		memcpy(out + o, a, (size_t)(b - a));
		o += (size_t)(b - a);
		/* "[v6]" without a port, or a name without ':' at all. */
		int has_port = a[0] == '[' ? (b - a > 2 && memchr(a, ']', (size_t)(b - a)) &&
					     ((const char *)memchr(a, ']', (size_t)(b - a)))[1] == ':')
					   : memchr(a, ':', (size_t)(b - a)) != NULL;
		if (!has_port) {
			memcpy(out + o, ":2181", 5);
			o += 5;
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	if (chroot) {
		memcpy(out + o, chroot, len - hosts_len);
		o += len - hosts_len;
	}
	out[o] = '\0';
	return out;
}

static int load_auth(struct zk_config *zc, const struct conf *c, const char *ref_id, char *err,
		     size_t errlen)
{
	static const char *const types[] = {"NONE", "DIGEST", "KERBEROS", NULL};
	const char *type_key = "kyuubi.ha.zookeeper.auth.type";
	const char *v = NULL;
	if (ref_id) {
		/* An engine (it has a refId) uses the engine key, like Kyuubi. */
		type_key = "kyuubi.ha.zookeeper.engine.auth.type";
		v = kconf_get(c, type_key, &type_key);
		if (!v) {
			/* Kyuubi would fall back to NONE here; a cluster that
			 * protects its own nodes with DIGEST clearly wants the
			 * engine's protected too, and the gateway holds the same
			 * digest, so DIGEST (only) is inherited. */
			const char *skey = "kyuubi.ha.zookeeper.auth.type";
			const char *sv = kconf_get(c, skey, &skey);
			if (sv && strcasecmp(sv, "DIGEST") == 0) {
				v = sv;
				type_key = skey;
			}
		}
	} else {
		v = kconf_get(c, type_key, &type_key);
	}
	int type = v ? reg_conf_pick(v, types) : 0;
	if (type < 0) {
		snprintf(err, errlen, "%s=%s: expected NONE, DIGEST or KERBEROS", type_key, v);
		return -1;
	}
	if (type == 2) {
		snprintf(err, errlen,
			 "%s=%s: Kerberos (SASL) ZooKeeper authentication is not supported by "
			 "sparkshim; use DIGEST or NONE",
			 type_key, v);
		return -1;
	}
	zc->acl_mode = type == 1 ? REG_AUTH_DIGEST : REG_AUTH_NONE;

	const char *dkey = "kyuubi.ha.zookeeper.auth.digest";
	const char *d = kconf_get(c, dkey, &dkey);
	if (d) {
		const char *colon = strchr(d, ':');
		if (!colon || colon == d) {
			/* Never echo the secret itself. */
			snprintf(err, errlen, "%s=<redacted>: expected user:password", dkey);
			return -1;
		}
		zc->digest = strdup(d);
		if (!zc->digest) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	} else if (zc->acl_mode == REG_AUTH_DIGEST) {
		snprintf(err, errlen, "%s=%s needs kyuubi.ha.zookeeper.auth.digest=user:password",
			 type_key, v);
		return -1;
	}
	return 0;
}

int zk_retry_load(struct zk_config *zc, const struct conf *c, char *err, size_t errlen)
{
	static const char *const names[] = {"ONE_TIME", "N_TIME", "EXPONENTIAL_BACKOFF",
					    "BOUNDED_EXPONENTIAL_BACKOFF", "UNTIL_ELAPSED",
					    NULL};
	const char *key = "kyuubi.ha.zookeeper.connection.retry.policy";
	const char *v = kconf_get(c, key, &key);
	/* Kyuubi's Spark engine defaults this to N_TIME (the server's
	 * default is EXPONENTIAL_BACKOFF). */
	int policy = v ? reg_conf_pick(v, names) : REG_RETRY_N_TIME;
	if (policy < 0) {
		snprintf(err, errlen,
			 "%s=%s: expected ONE_TIME, N_TIME, EXPONENTIAL_BACKOFF, "
			 "BOUNDED_EXPONENTIAL_BACKOFF or UNTIL_ELAPSED",
			 key, v);
		return -1;
	}
	zc->retry_policy = (enum reg_retry)policy;
	if (reg_conf_int(c, "kyuubi.ha.zookeeper.connection.max.retries", 3, 0, 1000,
			 &zc->max_retries, err, errlen) < 0 ||
	    reg_conf_ms(c, "kyuubi.ha.zookeeper.connection.base.retry.wait", 1000, 0,
			&zc->retry_base_ms, err, errlen) < 0 ||
	    reg_conf_ms(c, "kyuubi.ha.zookeeper.connection.max.retry.wait", 30000, 0,
			&zc->retry_max_ms, err, errlen) < 0)
		return -1;
	return 0;
}

static int load_log_level(struct zk_config *zc, const struct conf *c, char *err,
			  size_t errlen)
{
	const char *key = "sparkshim.registry.zookeeper.log.level";
	const char *v = kconf_get(c, key, &key);
	zc->zk_log_level = LOG_WARN;
	if (!v || log_level_parse(v, &zc->zk_log_level) == 0)
		return 0;
	snprintf(err, errlen, "%s=%s: expected DEBUG, INFO, WARN or ERROR", key, v);
	return -1;
}

int zk_config_load(struct zk_config *zc, const struct conf *c, const struct reg_config *rc,
		   char *err, size_t errlen)
{
	memset(zc, 0, sizeof(*zc));
	zc->addresses = zk_normalize_addresses(rc->addresses, err, errlen);
	if (!zc->addresses)
		goto fail;
	if (load_auth(zc, c, rc->ref_id, err, errlen) < 0 || zk_retry_load(zc, c, err, errlen) < 0 ||
	    load_log_level(zc, c, err, errlen) < 0 ||
	    reg_conf_ms(c, "kyuubi.ha.zookeeper.session.timeout", 60000, 1,
			&zc->session_timeout_ms, err, errlen) < 0 ||
	    reg_conf_ms(c, "kyuubi.ha.zookeeper.connection.timeout", 15000, 1,
			&zc->connect_timeout_ms, err, errlen) < 0)
		goto fail;
	return 0;
fail:
	zk_config_free(zc);
	return -1;
}

void zk_config_free(struct zk_config *zc)
{
	free(zc->addresses);
	free(zc->digest);
	memset(zc, 0, sizeof(*zc));
}

int64_t zk_lost_budget_ms(const struct zk_config *zc, int64_t session_ms)
{
	int64_t base = zc->retry_base_ms, budget = 0;
	switch (zc->retry_policy) {
	case REG_RETRY_ONE_TIME:
		budget = base;
		break;
	case REG_RETRY_N_TIME:
		budget = (int64_t)zc->max_retries * base;
		break;
	case REG_RETRY_EXPONENTIAL_BACKOFF:
	case REG_RETRY_BOUNDED_EXPONENTIAL_BACKOFF:
		/* Curator sleeps base * random(1 .. 2^(n+1)) before retry n;
		 * base * 2^n is its typical value. Bounded: capped at max. */
		for (int i = 0; i < zc->max_retries && i < 32; i++) {
			int64_t w = base << i;
			if (zc->retry_policy == REG_RETRY_BOUNDED_EXPONENTIAL_BACKOFF &&
			    w > zc->retry_max_ms)
				w = zc->retry_max_ms;
			budget += w;
		}
		break;
	case REG_RETRY_UNTIL_ELAPSED:
		budget = zc->retry_max_ms;
		break;
	}
	return (session_ms > 0 ? session_ms : zc->session_timeout_ms) + budget;
}
