/* Kyuubi-generic registration settings, read from the engine's conf and
 * validated once: whether discovery is on, which backend
 * (kyuubi.ha.client.class), and the engine's identity there (engine space,
 * refId, share level, version, published attributes). The backend's own
 * settings (ZooKeeper: zk_conf.h) are loaded by the backend.
 *
 * Keys are read as "spark.<key>" or "<key>" (kconf_get, base/conf.h). Pure
 * parsing: no I/O. */
#ifndef SPARKSHIM_REG_CONF_H
#define SPARKSHIM_REG_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "base/conf.h"

/* Our own node attribute: where the shim's control service listens. */
#define REG_ATTR_CONTROL "sparkshim.control"

struct discovery_backend;

struct reg_config {
	int enabled;              /* addresses non-empty */
	const struct discovery_backend *backend; /* from kyuubi.ha.client.class */
	char *addresses;          /* kyuubi.ha.addresses as set (the backend parses it) */
	char *namespace_path;     /* normalised engine space, e.g. /kyuubi_1.10.0_USER_SPARK_CONNECT/bob/default */
	char *ref_id;             /* NULL when absent */
	char *share_level;        /* upper case: CONNECTION, USER, GROUP, SERVER_LOCAL, SERVER */
	char *version;            /* the node's version= value */
	int64_t deregister_timeout_ms;
	/* Node attributes taken from the conf, in publishing order (owned). */
	char **attr_keys;
	char **attr_values;       /* value "" when the conf does not set it */
	size_t n_attrs;
};

/* Fill rc from c. 0, or -1 with a one-line error naming the key and the bad
 * value in err (rc is then left empty). rc owns its strings: reg_config_free. */
int reg_config_load(struct reg_config *rc, const struct conf *c, char *err, size_t errlen);
void reg_config_free(struct reg_config *rc);

/* Helpers for the backends' settings; each error is one line naming the key
 * spelling that is set and its value. */
/* A bounded int-valued duration (Kyuubi's intConf in milliseconds; Spark and
 * ISO duration strings are accepted too). */
int reg_conf_ms(const struct conf *c, const char *key, int64_t dflt, int64_t min, int *out,
		char *err, size_t errlen);
int reg_conf_int(const struct conf *c, const char *key, long dflt, long min, long max, int *out,
		 char *err, size_t errlen);
/* The index of v in the NULL-terminated names (case-insensitive), or -1. */
int reg_conf_pick(const char *v, const char *const *names);

#endif
