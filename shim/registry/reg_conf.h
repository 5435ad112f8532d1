/* Registration settings read from the engine's conf, validated once.
 *
 * Kyuubi settings reach a Spark engine with a "spark." prefix
 * (spark.kyuubi.ha.addresses); the unprefixed form (kyuubi.ha.addresses) is
 * accepted too, and the prefixed one wins when both are set, as in Kyuubi's
 * engine. Pure parsing: no I/O, no ZooKeeper. */
#ifndef SPARKSHIM_REG_CONF_H
#define SPARKSHIM_REG_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "base/conf.h"
#include "base/log.h"

enum reg_auth { REG_AUTH_NONE, REG_AUTH_DIGEST };
enum reg_retry {
	REG_RETRY_ONE_TIME,
	REG_RETRY_N_TIME,
	REG_RETRY_EXPONENTIAL_BACKOFF,
	REG_RETRY_BOUNDED_EXPONENTIAL_BACKOFF,
	REG_RETRY_UNTIL_ELAPSED,
};

struct reg_config {
	int enabled;              /* addresses non-empty */
	char *addresses;          /* ZooKeeper C client host string (ports completed) */
	char *namespace_path;     /* normalised engine space, e.g. /kyuubi_1.10.0_USER_SPARK_CONNECT/bob/default */
	char *ref_id;             /* NULL when absent */
	char *share_level;        /* upper case: CONNECTION, USER, GROUP, SERVER_LOCAL, SERVER */
	char *version;            /* the node's version= value */
	enum reg_auth acl_mode;   /* which ACL our nodes get */
	char *digest;             /* "user:pass" to authenticate with, or NULL */
	int session_timeout_ms;
	int connect_timeout_ms;
	enum reg_retry retry_policy;
	int retry_base_ms, retry_max_ms, max_retries;
	int64_t deregister_timeout_ms;
	enum log_level zk_log_level;
	/* Node attributes taken from the conf, in publishing order (owned). */
	char **attr_keys;
	char **attr_values;       /* value "" when the conf does not set it */
	size_t n_attrs;
};

/* Look a Kyuubi key up as "spark.<key>" first, then "<key>". *used (if given)
 * is set to the key that matched. NULL when neither is set. */
const char *kconf_get(const struct conf *c, const char *key, const char **used);

/* Fill rc from c. 0, or -1 with a one-line error naming the key and the bad
 * value in err (rc is then left empty). rc owns its strings: reg_config_free. */
int reg_config_load(struct reg_config *rc, const struct conf *c, char *err, size_t errlen);
void reg_config_free(struct reg_config *rc);

/* How long the discovery connection may stay down before the engine gives up
 * (EV_REG_LOST): the session timeout, then the retry policy's whole budget,
 * like Kyuubi (Curator reports LOST after a session timeout without a
 * connection; Kyuubi then waits the retry budget before stopping).
 * session_ms is the negotiated session timeout when known. */
int64_t reg_lost_budget_ms(const struct reg_config *rc, int64_t session_ms);

/* Complete a Java-style connect string for the C client: a host without a
 * port gets ":2181" (the Java client's default; the C client refuses it).
 * Spaces around hosts are dropped; a "/chroot" suffix is kept. Returns a
 * malloc'd string, or NULL with err filled. */
char *reg_normalize_addresses(const char *in, char *err, size_t errlen);

#endif
