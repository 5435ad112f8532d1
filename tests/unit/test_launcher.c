/* Unit tests of the launcher's pure parts: conf store, durations, argv
 * vectors, the lifecycle table, the command line and spark-submit args. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/conf.h"
#include "base/lifecycle.h"
#include "base/strvec.h"
#include "launcher/cli.h"
#include "launcher/settings.h"
#include "base/suggest.h"
#include "launcher/submit_args.h"
#include "strvec_testutil.h"

static void test_durations(void **st)
{
	(void)st;
	int64_t ms;
	assert_int_equal(parse_duration_ms("1800000", &ms), 0);
	assert_int_equal(ms, 1800000);
	assert_int_equal(parse_duration_ms("PT30M", &ms), 0);
	assert_int_equal(ms, 30 * 60000);
	assert_int_equal(parse_duration_ms("P1DT2H", &ms), 0);
	assert_int_equal(ms, 26 * 3600000LL);
	assert_int_equal(parse_duration_ms("PT0.5S", &ms), 0);
	assert_int_equal(ms, 500);
	assert_int_equal(parse_duration_ms("30s", &ms), 0);
	assert_int_equal(ms, 30000);
	assert_int_equal(parse_duration_ms("5min", &ms), 0);
	assert_int_equal(ms, 300000);
	assert_int_equal(parse_duration_ms("2h", &ms), 0);
	assert_int_equal(ms, 7200000);
	assert_int_equal(parse_duration_ms("100ms", &ms), 0);
	assert_int_equal(ms, 100);
	assert_int_equal(parse_duration_ms("0", &ms), 0);
	assert_int_equal(ms, 0);
	const char *bad[] = {"", "abc", "-5", "10 parsecs", "P1W", "PT", "P", "5x", "PT1H2", NULL};
	for (int i = 0; bad[i]; i++)
		assert_int_equal(parse_duration_ms(bad[i], &ms), -1);
	assert_int_equal(parse_duration_ms(NULL, &ms), -1);
}

static void test_conf_store(void **st)
{
	(void)st;
	struct conf c;
	conf_init(&c);
	assert_int_equal(conf_set_kv(&c, "a=1"), 0);
	assert_int_equal(conf_set_kv(&c, "b=x=y"), 0);
	assert_int_equal(conf_set_kv(&c, "a=2"), 0);
	assert_int_equal(conf_set_kv(&c, "novalue"), -1);
	assert_int_equal(conf_set_kv(&c, "=v"), -1);
	assert_string_equal(conf_get(&c, "a"), "2");
	assert_string_equal(conf_get(&c, "b"), "x=y");
	assert_null(conf_get(&c, "c"));
	assert_string_equal(conf_get_default(&c, "c", "d"), "d");
	assert_int_equal(conf_unset(&c, "a"), 1);
	assert_int_equal(conf_unset(&c, "a"), 0);
	assert_int_equal(c.n, 1);

	char err[256];
	int64_t d;
	int b;
	long n;
	conf_set(&c, "t", "PT1M");
	assert_int_equal(conf_get_duration(&c, "t", 5, &d, err, sizeof(err)), 0);
	assert_int_equal(d, 60000);
	assert_int_equal(conf_get_duration(&c, "missing", 5, &d, err, sizeof(err)), 0);
	assert_int_equal(d, 5);
	conf_set(&c, "t", "soon");
	assert_int_equal(conf_get_duration(&c, "t", 5, &d, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "t=soon"));
	conf_set(&c, "f", "TRUE");
	assert_int_equal(conf_get_bool(&c, "f", 0, &b, err, sizeof(err)), 0);
	assert_int_equal(b, 1);
	conf_set(&c, "f", "yes");
	assert_int_equal(conf_get_bool(&c, "f", 0, &b, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "f=yes"));
	conf_set(&c, "i", "70000");
	assert_int_equal(conf_get_int(&c, "i", 0, 0, 65535, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "0 to 65535"));
	conf_free(&c);
}

static void test_conf_file(void **st)
{
	(void)st;
	char path[] = "/tmp/sparkshim-conf-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *text = "# comment\n! also\n\nspark.a = 1\nspark.b:2\nspark.c 3 4\n  spark.d=\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct conf c;
	conf_init(&c);
	int bad = -1;
	assert_int_equal(conf_load_file(&c, path, &bad), 0);
	assert_string_equal(conf_get(&c, "spark.a"), "1");
	assert_string_equal(conf_get(&c, "spark.b"), "2");
	assert_string_equal(conf_get(&c, "spark.c"), "3 4");
	assert_string_equal(conf_get(&c, "spark.d"), "");
	unlink(path);
	assert_int_equal(conf_load_file(&c, path, &bad), -1);
	assert_int_equal(bad, 0);
	conf_free(&c);
}

static void test_strvec(void **st)
{
	(void)st;
	struct strvec v;
	strvec_init(&v);
	assert_int_equal(strvec_from_nul(&v, "a\0bb\0\0c", 7), 0);
	assert_int_equal(v.n, 4);
	assert_string_equal(v.v[2], "");
	assert_string_equal(v.v[3], "c");
	assert_null(v.v[4]);
	assert_int_equal(strvec_insert(&v, 0, "x"), 0);
	strvec_remove(&v, 1);
	char *j = strvec_join(&v, 0, ",");
	assert_string_equal(j, "x,bb,,c");
	free(j);
	assert_int_equal(strvec_pushf(&v, "%d-%s", 7, "z"), 0);
	assert_string_equal(v.v[4], "7-z");
	assert_int_equal(strvec_insert(&v, 99, "no"), -1);
	strvec_free(&v);
}

static int calls;
static enum shim_state seen_from, seen_to;
static void listener(enum shim_state from, enum shim_state to, const char *r, void *arg)
{
	(void)r;
	(void)arg;
	calls++;
	seen_from = from;
	seen_to = to;
}

static void test_lifecycle(void **st)
{
	(void)st;
	lifecycle_reset();
	calls = 0;
	assert_int_equal(lifecycle_add_listener(listener, NULL), 0);
	assert_int_equal(lifecycle_state(), ST_STARTING);
	assert_int_equal(lifecycle_fire(TR_DRAIN, "x"), -1);
	assert_int_equal(lifecycle_fire(TR_STOPPED, "x"), -1);
	assert_int_equal(calls, 0);
	uint64_t g = lifecycle_generation();
	assert_int_equal(lifecycle_fire(TR_READY, "up"), 0);
	assert_int_equal(calls, 1);
	assert_int_equal(seen_from, ST_STARTING);
	assert_int_equal(seen_to, ST_READY);
	assert_int_equal(lifecycle_wait_change(&g, 0), ST_READY);
	assert_int_equal(lifecycle_fire(TR_READY, "again"), -1);
	assert_int_equal(lifecycle_fire(TR_DRAIN, "d"), 0);
	assert_int_equal(lifecycle_fire(TR_STOP, "s"), 0);
	assert_int_equal(lifecycle_fire(TR_STOP, "s"), -1);
	assert_int_equal(lifecycle_fire(TR_STOPPED, "done"), 0);
	assert_int_equal(lifecycle_state(), ST_STOPPED);
	for (int t = 0; t < TR__COUNT; t++)
		assert_int_equal(lifecycle_next(ST_STOPPED, t), -1);
	assert_int_equal(lifecycle_next(ST_READY, TR_FAIL), ST_FAILED);
	assert_int_equal(lifecycle_next(ST__COUNT, TR_FAIL), -1);
	/* A wait with nothing changing times out with the same state. */
	g = lifecycle_generation();
	assert_int_equal(lifecycle_wait_change(&g, 10), ST_STOPPED);
	assert_string_equal(state_name(ST_DRAINING), "DRAINING");
	assert_string_equal(trigger_name(TR_FAIL), "fail");
	lifecycle_reset();
}

