#include "launcher/sdnotify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

static int enabled;
static uint64_t wd_usec;

void sdn_init(void)
{
	enabled = getenv("NOTIFY_SOCKET") != NULL;
	wd_usec = 0;
	if (enabled && sd_watchdog_enabled(0, &wd_usec) <= 0)
		wd_usec = 0;
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
	sd_notifyf(0, "STATUS=%s", buf);
}

void sdn_ready(const char *status)
{
	if (enabled)
		sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void sdn_stopping(const char *status)
{
	if (enabled)
		sd_notifyf(0, "STOPPING=1\nSTATUS=%s", status);
}

void sdn_extend_timeout(uint64_t usec)
{
	if (enabled)
		sd_notifyf(0, "EXTEND_TIMEOUT_USEC=%llu", (unsigned long long)usec);
}

void sdn_watchdog(void)
{
	if (enabled && wd_usec)
		sd_notify(0, "WATCHDOG=1");
}

void sdn_mainpid(void)
{
	if (enabled)
		sd_notifyf(0, "MAINPID=%d", (int)getpid());
}
