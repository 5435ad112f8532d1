/* Just enough JSON writing for `sparkshim ctl --json`: strings escaped per
 * RFC 8259, one object per line. */
#ifndef SPARKSHIM_JSON_OUT_H
#define SPARKSHIM_JSON_OUT_H

#include <stdint.h>
#include <stdio.h>

/* Write s as a quoted JSON string (NULL -> ""); bytes >= 0x80 pass through
 * (UTF-8 stays UTF-8), control characters become \uXXXX. */
void json_str(FILE *f, const char *s);

/* Object member helpers: `first` tracks whether a comma is needed. */
void json_kv_str(FILE *f, int *first, const char *key, const char *val);
void json_kv_int(FILE *f, int *first, const char *key, int64_t val);
void json_kv_bool(FILE *f, int *first, const char *key, int val);

#endif
