#include "shim/ctl/ctl_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

int ctl_addr_parse(const char *s, struct ctl_addr *a, char *err, size_t errlen)
{
	memset(a, 0, sizeof(*a));
	if (!s || !*s) {
		snprintf(err, errlen, "empty control address");
		return -1;
	}
	if (strncmp(s, "unix:", 5) == 0) {
		/* gRPC resolves relative unix paths against its own cwd rules;
		 * insist on absolute ones so the socket is where the user thinks. */
		if (s[5] != '/') {
			snprintf(err, errlen, "control address %s: unix socket path must be absolute", s);
			return -1;
		}
		a->is_unix = 1;
		return 0;
	}
	const char *colon = strrchr(s, ':');
	size_t hl;
	const char *h = s;
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':') {
			snprintf(err, errlen, "control address %s: expected [ipv6]:port", s);
			return -1;
		}
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
		/* Brackets hold an IPv6 literal: a colon, no second bracket
		 * ("[[:1]:0" would format back as "[:1:0", "[unix]:0" as the
		 * unix socket "unix:0"). */
		if (memchr(h, '[', hl) || !memchr(h, ':', hl)) {
			snprintf(err, errlen, "control address %s: expected [ipv6]:port", s);
			return -1;
		}
	} else {
		if (!colon || strchr(s, ':') != colon) {
			snprintf(err, errlen, "control address %s: expected host:port, [ipv6]:port or unix:/path", s);
			return -1;
		}
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(a->host)) {
		snprintf(err, errlen, "control address %s: missing or overlong host", s);
		return -1;
	}
	char *end;
	errno = 0;
	long p = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end || errno || p < 0 || p > 65535) {
		snprintf(err, errlen, "control address %s: bad port", s);
		return -1;
	}
	memcpy(a->host, h, hl);
	a->host[hl] = '\0';
	a->port = (int)p;
	return 0;
}

int ctl_addr_is_loopback(const struct ctl_addr *a)
{
	if (a->is_unix)
		return 1;
	if (strcasecmp(a->host, "localhost") == 0)
		return 1;
	struct in_addr v4;
	if (inet_pton(AF_INET, a->host, &v4) == 1)
		return (ntohl(v4.s_addr) >> 24) == 127;
	struct in6_addr v6;
	if (inet_pton(AF_INET6, a->host, &v6) == 1) {
		if (IN6_IS_ADDR_LOOPBACK(&v6))
			return 1;
		return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
	}
	return 0;
}

void ctl_addr_format(const char *host, int port, char *buf, size_t cap)
{
	/* A bare IPv6 literal needs brackets before the port. */
	snprintf(buf, cap, strchr(host, ':') && host[0] != '[' ? "[%s]:%d" : "%s:%d", host, port);
}

int ctl_addr_bind_errno(const struct ctl_addr *a)
{
	if (a->is_unix)
		return 0;
	char port[8];
	snprintf(port, sizeof(port), "%d", a->port);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res;
	if (getaddrinfo(a->host, port, &hints, &res) != 0)
		return -1;
	int e = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		int one = 1;
		/* Same option gRPC sets, so TIME_WAIT leftovers do not mislead. */
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 && !e)
			e = errno;
		close(fd);
	}
	freeaddrinfo(res);
	return e;
}
