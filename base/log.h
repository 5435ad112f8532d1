/* One log format for the whole shim, close to Spark's log4j console layout
 * (yy/MM/dd HH:mm:ss LEVEL Source: message) so the shim's lines read like the
 * engine log around them. Thread-safe; writes to stderr. */
#ifndef SPARKSHIM_LOG_H
#define SPARKSHIM_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* The one table of level names: every level Spark's
 * SparkContext.setLogLevel takes (log4j), with the shim level it maps to
 * (the shim never silences its errors: FATAL and OFF map to ERROR). The
 * entries marked `own` are the shim's own four names. */
struct log_level_name {
	const char *name;      /* upper case */
	enum log_level level;
	int own;
};
extern const struct log_level_name log_level_names[];
extern const size_t n_log_level_names;
/* The same names for messages and usage text, in table order. */
#define LOG_SPARK_LEVELS "ALL TRACE DEBUG INFO WARN ERROR FATAL OFF"

/* "DEBUG", "INFO", "WARN", "ERROR". */
const char *log_level_name(enum log_level lvl);
/* One of the shim's own names, any case. 0 / -1. */
int log_level_parse(const char *s, enum log_level *out);
/* Any Spark level name, any case: its table entry, or NULL. */
const struct log_level_name *log_spark_level(const char *s);

void log_set_level(enum log_level min);
void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level lvl, const char *fmt, va_list ap);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* The one-line user-facing error: "sparkshim: error: <msg>" on stderr. */
void die_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Launched by a gateway: also repeat each error as "<tag>: <msg>" (e.g.
 * "sparkshim.EngineStartException"), because Kyuubi's engine-log reader
 * builds the launch error from lines containing "Exception:". */
void log_set_error_tag(const char *tag);

#endif
