/* The front door's session table: sessions opened by calls, closed by
 * ReleaseSession or expiry, drain, limits, activity, snapshots, events,
 * and concurrent use. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "shim/ctl/door_sessions.h"

#define EXEC "/spark.connect.SparkConnectService/ExecutePlan"
#define REATTACH "/spark.connect.SparkConnectService/ReattachExecute"
#define CONFIG "/spark.connect.SparkConnectService/Config"
#define RELEASE "/spark.connect.SparkConnectService/ReleaseSession"

struct seen {
	int opens, closes;
	char last_user[200], last_sid[100];
	int last_opened;
};

static void hook(void *arg, int opened, const char *user, const char *sid)
{
	struct seen *s = arg;
	if (opened)
		s->opens++;
	else
		s->closes++;
	s->last_opened = opened;
	snprintf(s->last_user, sizeof(s->last_user), "%s", user);
	snprintf(s->last_sid, sizeof(s->last_sid), "%s", sid);
}

static struct door_sessions *table(unsigned max_s, unsigned max_o, int64_t timeout,
				   struct seen *seen)
{
	struct door_limits l = {.max_sessions = max_s, .max_operations = max_o,
				.session_timeout_ms = timeout};
	struct door_sessions *t = door_sessions_new(&l);
	assert_non_null(t);
	if (seen)
		door_sessions_set_event_hook(t, hook, seen);
	return t;
}

static enum door_verdict begin(struct door_sessions *t, const char *m, const char *u,
			       const char *sid, int64_t now, struct door_call **c)
{
	return door_call_begin(t, m, u, strlen(u), sid, strlen(sid), now, c);
}

static struct door_activity act(struct door_sessions *t, int64_t now)
{
	struct door_activity a;
	door_sessions_activity(t, now, &a);
	return a;
}

static void empty_table(void **state)
{
	(void)state;
	struct door_sessions *t = table(0, 0, 0, NULL);
	struct door_activity a = act(t, 5);
	assert_int_equal(a.sessions, 0);
	assert_int_equal(a.calls_in_flight, 0);
	assert_int_equal(a.last_activity_ms, -1);
	struct door_session_info info[1];
	assert_int_equal(door_sessions_snapshot(t, info, 1), 0);
	door_sessions_free(t);
	door_sessions_free(NULL);
}

static void call_opens_session_once(void **state)
{
	(void)state;
	struct seen seen = {0};
	struct door_sessions *t = table(0, 0, 0, &seen);
	struct door_call *a, *b;
	assert_int_equal(begin(t, EXEC, "alice", "s1", 100, &a), DOOR_ADMIT);
	assert_non_null(a);
	assert_int_equal(seen.opens, 1);
	assert_string_equal(seen.last_user, "alice");
	assert_string_equal(seen.last_sid, "s1");
	assert_int_equal(begin(t, CONFIG, "alice", "s1", 150, &b), DOOR_ADMIT);
	assert_int_equal(seen.opens, 1); /* same session: no second open */
	door_call_bytes(t, a, 10, 1000, 200);
	door_call_bytes(t, a, 5, 24, 210);
	struct door_activity x = act(t, 220);
	assert_int_equal(x.sessions, 1);
	assert_int_equal(x.calls_in_flight, 2);
	assert_int_equal(x.last_activity_ms, 210);
	struct door_session_info info[2];
	assert_int_equal(door_sessions_snapshot(t, info, 2), 1);
	assert_string_equal(info[0].user_id, "alice");
	assert_string_equal(info[0].session_id, "s1");
	assert_int_equal(info[0].first_ms, 100);
	assert_int_equal(info[0].last_ms, 210);
	assert_int_equal(info[0].calls_in_flight, 2);
	assert_int_equal(info[0].calls_total, 2);
	assert_int_equal(info[0].bytes_in, 15);
	assert_int_equal(info[0].bytes_out, 1024);
	door_call_end(t, b, 0, 300);
	door_call_end(t, a, 0, 310);
	x = act(t, 320);
	assert_int_equal(x.sessions, 1); /* only ReleaseSession or expiry close */
	assert_int_equal(x.calls_in_flight, 0);
	assert_int_equal(x.last_activity_ms, 310);
	assert_int_equal(seen.closes, 0);
	door_sessions_free(t);
}

