#include "shim/registry/app_mgr_info.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_val(char c)
{
	const char *p = c ? strchr(B64, c) : NULL;
	return p ? (int)(p - B64) : -1;
}

/* java.util.Base64.getDecoder(): standard alphabet, padding optional at
 * the end, nothing else accepted. */
static unsigned char *b64_decode(const char *s, size_t *n)
{
	size_t len = strlen(s);
	while (len && s[len - 1] == '=')
		len--;
	size_t pad = strlen(s) - len;
	if (pad > 2 || len % 4 == 1 || (pad && (len + pad) % 4 != 0))
		return NULL;
	unsigned char *out = malloc(len * 3 / 4 + 3);
	if (!out)
		return NULL;
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		int v = b64_val(s[i]);
		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	*n = o;
	return out;
}

static char *b64_encode(const unsigned char *in, size_t n)
{
	char *out = malloc((n + 2) / 3 * 4 + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? in[i + 2] : 0);
		out[o++] = B64[v >> 18 & 63];
		out[o++] = B64[v >> 12 & 63];
		out[o++] = i + 1 < n ? B64[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? B64[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

/* One UTF-8 sequence at s (n bytes left): its code point and length, or -1. */
static int utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	int len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : -1;
	if (len < 0 || s[0] >= 0xf8 || (size_t)len > n)
		return -1;
	uint32_t c = s[0] & (0x7f >> len);
	for (int i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		c = c << 6 | (s[i] & 0x3f);
	}
	static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
	if (c < min[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return -1;
	*cp = c;
	return len;
}

/* The JSON text with '?', DEL and non-ASCII characters as \uXXXX. */
static char *escape_json(const unsigned char *in, size_t n, size_t *outn)
{
	char *out = malloc(n * 12 + 1); /* worst: 4 bytes -> 2 x \uXXXX */
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		if (in[i] < 0x80) {
			if (in[i] == '?' || in[i] == 0x7f)
				o += (size_t)sprintf(out + o, "\\u%04x", in[i]);
			else
				out[o++] = (char)in[i];
			i++;
			continue;
		}
		uint32_t cp;
		int len = utf8_next(in + i, n - i, &cp);
		if (len < 0) {
			free(out);
			return NULL;
		}
		if (cp >= 0x10000) {
			cp -= 0x10000;
			o += (size_t)sprintf(out + o, "\\u%04x\\u%04x", 0xd800 + (cp >> 10),
					     0xdc00 + (cp & 0x3ff));
		} else {
			o += (size_t)sprintf(out + o, "\\u%04x", cp);
		}
		i += (size_t)len;
	}
	out[o] = '\0';
	*outn = o;
	return out;
}

int app_mgr_info_for_znode(const char *value, char **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!strchr(value, '/')) {
		*out = strdup(value);
		if (!*out)
			snprintf(err, errlen, "out of memory");
		return *out ? 0 : -1;
	}
	size_t n = 0;
	unsigned char *json = b64_decode(value, &n);
	if (!json) {
		snprintf(err, errlen, "not standard Base64 (as Kyuubi's ApplicationManagerInfo.serialize writes)");
		return -1;
	}
	size_t en = 0;
	char *esc = escape_json(json, n, &en);
	free(json);
	if (!esc) {
		snprintf(err, errlen, "does not decode to UTF-8 text");
		return -1;
	}
	*out = b64_encode((const unsigned char *)esc, en);
	free(esc);
	if (!*out) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}
