#include "shim/registry/zk_log.h"
#include "base/clock.h"

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

/* While ZooKeeper is unreachable the client retries every few milliseconds
 * and logs two or three lines per attempt: a message already printed within
 * REPEAT_WINDOW_MS is counted instead, and the count is printed with the
 * message's next appearance after the window (or when its slot is reused). */
#define REPEAT_WINDOW_MS 10000
#define REPEAT_SLOTS 8
#define REPEAT_KEY 200

struct repeat_slot {
	char text[REPEAT_KEY];
	size_t len;          /* 0 = free */
	enum log_level lvl;
	int64_t emitted_ms;  /* last time it was printed */
	uint64_t order;      /* print order, for evicting the least recent */
	long suppressed;
};

static pthread_mutex_t repeat_mu = PTHREAD_MUTEX_INITIALIZER;
static struct repeat_slot slots[REPEAT_SLOTS];
static uint64_t print_count;

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
	size_t key = n < REPEAT_KEY ? n : REPEAT_KEY;
	int64_t now = monotonic_ms();
	/* What to print besides the message, decided under the lock. */
	char evicted[REPEAT_KEY + 1] = "";
	long evicted_count = 0, repeats = 0;
	enum log_level evicted_lvl = LOG_WARN;

	pthread_mutex_lock(&repeat_mu);
	struct repeat_slot *hit = NULL, *oldest = &slots[0];
	for (int i = 0; i < REPEAT_SLOTS; i++) {
		struct repeat_slot *sl = &slots[i];
		if (sl->len == key && memcmp(sl->text, msg, key) == 0)
			hit = sl;
		if (sl->len == 0 || (oldest->len != 0 && sl->order < oldest->order))
			oldest = sl;
	}
	if (hit && now - hit->emitted_ms < REPEAT_WINDOW_MS) {
		hit->suppressed++;
		pthread_mutex_unlock(&repeat_mu);
		return;
	}
	if (hit) {
		repeats = hit->suppressed;
	} else {
		hit = oldest;
		if (hit->len && hit->suppressed) {
			memcpy(evicted, hit->text, hit->len);
			evicted[hit->len] = '\0';
			evicted_count = hit->suppressed;
			evicted_lvl = hit->lvl;
		}
		memcpy(hit->text, msg, key);
		hit->len = key;
	}
	hit->lvl = lvl;
	hit->emitted_ms = now;
	hit->order = ++print_count;
	hit->suppressed = 0;
	pthread_mutex_unlock(&repeat_mu);

	if (evicted_count)
		log_msg(evicted_lvl, "zookeeper: (%ld more times: %s)", evicted_count, evicted);
	if (repeats)
		log_msg(lvl, "zookeeper: %.*s (and %ld more times in the last %d s)", (int)n, msg,
			repeats, REPEAT_WINDOW_MS / 1000);
	else
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
