/* A growable NULL-terminated vector of owned strings (argv-shaped). */
#ifndef SPARKSHIM_STRVEC_H
#define SPARKSHIM_STRVEC_H

#include <stddef.h>

struct strvec {
	char **v; /* always NULL-terminated once anything was pushed */
	size_t n, cap;
};

void strvec_init(struct strvec *s);
void strvec_free(struct strvec *s);
int strvec_push(struct strvec *s, const char *str);            /* 0 / -1 */
int strvec_pushf(struct strvec *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int strvec_push_n(struct strvec *s, const char *str, size_t len);
int strvec_insert(struct strvec *s, size_t at, const char *str);
void strvec_remove(struct strvec *s, size_t at);
/* Split a NUL-separated buffer into elements (a trailing NUL ends the last). */
int strvec_from_nul(struct strvec *s, const char *buf, size_t len);
/* Join with sep into a new malloc'd string (NULL on ENOMEM). */
char *strvec_join(const struct strvec *s, size_t from, const char *sep);

#endif
