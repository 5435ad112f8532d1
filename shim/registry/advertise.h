/* Which host name the engine publishes for its connect endpoint, with
 * Kyuubi's precedence, plus the driver's own host:
 *   1. kyuubi.frontend.advertised.host
 *   2. the bind address (spark.connect.grpc.binding.address) unless it is a
 *      wildcard (0.0.0.0, ::, *)
 *   2b. spark.driver.host (not a Kyuubi step: the engine IS the driver;
 *      launcher/driver_host.c makes the driver use the host chosen here,
 *      so that one setting serves the gateway and the executors)
 *   3. the local address's canonical host name, or its IP when
 *      kyuubi.frontend.connection.url.use.hostname (falling back to
 *      kyuubi.engine.connection.url.use.hostname, default true) is false.
 *      The local address is the host name's address, or, when that is a
 *      loopback address, the first non-loopback, non-link-local address of
 *      the last interface that has one (IPv4 preferred), as Kyuubi picks it.
 * The gateway splits the node data at ':', so an IPv6 literal cannot be
 * published: configured ones are refused, discovered ones are skipped. */
#ifndef SPARKSHIM_ADVERTISE_H
#define SPARKSHIM_ADVERTISE_H

#include <stddef.h>

#include "base/conf.h"

/* 0 and the host in out, or -1 with a one-line reason in out (naming the
 * key and value when a configured value is unusable). */
int advertised_host(const struct conf *c, char *out, size_t outlen);

/* The same, and *from = the key that gave the host (with the prefix it was
 * found under), or NULL when it was discovered (step 3). */
int advertised_host_from(const struct conf *c, char *out, size_t outlen, const char **from);

/* 0 when host resolves (getaddrinfo), else -1 and the resolver's reason in
 * err. May consult the resolver (/etc/hosts, DNS). */
int advertise_resolves(const char *host, char *err, size_t errlen);

/* 1 when host resolves to an address of this machine (a bind to it, port 0,
 * succeeds), else 0. */
int advertise_is_local(const char *host);

/* 1 for addresses that mean "every interface". */
int advertise_is_wildcard(const char *host);

/* 1 when host can be published: non-empty, < 256 bytes, no ':', ';', '/',
 * whitespace or control characters. */
int advertise_host_ok(const char *host);

/* Step 3 alone (no conf): 0 and the name or IP in out, -1 when no address
 * could be found. May consult the resolver (/etc/hosts, DNS). */
int advertise_local_host(int use_hostname, char *out, size_t outlen);

/* The interface scan of step 3 alone (no resolver): 0 and the IP in out,
 * -1 when no interface has a usable address. */
int advertise_interface_ip(char *out, size_t outlen);

#endif
