/* The driver's address from the engine's host: sparkshim is Spark's driver,
 * so the host it advertises to the gateway (advertise.h) is also the one its
 * executors must reach. One setting decides both:
 *
 *   - spark.driver.host = the engine's host, unless set;
 *   - spark.driver.bindAddress, unless set: the connect server's bind
 *     address when that is one interface (the driver listens on the same
 *     interface), or 0.0.0.0 when the engine's host is not an address of
 *     this machine (a NAT or Kubernetes service name: Spark could not bind
 *     it); otherwise Spark's default (spark.driver.host);
 *
 * only for a master with executors elsewhere (anything but local,
 * local[N], local[N,F], local[*]): a local driver keeps Spark's defaults. */
#ifndef SPARKSHIM_DRIVER_HOST_H
#define SPARKSHIM_DRIVER_HOST_H

#include "base/conf.h"

/* 1 for Spark's in-process masters (spark.master unset counts as local). */
int master_is_local(const char *master);

/* Adds the derived confs to both spark_conf (the shim's view) and extra
 * (appended to spark-submit's arguments). host_from: the key that gave
 * host, or NULL when discovered (for the log line). 0 / -1 (ENOMEM). */
int driver_host_derive(struct conf *spark_conf, struct conf *extra, const char *host,
		       const char *host_from);

#endif
