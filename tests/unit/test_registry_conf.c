/* Registration settings: the Kyuubi-generic ones (shim/registry/reg_conf.c)
 * and the ZooKeeper backend's (zk_conf.c), loaded together the way
 * registry_configure does; the backend chosen by kyuubi.ha.client.class
 * (backends.c). Defaults, Kyuubi key forms, validation with one-line errors
 * naming key and value. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim/registry/app_mgr_info.h"
#include "shim/registry/discovery.h"
#include "shim/registry/reg_conf.h"
#include "shim/registry/zk_conf.h"
#include "shim/registry/backends.h"

#define ADDR "spark.kyuubi.ha.addresses=127.0.0.1:2181"

static void load_kvs(struct conf *c, const char *const *kvs)
{
	conf_init(c);
	for (size_t i = 0; kvs[i]; i++)
		assert_int_equal(conf_set_kv(c, kvs[i]), 0);
}

/* Both halves of the settings, as registry_configure loads them. */
struct settings {
	struct reg_config rc; /* Kyuubi-generic */
	struct zk_config zk;  /* ZooKeeper backend (empty when discovery is off) */
};

static int load(struct settings *s, const struct conf *c, char *err, size_t errlen)
{
	memset(&s->zk, 0, sizeof(s->zk));
	if (reg_config_load(&s->rc, c, err, errlen) < 0)
		return -1;
	if (s->rc.enabled && zk_config_load(&s->zk, c, &s->rc, err, errlen) < 0) {
		reg_config_free(&s->rc);
		return -1;
	}
	return 0;
}

static void settings_free(struct settings *s)
{
	reg_config_free(&s->rc);
	zk_config_free(&s->zk);
}

/* Load and expect success. */
static void ok(struct settings *rc, const char *const *kvs)
{
	struct conf c;
	load_kvs(&c, kvs);
	char err[512] = "";
	int r = load(rc, &c, err, sizeof(err));
	if (r != 0)
		fail_msg("unexpected error: %s", err);
	conf_free(&c); /* rc must not point into the conf */
}

/* Load and expect a one-line error containing every needle. */
static void bad(const char *const *kvs, const char *n1, const char *n2)
{
	struct conf c;
	load_kvs(&c, kvs);
	struct settings rc;
	char err[512] = "";
	assert_int_equal(load(&rc, &c, err, sizeof(err)), -1);
	assert_null(strchr(err, '\n'));
	if (!strstr(err, n1) || (n2 && !strstr(err, n2)))
		fail_msg("error '%s' lacks '%s' / '%s'", err, n1, n2 ? n2 : "");
	/* A failed load leaves nothing to free. */
	assert_null(rc.rc.addresses);
	assert_null(rc.zk.addresses);
	assert_int_equal(rc.rc.n_attrs, 0);
	conf_free(&c);
}

static void disabled_without_addresses(void **state)
{
	(void)state;
	struct settings rc;
	const char *none[] = {"spark.kyuubi.ha.namespace=/x", NULL};
	ok(&rc, none);
	assert_int_equal(rc.rc.enabled, 0);
	settings_free(&rc);
	const char *blank[] = {"spark.kyuubi.ha.addresses=  ", "spark.kyuubi.ha.zookeeper.auth.type=BOGUS",
			       NULL};
	ok(&rc, blank); /* nothing else is looked at when discovery is off */
	assert_int_equal(rc.rc.enabled, 0);
	settings_free(&rc);
}

static void defaults(void **state)
{
	(void)state;
	struct settings rc;
	const char *kv[] = {ADDR, NULL};
	ok(&rc, kv);
	assert_int_equal(rc.rc.enabled, 1);
	assert_string_equal(rc.zk.addresses, "127.0.0.1:2181");
	assert_string_equal(rc.rc.namespace_path, "/kyuubi");
	assert_null(rc.rc.ref_id);
	assert_string_equal(rc.rc.share_level, "USER");
	assert_string_equal(rc.rc.version, SPARKSHIM_VERSION);
	assert_int_equal(rc.zk.acl_mode, REG_AUTH_NONE);
	assert_null(rc.zk.digest);
	assert_int_equal(rc.zk.session_timeout_ms, 60000);
	assert_int_equal(rc.zk.connect_timeout_ms, 15000);
	assert_int_equal(rc.zk.retry_policy, REG_RETRY_N_TIME);
	assert_int_equal(rc.zk.retry_base_ms, 1000);
	assert_int_equal(rc.zk.retry_max_ms, 30000);
	assert_int_equal(rc.zk.max_retries, 3);
	assert_int_equal(rc.rc.deregister_timeout_ms, 2000);
	assert_int_equal(rc.zk.zk_log_level, LOG_WARN);
	/* Kyuubi publishes the default register attributes even when unset. */
	assert_int_equal(rc.rc.n_attrs, 2);
	assert_string_equal(rc.rc.attr_keys[0], "spark.driver.memory");
	assert_string_equal(rc.rc.attr_values[0], "");
	assert_string_equal(rc.rc.attr_keys[1], "spark.executor.memory");
	/* 60 s session + N_TIME 3 x 1000 ms. */
	assert_int_equal(zk_lost_budget_ms(&rc.zk, 0), 63000);
	assert_int_equal(zk_lost_budget_ms(&rc.zk, 40000), 43000);
	settings_free(&rc);
}

