#include "shim/registry/etcd_conf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shim/registry/zk_conf.h"

static int push(char ***v, size_t n, char *s)
{
	char **nv = realloc(*v, (n + 1) * sizeof(**v));
	if (!nv) {
		free(s);
		return -1;
	}
	nv[n] = s;
	*v = nv;
	return 0;
}

/* One address: [http://|https://]host[:port][/]; *https set for https. */
static int parse_endpoint(const char *key, const char *all, const char *a, size_t len,
			  struct etcd_config *ec, int *https, char *err, size_t errlen)
{
	char buf[512];
	if (len >= sizeof(buf)) {
		snprintf(err, errlen, "%s=%s: address too long", key, all);
		return -1;
	}
	memcpy(buf, a, len);
	buf[len] = '\0';
	char *h = buf;
	*https = -1;
	if (strncasecmp(h, "http://", 7) == 0) {
		*https = 0;
		h += 7;
	} else if (strncasecmp(h, "https://", 8) == 0) {
		*https = 1;
		h += 8;
	} else if (strstr(h, "://")) {
		snprintf(err, errlen, "%s=%s: only http:// and https:// etcd endpoints are supported",
			 key, all);
		return -1;
	}
	size_t hl = strlen(h);
	while (hl && h[hl - 1] == '/')
		h[--hl] = '\0';
	if (!hl || strchr(h, '/') || strchr(h, '@')) {
		snprintf(err, errlen, "%s=%s: expected host:port endpoints", key, all);
		return -1;
	}
	char host[300];
	long port = 2379;
	const char *colon;
	if (h[0] == '[') {
		const char *rb = strchr(h, ']');
		if (!rb || (rb[1] && rb[1] != ':')) {
			snprintf(err, errlen, "%s=%s: bad IPv6 endpoint %s", key, all, h);
			return -1;
		}
		snprintf(host, sizeof(host), "%.*s", (int)(rb - h - 1), h + 1);
		colon = rb[1] == ':' ? rb + 1 : NULL;
	} else {
		colon = strrchr(h, ':');
		snprintf(host, sizeof(host), "%.*s", (int)(colon ? colon - h : (long)hl), h);
		if (colon && strchr(host, ':')) {
			snprintf(err, errlen, "%s=%s: write IPv6 endpoints as [addr]:port", key, all);
			return -1;
		}
	}
	if (colon) {
		char *end;
		port = strtol(colon + 1, &end, 10);
		if (!colon[1] || *end || port < 1 || port > 65535) {
			snprintf(err, errlen, "%s=%s: bad port in %s", key, all, h);
			return -1;
		}
	}
	if (!host[0]) {
		snprintf(err, errlen, "%s=%s: empty host in %s", key, all, h);
		return -1;
	}
	unsigned char bin[16];
	char *target, *name;
	int r1, r2;
	if (strcasecmp(host, "localhost") == 0 || inet_pton(AF_INET, host, bin) == 1) {
		/* A literal skips gRPC's resolver (c-ares) altogether. */
		r1 = asprintf(&target, "ipv4:%s:%ld",
			      strcasecmp(host, "localhost") == 0 ? "127.0.0.1" : host, port);
		r2 = asprintf(&name, "%s:%ld", host, port);
	} else if (inet_pton(AF_INET6, host, bin) == 1) {
		r1 = asprintf(&target, "ipv6:[%s]:%ld", host, port);
		r2 = asprintf(&name, "[%s]:%ld", host, port);
	} else {
		r1 = asprintf(&target, "dns:///%s:%ld", host, port);
		r2 = asprintf(&name, "%s:%ld", host, port);
	}
	if (r1 < 0 || r2 < 0) {
		if (r1 >= 0)
			free(target);
		if (r2 >= 0)
			free(name);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (push(&ec->endpoints, ec->n_endpoints, target) < 0 ||
	    push(&ec->endpoint_names, ec->n_endpoints, name) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ec->n_endpoints++;
	return 0;
}

static int load_endpoints(struct etcd_config *ec, const struct conf *c, const char *all,
			  char *err, size_t errlen)
{
	const char *key = kconf_key(c, "kyuubi.ha.addresses");
	if (!kconf_get(c, "kyuubi.ha.addresses", NULL))
		key = kconf_key(c, "kyuubi.ha.zookeeper.quorum");
	int scheme = -1; /* -1 none seen, 0 http, 1 https */
	const char *p = all;
	for (;;) {
		const char *comma = strchr(p, ',');
		const char *e = comma ? comma : p + strlen(p);
		const char *a = p, *b = e;
		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		if (a == b) {
			snprintf(err, errlen, "%s=%s: empty endpoint in the list", key, all);
			return -1;
		}
		int https;
		if (parse_endpoint(key, all, a, (size_t)(b - a), ec, &https, err, errlen) < 0)
			return -1;
		if (https >= 0) {
			if (scheme >= 0 && scheme != https) {
				snprintf(err, errlen, "%s=%s: mixes http:// and https:// endpoints",
					 key, all);
				return -1;
			}
			scheme = https;
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	ec->tls = scheme == 1;
	return 0;
}

static int dup_opt(const struct conf *c, const char *key, char **out, char *err, size_t errlen)
{
	const char *v = kconf_get(c, key, NULL);
	*out = NULL;
	if (!v || !*v)
		return 0;
	*out = strdup(v);
	if (!*out) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static int load_tls_auth(struct etcd_config *ec, const struct conf *c, char *err, size_t errlen)
{
	const char *key = "kyuubi.ha.etcd.ssl.enabled";
	int on = 0;
	if (kconf_get(c, key, NULL) &&
	    conf_get_bool(c, kconf_key(c, key), 0, &on, err, errlen) < 0)
		return -1;
	if (on)
		ec->tls = 1;
	if (dup_opt(c, "kyuubi.ha.etcd.ssl.ca.path", &ec->ca_path, err, errlen) < 0 ||
	    dup_opt(c, "kyuubi.ha.etcd.ssl.client.certificate.path", &ec->cert_path, err,
		    errlen) < 0 ||
	    dup_opt(c, "kyuubi.ha.etcd.ssl.client.key.path", &ec->key_path, err, errlen) < 0 ||
	    dup_opt(c, "sparkshim.registry.etcd.user", &ec->user, err, errlen) < 0 ||
	    dup_opt(c, "sparkshim.registry.etcd.password", &ec->password, err, errlen) < 0)
		return -1;
	if (!ec->cert_path != !ec->key_path) {
		const char *set = ec->cert_path ? "kyuubi.ha.etcd.ssl.client.certificate.path"
						: "kyuubi.ha.etcd.ssl.client.key.path";
		snprintf(err, errlen, "%s=%s needs %s too", kconf_key(c, set),
			 ec->cert_path ? ec->cert_path : ec->key_path,
			 ec->cert_path ? "kyuubi.ha.etcd.ssl.client.key.path"
				       : "kyuubi.ha.etcd.ssl.client.certificate.path");
		return -1;
	}
	if (!ec->tls && (ec->ca_path || ec->cert_path)) {
		snprintf(err, errlen,
			 "%s=%s is set but TLS is off: set kyuubi.ha.etcd.ssl.enabled=true or use "
			 "https:// endpoints",
			 kconf_key(c, ec->ca_path ? "kyuubi.ha.etcd.ssl.ca.path"
						  : "kyuubi.ha.etcd.ssl.client.certificate.path"),
			 ec->ca_path ? ec->ca_path : ec->cert_path);
		return -1;
	}
	if (!ec->user != !ec->password) {
		/* Never echo the password. */
		snprintf(err, errlen, "%s is set without %s",
			 kconf_key(c, ec->user ? "sparkshim.registry.etcd.user"
					       : "sparkshim.registry.etcd.password"),
			 ec->user ? "sparkshim.registry.etcd.password"
				  : "sparkshim.registry.etcd.user");
		return -1;
	}
	return 0;
}

/* The retry budget: the ZooKeeper keys' retry policy, without the session. */
static int load_retry(struct etcd_config *ec, const struct conf *c, char *err, size_t errlen)
{
	struct zk_config z;
	memset(&z, 0, sizeof(z));
	if (zk_retry_load(&z, c, err, errlen) < 0)
		return -1;
	/* zk_lost_budget_ms adds the session timeout; here it is 0. */
	ec->retry_budget_ms = zk_lost_budget_ms(&z, 0);
	ec->retry_base_ms = z.retry_base_ms;
	return 0;
}

int etcd_config_load(struct etcd_config *ec, const struct conf *c, const struct reg_config *rc,
		     char *err, size_t errlen)
{
	memset(ec, 0, sizeof(*ec));
	int lease_ms;
	if (load_endpoints(ec, c, rc->addresses, err, errlen) < 0 ||
	    load_tls_auth(ec, c, err, errlen) < 0 || load_retry(ec, c, err, errlen) < 0 ||
	    reg_conf_ms(c, "kyuubi.ha.etcd.lease.timeout", 10000, 1, &lease_ms, err, errlen) < 0 ||
	    reg_conf_ms(c, "kyuubi.ha.zookeeper.connection.timeout", 15000, 1,
			&ec->connect_timeout_ms, err, errlen) < 0)
		goto fail;
	ec->lease_ttl_s = (lease_ms + 999) / 1000;
	return 0;
fail:
	etcd_config_free(ec);
	return -1;
}

void etcd_config_free(struct etcd_config *ec)
{
	for (size_t i = 0; i < ec->n_endpoints; i++) {
		free(ec->endpoints[i]);
		free(ec->endpoint_names[i]);
	}
	free(ec->endpoints);
	free(ec->endpoint_names);
	free(ec->ca_path);
	free(ec->cert_path);
	free(ec->key_path);
	free(ec->user);
	if (ec->password)
		memset(ec->password, 0, strlen(ec->password));
	free(ec->password);
	memset(ec, 0, sizeof(*ec));
}

int64_t etcd_lost_budget_ms(const struct etcd_config *ec)
{
	return (int64_t)ec->lease_ttl_s * 1000 + ec->retry_budget_ms;
}
