/* The launcher cache's pieces without a JVM: per-launch placeholders, the
 * entry file (round trip, corruption, stale material), the key material. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jni/cds_archive.h"
#include "jni/launcher_cache.h"

static void vec(struct strvec *v, ...)
{
	strvec_init(v);
	va_list ap;
	va_start(ap, v);
	for (const char *a = va_arg(ap, const char *); a; a = va_arg(ap, const char *))
		assert_int_equal(strvec_push(v, a), 0);
	va_end(ap);
}

static void test_split_fill(void **st)
{
	(void)st;
	struct strvec args;
	vec(&args, "--master", "local[1]", "--conf", "spark.kyuubi.ha.engine.ref.id=abc-1",
	    "--conf", "spark.driver.memory=2g", "--name", "app abc-1", "--conf",
	    "kyuubi.engine.submit.time=17", "--conf", "spark.app.name=n=1", "--name=x", NULL);
	struct launch_params p;
	assert_int_equal(launch_params_split(args.v, args.n, &p), 0);
	assert_int_equal(p.values.n, 5);
	assert_int_equal(p.args.n, args.n);
	assert_string_equal(p.args.v[5], "spark.driver.memory=2g");
	assert_null(strstr(p.args.v[3], "abc-1"));
	assert_non_null(strstr(p.args.v[3], "spark.kyuubi.ha.engine.ref.id="));
	assert_string_equal(p.values.v[1], "app abc-1");
	assert_string_equal(p.values.v[3], "n=1");
	assert_string_equal(p.values.v[4], "x");

	/* What a launcher would print: reordered, every value once after the
	 * main class. */
	struct strvec cmd;
	vec(&cmd, "/jdk/bin/java", "-cp", "x", "org.apache.spark.deploy.SparkSubmit", NULL);
	for (size_t i = p.args.n; i-- > 0;)
		assert_int_equal(strvec_push(&cmd, p.args.v[i]), 0);
	int exact;
	assert_int_equal(launch_params_fill(&p, &cmd, &exact), 0);
	assert_int_equal(exact, 1);
	for (size_t i = 0; i < args.n; i++)
		assert_string_equal(cmd.v[cmd.n - 1 - i], args.v[i]);
	strvec_free(&cmd);

	/* A placeholder in a JVM option, or twice, or dropped: not exact. */
	vec(&cmd, "/jdk/bin/java", "-Dname=", "org.apache.spark.deploy.SparkSubmit", NULL);
	free(cmd.v[1]);
	cmd.v[1] = malloc(strlen(p.args.v[7]) + 8);
	sprintf(cmd.v[1], "-Dname=%s", p.args.v[7]);
	assert_int_equal(launch_params_fill(&p, &cmd, &exact), 0);
	assert_int_equal(exact, 0);
	assert_string_equal(cmd.v[1], "-Dname=app abc-1");
	strvec_free(&cmd);

	assert_true(launch_param_key("spark.kyuubi.x"));
	assert_true(launch_param_key("spark.app.name"));
	assert_false(launch_param_key("spark.driver.memory"));
	assert_false(launch_param_key("spark.driver.extraJavaOptions"));
	launch_params_free(&p);
	strvec_free(&args);

	/* Nothing per-launch: nothing to fill, always exact. */
	vec(&args, "--master", "local", NULL);
	assert_int_equal(launch_params_split(args.v, args.n, &p), 0);
	assert_int_equal(p.values.n, 0);
	vec(&cmd, "java", "org.apache.spark.deploy.SparkSubmit", "--master", "local", NULL);
	assert_int_equal(launch_params_fill(&p, &cmd, &exact), 0);
	assert_int_equal(exact, 1);
	strvec_free(&cmd);
	launch_params_free(&p);
	strvec_free(&args);
}

static char tmpdir[] = "/tmp/sparkshim-lc-XXXXXX";

