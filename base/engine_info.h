/* What the engine knows about itself, shared read-mostly between the main
 * loop (writer) and the control/health/registration modules (readers).
 * Readers take a consistent copy with engine_info_get(). */
#ifndef SPARKSHIM_ENGINE_INFO_H
#define SPARKSHIM_ENGINE_INFO_H

#include <stdint.h>
#include <sys/types.h>

enum reg_state { REG_DISABLED, REG_PENDING, REG_REGISTERED, REG_DEREGISTERED, REG_FAILED };

struct engine_info {
	pid_t pid;
	int64_t start_epoch_ms;       /* wall clock at process start */
	char connect_host[256];       /* advertised host of the connect endpoint */
	int connect_port;             /* 0 until known */
	char control_endpoint[300];   /* "host:port" or "unix:/path", "" if off */
	char control_note[160];       /* why it is not the address asked for, "" if it is */
	char spark_version[64];
	char app_id[128];
	char app_name[256];
	char ui_url[300];
	enum reg_state reg_state;
	char znode_path[1024];
	int active_sessions;          /* -1 unknown */
	int active_operations;        /* -1 unknown */
	int attached_operations;      /* of those, sending to a client now; -1 unknown */
	int64_t last_activity_epoch_ms;  /* when we last saw work (ours, wall clock) */
	int64_t idle_token;              /* Spark's idle-since mark last seen (opaque) */
	int64_t heap_used;            /* bytes, -1 unknown */
	int64_t heap_max;
	int connect_alive;            /* last live probe of the connect port: 1/0 */
};

void engine_info_reset(void);
void engine_info_get(struct engine_info *out);
/* Run fn on the shared struct under the lock (fn must not block). */
void engine_info_update(void (*fn)(struct engine_info *info, void *arg), void *arg);
/* Called after every engine_info_update, on the updating thread, without
 * the lock (the state file rewrites itself when what it shows changed).
 * One listener; NULL removes it. Must not block for long. */
void engine_info_set_listener(void (*fn)(void));
const char *reg_state_name(enum reg_state st);

#endif
