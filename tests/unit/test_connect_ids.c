/* The front door's protobuf field reader (session_id, user_context.user_id)
 * and its user rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "shim/ctl/connect_ids.h"
#include "shim/ctl/front_door.h"

/* A tiny encoder for the tests: tag + length-delimited payload. */
static size_t ld(uint8_t *out, unsigned field, const void *p, size_t n)
{
	size_t i = 0;
	out[i++] = (uint8_t)(field << 3 | 2);
	out[i++] = (uint8_t)n; /* tests keep n < 128 */
	memcpy(out + i, p, n);
	return i + n;
}

static size_t user_ctx(uint8_t *out, const char *user)
{
	uint8_t inner[128];
	size_t n = ld(inner, 1, user, strlen(user));
	return ld(out, 2, inner, n);
}

static void expect(const struct connect_ids *ids, const char *sid, const char *user)
{
	if (sid) {
		assert_non_null(ids->session_id);
		assert_int_equal(ids->session_len, strlen(sid));
		assert_memory_equal(ids->session_id, sid, strlen(sid));
	} else {
		assert_null(ids->session_id);
	}
	if (user) {
		assert_non_null(ids->user_id);
		assert_int_equal(ids->user_len, strlen(user));
		assert_memory_equal(ids->user_id, user, strlen(user));
	} else {
		assert_null(ids->user_id);
	}
}

static void reads_both(void **st)
{
	(void)st;
	uint8_t m[256];
	size_t n = ld(m, 1, "s-1", 3);
	n += user_ctx(m + n, "alice");
	n += ld(m + n, 3, "plan bytes", 10); /* another field after them */
	struct connect_ids ids;
	assert_int_equal(connect_ids_read(m, n, &ids), 0);
	expect(&ids, "s-1", "alice");
	/* Pointers into the message: nothing copied. */
	assert_ptr_equal(ids.session_id, m + 2);
}

static void empty_and_absent(void **st)
{
	(void)st;
	struct connect_ids ids;
	assert_int_equal(connect_ids_read(NULL, 0, &ids), 0);
	expect(&ids, NULL, NULL);
	uint8_t m[64];
	size_t n = ld(m, 3, "x", 1);
	assert_int_equal(connect_ids_read(m, n, &ids), 0);
	expect(&ids, NULL, NULL);
}

/* Protobuf: the last occurrence wins; repeated user_context messages merge. */
static void last_wins_and_merge(void **st)
{
	(void)st;
	uint8_t m[256];
	size_t n = user_ctx(m, "alice");
	n += ld(m + n, 1, "a", 1);
	n += ld(m + n, 1, "b", 1);
	uint8_t inner[32];
	size_t in = ld(inner, 2, "Alice A.", 8); /* user_name only: user_id stays */
	n += ld(m + n, 2, inner, in);
	struct connect_ids ids;
	assert_int_equal(connect_ids_read(m, n, &ids), 0);
	expect(&ids, "b", "alice");
	n += user_ctx(m + n, "mallory"); /* a later user_id replaces it */
	assert_int_equal(connect_ids_read(m, n, &ids), 0);
	expect(&ids, "b", "mallory");
}

/* Other wire types and unknown fields are skipped as Spark's parser does. */
static void skips_other_wire_types(void **st)
{
	(void)st;
	uint8_t m[] = {
		0x08, 0x96, 0x01,                         /* field 1 as a varint: unknown to Spark */
		0x2d, 1, 2, 3, 4,                         /* field 5 fixed32 */
		0x31, 1, 2, 3, 4, 5, 6, 7, 8,             /* field 6 fixed64 */
		0x12, 0x04, 0x10, 0x01, 0x0a, 0x00,       /* user_context{2: 1, user_id: ""} */
		0xfa, 0x3e, 0x01, 'z',                    /* field 999, length-delimited */
	};
	struct connect_ids ids;
	assert_int_equal(connect_ids_read(m, sizeof(m), &ids), 0);
	assert_null(ids.session_id);
	assert_non_null(ids.user_id);
	assert_int_equal(ids.user_len, 0);
}

static void refuses_malformed(void **st)
{
	(void)st;
	struct connect_ids ids;
	static const uint8_t group[] = {0x0b, 0x0c};        /* field 1 start/end group */
	static const uint8_t trunc_len[] = {0x0a, 0x05, 'a'}; /* length past the end */
	static const uint8_t trunc_varint[] = {0x08, 0x80};
	static const uint8_t field0[] = {0x02, 0x00};
	static const uint8_t trunc_fixed[] = {0x0d, 1, 2};
	static const uint8_t bad_inner[] = {0x12, 0x02, 0x0a, 0x05}; /* user_context truncated */
	static const uint8_t long_varint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
					      0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
	static const uint8_t wt7[] = {0x0f};
	const struct {
		const uint8_t *p;
		size_t n;
	} bad[] = {
		{group, sizeof(group)},		  {trunc_len, sizeof(trunc_len)},
		{trunc_varint, sizeof(trunc_varint)}, {field0, sizeof(field0)},
		{trunc_fixed, sizeof(trunc_fixed)}, {bad_inner, sizeof(bad_inner)},
		{long_varint, sizeof(long_varint)}, {wt7, sizeof(wt7)},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(connect_ids_read(bad[i].p, bad[i].n, &ids), -1);
}

static void user_rule(void **st)
{
	(void)st;
	assert_true(front_door_user_allowed("alice", "", "alice", 5));
	assert_false(front_door_user_allowed("alice", "", "alic", 4));
	assert_false(front_door_user_allowed("alice", "", "alicex", 6));
	assert_false(front_door_user_allowed("alice", "", "", 0));
	assert_false(front_door_user_allowed("alice", "", NULL, 0));
	assert_true(front_door_user_allowed("alice", "bob, carol", "carol", 5));
	assert_true(front_door_user_allowed("alice", "bob, carol ", "bob", 3));
	assert_false(front_door_user_allowed("alice", "bob,carol", "bo", 2));
	assert_false(front_door_user_allowed("alice", "bob,carol", "bob,carol", 9));
	assert_true(front_door_user_allowed("alice", "*", "anyone", 6));
	assert_false(front_door_user_allowed("", "", "root", 4));
	assert_false(front_door_user_allowed("alice", ",,", "", 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reads_both),	     cmocka_unit_test(empty_and_absent),
		cmocka_unit_test(last_wins_and_merge), cmocka_unit_test(skips_other_wire_types),
		cmocka_unit_test(refuses_malformed),   cmocka_unit_test(user_rule),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
