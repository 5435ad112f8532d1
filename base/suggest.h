/* "Did you mean": the candidate closest to a mistyped word. */
#ifndef SPARKSHIM_SUGGEST_H
#define SPARKSHIM_SUGGEST_H

#include <stddef.h>

/* Edit distance (insert, delete, substitute, swap two neighbours) between a
 * and b, capped: anything above cap counts as cap + 1. */
size_t suggest_distance(const char *a, const char *b, size_t cap);

/* The candidate (n of them, each reached as *(const char **)((char *)cands +
 * i * stride), so a field of a table of structs serves) closest to word, if
 * what differs after their common prefix is at most a third wrong (at least
 * one edit); else NULL. */
const char *suggest_closest(const char *word, const void *cands, size_t n, size_t stride);

#endif
