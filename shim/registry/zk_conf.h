/* The ZooKeeper backend's own settings (kyuubi.ha.zookeeper.*, and
 * sparkshim.registry.zookeeper.log.level), read after the Kyuubi-generic
 * ones (reg_conf.h). Pure parsing: no I/O, no ZooKeeper. */
#ifndef SPARKSHIM_ZK_CONF_H
#define SPARKSHIM_ZK_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "base/conf.h"
#include "base/log.h"
#include "shim/registry/reg_conf.h"

enum reg_auth { REG_AUTH_NONE, REG_AUTH_DIGEST };
enum reg_retry {
	REG_RETRY_ONE_TIME,
	REG_RETRY_N_TIME,
	REG_RETRY_EXPONENTIAL_BACKOFF,
	REG_RETRY_BOUNDED_EXPONENTIAL_BACKOFF,
	REG_RETRY_UNTIL_ELAPSED,
};

struct zk_config {
	char *addresses;          /* ZooKeeper C client host string (ports completed) */
	enum reg_auth acl_mode;   /* which ACL our nodes get */
	char *digest;             /* "user:pass" to authenticate with, or NULL */
	int session_timeout_ms;
	int connect_timeout_ms;
	enum reg_retry retry_policy;
	int retry_base_ms, retry_max_ms, max_retries;
	enum log_level zk_log_level;
};

/* Fill zc from c; rc (loaded, enabled) gives the addresses and whether the
 * engine has a refId (which auth key applies). 0, or -1 with a one-line
 * error naming the key and the bad value (zc is then left empty). */
int zk_config_load(struct zk_config *zc, const struct conf *c, const struct reg_config *rc,
		   char *err, size_t errlen);
void zk_config_free(struct zk_config *zc);

/* The kyuubi.ha.zookeeper.connection.* retry policy, max retries and waits
 * into zc (the budget etcd reuses too). 0, or -1 with a one-line error. */
int zk_retry_load(struct zk_config *zc, const struct conf *c, char *err, size_t errlen);

/* How long the discovery connection may stay down before the engine gives up
 * (EV_REG_LOST): the session timeout, then the retry policy's whole budget,
 * like Kyuubi (Curator reports LOST after a session timeout without a
 * connection; Kyuubi then waits the retry budget before stopping).
 * session_ms is the negotiated session timeout when known. */
int64_t zk_lost_budget_ms(const struct zk_config *zc, int64_t session_ms);

/* Complete a Java-style connect string for the C client: a host without a
 * port gets ":2181" (the Java client's default; the C client refuses it).
 * Spaces around hosts are dropped; a "/chroot" suffix is kept. Returns a
 * malloc'd string, or NULL with err filled. */
char *zk_normalize_addresses(const char *in, char *err, size_t errlen);

#endif
