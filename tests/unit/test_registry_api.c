/* Registry API paths that need no ZooKeeper server: misuse, registration
 * off, an unreachable ensemble (a closed loopback port), bad endpoints,
 * idempotent stop calls; and the ZooKeeper log line parser. The paths with
 * a live server are in tests/integration/test_registry.py. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/engine_info.h"
#include "base/events.h"
#include "base/lifecycle.h"
#include "shim/registry/registry.h"
#include "shim/registry/zk_log.h"

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A loopback port nobody listens on (bound, then released). */
static int closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static int configure(const char *const *kvs, char *err, size_t n)
{
	struct conf c;
	conf_init(&c);
	for (size_t i = 0; kvs[i]; i++)
		assert_int_equal(conf_set_kv(&c, kvs[i]), 0);
	int rc = registry_configure(&c, err, n);
	conf_free(&c);
	return rc;
}

static enum reg_state reg_state(void)
{
	struct engine_info e;
	engine_info_get(&e);
	return e.reg_state;
}

static int setup(void **state)
{
	(void)state;
	engine_info_reset();
	lifecycle_reset();
	return events_init();
}

static int teardown(void **state)
{
	(void)state;
	registry_close();
	events_close();
	return 0;
}

static const struct reg_endpoint EP = {"127.0.0.1", 15002, "", "", ""};

static void register_before_configure(void **state)
{
	(void)state;
	char err[256] = "";
	assert_int_equal(registry_register(&EP, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "before registry_configure"));
	assert_int_equal(registry_deregister(), 0);
	registry_close();
}

static void disabled_is_a_no_op(void **state)
{
	(void)state;
	char err[256];
	const char *kv[] = {"spark.kyuubi.ha.namespace=/x", NULL};
	assert_int_equal(configure(kv, err, sizeof(err)), 0);
	assert_int_equal(registry_enabled(), 0);
	assert_int_equal(reg_state(), REG_DISABLED);
	assert_int_equal(registry_register(&EP, err, sizeof(err)), 0);
	assert_int_equal(registry_deregister(), 0);
	assert_int_equal(registry_deregister(), 0);
	struct shim_event ev;
	assert_int_equal(events_pop(&ev), 0); /* nothing was posted */
}

static void bad_conf_is_one_line(void **state)
{
	(void)state;
	char err[256] = "";
	const char *kv[] = {"spark.kyuubi.ha.addresses=127.0.0.1:1",
			    "spark.kyuubi.ha.zookeeper.auth.type=KERBEROS", NULL};
	assert_int_equal(configure(kv, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "spark.kyuubi.ha.zookeeper.auth.type=KERBEROS"));
	assert_null(strchr(err, '\n'));
	assert_int_equal(registry_enabled(), 0);
}

/* kyuubi.ha.client.class selects the etcd backend; an unreachable etcd (a
 * closed loopback port) fails the registration within the connection
 * timeout with one line, and nothing is left behind. */
static void etcd_unreachable_fails_in_time(void **state)
{
	(void)state;
	char addr[64], err[512] = "";
	snprintf(addr, sizeof(addr), "spark.kyuubi.ha.addresses=http://127.0.0.1:%d", closed_port());
	const char *kv[] = {addr,
			    "spark.kyuubi.ha.client.class=org.apache.kyuubi.ha.client.etcd."
			    "EtcdDiscoveryClient",
			    "spark.kyuubi.ha.zookeeper.connection.timeout=400", NULL};
	assert_int_equal(configure(kv, err, sizeof(err)), 0);
	assert_int_equal(registry_enabled(), 1);
	int64_t t0 = mono_ms();
	assert_int_equal(registry_register(&EP, err, sizeof(err)), -1);
	int64_t took = mono_ms() - t0;
	assert_true(took >= 350);
	assert_true(took < 5000);
	assert_non_null(strstr(err, "could not register with etcd"));
	assert_non_null(strstr(err, "400 ms"));
	assert_null(strchr(err, '\n'));
	assert_int_equal(reg_state(), REG_FAILED);
	assert_int_equal(registry_deregister(), 0);
	struct shim_event ev;
	assert_int_equal(events_pop(&ev), 0);
	registry_close();
}

static void unreachable_ensemble_fails_in_time(void **state)
{
	(void)state;
	char addr[64], err[512] = "";
	snprintf(addr, sizeof(addr), "spark.kyuubi.ha.addresses=127.0.0.1:%d", closed_port());
	const char *kv[] = {addr, "spark.kyuubi.ha.zookeeper.connection.timeout=400",
			    "spark.kyuubi.ha.zookeeper.session.timeout=2000",
			    "spark.sparkshim.registry.zookeeper.log.level=ERROR", NULL};
	assert_int_equal(configure(kv, err, sizeof(err)), 0);
	assert_int_equal(registry_enabled(), 1);
	assert_int_equal(reg_state(), REG_PENDING);
	int64_t t0 = mono_ms();
	assert_int_equal(registry_register(&EP, err, sizeof(err)), -1);
	int64_t took = mono_ms() - t0;
	assert_true(took >= 350);
	assert_true(took < 5000); /* connect timeout + closing the handle */
	assert_non_null(strstr(err, "could not connect to ZooKeeper"));
	assert_non_null(strstr(err, "400 ms"));
	assert_null(strchr(err, '\n'));
	assert_int_equal(reg_state(), REG_FAILED);
	assert_int_equal(registry_deregister(), 0);
	struct shim_event ev;
	assert_int_equal(events_pop(&ev), 0);
}

