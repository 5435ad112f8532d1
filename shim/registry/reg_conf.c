#include "shim/registry/reg_conf.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shim/registry/znode_name.h"

#ifndef SPARKSHIM_VERSION
#define SPARKSHIM_VERSION "0.0.0"
#endif

/* Our own node attribute: where the shim's control service listens. */
#define ATTR_CONTROL "sparkshim.control"

/* The entry for exactly `key`, so callers can name the key that matched. */
static const struct conf_entry *entry(const struct conf *c, const char *key)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i].key, key) == 0)
			return &c->v[i];
	return NULL;
}

const char *kconf_get(const struct conf *c, const char *key, const char **used)
{
	const struct conf_entry *e = NULL;
	char pk[256];
	if (strncmp(key, "spark.", 6) != 0 &&
	    (size_t)snprintf(pk, sizeof(pk), "spark.%s", key) < sizeof(pk))
		e = entry(c, pk);
	if (!e)
		e = entry(c, key);
	if (!e)
		return NULL;
	if (used)
		*used = e->key; /* lives as long as the conf */
	return e->value;
}

/* kconf_get with a fallback (deprecated) key, like Kyuubi's fallbackConf. */
static const char *kconf_get2(const struct conf *c, const char *key, const char *old,
			      const char **used)
{
	const char *v = kconf_get(c, key, used);
	return v ? v : kconf_get(c, old, used);
}

static char *xstrdup(const char *s, int *oom)
{
	char *d = strdup(s);
	if (!d)
		*oom = 1;
	return d;
}

void reg_config_free(struct reg_config *rc)
{
	free(rc->addresses);
	free(rc->namespace_path);
	free(rc->ref_id);
	free(rc->share_level);
	free(rc->version);
	free(rc->digest);
	for (size_t i = 0; i < rc->n_attrs; i++) {
		free(rc->attr_keys[i]);
		free(rc->attr_values[i]);
	}
	free(rc->attr_keys);
	free(rc->attr_values);
	memset(rc, 0, sizeof(*rc));
}

static int is_blank(const char *s)
{
	while (*s && isspace((unsigned char)*s))
		s++;
	return *s == '\0';
}

char *reg_normalize_addresses(const char *in, char *err, size_t errlen)
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

static int upper_in(const char *v, const char *const *allowed, char *out, size_t outlen)
{
	for (size_t i = 0; allowed[i]; i++) {
		if (strcasecmp(v, allowed[i]) == 0) {
			snprintf(out, outlen, "%s", allowed[i]);
			return 0;
		}
	}
	return -1;
}

/* A bounded int-valued duration setting (Kyuubi's intConf in milliseconds;
 * Spark/ISO duration strings are accepted too). */
static int get_ms(const struct conf *c, const char *key, int64_t dflt, int64_t min,
		  int *out, char *err, size_t errlen)
{
	const char *used = key;
	const char *v = kconf_get(c, key, &used);
	int64_t ms = dflt;
	if (v && (parse_duration_ms(v, &ms) < 0 || ms < min || ms > INT_MAX)) {
		snprintf(err, errlen, "%s=%s: expected milliseconds from %lld to %d", used, v,
			 (long long)min, INT_MAX);
		return -1;
	}
	*out = (int)ms;
	return 0;
}

static int get_int(const struct conf *c, const char *key, long dflt, long min, long max,
		   int *out, char *err, size_t errlen)
{
	const char *used = key;
	kconf_get(c, key, &used);
	long v;
	if (conf_get_int(c, used, dflt, min, max, &v, err, errlen) < 0)
		return -1;
	*out = (int)v;
	return 0;
}

