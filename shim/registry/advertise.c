#include "shim/registry/advertise.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>


int advertise_is_wildcard(const char *host)
{
	static const char *const any[] = {"", "*", "0.0.0.0", "::", "[::]", "0:0:0:0:0:0:0:0",
					  NULL};
	for (size_t i = 0; any[i]; i++)
		if (strcmp(host, any[i]) == 0)
			return 1;
	return 0;
}

int advertise_host_ok(const char *host)
{
	size_t n = strlen(host);
	if (n == 0 || n >= 256)
		return 0;
	for (const unsigned char *p = (const unsigned char *)host; *p; p++)
		if (*p == ':' || *p == ';' || *p == '/' || *p <= ' ' || *p == 0x7f)
			return 0;
	return 1;
}

enum addr_kind { ADDR_LOOPBACK, ADDR_LINK_LOCAL };

/* 1 when sa is a loopback (127/8, ::1) or a link-local (169.254/16,
 * fe80::/10) address, as asked. */
static int addr_is(const struct sockaddr *sa, enum addr_kind kind)
{
	if (sa->sa_family == AF_INET) {
		uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
		return kind == ADDR_LOOPBACK ? (a >> 24) == 127 : (a >> 16) == 0xa9fe;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		return kind == ADDR_LOOPBACK ? IN6_IS_ADDR_LOOPBACK(a6) : IN6_IS_ADDR_LINKLOCAL(a6);
	}
	return 0;
}

static socklen_t sa_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET ? sizeof(struct sockaddr_in)
					: sizeof(struct sockaddr_in6);
}

static int numeric(const struct sockaddr *sa, char *out, size_t outlen)
{
	return getnameinfo(sa, sa_len(sa), out, (socklen_t)outlen, NULL, 0, NI_NUMERICHOST) == 0
		       ? 0
		       : -1;
}

/* Kyuubi walks the interfaces in reverse order of the OS listing and takes
 * the first usable address of the first interface that has one, IPv4 first.
 * Fills *best (a copy) and returns 0, or -1. */
static int scan_interfaces(struct sockaddr_storage *best)
{
	struct ifaddrs *ifs;
	if (getifaddrs(&ifs) < 0)
		return -1;
	/* Interface names in listing order, deduplicated, to walk backwards. */
	const char *names[64];
	size_t n = 0;
	for (struct ifaddrs *i = ifs; i && n < 64; i = i->ifa_next) {
		int seen = 0;
		for (size_t k = 0; k < n; k++)
			if (strcmp(names[k], i->ifa_name) == 0)
				seen = 1;
		if (!seen)
			names[n++] = i->ifa_name;
	}
	int rc = -1;
	for (size_t k = n; k-- > 0 && rc < 0;) {
		const struct sockaddr *v4 = NULL, *other = NULL;
		for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
			const struct sockaddr *sa = i->ifa_addr;
			if (strcmp(i->ifa_name, names[k]) != 0 || !sa || !(i->ifa_flags & IFF_UP) ||
			    (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) ||
			    addr_is(sa, ADDR_LOOPBACK) || addr_is(sa, ADDR_LINK_LOCAL))
				continue;
			if (sa->sa_family == AF_INET && !v4)
				v4 = sa;
			else if (!other)
				other = sa;
		}
		const struct sockaddr *pick = v4 ? v4 : other;
		if (pick) {
			memset(best, 0, sizeof(*best));
			memcpy(best, pick, sa_len(pick));
			rc = 0;
		}
	}
	freeifaddrs(ifs);
	return rc;
}

int advertise_resolves(const char *host, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc == 0) {
		freeaddrinfo(res);
		return 0;
	}
	snprintf(err, errlen, "%s", rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
	return -1;
}

int advertise_is_local(const char *host)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return 0;
	int local = 0;
	for (struct addrinfo *a = res; a && !local; a = a->ai_next) {
		int fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		/* Port 0: binding tells whether the address is one of ours
		 * without taking a port anyone wants. */
		local = bind(fd, a->ai_addr, a->ai_addrlen) == 0;
		close(fd);
	}
	freeaddrinfo(res);
	return local;
}

