/* Pruning of the start-up cache directory (launcher_cache.h,
 * cds_archive.h), so that it does not grow without bound: one Spark home,
 * JDK or option set after another leaves entries no start uses again.
 *
 * An entry is a launcher result (launcher-<hash>.cmd) or a class-data
 * archive with its companions (cds-<key>.jsa, .jsa.meta, .jsa.log). Its last
 * use is the newest mtime of its files: a launcher-cache hit touches the
 * .cmd, a start that maps an archive touches the .jsa.meta
 * (cache_prune_touch). Pruning removes, oldest first:
 *   - every entry not used for max_age_ms;
 *   - then more, until the entries total at most max_bytes.
 * Never an archive in use: every start that maps one holds a shared flock on
 * the .jsa for its lifetime (cds_archive.c); the pruner deletes an archive
 * only under an exclusive non-blocking flock, so a start that locks it just
 * after finds it unlinked and records a new one. Launcher results are read
 * once at start (an unlinked file stays readable, writes are tmp + rename),
 * and one touched since the listing is kept. Temp files of writers (.tmp-*,
 * cds-*.tmp) go once older than a day. Files of other names are left alone.
 * Safe under concurrent starts and pruners; every error only keeps a file. */
#ifndef SPARKSHIM_CACHE_PRUNE_H
#define SPARKSHIM_CACHE_PRUNE_H

#include <stdint.h>

struct cache_prune_limits {
	int64_t max_age_ms;  /* > 0 */
	int64_t max_bytes;   /* > 0 */
};

struct cache_prune_result {
	int removed;         /* entries (and stale temp files) deleted */
	int in_use;          /* archives kept because a running engine maps them */
	int64_t bytes_freed;
	int64_t bytes_kept;  /* what the remaining entries total */
};

/* Prune dir as of now_epoch_ms. 0, or -1 when dir cannot be listed (a
 * missing dir is 0 with nothing done). */
int cache_prune(const char *dir, const struct cache_prune_limits *lim, int64_t now_epoch_ms,
		struct cache_prune_result *res);

/* Mark path as used now (its mtime). Best effort. */
void cache_prune_touch(const char *path);

#endif