static void test_store_load(void **st)
{
	(void)st;
	char err[512], path[PATH_MAX];
	const char *mat = "material\0with nul";
	size_t ml = 17;
	struct launcher_result r = {.exit_code = 0}, got;
	vec(&r.cmd, "java", "-Xmx1g", "a\nb", "org.apache.spark.deploy.SparkSubmit", NULL);
	vec(&r.env, "SPARK_ENV_LOADED=1", "X=", NULL);
	assert_int_equal(launcher_cache_load(tmpdir, mat, ml, &got, err, sizeof(err)), 1);
	assert_int_equal(launcher_cache_store(tmpdir, mat, ml, &r, err, sizeof(err)), 0);
	assert_int_equal(launcher_cache_load(tmpdir, mat, ml, &got, err, sizeof(err)), 0);
	assert_int_equal(got.cmd.n, 4);
	assert_string_equal(got.cmd.v[2], "a\nb");
	assert_int_equal(got.env.n, 2);
	assert_string_equal(got.env.v[1], "X=");
	launcher_result_free(&got);
	/* Another material: a miss, not the same entry. */
	assert_int_equal(launcher_cache_load(tmpdir, "material", 8, &got, err, sizeof(err)), 1);

	/* Corrupt: one byte flipped, then truncated; both refused, both fixed by
	 * the next store. */
	assert_int_equal(launcher_cache_path(tmpdir, mat, ml, path, sizeof(path)), 0);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	char c;
	assert_int_equal(pread(fd, &c, 1, sb.st_size / 2), 1);
	c ^= 0x20;
	assert_int_equal(pwrite(fd, &c, 1, sb.st_size / 2), 1);
	close(fd);
	assert_int_equal(launcher_cache_load(tmpdir, mat, ml, &got, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "corrupt"));
	assert_int_equal(launcher_cache_store(tmpdir, mat, ml, &r, err, sizeof(err)), 0);
	assert_int_equal(truncate(path, sb.st_size - 5), 0);
	assert_int_equal(launcher_cache_load(tmpdir, mat, ml, &got, err, sizeof(err)), -1);
	assert_int_equal(truncate(path, 0), 0);
	assert_int_equal(launcher_cache_load(tmpdir, mat, ml, &got, err, sizeof(err)), -1);
	assert_int_equal(launcher_cache_store(tmpdir, mat, ml, &r, err, sizeof(err)), 0);
	assert_int_equal(launcher_cache_load(tmpdir, mat, ml, &got, err, sizeof(err)), 0);
	launcher_result_free(&got);

	/* A directory that cannot exist (under a regular file): store fails
	 * with a reason, load is a miss. */
	char bad[PATH_MAX + 8];
	snprintf(bad, sizeof(bad), "%s/sub", path);
	assert_int_equal(launcher_cache_store(bad, mat, ml, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "mkdir"));
	assert_int_equal(launcher_cache_load(bad, mat, ml, &got, err, sizeof(err)), 1);
	launcher_result_free(&r);
	unlink(path);
}

static void test_material(void **st)
{
	(void)st;
	char home[PATH_MAX], conf[PATH_MAX], p[PATH_MAX + 32];
	snprintf(home, sizeof(home), "%s/home", tmpdir);
	snprintf(conf, sizeof(conf), "%s/home/conf", tmpdir);
	assert_int_equal(mkdir(home, 0700), 0);
	snprintf(p, sizeof(p), "%s/jars", home);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(mkdir(conf, 0700), 0);
	struct strvec args;
	vec(&args, "--master", "local", NULL);
	struct launch_inputs in = {.spark_home = home, .spark_version = "4.0.0",
				   .java_home = "/nonexistent/jdk", .conf_dir = conf, .args = &args};
	size_t l1, l2;
	char *m1 = launcher_cache_material(&in, &l1);
	char *m2 = launcher_cache_material(&in, &l2);
	assert_non_null(m1);
	assert_true(l1 == l2 && memcmp(m1, m2, l1) == 0);
	free(m2);
	/* spark-env.sh appears: another key. */
	snprintf(p, sizeof(p), "%s/spark-env.sh", conf);
	FILE *f = fopen(p, "w");
	fputs("export A=1\n", f);
	fclose(f);
	m2 = launcher_cache_material(&in, &l2);
	assert_false(l1 == l2 && memcmp(m1, m2, l1) == 0);
	free(m1);
	/* A keyed environment variable changes: another key; an unrelated one
	 * does not. */
	setenv("SPARKSHIM_UNRELATED_TEST_VAR", "1", 1);
	m1 = launcher_cache_material(&in, &l1);
	assert_true(l1 == l2 && memcmp(m1, m2, l1) == 0);
	free(m1);
	setenv("SPARK_SUBMIT_OPTS", "-Dx=1", 1);
	m1 = launcher_cache_material(&in, &l1);
	assert_false(l1 == l2 && memcmp(m1, m2, l1) == 0);
	unsetenv("SPARK_SUBMIT_OPTS");
	free(m1);
	free(m2);
	strvec_free(&args);
	unlink(p);
	rmdir(conf);
	snprintf(p, sizeof(p), "%s/jars", home);
	rmdir(p);
	rmdir(home);
}

static int has(const struct strvec *v, const char *prefix)
{
	for (size_t i = 0; i < v->n; i++)
		if (!strncmp(v->v[i], prefix, strlen(prefix)))
			return 1;
	return 0;
}