int advertise_interface_ip(char *out, size_t outlen)
{
	struct sockaddr_storage ss;
	if (scan_interfaces(&ss) < 0)
		return -1;
	return numeric((struct sockaddr *)&ss, out, outlen);
}

int advertise_local_host(int use_hostname, char *out, size_t outlen)
{
	char name[256];
	struct sockaddr_storage ss;
	int have = 0;
	if (gethostname(name, sizeof(name)) == 0) {
		name[sizeof(name) - 1] = '\0';
		struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
		struct addrinfo *res = NULL;
		if (getaddrinfo(name, NULL, &hints, &res) == 0 && res) {
			/* Java's InetAddress.getLocalHost takes the first answer. */
			memset(&ss, 0, sizeof(ss));
			memcpy(&ss, res->ai_addr, res->ai_addrlen);
			have = 1;
			freeaddrinfo(res);
		}
	}
	if (!have || addr_is((struct sockaddr *)&ss, ADDR_LOOPBACK)) {
		struct sockaddr_storage alt;
		if (scan_interfaces(&alt) == 0) {
			ss = alt;
			have = 1;
		}
	}
	if (!have)
		return -1;
	const struct sockaddr *sa = (const struct sockaddr *)&ss;
	if (use_hostname && getnameinfo(sa, sa_len(sa), out, (socklen_t)outlen, NULL, 0,
					NI_NAMEREQD) == 0 && advertise_host_ok(out))
		return 0;
	/* An IPv6 address cannot be published (see advertise.h). */
	if (sa->sa_family != AF_INET)
		return -1;
	return numeric(sa, out, outlen);
}

static int use_hostname(const struct conf *c, int *out, char *err, size_t errlen)
{
	const char *key = "kyuubi.frontend.connection.url.use.hostname";
	const char *v = kconf_get(c, key, &key);
	if (!v) {
		key = "kyuubi.engine.connection.url.use.hostname";
		v = kconf_get(c, key, &key);
	}
	if (!v) {
		*out = 1;
		return 0;
	}
	return conf_get_bool(c, key, 1, out, err, errlen);
}

static int configured(const char *key, const char *v, char *out, size_t outlen)
{
	if (!advertise_host_ok(v) || strlen(v) >= outlen) {
		snprintf(out, outlen,
			 "%s=%s: cannot be published (the gateway reads host:port; use a host "
			 "name or an IPv4 address)",
			 key, v);
		return -1;
	}
	snprintf(out, outlen, "%s", v);
	return 0;
}

int advertised_host(const struct conf *c, char *out, size_t outlen)
{
	return advertised_host_from(c, out, outlen, NULL);
}

int advertised_host_from(const struct conf *c, char *out, size_t outlen, const char **from)
{
	const char *unused;
	if (!from)
		from = &unused;
	const char *key = "kyuubi.frontend.advertised.host";
	const char *v = kconf_get(c, key, &key);
	*from = key;
	if (v && *v)
		return configured(key, v, out, outlen);

	*from = key = "spark.connect.grpc.binding.address";
	v = conf_get(c, key);
	if (v && !advertise_is_wildcard(v))
		return configured(key, v, out, outlen);

	/* The driver's own address, when the operator gave it: the engine is
	 * the driver, so one host serves the gateway and the executors. */
	*from = key = "spark.driver.host";
	v = conf_get(c, key);
	if (v && *v)
		return configured(key, v, out, outlen);

	*from = NULL;

	int by_name;
	char err[256];
	if (use_hostname(c, &by_name, err, sizeof(err)) < 0) {
		snprintf(out, outlen, "%s", err);
		return -1;
	}
	if (advertise_local_host(by_name, out, outlen) < 0) {
		snprintf(out, outlen,
			 "no usable local address to advertise; set "
			 "spark.kyuubi.frontend.advertised.host");
		return -1;
	}
	return 0;
}
