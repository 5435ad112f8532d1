/* Control listen addresses: "host:port", "[v6]:port", "unix:/path".
 * Pure string work plus one bind() probe for error messages. */
#ifndef SPARKSHIM_CTL_ADDR_H
#define SPARKSHIM_CTL_ADDR_H

#include <stddef.h>

struct ctl_addr {
	int is_unix;       /* "unix:/path" (host/port unused) */
	char host[256];    /* without brackets: "127.0.0.1", "::1", "localhost" */
	int port;          /* 0..65535 */
};

/* 0 / -1 (err filled: empty, no port, bad port, relative unix path). */
int ctl_addr_parse(const char *s, struct ctl_addr *a, char *err, size_t errlen);

/* 1 when the host can only be reached from this machine: unix sockets,
 * "localhost", 127.0.0.0/8, ::1 and ::ffff:127.x. Anything else, including
 * wildcards (0.0.0.0, ::) and names, counts as remote. */
int ctl_addr_is_loopback(const struct ctl_addr *a);

/* "host:port" with brackets for IPv6 literals ("::1" -> "[::1]:p"; a host
 * already in brackets stays as it is). The one place that writes
 * host:port for a gRPC address. */
void ctl_addr_format(const char *host, int port, char *buf, size_t cap);

/* Why would bind(host:port) fail? Returns the errno of a plain TCP bind
 * attempt (EADDRINUSE, EADDRNOTAVAIL, EACCES...), 0 if it would succeed,
 * or -1 when the host does not resolve. */
int ctl_addr_bind_errno(const struct ctl_addr *a);

#endif
