/* The launcher's side of the Connect front door (shim/ctl/front_door.h):
 * where it listens, what Spark gets instead, the internal token, the
 * engine user, and its start, upstream, reload and stop. Each step is a
 * no-op with --front-door off. docs/front-door.md. */
#ifndef SPARKSHIM_DOOR_SETUP_H
#define SPARKSHIM_DOOR_SETUP_H

#include <stddef.h>

#include "base/conf.h"
#include "launcher/engine.h"

/* Before the JVM: the door takes the address and port asked for
 * (spark.connect.grpc.binding.address/.port) and Spark is moved to
 * 127.0.0.1:0 behind it with a fresh internal token. `force` gets the
 * confs Spark must run with. 0 or an exit code (Spark 3.x: usage error). */
int door_plan(struct engine *s, struct conf *force);

/* Bind the door (before the JVM, so a taken port costs nothing). 0 or an
 * exit code. */
int door_open(struct engine *s);

/* Just before the JVM is created: the internal token goes to Spark through
 * its environment (SPARK_CONNECT_AUTHENTICATE_TOKEN), never a command line. */
void door_export_token(struct engine *s);

/* Spark's connect server bound spark_port: relay there. Returns the port
 * to publish (the door's; spark_port itself with the door off). */
int door_upstream(struct engine *s, int spark_port);

/* SIGHUP with the new settings: token and TLS files re-read. */
void door_reload(struct engine *s, const struct settings *ns);

void door_close(struct engine *s);

/* The user every session must be: --proxy-user, else the user of a Kyuubi
 * USER or CONNECTION engine space (spark.kyuubi.ha.namespace), else the
 * OS user running the engine. */
void engine_user_name(const struct conf *spark_conf, char *out, size_t outlen);

#endif
