#include "launcher/settings.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/suggest.h"
#include "shim/ctl/ctl_addr.h"
#include "shim/registry/registry.h"

#define MIN 60000LL
#define DAY (24 * 60 * MIN)

/* Every sparkshim.* key, wherever it is read (the shim's options, the
 * --config file, --conf spark.sparkshim.*): the one list an unknown key is
 * checked against. tests/integration/test_messages.py checks that every
 * "sparkshim.<key>" in the sources is here. */
const char *const settings_known_keys[] = {
	"sparkshim.start.timeout",
	"sparkshim.stop.timeout",
	"sparkshim.probe.interval",
	"sparkshim.control.address",
	"sparkshim.control.token.file",
	"sparkshim.state.file",
	"sparkshim.pid.file",
	"sparkshim.exit.with.parent",
	"sparkshim.log.level",
	"sparkshim.launcher.cache",
	"sparkshim.cds",
	"sparkshim.cache.dir",
	"sparkshim.registry.version",
	"sparkshim.registry.deregister.timeout",
	"sparkshim.registry.zookeeper.log.level",
	"sparkshim.registry.etcd.user",
	"sparkshim.registry.etcd.password",
	"sparkshim.cache.max.age",
	"sparkshim.cache.max.size.mb",
	"sparkshim.subreaper",
	"sparkshim.connect.front.door",
	"sparkshim.connect.token.file",
	"sparkshim.connect.tls.cert",
	"sparkshim.connect.tls.key",
	"sparkshim.connect.tls.client.ca",
	"sparkshim.connect.allowed.users",
	"sparkshim.connect.max.sessions",
	"sparkshim.connect.max.operations",
	"sparkshim.proxy.user",
};
const size_t n_settings_known_keys = sizeof(settings_known_keys) / sizeof(settings_known_keys[0]);

/* An unknown sparkshim.* key is most likely a typo: say which, and what
 * was probably meant. Not fatal: the key is ignored, as before. */
static void warn_unknown_key(const char *key, const char *where)
{
	for (size_t i = 0; i < n_settings_known_keys; i++)
		if (!strcmp(key, settings_known_keys[i]))
			return;
	const char *s = suggest_closest(key, settings_known_keys, n_settings_known_keys,
					sizeof(settings_known_keys[0]));
	log_warn("unknown key %s%s (ignored)%s%s%s", key, where, s ? "; did you mean " : "",
		 s ? s : "", s ? "?" : "");
}

