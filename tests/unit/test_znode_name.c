/* Node name, data and path rules (shim/registry/znode_name.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shim/registry/znode_name.h"

static void sanitize_replaces_separators_and_controls(void **state)
{
	(void)state;
	int changed = -1;
	char *s = znode_sanitize("a;b/c\td\x7f" "e\xc2\x85" "f", &changed);
	assert_non_null(s);
	assert_string_equal(s, "a_b_c_d_e_f");
	assert_int_equal(changed, 1);
	free(s);
}

static void sanitize_keeps_clean_text(void **state)
{
	(void)state;
	int changed = -1;
	/* '=' and base64 characters are fine: the gateway splits at the
	 * first '=' only. Non-ASCII outside C1 stays. */
	char *s = znode_sanitize("eyJhIjoxfQ==+x h\xc3\xa9", &changed);
	assert_string_equal(s, "eyJhIjoxfQ==+x h\xc3\xa9");
	assert_int_equal(changed, 0);
	free(s);
	s = znode_sanitize("", NULL);
	assert_string_equal(s, "");
	free(s);
}

static void key_rules(void **state)
{
	(void)state;
	assert_true(znode_key_ok("spark.driver.memory"));
	assert_true(znode_key_ok("kyuubi.engine.appMgrInfo"));
	assert_false(znode_key_ok(""));
	assert_false(znode_key_ok(NULL));
	assert_false(znode_key_ok("a=b"));
	assert_false(znode_key_ok("a;b"));
	assert_false(znode_key_ok("a/b"));
	assert_false(znode_key_ok("a b"));
	assert_false(znode_key_ok("a\nb"));
}

static void prefix_full_form(void **state)
{
	(void)state;
	struct znode_attr attrs[] = {
		{"kyuubi.engine.appMgrInfo", "eyJ/x;y=="},
		{"spark.driver.memory", "2g"},
		{"spark.executor.memory", ""},
		{"kyuubi.engine.id", "local-1"},
		{"skipped", NULL},
	};
	char *p = znode_build_prefix("/kyuubi_1.10.0_USER_SPARK_CONNECT/bob/default", "h1", 15002,
				     "1.10.0", attrs, 5, "6a0c-1");
	assert_non_null(p);
	assert_string_equal(p, "/kyuubi_1.10.0_USER_SPARK_CONNECT/bob/default/"
			       "serverUri=h1:15002;version=1.10.0;"
			       "kyuubi.engine.appMgrInfo=eyJ_x_y==;spark.driver.memory=2g;"
			       "spark.executor.memory=;kyuubi.engine.id=local-1;"
			       "refId=6a0c-1;sequence=");
	free(p);
}

static void prefix_without_attrs_or_ref(void **state)
{
	(void)state;
	/* Kyuubi: no attributes -> no empty ";;", no refId -> no "refId=". */
	char *p = znode_build_prefix("/ns", "h", 1, "v", NULL, 0, NULL);
	assert_string_equal(p, "/ns/serverUri=h:1;version=v;sequence=");
	free(p);
	p = znode_build_prefix("/ns", "h", 1, "v", NULL, 0, "");
	assert_string_equal(p, "/ns/serverUri=h:1;version=v;sequence=");
	free(p);
	p = znode_build_prefix("/ns", "h", 1, "v", NULL, 0, "r");
	assert_string_equal(p, "/ns/serverUri=h:1;version=v;refId=r;sequence=");
	free(p);
}

static void prefix_root_namespace(void **state)
{
	(void)state;
	char *p = znode_build_prefix("/", "h", 2, "v", NULL, 0, "r");
	assert_string_equal(p, "/serverUri=h:2;version=v;refId=r;sequence=");
	free(p);
}

static void prefix_sanitises_every_piece(void **state)
{
	(void)state;
	char *p = znode_build_prefix("/ns", "h/x", 3, "1;2", NULL, 0, "r/1");
	assert_string_equal(p, "/ns/serverUri=h_x:3;version=1_2;refId=r_1;sequence=");
	free(p);
}

static void prefix_refuses_bad_key(void **state)
{
	(void)state;
	struct znode_attr bad[] = {{"a=b", "v"}};
	errno = 0;
	assert_null(znode_build_prefix("/ns", "h", 1, "v", bad, 1, "r"));
	assert_int_equal(errno, EINVAL);
}