static void engine_launch_conf(void **state)
{
	(void)state;
	struct settings rc;
	const char *kv[] = {
		"spark.kyuubi.ha.addresses=zk1, zk2:2182 ,[::1]/chroot",
		"spark.kyuubi.ha.namespace=/kyuubi_1.10.0_CONNECTION_SPARK_CONNECT/bob/4f1d",
		"spark.kyuubi.ha.engine.ref.id=4f1d",
		"spark.kyuubi.engine.share.level=connection",
		"spark.kyuubi.engine.appMgrInfo=eyJ9",
		"spark.kyuubi.engine.spark.register.attributes= spark.executor.memory,,spark.app.name,kyuubi.engine.id",
		"spark.app.name=kyuubi_CONNECTION_SPARK_CONNECT_bob_4f1d",
		"spark.executor.memory=4g",
		"spark.kyuubi.ha.zookeeper.session.timeout=PT30S",
		"spark.kyuubi.ha.zookeeper.connection.timeout=5s",
		"spark.kyuubi.ha.zookeeper.connection.retry.policy=exponential_backoff",
		"spark.kyuubi.ha.zookeeper.connection.base.retry.wait=100",
		"spark.kyuubi.ha.zookeeper.connection.max.retries=4",
		"spark.sparkshim.registry.zookeeper.log.level=debug",
		NULL,
	};
	ok(&rc, kv);
	assert_string_equal(rc.zk.addresses, "zk1:2181,zk2:2182,[::1]:2181/chroot");
	assert_string_equal(rc.rc.ref_id, "4f1d");
	assert_string_equal(rc.rc.share_level, "CONNECTION");
	assert_string_equal(rc.rc.version, "1.10.0");
	assert_int_equal(rc.zk.session_timeout_ms, 30000);
	assert_int_equal(rc.zk.connect_timeout_ms, 5000);
	assert_int_equal(rc.zk.zk_log_level, LOG_DEBUG);
	/* appMgrInfo first, then the list in order; kyuubi.engine.id comes
	 * from the live endpoint, not from the list. */
	assert_int_equal(rc.rc.n_attrs, 3);
	assert_string_equal(rc.rc.attr_keys[0], "kyuubi.engine.appMgrInfo");
	assert_string_equal(rc.rc.attr_values[0], "eyJ9");
	assert_string_equal(rc.rc.attr_keys[1], "spark.executor.memory");
	assert_string_equal(rc.rc.attr_values[1], "4g");
	assert_string_equal(rc.rc.attr_keys[2], "spark.app.name");
	/* 30 s + 100+200+400+800. */
	assert_int_equal(zk_lost_budget_ms(&rc.zk, 0), 31500);
	settings_free(&rc);
}

static void prefixed_key_wins_and_fallbacks(void **state)
{
	(void)state;
	struct settings rc;
	const char *kv[] = {
		"kyuubi.ha.addresses=unprefixed:1",
		"spark.kyuubi.ha.addresses=prefixed:2",
		"kyuubi.ha.zookeeper.namespace=old_ns",
		"kyuubi.session.engine.share.level=GROUP",
		NULL,
	};
	ok(&rc, kv);
	assert_string_equal(rc.zk.addresses, "prefixed:2");
	assert_string_equal(rc.rc.namespace_path, "/old_ns");
	assert_string_equal(rc.rc.share_level, "GROUP");
	settings_free(&rc);
	const char *quorum[] = {"kyuubi.ha.zookeeper.quorum=q:3", "kyuubi.ha.namespace=/n/",
				NULL};
	ok(&rc, quorum);
	assert_string_equal(rc.zk.addresses, "q:3");
	assert_string_equal(rc.rc.namespace_path, "/n");
	settings_free(&rc);
	const char *explicit_version[] = {ADDR, "spark.kyuubi.ha.namespace=/k_1.2.3_USER_X/u/d",
					  "spark.sparkshim.registry.version=9.9", NULL};
	ok(&rc, explicit_version);
	assert_string_equal(rc.rc.version, "9.9");
	settings_free(&rc);
}

