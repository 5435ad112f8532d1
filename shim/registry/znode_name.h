/* The discovery node's name, path and data, built exactly the way a
 * Kyuubi-style gateway parses them (pure string work, no ZooKeeper):
 *
 *   <namespace>/serverUri=<host>:<port>;version=<ver>[;<k>=<v>]...;refId=<id>;sequence=
 *
 * ZooKeeper appends the 10-digit sequence number; the node data is
 * "<host>:<port>". The gateway splits the name at ';' and each part at the
 * first '=', and splits the data at ':', so none of the pieces may carry a
 * ';' or a '/' (a '/' would even turn the name into a deeper path). */
#ifndef SPARKSHIM_ZNODE_NAME_H
#define SPARKSHIM_ZNODE_NAME_H

#include <stddef.h>

struct znode_attr {
	const char *key;   /* must pass znode_key_ok() */
	const char *value; /* sanitised while building; NULL is skipped */
};

/* Copy `in` into a new string with every character a node name cannot carry
 * (';', '/', control characters incl. DEL and the UTF-8 C1 range) replaced
 * by '_'. Returns NULL on ENOMEM. *changed (if given) is set to 1 when
 * anything was replaced, so the caller can say so in the log. */
char *znode_sanitize(const char *in, int *changed);

/* 1 when `key` can name an attribute: non-empty, and no ';', '/', '=',
 * whitespace or control characters. */
int znode_key_ok(const char *key);

/* The full path prefix to create with ZOO_EPHEMERAL_SEQUENTIAL.
 * `ns` must be normalised (znode_normalize_path); attrs in order; `ref_id`
 * NULL or "" leaves the refId part out (as for an engine without one).
 * Returns a malloc'd string or NULL (ENOMEM, or a key that fails
 * znode_key_ok: errno EINVAL). */
char *znode_build_prefix(const char *ns, const char *host, int port, const char *version,
			 const struct znode_attr *attrs, size_t n_attrs, const char *ref_id);

/* "<host>:<port>" into out. 0, or -1 when it does not fit. */
int znode_build_data(const char *host, int port, char *out, size_t outlen);

/* Normalise a namespace the way Curator's ZKPaths.makePath does (exactly one
 * leading '/', no trailing '/') and validate it as a ZooKeeper path: no empty,
 * "." or ".." element, no control characters. Returns a malloc'd path, or
 * NULL with a one-line reason in err (errno EINVAL or ENOMEM). */
char *znode_normalize_path(const char *in, char *err, size_t errlen);

/* The UI address as Kyuubi publishes it: the URL without its scheme
 * ("http://h:4040" -> "h:4040"), cut at the first '/' after that. 0 ok,
 * -1 when `url` is empty or the result does not fit. */
int znode_url_hostport(const char *url, char *out, size_t outlen);

/* The gateway version embedded in an engine space path
 * "/<ns>_<version>_<SHARE>_<TYPE>/..." (first path element; the first
 * '_'-separated token that looks like "<digits>.<digits>..."). 0 found,
 * -1 not found or does not fit. */
int znode_version_from_namespace(const char *ns, char *out, size_t outlen);

#endif
