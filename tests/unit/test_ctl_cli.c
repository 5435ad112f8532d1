/* `sparkshim ctl` against the in-process server: commands, output, exit
 * codes, token sources, usage errors. */
#include "tests/unit/ctl_testlib.h"

#include <fcntl.h>
#include <unistd.h>

#include "shim/ctl/ctl_cli.h"
#include "shim/ctl/ctl_service.h"
#include "shim/ctl/control_service.h"

#define TOKEN "cli-token-123"

static char out[16384], errbuf[16384];

static void slurp(int fd, char *buf, size_t cap)
{
	lseek(fd, 0, SEEK_SET);
	ssize_t n = read(fd, buf, cap - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
}

/* Run ctl_main with NULL-terminated args, capturing stdout and stderr. */
static int run(const char *a0, ...)
{
	char *argv[32];
	int argc = 0;
	argv[argc++] = (char *)"ctl";
	va_list ap;
	va_start(ap, a0);
	for (const char *a = a0; a && argc < 31; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	char t1[] = "/tmp/ctl-out-XXXXXX", t2[] = "/tmp/ctl-err-XXXXXX";
	int fo = mkstemp(t1), fe = mkstemp(t2);
	assert_true(fo >= 0 && fe >= 0);
	unlink(t1);
	unlink(t2);
	fflush(stdout);
	fflush(stderr);
	int so = dup(1), se = dup(2);
	dup2(fo, 1);
	dup2(fe, 2);
	int rc = ctl_main(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	close(so);
	close(se);
	slurp(fo, out, sizeof(out));
	slurp(fe, errbuf, sizeof(errbuf));
	return rc;
}

static void set_ready_alive(void)
{
	assert_int_equal(lifecycle_fire(TR_READY, "up"), 0);
	tl_alive(1);
}

static void status_human_and_json(void **state)
{
	(void)state;
	tl_server_up(NULL);
	set_ready_alive();
	assert_int_equal(run("--address", tl_addr, "status", NULL), CTL_EXIT_OK);
	assert_non_null(strstr(out, "state:          READY"));
	assert_non_null(strstr(out, "sessions:       unknown"));
	assert_int_equal(run("status", "--json", "--address", tl_addr, NULL), CTL_EXIT_OK);
	assert_true(out[0] == '{');
	assert_non_null(strstr(out, "\"state\":\"READY\""));
	assert_non_null(strstr(out, "\"active_sessions\":-1"));
	assert_non_null(strstr(out, "\"connect_alive\":true"));
	/* env default address */
	setenv("SPARKSHIM_CONTROL_ADDRESS", tl_addr, 1);
	assert_int_equal(run("status", NULL), CTL_EXIT_OK);
	unsetenv("SPARKSHIM_CONTROL_ADDRESS");
	tl_server_down();
}

static void health_exit_codes(void **state)
{
	(void)state;
	tl_server_up(NULL);
	assert_int_equal(run("--address", tl_addr, "health", NULL), CTL_EXIT_NOT_SERVING);
	assert_string_equal(out, "NOT_SERVING\n");
	set_ready_alive();
	assert_int_equal(run("--address", tl_addr, "health", NULL), CTL_EXIT_OK);
	assert_string_equal(out, "SERVING\n");
	assert_int_equal(run("--address", tl_addr, "--json", "health", SVC_CONNECT, NULL),
			 CTL_EXIT_OK);
	assert_non_null(strstr(out, "\"status\":\"SERVING\""));
	assert_int_equal(run("--address", tl_addr, "health", "nope", NULL), CTL_EXIT_REJECTED);
	assert_non_null(strstr(errbuf, "NOT_FOUND"));
	tl_server_down();
}

static void unreachable(void **state)
{
	(void)state;
	/* nothing listens on port 1 */
	assert_int_equal(run("--address", "127.0.0.1:1", "--timeout", "2", "status", NULL),
			 CTL_EXIT_UNREACHABLE);
	assert_non_null(strstr(errbuf, "cannot reach"));
	assert_int_equal(run("--address", "127.0.0.1:1", "--json", "health", NULL),
			 CTL_EXIT_UNREACHABLE);
	assert_non_null(strstr(out, "\"code\":\"UNAVAILABLE\""));
}

static char token_path[64];

static void write_token_file(const char *content)
{
	snprintf(token_path, sizeof(token_path), "/tmp/ctl-token-%d", (int)getpid());
	FILE *f = fopen(token_path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static void mutating_with_tokens(void **state)
{
	(void)state;
	tl_server_up(TOKEN);
	set_ready_alive();
	struct shim_event ev;
	unsetenv("SPARKSHIM_CONTROL_TOKEN");
	assert_int_equal(run("--address", tl_addr, "drain", NULL), CTL_EXIT_REJECTED);
	assert_non_null(strstr(errbuf, "UNAUTHENTICATED"));
	assert_int_equal(events_pop(&ev), 0);
	/* token file, trailing newline stripped */
	write_token_file(TOKEN "\n");
	assert_int_equal(run("--address", tl_addr, "--token-file", token_path, "drain", "--reason",
			     "cli test", NULL),
			 CTL_EXIT_OK);
	assert_non_null(strstr(out, "drain requested"));
	assert_int_equal(events_pop(&ev), 1);
	assert_int_equal(ev.type, EV_CTL_DRAIN);
	assert_string_equal(ev.text, "cli test");
	/* env token */
	setenv("SPARKSHIM_CONTROL_TOKEN", TOKEN, 1);
	assert_int_equal(run("--address", tl_addr, "stop", "--grace", "30s", "--json", NULL),
			 CTL_EXIT_OK);
	assert_non_null(strstr(out, "\"accepted\":\"stop\""));
	assert_int_equal(events_pop(&ev), 1);
	assert_int_equal(ev.type, EV_CTL_STOP);
	assert_int_equal(ev.value, 30000);
	assert_int_equal(run("--address", tl_addr, "stop", NULL), CTL_EXIT_OK);
	assert_int_equal(events_pop(&ev), 1);
	assert_int_equal(ev.value, -1);
	/* log level through the test hook */
	control_set_log_level_hook(NULL);
	/* READY but no JVM behind it: a server-side failure, not a rejection */
	assert_int_equal(run("--address", tl_addr, "log-level", "info", NULL), CTL_EXIT_ERROR);
	assert_non_null(strstr(errbuf, "INTERNAL: setLogLevel(INFO) failed"));
	assert_int_equal(run("--address", tl_addr, "log-level", "bogus", NULL), CTL_EXIT_REJECTED);
	unsetenv("SPARKSHIM_CONTROL_TOKEN");
	/* wrong token in file */
	write_token_file("nope\n");
	assert_int_equal(run("--address", tl_addr, "--token-file", token_path, "stop", NULL),
			 CTL_EXIT_REJECTED);
	/* empty / missing token file is a usage error */
	write_token_file("\n");
	assert_int_equal(run("--address", tl_addr, "--token-file", token_path, "stop", NULL),
			 CTL_EXIT_USAGE);
	unlink(token_path);
	assert_int_equal(run("--address", tl_addr, "--token-file", token_path, "stop", NULL),
			 CTL_EXIT_USAGE);
	/* read-only commands ignore a broken token file */
	assert_int_equal(run("--address", tl_addr, "--token-file", token_path, "health", NULL),
			 CTL_EXIT_OK);
	log_set_level(LOG_ERROR);
	tl_server_down();
}

static void events_no_follow(void **state)
{
	(void)state;
	tl_server_up(NULL);
	set_ready_alive();
	assert_int_equal(run("--address", tl_addr, "events", "--no-follow", NULL), CTL_EXIT_OK);
	assert_non_null(strstr(out, "1 "));
	assert_non_null(strstr(out, "(start) -> STARTING"));
	assert_non_null(strstr(out, "STARTING -> READY  up"));
	assert_int_equal(run("--address", tl_addr, "--json", "events", "--no-follow", "--after",
			     "1", NULL),
			 CTL_EXIT_OK);
	assert_null(strstr(out, "\"seq\":1,"));
	assert_non_null(strstr(out, "\"seq\":2,"));
	assert_non_null(strstr(out, "\"to\":\"READY\""));
	tl_server_down();
}

static void usage_errors(void **state)
{
	(void)state;
	assert_int_equal(run(NULL), CTL_EXIT_USAGE);
	assert_int_equal(run("frobnicate", NULL), CTL_EXIT_USAGE);
	assert_int_equal(run("status", "extra", NULL), CTL_EXIT_USAGE);
	assert_int_equal(run("log-level", NULL), CTL_EXIT_USAGE);
	assert_int_equal(run("health", "a", "b", NULL), CTL_EXIT_USAGE);
	assert_int_equal(run("--address", NULL), CTL_EXIT_USAGE);
	assert_int_equal(run("--timeout", "soon", "status", NULL), CTL_EXIT_USAGE);
	assert_int_equal(run("stop", "--grace", "-5s", NULL), CTL_EXIT_USAGE);
	assert_int_equal(run("drain", "--grace", "5s", NULL), CTL_EXIT_USAGE);
	assert_int_equal(run("events", "--after", "-1", NULL), CTL_EXIT_USAGE);
	assert_int_equal(run("--bogus", "status", NULL), CTL_EXIT_USAGE);
	assert_int_equal(run("--token", "abc", "stop", NULL), CTL_EXIT_USAGE);
	assert_non_null(strstr(errbuf, "token-file"));
	assert_int_equal(run("--token=abc", "stop", NULL), CTL_EXIT_USAGE);
	assert_int_equal(run("--help", NULL), CTL_EXIT_OK);
	assert_non_null(strstr(out, "usage: sparkshim ctl"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(status_human_and_json, tl_down),
		cmocka_unit_test_teardown(health_exit_codes, tl_down),
		cmocka_unit_test_teardown(unreachable, tl_down),
		cmocka_unit_test_teardown(mutating_with_tokens, tl_down),
		cmocka_unit_test_teardown(events_no_follow, tl_down),
		cmocka_unit_test_teardown(usage_errors, tl_down),
	};
	/* One outer gRPC reference for the whole run (see tl_grpc_quiesce). */
	grpc_init();
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	tl_grpc_quiesce();
	return rc;
}
