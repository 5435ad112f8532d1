/* The sd_notify(3) protocol without libsystemd (which would load six more
 * libraries into every engine): one datagram per message to the AF_UNIX
 * socket named by NOTIFY_SOCKET ("/path" or "@abstract"). */
#include "launcher/sdnotify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int enabled;
static uint64_t wd_usec;
static struct sockaddr_un addr;
static socklen_t addr_len;

static int notify_addr(const char *path)
{
	size_t n = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || n < 2 || n >= sizeof(addr.sun_path))
		return -1;
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, path, n);
	if (path[0] == '@')
		addr.sun_path[0] = '\0'; /* abstract namespace: no terminating NUL */
	addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));
	return 0;
}

static void send_msg(const char *msg)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	while (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&addr, addr_len) < 0 &&
	       errno == EINTR)
		;
	close(fd);
}

static void __attribute__((format(printf, 1, 2))) notifyf(const char *fmt, ...)
{
	char buf[700];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	send_msg(buf);
}

/* WATCHDOG_USEC, for us (WATCHDOG_PID unset or ours), as sd_watchdog_enabled. */
static uint64_t watchdog_usec(void)
{
	const char *pid = getenv("WATCHDOG_PID"), *us = getenv("WATCHDOG_USEC");
	if (!us || (pid && strtol(pid, NULL, 10) != (long)getpid()))
		return 0;
	char *end;
	unsigned long long v = strtoull(us, &end, 10);
	return *us && !*end ? v : 0;
}

void sdn_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	enabled = path && notify_addr(path) == 0;
	wd_usec = enabled ? watchdog_usec() : 0;
}

int sdn_enabled(void) { return enabled; }
uint64_t sdn_watchdog_usec(void) { return wd_usec; }

void sdn_status(const char *fmt, ...)
{
	if (!enabled)
		return;
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	notifyf("STATUS=%s", buf);
}

void sdn_ready(const char *status)
{
	if (enabled)
		notifyf("READY=1\nSTATUS=%s", status);
}

void sdn_stopping(const char *status)
{
	if (enabled)
		notifyf("STOPPING=1\nSTATUS=%s", status);
}

void sdn_extend_timeout(uint64_t usec)
{
	if (enabled)
		notifyf("EXTEND_TIMEOUT_USEC=%llu", (unsigned long long)usec);
}

void sdn_watchdog(void)
{
	if (enabled && wd_usec)
		send_msg("WATCHDOG=1");
}

void sdn_mainpid(void)
{
	if (enabled)
		notifyf("MAINPID=%d", (int)getpid());
}