static int merge(struct conf *m, const struct conf *cli, const char *file,
		 const struct conf *spark, char *err, size_t errlen)
{
	if (file) {
		int bad = 0;
		if (conf_load_file(m, file, &bad) < 0) {
			if (bad)
				snprintf(err, errlen, "%s:%d: expected key=value", file, bad);
			else
				snprintf(err, errlen, "--config %s: %s", file, strerror(errno));
			return -1;
		}
		char where[4200];
		snprintf(where, sizeof(where), " in --config %s", file);
		for (size_t i = 0; i < m->n; i++)
			if (!strncmp(m->v[i].key, "sparkshim.", 10))
				warn_unknown_key(m->v[i].key, where);
	}
	for (size_t i = 0; i < spark->n; i++)
		if (!strncmp(spark->v[i].key, "spark.sparkshim.", 16))
			warn_unknown_key(spark->v[i].key + 6, " (--conf spark.sparkshim.*)");
	for (size_t i = 0; i < spark->n; i++)
		if (strncmp(spark->v[i].key, "spark.sparkshim.", 16) == 0 &&
		    conf_set(m, spark->v[i].key + 6, spark->v[i].value) < 0)
			goto nomem;
	for (size_t i = 0; i < cli->n; i++)
		if (conf_set(m, cli->v[i].key, cli->v[i].value) < 0)
			goto nomem;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static int read_token(const struct conf *m, const char *key, const char *envname, char *out,
		      size_t outlen, char *err, size_t errlen)
{
	const char *file = conf_get(m, key);
	const char *env = getenv(envname);
	out[0] = '\0';
	if (!file) {
		if (env)
			snprintf(out, outlen, "%s", env);
		return 0;
	}
	FILE *f = fopen(file, "re");
	if (!f) {
		snprintf(err, errlen, "%s=%s: %s", key, file, strerror(errno));
		return -1;
	}
	size_t n = fread(out, 1, outlen - 1, f);
	fclose(f);
	out[n] = '\0';
	while (n && isspace((unsigned char)out[n - 1]))
		out[--n] = '\0';
	if (n == 0 || strpbrk(out, "\r\n")) {
		snprintf(err, errlen, "%s=%s: expected one line with the token", key, file);
		return -1;
	}
	return 0;
}

/* "on"/"off" (or true/false): 0 and *out, -1 with err. */
static int on_off(const struct conf *m, const char *key, int dflt, int *out, char *err,
		  size_t errlen)
{
	const char *v = conf_get(m, key);
	if (!v)
		*out = dflt;
	else if (!strcasecmp(v, "on") || !strcasecmp(v, "true"))
		*out = 1;
	else if (!strcasecmp(v, "off") || !strcasecmp(v, "false"))
		*out = 0;
	else {
		snprintf(err, errlen, "%s=%s: expected on or off", key, v);
		return -1;
	}
	return 0;
}

/* The control address is used only once Spark serves: check it now. */
static int check_control_address(const struct settings *s, char *err, size_t errlen)
{
	const char *ca = s->control_address;
	if (!ca[0] || strcmp(ca, SETTINGS_CONTROL_DEFAULT) == 0)
		return 0;
	struct ctl_addr a;
	char why[300];
	if (ctl_addr_parse(ca, &a, why, sizeof(why)) < 0) {
		snprintf(err, errlen,
			 "%s (sparkshim.control.address); expected host:port, [v6]:port, unix:/path or off",
			 why);
		return -1;
	}
	if (!s->control_token[0] && !ctl_addr_is_loopback(&a)) {
		snprintf(err, errlen,
			 "sparkshim.control.address=%s is not loopback: expected a loopback address, or a control token (--control-token-file or SPARKSHIM_CONTROL_TOKEN)",
			 ca);
		return -1;
	}
	return 0;
}

static void copy_key(const struct conf *m, const char *key, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s", conf_get_default(m, key, ""));
}

/* The front door's settings (docs/front-door.md). */
static int load_door(const struct conf *m, struct settings *s, char *err, size_t errlen)
{
	if (on_off(m, "sparkshim.connect.front.door", 1, &s->front_door, err, errlen) < 0 ||
	    read_token(m, "sparkshim.connect.token.file", "SPARKSHIM_CONNECT_TOKEN", s->door_token,
		       sizeof(s->door_token), err, errlen) < 0)
		return -1;
	copy_key(m, "sparkshim.connect.tls.cert", s->door_tls_cert, sizeof(s->door_tls_cert));
	copy_key(m, "sparkshim.connect.tls.key", s->door_tls_key, sizeof(s->door_tls_key));
	copy_key(m, "sparkshim.connect.tls.client.ca", s->door_tls_client_ca,
		 sizeof(s->door_tls_client_ca));
	copy_key(m, "sparkshim.connect.allowed.users", s->door_allowed_users,
		 sizeof(s->door_allowed_users));
	return 0;
}

/* The front door's limits. Spark's own session timeout (60 min by
 * default) is when the door forgets a quiet session, as Spark does. */
static int door_limits_load(const struct conf *m, const struct conf *spark, struct settings *s,
			    char *err, size_t errlen)
{
	long ms, mo;
	if (conf_get_int(m, "sparkshim.connect.max.sessions", 0, 0, 1000000, &ms, err, errlen) < 0 ||
	    conf_get_int(m, "sparkshim.connect.max.operations", 0, 0, 1000000, &mo, err, errlen) < 0 ||
	    conf_get_duration(spark, "spark.connect.session.manager.defaultSessionTimeout", 60 * MIN,
			      &s->door_session_timeout_ms, err, errlen) < 0)
		return -1;
	s->door_max_sessions = (unsigned)ms;
	s->door_max_operations = (unsigned)mo;
	return 0;
}

int settings_load(const struct conf *cli_shim, const char *config_file,
		  const struct conf *spark_conf, struct settings *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	struct conf m;
	conf_init(&m);
	int rc = -1;
	if (merge(&m, cli_shim, config_file, spark_conf, err, errlen) < 0)
		goto out;

	int64_t init_timeout;
	long cache_mb = 0;
	if (registry_init_timeout_ms(spark_conf, &init_timeout, err, errlen) < 0 ||
	    conf_get_duration(&m, "sparkshim.start.timeout", init_timeout, &s->start_timeout_ms, err,
			      errlen) < 0 ||
	    conf_get_duration(&m, "sparkshim.stop.timeout", 30000, &s->stop_timeout_ms, err,
			      errlen) < 0 ||
	    conf_get_duration(&m, "sparkshim.probe.interval", 2000, &s->probe_interval_ms, err,
			      errlen) < 0 ||
	    idle_policy_choose(spark_conf, &s->idle, err, errlen) < 0 ||
	    kconf_get_duration(spark_conf, "kyuubi.session.engine.check.interval", MIN,
			       &s->check_interval_ms, err, errlen) < 0 ||
	    kconf_get_duration(spark_conf, "kyuubi.session.engine.spark.max.lifetime", 0,
			       &s->max_lifetime_ms, err, errlen) < 0 ||
	    conf_get_bool(&m, "sparkshim.exit.with.parent", 0, &s->exit_with_parent, err,
			  errlen) < 0 ||
	    conf_get_bool(&m, "sparkshim.launcher.cache", 1, &s->launcher_cache, err, errlen) < 0 ||
	    conf_get_bool(&m, "sparkshim.cds", 1, &s->cds, err, errlen) < 0 ||
	    conf_get_duration(&m, "sparkshim.cache.max.age", 30 * DAY, &s->cache_max_age_ms, err,
			      errlen) < 0 ||
	    conf_get_int(&m, "sparkshim.cache.max.size.mb", 2048, 1, 1L << 30, &cache_mb, err,
			 errlen) < 0 ||
	    conf_get_bool(&m, "sparkshim.subreaper", 0, &s->subreaper, err, errlen) < 0)
		goto out;
	s->idle_timeout_ms = s->idle.timeout_ms;
	s->cache_max_bytes = (int64_t)cache_mb << 20;
	if (s->cache_max_age_ms <= 0) {
		snprintf(err, errlen, "sparkshim.cache.max.age=%s: expected a duration > 0",
			 conf_get_default(&m, "sparkshim.cache.max.age", ""));
		goto out;
	}
	if (s->start_timeout_ms <= 0 || s->stop_timeout_ms <= 0 || s->probe_interval_ms <= 0 ||
	    s->check_interval_ms <= 0) {
		snprintf(err, errlen, "start/stop timeouts, probe and check intervals must be > 0");
		goto out;
	}
	const char *lvl = conf_get_default(&m, "sparkshim.log.level", "info");
	if (log_level_parse(lvl, &s->log_level) < 0) {
		snprintf(err, errlen, "sparkshim.log.level=%s: expected debug, info, warn or error", lvl);
		goto out;
	}
	const char *ca = conf_get_default(&m, "sparkshim.control.address", SETTINGS_CONTROL_DEFAULT);
	if (strcasecmp(ca, "off") == 0 || strcasecmp(ca, "none") == 0)
		ca = "";
	snprintf(s->control_address, sizeof(s->control_address), "%s", ca);
	snprintf(s->state_file, sizeof(s->state_file), "%s",
		 conf_get_default(&m, "sparkshim.state.file", ""));
	snprintf(s->pid_file, sizeof(s->pid_file), "%s",
		 conf_get_default(&m, "sparkshim.pid.file", ""));
	snprintf(s->cache_dir, sizeof(s->cache_dir), "%s",
		 conf_get_default(&m, "sparkshim.cache.dir", ""));
	if (door_limits_load(&m, spark_conf, s, err, errlen) < 0)
		goto out;
	if (read_token(&m, "sparkshim.control.token.file", "SPARKSHIM_CONTROL_TOKEN", s->control_token,
		       sizeof(s->control_token), err, errlen) < 0 ||
	    load_door(&m, s, err, errlen) < 0 || check_control_address(s, err, errlen) < 0)
		goto out;
	rc = 0;
out:
	conf_free(&m);
	return rc;
}
