#include "base/engine_info.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct engine_info info;
static _Atomic(void (*)(void)) listener;

void engine_info_reset(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	pthread_mutex_lock(&mu);
	memset(&info, 0, sizeof(info));
	info.pid = getpid();
	info.start_epoch_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
	info.active_sessions = -1;
	info.active_operations = -1;
	info.attached_operations = -1;
	info.heap_used = -1;
	info.idle_token = -1;
	info.heap_max = -1;
	pthread_mutex_unlock(&mu);
}

void engine_info_get(struct engine_info *out)
{
	pthread_mutex_lock(&mu);
	*out = info;
	pthread_mutex_unlock(&mu);
}

void engine_info_update(void (*fn)(struct engine_info *, void *), void *arg)
{
	pthread_mutex_lock(&mu);
	fn(&info, arg);
	pthread_mutex_unlock(&mu);
	void (*l)(void) = atomic_load(&listener);
	if (l)
		l();
}

void engine_info_set_listener(void (*fn)(void)) { atomic_store(&listener, fn); }

const char *reg_state_name(enum reg_state st)
{
	static const char *const names[] = {"DISABLED", "PENDING", "REGISTERED",
					    "DEREGISTERED", "FAILED"};
	return (unsigned)st < sizeof(names) / sizeof(names[0]) ? names[st] : "?";
}
