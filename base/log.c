#include "base/log.h"

#include <stdio.h>
#include <strings.h>
#include <time.h>

static enum log_level min_level = LOG_INFO;
static const char *volatile error_tag;

void log_set_error_tag(const char *tag) { error_tag = tag; }

const struct log_level_name log_level_names[] = {
	{"ALL", LOG_DEBUG, 0},	 {"TRACE", LOG_DEBUG, 0}, {"DEBUG", LOG_DEBUG, 1},
	{"INFO", LOG_INFO, 1},	 {"WARN", LOG_WARN, 1},	  {"ERROR", LOG_ERROR, 1},
	{"FATAL", LOG_ERROR, 0}, {"OFF", LOG_ERROR, 0},
};
const size_t n_log_level_names = sizeof(log_level_names) / sizeof(log_level_names[0]);

const char *log_level_name(enum log_level lvl)
{
	for (size_t i = 0; i < n_log_level_names; i++)
		if (log_level_names[i].own && log_level_names[i].level == lvl)
			return log_level_names[i].name;
	return "?";
}

const struct log_level_name *log_spark_level(const char *s)
{
	for (size_t i = 0; i < n_log_level_names; i++)
		if (strcasecmp(s, log_level_names[i].name) == 0)
			return &log_level_names[i];
	return NULL;
}

int log_level_parse(const char *s, enum log_level *out)
{
	const struct log_level_name *e = log_spark_level(s);
	if (!e || !e->own)
		return -1;
	*out = e->level;
	return 0;
}

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
	fprintf(stderr, "%s %s sparkshim: ", stamp, log_level_name(lvl));
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
