/* Ordered key=value store for Spark-style configuration: --conf k=v,
 * --properties-file, spark-defaults.conf and the shim's own config file.
 * Later set() of the same key wins. Owns all its strings. */
#ifndef SPARKSHIM_CONF_H
#define SPARKSHIM_CONF_H

#include <stdint.h>
#include <stddef.h>

struct conf_entry {
	char *key;
	char *value;
};

struct conf {
	struct conf_entry *v;
	size_t n, cap;
};

void conf_init(struct conf *c);
void conf_free(struct conf *c);
int conf_set(struct conf *c, const char *key, const char *value); /* 0/-1 (ENOMEM) */
int conf_unset(struct conf *c, const char *key);                  /* 1 removed, 0 absent */
const char *conf_get(const struct conf *c, const char *key);      /* NULL if absent */
const char *conf_get_default(const struct conf *c, const char *key, const char *dflt);

/* Parse "k=v" (as --conf takes it). 0 ok, -1 when there is no '=' or the key
 * is empty. */
int conf_set_kv(struct conf *c, const char *kv);

/* Load a Java-properties style file (key=value, key value, key: value; '#'
 * and '!' comments). Returns 0, or -1 with errno set (ENOENT...) and, for a
 * syntax error, *bad_line set to the 1-based line number. */
int conf_load_file(struct conf *c, const char *path, int *bad_line);

/* Durations the way Kyuubi and Spark accept them: plain milliseconds
 * ("1800000"), ISO-8601 ("PT30M", "P1DT2H", "PT0.5S"), or Spark time strings
 * ("30s", "5min", "2h", "100ms", "1d"). Returns 0 and *ms, or -1. */
int parse_duration_ms(const char *s, int64_t *ms);

/* Typed getters: 0 ok (default used when absent), -1 bad value (error line
 * already formatted into err). */
int conf_get_duration(const struct conf *c, const char *key, int64_t dflt_ms,
		      int64_t *out, char *err, size_t errlen);
int conf_get_bool(const struct conf *c, const char *key, int dflt, int *out,
		  char *err, size_t errlen);
int conf_get_int(const struct conf *c, const char *key, long dflt, long min, long max,
		 long *out, char *err, size_t errlen);

/* Kyuubi keys. Kyuubi settings reach a Spark engine with a "spark." prefix
 * (spark.kyuubi.ha.addresses); the unprefixed form (kyuubi.ha.addresses) is
 * accepted too, and the prefixed one wins when both are set, as in Kyuubi's
 * engine. This is the one place that knows it.
 *
 * kconf_get: the value of "spark.<key>", else of "<key>"; NULL when neither
 * is set. *used (if given) is set to the key that matched (it lives as long
 * as the conf) and left alone otherwise. */
const char *kconf_get(const struct conf *c, const char *key, const char **used);
/* The spelling of key that is set ("spark.<key>" first), for error messages
 * and the typed getters; key itself when neither is set. */
const char *kconf_key(const struct conf *c, const char *key);
/* conf_get_duration on kconf_key(c, key). */
int kconf_get_duration(const struct conf *c, const char *key, int64_t dflt_ms, int64_t *out,
		       char *err, size_t errlen);

/* Cut leading and trailing whitespace in place; returns the first non-space. */
char *str_trim(char *s);

#endif