static void same_sid_other_user_is_other_session(void **state)
{
	(void)state;
	struct door_sessions *t = table(0, 0, 0, NULL);
	struct door_call *a, *b;
	assert_int_equal(begin(t, CONFIG, "alice", "s1", 1, &a), DOOR_ADMIT);
	assert_int_equal(begin(t, CONFIG, "bob", "s1", 2, &b), DOOR_ADMIT);
	assert_int_equal(act(t, 3).sessions, 2);
	door_call_end(t, a, 0, 4);
	door_call_end(t, b, 0, 4);
	door_sessions_free(t);
}

static void call_without_session(void **state)
{
	(void)state;
	struct seen seen = {0};
	struct door_sessions *t = table(0, 0, 0, &seen);
	struct door_call *c;
	assert_int_equal(door_call_begin(t, CONFIG, "", 0, "", 0, 7, &c), DOOR_ADMIT);
	assert_non_null(c);
	door_call_bytes(t, c, 1, 1, 8);
	struct door_activity a = act(t, 9);
	assert_int_equal(a.sessions, 0);
	assert_int_equal(a.calls_in_flight, 1);
	assert_int_equal(a.last_activity_ms, 8);
	door_call_end(t, c, 0, 10);
	assert_int_equal(act(t, 11).calls_in_flight, 0);
	assert_int_equal(seen.opens, 0);
	door_call_end(t, NULL, 0, 12); /* tolerated */
	door_call_bytes(t, NULL, 1, 1, 12);
	door_sessions_free(t);
}

static void release_session_closes(void **state)
{
	(void)state;
	struct seen seen = {0};
	struct door_sessions *t = table(0, 0, 0, &seen);
	struct door_call *a, *r;
	assert_int_equal(begin(t, CONFIG, "u", "s", 1, &a), DOOR_ADMIT);
	door_call_end(t, a, 0, 2);
	/* a failed ReleaseSession leaves it open */
	assert_int_equal(begin(t, RELEASE, "u", "s", 3, &r), DOOR_ADMIT);
	door_call_end(t, r, 13 /* INTERNAL */, 4);
	assert_int_equal(act(t, 5).sessions, 1);
	assert_int_equal(seen.closes, 0);
	assert_int_equal(begin(t, RELEASE, "u", "s", 6, &r), DOOR_ADMIT);
	door_call_end(t, r, 0, 7);
	assert_int_equal(act(t, 8).sessions, 0);
	assert_int_equal(seen.closes, 1);
	assert_int_equal(seen.last_opened, 0);
	assert_string_equal(seen.last_sid, "s");
	/* a ReleaseSession for a session we do not know opens nothing */
	assert_int_equal(begin(t, RELEASE, "u", "gone", 9, &r), DOOR_ADMIT);
	assert_int_equal(act(t, 9).sessions, 0);
	assert_int_equal(act(t, 9).calls_in_flight, 1);
	door_call_end(t, r, 0, 10);
	assert_int_equal(seen.opens, 1);
	assert_int_equal(seen.closes, 1);
	/* the same id again is a new session */
	assert_int_equal(begin(t, CONFIG, "u", "s", 11, &a), DOOR_ADMIT);
	assert_int_equal(seen.opens, 2);
	door_call_end(t, a, 0, 12);
	door_sessions_free(t);
}

static void release_while_call_in_flight(void **state)
{
	(void)state;
	struct seen seen = {0};
	struct door_sessions *t = table(0, 0, 0, &seen);
	struct door_call *op, *r;
	assert_int_equal(begin(t, EXEC, "u", "s", 1, &op), DOOR_ADMIT);
	assert_int_equal(begin(t, RELEASE, "u", "s", 2, &r), DOOR_ADMIT);
	door_call_end(t, r, 0, 3);
	assert_int_equal(seen.closes, 1);
	struct door_activity a = act(t, 4);
	assert_int_equal(a.sessions, 0);
	assert_int_equal(a.calls_in_flight, 1); /* the operation still runs */
	struct door_session_info info[1];
	assert_int_equal(door_sessions_snapshot(t, info, 1), 0);
	/* the call still uses its session's record (ASan/valgrind watch) */
	door_call_bytes(t, op, 1, 2, 5);
	door_call_end(t, op, 0, 6);
	assert_int_equal(act(t, 7).calls_in_flight, 0);
	assert_int_equal(seen.closes, 1);
	door_sessions_free(t);
}

