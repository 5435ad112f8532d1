/* The shim's typed settings, merged from (lowest first): the --config file,
 * spark.sparkshim.* confs on the spark-submit line, the shim's command-line
 * options. Kyuubi's engine keys are read from the Spark conf the way a Kyuubi
 * engine reads them (spark.kyuubi.X, or kyuubi.X). Re-loadable on SIGHUP. */
#ifndef SPARKSHIM_SETTINGS_H
#define SPARKSHIM_SETTINGS_H

#include <stdint.h>

#include "base/conf.h"
#include "base/log.h"
#include "launcher/idle_policy.h"

/* The default control address: loopback, the connect port + 1. */
#define SETTINGS_CONTROL_DEFAULT "127.0.0.1:+1"

struct settings {
	int64_t start_timeout_ms;
	int64_t stop_timeout_ms;
	int64_t probe_interval_ms;
	int64_t idle_timeout_ms;    /* 0 = never; = idle.timeout_ms */
	struct idle_policy idle;    /* the mode and where the idle timeout came from */
	int64_t check_interval_ms;
	int64_t max_lifetime_ms;    /* 0 = unlimited */
	char control_address[300];  /* "" = off; "127.0.0.1:+1" = connect port + 1 */
	char control_token[512];    /* "" = none */
	char state_file[4096];
	char pid_file[4096];
	int exit_with_parent;
	int subreaper;              /* sparkshim.subreaper: reap adopted orphans (always as PID 1) */
	int launcher_cache;         /* sparkshim.launcher.cache (default true) */
	int cds;                    /* sparkshim.cds: class-data archive (default true) */
	char cache_dir[4096];       /* sparkshim.cache.dir; "" = $XDG_CACHE_HOME/sparkshim */
	int64_t cache_max_age_ms;   /* sparkshim.cache.max.age: prune entries unused this long (30 days) */
	int64_t cache_max_bytes;    /* sparkshim.cache.max.size.mb: prune beyond this (2048 MiB) */
	enum log_level log_level;
	/* The Connect front door (docs/front-door.md). */
	int front_door;                 /* sparkshim.connect.front.door, --front-door on|off (default on) */
	char door_token[512];           /* client bearer token: sparkshim.connect.token.file or env SPARKSHIM_CONNECT_TOKEN; "" = none */
	char door_tls_cert[4096];       /* sparkshim.connect.tls.cert (PEM); "" = plaintext */
	char door_tls_key[4096];        /* sparkshim.connect.tls.key (PEM) */
	char door_tls_client_ca[4096];  /* sparkshim.connect.tls.client.ca (PEM): mTLS */
	char door_allowed_users[1024];  /* sparkshim.connect.allowed.users: "a,b" or "*" */
	/* The front door's session table (shim/ctl/door_sessions.h). */
	unsigned door_max_sessions;       /* sparkshim.connect.max.sessions; 0 = unlimited */
	unsigned door_max_operations;     /* sparkshim.connect.max.operations; 0 = unlimited */
	int64_t door_session_timeout_ms;  /* Spark's spark.connect.session.manager.defaultSessionTimeout */
};

/* Every sparkshim.* key the shim reads (settings.c has the one list). */
extern const char *const settings_known_keys[];
extern const size_t n_settings_known_keys;

/* Unknown sparkshim.* keys in the --config file or in --conf
 * spark.sparkshim.* are warned about, with the closest known key.
 * 0 / -1 with a one-line error naming the bad key and value. */
int settings_load(const struct conf *cli_shim, const char *config_file,
		  const struct conf *spark_conf, struct settings *out, char *err, size_t errlen);

#endif
