/* libFuzzer harness for the front door's session table: the input is a
 * program of begin / bytes / end / drain / activity / snapshot steps over a
 * few users, sessions and methods. Checks the table's counts against a
 * model of the calls this program holds, and (under ASan) that no record
 * is used after it is freed. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shim/ctl/door_sessions.h"

#define MAX_CALLS 64

static const char *const methods[] = {
	"/spark.connect.SparkConnectService/ExecutePlan",
	"/spark.connect.SparkConnectService/ReattachExecute",
	"/spark.connect.SparkConnectService/ReleaseSession",
	"/spark.connect.SparkConnectService/Config",
	"/spark.connect.SparkConnectService/AddArtifacts",
};
static const char *const users[] = {"", "alice", "bob"};
static const char *const sids[] = {"", "s1", "s2", "s3", "s4", "s5"};
#define N(a) (sizeof(a) / sizeof((a)[0]))

struct model {
	int opened, closed;
};

static void hook(void *arg, int opened, const char *u, const char *s)
{
	struct model *m = arg;
	if (!u || !s)
		abort();
	if (opened)
		m->opened++;
	else
		m->closed++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	struct door_limits lim = {.max_sessions = data[0] % 5, .max_operations = data[1] % 4,
				  .session_timeout_ms = data[2] % 50};
	struct door_sessions *t = door_sessions_new(&lim);
	if (!t)
		return 0;
	struct model m = {0};
	door_sessions_set_event_hook(t, hook, &m);
	struct door_call *calls[MAX_CALLS];
	size_t n = 0;
	int64_t now = 0;
	for (size_t i = 3; i + 1 < size; i += 2) {
		uint8_t op = data[i], arg = data[i + 1];
		now += op >> 5;
		switch (op % 6) {
		case 0: {
			if (n == MAX_CALLS)
				break;
			const char *u = users[arg % N(users)];
			const char *s = sids[(arg / 3) % N(sids)];
			const char *me = methods[(arg / 18) % N(methods)];
			struct door_call *c = (struct door_call *)1;
			enum door_verdict v =
				door_call_begin(t, me, u, strlen(u), s, strlen(s), now, &c);
			if ((v == DOOR_ADMIT) != (c != NULL))
				abort();
			if (c)
				calls[n++] = c;
			break;
		}
		case 1:
			if (n)
				door_call_bytes(t, calls[arg % n], arg, arg * 3u, now);
			break;
		case 2:
			if (n) {
				size_t k = arg % n;
				door_call_end(t, calls[k], arg % 3 ? 0 : 14, now);
				calls[k] = calls[--n];
			}
			break;
		case 3:
			if (arg % 8 == 0)
				door_sessions_drain(t);
			break;
		case 4: {
			struct door_activity a;
			door_sessions_activity(t, now, &a);
			if (a.calls_in_flight != n)
				abort();
			if ((int)a.sessions != m.opened - m.closed)
				abort();
			if (lim.max_sessions && a.sessions > lim.max_sessions)
				abort();
			if (a.last_activity_ms > now)
				abort();
			break;
		}
		case 5: {
			struct door_session_info info[4];
			size_t all = door_sessions_snapshot(t, info, arg % 5);
			if ((int)all != m.opened - m.closed)
				abort();
			break;
		}
		}
	}
	while (n)
		door_call_end(t, calls[--n], 0, now);
	door_sessions_free(t);
	return 0;
}
