#include "shim/registry/znode_name.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ZooKeeper refuses U+0000-U+001F and U+007F-U+009F in paths; the gateway
 * splits names at ';' and paths at '/'. */
static size_t bad_char_len(const unsigned char *p)
{
	if (*p < 0x20 || *p == 0x7f || *p == ';' || *p == '/')
		return 1;
	/* U+0080..U+009F is encoded as C2 80..C2 9F. */
	if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
		return 2;
	return 0;
}

char *znode_sanitize(const char *in, int *changed)
{
	if (changed)
		*changed = 0;
	char *out = strdup(in);
	if (!out)
		return NULL;
	/* Replacing a 2-byte sequence by one '_' only ever shrinks the string,
	 * so the copy is done in place. */
	const unsigned char *r = (const unsigned char *)in;
	char *w = out;
	while (*r) {
		size_t n = bad_char_len(r);
		if (n) {
			*w++ = '_';
			r += n;
			if (changed)
				*changed = 1;
		} else {
			*w++ = (char)*r++;
		}
	}
	*w = '\0';
	return out;
}

int znode_key_ok(const char *key)
{
	if (!key || !*key)
		return 0;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		if (*p == '=' || isspace(*p) || bad_char_len(p))
			return 0;
	return 1;
}

/* A growing malloc'd string; any failure sticks (buf freed, NULL). */
struct sbuf {
	char *buf;
	size_t len, cap;
};

static void sb_add(struct sbuf *sb, const char *s, size_t n)
{
	if (!sb->buf)
		return;
	if (sb->len + n + 1 > sb->cap) {
		size_t ncap = (sb->len + n + 1) * 2;
		char *nb = realloc(sb->buf, ncap);
		if (!nb) {
			free(sb->buf);
			sb->buf = NULL;
			return;
		}
		sb->buf = nb;
		sb->cap = ncap;
	}
	memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

static void sb_str(struct sbuf *sb, const char *s) { sb_add(sb, s, strlen(s)); }

/* Append a value with forbidden characters replaced. */
static void sb_clean(struct sbuf *sb, const char *s)
{
	char *clean = znode_sanitize(s, NULL);
	if (!clean) {
		free(sb->buf);
		sb->buf = NULL;
		return;
	}
	sb_str(sb, clean);
	free(clean);
}

char *znode_build_prefix(const char *ns, const char *host, int port, const char *version,
			 const struct znode_attr *attrs, size_t n_attrs, const char *ref_id)
{
	for (size_t i = 0; i < n_attrs; i++) {
		if (!znode_key_ok(attrs[i].key)) {
			errno = EINVAL;
			return NULL;
		}
	}
	struct sbuf sb = {.buf = malloc(256), .cap = 256};
	if (!sb.buf)
		return NULL;
	sb.buf[0] = '\0';
	char portbuf[16];
	snprintf(portbuf, sizeof(portbuf), "%d", port);

	/* The root namespace "/" must not give "//serverUri=...". */
	if (strcmp(ns, "/") != 0)
		sb_str(&sb, ns);
	sb_str(&sb, "/serverUri=");
	sb_clean(&sb, host);
	sb_str(&sb, ":");
	sb_str(&sb, portbuf);
	sb_str(&sb, ";version=");
	sb_clean(&sb, version);
	for (size_t i = 0; i < n_attrs; i++) {
		if (!attrs[i].value)
			continue;
		sb_str(&sb, ";");
		sb_str(&sb, attrs[i].key);
		sb_str(&sb, "=");
		sb_clean(&sb, attrs[i].value);
	}
	sb_str(&sb, ";");
	if (ref_id && *ref_id) {
		sb_str(&sb, "refId=");
		sb_clean(&sb, ref_id);
		sb_str(&sb, ";");
	}
	sb_str(&sb, "sequence=");
	if (!sb.buf)
		errno = ENOMEM;
	return sb.buf;
}

int znode_build_data(const char *host, int port, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s:%d", host, port);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

static char *path_error(char *err, size_t errlen, const char *fmt, const char *what)
{
	snprintf(err, errlen, fmt, what);
	errno = EINVAL;
	return NULL;
}

char *znode_normalize_path(const char *in, char *err, size_t errlen)
{
	if (!in || !*in)
		return path_error(err, errlen, "namespace '%s' is empty", in ? in : "");
	size_t len = strlen(in);
	char *out = malloc(len + 2);
	if (!out) {
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	size_t o = 0;
	if (in[0] != '/')
		out[o++] = '/';
	memcpy(out + o, in, len + 1);
	o += len;
	/* Curator drops one trailing '/' ("/kyuubi/" -> "/kyuubi"). */
	if (o > 1 && out[o - 1] == '/')
		out[--o] = '\0';
	if (strcmp(out, "/") == 0)
		return out;
	/* Check every element between separators. */
	const char *p = out + 1;
	for (;;) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
			free(out);
			return path_error(err, errlen,
					  "namespace '%s' has an empty, '.' or '..' element", in);
		}
		for (size_t i = 0; i < n; i++) {
			const unsigned char *c = (const unsigned char *)p + i;
			if (*c != ';' && bad_char_len(c)) {
				free(out);
				return path_error(err, errlen,
						  "namespace '%s' contains a control character", in);
			}
		}
		if (!e)
			break;
		p = e + 1;
	}
	return out;
}

int znode_url_hostport(const char *url, char *out, size_t outlen)
{
	if (!url || !*url)
		return -1;
	/* Kyuubi keeps what follows the last "//"; a path after it would turn
	 * the node name into a deeper path, so it is dropped here. */
	const char *s = url, *p;
	while ((p = strstr(s, "//")) != NULL)
		s = p + 2;
	size_t n = strcspn(s, "/");
	if (n == 0 || n >= outlen)
		return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

static int looks_like_version(const char *tok, size_t n)
{
	size_t i = 0;
	while (i < n && isdigit((unsigned char)tok[i]))
		i++;
	return i > 0 && i + 1 < n && tok[i] == '.' && isdigit((unsigned char)tok[i + 1]);
}

int znode_version_from_namespace(const char *ns, char *out, size_t outlen)
{
	if (!ns)
		return -1;
	while (*ns == '/')
		ns++;
	size_t first = strcspn(ns, "/");
	/* Skip the namespace's own first token: "<ns>_<version>_...". The
	 * version is the first later token that looks like one. */
	const char *p = memchr(ns, '_', first);
	while (p) {
		const char *tok = p + 1;
		const char *end = memchr(tok, '_', first - (size_t)(tok - ns));
		size_t n = end ? (size_t)(end - tok) : first - (size_t)(tok - ns);
		if (looks_like_version(tok, n)) {
			if (n >= outlen)
				return -1;
			memcpy(out, tok, n);
			out[n] = '\0';
			return 0;
		}
		p = end;
	}
	return -1;
}