static int add_attr(struct reg_config *rc, const char *key, const char *value)
{
	/* A key listed twice is published once, with its last value. */
	for (size_t i = 0; i < rc->n_attrs; i++) {
		if (strcmp(rc->attr_keys[i], key) == 0) {
			char *nv = strdup(value);
			if (!nv)
				return -1;
			free(rc->attr_values[i]);
			rc->attr_values[i] = nv;
			return 0;
		}
	}
	char **nk = realloc(rc->attr_keys, (rc->n_attrs + 1) * sizeof(*nk));
	if (!nk)
		return -1;
	rc->attr_keys = nk;
	char **nv = realloc(rc->attr_values, (rc->n_attrs + 1) * sizeof(*nv));
	if (!nv)
		return -1;
	rc->attr_values = nv;
	char *k = strdup(key), *v = strdup(value);
	if (!k || !v) {
		free(k);
		free(v);
		return -1;
	}
	rc->attr_keys[rc->n_attrs] = k;
	rc->attr_values[rc->n_attrs] = v;
	rc->n_attrs++;
	return 0;
}

/* Names the gateway parses itself, or that we fill from the endpoint. */
static int reserved_attr(const char *key)
{
	static const char *const names[] = {"serverUri", "serviceUri", "version", "refId",
					    "sequence", NULL};
	for (size_t i = 0; names[i]; i++)
		if (strcmp(key, names[i]) == 0)
			return 1;
	return 0;
}

static int ours_attr(const char *key)
{
	return strcmp(key, "kyuubi.engine.id") == 0 || strcmp(key, "kyuubi.engine.url") == 0 ||
	       strcmp(key, ATTR_CONTROL) == 0;
}

