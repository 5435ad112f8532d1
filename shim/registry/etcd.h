/* The etcd discovery backend (etcd.c): lease-bound keys under a v3 lock,
 * as Kyuubi's EtcdDiscoveryClient writes them. */
#ifndef SPARKSHIM_ETCD_H
#define SPARKSHIM_ETCD_H

#include "shim/registry/discovery.h"

extern const struct discovery_backend etcd_backend;

#endif
