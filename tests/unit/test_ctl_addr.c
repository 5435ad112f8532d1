/* Control address parsing, loopback rule, formatting, bind diagnosis. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "shim/ctl/ctl_addr.h"

static int parse(const char *s, struct ctl_addr *a)
{
	char err[200] = "";
	int rc = ctl_addr_parse(s, a, err, sizeof(err));
	if (rc < 0)
		assert_true(err[0] != '\0');
	return rc;
}

static void parse_valid(void **state)
{
	(void)state;
	struct ctl_addr a;
	assert_int_equal(parse("127.0.0.1:15003", &a), 0);
	assert_string_equal(a.host, "127.0.0.1");
	assert_int_equal(a.port, 15003);
	assert_int_equal(a.is_unix, 0);
	assert_int_equal(parse("[::1]:0", &a), 0);
	assert_string_equal(a.host, "::1");
	assert_int_equal(a.port, 0);
	assert_int_equal(parse("localhost:65535", &a), 0);
	assert_int_equal(a.port, 65535);
	assert_int_equal(parse("unix:/run/sparkshim/ctl.sock", &a), 0);
	assert_int_equal(a.is_unix, 1);
}

static void parse_invalid(void **state)
{
	(void)state;
	struct ctl_addr a;
	const char *bad[] = {"",	 "127.0.0.1", "127.0.0.1:", ":15003", "host:port",
			     "h:-1",	 "h:65536",   "::1:5",	    "[::1]5", "[::1", "[[:1]:0", "[unix]:0",
			     "unix:x.s", "h:1x",      NULL};
	for (int i = 0; bad[i]; i++)
		assert_int_equal(parse(bad[i], &a), -1);
	char err[64];
	assert_int_equal(ctl_addr_parse(NULL, &a, err, sizeof(err)), -1);
}

static void loopback_rule(void **state)
{
	(void)state;
	struct ctl_addr a;
	const char *local[] = {"127.0.0.1:1", "127.1.2.3:1", "[::1]:1", "localhost:1",
			       "LOCALHOST:1", "[::ffff:127.0.0.1]:1", "unix:/tmp/s", NULL};
	const char *remote[] = {"0.0.0.0:1", "[::]:1", "10.0.0.1:1", "example.com:1",
				"[fe80::1]:1", "[::ffff:10.0.0.1]:1", "128.0.0.1:1", NULL};
	for (int i = 0; local[i]; i++) {
		assert_int_equal(parse(local[i], &a), 0);
		assert_int_equal(ctl_addr_is_loopback(&a), 1);
	}
	for (int i = 0; remote[i]; i++) {
		assert_int_equal(parse(remote[i], &a), 0);
		assert_int_equal(ctl_addr_is_loopback(&a), 0);
	}
}

static void format(void **state)
{
	(void)state;
	char buf[64];
	ctl_addr_format("127.0.0.1", 5, buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.1:5");
	ctl_addr_format("::1", 15003, buf, sizeof(buf));
	assert_string_equal(buf, "[::1]:15003");
}

static void bind_errno(void **state)
{
	(void)state;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	socklen_t sl = sizeof(sa);
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	struct ctl_addr a = {.port = ntohs(sa.sin_port)};
	strcpy(a.host, "127.0.0.1");
	assert_int_equal(ctl_addr_bind_errno(&a), EADDRINUSE);
	close(fd);
	a.port = 0;
	assert_int_equal(ctl_addr_bind_errno(&a), 0);
	strcpy(a.host, "192.0.2.123"); /* TEST-NET-1: not ours */
	assert_int_equal(ctl_addr_bind_errno(&a), EADDRNOTAVAIL);
	strcpy(a.host, "no-such-host.invalid");
	assert_int_equal(ctl_addr_bind_errno(&a), -1);
	a.is_unix = 1;
	assert_int_equal(ctl_addr_bind_errno(&a), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_valid),	 cmocka_unit_test(parse_invalid),
		cmocka_unit_test(loopback_rule), cmocka_unit_test(format),
		cmocka_unit_test(bind_errno),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