static void digest_modes(void **state)
{
	(void)state;
	struct settings rc;
	/* Without a refId (not launched by a gateway) auth.type decides. */
	const char *server[] = {ADDR, "kyuubi.ha.zookeeper.auth.type=digest",
				"kyuubi.ha.zookeeper.auth.digest=u:p", NULL};
	ok(&rc, server);
	assert_int_equal(rc.zk.acl_mode, REG_AUTH_DIGEST);
	assert_string_equal(rc.zk.digest, "u:p");
	settings_free(&rc);
	/* An engine inherits DIGEST from auth.type ... */
	const char *inherit[] = {ADDR, "spark.kyuubi.ha.engine.ref.id=r",
				 "spark.kyuubi.ha.zookeeper.auth.type=DIGEST",
				 "spark.kyuubi.ha.zookeeper.auth.digest=u:p", NULL};
	ok(&rc, inherit);
	assert_int_equal(rc.zk.acl_mode, REG_AUTH_DIGEST);
	settings_free(&rc);
	/* ... but not KERBEROS (Kyuubi's engine ignores auth.type). */
	const char *krb_server[] = {ADDR, "spark.kyuubi.ha.engine.ref.id=r",
				    "spark.kyuubi.ha.zookeeper.auth.type=KERBEROS", NULL};
	ok(&rc, krb_server);
	assert_int_equal(rc.zk.acl_mode, REG_AUTH_NONE);
	settings_free(&rc);
	/* engine.auth.type wins over auth.type. */
	const char *engine_none[] = {ADDR, "spark.kyuubi.ha.engine.ref.id=r",
				     "spark.kyuubi.ha.zookeeper.auth.type=DIGEST",
				     "spark.kyuubi.ha.zookeeper.engine.auth.type=NONE",
				     "spark.kyuubi.ha.zookeeper.auth.digest=u:p", NULL};
	ok(&rc, engine_none);
	assert_int_equal(rc.zk.acl_mode, REG_AUTH_NONE);
	/* A digest is still used to authenticate, like Kyuubi's client. */
	assert_string_equal(rc.zk.digest, "u:p");
	settings_free(&rc);
}

static void error_addresses(void **state)
{
	(void)state;
	const char *kv[] = {"spark.kyuubi.ha.addresses=a:1,,b:2", NULL};
	bad(kv, "kyuubi.ha.addresses=a:1,,b:2", "empty host");
}

#define ZK_CLASS "org.apache.kyuubi.ha.client.zookeeper.ZookeeperDiscoveryClient"
#define ETCD_CLASS "org.apache.kyuubi.ha.client.etcd.EtcdDiscoveryClient"

/* kyuubi.ha.client.class picks the backend: ZooKeeper by default, by its
 * class name, or when empty; etcd by Kyuubi's EtcdDiscoveryClient; anything
 * else is refused as before. */
