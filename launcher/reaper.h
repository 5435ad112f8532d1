/* Orphan reaping for an engine that is PID 1 (a container's entrypoint, as
 * Spark on Kubernetes runs its driver) or a child subreaper (--subreaper).
 *
 * Processes whose parent dies are re-parented to us then: Python UDF
 * workers whose pyspark daemon died, shells' background jobs. Nobody else
 * will wait for them, so their zombies would pile up. But the JVM lives in
 * this process and its ProcessBuilder children are our children too; Java's
 * process reaper waits for each of them by pid and must get its status
 * (never waitpid(-1): see reaper.c for how the two are told apart).
 *
 * The main loop calls reaper_scan() at reaper_next_ms(); nothing else here
 * runs on its own. */
#ifndef SPARKSHIM_REAPER_H
#define SPARKSHIM_REAPER_H

#include <stddef.h>
#include <stdint.h>

/* A zombie is reaped once it has stayed one for this long (see reaper.c). */
#define REAPER_GRACE_MS 2000
#define REAPER_SCAN_MS 1000

/* Active when we are PID 1 of our PID namespace, or when subreaper is set
 * (then PR_SET_CHILD_SUBREAPER is set here). Call on the main thread (the
 * thread group leader), before the JVM starts. Returns 1 when active, 0
 * when not, -1 (err filled) when the prctl fails. */
int reaper_init(int subreaper, char *err, size_t errlen);
int reaper_active(void);
/* Monotonic ms of the next scan; 0 when inactive. */
int64_t reaper_next_ms(void);
/* Reap adopted zombies that have waited REAPER_GRACE_MS; returns how many. */
int reaper_scan(int64_t now_ms);

#endif
