#include "base/events.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define QUEUE_LEN 64

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct shim_event queue[QUEUE_LEN];
static unsigned head, count;
static int efd = -1;

static const char *const names[EV__COUNT] = {
	"jvm-created",   "jvm-create-failed", "spark-main-ended",
	"jvm-destroyed", "spark-stopped",     "ctl-drain",
	"ctl-stop",      "reg-node-deleted",  "reg-lost",
	"reg-registered", "connect-port",      "probe",
	"reg-connect-failed", "reg-failed", "reg-deregistered", "activity",
	"probe-quiesced",
};

const char *event_name(enum ev_type type)
{
	return (unsigned)type < EV__COUNT ? names[type] : "?";
}

int events_init(void)
{
	pthread_mutex_lock(&mu);
	head = count = 0;
	if (efd < 0)
		efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int rc = efd < 0 ? -1 : 0;
	pthread_mutex_unlock(&mu);
	return rc;
}

void events_close(void)
{
	pthread_mutex_lock(&mu);
	if (efd >= 0)
		close(efd);
	efd = -1;
	pthread_mutex_unlock(&mu);
}

int events_fd(void) { return efd; }

void events_post(enum ev_type type, long long value, const char *fmt, ...)
{
	struct shim_event ev = {.type = type, .value = value};
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(ev.text, sizeof(ev.text), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_lock(&mu);
	if (count < QUEUE_LEN) {
		queue[(head + count) % QUEUE_LEN] = ev;
		count++;
	}
	if (efd >= 0) {
		uint64_t one = 1;
		/* Counter overflow is impossible at 64 entries; EAGAIN is harmless. */
		if (write(efd, &one, sizeof(one)) < 0) {
		}
	}
	pthread_mutex_unlock(&mu);
}

int events_pop(struct shim_event *out)
{
	pthread_mutex_lock(&mu);
	if (count == 0) {
		uint64_t v;
		if (efd >= 0 && read(efd, &v, sizeof(v)) < 0) {
		}
		pthread_mutex_unlock(&mu);
		return 0;
	}
	*out = queue[head];
	head = (head + 1) % QUEUE_LEN;
	count--;
	pthread_mutex_unlock(&mu);
	return 1;
}
