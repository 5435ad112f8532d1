#ifndef SPARKSHIM_APP_MGR_INFO_H
#define SPARKSHIM_APP_MGR_INFO_H

/* kyuubi.engine.appMgrInfo as a znode name attribute.
 *
 * Kyuubi's ApplicationManagerInfo.serialize writes the JSON of the info with
 * java.util.Base64.getEncoder (standard alphabet, '=' padding), the engine
 * publishes it inside its znode name, and the gateway reads it back with
 * Base64.getDecoder, which refuses '_' and '-'. A '/' cannot stand in a
 * znode name (it would split the path). So:
 *  - a value without '/' is published exactly as given;
 *  - a value with '/' is decoded, the JSON re-written with \uXXXX escapes
 *    for '?', DEL and every non-ASCII character (equal JSON for Jackson),
 *    and encoded again with the standard alphabet: for such ASCII text
 *    standard Base64 never yields '/', which only comes from a 6-bit group
 *    of ones, i.e. from '?' or DEL at an offset of 2 mod 3 or from bytes
 *    >= 0x80.
 * Returns 0 with a malloc'd *out, or -1 (value not standard Base64 of
 * UTF-8 text: not publishable; *out NULL, err says why). */
#include <stddef.h>

int app_mgr_info_for_znode(const char *value, char **out, char *err, size_t errlen);

#endif
