/* The discovery backends, by kyuubi.ha.client.class: the one table to
 * extend when a backend is added (discovery.h). A row without ops is a
 * Kyuubi backend known by name but not implemented here yet. */
#include "shim/registry/backends.h"

#include <stdio.h>
#include <string.h>

#include "shim/registry/etcd.h"
#include "shim/registry/zk.h"

static const struct {
	const char *class_name; /* Kyuubi's DiscoveryClient class */
	const char *name;
	const struct discovery_backend *ops; /* NULL: not supported yet */
} backends[] = {
	/* The first row is the default (kyuubi.ha.client.class unset or empty). */
	{"org.apache.kyuubi.ha.client.zookeeper.ZookeeperDiscoveryClient", "ZooKeeper", &zk_backend},
	{"org.apache.kyuubi.ha.client.etcd.EtcdDiscoveryClient", "etcd", &etcd_backend},
};

const struct discovery_backend *discovery_backend_for_class(const char *key, const char *cls,
							    char *err, size_t errlen)
{
	if (!cls || !*cls)
		return backends[0].ops;
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		if (strcmp(cls, backends[i].class_name) != 0)
			continue;
		if (backends[i].ops)
			return backends[i].ops;
		snprintf(err, errlen,
			 "%s=%s: %s discovery is not supported yet; use ZooKeeper (%s)", key, cls,
			 backends[i].name, backends[0].class_name);
		return NULL;
	}
	snprintf(err, errlen, "%s=%s: only ZooKeeper discovery is supported", key, cls);
	return NULL;
}
