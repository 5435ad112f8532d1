/*
 * FNV-1a, 64 bit: the start-up cache's keys and checksums (launcher results,
 * class-data archives). Not cryptographic: it tells inputs apart, it does not
 * resist someone choosing them (the cache dir is the user's own).
 */
#ifndef SPARKSHIM_FNV_H
#define SPARKSHIM_FNV_H

#include <stddef.h>
#include <stdint.h>

#define FNV1A64_OFFSET 0xcbf29ce484222325ULL

static inline uint64_t fnv1a64(uint64_t h, const void *d, size_t n)
{
	const unsigned char *p = d;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#endif
