/* Advertised host rules (shim/registry/advertise.c). Only the configured branches
 * and the interface scan are exercised: the host-name branch may consult
 * DNS, which tests must not. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "shim/registry/advertise.h"

static int pick(const char *const *kvs, char *out, size_t n)
{
	struct conf c;
	conf_init(&c);
	for (size_t i = 0; kvs[i]; i++)
		assert_int_equal(conf_set_kv(&c, kvs[i]), 0);
	int rc = advertised_host(&c, out, n);
	conf_free(&c);
	return rc;
}

static void advertised_host_wins(void **state)
{
	(void)state;
	char out[256];
	const char *kv[] = {"spark.kyuubi.frontend.advertised.host=gw-visible.example",
			    "spark.connect.grpc.binding.address=127.0.0.1", NULL};
	assert_int_equal(pick(kv, out, sizeof(out)), 0);
	assert_string_equal(out, "gw-visible.example");
	const char *unprefixed[] = {"kyuubi.frontend.advertised.host=10.1.2.3", NULL};
	assert_int_equal(pick(unprefixed, out, sizeof(out)), 0);
	assert_string_equal(out, "10.1.2.3");
}

static void bind_address_next(void **state)
{
	(void)state;
	char out[256];
	const char *kv[] = {"spark.connect.grpc.binding.address=127.0.0.1", NULL};
	assert_int_equal(pick(kv, out, sizeof(out)), 0);
	assert_string_equal(out, "127.0.0.1");
	/* An empty advertised host does not count. */
	const char *empty[] = {"spark.kyuubi.frontend.advertised.host=",
			       "spark.connect.grpc.binding.address=127.0.0.2", NULL};
	assert_int_equal(pick(empty, out, sizeof(out)), 0);
	assert_string_equal(out, "127.0.0.2");
}

/* The driver's host comes after the bind address, before discovery; the key
 * that gave the host is reported. */
static void driver_host_after_bind_address(void **state)
{
	(void)state;
	char out[256];
	const char *kv[] = {"spark.driver.host=10.9.8.7", NULL};
	assert_int_equal(pick(kv, out, sizeof(out)), 0);
	assert_string_equal(out, "10.9.8.7");
	const char *both[] = {"spark.driver.host=10.9.8.7",
			      "spark.connect.grpc.binding.address=127.0.0.3", NULL};
	assert_int_equal(pick(both, out, sizeof(out)), 0);
	assert_string_equal(out, "127.0.0.3");
	const char *wild[] = {"spark.driver.host=10.9.8.7",
			      "spark.connect.grpc.binding.address=0.0.0.0", NULL};
	assert_int_equal(pick(wild, out, sizeof(out)), 0);
	assert_string_equal(out, "10.9.8.7");

	struct conf c;
	conf_init(&c);
	const char *from = "unset";
	assert_int_equal(conf_set_kv(&c, "spark.kyuubi.frontend.advertised.host=h1"), 0);
	assert_int_equal(conf_set_kv(&c, "spark.driver.host=h2"), 0);
	assert_int_equal(advertised_host_from(&c, out, sizeof(out), &from), 0);
	assert_string_equal(out, "h1");
	assert_string_equal(from, "spark.kyuubi.frontend.advertised.host");
	conf_free(&c);
	conf_init(&c);
	assert_int_equal(conf_set_kv(&c, "spark.driver.host=h2"), 0);
	assert_int_equal(advertised_host_from(&c, out, sizeof(out), &from), 0);
	assert_string_equal(from, "spark.driver.host");
	conf_free(&c);
	/* Refused like the other configured values. */
	const char *v6[] = {"spark.driver.host=::1", NULL};
	assert_int_equal(pick(v6, out, sizeof(out)), -1);
	assert_non_null(strstr(out, "spark.driver.host=::1"));
}

/* Numeric addresses resolve without a resolver; a loopback one is local, an
 * address of TEST-NET-3 (RFC 5737, on no interface here) is not. */
