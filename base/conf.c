#include "base/conf.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void conf_init(struct conf *c) { memset(c, 0, sizeof(*c)); }

void conf_free(struct conf *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].key);
		free(c->v[i].value);
	}
	free(c->v);
	memset(c, 0, sizeof(*c));
}

static struct conf_entry *find(const struct conf *c, const char *key)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i].key, key) == 0)
			return &c->v[i];
	return NULL;
}

int conf_set(struct conf *c, const char *key, const char *value)
{
	char *nv = strdup(value);
	if (!nv)
		return -1;
	struct conf_entry *e = find(c, key);
	if (e) {
		free(e->value);
		e->value = nv;
		return 0;
	}
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 16;
		struct conf_entry *nvv = realloc(c->v, ncap * sizeof(*nvv));
		if (!nvv) {
			free(nv);
			return -1;
		}
		c->v = nvv;
		c->cap = ncap;
	}
	char *nk = strdup(key);
	if (!nk) {
		free(nv);
		return -1;
	}
	c->v[c->n].key = nk;
	c->v[c->n].value = nv;
	c->n++;
	return 0;
}

int conf_unset(struct conf *c, const char *key)
{
	struct conf_entry *e = find(c, key);
	if (!e)
		return 0;
	free(e->key);
	free(e->value);
	size_t i = (size_t)(e - c->v);
	memmove(&c->v[i], &c->v[i + 1], (c->n - i - 1) * sizeof(*e));
	c->n--;
	return 1;
}

const char *conf_get(const struct conf *c, const char *key)
{
	struct conf_entry *e = find(c, key);
	return e ? e->value : NULL;
}

const char *conf_get_default(const struct conf *c, const char *key, const char *dflt)
{
	const char *v = conf_get(c, key);
	return v ? v : dflt;
}

int conf_set_kv(struct conf *c, const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv)
		return -1;
	size_t klen = (size_t)(eq - kv);
	char *key = strndup(kv, klen);
	if (!key)
		return -1;
	int rc = conf_set(c, key, eq + 1);
	free(key);
	return rc;
}

char *str_trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int conf_load_file(struct conf *c, const char *path, int *bad_line)
{
	if (bad_line)
		*bad_line = 0;
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0, rc = 0;
	while (getline(&line, &cap, f) >= 0) {
		lineno++;
		char *s = str_trim(line);
		if (*s == '\0' || *s == '#' || *s == '!')
			continue;
		/* Properties syntax: the key ends at the first '=', ':' or blank. */
		size_t klen = strcspn(s, "=: \t");
		if (klen == 0) {
			if (bad_line)
				*bad_line = lineno;
			errno = EINVAL;
			rc = -1;
			break;
		}
		char *val = s + klen;
		while (isspace((unsigned char)*val))
			val++;
		if (*val == '=' || *val == ':')
			val++;
		val = str_trim(val);
		s[klen] = '\0';
		if (conf_set(c, s, val) < 0) {
			errno = ENOMEM;
			rc = -1;
			break;
		}
	}
	free(line);
	fclose(f);
	return rc;
}

/* ISO-8601 duration: P[nD][T[nH][nM][n(.n)S]] (weeks/months/years refused:
 * they have no fixed length, and Kyuubi's java.time.Duration refuses them too). */
static int parse_iso8601(const char *s, int64_t *ms)
{
	const char *p = s;
	int neg = 0;
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (toupper((unsigned char)*p++) != 'P')
		return -1;
	double total = 0;
	int in_time = 0, any = 0;
	while (*p) {
		if (toupper((unsigned char)*p) == 'T') {
			if (in_time)
				return -1;
			in_time = 1;
			p++;
			continue;
		}
		char *end;
		errno = 0;
		double v = strtod(p, &end);
		if (end == p || errno || v < 0)
			return -1;
		char unit = (char)toupper((unsigned char)*end);
		if (!in_time && unit == 'D')
			total += v * 86400e3;
		else if (in_time && unit == 'H')
			total += v * 3600e3;
		else if (in_time && unit == 'M')
			total += v * 60e3;
		else if (in_time && unit == 'S')
			total += v * 1e3;
		else
			return -1;
		any = 1;
		p = end + 1;
	}
	if (!any || total > 9.2e18)
		return -1;
	*ms = (int64_t)llround(neg ? -total : total);
	return 0;
}