static void backend_by_class(void **state)
{
	(void)state;
	char err[512] = "";
	const struct discovery_backend *zk = discovery_backend_for_class("k", NULL, err, sizeof(err));
	assert_non_null(zk);
	assert_string_equal(zk->name, "ZooKeeper");
	assert_ptr_equal(discovery_backend_for_class("k", "", err, sizeof(err)), zk);
	assert_ptr_equal(discovery_backend_for_class("k", ZK_CLASS, err, sizeof(err)), zk);

	struct settings rc;
	const char *dflt[] = {ADDR, NULL};
	ok(&rc, dflt);
	assert_ptr_equal(rc.rc.backend, zk);
	settings_free(&rc);
	const char *named[] = {ADDR, "spark.kyuubi.ha.client.class=" ZK_CLASS, NULL};
	ok(&rc, named);
	assert_ptr_equal(rc.rc.backend, zk);
	assert_string_equal(rc.zk.addresses, "127.0.0.1:2181");
	settings_free(&rc);
	const char *empty[] = {ADDR, "kyuubi.ha.client.class=", NULL};
	ok(&rc, empty);
	assert_ptr_equal(rc.rc.backend, zk);
	settings_free(&rc);

	const char *etcd[] = {ADDR, "spark.kyuubi.ha.client.class=" ETCD_CLASS, NULL};
	ok(&rc, etcd);
	assert_non_null(rc.rc.backend);
	assert_string_equal(rc.rc.backend->name, "etcd");
	settings_free(&rc);
	const struct discovery_backend *eb =
		discovery_backend_for_class("kyuubi.ha.client.class", ETCD_CLASS, err, sizeof(err));
	assert_non_null(eb);
	assert_ptr_not_equal(eb, zk);

	const char *unknown[] = {ADDR, "kyuubi.ha.client.class=com.example.Discovery", NULL};
	bad(unknown, "kyuubi.ha.client.class=com.example.Discovery: only ZooKeeper discovery is "
		     "supported", NULL);
	/* The class is matched exactly, like a JVM class name. */
	const char *suffixed[] = {ADDR, "spark.kyuubi.ha.client.class=" ZK_CLASS "x", NULL};
	bad(suffixed, "only ZooKeeper discovery is supported", NULL);
}

static void error_identity(void **state)
{
	(void)state;
	const char *ns[] = {ADDR, "spark.kyuubi.ha.namespace=/a//b", NULL};
	bad(ns, "spark.kyuubi.ha.namespace", "/a//b");
	const char *ref[] = {ADDR, "spark.kyuubi.ha.engine.ref.id=a;b", NULL};
	bad(ref, "spark.kyuubi.ha.engine.ref.id=a;b", NULL);
	const char *ref2[] = {ADDR, "kyuubi.ha.engine.ref.id=a/b", NULL};
	bad(ref2, "kyuubi.ha.engine.ref.id=a/b", NULL);
	const char *level[] = {ADDR, "spark.kyuubi.engine.share.level=TEAM", NULL};
	bad(level, "spark.kyuubi.engine.share.level=TEAM", "CONNECTION");
	const char *ver[] = {ADDR, "spark.sparkshim.registry.version=1;2", NULL};
	bad(ver, "spark.sparkshim.registry.version=1;2", NULL);
	const char *ver2[] = {ADDR, "sparkshim.registry.version=", NULL};
	bad(ver2, "sparkshim.registry.version=", "non-empty");
}

static void error_auth(void **state)
{
	(void)state;
	const char *type[] = {ADDR, "spark.kyuubi.ha.zookeeper.auth.type=SASL", NULL};
	bad(type, "spark.kyuubi.ha.zookeeper.auth.type=SASL", "NONE, DIGEST or KERBEROS");
	const char *krb[] = {ADDR, "spark.kyuubi.ha.zookeeper.auth.type=kerberos", NULL};
	bad(krb, "spark.kyuubi.ha.zookeeper.auth.type=kerberos", "not supported");
	const char *ekrb[] = {ADDR, "spark.kyuubi.ha.engine.ref.id=r",
			      "spark.kyuubi.ha.zookeeper.engine.auth.type=KERBEROS", NULL};
	bad(ekrb, "spark.kyuubi.ha.zookeeper.engine.auth.type=KERBEROS", "not supported");
	const char *nodigest[] = {ADDR, "spark.kyuubi.ha.zookeeper.auth.type=DIGEST", NULL};
	bad(nodigest, "spark.kyuubi.ha.zookeeper.auth.type=DIGEST", "auth.digest=user:password");
	const char *baddigest[] = {ADDR, "spark.kyuubi.ha.zookeeper.auth.digest=secret", NULL};
	bad(baddigest, "spark.kyuubi.ha.zookeeper.auth.digest=<redacted>", "user:password");
	/* The secret never appears in the message. */
	struct conf c;
	load_kvs(&c, baddigest);
	struct settings rc;
	char err[512];
	assert_int_equal(load(&rc, &c, err, sizeof(err)), -1);
	assert_null(strstr(err, "secret"));
	conf_free(&c);
}

