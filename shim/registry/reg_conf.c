#include "shim/registry/reg_conf.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "shim/registry/app_mgr_info.h"
#include "shim/registry/discovery.h"
#include "shim/registry/znode_name.h"
#include "shim/registry/backends.h"

#ifndef SPARKSHIM_VERSION
#define SPARKSHIM_VERSION "0.0.0"
#endif

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

int reg_conf_pick(const char *v, const char *const *names)
{
	for (int i = 0; names[i]; i++)
		if (strcasecmp(v, names[i]) == 0)
			return i;
	return -1;
}

int reg_conf_ms(const struct conf *c, const char *key, int64_t dflt, int64_t min, int *out,
		char *err, size_t errlen)
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

int reg_conf_int(const struct conf *c, const char *key, long dflt, long min, long max, int *out,
		 char *err, size_t errlen)
{
	long v;
	if (conf_get_int(c, kconf_key(c, key), dflt, min, max, &v, err, errlen) < 0)
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
	       strcmp(key, REG_ATTR_CONTROL) == 0;
}

static int load_attributes(struct reg_config *rc, const struct conf *c, char *err,
			   size_t errlen)
{
	const char *app_mgr = kconf_get(c, "kyuubi.engine.appMgrInfo", NULL);
	if (app_mgr) {
		/* Base64 the way Kyuubi decodes it, without a '/' (app_mgr_info.h). */
		char *v = NULL, why[128];
		if (app_mgr_info_for_znode(app_mgr, &v, why, sizeof(why)) < 0) {
			log_warn("kyuubi.engine.appMgrInfo not published: %s", why);
		} else {
			int rc_add = add_attr(rc, "kyuubi.engine.appMgrInfo", v);
			free(v);
			if (rc_add < 0)
				goto oom;
		}
	}

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

/* 1 when v can go into a node name as it is, 0 when sanitising would change
 * it, -1 out of memory (err filled). */
static int name_part_clean(const char *v, char *err, size_t errlen)
{
	int changed = 0;
	char *clean = znode_sanitize(v, &changed);
	if (!clean) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	free(clean);
	return !changed;
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
		int clean = name_part_clean(ref, err, errlen);
		if (clean <= 0) {
			if (clean == 0)
				snprintf(err, errlen,
					 "%s=%s: must not contain ';', '/' or control characters", key,
					 ref);
			return -1;
		}
		rc->ref_id = xstrdup(ref, &oom);
	}

	static const char *const levels[] = {"CONNECTION", "USER", "GROUP", "SERVER_LOCAL",
					     "SERVER", NULL};
	key = "kyuubi.engine.share.level";
	const char *sl = kconf_get2(c, key, "kyuubi.session.engine.share.level", &key);
	int level = sl ? reg_conf_pick(sl, levels) : 1 /* USER */;
	if (level < 0) {
		snprintf(err, errlen,
			 "%s=%s: expected CONNECTION, USER, GROUP, SERVER_LOCAL or SERVER", key, sl);
		return -1;
	}
	rc->share_level = xstrdup(levels[level], &oom);

	key = "sparkshim.registry.version";
	const char *ver = kconf_get(c, key, &key);
	char derived[64];
	if (ver) {
		int clean = name_part_clean(ver, err, errlen);
		if (clean < 0)
			return -1;
		if (!*ver || !clean) {
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
	rc->backend = discovery_backend_for_class(ckey, cls, err, errlen);
	if (!rc->backend)
		return -1;

	rc->addresses = strdup(addr);
	if (!rc->addresses) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (load_identity(rc, c, err, errlen) < 0 || load_attributes(rc, c, err, errlen) < 0)
		goto fail;
	int dereg;
	if (reg_conf_ms(c, "sparkshim.registry.deregister.timeout", 2000, 1, &dereg, err, errlen) < 0)
		goto fail;
	rc->deregister_timeout_ms = dereg;
	rc->enabled = 1;
	return 0;
fail:
	reg_config_free(rc);
	return -1;
}
