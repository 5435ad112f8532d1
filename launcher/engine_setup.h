/* The start-up steps of main before and up to the JVM (engine_setup.c),
 * each 0 on success or an exit code (after printing the one-line error). */
#ifndef SPARKSHIM_ENGINE_SETUP_H
#define SPARKSHIM_ENGINE_SETUP_H

#include "launcher/engine.h"

int setup_spark_home(struct engine *s);
int setup_conf_and_settings(struct engine *s);
int setup_java(struct engine *s);
int setup_connect_args(struct engine *s);
int check_connect_port_free(struct engine *s);
/* A fixed control address that cannot be bound: said before Spark starts
 * (EXIT_PORT_IN_USE when taken, EXIT_USAGE when not this host's). */
int check_control_port_free(struct engine *s);
int start_engine_jvm(struct engine *s);
/* --print-launch-command: the driver command ("cmd X" lines) and what
 * spark-env.sh sets ("env K=V"), as start_engine_jvm would use them. */
int print_launch_command(struct engine *s);
/* Once READY, on the main thread: start the background class-data archive
 * dump if this start recorded a class list (cds_archive.h). */
void engine_cds_ready(void);
/* While the JVM boots, on a thread of its own: prune the start-up cache
 * (cache_prune.h; sparkshim.cache.max.age / .max.size.mb). */
void engine_cache_prune_start(struct engine *s);
/* On the way out: an unfinished dump is killed and reaped. */
void engine_cds_cancel(void);

#endif
