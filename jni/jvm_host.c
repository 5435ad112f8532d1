/* The JVM inside our process.
 *
 * Two threads of ours talk to Java:
 *  - the JVM thread: dlopen(libjvm), JNI_CreateJavaVM, SparkSubmit.main(),
 *    DestroyJavaVM. It is Java's "main" thread, exactly as with the java
 *    launcher, and it is a thread we create with a big stack (the process's
 *    primordial thread has no proper guard pages for HotSpot).
 *  - the ops thread: attached as a daemon, it runs every other JNI call
 *    (port, stop, status) from a queue, so that callers elsewhere only ever
 *    wait with a timeout and a wedged JVM cannot wedge the shim.
 *
 * Spark classes are loaded through the context class loader of Java's main
 * thread: SparkSubmit puts --jars/--packages (the Spark 3.5 connect jar) in a
 * child loader there, which the system loader cannot see. */
#include "jni/jvm_host.h"
#include "base/clock.h"

#include <dlfcn.h>
#include <errno.h>
#include <jni.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/events.h"
#include "base/log.h"
#include "base/strvec.h"
#include "base/thread.h"
#include "jni/jni_util.h"

#define CONNECT_SERVICE "org.apache.spark.sql.connect.service.SparkConnectService$"
#define CONNECT_SERVICE_LOGGER "org.apache.spark.sql.connect.service.SparkConnectService"
#define SPARK_CONTEXT "org.apache.spark.SparkContext$"
#define SESSION_MANAGER_SIG "()Lorg/apache/spark/sql/connect/service/SparkConnectSessionManager;"
#define SESSION_CACHE_SIG "()Lorg/sparkproject/connect/guava/cache/Cache;"

/* With no operation running, the connect server gets this long to finish
 * calls in flight (a Config, a ReleaseSession) before its channels close. */
#define IDLE_STOP_GRACE_MS 300

enum op_type { OP_PORT, OP_STOP, OP_STOP_IDLE, OP_APP, OP_ACTIVITY, OP_HEAP, OP_LOGLEVEL, OP_EXIT };

struct op {
	enum op_type type;
	int64_t arg;
	char arg_str[64];
	int rc;
	union {
		int port;
		struct jvm_app_info app;
		struct jvm_activity act;
		int64_t heap[2];
	} out;
	char err[512];
	int done;
	int refs; /* waiter + ops thread; last one frees */
	struct op *next;
};