static void data_form(void **state)
{
	(void)state;
	char buf[32];
	assert_int_equal(znode_build_data("10.0.0.7", 15002, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "10.0.0.7:15002");
	char tiny[8];
	assert_int_equal(znode_build_data("10.0.0.7", 15002, tiny, sizeof(tiny)), -1);
}

static void normalize_like_curator(void **state)
{
	(void)state;
	char err[256];
	struct {
		const char *in, *out;
	} ok[] = {
		{"kyuubi", "/kyuubi"},
		{"/kyuubi", "/kyuubi"},
		{"/kyuubi/", "/kyuubi"},
		{"/", "/"},
		{"/a_1.9.0_USER_SPARK_SQL/bob/default", "/a_1.9.0_USER_SPARK_SQL/bob/default"},
		{"/a;b/c", "/a;b/c"},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char *p = znode_normalize_path(ok[i].in, err, sizeof(err));
		assert_non_null(p);
		assert_string_equal(p, ok[i].out);
		free(p);
	}
}

static void normalize_rejects_bad_paths(void **state)
{
	(void)state;
	const char *bad[] = {"", "/a//b", "/a/./b", "/a/..", "/a/b\x01", "a\x7f"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[256] = "";
		errno = 0;
		assert_null(znode_normalize_path(bad[i], err, sizeof(err)));
		assert_int_equal(errno, EINVAL);
		assert_non_null(strstr(err, "namespace '"));
		assert_null(strchr(err, '\n'));
	}
	char err[256];
	assert_null(znode_normalize_path(NULL, err, sizeof(err)));
}

static void url_hostport(void **state)
{
	(void)state;
	char out[64];
	assert_int_equal(znode_url_hostport("http://h:4040", out, sizeof(out)), 0);
	assert_string_equal(out, "h:4040");
	assert_int_equal(znode_url_hostport("https://h:4040/proxy/app", out, sizeof(out)), 0);
	assert_string_equal(out, "h:4040");
	assert_int_equal(znode_url_hostport("h:4040", out, sizeof(out)), 0);
	assert_string_equal(out, "h:4040");
	assert_int_equal(znode_url_hostport("", out, sizeof(out)), -1);
	assert_int_equal(znode_url_hostport(NULL, out, sizeof(out)), -1);
	assert_int_equal(znode_url_hostport("http:///x", out, sizeof(out)), -1);
	char tiny[4];
	assert_int_equal(znode_url_hostport("http://h:4040", tiny, sizeof(tiny)), -1);
}

static void version_from_namespace(void **state)
{
	(void)state;
	char v[32];
	assert_int_equal(
		znode_version_from_namespace("/kyuubi_1.10.0_USER_SPARK_CONNECT/bob/default", v,
					     sizeof(v)),
		0);
	assert_string_equal(v, "1.10.0");
	assert_int_equal(znode_version_from_namespace("/my_ns_2_1.9.1-SNAPSHOT_SERVER_LOCAL_"
						      "SPARK_SQL/u/x",
						      v, sizeof(v)),
			 0);
	assert_string_equal(v, "1.9.1-SNAPSHOT");
	assert_int_equal(znode_version_from_namespace("/kyuubi", v, sizeof(v)), -1);
	assert_int_equal(znode_version_from_namespace("/kyuubi_x_USER/a_1.2.3", v, sizeof(v)), -1);
	assert_int_equal(znode_version_from_namespace(NULL, v, sizeof(v)), -1);
	char tiny[4];
	assert_int_equal(znode_version_from_namespace("/k_1.10.0_USER", tiny, sizeof(tiny)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sanitize_replaces_separators_and_controls),
		cmocka_unit_test(sanitize_keeps_clean_text),
		cmocka_unit_test(key_rules),
		cmocka_unit_test(prefix_full_form),
		cmocka_unit_test(prefix_without_attrs_or_ref),
		cmocka_unit_test(prefix_root_namespace),
		cmocka_unit_test(prefix_sanitises_every_piece),
		cmocka_unit_test(prefix_refuses_bad_key),
		cmocka_unit_test(data_form),
		cmocka_unit_test(normalize_like_curator),
		cmocka_unit_test(normalize_rejects_bad_paths),
		cmocka_unit_test(url_hostport),
		cmocka_unit_test(version_from_namespace),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
