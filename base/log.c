#include "base/log.h"

#include <stdio.h>
#include <time.h>

static enum log_level min_level = LOG_INFO;
static const char *error_tag;

void log_set_error_tag(const char *tag) { error_tag = tag; }
static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void log_set_level(enum log_level min) { min_level = min; }

void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
	if (lvl < min_level)
		return;
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%y/%m/%d %H:%M:%S", &tm);
	/* One locked write per line so lines from several threads never mix. */
	flockfile(stderr);
	fprintf(stderr, "%s %s sparkshim: ", stamp, level_names[lvl]);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	fflush(stderr);
	funlockfile(stderr);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(lvl, fmt, ap);
	va_end(ap);
}

void die_msg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char msg[2048];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	flockfile(stderr);
	if (error_tag)
		fprintf(stderr, "%s: %s\n", error_tag, msg);
	fprintf(stderr, "sparkshim: error: %s\n", msg);
	fflush(stderr);
	funlockfile(stderr);
}
