/* Unit tests of the steps that prepare the in-process JVM: finding Java,
 * inspecting a Spark home, translating the launcher's java command, and
 * spotting exceptions in the JVM's output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jni/java_cmdline.h"
#include "jni/java_locate.h"
#include "jni/output_tap.h"
#include "jni/spark_home.h"
#include "strvec_testutil.h"

static char tmp[64];

static void touch(const char *rel, const char *content)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", tmp, rel);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static void mkd(const char *rel)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", tmp, rel);
	mkdir(p, 0755);
}

static int setup(void **st)
{
	(void)st;
	snprintf(tmp, sizeof(tmp), "/tmp/sparkshim-ut-XXXXXX");
	return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **st)
{
	(void)st;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	return system(cmd);
}

static void test_jar_version(void **st)
{
	(void)st;
	char sc[16], v[64];
	assert_int_equal(spark_jar_version("spark-core_2.13-4.0.1.jar", "spark-core", sc, sizeof(sc), v, sizeof(v)), 0);
	assert_string_equal(sc, "2.13");
	assert_string_equal(v, "4.0.1");
	assert_int_equal(spark_jar_version("spark-core_2.12-3.5.3-SNAPSHOT.jar", "spark-core", sc, sizeof(sc), v, sizeof(v)), 0);
	assert_string_equal(v, "3.5.3-SNAPSHOT");
	assert_int_equal(spark_jar_version("spark-core_2.13-tests.jar", "spark-core", sc, sizeof(sc), v, sizeof(v)), -1);
	assert_int_equal(spark_jar_version("spark-core.jar", "spark-core", sc, sizeof(sc), v, sizeof(v)), -1);
	assert_int_equal(spark_jar_version("spark-sql_2.13-4.0.1.jar", "spark-core", sc, sizeof(sc), v, sizeof(v)), -1);
}

static void test_spark_home(void **st)
{
	(void)st;
	struct spark_home h;
	char err[512], p[256];
	assert_int_equal(spark_home_inspect("/nonexistent/spark", &h, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "SPARK_HOME=/nonexistent/spark"));
	snprintf(p, sizeof(p), "%s/home", tmp);
	mkd("home");
	assert_int_equal(spark_home_inspect(p, &h, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no jars/"));
	mkd("home/jars");
	touch("home/jars/spark-core_2.13-4.0.1.jar", "");
	assert_int_equal(spark_home_inspect(p, &h, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "spark-launcher"));
	touch("home/jars/spark-launcher_2.13-4.0.1.jar", "");
	assert_int_equal(spark_home_inspect(p, &h, err, sizeof(err)), 0);
	assert_string_equal(h.version, "4.0.1");
	assert_int_equal(h.has_connect_jar, 0);
	touch("home/jars/spark-connect_2.13-4.0.1.jar", "");
	assert_int_equal(spark_home_inspect(p, &h, err, sizeof(err)), 0);
	assert_int_equal(h.has_connect_jar, 1);
}

static void test_jvm_cfg(void **st)
{
	(void)st;
	char p[256], vm[32];
	touch("jvm.cfg", "# comment\n-client IGNORE\n-server KNOWN\n-zero KNOWN\n");
	snprintf(p, sizeof(p), "%s/jvm.cfg", tmp);
	assert_int_equal(jvm_cfg_default_vm(p, vm, sizeof(vm)), 0);
	assert_string_equal(vm, "server");
	touch("jvm.cfg", "-client IGNORE\n");
	assert_int_equal(jvm_cfg_default_vm(p, vm, sizeof(vm)), -1);
	assert_int_equal(jvm_cfg_default_vm("/nonexistent", vm, sizeof(vm)), -1);
}

static void test_java_locate(void **st)
{
	(void)st;
	struct java_install j;
	char err[512], home[256], path[300];
	assert_int_equal(java_locate("/nonexistent/jdk", NULL, &j, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "JAVA_HOME=/nonexistent/jdk"));
	assert_int_equal(java_locate(NULL, "/nonexistent/bin", &j, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no Java found"));
	/* A fake JDK: bin/java + lib/jvm.cfg + lib/server/libjvm.so */
	mkd("jdk");
	mkd("jdk/bin");
	mkd("jdk/lib");
	mkd("jdk/lib/server");
	touch("jdk/lib/jvm.cfg", "-server KNOWN\n");
	snprintf(home, sizeof(home), "%s/jdk", tmp);
	assert_int_equal(java_locate(home, NULL, &j, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "libjvm.so"));
	touch("jdk/lib/server/libjvm.so", "");
	assert_int_equal(java_locate(home, NULL, &j, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bin/java"));
	touch("jdk/bin/java", "#!/bin/sh\n");
	snprintf(path, sizeof(path), "%s/jdk/bin/java", tmp);
	chmod(path, 0755);
	assert_int_equal(java_locate(home, NULL, &j, err, sizeof(err)), 0);
	assert_non_null(strstr(j.libjvm, "/jdk/lib/server/libjvm.so"));
	/* Found through PATH, symlinks resolved. */
	snprintf(path, sizeof(path), "/nonexistent:%s/jdk/bin", tmp);
	assert_int_equal(java_locate("", path, &j, err, sizeof(err)), 0);
	assert_non_null(strstr(j.home, "/jdk"));
}

static void test_classpath_expand(void **st)
{
	(void)st;
	mkd("cp");
	touch("cp/b.jar", "");
	touch("cp/a.jar", "");
	touch("cp/notes.txt", "");
	char cp[512];
	snprintf(cp, sizeof(cp), "/conf/:%s/cp/*:/x.jar:/nonexistent/*", tmp);
	char *out = classpath_expand(cp);
	char want[512];
	snprintf(want, sizeof(want), "/conf/:%s/cp/a.jar:%s/cp/b.jar:/x.jar", tmp, tmp);
	assert_string_equal(out, want);
	free(out);
}

static void test_java_cmd(void **st)
{
	(void)st;
	struct strvec cmd;
	vec_of(&cmd, "env", "LD_LIBRARY_PATH=/native", "/jdk/bin/java", "-cp", "/conf/:/a.jar",
	       "-Xmx1g", "-server", "--add-opens", "java.base/java.lang=ALL-UNNAMED",
	       "--add-opens=java.base/java.nio=ALL-UNNAMED", "-Dx=y",
	       "org.apache.spark.deploy.SparkSubmit", "--class", "C", "spark-internal", NULL);
	struct java_cmd jc;
	char err[256];
	assert_int_equal(java_cmd_parse(&cmd, "-Dfrom.env=1  -Xss4m", &jc, err, sizeof(err)), 0);
	assert_int_equal(jc.env.n, 1);
	assert_string_equal(jc.env.v[0], "LD_LIBRARY_PATH=/native");
	assert_string_equal(jc.main_class, "org.apache.spark.deploy.SparkSubmit");
	const char *want[] = {"-Dfrom.env=1", "-Xss4m", "-Djava.class.path=/conf/:/a.jar", "-Xmx1g",
			      "--add-opens=java.base/java.lang=ALL-UNNAMED",
			      "--add-opens=java.base/java.nio=ALL-UNNAMED", "-Dx=y"};
	assert_int_equal(jc.options.n, 7);
	for (size_t i = 0; i < 7; i++)
		assert_string_equal(jc.options.v[i], want[i]);
	assert_int_equal(jc.args.n, 3);
	assert_string_equal(jc.args.v[2], "spark-internal");
	java_cmd_free(&jc);
	strvec_free(&cmd);

	const char *bad[][4] = {{"java", "-jar", "x.jar", NULL}, {"java", "-cp", NULL, NULL},
				{"java", "-Xmx1g", NULL, NULL}, {NULL, NULL, NULL, NULL}};
	for (int i = 0; bad[i][0]; i++) {
		strvec_init(&cmd);
		for (int k = 0; bad[i][k]; k++)
			strvec_push(&cmd, bad[i][k]);
		assert_int_equal(java_cmd_parse(&cmd, NULL, &jc, err, sizeof(err)), -1);
		strvec_free(&cmd);
	}
	strvec_init(&cmd);
	assert_int_equal(java_cmd_parse(&cmd, NULL, &jc, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no java command"));
}

static void test_output_scan(void **st)
{
	(void)st;
	char buf[512];
	output_tap_reset();
	output_tap_last_exception(buf, sizeof(buf));
	assert_string_equal(buf, "");
	output_tap_scan_line("24/11/24 16:00:00 ERROR SparkConnectServer: Error starting Spark Connect server");
	output_tap_scan_line("java.io.IOException: Failed to bind to address 0.0.0.0/0.0.0.0:15002");
	output_tap_scan_line("\tat io.grpc.netty.NettyServer.start(NettyServer.java:328)");
	output_tap_scan_line("Caused by: java.net.BindException: Address already in use");
	output_tap_last_exception(buf, sizeof(buf));
	assert_string_equal(buf, "java.io.IOException: Failed to bind to address 0.0.0.0/0.0.0.0:15002 "
				 "(caused by java.net.BindException: Address already in use)");
	output_tap_scan_line("Exception in thread \"main\" java.lang.ClassNotFoundException: x.Y");
	output_tap_last_exception(buf, sizeof(buf));
	assert_string_equal(buf, "java.lang.ClassNotFoundException: x.Y");
	/* Not exceptions: prose, log lines, class names without the suffix. */
	output_tap_scan_line("Exception: nothing");
	output_tap_scan_line("org.apache.spark.SparkContext: started");
	output_tap_scan_line("see java.lang.Error: inline");
	output_tap_last_exception(buf, sizeof(buf));
	assert_string_equal(buf, "java.lang.ClassNotFoundException: x.Y");
	output_tap_scan_line("java.lang.OutOfMemoryError");
	output_tap_last_exception(buf, sizeof(buf));
	assert_string_equal(buf, "java.lang.OutOfMemoryError");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jar_version),   cmocka_unit_test(test_spark_home),
		cmocka_unit_test(test_jvm_cfg),       cmocka_unit_test(test_java_locate),
		cmocka_unit_test(test_classpath_expand), cmocka_unit_test(test_java_cmd),
		cmocka_unit_test(test_output_scan),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
