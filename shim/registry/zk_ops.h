/* ZooKeeper calls with a deadline. The C client's synchronous calls wait as
 * long as the client likes (and deadlock inside a watcher); these issue the
 * asynchronous call and wait for its completion until a CLOCK_MONOTONIC
 * deadline, optionally giving up early when *abort becomes non-zero (checked
 * every 50 ms). A completion that arrives after we gave up finds its context
 * still alive (reference-counted) and just drops it.
 *
 * All return a ZooKeeper result code: ZOK, the server's error, or
 * ZOPERATIONTIMEOUT when the deadline (or abort) came first. Never call them
 * from a ZooKeeper watcher or completion. */
#ifndef SPARKSHIM_ZK_OPS_H
#define SPARKSHIM_ZK_OPS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <zookeeper/zookeeper.h>


/* Create; the actual path (with the sequence suffix) goes to out. */
int zkop_create(zhandle_t *zh, const char *path, const char *data, int datalen,
		const struct ACL_vector *acl, int flags, char *out, size_t outlen,
		int64_t deadline, const atomic_int *abort);
int zkop_delete(zhandle_t *zh, const char *path, int64_t deadline, const atomic_int *abort);
/* exists with an optional watcher (fn NULL: no watch). *stat filled on ZOK. */
int zkop_exists(zhandle_t *zh, const char *path, watcher_fn fn, void *ctx,
		struct Stat *stat, int64_t deadline, const atomic_int *abort);
/* Children names; *names is a malloc'd NULL-terminated array of malloc'd
 * strings (free with zkop_free_names) on ZOK. */
int zkop_children(zhandle_t *zh, const char *path, char ***names, int64_t deadline,
		  const atomic_int *abort);
void zkop_free_names(char **names);
int zkop_add_auth(zhandle_t *zh, const char *scheme, const char *cert, int64_t deadline,
		  const atomic_int *abort);

#endif
