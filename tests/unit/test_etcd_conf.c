/* The etcd backend's settings (shim/registry/etcd_conf.c): endpoints from
 * kyuubi.ha.addresses (schemes, default port, failover order), TLS keys
 * (kyuubi.ha.etcd.ssl.*), user/password, the lease timeout and the lost
 * budget; errors are one line naming key=value, secrets never echoed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "shim/registry/etcd_conf.h"
#include "shim/registry/reg_conf.h"

#define ETCD "spark.kyuubi.ha.client.class=org.apache.kyuubi.ha.client.etcd.EtcdDiscoveryClient"

static int load(struct reg_config *rc, struct etcd_config *ec, const char *const *kvs, char *err,
		size_t errlen)
{
	struct conf c;
	conf_init(&c);
	for (size_t i = 0; kvs[i]; i++)
		assert_int_equal(conf_set_kv(&c, kvs[i]), 0);
	memset(ec, 0, sizeof(*ec));
	int r = reg_config_load(rc, &c, err, errlen);
	if (r == 0) {
		assert_int_equal(rc->enabled, 1);
		r = etcd_config_load(ec, &c, rc, err, errlen);
		if (r < 0)
			reg_config_free(rc);
	}
	conf_free(&c); /* ec must not point into the conf */
	return r;
}