static void resolves_and_is_local(void **state)
{
	(void)state;
	char err[128];
	assert_int_equal(advertise_resolves("127.0.0.1", err, sizeof(err)), 0);
	assert_int_equal(advertise_resolves("203.0.113.7", err, sizeof(err)), 0);
	assert_true(advertise_is_local("127.0.0.1"));
	assert_false(advertise_is_local("203.0.113.7"));
}

static void wildcards(void **state)
{
	(void)state;
	assert_true(advertise_is_wildcard("0.0.0.0"));
	assert_true(advertise_is_wildcard("::"));
	assert_true(advertise_is_wildcard("[::]"));
	assert_true(advertise_is_wildcard("*"));
	assert_true(advertise_is_wildcard(""));
	assert_false(advertise_is_wildcard("127.0.0.1"));
	assert_false(advertise_is_wildcard("host"));
}

static void unusable_configured_values(void **state)
{
	(void)state;
	char out[256];
	const char *v6[] = {"spark.kyuubi.frontend.advertised.host=::1", NULL};
	assert_int_equal(pick(v6, out, sizeof(out)), -1);
	assert_non_null(strstr(out, "spark.kyuubi.frontend.advertised.host=::1"));
	assert_null(strchr(out, '\n'));
	const char *bind6[] = {"spark.connect.grpc.binding.address=fe80::1", NULL};
	assert_int_equal(pick(bind6, out, sizeof(out)), -1);
	assert_non_null(strstr(out, "spark.connect.grpc.binding.address=fe80::1"));
	const char *semi[] = {"kyuubi.frontend.advertised.host=a;b", NULL};
	assert_int_equal(pick(semi, out, sizeof(out)), -1);
	const char *space[] = {"kyuubi.frontend.advertised.host=a b", NULL};
	assert_int_equal(pick(space, out, sizeof(out)), -1);
	char tiny[4];
	const char *longname[] = {"kyuubi.frontend.advertised.host=abcdef", NULL};
	assert_int_equal(pick(longname, tiny, sizeof(tiny)), -1);
}

static void bad_use_hostname_flag(void **state)
{
	(void)state;
	char out[256];
	const char *kv[] = {"spark.kyuubi.frontend.connection.url.use.hostname=maybe", NULL};
	assert_int_equal(pick(kv, out, sizeof(out)), -1);
	assert_non_null(strstr(out, "spark.kyuubi.frontend.connection.url.use.hostname=maybe"));
}

static void host_rules(void **state)
{
	(void)state;
	assert_true(advertise_host_ok("h"));
	assert_true(advertise_host_ok("10.0.0.1"));
	assert_true(advertise_host_ok("node-1.example.com"));
	assert_false(advertise_host_ok(""));
	assert_false(advertise_host_ok("h:1"));
	assert_false(advertise_host_ok("h/x"));
	assert_false(advertise_host_ok("h;x"));
	assert_false(advertise_host_ok("h\tx"));
	char big[300];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_false(advertise_host_ok(big));
}

static void interface_scan_gives_a_non_loopback_ip(void **state)
{
	(void)state;
	char ip[64];
	if (advertise_interface_ip(ip, sizeof(ip)) < 0)
		skip(); /* a box with only loopback */
	struct in_addr a4;
	struct in6_addr a6;
	assert_true(inet_pton(AF_INET, ip, &a4) == 1 || inet_pton(AF_INET6, ip, &a6) == 1);
	assert_true(strncmp(ip, "127.", 4) != 0);
	assert_string_not_equal(ip, "::1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(advertised_host_wins),
		cmocka_unit_test(driver_host_after_bind_address),
		cmocka_unit_test(resolves_and_is_local),
		cmocka_unit_test(bind_address_next),
		cmocka_unit_test(wildcards),
		cmocka_unit_test(unusable_configured_values),
		cmocka_unit_test(bad_use_hostname_flag),
		cmocka_unit_test(host_rules),
		cmocka_unit_test(interface_scan_gives_a_non_loopback_ip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