static void test_cds_plan(void **st)
{
	(void)st;
	char jdk[1024], cache[1024], jar[1024], p[4 * 1024 + 256];
	snprintf(jdk, sizeof(jdk), "%s/jdk", tmpdir);
	snprintf(cache, sizeof(cache), "%s/cache", tmpdir);
	snprintf(jar, sizeof(jar), "%s/a.jar", tmpdir);
	assert_int_equal(mkdir(jdk, 0700), 0);
	snprintf(p, sizeof(p), "%s/release", jdk);
	FILE *f = fopen(p, "w");
	fputs("JAVA_VERSION=\"17.0.15\"\n", f);
	fclose(f);
	f = fopen(jar, "w");
	fputs("jar", f);
	fclose(f);
	struct strvec o;
	char cp[2 * 1024 + 64];
	snprintf(cp, sizeof(cp), "-Djava.class.path=%s", jar);
	vec(&o, "-Xmx1g", cp, "-agentlib:jdwp=transport=dt_socket", "-Dx=1", NULL);
	char k1[40], k2[40];
	assert_int_equal(cds_key(jdk, "/nonexistent/libjvm.so", &o, k1, sizeof(k1)), 0);
	struct cds_plan plan;
	cds_plan_make(cache, jdk, "/nonexistent/libjvm.so", &o, &plan);
	assert_int_equal(plan.mode, CDS_RECORD);
	assert_true(has(&o, "-XX:DumpLoadedClassList="));
	assert_true(has(&plan.dump_argv, "-Xshare:dump"));
	assert_true(has(&plan.dump_argv, "-Xmx1g"));
	assert_false(has(&plan.dump_argv, "-agentlib:"));
	assert_false(has(&plan.dump_argv, "-Djava.class.path="));
	assert_non_null(strstr(plan.archive, k1));
	strvec_free(&plan.dump_argv);
	strvec_free(&o);
	/* -D options do not change the key; VM options and jars do. */
	vec(&o, "-Xmx1g", cp, "-agentlib:jdwp=transport=dt_socket", "-Dx=2", NULL);
	assert_int_equal(cds_key(jdk, "/nonexistent/libjvm.so", &o, k2, sizeof(k2)), 0);
	assert_string_equal(k1, k2);
	strvec_free(&o);
	vec(&o, "-Xmx2g", cp, NULL);
	assert_int_equal(cds_key(jdk, "/nonexistent/libjvm.so", &o, k2, sizeof(k2)), 0);
	assert_string_not_equal(k1, k2);
	strvec_free(&o);

	/* An archive without its .meta record is deleted, not used. */
	vec(&o, "-Xmx1g", cp, "-agentlib:jdwp=transport=dt_socket", "-Dx=1", NULL);
	snprintf(p, sizeof(p), "%s/cds-%s.jsa", cache, k1);
	f = fopen(p, "w");
	fputs("not an archive", f);
	fclose(f);
	cds_plan_make(cache, jdk, "/nonexistent/libjvm.so", &o, &plan);
	assert_int_equal(plan.mode, CDS_RECORD);
	assert_int_equal(access(p, F_OK), -1);
	strvec_free(&plan.dump_argv);
	strvec_free(&o);

	/* Options that set CDS themselves, a non-empty class path directory,
	 * an old JDK: no archive. */
	vec(&o, cp, "-Xshare:off", NULL);
	cds_plan_make(cache, jdk, "/x", &o, &plan);
	assert_int_equal(plan.mode, CDS_OFF);
	strvec_free(&o);
	snprintf(cp, sizeof(cp), "-Djava.class.path=%s:%s", jar, jdk);
	vec(&o, cp, NULL);
	cds_plan_make(cache, jdk, "/x", &o, &plan);
	assert_int_equal(plan.mode, CDS_OFF);
	assert_non_null(strstr(plan.why, "non-empty directory"));
	char bad[PATH_MAX];
	cds_nonempty_dir(cp + 18, bad, sizeof(bad));
	assert_string_equal(bad, jdk);
	strvec_free(&o);
	assert_int_equal(cds_path_mapped("/nonexistent/archive.jsa"), 0);

	snprintf(p, sizeof(p), "rm -rf '%s' '%s' '%s'", jdk, cache, jar);
	assert_int_equal(system(p), 0);
}

int main(void)
{
	assert_non_null(mkdtemp(tmpdir));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_fill),
		cmocka_unit_test(test_store_load),
		cmocka_unit_test(test_material),
		cmocka_unit_test(test_cds_plan),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	rmdir(tmpdir);
	return rc;
}
