/* Kyuubi's launch-age check (shim/registry/submit_time.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "shim/registry/registry.h"

static int check(const char *submit, const char *timeout, int64_t now, char *err, size_t n)
{
	struct conf c;
	conf_init(&c);
	if (submit)
		conf_set(&c, "spark.kyuubi.engine.submit.time", submit);
	if (timeout)
		conf_set(&c, "spark.kyuubi.session.engine.initialize.timeout", timeout);
	err[0] = '\0';
	int rc = registry_check_submit_time(&c, now, err, n);
	conf_free(&c);
	return rc;
}

static void no_submit_time_is_fine(void **state)
{
	(void)state;
	char err[256];
	assert_int_equal(check(NULL, NULL, 1000, err, sizeof(err)), 0);
}

static void default_timeout_is_180s(void **state)
{
	(void)state;
	char err[256];
	assert_int_equal(check("1000", NULL, 1000 + 180000, err, sizeof(err)), 0);
	assert_int_equal(check("1000", NULL, 1000 + 180001, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "180001 ms"));
	assert_non_null(strstr(err, "kyuubi.session.engine.initialize.timeout"));
	assert_non_null(strstr(err, "180000 ms"));
	assert_null(strchr(err, '\n'));
}

static void timeout_forms(void **state)
{
	(void)state;
	char err[256];
	assert_int_equal(check("0", "PT1S", 1000, err, sizeof(err)), 0);
	assert_int_equal(check("0", "PT1S", 1001, err, sizeof(err)), -1);
	assert_int_equal(check("0", "5000", 5001, err, sizeof(err)), -1);
	assert_int_equal(check("0", "1min", 60000, err, sizeof(err)), 0);
	/* Unprefixed keys count too. */
	struct conf c;
	conf_init(&c);
	conf_set(&c, "kyuubi.engine.submit.time", "0");
	conf_set(&c, "kyuubi.session.engine.initialize.timeout", "10");
	assert_int_equal(registry_check_submit_time(&c, 11, err, sizeof(err)), -1);
	conf_free(&c);
}

static void future_submit_time_is_fine(void **state)
{
	(void)state;
	char err[256];
	/* Gateway clock ahead of ours. */
	assert_int_equal(check("99999999", "10", 1000, err, sizeof(err)), 0);
}

static void malformed_values(void **state)
{
	(void)state;
	char err[256];
	assert_int_equal(check("yesterday", NULL, 1000, err, sizeof(err)), -2);
	assert_non_null(strstr(err, "spark.kyuubi.engine.submit.time=yesterday"));
	assert_int_equal(check("12x", NULL, 1000, err, sizeof(err)), -2);
	assert_int_equal(check("-5", NULL, 1000, err, sizeof(err)), -2);
	assert_int_equal(check("", NULL, 1000, err, sizeof(err)), -2);
	assert_int_equal(check("1000", "later", 1000, err, sizeof(err)), -2);
	assert_non_null(strstr(err, "spark.kyuubi.session.engine.initialize.timeout=later"));
	/* A bad timeout is reported even without a submit time. */
	assert_int_equal(check(NULL, "later", 1000, err, sizeof(err)), -2);
}

static void remaining(void **state)
{
	(void)state;
	struct conf c;
	conf_init(&c);
	int64_t left = 0;
	assert_int_equal(registry_init_remaining_ms(&c, 5000, &left), -1);
	conf_set(&c, "spark.kyuubi.engine.submit.time", "1000");
	assert_int_equal(registry_init_remaining_ms(&c, 5000, &left), 0);
	assert_int_equal(left, 1000 + 180000 - 5000);
	conf_set(&c, "spark.kyuubi.session.engine.initialize.timeout", "2s");
	assert_int_equal(registry_init_remaining_ms(&c, 5000, &left), 0);
	assert_int_equal(left, -2000);
	conf_set(&c, "spark.kyuubi.engine.submit.time", "bad");
	assert_int_equal(registry_init_remaining_ms(&c, 5000, &left), -1);
	conf_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(no_submit_time_is_fine),
		cmocka_unit_test(default_timeout_is_180s),
		cmocka_unit_test(timeout_forms),
		cmocka_unit_test(future_submit_time_is_fine),
		cmocka_unit_test(malformed_values),
		cmocka_unit_test(remaining),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
