/* connect_probe: alive against a real gRPC server, dead against nothing or
 * a silent socket within the timeout, no stale state after a restart. */
#include "tests/unit/ctl_testlib.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shim/ctl/connect_probe.h"

static int port_of(const char *addr) { return atoi(strrchr(addr, ':') + 1); }

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A bound socket; listening or not. Returns fd, port in *port. */
static int tcp_socket(int do_listen, int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (do_listen)
		assert_int_equal(listen(fd, 8), 0);
	socklen_t sl = sizeof(sa);
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	*port = ntohs(sa.sin_port);
	return fd;
}

static void dead_when_nothing_listens(void **state)
{
	(void)state;
	int port;
	int fd = tcp_socket(0, &port);
	close(fd);
	long long t0 = now_ms();
	assert_int_equal(connect_probe("127.0.0.1", port, 8000), 0);
	/* refused is reported at once, not after the timeout (slack: valgrind) */
	assert_true(now_ms() - t0 < 4000);
	assert_int_equal(connect_probe("127.0.0.1", 0, 100), 0);
	assert_int_equal(connect_probe("127.0.0.1", 70000, 100), 0);
}

static void dead_when_socket_is_silent(void **state)
{
	(void)state;
	int port;
	int fd = tcp_socket(1, &port); /* accepts TCP, never speaks HTTP/2 */
	long long t0 = now_ms();
	assert_int_equal(connect_probe("127.0.0.1", port, 300), 0);
	long long dt = now_ms() - t0;
	assert_true(dt >= 250 && dt < 3000);
	/* End the half-open connection now (the probe's own connect timeout
	 * is 5 s), so gRPC tears it down before the process exits. */
	int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK);
	if (c >= 0)
		close(c);
	close(fd);
	connect_probe_shutdown();
}

static void alive_against_grpc_server(void **state)
{
	(void)state;
	tl_server_up(NULL);
	int port = port_of(tl_addr);
	assert_int_equal(connect_probe("127.0.0.1", port, 1000), 1);
	assert_int_equal(connect_probe("127.0.0.1", port, 1000), 1); /* cached channel */
	assert_int_equal(connect_probe("", port, 1000), 1);	     /* default host */
	assert_int_equal(connect_probe(NULL, port, 0), 1);	     /* default timeout */
	assert_int_equal(connect_probe("localhost", port, 1000), 1);
	tl_server_down();
}

static void follows_restart(void **state)
{
	(void)state;
	tl_server_up(NULL);
	char addr[300];
	snprintf(addr, sizeof(addr), "%s", tl_addr);
	int port = port_of(addr);
	assert_int_equal(connect_probe("127.0.0.1", port, 1000), 1);
	tl_server_down();
	assert_int_equal(connect_probe("127.0.0.1", port, 500), 0);
	assert_int_equal(connect_probe("127.0.0.1", port, 500), 0);
	/* back on the same port: the very next probe must see it */
	char bound[300], err[256];
	lifecycle_reset();
	event_log_reset();
	tl_srv = tl_start(addr, NULL, 0, bound, sizeof(bound), err, sizeof(err));
	assert_non_null(tl_srv);
	assert_int_equal(connect_probe("127.0.0.1", port, 1000), 1);
	tl_stop();
}

static int probe_port;

static void *prober(void *arg)
{
	(void)arg;
	long ok = 0;
	for (int i = 0; i < 20; i++)
		ok += connect_probe("127.0.0.1", probe_port, 2000);
	return (void *)ok;
}

static void concurrent_probes(void **state)
{
	(void)state;
	tl_server_up(NULL);
	probe_port = port_of(tl_addr);
	pthread_t t[8];
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&t[i], NULL, prober, NULL), 0);
	long total = 0;
	for (int i = 0; i < 8; i++) {
		void *v;
		pthread_join(t[i], &v);
		total += (long)v;
	}
	assert_int_equal(total, 160);
	tl_server_down();
}

static void shutdown_then_probe_again(void **state)
{
	(void)state;
	connect_probe_shutdown();
	connect_probe_shutdown(); /* idempotent */
	tl_server_up(NULL);
	assert_int_equal(connect_probe("127.0.0.1", port_of(tl_addr), 1000), 1);
	tl_server_down();
	connect_probe_shutdown();
}

static void literal_targets_skip_dns(void **state)
{
	(void)state;
	char t[320];
	rpc_target("127.0.0.1:15003", t, sizeof(t));
	assert_string_equal(t, "ipv4:127.0.0.1:15003");
	rpc_target("[::1]:7", t, sizeof(t));
	assert_string_equal(t, "ipv6:[::1]:7");
	rpc_target("LocalHost:9", t, sizeof(t));
	assert_string_equal(t, "ipv4:127.0.0.1:9");
	rpc_target("engine.example.com:9", t, sizeof(t));
	assert_string_equal(t, "engine.example.com:9");
	rpc_target("unix:/run/s.sock", t, sizeof(t));
	assert_string_equal(t, "unix:/run/s.sock");
	rpc_target("dns:///h:1", t, sizeof(t));
	assert_string_equal(t, "dns:///h:1");
	rpc_target("garbage", t, sizeof(t));
	assert_string_equal(t, "garbage");
	assert_int_equal(connect_probe("::1", 1, 200), 0); /* bare v6 literal is bracketed */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(dead_when_nothing_listens, tl_down),
		cmocka_unit_test_teardown(dead_when_socket_is_silent, tl_down),
		cmocka_unit_test_teardown(alive_against_grpc_server, tl_down),
		cmocka_unit_test_teardown(follows_restart, tl_down),
		cmocka_unit_test_teardown(concurrent_probes, tl_down),
		cmocka_unit_test_teardown(shutdown_then_probe_again, tl_down),
		cmocka_unit_test_teardown(literal_targets_skip_dns, tl_down),
	};
	/* One outer gRPC reference for the whole run (see tl_grpc_quiesce). */
	grpc_init();
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	connect_probe_shutdown();
	tl_grpc_quiesce();
	return rc;
}
