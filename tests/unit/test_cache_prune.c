/* Pruning of the start-up cache: by age, by size (oldest first), never an
 * archive a running engine holds, temp files only when stale, other files
 * never; a launcher-cache hit and an archive in use count as a use. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "jni/cache_prune.h"
#include "jni/cds_archive.h"
#include "jni/launcher_cache.h"

#define DAY_MS (24LL * 3600 * 1000)

static char tmpdir[] = "/tmp/sparkshim-prune-XXXXXX";
static int64_t now;

/* A file of `bytes` bytes last modified `age_ms` before now. */
static void put(const char *name, size_t bytes, int64_t age_ms)
{
	char p[2 * PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	for (size_t i = 0; i < bytes; i++)
		fputc('x', f);
	fclose(f);
	int64_t t = now - age_ms;
	struct timespec ts[2] = {{t / 1000, (t % 1000) * 1000000}, {t / 1000, (t % 1000) * 1000000}};
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
}

static int there(const char *name)
{
	char p[2 * PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	return access(p, F_OK) == 0;
}

/* An engine that maps the archive: a shared lock on it, as cds_archive.c
 * takes (another open file description, so it conflicts in-process too). */
static int hold(const char *name)
{
	char p[2 * PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	int fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_SH), 0);
	return fd;
}

static void clean(void)
{
	char cmd[PATH_MAX];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'/* '%s'/.tmp-*", tmpdir, tmpdir);
	assert_int_equal(system(cmd), 0);
}

static void test_by_age(void **st)
{
	(void)st;
	clean();
	put("launcher-0123.cmd", 100, 40 * DAY_MS);
	put("launcher-4567.cmd", 100, 1 * DAY_MS);
	put("cds-aaaa.jsa", 1000, 40 * DAY_MS);
	put("cds-aaaa.jsa.meta", 10, 40 * DAY_MS);
	put("cds-bbbb.jsa", 1000, 40 * DAY_MS);
	put("cds-bbbb.jsa.meta", 10, 40 * DAY_MS);
	put("cds-bbbb.jsa.log", 10, 40 * DAY_MS);
	put("cds-cccc.jsa.log", 10, 40 * DAY_MS); /* a failed dump's log alone */
	put(".tmp-old", 10, 2 * DAY_MS);
	put(".tmp-new", 10, 1000);              /* a writer at work */
	put("cds-dddd.jsa.77.tmp", 10, 1000);
	put("cds-dddd.jsa.77.classlist.tmp", 10, 3 * DAY_MS);
	put("notes.txt", 10, 400 * DAY_MS);     /* not ours */
	int fd = hold("cds-aaaa.jsa");
	struct cache_prune_limits lim = {.max_age_ms = 30 * DAY_MS, .max_bytes = 1LL << 30};
	struct cache_prune_result r;
	assert_int_equal(cache_prune(tmpdir, &lim, now, &r), 0);
	close(fd);
	assert_false(there("launcher-0123.cmd"));
	assert_true(there("launcher-4567.cmd"));
	assert_true(there("cds-aaaa.jsa") && there("cds-aaaa.jsa.meta")); /* in use */
	assert_int_equal(r.in_use, 1);
	assert_false(there("cds-bbbb.jsa") || there("cds-bbbb.jsa.meta") ||
		     there("cds-bbbb.jsa.log"));
	assert_false(there("cds-cccc.jsa.log"));
	assert_false(there(".tmp-old"));
	assert_true(there(".tmp-new") && there("cds-dddd.jsa.77.tmp"));
	assert_false(there("cds-dddd.jsa.77.classlist.tmp"));
	assert_true(there("notes.txt"));
	assert_int_equal(r.removed, 5); /* 0123, bbbb, cccc, .tmp-old, classlist */
	assert_int_equal(r.bytes_kept, 100 + 1010);
}

static void test_by_size_oldest_first(void **st)
{
	(void)st;
	clean();
	put("cds-aaaa.jsa", 1000, 5 * 3600 * 1000);
	put("cds-aaaa.jsa.meta", 10, 5 * 3600 * 1000);
	put("launcher-1.cmd", 1000, 4 * 3600 * 1000);
	put("launcher-2.cmd", 1000, 3 * 3600 * 1000);
	put("launcher-3.cmd", 1000, 2 * 3600 * 1000);
	put("launcher-4.cmd", 1000, 1 * 3600 * 1000);
	/* The oldest is in use: kept; then the oldest others until <= 3000. */
	int fd = hold("cds-aaaa.jsa");
	struct cache_prune_limits lim = {.max_age_ms = 30 * DAY_MS, .max_bytes = 3100};
	struct cache_prune_result r;
	assert_int_equal(cache_prune(tmpdir, &lim, now, &r), 0);
	close(fd);
	assert_true(there("cds-aaaa.jsa"));
	assert_false(there("launcher-1.cmd") || there("launcher-2.cmd"));
	assert_true(there("launcher-3.cmd") && there("launcher-4.cmd"));
	assert_int_equal(r.removed, 2);
	assert_int_equal(r.bytes_kept, 3010);
	/* Not held any more: it goes first now. */
	lim.max_bytes = 2000;
	assert_int_equal(cache_prune(tmpdir, &lim, now, &r), 0);
	assert_false(there("cds-aaaa.jsa") || there("cds-aaaa.jsa.meta"));
	assert_true(there("launcher-3.cmd") && there("launcher-4.cmd"));
	/* A missing directory is nothing to do. */
	assert_int_equal(cache_prune("/nonexistent/sparkshim-cache", &lim, now, &r), 0);
}

/* A launcher-cache hit is a use: an entry stored long ago but hit now
 * survives the age limit. */
static void test_hit_is_a_use(void **st)
{
	(void)st;
	clean();
	char err[256], path[PATH_MAX];
	struct launcher_result res = {.exit_code = 0}, got;
	strvec_init(&res.cmd);
	strvec_init(&res.env);
	assert_int_equal(strvec_push(&res.cmd, "java"), 0);
	assert_int_equal(launcher_cache_store(tmpdir, "m", 1, &res, err, sizeof(err)), 0);
	launcher_result_free(&res);
	assert_int_equal(launcher_cache_path(tmpdir, "m", 1, path, sizeof(path)), 0);
	const char *name = strrchr(path, '/') + 1;
	int64_t t = now - 40 * DAY_MS;
	struct timespec ts[2] = {{t / 1000, 0}, {t / 1000, 0}};
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	assert_int_equal(launcher_cache_load(tmpdir, "m", 1, &got, err, sizeof(err)), 0);
	launcher_result_free(&got);
	struct cache_prune_limits lim = {.max_age_ms = 30 * DAY_MS, .max_bytes = 1LL << 30};
	struct cache_prune_result r;
	assert_int_equal(cache_prune(tmpdir, &lim, epoch_ms(), &r), 0);
	assert_true(there(name));
}

/* A start that uses an archive holds it: a pruner cannot delete it, even
 * when it is old and over the size cap. */
static void test_archive_in_use_is_held(void **st)
{
	(void)st;
	clean();
	char jdk[PATH_MAX], jar[PATH_MAX], cp[PATH_MAX + 32], p[3 * PATH_MAX], key[40];
	snprintf(jdk, sizeof(jdk), "%s/jdk", tmpdir);
	snprintf(jar, sizeof(jar), "%s/jdk/a.jar", tmpdir);
	assert_int_equal(mkdir(jdk, 0700), 0);
	snprintf(p, sizeof(p), "%s/release", jdk);
	FILE *f = fopen(p, "w");
	fputs("JAVA_VERSION=\"17.0.15\"\n", f);
	fclose(f);
	f = fopen(jar, "w");
	fputs("jar", f);
	fclose(f);
	struct strvec o;
	strvec_init(&o);
	snprintf(cp, sizeof(cp), "-Djava.class.path=%s", jar);
	assert_int_equal(strvec_push(&o, cp), 0);
	assert_int_equal(cds_key(jdk, "/x", &o, key, sizeof(key)), 0);
	/* An archive as a finished dump leaves it: the file and its record. */
	char jsa[PATH_MAX];
	snprintf(jsa, sizeof(jsa), "cds-%s.jsa", key);
	put(jsa, 1000, 40 * DAY_MS);
	snprintf(p, sizeof(p), "%s/%s", tmpdir, jsa);
	struct stat sb;
	assert_int_equal(stat(p, &sb), 0);
	snprintf(p, sizeof(p), "%s/%s.meta", tmpdir, jsa);
	f = fopen(p, "w");
	fprintf(f, "%lld %lld.%09ld %llu\n", (long long)sb.st_size, (long long)sb.st_mtim.tv_sec,
		sb.st_mtim.tv_nsec, (unsigned long long)sb.st_ino);
	fclose(f);
	struct cds_plan plan;
	cds_plan_make(tmpdir, jdk, "/x", &o, &plan);
	assert_int_equal(plan.mode, CDS_USE);
	strvec_free(&o);
	struct cache_prune_limits lim = {.max_age_ms = 1, .max_bytes = 1};
	struct cache_prune_result r;
	assert_int_equal(cache_prune(tmpdir, &lim, epoch_ms() + 60 * DAY_MS, &r), 0);
	assert_true(there(jsa));
	assert_int_equal(r.in_use, 1);
}

int main(void)
{
	assert_non_null(mkdtemp(tmpdir));
	now = epoch_ms();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_by_age),
		cmocka_unit_test(test_by_size_oldest_first),
		cmocka_unit_test(test_hit_is_a_use),
		cmocka_unit_test(test_archive_in_use_is_held),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[PATH_MAX];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		rc = 1;
	return rc;
}