static void error_numbers(void **state)
{
	(void)state;
	const char *st[] = {ADDR, "spark.kyuubi.ha.zookeeper.session.timeout=soon", NULL};
	bad(st, "spark.kyuubi.ha.zookeeper.session.timeout=soon", "milliseconds");
	const char *zero[] = {ADDR, "kyuubi.ha.zookeeper.connection.timeout=0", NULL};
	bad(zero, "kyuubi.ha.zookeeper.connection.timeout=0", NULL);
	const char *huge[] = {ADDR, "spark.kyuubi.ha.zookeeper.session.timeout=9999999999", NULL};
	bad(huge, "session.timeout=9999999999", NULL);
	const char *retries[] = {ADDR, "spark.kyuubi.ha.zookeeper.connection.max.retries=-1",
				 NULL};
	bad(retries, "spark.kyuubi.ha.zookeeper.connection.max.retries=-1", "integer");
	const char *policy[] = {ADDR, "spark.kyuubi.ha.zookeeper.connection.retry.policy=FOREVER",
				NULL};
	bad(policy, "spark.kyuubi.ha.zookeeper.connection.retry.policy=FOREVER", "N_TIME");
	const char *wait[] = {ADDR, "spark.kyuubi.ha.zookeeper.connection.base.retry.wait=x",
			      NULL};
	bad(wait, "base.retry.wait=x", NULL);
	const char *dereg[] = {ADDR, "spark.sparkshim.registry.deregister.timeout=-5", NULL};
	bad(dereg, "spark.sparkshim.registry.deregister.timeout=-5", NULL);
	const char *lvl[] = {ADDR, "spark.sparkshim.registry.zookeeper.log.level=LOUD", NULL};
	bad(lvl, "spark.sparkshim.registry.zookeeper.log.level=LOUD", "WARN");
}

static void error_attributes(void **state)
{
	(void)state;
	const char *semi[] = {ADDR, "spark.kyuubi.engine.spark.register.attributes=a;b", NULL};
	bad(semi, "spark.kyuubi.engine.spark.register.attributes=a;b", "'a;b'");
	const char *res[] = {ADDR, "kyuubi.engine.spark.register.attributes=x,refId", NULL};
	bad(res, "kyuubi.engine.spark.register.attributes=x,refId", "'refId'");
	const char *eq[] = {ADDR, "spark.kyuubi.engine.spark.register.attributes=a=b", NULL};
	bad(eq, "'a=b'", NULL);
}

static void budgets_per_policy(void **state)
{
	(void)state;
	struct zk_config rc = {.session_timeout_ms = 1000, .retry_base_ms = 100,
				.retry_max_ms = 250, .max_retries = 3};
	rc.retry_policy = REG_RETRY_ONE_TIME;
	assert_int_equal(zk_lost_budget_ms(&rc, 0), 1100);
	rc.retry_policy = REG_RETRY_N_TIME;
	assert_int_equal(zk_lost_budget_ms(&rc, 0), 1300);
	rc.retry_policy = REG_RETRY_EXPONENTIAL_BACKOFF;
	assert_int_equal(zk_lost_budget_ms(&rc, 0), 1700);
	rc.retry_policy = REG_RETRY_BOUNDED_EXPONENTIAL_BACKOFF;
	assert_int_equal(zk_lost_budget_ms(&rc, 0), 1550); /* 100+200+min(400,250) */
	rc.retry_policy = REG_RETRY_UNTIL_ELAPSED;
	assert_int_equal(zk_lost_budget_ms(&rc, 0), 1250);
	rc.retry_policy = REG_RETRY_EXPONENTIAL_BACKOFF;
	rc.max_retries = 1000; /* no overflow: doublings stop at 32 */
	assert_true(zk_lost_budget_ms(&rc, 0) > 0);
}

static void normalize_addresses(void **state)
{
	(void)state;
	char err[256];
	char *a = zk_normalize_addresses("h", err, sizeof(err));
	assert_string_equal(a, "h:2181");
	free(a);
	a = zk_normalize_addresses("h1:1,h2/ch/root", err, sizeof(err));
	assert_string_equal(a, "h1:1,h2:2181/ch/root");
	free(a);
	a = zk_normalize_addresses("[::1]:5,[::2]", err, sizeof(err));
	assert_string_equal(a, "[::1]:5,[::2]:2181");
	free(a);
	assert_null(zk_normalize_addresses("h1,", err, sizeof(err)));
	assert_non_null(strstr(err, "kyuubi.ha.addresses=h1,"));
	assert_null(zk_normalize_addresses(" ", err, sizeof(err)));
}

