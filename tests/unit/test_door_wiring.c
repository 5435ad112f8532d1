/* The launcher's wiring of the front door's session table: limits from the
 * settings, open/close into the Events log, the table into Status, and the
 * idle figures on the wall clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/lifecycle.h"
#include "launcher/door_wiring.h"
#include "shim/ctl/event_log.h"

#define EXEC "/spark.connect.SparkConnectService/ExecutePlan"
#define RELEASE "/spark.connect.SparkConnectService/ReleaseSession"

static int setup(void **state)
{
	(void)state;
	lifecycle_reset();
	event_log_reset();
	return 0;
}

static void limits_come_from_settings(void **state)
{
	(void)state;
	struct settings st = {.door_max_sessions = 1, .door_max_operations = 0,
			      .door_session_timeout_ms = 1000};
	struct door_sessions *t = door_wiring_open(&st);
	assert_non_null(t);
	struct door_call *a, *b;
	assert_int_equal(door_call_begin(t, EXEC, "u", 1, "s1", 2, 0, &a), DOOR_ADMIT);
	assert_int_equal(door_call_begin(t, EXEC, "u", 1, "s2", 2, 0, &b),
			 DOOR_TOO_MANY_SESSIONS);
	door_call_end(t, a, 0, 0);
	/* the session timeout expires s1: room again */
	assert_int_equal(door_call_begin(t, EXEC, "u", 1, "s2", 2, 1001, &b), DOOR_ADMIT);
	door_call_end(t, b, 0, 1001);
	door_wiring_close(t);
	door_wiring_close(NULL);
}

static void sessions_reach_the_event_log(void **state)
{
	(void)state;
	struct settings st = {0};
	struct door_sessions *t = door_wiring_open(&st);
	uint64_t before = event_log_last_seq();
	struct door_call *c;
	assert_int_equal(door_call_begin(t, EXEC, "bob", 3, "x-1", 3, 5, &c), DOOR_ADMIT);
	door_call_end(t, c, 0, 6);
	assert_int_equal(door_call_begin(t, RELEASE, "bob", 3, "x-1", 3, 7, &c), DOOR_ADMIT);
	door_call_end(t, c, 0, 8);
	struct event_rec r;
	uint64_t gap;
	assert_int_equal(event_log_next(before, &r, &gap), 1);
	assert_int_equal(r.kind, EVENT_SESSION_OPENED);
	assert_string_equal(r.user_id, "bob");
	assert_string_equal(r.session_id, "x-1");
	assert_int_equal(event_log_next(r.seq, &r, &gap), 1);
	assert_int_equal(r.kind, EVENT_SESSION_CLOSED);
	assert_string_equal(r.session_id, "x-1");
	assert_int_equal(event_log_next(r.seq, &r, &gap), 0);
	door_wiring_close(t);
}

static void idle_figures(void **state)
{
	(void)state;
	struct settings st = {0};
	struct door_sessions *t = door_wiring_open(&st);
	struct door_idle d;
	door_wiring_idle(t, 1000, 1700000000000, &d);
	assert_false(d.busy);
	assert_int_equal(d.last_epoch_ms, -1);
	assert_int_equal(d.last_mono_ms, -1);
	struct door_call *c;
	assert_int_equal(door_call_begin(t, EXEC, "u", 1, "s", 1, 2000, &c), DOOR_ADMIT);
	door_wiring_idle(t, 2500, 1700000000000, &d);
	assert_true(d.busy);
	assert_int_equal(d.calls_in_flight, 1);
	assert_int_equal(d.sessions, 1);
	door_call_bytes(t, c, 1, 1, 3000);
	door_call_end(t, c, 0, 4000);
	/* monotonic 4000 seen at monotonic 10000 = wall 6 s before now */
	door_wiring_idle(t, 10000, 1700000000000, &d);
	assert_false(d.busy);
	assert_int_equal(d.last_mono_ms, 4000);
	assert_int_equal(d.last_epoch_ms, 1700000000000 - 6000);
	assert_int_equal(d.sessions, 1); /* open, quiet: does not make it busy */
	door_wiring_close(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(limits_come_from_settings, setup),
		cmocka_unit_test_setup(sessions_reach_the_event_log, setup),
		cmocka_unit_test_setup(idle_figures, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
