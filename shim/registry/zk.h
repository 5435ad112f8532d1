/* The ZooKeeper discovery backend (zk.c): ephemeral-sequential znodes, as
 * Kyuubi's ZookeeperDiscoveryClient writes them. */
#ifndef SPARKSHIM_ZK_H
#define SPARKSHIM_ZK_H

#include "shim/registry/discovery.h"

extern const struct discovery_backend zk_backend;

#endif
