/* The etcd backend's own settings (kyuubi.ha.etcd.*, the endpoints in
 * kyuubi.ha.addresses, sparkshim.registry.etcd.*), read after the
 * Kyuubi-generic ones (reg_conf.h). Pure parsing: no I/O (the TLS files are
 * read when the client connects). */
#ifndef SPARKSHIM_ETCD_CONF_H
#define SPARKSHIM_ETCD_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "base/conf.h"
#include "shim/registry/reg_conf.h"

struct etcd_config {
	char **endpoints;        /* gRPC targets ("ipv4:127.0.0.1:2379", "host:2379"), in order */
	char **endpoint_names;   /* as written, without scheme ("127.0.0.1:2379"), for messages */
	size_t n_endpoints;
	int tls;                 /* kyuubi.ha.etcd.ssl.enabled, or https:// endpoints */
	char *ca_path, *cert_path, *key_path; /* kyuubi.ha.etcd.ssl.*; NULL when unset */
	char *user, *password;   /* sparkshim.registry.etcd.user/.password; NULL when unset */
	int lease_ttl_s;         /* kyuubi.ha.etcd.lease.timeout, whole seconds (rounded up) */
	int connect_timeout_ms;  /* kyuubi.ha.zookeeper.connection.timeout (Kyuubi's HA one) */
	int retry_base_ms;       /* kyuubi.ha.zookeeper.connection.base.retry.wait */
	int64_t retry_budget_ms; /* the retry policy's total wait (zk_lost_budget_ms without the session) */
};

/* Fill ec from c (rc loaded and enabled: rc->addresses). 0, or -1 with a
 * one-line error naming key=value (ec is then left empty). */
int etcd_config_load(struct etcd_config *ec, const struct conf *c, const struct reg_config *rc,
		     char *err, size_t errlen);
void etcd_config_free(struct etcd_config *ec);

/* How long etcd may stay unreachable before the engine gives up
 * (EV_REG_LOST): the lease TTL (the server drops our key then) plus the
 * retry budget, like ZooKeeper's session timeout plus retry budget. */
int64_t etcd_lost_budget_ms(const struct etcd_config *ec);

#endif