static void kconf_lookup(void **state)
{
	(void)state;
	struct conf c;
	const char *kv[] = {"kyuubi.a=1", "spark.kyuubi.b=2", "kyuubi.b=3", "spark.x=4", NULL};
	load_kvs(&c, kv);
	const char *used = NULL;
	assert_string_equal(kconf_get(&c, "kyuubi.a", &used), "1");
	assert_string_equal(used, "kyuubi.a");
	assert_string_equal(kconf_get(&c, "kyuubi.b", &used), "2");
	assert_string_equal(used, "spark.kyuubi.b");
	assert_string_equal(kconf_get(&c, "spark.x", NULL), "4");
	used = "unchanged";
	assert_null(kconf_get(&c, "kyuubi.none", &used));
	assert_string_equal(used, "unchanged");
	conf_free(&c);
}

/* kyuubi.engine.appMgrInfo: Kyuubi's Base64.getDecoder must accept what is
 * published (no '_' or '-'), and a znode name cannot hold '/'. Expected
 * values: Python's base64.b64encode of json.dumps(..., ensure_ascii=True)
 * with '?' as \u003f, i.e. the same JSON for Jackson. */
static void app_mgr_info_value(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
		/* no '/': exactly as the gateway gave it */
		{"eyJ9", "eyJ9"},
		{"eyJyZXNvdXJjZU1hbmFnZXIiOiLDqeKCrPCfmIAifQ==", "eyJyZXNvdXJjZU1hbmFnZXIiOiLDqeKCrPCfmIAifQ=="},
		/* {"resourceManager":"http://rm:8088/?q=1","kubernetesInfo":{...null}} */
		{"eyJyZXNvdXJjZU1hbmFnZXIiOiJodHRwOi8vcm06ODA4OC8/cT0xIiwia3ViZXJuZXRlc0luZm8iOnsiY29udGV4dCI6bnVsbCwibmFtZXNwYWNlIjpudWxsfX0=",
		 "eyJyZXNvdXJjZU1hbmFnZXIiOiJodHRwOi8vcm06ODA4OC9cdTAwM2ZxPTEiLCJrdWJlcm5ldGVzSW5mbyI6eyJjb250ZXh0IjpudWxsLCJuYW1lc3BhY2UiOm51bGx9fQ=="},
		/* non-ASCII (2, 3 and 4 UTF-8 bytes) and '?' */
		{"eyJyZXNvdXJjZU1hbmFnZXIiOiLDqeKCrPCfmIA/PyJ9",
		 "eyJyZXNvdXJjZU1hbmFnZXIiOiJcdTAwZTlcdTIwYWNcdWQ4M2RcdWRlMDBcdTAwM2ZcdTAwM2YifQ=="},
		/* unpadded, as Java's decoder also accepts */
		{"eyJyZXNvdXJjZU1hbmFnZXIiOiLDqeKCrPCfmIA/In0",
		 "eyJyZXNvdXJjZU1hbmFnZXIiOiJcdTAwZTlcdTIwYWNcdWQ4M2RcdWRlMDBcdTAwM2YifQ=="},
	};
	char err[128];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = NULL;
		assert_int_equal(app_mgr_info_for_znode(cases[i].in, &out, err, sizeof(err)), 0);
		assert_string_equal(out, cases[i].out);
		assert_null(strchr(out, '/'));
		free(out);
	}
	/* not Base64, or not UTF-8 inside: not published */
	const char *bad[] = {"eyJyZXNvdXJjZU1hbmFnZXIiOm51bGx9/x=", "a/b_c", "/w==", "ab/", NULL};
	for (int i = 0; bad[i]; i++) {
		char *out = (char *)1;
		assert_int_equal(app_mgr_info_for_znode(bad[i], &out, err, sizeof(err)), -1);
		assert_null(out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(disabled_without_addresses),
		cmocka_unit_test(defaults),
		cmocka_unit_test(engine_launch_conf),
		cmocka_unit_test(app_mgr_info_value),
		cmocka_unit_test(prefixed_key_wins_and_fallbacks),
		cmocka_unit_test(digest_modes),
		cmocka_unit_test(error_addresses),
		cmocka_unit_test(backend_by_class),
		cmocka_unit_test(error_identity),
		cmocka_unit_test(error_auth),
		cmocka_unit_test(error_numbers),
		cmocka_unit_test(error_attributes),
		cmocka_unit_test(budgets_per_policy),
		cmocka_unit_test(normalize_addresses),
		cmocka_unit_test(kconf_lookup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
