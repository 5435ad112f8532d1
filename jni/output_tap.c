#include "jni/output_tap.h"
#include "base/clock.h"
#include "base/thread.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static int real_fd = -1, read_fd = -1, running, finished;
static char first_exc[512], root_cause[512];
static void (*start_hook)(void);

void output_tap_set_start_hook(void (*fn)(void)) { start_hook = fn; }

void output_tap_reset(void)
{
	pthread_mutex_lock(&mu);
	first_exc[0] = root_cause[0] = '\0';
	pthread_mutex_unlock(&mu);
}

/* "java.net.BindException: msg" / "org.x.FooError" at the start of s? */
static int is_throwable_line(const char *s)
{
	const char *p = s;
	int dots = 0;
	if (!islower((unsigned char)*p))
		return 0;
	while (isalnum((unsigned char)*p) || *p == '_' || *p == '$' || *p == '.') {
		dots += *p == '.';
		p++;
	}
	if (dots == 0 || (*p != ':' && *p != '\0'))
		return 0;
	size_t n = (size_t)(p - s);
	static const char *const suffixes[] = {"Exception", "Error", "Throwable"};
	for (size_t i = 0; i < 3; i++) {
		size_t sl = strlen(suffixes[i]);
		if (n > sl && strncmp(p - sl, suffixes[i], sl) == 0)
			return 1;
	}
	return 0;
}

void output_tap_scan_line(const char *line)
{
	static const char caused[] = "Caused by: ";
	static const char in_thread[] = "Exception in thread \"";
	if (start_hook && (strstr(line, "Spark Connect server started at") ||
			   strstr(line, "SparkConnectService' on port")))
		start_hook();
	const char *s = line;
	int is_cause = 0;
	if (strncmp(s, caused, sizeof(caused) - 1) == 0) {
		s += sizeof(caused) - 1;
		is_cause = 1;
	} else if (strncmp(s, in_thread, sizeof(in_thread) - 1) == 0) {
		const char *q = strstr(s + sizeof(in_thread) - 1, "\" ");
		if (!q)
			return;
		s = q + 2;
	}
	if (!is_throwable_line(s))
		return;
	pthread_mutex_lock(&mu);
	if (is_cause) {
		snprintf(root_cause, sizeof(root_cause), "%s", s);
	} else {
		snprintf(first_exc, sizeof(first_exc), "%s", s);
		root_cause[0] = '\0';
	}
	pthread_mutex_unlock(&mu);
}

void output_tap_last_exception(char *buf, size_t len)
{
	pthread_mutex_lock(&mu);
	if (first_exc[0] && root_cause[0])
		snprintf(buf, len, "%s (caused by %s)", first_exc, root_cause);
	else
		snprintf(buf, len, "%s", first_exc);
	pthread_mutex_unlock(&mu);
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void *tap_main(void *arg)
{
	(void)arg;
	char buf[8192], line[2048];
	size_t line_len = 0;
	for (;;) {
		ssize_t r = read(read_fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		write_all(real_fd, buf, (size_t)r);
		for (ssize_t i = 0; i < r; i++) {
			if (buf[i] == '\n') {
				line[line_len] = '\0';
				output_tap_scan_line(line);
				line_len = 0;
			} else if (line_len < sizeof(line) - 1) {
				line[line_len++] = buf[i];
			}
		}
	}
	pthread_mutex_lock(&mu);
	finished = 1;
	pthread_cond_broadcast(&done_cv);
	pthread_mutex_unlock(&mu);
	return NULL;
}

int output_tap_start(void)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	int saved = fcntl(2, F_DUPFD_CLOEXEC, 3);
	if (saved < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	fflush(stderr);
	/* fd 2 becomes the pipe; dup2 clears CLOEXEC so children inherit it. */
	if (dup2(p[1], 2) < 0) {
		close(p[0]);
		close(p[1]);
		close(saved);
		return -1;
	}
	close(p[1]);
	real_fd = saved;
	read_fd = p[0];
	running = 1;
	finished = 0;
	if (thread_start_detached(tap_main, NULL, 0) != 0) {
		dup2(real_fd, 2);
		close(real_fd);
		close(read_fd);
		real_fd = read_fd = -1;
		running = 0;
		return -1;
	}
	return 0;
}

void output_tap_stop(int timeout_ms)
{
	pthread_mutex_lock(&mu);
	if (!running) {
		pthread_mutex_unlock(&mu);
		return;
	}
	running = 0;
	pthread_mutex_unlock(&mu);
	fflush(stderr);
	/* Replacing fd 2 closes the pipe's last write end (children that
	 * inherited it aside), so the reader sees EOF after the backlog. */
	dup2(real_fd, 2);
	struct timespec dl = deadline_after(CLOCK_REALTIME, timeout_ms);
	pthread_mutex_lock(&mu);
	while (!finished)
		if (pthread_cond_timedwait(&done_cv, &mu, &dl) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&mu);
}
