#include "launcher/driver_host.h"

#include <string.h>

#include "base/log.h"
#include "shim/registry/advertise.h"

int master_is_local(const char *master)
{
	if (!master || !*master)
		return 1;
	return !strcmp(master, "local") || !strncmp(master, "local[", 6);
}

static int set_both(struct conf *spark_conf, struct conf *extra, const char *k, const char *v)
{
	return conf_set(spark_conf, k, v) < 0 || conf_set(extra, k, v) < 0 ? -1 : 0;
}

/* The bind address Spark would not find by itself, or NULL for its default. */
static const char *bind_address(const struct conf *c, const char *host)
{
	const char *connect_bind = conf_get(c, "spark.connect.grpc.binding.address");
	if (connect_bind && !advertise_is_wildcard(connect_bind))
		return connect_bind;
	return advertise_is_local(host) ? NULL : "0.0.0.0";
}

int driver_host_derive(struct conf *spark_conf, struct conf *extra, const char *host,
		       const char *host_from)
{
	if (master_is_local(conf_get(spark_conf, "spark.master")))
		return 0;
	const char *from = host_from ? host_from : "the local address";
	if (!conf_get(spark_conf, "spark.driver.host")) {
		if (set_both(spark_conf, extra, "spark.driver.host", host) < 0)
			return -1;
		log_info("driver address: spark.driver.host=%s (from %s, as advertised)", host, from);
	}
	if (!conf_get(spark_conf, "spark.driver.bindAddress")) {
		const char *b = bind_address(spark_conf, host);
		if (b) {
			if (set_both(spark_conf, extra, "spark.driver.bindAddress", b) < 0)
				return -1;
			log_info("driver address: spark.driver.bindAddress=%s (%s)", b,
				 strcmp(b, "0.0.0.0") ? "the connect server's bind address"
						      : "the host is not an address of this machine");
		}
	}
	return 0;
}