int parse_duration_ms(const char *s, int64_t *ms)
{
	if (!s || !*s)
		return -1;
	if (toupper((unsigned char)s[0]) == 'P' ||
	    ((s[0] == '-' || s[0] == '+') && toupper((unsigned char)s[1]) == 'P'))
		return parse_iso8601(s, ms);
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (end == s || errno || v < 0)
		return -1;
	static const struct {
		const char *suffix;
		int64_t mult;
	} units[] = {
		{"", 1},       {"ms", 1},      {"s", 1000},    {"sec", 1000},
		{"m", 60000},  {"min", 60000}, {"h", 3600000}, {"d", 86400000},
	};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcasecmp(end, units[i].suffix) == 0) {
			if (v > INT64_MAX / units[i].mult)
				return -1;
			*ms = v * units[i].mult;
			return 0;
		}
	}
	return -1;
}

int conf_get_duration(const struct conf *c, const char *key, int64_t dflt_ms,
		      int64_t *out, char *err, size_t errlen)
{
	const char *v = conf_get(c, key);
	if (!v) {
		*out = dflt_ms;
		return 0;
	}
	if (parse_duration_ms(v, out) < 0) {
		snprintf(err, errlen,
			 "%s=%s: expected a duration (milliseconds, ISO-8601 like PT30M, or 30s/5min/2h)",
			 key, v);
		return -1;
	}
	return 0;
}

int conf_get_bool(const struct conf *c, const char *key, int dflt, int *out,
		  char *err, size_t errlen)
{
	const char *v = conf_get(c, key);
	if (!v) {
		*out = dflt;
		return 0;
	}
	if (strcasecmp(v, "true") == 0) {
		*out = 1;
		return 0;
	}
	if (strcasecmp(v, "false") == 0) {
		*out = 0;
		return 0;
	}
	snprintf(err, errlen, "%s=%s: expected true or false", key, v);
	return -1;
}

int conf_get_int(const struct conf *c, const char *key, long dflt, long min, long max,
		 long *out, char *err, size_t errlen)
{
	const char *v = conf_get(c, key);
	if (!v) {
		*out = dflt;
		return 0;
	}
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (end == v || *end || errno || n < min || n > max) {
		snprintf(err, errlen, "%s=%s: expected an integer from %ld to %ld", key, v,
			 min, max);
		return -1;
	}
	*out = n;
	return 0;
}

/* The entry for exactly `key`, so callers can name the key that matched. */
static const struct conf_entry *conf_entry_of(const struct conf *c, const char *key)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i].key, key) == 0)
			return &c->v[i];
	return NULL;
}

const char *kconf_get(const struct conf *c, const char *key, const char **used)
{
	const struct conf_entry *e = NULL;
	char pk[256];
	if (strncmp(key, "spark.", 6) != 0 &&
	    (size_t)snprintf(pk, sizeof(pk), "spark.%s", key) < sizeof(pk))
		e = conf_entry_of(c, pk);
	if (!e)
		e = conf_entry_of(c, key);
	if (!e)
		return NULL;
	if (used)
		*used = e->key; /* lives as long as the conf */
	return e->value;
}

const char *kconf_key(const struct conf *c, const char *key)
{
	const char *used = key;
	kconf_get(c, key, &used);
	return used;
}

int kconf_get_duration(const struct conf *c, const char *key, int64_t dflt_ms, int64_t *out,
		       char *err, size_t errlen)
{
	return conf_get_duration(c, kconf_key(c, key), dflt_ms, out, err, errlen);
}
