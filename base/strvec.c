#include "base/strvec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void strvec_init(struct strvec *s) { memset(s, 0, sizeof(*s)); }

void strvec_free(struct strvec *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static int reserve(struct strvec *s)
{
	if (s->n + 2 <= s->cap)
		return 0;
	size_t ncap = s->cap ? s->cap * 2 : 16;
	char **nv = realloc(s->v, ncap * sizeof(*nv));
	if (!nv)
		return -1;
	s->v = nv;
	s->cap = ncap;
	return 0;
}

static int insert_owned(struct strvec *s, size_t at, char *str)
{
	if (!str || reserve(s) < 0) {
		free(str);
		return -1;
	}
	memmove(&s->v[at + 1], &s->v[at], (s->n - at) * sizeof(*s->v));
	s->v[at] = str;
	s->n++;
	s->v[s->n] = NULL;
	return 0;
}

int strvec_push(struct strvec *s, const char *str) { return insert_owned(s, s->n, strdup(str)); }

int strvec_push_n(struct strvec *s, const char *str, size_t len)
{
	return insert_owned(s, s->n, strndup(str, len));
}

int strvec_insert(struct strvec *s, size_t at, const char *str)
{
	if (at > s->n)
		return -1;
	return insert_owned(s, at, strdup(str));
}

int strvec_pushf(struct strvec *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *str = NULL;
	int rc = vasprintf(&str, fmt, ap);
	va_end(ap);
	if (rc < 0)
		return -1;
	return insert_owned(s, s->n, str);
}

void strvec_remove(struct strvec *s, size_t at)
{
	if (at >= s->n)
		return;
	free(s->v[at]);
	memmove(&s->v[at], &s->v[at + 1], (s->n - at) * sizeof(*s->v));
	s->n--;
}

int strvec_from_nul(struct strvec *s, const char *buf, size_t len)
{
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		if (buf[i] != '\0')
			continue;
		if (strvec_push_n(s, buf + start, i - start) < 0)
			return -1;
		start = i + 1;
	}
	if (start < len && strvec_push_n(s, buf + start, len - start) < 0)
		return -1;
	return 0;
}

char *strvec_join(const struct strvec *s, size_t from, const char *sep)
{
	size_t total = 1, seplen = strlen(sep);
	for (size_t i = from; i < s->n; i++)
		total += strlen(s->v[i]) + seplen;
	char *out = malloc(total);
	if (!out)
		return NULL;
	char *p = out;
	for (size_t i = from; i < s->n; i++) {
		if (i > from) {
			memcpy(p, sep, seplen);
			p += seplen;
		}
		size_t l = strlen(s->v[i]);
		memcpy(p, s->v[i], l);
		p += l;
	}
	*p = '\0';
	return out;
}
