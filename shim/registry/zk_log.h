/* The ZooKeeper C client's log lines, re-emitted through our own log so the
 * engine log has one format. The client formats a line as
 *   "<time>:<pid>(0x<tid>):ZOO_<LEVEL>@<function>@<line>: <message>"
 * and hands it to a per-handle callback (or, without a handle, writes it to
 * its global log stream); both paths end in zk_log_forward(). */
#ifndef SPARKSHIM_ZK_LOG_H
#define SPARKSHIM_ZK_LOG_H

#include <stddef.h>

#include "base/log.h"

/* Set the client's global level and point its global stream at us.
 * Idempotent; call before the first zookeeper_init. 0 / -1. */
int zk_log_install(enum log_level min);

/* Per-handle callback for zookeeper_init2 (the log_callback_fn type). */
void zk_log_callback(const char *line);

/* Parse one client line: 0 with *lvl, *msg and *msglen (the message text
 * without trailing newlines), or -1 when the line is not in that shape
 * (then the caller logs it whole at WARN). */
int zk_log_parse(const char *line, enum log_level *lvl, const char **msg, size_t *msglen);

/* Parse and log one line. */
void zk_log_forward(const char *line);

#endif
