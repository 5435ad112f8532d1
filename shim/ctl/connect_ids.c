#include "shim/ctl/connect_ids.h"

#include <string.h>

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* Base-128 varint at *p (< end): 0 and *v, -1 when truncated or > 10 bytes. */
static int varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t r = 0;
	for (int shift = 0; shift < 70 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;
		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			return 0;
		}
	}
	return -1;
}

/* One field: its number, wire type and, for WT_LEN, the payload. Moves *p
 * past it. 0 / -1 (malformed). */
static int next_field(const uint8_t **p, const uint8_t *end, uint64_t *num, unsigned *wt,
		      const uint8_t **val, size_t *vlen)
{
	uint64_t tag, n;
	if (varint(p, end, &tag) < 0 || (tag >> 3) == 0)
		return -1;
	*num = tag >> 3;
	*wt = (unsigned)(tag & 7);
	*val = NULL;
	*vlen = 0;
	switch (*wt) {
	case WT_VARINT:
		return varint(p, end, &n);
	case WT_I64:
	case WT_I32: {
		size_t w = *wt == WT_I64 ? 8 : 4;
		if ((size_t)(end - *p) < w)
			return -1;
		*p += w;
		return 0;
	}
	case WT_LEN:
		if (varint(p, end, &n) < 0 || n > (uint64_t)(end - *p))
			return -1;
		*val = *p;
		*vlen = (size_t)n;
		*p += n;
		return 0;
	default:
		return -1; /* groups (3, 4) and the unused 6, 7 */
	}
}

/* UserContext: user_id = 1 (the last one wins). */
static int read_user_context(const uint8_t *p, size_t len, struct connect_ids *out)
{
	const uint8_t *end = p + len;
	while (p < end) {
		uint64_t num;
		unsigned wt;
		const uint8_t *v;
		size_t vlen;
		if (next_field(&p, end, &num, &wt, &v, &vlen) < 0)
			return -1;
		if (num == 1 && wt == WT_LEN) {
			out->user_id = v;
			out->user_len = vlen;
		}
	}
	return 0;
}

int connect_ids_read(const uint8_t *msg, size_t len, struct connect_ids *out)
{
	memset(out, 0, sizeof(*out));
	const uint8_t *p = msg, *end = msg + len;
	while (p < end) {
		uint64_t num;
		unsigned wt;
		const uint8_t *v;
		size_t vlen;
		if (next_field(&p, end, &num, &wt, &v, &vlen) < 0)
			return -1;
		if (wt != WT_LEN)
			continue;
		if (num == 1) {
			out->session_id = v;
			out->session_len = vlen;
		} else if (num == 2 && read_user_context(v, vlen, out) < 0) {
			return -1;
		}
	}
	return 0;
}