static void expiry_after_session_timeout(void **state)
{
	(void)state;
	struct seen seen = {0};
	struct door_sessions *t = table(0, 0, 1000, &seen);
	struct door_call *a, *b;
	assert_int_equal(begin(t, CONFIG, "u", "quiet", 0, &a), DOOR_ADMIT);
	door_call_end(t, a, 0, 10);
	assert_int_equal(begin(t, EXEC, "u", "busy", 0, &b), DOOR_ADMIT);
	assert_int_equal(act(t, 1010).sessions, 2); /* exactly the timeout: not yet */
	assert_int_equal(act(t, 1011).sessions, 1); /* quiet one expired */
	assert_int_equal(seen.closes, 1);
	assert_string_equal(seen.last_sid, "quiet");
	/* a call in flight keeps its session, however long */
	assert_int_equal(act(t, 50000).sessions, 1);
	door_call_bytes(t, b, 0, 1, 50000);
	door_call_end(t, b, 0, 50001);
	assert_int_equal(act(t, 51000).sessions, 1);
	assert_int_equal(act(t, 51002).sessions, 0);
	assert_int_equal(seen.closes, 2);
	door_sessions_free(t);
}

static void no_expiry_without_timeout(void **state)
{
	(void)state;
	struct door_sessions *t = table(0, 0, 0, NULL);
	struct door_call *a;
	assert_int_equal(begin(t, CONFIG, "u", "s", 0, &a), DOOR_ADMIT);
	door_call_end(t, a, 0, 0);
	assert_int_equal(act(t, INT64_MAX / 2).sessions, 1);
	door_sessions_free(t);
}

static void drain_refuses_new_sessions_only(void **state)
{
	(void)state;
	struct seen seen = {0};
	struct door_sessions *t = table(0, 0, 0, &seen);
	struct door_call *a, *b, *c, *r;
	assert_int_equal(begin(t, EXEC, "u", "old", 1, &a), DOOR_ADMIT);
	door_sessions_drain(t);
	assert_int_equal(begin(t, CONFIG, "u", "new", 2, &b), DOOR_DRAINING);
	assert_null(b);
	assert_int_equal(seen.opens, 1);
	/* the existing session goes on: reattach, more operations, release */
	assert_int_equal(begin(t, REATTACH, "u", "old", 3, &b), DOOR_ADMIT);
	assert_int_equal(door_call_begin(t, CONFIG, "", 0, "", 0, 3, &c), DOOR_ADMIT);
	struct door_activity x = act(t, 4);
	assert_int_equal(x.sessions, 1);
	assert_int_equal(x.calls_in_flight, 3);
	door_call_end(t, a, 0, 5);
	door_call_end(t, b, 0, 5);
	door_call_end(t, c, 0, 5);
	assert_int_equal(begin(t, RELEASE, "u", "old", 6, &r), DOOR_ADMIT);
	door_call_end(t, r, 0, 7);
	assert_int_equal(act(t, 8).sessions, 0);
	/* released: coming back is a new session, refused */
	assert_int_equal(begin(t, CONFIG, "u", "old", 9, &b), DOOR_DRAINING);
	/* an unknown ReleaseSession is still relayed */
	assert_int_equal(begin(t, RELEASE, "u", "other", 9, &r), DOOR_ADMIT);
	door_call_end(t, r, 0, 10);
	door_sessions_free(t);
}

