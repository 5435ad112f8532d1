#include "base/suggest.h"

#include <stdlib.h>
#include <string.h>

#define MAXLEN 128

size_t suggest_distance(const char *a, const char *b, size_t cap)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > MAXLEN || lb > MAXLEN)
		return cap + 1;
	if ((la > lb ? la - lb : lb - la) > cap)
		return cap + 1;
	/* Three rows of the Damerau (optimal string alignment) table. */
	size_t r0[MAXLEN + 1], r1[MAXLEN + 1], r2[MAXLEN + 1];
	size_t *pp = r0, *p = r1, *c = r2;
	for (size_t j = 0; j <= lb; j++)
		p[j] = j;
	for (size_t i = 1; i <= la; i++) {
		c[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1];
			size_t best = p[j - 1] + cost;
			if (p[j] + 1 < best)
				best = p[j] + 1;
			if (c[j - 1] + 1 < best)
				best = c[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    pp[j - 2] + 1 < best)
				best = pp[j - 2] + 1;
			c[j] = best;
		}
		size_t *t = pp;
		pp = p;
		p = c;
		c = t;
	}
	return p[lb] > cap ? cap + 1 : p[lb];
}

const char *suggest_closest(const char *word, const void *cands, size_t n, size_t stride)
{
	size_t cap = strlen(word) / 3;
	if (cap < 2)
		cap = 2;
	const char *best = NULL;
	size_t best_d = cap + 1;
	for (size_t i = 0; i < n; i++) {
		const char *c = *(const char *const *)((const char *)cands + i * stride);
		if (!c)
			continue;
		size_t d = suggest_distance(word, c, cap);
		if (d < best_d) {
			best_d = d;
			best = c;
		}
	}
	return best;
}