static void ok(struct reg_config *rc, struct etcd_config *ec, const char *const *kvs)
{
	char err[512] = "";
	if (load(rc, ec, kvs, err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
}

static void done(struct reg_config *rc, struct etcd_config *ec)
{
	reg_config_free(rc);
	etcd_config_free(ec);
}

static void bad(const char *const *kvs, const char *n1, const char *n2)
{
	struct reg_config rc;
	struct etcd_config ec;
	char err[512] = "";
	assert_int_equal(load(&rc, &ec, kvs, err, sizeof(err)), -1);
	assert_null(strchr(err, '\n'));
	if (!strstr(err, n1) || (n2 && !strstr(err, n2)))
		fail_msg("error '%s' lacks '%s' / '%s'", err, n1, n2 ? n2 : "");
	assert_int_equal(ec.n_endpoints, 0);
	assert_null(ec.endpoints);
}

static void endpoints(void **state)
{
	(void)state;
	struct reg_config rc;
	struct etcd_config ec;
	const char *kv[] = {ETCD,
			    "spark.kyuubi.ha.addresses= http://127.0.0.1:2379 ,localhost:23790,"
			    "etcd-0.example:2379/, [::1]:2381,10.0.0.2",
			    NULL};
	ok(&rc, &ec, kv);
	assert_int_equal(ec.n_endpoints, 5);
	assert_string_equal(ec.endpoints[0], "ipv4:127.0.0.1:2379");
	assert_string_equal(ec.endpoints[1], "ipv4:127.0.0.1:23790");
	assert_string_equal(ec.endpoint_names[1], "localhost:23790");
	assert_string_equal(ec.endpoints[2], "dns:///etcd-0.example:2379");
	assert_string_equal(ec.endpoints[3], "ipv6:[::1]:2381");
	assert_string_equal(ec.endpoint_names[3], "[::1]:2381");
	assert_string_equal(ec.endpoints[4], "ipv4:10.0.0.2:2379"); /* etcd's port */
	assert_int_equal(ec.tls, 0);
	/* Defaults. */
	assert_int_equal(ec.lease_ttl_s, 10);
	assert_int_equal(ec.connect_timeout_ms, 15000);
	assert_null(ec.ca_path);
	assert_null(ec.user);
	/* N_TIME 3 x 1 s after the 10 s lease. */
	assert_int_equal(etcd_lost_budget_ms(&ec), 13000);
	done(&rc, &ec);

	const char *https[] = {ETCD, "kyuubi.ha.addresses=https://127.0.0.1:2379,https://h:1", NULL};
	ok(&rc, &ec, https);
	assert_int_equal(ec.tls, 1);
	done(&rc, &ec);
}

static void endpoint_errors(void **state)
{
	(void)state;
	const char *empty[] = {ETCD, "spark.kyuubi.ha.addresses=a:1,,b:2", NULL};
	bad(empty, "spark.kyuubi.ha.addresses=a:1,,b:2", "empty endpoint");
	const char *mixed[] = {ETCD, "spark.kyuubi.ha.addresses=http://a:1,https://b:2", NULL};
	bad(mixed, "spark.kyuubi.ha.addresses=http://a:1,https://b:2", "mixes");
	const char *scheme[] = {ETCD, "spark.kyuubi.ha.addresses=unix://a", NULL};
	bad(scheme, "spark.kyuubi.ha.addresses=unix://a", "http");
	const char *port[] = {ETCD, "spark.kyuubi.ha.addresses=a:99999", NULL};
	bad(port, "spark.kyuubi.ha.addresses=a:99999", "bad port");
	const char *path[] = {ETCD, "spark.kyuubi.ha.addresses=a:1/chroot", NULL};
	bad(path, "spark.kyuubi.ha.addresses=a:1/chroot", "host:port");
	const char *v6[] = {ETCD, "spark.kyuubi.ha.addresses=::1:2379", NULL};
	bad(v6, "spark.kyuubi.ha.addresses=::1:2379", "[addr]:port");
	const char *old[] = {ETCD, "kyuubi.ha.zookeeper.quorum=a:x", NULL};
	bad(old, "kyuubi.ha.zookeeper.quorum=a:x", "bad port");
}

static void tls_and_auth(void **state)
{
	(void)state;
	struct reg_config rc;
	struct etcd_config ec;
	const char *kv[] = {ETCD, "spark.kyuubi.ha.addresses=127.0.0.1:2379",
			    "spark.kyuubi.ha.etcd.ssl.enabled=true",
			    "spark.kyuubi.ha.etcd.ssl.ca.path=/etc/ca.pem",
			    "kyuubi.ha.etcd.ssl.client.certificate.path=/etc/c.pem",
			    "kyuubi.ha.etcd.ssl.client.key.path=/etc/k.pem",
			    "spark.sparkshim.registry.etcd.user=engine",
			    "spark.sparkshim.registry.etcd.password=s3cret", NULL};
	ok(&rc, &ec, kv);
	assert_int_equal(ec.tls, 1);
	assert_string_equal(ec.ca_path, "/etc/ca.pem");
	assert_string_equal(ec.cert_path, "/etc/c.pem");
	assert_string_equal(ec.key_path, "/etc/k.pem");
	assert_string_equal(ec.user, "engine");
	assert_string_equal(ec.password, "s3cret");
	done(&rc, &ec);

	const char *badbool[] = {ETCD, "spark.kyuubi.ha.addresses=a:1",
				 "spark.kyuubi.ha.etcd.ssl.enabled=maybe", NULL};
	bad(badbool, "spark.kyuubi.ha.etcd.ssl.enabled=maybe", NULL);
	const char *nokey[] = {ETCD, "spark.kyuubi.ha.addresses=https://a:1",
			       "spark.kyuubi.ha.etcd.ssl.client.certificate.path=/c", NULL};
	bad(nokey, "spark.kyuubi.ha.etcd.ssl.client.certificate.path=/c",
	    "kyuubi.ha.etcd.ssl.client.key.path");
	const char *notls[] = {ETCD, "spark.kyuubi.ha.addresses=a:1",
			       "spark.kyuubi.ha.etcd.ssl.ca.path=/ca", NULL};
	bad(notls, "spark.kyuubi.ha.etcd.ssl.ca.path=/ca", "TLS is off");
	const char *nouser[] = {ETCD, "spark.kyuubi.ha.addresses=a:1",
				"spark.sparkshim.registry.etcd.password=s3cret", NULL};
	struct reg_config rc2;
	struct etcd_config ec2;
	char err[512] = "";
	assert_int_equal(load(&rc2, &ec2, nouser, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "sparkshim.registry.etcd.user"));
	assert_null(strstr(err, "s3cret"));
}

static void lease_timeout(void **state)
{
	(void)state;
	struct reg_config rc;
	struct etcd_config ec;
	const char *s5[] = {ETCD, "spark.kyuubi.ha.addresses=a:1",
			    "spark.kyuubi.ha.etcd.lease.timeout=5s",
			    "spark.kyuubi.ha.zookeeper.connection.retry.policy=ONE_TIME",
			    "spark.kyuubi.ha.zookeeper.connection.base.retry.wait=500", NULL};
	ok(&rc, &ec, s5);
	assert_int_equal(ec.lease_ttl_s, 5);
	assert_int_equal(etcd_lost_budget_ms(&ec), 5500);
	done(&rc, &ec);
	const char *ms[] = {ETCD, "spark.kyuubi.ha.addresses=a:1",
			    "kyuubi.ha.etcd.lease.timeout=1500", NULL};
	ok(&rc, &ec, ms);
	assert_int_equal(ec.lease_ttl_s, 2); /* whole seconds, rounded up */
	done(&rc, &ec);
	const char *iso[] = {ETCD, "spark.kyuubi.ha.addresses=a:1",
			     "kyuubi.ha.etcd.lease.timeout=PT1M", NULL};
	ok(&rc, &ec, iso);
	assert_int_equal(ec.lease_ttl_s, 60);
	done(&rc, &ec);
	const char *zero[] = {ETCD, "spark.kyuubi.ha.addresses=a:1",
			      "spark.kyuubi.ha.etcd.lease.timeout=0", NULL};
	bad(zero, "spark.kyuubi.ha.etcd.lease.timeout=0", NULL);
	const char *junk[] = {ETCD, "spark.kyuubi.ha.addresses=a:1",
			      "spark.kyuubi.ha.etcd.lease.timeout=soon", NULL};
	bad(junk, "spark.kyuubi.ha.etcd.lease.timeout=soon", NULL);
	const char *pol[] = {ETCD, "spark.kyuubi.ha.addresses=a:1",
			     "spark.kyuubi.ha.zookeeper.connection.retry.policy=SOMETIMES", NULL};
	bad(pol, "kyuubi.ha.zookeeper.connection.retry.policy=SOMETIMES", "N_TIME");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(endpoints),
		cmocka_unit_test(endpoint_errors),
		cmocka_unit_test(tls_and_auth),
		cmocka_unit_test(lease_timeout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
