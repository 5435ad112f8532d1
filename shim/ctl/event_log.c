#include "shim/ctl/event_log.h"
#include "base/clock.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct event_rec ring[EVENT_LOG_SIZE];
static uint64_t last_seq; /* seq of the newest entry; entry i lives at i % SIZE */
static int attached;

static void on_transition(enum shim_state from, enum shim_state to, const char *reason,
			  void *arg)
{
	(void)arg;
	event_log_append((int)from, (int)to, reason);
}

int event_log_attach(void)
{
	pthread_mutex_lock(&mu);
	int was = attached;
	attached = 1;
	pthread_mutex_unlock(&mu);
	if (was)
		return 0;
	if (lifecycle_add_listener(on_transition, NULL) < 0) {
		pthread_mutex_lock(&mu);
		attached = 0;
		pthread_mutex_unlock(&mu);
		return -1;
	}
	/* A transition racing with this line may be recorded before the
	 * snapshot; the snapshot then repeats the new state, which is harmless. */
	event_log_append(-1, (int)lifecycle_state(), "event recording started");
	return 0;
}

void event_log_reset(void)
{
	pthread_mutex_lock(&mu);
	memset(ring, 0, sizeof(ring));
	last_seq = 0;
	attached = 0;
	pthread_mutex_unlock(&mu);
}

/* The next slot, cleared and stamped; call with mu held. */
static struct event_rec *next_slot(void)
{
	uint64_t seq = ++last_seq;
	struct event_rec *e = &ring[seq % EVENT_LOG_SIZE];
	memset(e, 0, sizeof(*e));
	e->seq = seq;
	e->time_ms = epoch_ms();
	return e;
}

void event_log_append(int from, int to, const char *reason)
{
	pthread_mutex_lock(&mu);
	struct event_rec *e = next_slot();
	e->kind = EVENT_TRANSITION;
	e->from = from;
	e->to = to;
	snprintf(e->reason, sizeof(e->reason), "%s", reason ? reason : "");
	pthread_mutex_unlock(&mu);
	lifecycle_kick();
}

void event_log_session(int opened, const char *user_id, const char *session_id)
{
	pthread_mutex_lock(&mu);
	struct event_rec *e = next_slot();
	e->kind = opened ? EVENT_SESSION_OPENED : EVENT_SESSION_CLOSED;
	e->from = e->to = -1;
	snprintf(e->reason, sizeof(e->reason), "%s", opened ? "session opened" : "session closed");
	snprintf(e->user_id, sizeof(e->user_id), "%s", user_id ? user_id : "");
	snprintf(e->session_id, sizeof(e->session_id), "%s", session_id ? session_id : "");
	pthread_mutex_unlock(&mu);
	lifecycle_kick();
}

int event_log_next(uint64_t after, struct event_rec *out, uint64_t *gap_to)
{
	*gap_to = 0;
	pthread_mutex_lock(&mu);
	int rc = 0;
	if (after < last_seq) {
		uint64_t oldest = last_seq >= EVENT_LOG_SIZE ? last_seq - EVENT_LOG_SIZE + 1 : 1;
		uint64_t want = after + 1;
		if (want < oldest) {
			*gap_to = oldest - 1;
			want = oldest;
		}
		*out = ring[want % EVENT_LOG_SIZE];
		rc = 1;
	}
	pthread_mutex_unlock(&mu);
	return rc;
}

uint64_t event_log_last_seq(void)
{
	pthread_mutex_lock(&mu);
	uint64_t s = last_seq;
	pthread_mutex_unlock(&mu);
	return s;
}
