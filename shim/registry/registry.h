/* Registration with the gateway: the Kyuubi-compatible ZooKeeper discovery
 * node that tells a gateway where this engine's Spark Connect endpoint is.
 *
 * One EPHEMERAL_SEQUENTIAL node per engine, under the engine space the
 * gateway passed in (spark.kyuubi.ha.namespace):
 *   serverUri=<host>:<port>;version=<v>;<attr>=<value>...;refId=<id>;sequence=NNNNNNNNNN
 * with data "<host>:<port>". The gateway finds the engine by "refId=<id>" in
 * the name and stops it by deleting the node.
 *
 * Threads: configure/register/close from the main thread; deregister from
 * any thread (also the JVM exit hook). After registering, a monitor thread
 * watches the node and the session and reports through events_post():
 *   EV_REG_REGISTERED   text: node path (after the first and every re-registration)
 *   EV_REG_NODE_DELETED text: node path; someone (the gateway) deleted it: stop gracefully
 *   EV_REG_LOST         value: ms disconnected; no ZooKeeper for longer than
 *                       the session timeout + retry budget: stop gracefully
 * On session expiry the node is re-created under a new session while
 * lifecycle_state() is STARTING or READY (new path, EV_REG_REGISTERED again).
 * engine_info's reg_state/znode_path follow all of it. */
#ifndef SPARKSHIM_REGISTRY_H
#define SPARKSHIM_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "base/conf.h"
#include "shim/registry/advertise.h" /* advertised_host() */
#include "shim/registry/submit_time.h" /* the gateway's start-up budget */

struct reg_endpoint {
	const char *host;             /* advertised host (advertised_host()); no ':' ';' '/' */
	int port;                     /* bound Spark Connect port */
	const char *control_endpoint; /* "host:port" of the control service, "" or NULL if
				       * none; unix: endpoints are not published */
	const char *app_id;           /* Spark application id, "" / NULL if unknown */
	const char *ui_url;           /* Spark UI URL ("http://h:4040"), "" / NULL if none */
};

/* Read and validate every registration setting (see docs/registration.md).
 * Copies what it needs: the conf may be freed afterwards. 0, or -1 with a
 * one-line error naming the bad key=value (exit EXIT_USAGE). Also points the
 * ZooKeeper client's own log at ours. */
int registry_configure(const struct conf *c, char *err, size_t errlen);

/* 1 when registration is on (kyuubi.ha.addresses non-empty), after configure. */
int registry_enabled(void);

/* Connect, authenticate, create the persistent parents and our node, watch
 * it, start the monitor. Bounded by kyuubi.ha.zookeeper.connection.timeout.
 * 0 (also when registration is off: nothing happens), or -1 with a one-line
 * error (exit EXIT_REGISTER). Posts EV_REG_REGISTERED. Must be called from a
 * thread whose signal mask the ZooKeeper and monitor threads may inherit. */
int registry_register(const struct reg_endpoint *ep, char *err, size_t errlen);

/* SIGHUP: bring the registered node in line with ep. When its name and data
 * would stay the same the node is kept as it is (same path, same session):
 * 1. Otherwise the new node is created, on the same session, BEFORE the old
 * one is deleted, so a gateway never sees the engine missing: 0 (posts
 * EV_REG_REGISTERED with the new path). -1 with a one-line error: not
 * registered, or the new node could not be created (the old one stays). 1
 * also when registration is off. May block like registry_register. */
int registry_update(const struct reg_endpoint *ep, char *err, size_t errlen);

/* Delete our node and never re-create it. Call it FIRST on every stop path.
 * Idempotent (a concurrent second call waits for the first), bounded by
 * sparkshim.registry.deregister.timeout (2 s). 0 = node gone (or never
 * there), -1 = could not delete in time (ZooKeeper drops it when the session
 * ends, at registry_close or after the session timeout). */
int registry_deregister(void);

/* Deregister if not done, stop the monitor, at CONNECTION share level delete
 * the engine's (now empty) namespace node like Kyuubi, close the session.
 * Bounded (a few seconds at worst). Safe without configure/register. */
void registry_close(void);

#endif