static void max_sessions(void **state)
{
	(void)state;
	struct seen seen = {0};
	struct door_sessions *t = table(2, 0, 100, &seen);
	struct door_call *a, *b, *c, *r;
	assert_int_equal(begin(t, CONFIG, "u", "1", 0, &a), DOOR_ADMIT);
	assert_int_equal(begin(t, CONFIG, "u", "2", 0, &b), DOOR_ADMIT);
	assert_int_equal(begin(t, CONFIG, "u", "3", 0, &c), DOOR_TOO_MANY_SESSIONS);
	assert_null(c);
	assert_int_equal(act(t, 1).calls_in_flight, 2); /* the refusal counted nothing */
	assert_int_equal(seen.opens, 2);
	/* open sessions are not limited */
	assert_int_equal(begin(t, EXEC, "u", "1", 1, &c), DOOR_ADMIT);
	door_call_end(t, c, 0, 2);
	assert_int_equal(begin(t, RELEASE, "u", "1", 2, &r), DOOR_ADMIT);
	door_call_end(t, r, 0, 3);
	door_call_end(t, a, 0, 3);
	assert_int_equal(begin(t, CONFIG, "u", "3", 4, &c), DOOR_ADMIT);
	door_call_end(t, c, 0, 5);
	door_call_end(t, b, 0, 5);
	/* full, but the quiet ones expire to make room */
	assert_int_equal(begin(t, CONFIG, "u", "4", 50, &a), DOOR_TOO_MANY_SESSIONS);
	assert_int_equal(begin(t, CONFIG, "u", "4", 106, &a), DOOR_ADMIT);
	assert_int_equal(act(t, 106).sessions, 1);
	assert_int_equal(seen.closes, 3);
	assert_int_equal(seen.last_opened, 1); /* the open comes after the closes */
	door_call_end(t, a, 0, 107);
	door_sessions_free(t);
}

static void max_operations(void **state)
{
	(void)state;
	struct door_sessions *t = table(0, 2, 0, NULL);
	struct door_call *a, *b, *c, *d, *e;
	assert_int_equal(begin(t, EXEC, "u", "s", 0, &a), DOOR_ADMIT);
	assert_int_equal(begin(t, REATTACH, "u", "s", 0, &b), DOOR_ADMIT);
	assert_int_equal(begin(t, EXEC, "u", "s", 0, &c), DOOR_TOO_MANY_OPERATIONS);
	assert_null(c);
	/* a reattach continues an admitted operation: never refused */
	assert_int_equal(begin(t, REATTACH, "u", "s", 0, &c), DOOR_ADMIT);
	/* other calls are not operations */
	assert_int_equal(begin(t, CONFIG, "u", "s", 0, &d), DOOR_ADMIT);
	/* a refused operation opens no session */
	assert_int_equal(begin(t, EXEC, "u", "other", 0, &e), DOOR_TOO_MANY_OPERATIONS);
	assert_int_equal(act(t, 0).sessions, 1);
	door_call_end(t, a, 0, 1); /* b and c still in flight */
	assert_int_equal(begin(t, EXEC, "u", "s", 0, &e), DOOR_TOO_MANY_OPERATIONS);
	door_call_end(t, b, 0, 1);
	door_call_end(t, c, 0, 1);
	assert_int_equal(begin(t, EXEC, "u", "s", 2, &e), DOOR_ADMIT);
	door_call_end(t, d, 0, 3);
	door_call_end(t, e, 0, 3);
	door_sessions_free(t);
}

static void snapshot_order_and_truncation(void **state)
{
	(void)state;
	struct door_sessions *t = table(0, 0, 0, NULL);
	char user[300];
	memset(user, 'x', sizeof(user));
	struct door_call *c;
	assert_int_equal(door_call_begin(t, CONFIG, user, sizeof(user), "first", 5, 1, &c),
			 DOOR_ADMIT);
	door_call_end(t, c, 0, 1);
	char sid[16];
	for (int i = 0; i < 5; i++) {
		snprintf(sid, sizeof(sid), "s%d", i);
		assert_int_equal(begin(t, CONFIG, "u", sid, 2 + i, &c), DOOR_ADMIT);
		door_call_end(t, c, 0, 2 + i);
	}
	struct door_session_info info[3];
	assert_int_equal(door_sessions_snapshot(t, info, 3), 6);
	assert_int_equal(strlen(info[0].user_id), sizeof(info[0].user_id) - 1);
	assert_string_equal(info[0].session_id, "first");
	assert_string_equal(info[1].session_id, "s0");
	assert_string_equal(info[2].session_id, "s1");
	door_sessions_free(t);
}