static int parse(struct cli *c, char *err, const char *first, ...)
{
	char *argv[32] = {"sparkshim"};
	int argc = 1;
	va_list ap;
	va_start(ap, first);
	for (const char *a = first; a; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	cli_init(c);
	return cli_parse(argc, argv, c, err, 512);
}

static void test_cli(void **st)
{
	(void)st;
	struct cli c;
	char err[512];
	assert_int_equal(parse(&c, err, "--stop-timeout", "10s", "--master", "local[2]",
			       "--state-file=/tmp/s.json", "--conf", "a=b", "--exit-with-parent",
			       "app.jar", "--stop-timeout", "x", NULL),
			 0);
	assert_string_equal(conf_get(&c.shim, "sparkshim.stop.timeout"), "10s");
	assert_string_equal(conf_get(&c.shim, "sparkshim.state.file"), "/tmp/s.json");
	assert_string_equal(conf_get(&c.shim, "sparkshim.exit.with.parent"), "true");
	/* After the primary resource everything belongs to the app. */
	assert_int_equal(c.spark_args.n, 7);
	assert_string_equal(c.spark_args.v[0], "--master");
	assert_string_equal(c.spark_args.v[4], "app.jar");
	assert_string_equal(c.spark_args.v[5], "--stop-timeout");
	cli_free(&c);

	assert_int_equal(parse(&c, err, "--spark-home", "/x", "--", "--stop-timeout", "1", NULL), 0);
	assert_string_equal(c.spark_home, "/x");
	assert_int_equal(c.spark_args.n, 2);
	cli_free(&c);

	/* Unknown options go to Spark, which gives them to SparkConnectServer
	 * as application arguments (a warning says so). */
	assert_int_equal(parse(&c, err, "--bogus", "--conf", "a=b", NULL), 0);
	assert_int_equal(c.spark_args.n, 3);
	cli_free(&c);
	/* ... but a near miss of a shim option is our typo. */
	assert_int_equal(parse(&c, err, "--stop-timout", "5s", NULL), -1);
	assert_non_null(strstr(err, "did you mean --stop-timeout?"));
	cli_free(&c);
	assert_int_equal(parse(&c, err, "--stop-timeout", NULL), -1);
	assert_non_null(strstr(err, "--stop-timeout"));
	cli_free(&c);
	assert_int_equal(parse(&c, err, "--conf", NULL), -1);
	cli_free(&c);
	assert_int_equal(parse(&c, err, "--no-launcher-cache", "--cache-dir", "/c",
			       "--print-launch-command", NULL), 0);
	assert_string_equal(conf_get(&c.shim, "sparkshim.launcher.cache"), "false");
	assert_string_equal(conf_get(&c.shim, "sparkshim.cache.dir"), "/c");
	assert_true(c.print_launch);
	cli_free(&c);
	assert_int_equal(parse(&c, err, "--help", "--version", NULL), 0);
	assert_true(c.help && c.version);
	cli_free(&c);
}

static void test_submit_collect(void **st)
{
	(void)st;
	struct strvec v;
	vec_of(&v, "--conf", "spark.a=1", "-c", "spark.b=2", "--conf=spark.c=3", "--name", "n",
	    "--verbose", "--class", "com.X", "app.jar", "--conf", "spark.app=arg", NULL);
	struct conf c;
	conf_init(&c);
	char err[256];
	assert_int_equal(submit_collect_conf(&v, 403, "/nonexistent", &c, err, sizeof(err)), 0);
	assert_string_equal(conf_get(&c, "spark.a"), "1");
	assert_string_equal(conf_get(&c, "spark.b"), "2");
	assert_string_equal(conf_get(&c, "spark.c"), "3");
	assert_string_equal(conf_get(&c, "spark.app.name"), "n");
	assert_null(conf_get(&c, "spark.app"));
	conf_free(&c);
	strvec_free(&v);

	/* --master beats --conf spark.master whatever the order, as in
	 * SparkSubmit. */
	vec_of(&v, "--master", "local[2]", "--conf", "spark.master=yarn", NULL);
	conf_init(&c);
	assert_int_equal(submit_collect_conf(&v, 403, NULL, &c, err, sizeof(err)), 0);
	assert_string_equal(conf_get(&c, "spark.master"), "local[2]");
	conf_free(&c);
	strvec_free(&v);

	vec_of(&v, "--conf", "novalue", NULL);
	conf_init(&c);
	assert_int_equal(submit_collect_conf(&v, 403, NULL, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "Invalid argument to --conf: novalue"));
	strvec_free(&v);
	vec_of(&v, "--properties-file", "/nonexistent/p.conf", NULL);
	assert_int_equal(submit_collect_conf(&v, 403, NULL, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/p.conf"));
	strvec_free(&v);
	vec_of(&v, "--class", CONNECT_SERVER_CLASS, "--kill", "app-1", NULL);
	assert_int_equal(submit_collect_conf(&v, 403, NULL, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--kill"));
	strvec_free(&v);
	conf_free(&c);
}

static void test_submit_versions(void **st)
{
	(void)st;
	struct strvec v;
	struct submit_view w;
	char err[256];
	/* 4.x knows --load-spark-defaults; for 3.5 it is an app argument. */
	vec_of(&v, "--class", CONNECT_SERVER_CLASS, "--load-spark-defaults", "--verbose=x",
	       "--driver-default-class-path", "/d", NULL);
	submit_view_init(&w);
	assert_int_equal(submit_parse(&v, 400, &w, err, sizeof(err)), 0);
	assert_true(w.load_defaults);
	assert_string_equal(conf_get(&w.conf, "spark.driver.defaultExtraClassPath"), "/d");
	assert_int_equal(w.app_args.n, 0);
	assert_int_equal(w.passed.n, 1); /* --verbose, its "=x" dropped as Spark does */
	submit_view_free(&w);
	assert_int_equal(submit_parse(&v, 305, &w, err, sizeof(err)), 0);
	assert_false(w.load_defaults);
	assert_int_equal(w.app_args.n, 3);
	submit_view_free(&w);
	strvec_free(&v);
	/* Before the server class, an unknown option is refused as Spark does. */
	vec_of(&v, "--bogus", "--class", CONNECT_SERVER_CLASS, NULL);
	assert_int_equal(submit_parse(&v, 403, &w, err, sizeof(err)), -1);
	assert_string_equal(err, "Unrecognized option: --bogus");
	submit_view_free(&w);
	strvec_free(&v);
	assert_int_equal(submit_spark_version("4.3.0"), 403);
	assert_int_equal(submit_spark_version("3.5.7"), 305);
	assert_int_equal(submit_spark_version("x"), SUBMIT_SPARK_LATEST);
}

static void test_suggest(void **st)
{
	(void)st;
	static const char *const keys[] = {"sparkshim.stop.timeout", "sparkshim.cds"};
	assert_string_equal(suggest_closest("sparkshim.stop.timout", keys, 2, sizeof(keys[0])),
			    keys[0]);
	assert_string_equal(suggest_closest("sparkshim.stpo.timeout", keys, 2, sizeof(keys[0])),
			    keys[0]);
	assert_null(suggest_closest("sparkshim.zzz", keys, 2, sizeof(keys[0])));
	assert_null(suggest_closest("sparkshim.cds", keys, 2, sizeof(keys[0]))); /* itself */
	assert_int_equal(suggest_distance("abc", "acb", 5), 1);
	assert_int_equal(suggest_distance("abc", "xyzuvw", 2), 3);
}

static void test_submit_make_connect(void **st)
{
	(void)st;
	struct conf extra;
	conf_init(&extra);
	conf_set(&extra, "spark.connect.grpc.binding.port", "0");
	char *replaced;

	/* No class: added, extra conf appended. */
	struct strvec v;
	vec_of(&v, "--master", "local", NULL);
	assert_int_equal(submit_make_connect(&v, 403, &replaced), 0);
	assert_int_equal(submit_add_confs(&v, 403, &extra), 0);
	assert_null(replaced);
	char *j = strvec_join(&v, 0, " ");
	assert_string_equal(j, "--class " CONNECT_SERVER_CLASS
			       " --master local --conf spark.connect.grpc.binding.port=0");
	free(j);
	strvec_free(&v);

	/* Another engine's class: replaced, its jar and args dropped, a conf
	 * the user set is not overridden. */
	vec_of(&v, "--class", "org.apache.kyuubi.engine.spark.SparkSQLEngine", "--conf",
	    "spark.connect.grpc.binding.port=15010", "kyuubi-engine.jar", "arg1", NULL);
	assert_int_equal(submit_make_connect(&v, 403, &replaced), 0);
	assert_int_equal(submit_add_confs(&v, 403, &extra), 0);
	assert_string_equal(replaced, "org.apache.kyuubi.engine.spark.SparkSQLEngine");
	free(replaced);
	j = strvec_join(&v, 0, " ");
	assert_string_equal(j, "--class " CONNECT_SERVER_CLASS
			       " --conf spark.connect.grpc.binding.port=15010");
	free(j);
	strvec_free(&v);

	/* The connect class with its jar (Spark 3.5 style) is kept as is. */
	vec_of(&v, "--class=" CONNECT_SERVER_CLASS, "spark-connect_2.12-3.5.3.jar", NULL);
	assert_int_equal(submit_make_connect(&v, 305, &replaced), 0);
	assert_null(replaced);
	assert_int_equal(v.n, 2);
	strvec_free(&v);
	conf_free(&extra);
}

static void test_idle_policy_per_mode(void **st)
{
	(void)st;
	struct conf c;
	conf_init(&c);
	struct idle_policy p;
	char err[256], pid[32];
	unsetenv("NOTIFY_SOCKET");
	unsetenv("SPARKSHIM_WRAPPER_PID");
	assert_int_equal(idle_policy_choose(&c, &p, err, sizeof(err)), 0);
	assert_int_equal(p.mode, MODE_MANUAL);
	assert_int_equal(p.timeout_ms, 0);
	assert_string_equal(p.source, "default for manual engines");
	setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);
	assert_int_equal(idle_policy_choose(&c, &p, err, sizeof(err)), 0);
	assert_int_equal(p.mode, MODE_SYSTEMD);
	assert_int_equal(p.timeout_ms, 0);
	/* The wrapper exec's us: its pid is ours. Gateway wins over systemd. */
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("SPARKSHIM_WRAPPER_PID", pid, 1);
	assert_int_equal(idle_policy_choose(&c, &p, err, sizeof(err)), 0);
	assert_int_equal(p.mode, MODE_GATEWAY);
	assert_int_equal(p.timeout_ms, 30 * 60000);
	assert_string_equal(p.source, "Kyuubi's default for gateway engines");
	/* Another process's pid is not a wrapper launch of this one. */
	setenv("SPARKSHIM_WRAPPER_PID", "1", 1);
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(idle_policy_choose(&c, &p, err, sizeof(err)), 0);
	assert_int_equal(p.mode, MODE_MANUAL);
	unsetenv("SPARKSHIM_WRAPPER_PID");
	conf_set(&c, "spark.kyuubi.ha.engine.ref.id", "0b6b");
	assert_int_equal(idle_policy_choose(&c, &p, err, sizeof(err)), 0);
	assert_int_equal(p.mode, MODE_GATEWAY);
	assert_int_equal(p.timeout_ms, 30 * 60000);
	/* Configured: wins in every mode; 0 = never. */
	conf_set(&c, "kyuubi.session.engine.idle.timeout", "0");
	assert_int_equal(idle_policy_choose(&c, &p, err, sizeof(err)), 0);
	assert_int_equal(p.timeout_ms, 0);
	assert_string_equal(p.source, "kyuubi.session.engine.idle.timeout");
	conf_unset(&c, "spark.kyuubi.ha.engine.ref.id");
	conf_set(&c, "kyuubi.session.engine.idle.timeout", "PT1H");
	assert_int_equal(idle_policy_choose(&c, &p, err, sizeof(err)), 0);
	assert_int_equal(p.mode, MODE_MANUAL);
	assert_int_equal(p.timeout_ms, 3600000);
	conf_set(&c, "kyuubi.session.engine.idle.timeout", "soon");
	assert_int_equal(idle_policy_choose(&c, &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "kyuubi.session.engine.idle.timeout=soon"));
	conf_free(&c);
}

static void test_settings(void **st)
{
	(void)st;
	struct conf cli, spark;
	conf_init(&cli);
	conf_init(&spark);
	struct settings s;
	char err[512];
	unsetenv("NOTIFY_SOCKET");
	unsetenv("SPARKSHIM_WRAPPER_PID");
	assert_int_equal(settings_load(&cli, NULL, &spark, &s, err, sizeof(err)), 0);
	/* Started by hand: no idle stop unless configured (issue 13 item 7). */
	assert_int_equal(s.idle.mode, MODE_MANUAL);
	assert_int_equal(s.idle_timeout_ms, 0);
	assert_int_equal(s.check_interval_ms, 60000);
	assert_int_equal(s.start_timeout_ms, 180000);
	assert_int_equal(s.stop_timeout_ms, 30000);
	assert_string_equal(s.control_address, "127.0.0.1:+1");
	assert_int_equal(s.launcher_cache, 1);
	assert_string_equal(s.cache_dir, "");

	conf_set(&spark, "spark.kyuubi.session.engine.idle.timeout", "PT5S");
	conf_set(&spark, "kyuubi.session.engine.check.interval", "1000");
	conf_set(&spark, "spark.sparkshim.stop.timeout", "7s");
	conf_set(&cli, "sparkshim.control.address", "off");
	assert_int_equal(settings_load(&cli, NULL, &spark, &s, err, sizeof(err)), 0);
	assert_int_equal(s.idle_timeout_ms, 5000);
	assert_string_equal(s.idle.source, "spark.kyuubi.session.engine.idle.timeout");
	assert_int_equal(s.check_interval_ms, 1000);
	assert_int_equal(s.stop_timeout_ms, 7000);
	assert_string_equal(s.control_address, "");
	/* CLI wins over spark.sparkshim.* */
	conf_set(&cli, "sparkshim.stop.timeout", "9s");
	assert_int_equal(settings_load(&cli, NULL, &spark, &s, err, sizeof(err)), 0);
	assert_int_equal(s.stop_timeout_ms, 9000);

	conf_set(&spark, "spark.kyuubi.session.engine.idle.timeout", "forever");
	assert_int_equal(settings_load(&cli, NULL, &spark, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "spark.kyuubi.session.engine.idle.timeout=forever"));
	conf_unset(&spark, "spark.kyuubi.session.engine.idle.timeout");
	conf_set(&cli, "sparkshim.log.level", "loud");
	assert_int_equal(settings_load(&cli, NULL, &spark, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "loud"));
	conf_set(&cli, "sparkshim.log.level", "debug");
	conf_set(&cli, "sparkshim.control.token.file", "/nonexistent/token");
	assert_int_equal(settings_load(&cli, NULL, &spark, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/token"));
	conf_unset(&cli, "sparkshim.control.token.file");
	assert_int_equal(settings_load(&cli, "/nonexistent/shim.conf", &spark, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/shim.conf"));
	conf_set(&cli, "sparkshim.stop.timeout", "0");
	assert_int_equal(settings_load(&cli, NULL, &spark, &s, err, sizeof(err)), -1);
	conf_free(&cli);
	conf_free(&spark);
}

/* The front door's limits: one home (settings.c), checked before anything
 * starts. */
static void test_settings_door_limits(void **state)
{
	(void)state;
	struct conf cli, spark;
	conf_init(&cli);
	conf_init(&spark);
	struct settings s;
	char err[512];
	assert_int_equal(settings_load(&cli, NULL, &spark, &s, err, sizeof(err)), 0);
	assert_int_equal(s.door_max_sessions, 0);
	assert_int_equal(s.door_max_operations, 0);
	assert_int_equal(s.door_session_timeout_ms, 3600000);
	conf_set(&cli, "sparkshim.connect.max.sessions", "256");
	conf_set(&spark, "spark.sparkshim.connect.max.operations", "8");
	conf_set(&spark, "spark.connect.session.manager.defaultSessionTimeout", "5min");
	assert_int_equal(settings_load(&cli, NULL, &spark, &s, err, sizeof(err)), 0);
	assert_int_equal(s.door_max_sessions, 256);
	assert_int_equal(s.door_max_operations, 8);
	assert_int_equal(s.door_session_timeout_ms, 300000);
	conf_set(&cli, "sparkshim.connect.max.sessions", "-1");
	assert_int_equal(settings_load(&cli, NULL, &spark, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "sparkshim.connect.max.sessions=-1"));
	conf_set(&cli, "sparkshim.connect.max.sessions", "1");
	conf_set(&cli, "sparkshim.connect.max.operations", "many");
	assert_int_equal(settings_load(&cli, NULL, &spark, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "sparkshim.connect.max.operations=many"));
	conf_unset(&cli, "sparkshim.connect.max.operations");
	conf_unset(&spark, "spark.sparkshim.connect.max.operations");
	conf_set(&spark, "spark.connect.session.manager.defaultSessionTimeout", "soon");
	assert_int_equal(settings_load(&cli, NULL, &spark, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "defaultSessionTimeout=soon"));
	conf_free(&cli);
	conf_free(&spark);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),    cmocka_unit_test(test_conf_store),
		cmocka_unit_test(test_conf_file),    cmocka_unit_test(test_strvec),
		cmocka_unit_test(test_lifecycle),    cmocka_unit_test(test_cli),
		cmocka_unit_test(test_submit_collect), cmocka_unit_test(test_submit_make_connect),
		cmocka_unit_test(test_submit_versions), cmocka_unit_test(test_suggest),
		cmocka_unit_test(test_settings), cmocka_unit_test(test_settings_door_limits),
		cmocka_unit_test(test_idle_policy_per_mode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
