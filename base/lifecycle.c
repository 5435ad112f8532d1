#include "base/lifecycle.h"
#include "base/clock.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

static const char *const state_names[ST__COUNT] = {
	"STARTING", "READY", "DRAINING", "STOPPING", "STOPPED", "FAILED",
};
static const char *const trigger_names[TR__COUNT] = {
	"ready", "drain", "stop", "stopped", "fail",
};

#define NONE (-1)
/* next[state][trigger]; NONE = not allowed. */
static const int next_state[ST__COUNT][TR__COUNT] = {
	/*              ready     drain        stop         stopped     fail */
	[ST_STARTING] = {ST_READY, NONE,       ST_STOPPING, NONE,       ST_FAILED},
	[ST_READY]    = {NONE,     ST_DRAINING, ST_STOPPING, NONE,       ST_FAILED},
	[ST_DRAINING] = {NONE,     NONE,       ST_STOPPING, NONE,       ST_FAILED},
	[ST_STOPPING] = {NONE,     NONE,       NONE,        ST_STOPPED, ST_FAILED},
	[ST_STOPPED]  = {NONE,     NONE,       NONE,        NONE,       NONE},
	[ST_FAILED]   = {NONE,     NONE,       NONE,        NONE,       NONE},
};

#define MAX_LISTENERS 8
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;
static pthread_once_t cv_once = PTHREAD_ONCE_INIT;
static enum shim_state cur = ST_STARTING;
static uint64_t generation;
static struct {
	lifecycle_listener fn;
	void *arg;
} listeners[MAX_LISTENERS];
static int n_listeners;

static void init_cv(void)
{
	/* CLOCK_MONOTONIC so waits are immune to wall-clock jumps. */
	cond_init_monotonic(&cv);
}

const char *state_name(enum shim_state st)
{
	return (unsigned)st < ST__COUNT ? state_names[st] : "?";
}

const char *trigger_name(enum shim_trigger tr)
{
	return (unsigned)tr < TR__COUNT ? trigger_names[tr] : "?";
}

int state_is_stopping(enum shim_state st)
{
	return st == ST_STOPPING || st == ST_STOPPED || st == ST_FAILED;
}

int state_is_serving(enum shim_state st)
{
	return st == ST_READY || st == ST_DRAINING;
}

void lifecycle_reset(void)
{
	pthread_once(&cv_once, init_cv);
	pthread_mutex_lock(&mu);
	cur = ST_STARTING;
	n_listeners = 0;
	generation++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

enum shim_state lifecycle_state(void)
{
	pthread_mutex_lock(&mu);
	enum shim_state st = cur;
	pthread_mutex_unlock(&mu);
	return st;
}

int lifecycle_next(enum shim_state from, enum shim_trigger tr)
{
	if ((unsigned)from >= ST__COUNT || (unsigned)tr >= TR__COUNT)
		return NONE;
	return next_state[from][tr];
}

int lifecycle_fire(enum shim_trigger tr, const char *reason)
{
	pthread_once(&cv_once, init_cv);
	pthread_mutex_lock(&mu);
	enum shim_state from = cur;
	int to = lifecycle_next(from, tr);
	if (to == NONE) {
		pthread_mutex_unlock(&mu);
		return -1;
	}
	cur = (enum shim_state)to;
	generation++;
	int n = n_listeners;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	/* Listeners are only ever appended, so the first n stay valid. */
	for (int i = 0; i < n; i++)
		listeners[i].fn(from, (enum shim_state)to, reason ? reason : "",
				listeners[i].arg);
	return 0;
}

int lifecycle_add_listener(lifecycle_listener fn, void *arg)
{
	pthread_mutex_lock(&mu);
	if (n_listeners == MAX_LISTENERS) {
		pthread_mutex_unlock(&mu);
		return -1;
	}
	listeners[n_listeners].fn = fn;
	listeners[n_listeners].arg = arg;
	n_listeners++;
	pthread_mutex_unlock(&mu);
	return 0;
}

uint64_t lifecycle_generation(void)
{
	pthread_mutex_lock(&mu);
	uint64_t g = generation;
	pthread_mutex_unlock(&mu);
	return g;
}

enum shim_state lifecycle_wait_change(uint64_t *gen, int timeout_ms)
{
	pthread_once(&cv_once, init_cv);
	struct timespec deadline = deadline_after(CLOCK_MONOTONIC, timeout_ms < 0 ? 0 : timeout_ms);
	pthread_mutex_lock(&mu);
	while (generation == *gen) {
		int rc = timeout_ms < 0 ? pthread_cond_wait(&cv, &mu)
					: pthread_cond_timedwait(&cv, &mu, &deadline);
		if (rc == ETIMEDOUT)
			break;
	}
	*gen = generation;
	enum shim_state st = cur;
	pthread_mutex_unlock(&mu);
	return st;
}

void lifecycle_kick(void)
{
	pthread_once(&cv_once, init_cv);
	pthread_mutex_lock(&mu);
	generation++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}
