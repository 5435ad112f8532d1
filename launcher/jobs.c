/* Worker threads for the main loop (see jobs.h). One detached thread per
 * job: a registration hung on ZooKeeper must not hold up the
 * deregistration that aborts it. */
#include "launcher/jobs.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/engine_info.h"
#include "base/events.h"
#include "base/log.h"
#include "base/thread.h"
#include "jni/jvm_host.h"
#include "launcher/engine_probe.h"
#include "shim/registry/registry.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;
static pthread_once_t cv_once = PTHREAD_ONCE_INIT;
static int reg_running;   /* a registration job is inside the registry */
static int reg_cancelled; /* deregistration began: no registration from now on */
static int reg_jobs;      /* registry workers alive */

static void init_cv(void) { cond_init_monotonic(&cv); }

/* Run fn on a detached thread; when no thread can be had, here. */
static void spawn(void *(*fn)(void *), void *arg)
{
	int rc = thread_start_detached(fn, arg, 0);
	if (rc != 0) {
		log_warn("no worker thread (%s): doing the work on the main thread", strerror(rc));
		fn(arg);
	}
}

static void reg_job_done(void)
{
	pthread_mutex_lock(&mu);
	reg_jobs--;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static void set_host(struct engine_info *e, void *arg)
{
	snprintf(e->connect_host, sizeof(e->connect_host), "%s", (const char *)arg);
}

/* SIGHUP: the advertised host may resolve differently now (a discovered
 * address that changed): publish what it is today. */
static void refresh_host(const struct conf *spark_conf)
{
	char host[256];
	struct engine_info e;
	engine_info_get(&e);
	if (advertised_host(spark_conf, host, sizeof(host)) == 0 &&
	    strcmp(host, e.connect_host) != 0) {
		log_info("SIGHUP: advertised host %s -> %s", e.connect_host, host);
		engine_info_update(set_host, host);
	}
}

/* arg: NULL = first registration, else the Spark conf (SIGHUP). */
static void *register_main(void *arg)
{
	int rereg = arg != NULL;
	if (rereg)
		refresh_host(arg);
	struct engine_info e;
	engine_info_get(&e);
	struct reg_endpoint ep = {
		.host = e.connect_host,
		.port = e.connect_port,
		.control_endpoint = e.control_endpoint,
		.app_id = e.app_id,
		.ui_url = e.ui_url,
	};
	char err[1024];
	int rc = -1, cancelled;
	pthread_mutex_lock(&mu);
	cancelled = reg_cancelled;
	pthread_mutex_unlock(&mu);
	if (!cancelled && rereg) {
		/* SIGHUP: keep the node unless its name or data change; then
		 * the new one is created before the old one goes. */
		rc = registry_update(&ep, err, sizeof(err));
		if (rc == 1)
			log_info("SIGHUP: the discovery node would not change; keeping it");
	} else if (!cancelled) {
		rc = registry_register(&ep, err, sizeof(err));
	}
	pthread_mutex_lock(&mu);
	reg_running = 0;
	cancelled = reg_cancelled;
	pthread_mutex_unlock(&mu);
	/* A registration aborted by the deregistration is no failure. */
	if (rc < 0 && !cancelled)
		events_post(EV_REG_FAILED, rereg, "%s", err);
	reg_job_done();
	return NULL;
}

static int start_register(const struct conf *rereg_conf)
{
	pthread_once(&cv_once, init_cv);
	pthread_mutex_lock(&mu);
	int busy = reg_running || reg_cancelled;
	if (!busy) {
		reg_running = 1;
		reg_jobs++;
	}
	pthread_mutex_unlock(&mu);
	if (busy)
		return -1;
	spawn(register_main, (void *)rereg_conf);
	return 0;
}

int jobs_register(void) { return start_register(NULL); }

int jobs_reregister(const struct conf *spark_conf) { return start_register(spark_conf); }

static void *deregister_main(void *arg)
{
	(void)arg;
	/* Each call aborts a registration in progress (and one that reset the
	 * registry after our previous call); once none runs, the last call
	 * removes whatever node it may have left. */
	for (;;) {
		registry_deregister();
		pthread_mutex_lock(&mu);
		int busy = reg_running;
		if (busy) {
			struct timespec dl = deadline_after(CLOCK_MONOTONIC, 50);
			pthread_cond_timedwait(&cv, &mu, &dl);
		}
		pthread_mutex_unlock(&mu);
		if (!busy)
			break;
	}
	int rc = registry_deregister();
	events_post(EV_REG_DEREGISTERED, rc, NULL);
	reg_job_done();
	return NULL;
}

void jobs_deregister(void)
{
	pthread_once(&cv_once, init_cv);
	pthread_mutex_lock(&mu);
	reg_cancelled = 1;
	reg_jobs++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	spawn(deregister_main, NULL);
}

int jobs_wait_registry(int timeout_ms)
{
	pthread_once(&cv_once, init_cv);
	struct timespec dl = deadline_after(CLOCK_MONOTONIC, timeout_ms);
	pthread_mutex_lock(&mu);
	while (reg_jobs > 0)
		if (pthread_cond_timedwait(&cv, &mu, &dl) == ETIMEDOUT)
			break;
	int left = reg_jobs;
	pthread_mutex_unlock(&mu);
	return left ? -1 : 0;
}

static void *activity_main(void *arg)
{
	struct jvm_activity a;
	int rc = jvm_query_activity(&a, (int)(intptr_t)arg);
	if (rc == 0)
		engine_info_update(engine_activity_update, &a);
	events_post(EV_ACTIVITY, rc < 0 ? -1 : 0, NULL);
	return NULL;
}

void jobs_query_activity(int timeout_ms)
{
	spawn(activity_main, (void *)(intptr_t)timeout_ms);
}

static void *quiesce_main(void *arg)
{
	probe_quiesce((int)(intptr_t)arg);
	events_post(EV_PROBE_QUIESCED, 0, NULL);
	return NULL;
}

void jobs_quiesce_probe(int timeout_ms)
{
	spawn(quiesce_main, (void *)(intptr_t)timeout_ms);
}