static int load_attributes(struct reg_config *rc, const struct conf *c, char *err,
			   size_t errlen)
{
	const char *app_mgr = kconf_get(c, "kyuubi.engine.appMgrInfo", NULL);
	if (app_mgr && add_attr(rc, "kyuubi.engine.appMgrInfo", app_mgr) < 0)
		goto oom;

	const char *used = "kyuubi.engine.spark.register.attributes";
	const char *list = kconf_get(c, used, &used);
	if (!list)
		list = "spark.driver.memory,spark.executor.memory";
	char *copy = strdup(list);
	if (!copy)
		goto oom;
	char *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (isspace((unsigned char)*tok))
			tok++;
		char *e = tok + strlen(tok);
		while (e > tok && isspace((unsigned char)e[-1]))
			*--e = '\0';
		if (!*tok)
			continue; /* like Kyuubi's toSequence: empty items are dropped */
		if (!znode_key_ok(tok) || reserved_attr(tok)) {
			snprintf(err, errlen,
				 "%s=%s: '%s' cannot be published as a node attribute", used,
				 list, tok);
			free(copy);
			return -1;
		}
		if (ours_attr(tok))
			continue; /* filled from the live endpoint instead */
		/* Kyuubi publishes a listed conf even when unset, as "key=". */
		if (add_attr(rc, tok, conf_get_default(c, tok, "")) < 0) {
			free(copy);
			goto oom;
		}
	}
	free(copy);
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static int load_auth(struct reg_config *rc, const struct conf *c, char *err, size_t errlen)
{
	static const char *const types[] = {"NONE", "DIGEST", "KERBEROS", NULL};
	char type[16] = "NONE";
	const char *type_key = "kyuubi.ha.zookeeper.auth.type";
	const char *v = NULL;
	if (rc->ref_id) {
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
	if (v && upper_in(v, types, type, sizeof(type)) < 0) {
		snprintf(err, errlen, "%s=%s: expected NONE, DIGEST or KERBEROS", type_key, v);
		return -1;
	}
	if (strcmp(type, "KERBEROS") == 0) {
		snprintf(err, errlen,
			 "%s=%s: Kerberos (SASL) ZooKeeper authentication is not supported by "
			 "sparkshim; use DIGEST or NONE",
			 type_key, v);
		return -1;
	}
	rc->acl_mode = strcmp(type, "DIGEST") == 0 ? REG_AUTH_DIGEST : REG_AUTH_NONE;

	const char *dkey = "kyuubi.ha.zookeeper.auth.digest";
	const char *d = kconf_get(c, dkey, &dkey);
	if (d) {
		const char *colon = strchr(d, ':');
		if (!colon || colon == d) {
			/* Never echo the secret itself. */
			snprintf(err, errlen, "%s=<redacted>: expected user:password", dkey);
			return -1;
		}
		rc->digest = strdup(d);
		if (!rc->digest) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	} else if (rc->acl_mode == REG_AUTH_DIGEST) {
		snprintf(err, errlen, "%s=%s needs kyuubi.ha.zookeeper.auth.digest=user:password",
			 type_key, v);
		return -1;
	}
	return 0;
}

static int load_retry(struct reg_config *rc, const struct conf *c, char *err, size_t errlen)
{
	static const char *const names[] = {"ONE_TIME", "N_TIME", "EXPONENTIAL_BACKOFF",
					    "BOUNDED_EXPONENTIAL_BACKOFF", "UNTIL_ELAPSED",
					    NULL};
	const char *key = "kyuubi.ha.zookeeper.connection.retry.policy";
	const char *v = kconf_get(c, key, &key);
	/* Kyuubi's Spark engine defaults this to N_TIME (the server's
	 * default is EXPONENTIAL_BACKOFF). */
	rc->retry_policy = REG_RETRY_N_TIME;
	if (v) {
		int found = 0;
		for (int i = 0; names[i]; i++) {
			if (strcasecmp(v, names[i]) == 0) {
				rc->retry_policy = (enum reg_retry)i;
				found = 1;
			}
		}
		if (!found) {
			snprintf(err, errlen,
				 "%s=%s: expected ONE_TIME, N_TIME, EXPONENTIAL_BACKOFF, "
				 "BOUNDED_EXPONENTIAL_BACKOFF or UNTIL_ELAPSED",
				 key, v);
			return -1;
		}
	}
	if (get_int(c, "kyuubi.ha.zookeeper.connection.max.retries", 3, 0, 1000,
		    &rc->max_retries, err, errlen) < 0 ||
	    get_ms(c, "kyuubi.ha.zookeeper.connection.base.retry.wait", 1000, 0,
		   &rc->retry_base_ms, err, errlen) < 0 ||
	    get_ms(c, "kyuubi.ha.zookeeper.connection.max.retry.wait", 30000, 0,
		   &rc->retry_max_ms, err, errlen) < 0)
		return -1;
	return 0;
}

static int load_log_level(struct reg_config *rc, const struct conf *c, char *err,
			  size_t errlen)
{
	const char *key = "sparkshim.registry.zookeeper.log.level";
	const char *v = kconf_get(c, key, &key);
	rc->zk_log_level = LOG_WARN;
	if (!v || log_level_parse(v, &rc->zk_log_level) == 0)
		return 0;
	snprintf(err, errlen, "%s=%s: expected DEBUG, INFO, WARN or ERROR", key, v);
	return -1;
}

static int load_identity(struct reg_config *rc, const struct conf *c, char *err,
			 size_t errlen)
{
	int oom = 0;
	const char *key = "kyuubi.ha.namespace";
	const char *ns = kconf_get2(c, key, "kyuubi.ha.zookeeper.namespace", &key);
	char perr[256];
	rc->namespace_path = znode_normalize_path(ns ? ns : "kyuubi", perr, sizeof(perr));
	if (!rc->namespace_path) {
		snprintf(err, errlen, "%s: %s", key, perr);
		return -1;
	}

	key = "kyuubi.ha.engine.ref.id";
	const char *ref = kconf_get(c, key, &key);
	if (ref && *ref) {
		int changed = 0;
		char *clean = znode_sanitize(ref, &changed);
		if (!clean) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		free(clean);
		if (changed) {
			snprintf(err, errlen, "%s=%s: must not contain ';', '/' or control characters",
				 key, ref);
			return -1;
		}
		rc->ref_id = xstrdup(ref, &oom);
	}

	static const char *const levels[] = {"CONNECTION", "USER", "GROUP", "SERVER_LOCAL",
					     "SERVER", NULL};
	key = "kyuubi.engine.share.level";
	const char *sl = kconf_get2(c, key, "kyuubi.session.engine.share.level", &key);
	char level[16] = "USER";
	if (sl && upper_in(sl, levels, level, sizeof(level)) < 0) {
		snprintf(err, errlen,
			 "%s=%s: expected CONNECTION, USER, GROUP, SERVER_LOCAL or SERVER", key, sl);
		return -1;
	}
	rc->share_level = xstrdup(level, &oom);

	key = "sparkshim.registry.version";
	const char *ver = kconf_get(c, key, &key);
	char derived[64];
	if (ver) {
		int changed = 0;
		char *clean = znode_sanitize(ver, &changed);
		if (!clean) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		free(clean);
		if (!*ver || changed) {
			snprintf(err, errlen,
				 "%s=%s: must be non-empty, without ';', '/' or control characters",
				 key, ver);
			return -1;
		}
	} else if (znode_version_from_namespace(rc->namespace_path, derived,
						sizeof(derived)) == 0) {
		/* The gateway put its own version in the engine space; a
		 * stock engine it launched would report that same version. */
		ver = derived;
	} else {
		ver = SPARKSHIM_VERSION;
	}
	rc->version = xstrdup(ver, &oom);
	if (oom) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int reg_config_load(struct reg_config *rc, const struct conf *c, char *err, size_t errlen)
{
	memset(rc, 0, sizeof(*rc));
	const char *key = "kyuubi.ha.addresses";
	const char *addr = kconf_get2(c, key, "kyuubi.ha.zookeeper.quorum", &key);
	if (!addr || is_blank(addr))
		return 0; /* no discovery configured: registration is off */

	const char *ckey = "kyuubi.ha.client.class";
	const char *cls = kconf_get(c, ckey, &ckey);
	if (cls && strcmp(cls, "org.apache.kyuubi.ha.client.zookeeper.ZookeeperDiscoveryClient")) {
		snprintf(err, errlen, "%s=%s: only ZooKeeper discovery is supported", ckey, cls);
		return -1;
	}

	char aerr[512];
	rc->addresses = reg_normalize_addresses(addr, aerr, sizeof(aerr));
	if (!rc->addresses) {
		snprintf(err, errlen, "%s", aerr);
		goto fail;
	}
	if (load_identity(rc, c, err, errlen) < 0 || load_auth(rc, c, err, errlen) < 0 ||
	    load_retry(rc, c, err, errlen) < 0 || load_log_level(rc, c, err, errlen) < 0 ||
	    load_attributes(rc, c, err, errlen) < 0)
		goto fail;
	if (get_ms(c, "kyuubi.ha.zookeeper.session.timeout", 60000, 1, &rc->session_timeout_ms,
		   err, errlen) < 0 ||
	    get_ms(c, "kyuubi.ha.zookeeper.connection.timeout", 15000, 1,
		   &rc->connect_timeout_ms, err, errlen) < 0)
		goto fail;
	int dereg;
	if (get_ms(c, "sparkshim.registry.deregister.timeout", 2000, 1, &dereg, err, errlen) < 0)
		goto fail;
	rc->deregister_timeout_ms = dereg;
	rc->enabled = 1;
	return 0;
fail:
	reg_config_free(rc);
	return -1;
}

int64_t reg_lost_budget_ms(const struct reg_config *rc, int64_t session_ms)
{
	int64_t base = rc->retry_base_ms, budget = 0;
	switch (rc->retry_policy) {
	case REG_RETRY_ONE_TIME:
		budget = base;
		break;
	case REG_RETRY_N_TIME:
		budget = (int64_t)rc->max_retries * base;
		break;
	case REG_RETRY_EXPONENTIAL_BACKOFF:
	case REG_RETRY_BOUNDED_EXPONENTIAL_BACKOFF:
		/* Curator sleeps base * random(1 .. 2^(n+1)) before retry n;
		 * base * 2^n is its typical value. Bounded: capped at max. */
		for (int i = 0; i < rc->max_retries && i < 32; i++) {
			int64_t w = base << i;
			if (rc->retry_policy == REG_RETRY_BOUNDED_EXPONENTIAL_BACKOFF &&
			    w > rc->retry_max_ms)
				w = rc->retry_max_ms;
			budget += w;
		}
		break;
	case REG_RETRY_UNTIL_ELAPSED:
		budget = rc->retry_max_ms;
		break;
	}
	return (session_ms > 0 ? session_ms : rc->session_timeout_ms) + budget;
}
