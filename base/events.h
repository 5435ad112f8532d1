/* The main loop's inbox. Any thread (JVM host, gRPC control, ZooKeeper
 * watcher) posts an event; the main loop polls events_fd() next to the
 * signalfd and pops them. This keeps every decision about the process in
 * one thread (OpenBSD-daemon style) while workers only report. */
#ifndef SPARKSHIM_EVENTS_H
#define SPARKSHIM_EVENTS_H

enum ev_type {
	EV_JVM_CREATED,        /* JNI_CreateJavaVM returned OK */
	EV_JVM_CREATE_FAILED,  /* text: reason */
	EV_SPARK_MAIN_ENDED,   /* SparkSubmit.main returned; text: exception or "" */
	EV_JVM_DESTROYED,      /* DestroyJavaVM returned; JVM thread is gone */
	EV_SPARK_STOPPED,      /* graceful SparkConnectService stop finished; value: 0 ok/-1 */
	EV_CTL_DRAIN,          /* control service asked to drain */
	EV_CTL_STOP,           /* control service asked to stop; value: grace ms (-1 default) */
	EV_REG_NODE_DELETED,   /* gateway deleted our znode: graceful stop */
	EV_REG_LOST,           /* discovery connection lost beyond retry budget */
	EV_REG_REGISTERED,     /* text: znode path */
	EV_CONNECT_PORT,       /* value: the connect server's bound port */
	EV_PROBE,              /* value: 1 connect port answers, 0 it stopped answering */
	/* Results of the main loop's blocking work, done on worker threads
	 * (launcher/jobs.c) so the loop itself never waits: */
	EV_REG_CONNECT_FAILED, /* the registry connection made while the JVM boots failed; text: why */
	EV_REG_FAILED,         /* (re-)registration failed; value: 1 re-registration (SIGHUP); text: why */
	EV_REG_DEREGISTERED,   /* deregistration finished; value: 0 node gone, -1 not in time */
	EV_ACTIVITY,           /* fresh activity figures in engine_info; value: 0 ok, -1 no answer */
	EV_PROBE_QUIESCED,     /* the prober closed its channel to Spark (or gave up waiting) */
	EV__COUNT
};

struct shim_event {
	enum ev_type type;
	long long value;
	char text[1024];
};

int events_init(void);       /* 0 / -1 */
void events_close(void);
int events_fd(void);         /* readable while events are queued */
/* Thread-safe; never blocks; drops (and counts) events past the queue size. */
void events_post(enum ev_type type, long long value, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int events_pop(struct shim_event *out); /* 1 popped, 0 empty */
const char *event_name(enum ev_type type);

#endif
