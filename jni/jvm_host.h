/* The JVM inside our process: created on a dedicated big-stack thread with
 * -Xrs, running org.apache.spark.deploy.SparkSubmit.main like spark-class
 * would in a second process. Everything else talks to Java only through the
 * functions here; each is safe from any thread, bounded by timeout_ms, and
 * returns -1 when the JVM is not up or does not answer in time.
 *
 * The JVM thread reports through events_post(): EV_JVM_CREATED,
 * EV_JVM_CREATE_FAILED, EV_SPARK_MAIN_ENDED, EV_JVM_DESTROYED. */
#ifndef SPARKSHIM_JVM_HOST_H
#define SPARKSHIM_JVM_HOST_H

#include <stddef.h>
#include <stdint.h>

struct jvm_launch {
	const char *libjvm_path;   /* absolute path of libjvm.so */
	char **options;            /* JavaVMOption strings (-D..., -Xmx..., --add-opens=...) */
	size_t n_options;
	const char *main_class;    /* dotted, e.g. org.apache.spark.deploy.SparkSubmit */
	char **args;               /* main(String[]) arguments */
	size_t n_args;
	size_t stack_size;         /* of the JVM's main thread; 0 = 8 MiB */
	/* Called from the JVM's own hooks, on whatever thread the VM uses, with
	 * the VM in an exit or crash path: do only async-safe-ish C cleanup
	 * (no JNI) and may _exit(). NULL = ignore. */
	void (*on_exit)(int status);   /* System.exit / Runtime.halt */
	void (*on_abort)(void);        /* fatal error: hs_err written, about to abort */
	void (*on_oom_exit)(void);     /* -XX:+ExitOnOutOfMemoryError is about to _exit(3) */
	/* On the JVM thread right after JNI_CreateJavaVM succeeded, before
	 * EV_JVM_CREATED (no JNI; e.g. look at what the VM mapped). NULL = none. */
	void (*on_created)(void);
};

struct jvm_app_info {
	char app_id[128];
	char app_name[256];
	char spark_version[64];
	char ui_url[300];
};

struct jvm_activity {
	int active_operations;  /* -1 unknown */
	/* Of those, the ones a client RPC is attached to (results still being
	 * sent); the rest finished sending and wait for ReleaseExecute or
	 * Spark's detach timeout. -1 unknown. */
	int attached_operations;
	/* When nothing runs, Spark's own "last activity" mark (epoch ms in
	 * older releases, System.nanoTime() in newer ones): opaque, only ever
	 * compared with an earlier value. -1 unknown. */
	int64_t idle_since_token;
	int open_sessions;              /* Spark Connect sessions open now; -1 unknown */
	/* Latest access to any open session (epoch ms, Spark's clock = ours);
	 * -1 when Spark does not keep access times (3.5) or none is open. */
	int64_t last_session_access_ms;
};

/* Start the JVM thread. 0 = thread started (creation result comes as an
 * event), -1 = could not even start (err filled). */
int jvm_host_start(const struct jvm_launch *launch, char *err, size_t errlen);

/* The connect server's actual port: >0 port, 0 = not bound yet, -1 = error. */
int jvm_connect_port(int timeout_ms);

/* Graceful Spark Connect stop (server shutdown + awaitTermination(timeout)),
 * in the background; posts EV_SPARK_STOPPED (value 0 ok, -1 failed).
 * idle: no operation runs, so idle client channels must not hold the stop:
 * calls in flight get a short grace (300 ms at most), then the server's
 * channels close at once (shutdownNow). */
int jvm_stop_spark_async(int64_t timeout_ms, int idle);

int jvm_query_app(struct jvm_app_info *out, int timeout_ms);
int jvm_query_activity(struct jvm_activity *out, int timeout_ms);
int jvm_heap(int64_t *used, int64_t *max, int timeout_ms);
/* SparkContext.setLogLevel(level); err gets the Java message on failure. */
int jvm_set_log_level(const char *level, char *err, size_t errlen, int timeout_ms);
/* Thread dump of every Java thread, jstack format, written to stderr from a
 * thread of its own (so it works while a stop is waiting on Spark).
 * wait_ms > 0: wait up to that long for it to finish.
 * 0 = started, -1 = the JVM is not up. */
int jvm_thread_dump(int wait_ms);

/* Runtime.getRuntime().exit(status) from the ops thread, in the background:
 * Java shutdown hooks run (Spark stops its context), then the exit hook. Used
 * when Spark cannot be stopped through the connect service (still starting). */
int jvm_exit_async(int status);

/* Last message the VM itself printed (vfprintf hook), e.g. why
 * JNI_CreateJavaVM refused an option. "" if none. */
void jvm_last_vm_message(char *buf, size_t len);

#endif
