#include "shim/zk_log.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <stdint.h>
#include <time.h>
#include <zookeeper/zookeeper.h>

int zk_log_parse(const char *line, enum log_level *lvl, const char **msg, size_t *msglen)
{
	static const struct {
		const char *tag;
		enum log_level lvl;
	} tags[] = {
		{":ZOO_ERROR@", LOG_ERROR},
		{":ZOO_WARN@", LOG_WARN},
		{":ZOO_INFO@", LOG_INFO},
		{":ZOO_DEBUG@", LOG_DEBUG},
	};
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		const char *t = strstr(line, tags[i].tag);
		if (!t)
			continue;
		/* Skip "<function>@<line>: " to the message itself. */
		const char *m = strstr(t + strlen(tags[i].tag), ": ");
		if (!m)
			return -1;
		m += 2;
		size_t n = strlen(m);
		while (n && (m[n - 1] == '\n' || m[n - 1] == '\r'))
			n--;
		*lvl = tags[i].lvl;
		*msg = m;
		*msglen = n;
		return 0;
	}
	return -1;
}

/* While ZooKeeper is unreachable the client retries every few
 * milliseconds and logs each failure: identical messages within
 * REPEAT_WINDOW_MS are counted instead of printed, and the count is
 * reported with the next different message (or the next window). */
#define REPEAT_WINDOW_MS 10000
static pthread_mutex_t repeat_mu = PTHREAD_MUTEX_INITIALIZER;
static char last_msg[256];
static size_t last_len;
static enum log_level last_lvl;
static long suppressed;
static int64_t last_emit_ms;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void zk_log_forward(const char *line)
{
	enum log_level lvl;
	const char *msg;
	size_t n;
	if (zk_log_parse(line, &lvl, &msg, &n) < 0) {
		lvl = LOG_WARN;
		msg = line;
		n = strcspn(line, "\n");
	}
	if (n == 0)
		return;
	size_t key = n < sizeof(last_msg) ? n : sizeof(last_msg);
	int64_t now = now_ms();
	pthread_mutex_lock(&repeat_mu);
	if (key == last_len && memcmp(last_msg, msg, key) == 0 &&
	    now - last_emit_ms < REPEAT_WINDOW_MS) {
		suppressed++;
		pthread_mutex_unlock(&repeat_mu);
		return;
	}
	long repeats = suppressed;
	enum log_level prev_lvl = last_lvl;
	suppressed = 0;
	memcpy(last_msg, msg, key);
	last_len = key;
	last_lvl = lvl;
	last_emit_ms = now;
	pthread_mutex_unlock(&repeat_mu);
	if (repeats)
		log_msg(prev_lvl, "zookeeper: (previous message repeated %ld more times)", repeats);
	log_msg(lvl, "zookeeper: %.*s", (int)n, msg);
}

void zk_log_callback(const char *line) { zk_log_forward(line); }

/* The handle-less path: a stdio stream whose writes become log lines.
 * The client writes "<line>\n" then flushes; lines are split at '\n' and a
 * partial tail is kept for the next write. stdio calls the writer under
 * the stream's lock, so the buffer needs no lock of its own. */
static char pending[4096];
static size_t pending_len;

static ssize_t stream_write(void *cookie, const char *buf, size_t size)
{
	(void)cookie;
	for (size_t i = 0; i < size; i++) {
		char ch = buf[i];
		if (ch == '\n' || pending_len == sizeof(pending) - 1) {
			pending[pending_len] = '\0';
			zk_log_forward(pending);
			pending_len = 0;
			if (ch == '\n')
				continue;
		}
		pending[pending_len++] = ch;
	}
	return (ssize_t)size;
}

static FILE *stream;
static pthread_mutex_t install_mu = PTHREAD_MUTEX_INITIALIZER;

static ZooLogLevel zoo_level(enum log_level min)
{
	switch (min) {
	case LOG_DEBUG:
		return ZOO_LOG_LEVEL_DEBUG;
	case LOG_INFO:
		return ZOO_LOG_LEVEL_INFO;
	case LOG_WARN:
		return ZOO_LOG_LEVEL_WARN;
	case LOG_ERROR:
		break;
	}
	return ZOO_LOG_LEVEL_ERROR;
}

int zk_log_install(enum log_level min)
{
	pthread_mutex_lock(&install_mu);
	if (!stream) {
		cookie_io_functions_t io = {.write = stream_write};
		/* Never closed: the client may log until the process exits. */
		stream = fopencookie(NULL, "w", io);
		if (stream)
			setvbuf(stream, NULL, _IOLBF, 0);
	}
	if (stream)
		zoo_set_log_stream(stream);
	zoo_set_debug_level(zoo_level(min));
	int rc = stream ? 0 : -1;
	pthread_mutex_unlock(&install_mu);
	return rc;
}
