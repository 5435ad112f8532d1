#include "launcher/door_wiring.h"

#include "base/log.h"
#include "shim/ctl/control_service.h"
#include "shim/ctl/event_log.h"

static void on_session(void *arg, int opened, const char *user_id, const char *session_id)
{
	(void)arg;
	log_info("front door: session %s/%s %s", user_id, session_id,
		 opened ? "opened" : "closed");
	event_log_session(opened, user_id, session_id);
}

struct door_sessions *door_wiring_open(const struct settings *st)
{
	struct door_limits lim = {.max_sessions = st->door_max_sessions,
				  .max_operations = st->door_max_operations,
				  .session_timeout_ms = st->door_session_timeout_ms};
	struct door_sessions *t = door_sessions_new(&lim);
	if (!t)
		return NULL;
	door_sessions_set_event_hook(t, on_session, NULL);
	control_set_door_sessions(t);
	return t;
}

void door_wiring_close(struct door_sessions *t)
{
	if (!t)
		return;
	control_set_door_sessions(NULL);
	door_sessions_free(t);
}

void door_wiring_idle(struct door_sessions *t, int64_t now_mono_ms, int64_t now_epoch_ms,
		      struct door_idle *out)
{
	struct door_activity a;
	door_sessions_activity(t, now_mono_ms, &a);
	out->busy = a.calls_in_flight > 0;
	out->sessions = a.sessions;
	out->calls_in_flight = a.calls_in_flight;
	out->last_mono_ms = a.last_activity_ms;
	out->last_epoch_ms = a.last_activity_ms < 0
				     ? -1
				     : now_epoch_ms - (now_mono_ms - a.last_activity_ms);
}