/* The host's state; one JVM per process, as JNI allows. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct op *head, *tail;
	int ops_running; /* ops thread accepts work */
	JavaVM *vm;
	jobject main_thread; /* global ref, Java's main Thread */
	struct jvm_launch launch;
	struct strvec options, args;
	char *main_class;
	char last_vm_msg[512];
	unsigned dumps_done;
} H = {.mu = PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t cv_once = PTHREAD_ONCE_INIT;

static void init_cv(void)
{
	cond_init_monotonic(&H.cv);
}

/* ---- VM hooks (run inside the VM's exit/crash paths: no JNI here) ---- */

static void JNICALL hook_exit(jint status)
{
	if (H.launch.on_exit)
		H.launch.on_exit((int)status);
}

static void JNICALL hook_abort(void)
{
	if (H.launch.on_abort)
		H.launch.on_abort();
}

static jint JNICALL hook_vfprintf(FILE *fp, const char *fmt, va_list ap)
{
	char buf[1024];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	if (n < 0)
		return n;
	fputs(buf, fp ? fp : stderr);
	/* Remember the last non-blank line: JNI_CreateJavaVM failures are only
	 * ever explained here ("Invalid maximum heap size: -Xmx1zz"). */
	size_t len = strnlen(buf, sizeof(buf));
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	if (len) {
		pthread_mutex_lock(&H.mu);
		snprintf(H.last_vm_msg, sizeof(H.last_vm_msg), "%.*s",
			 (int)sizeof(H.last_vm_msg) - 1, buf);
		pthread_mutex_unlock(&H.mu);
	}
	if (strstr(buf, "Terminating due to java.lang.OutOfMemoryError") && H.launch.on_oom_exit)
		H.launch.on_oom_exit();
	return n;
}

void jvm_last_vm_message(char *buf, size_t len)
{
	pthread_mutex_lock(&H.mu);
	snprintf(buf, len, "%s", H.last_vm_msg);
	pthread_mutex_unlock(&H.mu);
}

/* ---- the ops thread ---- */

static int op_port(JNIEnv *env, struct op *op)
{
	jobject svc = ju_scala_object(env, H.main_thread, CONNECT_SERVICE);
	if (!svc) {
		op->out.port = 0; /* Spark not that far yet */
		return 0;
	}
	jint port = 0;
	/* localPort asserts the server exists: an AssertionError means "not yet". */
	if (ju_call_int(env, svc, "localPort", "()I", &port, NULL, 0) < 0)
		port = 0;
	(*env)->DeleteLocalRef(env, svc);
	op->out.port = port;
	return 0;
}

/* Spark 4's SparkConnectServer main stops the service once its gRPC server
 * has ended, when the service still counts as started: with our stop
 * running, it always does, and its stop then only logs WARN "The Spark
 * Connect service has already been stopped." on every clean stop. That
 * logger says nothing else while stopping: raise it to ERROR first
 * (log4j2's Configurator; without log4j nothing changes). */
static void quiet_second_stop(JNIEnv *env)
{
	jclass cfg = ju_load_class(env, H.main_thread,
				   "org.apache.logging.log4j.core.config.Configurator");
	jclass lvl = cfg ? ju_load_class(env, H.main_thread, "org.apache.logging.log4j.Level")
			 : NULL;
	jmethodID to_level =
		lvl ? (*env)->GetStaticMethodID(env, lvl, "toLevel",
						"(Ljava/lang/String;)Lorg/apache/logging/log4j/Level;")
		    : NULL;
	jmethodID set =
		to_level ? (*env)->GetStaticMethodID(env, cfg, "setLevel",
						     "(Ljava/lang/String;Lorg/apache/logging/log4j/Level;)V")
			 : NULL;
	jstring name = set ? (*env)->NewStringUTF(env, CONNECT_SERVICE_LOGGER) : NULL;
	jstring error = name ? (*env)->NewStringUTF(env, "ERROR") : NULL;
	jobject level = error ? (*env)->CallStaticObjectMethod(env, lvl, to_level, error) : NULL;
	if (level && !(*env)->ExceptionCheck(env))
		(*env)->CallStaticVoidMethod(env, cfg, set, name, level);
	ju_take_exception(env, NULL, 0);
}

/* svc.server().shutdownNow(): close every channel of the connect server
 * now. grpc-java's graceful shutdown waits for each connected client to
 * acknowledge its GOAWAY, seconds for a busy or frozen client holding an
 * idle session. Server is shaded differently per Spark build, so it is
 * reached by name. */
static void close_channels(JNIEnv *env, jobject svc)
{
	char err[256];
	jobject srv = NULL;
	if (ju_call_by_name(env, svc, "server", &srv, err, sizeof(err)) < 0 || !srv ||
	    ju_call_by_name(env, srv, "shutdownNow", NULL, err, sizeof(err)) < 0)
		log_warn("could not close the connect server's channels at once: %s",
			 srv ? err : "no server");
	if (srv)
		(*env)->DeleteLocalRef(env, srv);
}

/* OP_STOP: SparkConnectService.stop(Some(timeout), Some(ms)): graceful, calls
 * in flight get up to the timeout. OP_STOP_IDLE (no operation runs): the
 * same with a short grace, then the channels close at once. */
static int op_stop(JNIEnv *env, struct op *op)
{
	jobject svc = ju_scala_object(env, H.main_thread, CONNECT_SERVICE);
	if (!svc) {
		snprintf(op->err, sizeof(op->err), "Spark Connect service class is not loaded");
		return -1;
	}
	int idle = op->type == OP_STOP_IDLE;
	int64_t grace = idle && op->arg > IDLE_STOP_GRACE_MS ? IDLE_STOP_GRACE_MS : op->arg;
	jobject some_timeout = ju_scala_some(env, H.main_thread, ju_box_long(env, grace));
	jobject some_unit = ju_scala_some(env, H.main_thread, ju_time_unit_ms(env));
	int rc = -1;
	quiet_second_stop(env);
	if (some_timeout && some_unit)
		rc = ju_call_void(env, svc, "stop", "(Lscala/Option;Lscala/Option;)V", op->err,
				  sizeof(op->err), some_timeout, some_unit);
	else
		ju_take_exception(env, op->err, sizeof(op->err));
	if (rc == 0 && idle)
		close_channels(env, svc);
	(*env)->DeleteLocalRef(env, svc);
	return rc;
}

static jobject active_spark_context(JNIEnv *env, char *err, size_t errlen)
{
	jobject mod = ju_scala_object(env, H.main_thread, SPARK_CONTEXT);
	if (!mod) {
		snprintf(err, errlen, "SparkContext is not loaded yet");
		return NULL;
	}
	jobject opt = NULL;
	if (ju_call_object(env, mod, "getActive", "()Lscala/Option;", &opt, err, errlen) < 0) {
		(*env)->DeleteLocalRef(env, mod);
		return NULL;
	}
	(*env)->DeleteLocalRef(env, mod);
	jobject sc = ju_option_get(env, opt);
	if (!sc)
		snprintf(err, errlen, "no active SparkContext");
	return sc;
}

static int op_app(JNIEnv *env, struct op *op)
{
	jobject sc = active_spark_context(env, op->err, sizeof(op->err));
	if (!sc)
		return -1;
	struct jvm_app_info *a = &op->out.app;
	ju_call_string(env, sc, "applicationId", a->app_id, sizeof(a->app_id));
	ju_call_string(env, sc, "appName", a->app_name, sizeof(a->app_name));
	ju_call_string(env, sc, "version", a->spark_version, sizeof(a->spark_version));
	jobject ui = NULL;
	if (ju_call_object(env, sc, "uiWebUrl", "()Lscala/Option;", &ui, NULL, 0) == 0) {
		jobject url = ju_option_get(env, ui);
		if (url)
			ju_string(env, url, a->ui_url, sizeof(a->ui_url));
	}
	(*env)->DeleteLocalRef(env, sc);
	return 0;
}

/* Element i of a Scala Seq through its apply(I); NULL (exception cleared)
 * when it cannot be read. */
static jobject seq_at(JNIEnv *env, jobject seq, jint i)
{
	jclass cls = (*env)->GetObjectClass(env, seq);
	jmethodID apply = (*env)->GetMethodID(env, cls, "apply", "(I)Ljava/lang/Object;");
	(*env)->DeleteLocalRef(env, cls);
	jobject v = apply ? (*env)->CallObjectMethod(env, seq, apply, i) : NULL;
	if (ju_take_exception(env, NULL, 0))
		return NULL;
	return v;
}

/* Spark 4.x: sessionManager().listActiveSessions(), a Seq of
 * SessionHolderInfo, each with its lastAccessTimeMs (touched by every RPC of
 * that session). 0 = read, -1 = no session manager (Spark 3.5). */
static int read_session_manager(JNIEnv *env, jobject svc, struct jvm_activity *a)
{
	jobject mgr = NULL, list = NULL;
	if (ju_call_object(env, svc, "sessionManager", SESSION_MANAGER_SIG, &mgr, NULL, 0) < 0 ||
	    !mgr)
		return -1;
	int rc = ju_call_object(env, mgr, "listActiveSessions", "()Lscala/collection/immutable/Seq;",
				&list, NULL, 0);
	(*env)->DeleteLocalRef(env, mgr);
	jint n = -1;
	if (rc < 0 || !list || ju_call_int(env, list, "length", "()I", &n, NULL, 0) < 0)
		return 0; /* a manager we cannot read: both figures stay unknown */
	int64_t latest = -1;
	for (jint i = 0; i < n; i++) {
		jobject info = seq_at(env, list, i);
		jlong t = -1;
		if (!info || ju_call_long(env, info, "lastAccessTimeMs", "()J", &t) < 0)
			return 0; /* unreadable entry: unknown this time (the op's frame frees refs) */
		if (t > latest)
			latest = t;
		(*env)->DeleteLocalRef(env, info);
	}
	a->open_sessions = n;
	a->last_session_access_ms = latest;
	return 0;
}

/* Spark 3.5: the sessions live in a private Guava cache (JNI may read private
 * members); it keeps no access time, so only the count is known. */
static void read_session_cache(JNIEnv *env, jobject svc, struct jvm_activity *a)
{
	jobject cache = NULL;
	jlong n = -1;
	if (ju_call_object(env, svc, "userSessionMapping", SESSION_CACHE_SIG, &cache, NULL, 0) < 0 ||
	    !cache)
		return;
	if (ju_call_long(env, cache, "size", "()J", &n) == 0 && n >= 0)
		a->open_sessions = (int)n;
	(*env)->DeleteLocalRef(env, cache);
}

static void read_sessions(JNIEnv *env, jobject svc, struct jvm_activity *a)
{
	if (read_session_manager(env, svc, a) < 0)
		read_session_cache(env, svc, a);
}

/* The accessor of ExecuteInfo's "detached since" mark: None while a client
 * RPC (ExecutePlan, ReattachExecute) is attached to the operation. */
static const char *const detached_mark[] = {
	"lastAttachedRpcTimeNs", /* 4.1+ */
	"lastAttachedRpcTimeMs", /* 4.0 */
	"lastAttachedRpcTime",   /* 3.5 */
};

/* How many of the n ExecuteInfos in seq have a client RPC attached, i.e.
 * are still sending results; -1 unknown. */
static int count_attached(JNIEnv *env, jobject seq, jint n)
{
	int attached = 0;
	for (jint i = 0; i < n; i++) {
		jobject info = seq_at(env, seq, i);
		if (!info)
			return -1;
		jobject mark = NULL;
		for (size_t k = 0; !mark && k < sizeof(detached_mark) / sizeof(detached_mark[0]); k++)
			ju_call_object(env, info, detached_mark[k], "()Lscala/Option;", &mark, NULL, 0);
		(*env)->DeleteLocalRef(env, info);
		if (!mark)
			return -1;
		jboolean empty = JNI_FALSE;
		int rc = ju_call_bool(env, mark, "isEmpty", "()Z", &empty);
		(*env)->DeleteLocalRef(env, mark);
		if (rc < 0)
			return -1;
		attached += empty == JNI_TRUE;
	}
	return attached;
}

static int op_activity(JNIEnv *env, struct op *op)
{
	op->out.act.active_operations = -1;
	op->out.act.attached_operations = -1;
	op->out.act.idle_since_token = -1;
	op->out.act.open_sessions = -1;
	op->out.act.last_session_access_ms = -1;
	jobject svc = ju_scala_object(env, H.main_thread, CONNECT_SERVICE);
	if (!svc) {
		snprintf(op->err, sizeof(op->err), "Spark Connect service class is not loaded");
		return -1;
	}
	read_sessions(env, svc, &op->out.act);
	/* Either[Long, Seq[ExecuteInfo]]: Left = idle since <ms>, Right = running ops. */
	jobject either = NULL;
	int rc = ju_call_object(env, svc, "listActiveExecutions", "()Lscala/util/Either;", &either,
				op->err, sizeof(op->err));
	(*env)->DeleteLocalRef(env, svc);
	if (rc < 0 || !either)
		return -1;
	jboolean is_left = JNI_FALSE;
	jobject value = NULL;
	if (ju_call_bool(env, either, "isLeft", "()Z", &is_left) < 0 ||
	    ju_call_object(env, either, "value", "()Ljava/lang/Object;", &value, op->err,
			   sizeof(op->err)) < 0 || !value)
		return -1;
	if (is_left) {
		jlong ms = -1;
		ju_call_long(env, value, "longValue", "()J", &ms);
		op->out.act.active_operations = 0;
		op->out.act.attached_operations = 0;
		op->out.act.idle_since_token = ms;
		return 0;
	}
	jint n = -1;
	if (ju_call_int(env, value, "length", "()I", &n, NULL, 0) < 0 &&
	    ju_call_int(env, value, "size", "()I", &n, op->err, sizeof(op->err)) < 0)
		return -1;
	op->out.act.active_operations = n;
	op->out.act.attached_operations = count_attached(env, value, n);
	return 0;
}

static int op_heap(JNIEnv *env, struct op *op)
{
	return ju_heap(env, &op->out.heap[0], &op->out.heap[1]);
}

static int op_loglevel(JNIEnv *env, struct op *op)
{
	jobject sc = active_spark_context(env, op->err, sizeof(op->err));
	if (!sc)
		return -1;
	jstring lvl = (*env)->NewStringUTF(env, op->arg_str);
	int rc = lvl ? ju_call_void(env, sc, "setLogLevel", "(Ljava/lang/String;)V", op->err,
				    sizeof(op->err), lvl)
		     : -1;
	(*env)->DeleteLocalRef(env, sc);
	return rc;
}

static int op_exit(JNIEnv *env, struct op *op)
{
	return ju_runtime_exit(env, (int)op->arg);
}

static int (*const op_fns[])(JNIEnv *, struct op *) = {
	[OP_PORT] = op_port,         [OP_STOP] = op_stop, [OP_STOP_IDLE] = op_stop,
	[OP_APP] = op_app,           [OP_ACTIVITY] = op_activity, [OP_HEAP] = op_heap,
	[OP_LOGLEVEL] = op_loglevel, [OP_EXIT] = op_exit,
};

static void op_release(struct op *op)
{
	/* called with H.mu held */
	if (--op->refs == 0)
		free(op);
}

static void *ops_main(void *arg)
{
	(void)arg;
	JNIEnv *env;
	JavaVMAttachArgs aa = {JNI_VERSION_1_8, "sparkshim-ops", NULL};
	if ((*H.vm)->AttachCurrentThreadAsDaemon(H.vm, (void **)&env, &aa) != JNI_OK) {
		log_error("cannot attach the ops thread to the JVM");
		pthread_mutex_lock(&H.mu);
		H.ops_running = 0;
		pthread_mutex_unlock(&H.mu);
		return NULL;
	}
	pthread_mutex_lock(&H.mu);
	for (;;) {
		while (!H.head && H.ops_running)
			pthread_cond_wait(&H.cv, &H.mu);
		if (!H.ops_running)
			break;
		struct op *op = H.head;
		H.head = op->next;
		if (!H.head)
			H.tail = NULL;
		pthread_mutex_unlock(&H.mu);

		(*env)->PushLocalFrame(env, 64);
		op->rc = op_fns[op->type](env, op);
		ju_take_exception(env, op->rc < 0 && !op->err[0] ? op->err : NULL, sizeof(op->err));
		(*env)->PopLocalFrame(env, NULL);
		if (op->type == OP_STOP || op->type == OP_STOP_IDLE)
			events_post(EV_SPARK_STOPPED, op->rc, "%s", op->err);

		pthread_mutex_lock(&H.mu);
		op->done = 1;
		pthread_cond_broadcast(&H.cv);
		op_release(op);
	}
	/* Fail whatever is still queued so no waiter hangs. */
	while (H.head) {
		struct op *op = H.head;
		H.head = op->next;
		op->rc = -1;
		op->done = 1;
		op_release(op);
	}
	H.tail = NULL;
	pthread_cond_broadcast(&H.cv);
	pthread_mutex_unlock(&H.mu);
	/* No Detach: the VM may already be going away; daemon threads need none. */
	return NULL;
}

static struct op *op_new(enum op_type type, int64_t arg, const char *str, int refs)
{
	struct op *op = calloc(1, sizeof(*op));
	if (!op)
		return NULL;
	op->type = type;
	op->arg = arg;
	op->refs = refs;
	if (str)
		snprintf(op->arg_str, sizeof(op->arg_str), "%s", str);
	return op;
}

/* Queue op; 0 queued, -1 when the ops thread is not running (op freed). */
static int op_enqueue(struct op *op)
{
	pthread_once(&cv_once, init_cv);
	pthread_mutex_lock(&H.mu);
	if (!H.ops_running) {
		pthread_mutex_unlock(&H.mu);
		free(op);
		return -1;
	}
	if (H.tail)
		H.tail->next = op;
	else
		H.head = op;
	H.tail = op;
	pthread_cond_broadcast(&H.cv);
	pthread_mutex_unlock(&H.mu);
	return 0;
}

/* Run op and wait up to timeout_ms. Returns its rc (copying results into
 * *copy) or -1 on timeout; a late op is freed by the ops thread. */
static int op_call(enum op_type type, int64_t arg, const char *str, struct op *copy,
		   int timeout_ms)
{
	struct op *op = op_new(type, arg, str, 2);
	if (!op || op_enqueue(op) < 0) {
		if (copy)
			snprintf(copy->err, sizeof(copy->err), "the JVM is not running");
		return -1;
	}
	struct timespec dl = deadline_after(CLOCK_MONOTONIC, timeout_ms);
	pthread_mutex_lock(&H.mu);
	while (!op->done)
		if (pthread_cond_timedwait(&H.cv, &H.mu, &dl) == ETIMEDOUT)
			break;
	int rc = op->done ? op->rc : -1;
	if (copy) {
		if (op->done)
			*copy = *op;
		else
			snprintf(copy->err, sizeof(copy->err),
				 "the JVM did not answer within %d ms", timeout_ms);
	}
	op_release(op);
	pthread_mutex_unlock(&H.mu);
	return rc;
}

static int op_async(enum op_type type, int64_t arg)
{
	struct op *op = op_new(type, arg, NULL, 1);
	return op ? op_enqueue(op) : -1;
}

/* A thread dump must not queue behind a stop that waits for Spark (that is
 * exactly when one is wanted): it gets a short-lived thread of its own. */
static void *dump_main(void *arg)
{
	(void)arg;
	JNIEnv *env;
	JavaVMAttachArgs aa = {JNI_VERSION_1_8, "sparkshim-dump", NULL};
	pthread_mutex_lock(&H.mu);
	int up = H.ops_running;
	pthread_mutex_unlock(&H.mu);
	if (!up || (*H.vm)->AttachCurrentThreadAsDaemon(H.vm, (void **)&env, &aa) != JNI_OK)
		return NULL;
	char err[512] = "";
	if (ju_thread_dump(env, stderr, err, sizeof(err)) < 0)
		log_warn("thread dump failed: %s", err[0] ? err : "no answer");
	(*H.vm)->DetachCurrentThread(H.vm);
	pthread_mutex_lock(&H.mu);
	H.dumps_done++;
	pthread_cond_broadcast(&H.cv);
	pthread_mutex_unlock(&H.mu);
	return NULL;
}

static void ops_stop(void)
{
	pthread_mutex_lock(&H.mu);
	H.ops_running = 0;
	pthread_cond_broadcast(&H.cv);
	pthread_mutex_unlock(&H.mu);
}

/* ---- the JVM thread ---- */

static int create_vm(JNIEnv **env)
{
	void *lib = dlopen(H.launch.libjvm_path, RTLD_NOW | RTLD_GLOBAL);
	if (!lib) {
		events_post(EV_JVM_CREATE_FAILED, 0, "cannot load %s: %s", H.launch.libjvm_path,
			    dlerror());
		return -1;
	}
	jint(JNICALL * create)(JavaVM **, void **, void *);
	*(void **)&create = dlsym(lib, "JNI_CreateJavaVM");
	if (!create) {
		events_post(EV_JVM_CREATE_FAILED, 0, "%s has no JNI_CreateJavaVM", H.launch.libjvm_path);
		return -1;
	}
	size_t n = H.options.n;
	JavaVMOption *opts = calloc(n + 3, sizeof(*opts));
	if (!opts) {
		events_post(EV_JVM_CREATE_FAILED, 0, "out of memory");
		return -1;
	}
	/* Hooks first: HotSpot reads options in order, and an error in a later
	 * option is only printed through the vfprintf hook if it is set. */
	opts[0].optionString = "vfprintf";
	opts[0].extraInfo = (void *)(uintptr_t)hook_vfprintf;
	opts[1].optionString = "exit";
	opts[1].extraInfo = (void *)(uintptr_t)hook_exit;
	opts[2].optionString = "abort";
	opts[2].extraInfo = (void *)(uintptr_t)hook_abort;
	for (size_t i = 0; i < n; i++)
		opts[3 + i].optionString = H.options.v[i];
	JavaVMInitArgs args = {
		.version = JNI_VERSION_1_8,
		.nOptions = (jint)(n + 3),
		.options = opts,
		.ignoreUnrecognized = JNI_FALSE,
	};
	JavaVM *vm = NULL;
	jint rc = create(&vm, (void **)env, &args);
	free(opts);
	if (rc != JNI_OK) {
		char msg[512];
		jvm_last_vm_message(msg, sizeof(msg));
		events_post(EV_JVM_CREATE_FAILED, rc, "JNI_CreateJavaVM failed (%s)%s%s",
			    ju_jni_error_name(rc), msg[0] ? ": " : "", msg);
		return -1;
	}
	H.vm = vm;
	return 0;
}

static jobjectArray string_array(JNIEnv *env, const struct strvec *v)
{
	jclass str_cls = (*env)->FindClass(env, "java/lang/String");
	if (!str_cls)
		return NULL;
	jobjectArray arr = (*env)->NewObjectArray(env, (jsize)v->n, str_cls, NULL);
	for (size_t i = 0; arr && i < v->n; i++) {
		jstring s = (*env)->NewStringUTF(env, v->v[i]);
		if (!s)
			return NULL;
		(*env)->SetObjectArrayElement(env, arr, (jsize)i, s);
		(*env)->DeleteLocalRef(env, s);
	}
	return arr;
}

/* SparkSubmit.main(args) on Java's main thread, like the java launcher.
 * Fills `exc` with the uncaught exception, "" when main returned normally. */
static void run_main(JNIEnv *env, char *exc, size_t exclen)
{
	exc[0] = '\0';
	char *slashed = strdup(H.main_class);
	if (!slashed) {
		snprintf(exc, exclen, "out of memory");
		return;
	}
	for (char *p = slashed; *p; p++)
		if (*p == '.')
			*p = '/';
	jclass cls = (*env)->FindClass(env, slashed);
	free(slashed);
	jmethodID mid = cls ? (*env)->GetStaticMethodID(env, cls, "main", "([Ljava/lang/String;)V")
			    : NULL;
	jobjectArray jargs = mid ? string_array(env, &H.args) : NULL;
	if (jargs)
		(*env)->CallStaticVoidMethod(env, cls, mid, jargs);
	if ((*env)->ExceptionCheck(env)) {
		jthrowable t = (*env)->ExceptionOccurred(env);
		(*env)->ExceptionClear(env);
		ju_throwable_summary(env, t, exc, exclen);
		/* Same output as the java launcher: "Exception in thread "main" ..." */
		(*env)->Throw(env, t);
		(*env)->ExceptionDescribe(env);
		(*env)->ExceptionClear(env);
	} else if (!jargs) {
		snprintf(exc, exclen, "cannot call %s.main", H.main_class);
	}
}

static void *jvm_thread_main(void *arg)
{
	(void)arg;
	JNIEnv *env = NULL;
	if (create_vm(&env) < 0)
		return NULL;
	if (H.launch.on_created)
		H.launch.on_created();

	jobject cur = ju_current_thread(env);
	H.main_thread = cur ? (*env)->NewGlobalRef(env, cur) : NULL;
	pthread_mutex_lock(&H.mu);
	H.ops_running = H.main_thread != NULL;
	pthread_mutex_unlock(&H.mu);
	if (!H.main_thread || thread_start_detached(ops_main, NULL, 2u << 20) != 0) {
		log_error("cannot start the JVM ops thread");
		ops_stop();
	}
	/* Only now: a stop that began while the JVM was being created asks
	 * the ops thread to end it as soon as this arrives. */
	events_post(EV_JVM_CREATED, 0, NULL);

	char exc[1024];
	run_main(env, exc, sizeof(exc));
	events_post(EV_SPARK_MAIN_ENDED, 0, "%s", exc);

	/* Like the java launcher: detach, then DestroyJavaVM waits for every
	 * non-daemon Java thread and runs the shutdown hooks. */
	ops_stop();
	(*H.vm)->DetachCurrentThread(H.vm);
	(*H.vm)->DestroyJavaVM(H.vm);
	events_post(EV_JVM_DESTROYED, 0, NULL);
	return NULL;
}

static int copy_launch(const struct jvm_launch *l)
{
	strvec_init(&H.options);
	strvec_init(&H.args);
	H.launch = *l;
	H.main_class = strdup(l->main_class);
	if (!H.main_class)
		return -1;
	for (size_t i = 0; i < l->n_options; i++)
		if (strvec_push(&H.options, l->options[i]) < 0)
			return -1;
	/* Hosting requirements: the shim owns TERM/INT/HUP/QUIT (-Xrs), and
	 * jps -ml / Kyuubi's `jps | grep refId` must see the command line. */
	struct strvec cmdline;
	strvec_init(&cmdline);
	int rc = strvec_push(&cmdline, l->main_class);
	for (size_t i = 0; rc == 0 && i < l->n_args; i++)
		rc = strvec_push(&cmdline, l->args[i]) | strvec_push(&H.args, l->args[i]);
	char *joined = rc == 0 ? strvec_join(&cmdline, 0, " ") : NULL;
	strvec_free(&cmdline);
	if (!joined)
		return -1;
	/* -Xrs also disables the SIGQUIT that jcmd/jstack use to wake the
	 * attach listener, so start it up front: operators keep their tools. */
	rc = strvec_push(&H.options, "-Xrs") | strvec_pushf(&H.options, "-Dsun.java.command=%s", joined) |
	     strvec_push(&H.options, "-Dsun.java.launcher=SUN_STANDARD") |
	     strvec_push(&H.options, "-XX:+StartAttachListener");
	free(joined);
	return rc;
}

int jvm_host_start(const struct jvm_launch *launch, char *err, size_t errlen)
{
	pthread_once(&cv_once, init_cv);
	if (copy_launch(launch) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int rc = thread_start_detached(jvm_thread_main, NULL,
				       launch->stack_size ? launch->stack_size : 8u << 20);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the JVM thread: %s", strerror(rc));
		return -1;
	}
	return 0;
}

/* ---- public calls ---- */

int jvm_connect_port(int timeout_ms)
{
	struct op r;
	if (op_call(OP_PORT, 0, NULL, &r, timeout_ms) < 0)
		return -1;
	return r.out.port;
}

int jvm_stop_spark_async(int64_t timeout_ms, int idle)
{
	if (op_async(idle ? OP_STOP_IDLE : OP_STOP, timeout_ms) < 0) {
		events_post(EV_SPARK_STOPPED, -1, "the JVM is not running");
		return -1;
	}
	return 0;
}

int jvm_query_app(struct jvm_app_info *out, int timeout_ms)
{
	struct op r;
	if (op_call(OP_APP, 0, NULL, &r, timeout_ms) < 0)
		return -1;
	*out = r.out.app;
	return 0;
}

int jvm_query_activity(struct jvm_activity *out, int timeout_ms)
{
	struct op r;
	if (op_call(OP_ACTIVITY, 0, NULL, &r, timeout_ms) < 0)
		return -1;
	*out = r.out.act;
	return 0;
}

int jvm_heap(int64_t *used, int64_t *max, int timeout_ms)
{
	struct op r;
	if (op_call(OP_HEAP, 0, NULL, &r, timeout_ms) < 0)
		return -1;
	*used = r.out.heap[0];
	*max = r.out.heap[1];
	return 0;
}

int jvm_set_log_level(const char *level, char *err, size_t errlen, int timeout_ms)
{
	struct op r;
	if (op_call(OP_LOGLEVEL, 0, level, &r, timeout_ms) < 0) {
		snprintf(err, errlen, "%s", r.err[0] ? r.err : "setLogLevel failed");
		return -1;
	}
	return 0;
}

int jvm_thread_dump(int wait_ms)
{
	pthread_once(&cv_once, init_cv);
	pthread_mutex_lock(&H.mu);
	int up = H.ops_running;
	unsigned before = H.dumps_done;
	pthread_mutex_unlock(&H.mu);
	if (!up)
		return -1;
	if (thread_start_detached(dump_main, NULL, THREAD_STACK_JNI) != 0)
		return -1;
	if (wait_ms > 0) {
		struct timespec dl = deadline_after(CLOCK_MONOTONIC, wait_ms);
		pthread_mutex_lock(&H.mu);
		while (H.dumps_done == before)
			if (pthread_cond_timedwait(&H.cv, &H.mu, &dl) == ETIMEDOUT)
				break;
		pthread_mutex_unlock(&H.mu);
	}
	return 0;
}

int jvm_exit_async(int status) { return op_async(OP_EXIT, status); }
