/* The driver's address derived from the engine's host (launcher/driver_host.c):
 * only for a master with executors elsewhere, never over what the operator
 * set, bindAddress from the connect server's bind address or 0.0.0.0 for a
 * host that is not an address of this machine. Numeric hosts only: no DNS. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "launcher/driver_host.h"

struct pair {
	struct conf spark, extra;
};

static void derive(struct pair *p, const char *const *kvs, const char *host)
{
	conf_init(&p->spark);
	conf_init(&p->extra);
	for (size_t i = 0; kvs[i]; i++)
		assert_int_equal(conf_set_kv(&p->spark, kvs[i]), 0);
	assert_int_equal(driver_host_derive(&p->spark, &p->extra, host, "k"), 0);
}

static void done(struct pair *p)
{
	conf_free(&p->spark);
	conf_free(&p->extra);
}

static void local_masters(void **state)
{
	(void)state;
	assert_true(master_is_local(NULL));
	assert_true(master_is_local(""));
	assert_true(master_is_local("local"));
	assert_true(master_is_local("local[1]"));
	assert_true(master_is_local("local[*]"));
	assert_true(master_is_local("local[2,3]"));
	assert_false(master_is_local("spark://m:7077"));
	assert_false(master_is_local("yarn"));
	assert_false(master_is_local("k8s://https://api:6443"));
	assert_false(master_is_local("local-cluster[2,1,1024]"));
	assert_false(master_is_local("localhost"));
}

static void nothing_for_a_local_master(void **state)
{
	(void)state;
	struct pair p;
	const char *kv[] = {"spark.master=local[1]", NULL};
	derive(&p, kv, "203.0.113.7");
	assert_null(conf_get(&p.spark, "spark.driver.host"));
	assert_null(conf_get(&p.extra, "spark.driver.host"));
	assert_null(conf_get(&p.extra, "spark.driver.bindAddress"));
	done(&p);
}

static void cluster_master_gets_the_host(void **state)
{
	(void)state;
	struct pair p;
	/* A local address: Spark's default bind (= driver host) is right. */
	const char *kv[] = {"spark.master=spark://m:7077", NULL};
	derive(&p, kv, "127.0.0.1");
	assert_string_equal(conf_get(&p.extra, "spark.driver.host"), "127.0.0.1");
	assert_string_equal(conf_get(&p.spark, "spark.driver.host"), "127.0.0.1");
	assert_null(conf_get(&p.extra, "spark.driver.bindAddress"));
	done(&p);
	/* Not an address of this machine (NAT, a service name): bind all. */
	derive(&p, kv, "203.0.113.7");
	assert_string_equal(conf_get(&p.extra, "spark.driver.host"), "203.0.113.7");
	assert_string_equal(conf_get(&p.extra, "spark.driver.bindAddress"), "0.0.0.0");
	done(&p);
	/* The connect server on one interface: the driver listens there too. */
	const char *one[] = {"spark.master=yarn", "spark.connect.grpc.binding.address=127.0.0.5",
			     NULL};
	derive(&p, one, "203.0.113.7");
	assert_string_equal(conf_get(&p.extra, "spark.driver.bindAddress"), "127.0.0.5");
	done(&p);
}

static void never_over_the_operators_values(void **state)
{
	(void)state;
	struct pair p;
	const char *kv[] = {"spark.master=spark://m:7077", "spark.driver.host=d.example",
			    "spark.driver.bindAddress=10.0.0.1", NULL};
	derive(&p, kv, "203.0.113.7");
	assert_string_equal(conf_get(&p.spark, "spark.driver.host"), "d.example");
	assert_string_equal(conf_get(&p.spark, "spark.driver.bindAddress"), "10.0.0.1");
	assert_null(conf_get(&p.extra, "spark.driver.host"));
	assert_null(conf_get(&p.extra, "spark.driver.bindAddress"));
	done(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(local_masters),
		cmocka_unit_test(nothing_for_a_local_master),
		cmocka_unit_test(cluster_master_gets_the_host),
		cmocka_unit_test(never_over_the_operators_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