static void bad_endpoints(void **state)
{
	(void)state;
	char err[256];
	const char *kv[] = {"spark.kyuubi.ha.addresses=127.0.0.1:1", NULL};
	assert_int_equal(configure(kv, err, sizeof(err)), 0);
	struct reg_endpoint eps[] = {
		{"::1", 1, "", "", ""},
		{"h;x", 1, "", "", ""},
		{"", 1, "", "", ""},
		{NULL, 1, "", "", ""},
		{"h", 0, "", "", ""},
		{"h", 65536, "", "", ""},
	};
	for (size_t i = 0; i < sizeof(eps) / sizeof(eps[0]); i++) {
		err[0] = '\0';
		assert_int_equal(registry_register(&eps[i], err, sizeof(err)), -1);
		assert_non_null(strstr(err, "cannot publish endpoint"));
	}
	assert_int_equal(registry_register(NULL, err, sizeof(err)), -1);
}

static void close_is_idempotent(void **state)
{
	(void)state;
	registry_close();
	registry_close();
	assert_int_equal(registry_deregister(), 0);
	assert_int_equal(registry_enabled(), 0);
}

static void zk_log_lines(void **state)
{
	(void)state;
	enum log_level lvl;
	const char *msg;
	size_t n;
	const char *line = "2024-05-01 10:00:00,123:4242(0x7f00aa):ZOO_WARN@handle_socket_error_msg"
			   "@1234: Socket [127.0.0.1:2181] zk retcode=-4, errno=111(Connection "
			   "refused): server refused to accept the client\n";
	assert_int_equal(zk_log_parse(line, &lvl, &msg, &n), 0);
	assert_int_equal(lvl, LOG_WARN);
	assert_true(strncmp(msg, "Socket [127.0.0.1:2181]", 23) == 0);
	assert_int_equal(msg[n - 1], 't'); /* newline dropped */
	assert_int_equal(zk_log_parse("t:1(0x1):ZOO_ERROR@f@1: boom", &lvl, &msg, &n), 0);
	assert_int_equal(lvl, LOG_ERROR);
	assert_int_equal(zk_log_parse("t:1(0x1):ZOO_INFO@f@1: i", &lvl, &msg, &n), 0);
	assert_int_equal(lvl, LOG_INFO);
	assert_int_equal(zk_log_parse("t:1(0x1):ZOO_DEBUG@f@1: d", &lvl, &msg, &n), 0);
	assert_int_equal(lvl, LOG_DEBUG);
	assert_int_equal(zk_log_parse("plain text", &lvl, &msg, &n), -1);
	assert_int_equal(zk_log_parse("t:ZOO_WARN@nocolon", &lvl, &msg, &n), -1);
	zk_log_forward("unparsed line is still logged");
	zk_log_forward("");
}

/* Run fn with stderr captured; returns the captured text (static buffer). */
static const char *capture_stderr(void (*fn)(void))
{
	static char buf[16384];
	FILE *tmp = tmpfile();
	assert_non_null(tmp);
	fflush(stderr);
	int saved = dup(2);
	dup2(fileno(tmp), 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	size_t n = fread(buf, 1, sizeof(buf) - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
	return buf;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static void forward_repeats(void)
{
	/* The client logs each failed attempt; alternating lines too. */
	for (int i = 0; i < 5; i++) {
		zk_log_forward("t:1(0x1):ZOO_ERROR@f@1: refused-A\n");
		zk_log_forward("t:1(0x1):ZOO_WARN@g@2: delaying-B\n");
	}
	/* Eight other messages push refused-A out of the table: its count is
	 * reported then. */
	char line[64];
	for (int i = 0; i < 8; i++) {
		snprintf(line, sizeof(line), "t:1(0x1):ZOO_WARN@h@3: distinct-%d", i);
		zk_log_forward(line);
	}
}

static void zk_log_folds_repeats(void **state)
{
	(void)state;
	const char *out = capture_stderr(forward_repeats);
	assert_int_equal(count(out, "zookeeper: refused-A\n"), 1);
	assert_int_equal(count(out, "zookeeper: delaying-B\n"), 1);
	assert_int_equal(count(out, "(4 more times: refused-A)"), 1);
	assert_int_equal(count(out, "distinct-"), 8);
	assert_int_equal(count(out, " ERROR sparkshim: zookeeper: refused-A"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(register_before_configure, setup, teardown),
		cmocka_unit_test_setup_teardown(disabled_is_a_no_op, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_conf_is_one_line, setup, teardown),
		cmocka_unit_test_setup_teardown(etcd_unreachable_fails_in_time, setup, teardown),
		cmocka_unit_test_setup_teardown(unreachable_ensemble_fails_in_time, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_endpoints, setup, teardown),
		cmocka_unit_test_setup_teardown(close_is_idempotent, setup, teardown),
		cmocka_unit_test(zk_log_lines),
		cmocka_unit_test(zk_log_folds_repeats),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
