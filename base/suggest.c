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
	const char *best = NULL;
	size_t best_d = (size_t)-1;
	for (size_t i = 0; i < n; i++) {
		const char *c = *(const char *const *)((const char *)cands + i * stride);
		if (!c || !strcmp(c, word))
			continue;
		/* A shared prefix ("sparkshim.", "--") says nothing about a
		 * typo: allow a third of what differs after it. */
		size_t p = 0;
		while (word[p] && word[p] == c[p])
			p++;
		size_t rest = strlen(word + p) > strlen(c + p) ? strlen(word + p) : strlen(c + p);
		size_t cap = rest / 3 ? rest / 3 : 1;
		size_t d = suggest_distance(word + p, c + p, cap);
		if (d <= cap && d < best_d) {
			best_d = d;
			best = c;
		}
	}
	return best;
}