static void many_sessions_grow_the_table(void **state)
{
	(void)state;
	struct door_sessions *t = table(0, 0, 0, NULL);
	char sid[16];
	struct door_call *c;
	for (int i = 0; i < 3000; i++) {
		snprintf(sid, sizeof(sid), "%d", i);
		assert_int_equal(begin(t, CONFIG, "u", sid, i, &c), DOOR_ADMIT);
		door_call_end(t, c, 0, i);
	}
	assert_int_equal(act(t, 3000).sessions, 3000);
	for (int i = 0; i < 3000; i += 7) { /* every one still found */
		snprintf(sid, sizeof(sid), "%d", i);
		assert_int_equal(begin(t, RELEASE, "u", sid, 4000, &c), DOOR_ADMIT);
		door_call_end(t, c, 0, 4000);
	}
	assert_int_equal(act(t, 4001).sessions, 3000 - 429);
	door_sessions_free(t);
}

#define THREADS 8
#define ROUNDS 2000

struct worker {
	struct door_sessions *t;
	int id;
};

static void *hammer(void *arg)
{
	struct worker *w = arg;
	char sid[32];
	for (int i = 0; i < ROUNDS; i++) {
		snprintf(sid, sizeof(sid), "t%d-%d", w->id, i % 16);
		struct door_call *c = NULL;
		const char *m = i % 5 == 4 ? RELEASE : i % 2 ? EXEC : CONFIG;
		if (door_call_begin(w->t, m, "u", 1, sid, strlen(sid), i, &c) == DOOR_ADMIT) {
			door_call_bytes(w->t, c, 1, 1, i);
			door_call_end(w->t, c, 0, i);
		}
		struct door_activity a;
		door_sessions_activity(w->t, i, &a);
		struct door_session_info info[4];
		door_sessions_snapshot(w->t, info, 4);
	}
	return NULL;
}

static void concurrent_use(void **state)
{
	(void)state;
	struct seen seen = {0};
	struct door_sessions *t = table(0, 0, 50, NULL);
	(void)seen;
	pthread_t th[THREADS];
	struct worker w[THREADS];
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){t, i};
		assert_int_equal(pthread_create(&th[i], NULL, hammer, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	struct door_activity a = act(t, ROUNDS);
	assert_int_equal(a.calls_in_flight, 0);
	assert_true(a.sessions <= THREADS * 16);
	door_sessions_free(t);
}

static void verdict_answers(void **state)
{
	(void)state;
	assert_int_equal(door_verdict_status(DOOR_ADMIT), 0);
	assert_string_equal(door_verdict_message(DOOR_ADMIT), "");
	assert_int_equal(door_verdict_status(DOOR_DRAINING), 14);
	assert_non_null(strstr(door_verdict_message(DOOR_DRAINING), "engine is draining"));
	assert_int_equal(door_verdict_status(DOOR_TOO_MANY_SESSIONS), 8);
	assert_non_null(strstr(door_verdict_message(DOOR_TOO_MANY_SESSIONS), "max.sessions"));
	assert_int_equal(door_verdict_status(DOOR_TOO_MANY_OPERATIONS), 8);
	assert_non_null(strstr(door_verdict_message(DOOR_TOO_MANY_OPERATIONS), "max.operations"));
	assert_int_equal(door_verdict_status((enum door_verdict)99), 13);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(empty_table),
		cmocka_unit_test(call_opens_session_once),
		cmocka_unit_test(same_sid_other_user_is_other_session),
		cmocka_unit_test(call_without_session),
		cmocka_unit_test(release_session_closes),
		cmocka_unit_test(release_while_call_in_flight),
		cmocka_unit_test(expiry_after_session_timeout),
		cmocka_unit_test(no_expiry_without_timeout),
		cmocka_unit_test(drain_refuses_new_sessions_only),
		cmocka_unit_test(max_sessions),
		cmocka_unit_test(max_operations),
		cmocka_unit_test(snapshot_order_and_truncation),
		cmocka_unit_test(many_sessions_grow_the_table),
		cmocka_unit_test(concurrent_use),
		cmocka_unit_test(verdict_answers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
