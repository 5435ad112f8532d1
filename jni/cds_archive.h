/* A class-data-sharing archive per (JDK, JVM options, class path), managed
 * by the shim: a static AppCDS archive made from the classes the driver
 * really loads; the JDK's own validation decides whether it is used.
 *
 * - No archive yet: the JVM runs with -XX:DumpLoadedClassList=<list> (no
 *   measurable cost). Once the engine is READY, cds_dump_start() runs
 *   `java -Xshare:dump -XX:SharedClassListFile=<list>` with the driver's
 *   class path and options in the background, at idle CPU priority
 *   (SCHED_IDLE, nice 19) and killed if the engine exits first
 *   (setpriv --pdeathsig KILL). It writes <archive>.<pid>.tmp; on success a
 *   waiter thread renames it into place and records size, mtime and inode
 *   in <archive>.meta. (JDK 17's -XX:ArchiveClassesAtExit works with the
 *   JNI-created JVM too, but makes that start 2-3x slower and its stop
 *   seconds longer.)
 * - An archive: -XX:SharedArchiveFile=<archive> -XX:+VerifySharedSpaces
 *   under -Xshare:auto (a refused archive is never fatal). Right after
 *   JNI_CreateJavaVM cds_check_mapped() looks in /proc/self/maps whether
 *   the JVM mapped it; when not (checksum, other JDK, class path or options)
 *   the archive is deleted and the next start makes a new one. A file that
 *   is not the one recorded in .meta (truncated: HotSpot 17 takes a SIGBUS
 *   mapping it) is deleted before the JVM sees it.
 * - Class paths with a non-empty directory (Spark's conf/ with templates,
 *   HADOOP_CONF_DIR) cannot be archived by JDK 17: no archive then. */
#ifndef SPARKSHIM_CDS_ARCHIVE_H
#define SPARKSHIM_CDS_ARCHIVE_H

#include <limits.h>
#include <stddef.h>

#include "base/strvec.h"

enum cds_mode { CDS_OFF, CDS_USE, CDS_RECORD };

struct cds_plan {
	enum cds_mode mode;
	char archive[PATH_MAX];   /* <dir>/cds-<key>.jsa */
	char list[PATH_MAX];      /* CDS_RECORD: <archive>.<pid>.classlist.tmp */
	char dump_tmp[PATH_MAX];  /* CDS_RECORD: <archive>.<pid>.tmp */
	char why[PATH_MAX + 128]; /* CDS_OFF: the reason */
	struct strvec dump_argv;  /* CDS_RECORD: the dump command */
};

/* Decide from the VM options (with -Djava.class.path=...) and the JDK.
 * Adds the options to `options` (CDS_USE / CDS_RECORD). Never fails the
 * start: any problem is CDS_OFF with a reason. */
void cds_plan_make(const char *dir, const char *java_home, const char *libjvm,
		   struct strvec *options, struct cds_plan *out);

/* CDS_RECORD, once the engine serves: start the background dump. Call from
 * a thread that lives as long as the process (the main thread): the dump
 * dies with it. 0 started, -1 not (logged). */
int cds_dump_start(struct cds_plan *p);
/* Kill an unfinished dump and wait (bounded) until it is reaped: the engine
 * leaves no process behind. (Any other way out: the dump dies with us.) */
void cds_dump_cancel(int timeout_ms);

/* In the JVM process after JNI_CreateJavaVM: 1 when `path` is mapped. */
int cds_path_mapped(const char *path);

/* CDS_USE: if the JVM did not map the archive, delete it (logged). Returns
 * 1 mapped, 0 not (deleted), -1 nothing to check. */
int cds_check_mapped(const struct cds_plan *p);

/* The key of a class path and option set (exposed for tests): 0 / -1. */
int cds_key(const char *java_home, const char *libjvm, const struct strvec *options,
	    char *out, size_t outlen);

/* The first non-empty directory on the class path, or "" (for tests). */
void cds_nonempty_dir(const char *classpath, char *out, size_t outlen);

#endif
