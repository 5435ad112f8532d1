#include "jni/jni_util.h"

#include <stdarg.h>
#include <string.h>

const char *ju_jni_error_name(jint rc)
{
	switch (rc) {
	case JNI_ERR: return "JNI_ERR";
	case JNI_EDETACHED: return "JNI_EDETACHED";
	case JNI_EVERSION: return "JNI_EVERSION";
	case JNI_ENOMEM: return "JNI_ENOMEM";
	case JNI_EEXIST: return "JNI_EEXIST";
	case JNI_EINVAL: return "JNI_EINVAL";
	default: return "unknown JNI error";
	}
}

int ju_string(JNIEnv *env, jobject jstr, char *buf, size_t len)
{
	if (!len)
		return -1;
	buf[0] = '\0';
	if (!jstr)
		return -1;
	const char *s = (*env)->GetStringUTFChars(env, (jstring)jstr, NULL);
	if (!s) {
		(*env)->ExceptionClear(env);
		return -1;
	}
	snprintf(buf, len, "%s", s);
	(*env)->ReleaseStringUTFChars(env, (jstring)jstr, s);
	return 0;
}

/* obj.toString() without tripping over a second exception. */
static void to_string(JNIEnv *env, jobject obj, char *buf, size_t len)
{
	buf[0] = '\0';
	jclass c = (*env)->FindClass(env, "java/lang/Object");
	jmethodID m = c ? (*env)->GetMethodID(env, c, "toString", "()Ljava/lang/String;") : NULL;
	jobject s = m ? (*env)->CallObjectMethod(env, obj, m) : NULL;
	if ((*env)->ExceptionCheck(env))
		(*env)->ExceptionClear(env);
	else
		ju_string(env, s, buf, len);
}

void ju_throwable_summary(JNIEnv *env, jthrowable t, char *buf, size_t len)
{
	to_string(env, t, buf, len);
	jclass tc = (*env)->FindClass(env, "java/lang/Throwable");
	jmethodID get_cause = tc ? (*env)->GetMethodID(env, tc, "getCause", "()Ljava/lang/Throwable;")
				 : NULL;
	if (!get_cause) {
		(*env)->ExceptionClear(env);
		return;
	}
	jobject root = NULL, cur = t;
	for (int depth = 0; depth < 32; depth++) {
		jobject next = (*env)->CallObjectMethod(env, cur, get_cause);
		if ((*env)->ExceptionCheck(env)) {
			(*env)->ExceptionClear(env);
			break;
		}
		if (!next || (*env)->IsSameObject(env, next, cur))
			break;
		root = cur = next;
	}
	if (root) {
		char cause[512];
		to_string(env, root, cause, sizeof(cause));
		size_t used = strlen(buf);
		if (cause[0] && used < len)
			snprintf(buf + used, len - used, " (caused by %s)", cause);
	}
}

int ju_take_exception(JNIEnv *env, char *buf, size_t len)
{
	if (!(*env)->ExceptionCheck(env))
		return 0;
	jthrowable t = (*env)->ExceptionOccurred(env);
	(*env)->ExceptionClear(env);
	if (buf && len)
		ju_throwable_summary(env, t, buf, len);
	(*env)->DeleteLocalRef(env, t);
	return 1;
}

jobject ju_current_thread(JNIEnv *env)
{
	jclass c = (*env)->FindClass(env, "java/lang/Thread");
	jmethodID m = c ? (*env)->GetStaticMethodID(env, c, "currentThread", "()Ljava/lang/Thread;")
			: NULL;
	jobject t = m ? (*env)->CallStaticObjectMethod(env, c, m) : NULL;
	return ju_take_exception(env, NULL, 0) ? NULL : t;
}

jclass ju_load_class(JNIEnv *env, jobject thread, const char *dotted)
{
	jobject loader = NULL;
	if (ju_call_object(env, thread, "getContextClassLoader", "()Ljava/lang/ClassLoader;",
			   &loader, NULL, 0) < 0)
		return NULL;
	jclass cls_cls = (*env)->FindClass(env, "java/lang/Class");
	jmethodID for_name =
		cls_cls ? (*env)->GetStaticMethodID(env, cls_cls, "forName",
						    "(Ljava/lang/String;ZLjava/lang/ClassLoader;)Ljava/lang/Class;")
			: NULL;
	jstring name = for_name ? (*env)->NewStringUTF(env, dotted) : NULL;
	jobject cls = name ? (*env)->CallStaticObjectMethod(env, cls_cls, for_name, name,
							    JNI_TRUE, loader)
			   : NULL;
	if (ju_take_exception(env, NULL, 0))
		return NULL;
	return (jclass)cls;
}

jobject ju_scala_object(JNIEnv *env, jobject thread, const char *dotted)
{
	jclass c = ju_load_class(env, thread, dotted);
	if (!c)
		return NULL;
	char sig[512];
	snprintf(sig, sizeof(sig), "L%s;", dotted);
	for (char *p = sig; *p; p++)
		if (*p == '.')
			*p = '/';
	jfieldID f = (*env)->GetStaticFieldID(env, c, "MODULE$", sig);
	jobject o = f ? (*env)->GetStaticObjectField(env, c, f) : NULL;
	return ju_take_exception(env, NULL, 0) ? NULL : o;
}

jobject ju_scala_some(JNIEnv *env, jobject thread, jobject value)
{
	if (!value)
		return NULL;
	jclass c = ju_load_class(env, thread, "scala.Some");
	jmethodID ctor = c ? (*env)->GetMethodID(env, c, "<init>", "(Ljava/lang/Object;)V") : NULL;
	jobject o = ctor ? (*env)->NewObject(env, c, ctor, value) : NULL;
	return ju_take_exception(env, NULL, 0) ? NULL : o;
}

jobject ju_option_get(JNIEnv *env, jobject option)
{
	jboolean defined = JNI_FALSE;
	jobject v = NULL;
	if (!option || ju_call_bool(env, option, "isDefined", "()Z", &defined) < 0 || !defined)
		return NULL;
	if (ju_call_object(env, option, "get", "()Ljava/lang/Object;", &v, NULL, 0) < 0)
		return NULL;
	return v;
}

int ju_call_by_name(JNIEnv *env, jobject obj, const char *name, jobject *out, char *err,
		    size_t errlen)
{
	if (out)
		*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	jclass cls = obj ? (*env)->GetObjectClass(env, obj) : NULL;
	jclass cls_cls = cls ? (*env)->FindClass(env, "java/lang/Class") : NULL;
	jmethodID get = cls_cls ? (*env)->GetMethodID(env, cls_cls, "getMethod",
						      "(Ljava/lang/String;[Ljava/lang/Class;)Ljava/lang/reflect/Method;")
				: NULL;
	jstring jname = get ? (*env)->NewStringUTF(env, name) : NULL;
	/* A null parameter array means "no parameters" (Class.getMethod). */
	jobject m = jname ? (*env)->CallObjectMethod(env, cls, get, jname, NULL) : NULL;
	jmethodID mid = m && !(*env)->ExceptionCheck(env) ? (*env)->FromReflectedMethod(env, m) : NULL;
	jobject r = mid ? (*env)->CallObjectMethod(env, obj, mid) : NULL;
	int failed = ju_take_exception(env, err, errlen) || !mid;
	jobject locals[] = {cls, cls_cls, jname, m};
	for (size_t i = 0; i < sizeof(locals) / sizeof(locals[0]); i++)
		if (locals[i])
			(*env)->DeleteLocalRef(env, locals[i]);
	if (failed) {
		if (err && errlen && !err[0])
			snprintf(err, errlen, "no method %s()", name);
		return -1;
	}
	if (out)
		*out = r;
	return 0;
}

jobject ju_box_long(JNIEnv *env, int64_t v)
{
	jclass c = (*env)->FindClass(env, "java/lang/Long");
	jmethodID m = c ? (*env)->GetStaticMethodID(env, c, "valueOf", "(J)Ljava/lang/Long;") : NULL;
	jobject o = m ? (*env)->CallStaticObjectMethod(env, c, m, (jlong)v) : NULL;
	return ju_take_exception(env, NULL, 0) ? NULL : o;
}

jobject ju_time_unit_ms(JNIEnv *env)
{
	jclass c = (*env)->FindClass(env, "java/util/concurrent/TimeUnit");
	jfieldID f = c ? (*env)->GetStaticFieldID(env, c, "MILLISECONDS",
						  "Ljava/util/concurrent/TimeUnit;")
		       : NULL;
	jobject o = f ? (*env)->GetStaticObjectField(env, c, f) : NULL;
	return ju_take_exception(env, NULL, 0) ? NULL : o;
}

static jmethodID method_of(JNIEnv *env, jobject obj, const char *name, const char *sig)
{
	if (!obj)
		return NULL;
	jclass c = (*env)->GetObjectClass(env, obj);
	jmethodID m = (*env)->GetMethodID(env, c, name, sig);
	(*env)->DeleteLocalRef(env, c);
	return m;
}

int ju_call_void(JNIEnv *env, jobject obj, const char *name, const char *sig, char *err,
		 size_t errlen, ...)
{
	jmethodID m = method_of(env, obj, name, sig);
	if (m) {
		va_list ap;
		va_start(ap, errlen);
		(*env)->CallVoidMethodV(env, obj, m, ap);
		va_end(ap);
	}
	if (ju_take_exception(env, err, errlen))
		return -1;
	return m ? 0 : -1;
}

int ju_call_object(JNIEnv *env, jobject obj, const char *name, const char *sig, jobject *out,
		   char *err, size_t errlen)
{
	jmethodID m = method_of(env, obj, name, sig);
	*out = m ? (*env)->CallObjectMethod(env, obj, m) : NULL;
	if (ju_take_exception(env, err, errlen)) {
		*out = NULL;
		return -1;
	}
	return m ? 0 : -1;
}

int ju_call_int(JNIEnv *env, jobject obj, const char *name, const char *sig, jint *out,
		char *err, size_t errlen)
{
	jmethodID m = method_of(env, obj, name, sig);
	jint v = m ? (*env)->CallIntMethod(env, obj, m) : 0;
	if (ju_take_exception(env, err, errlen) || !m)
		return -1;
	*out = v;
	return 0;
}

int ju_call_long(JNIEnv *env, jobject obj, const char *name, const char *sig, jlong *out)
{
	jmethodID m = method_of(env, obj, name, sig);
	jlong v = m ? (*env)->CallLongMethod(env, obj, m) : 0;
	if (ju_take_exception(env, NULL, 0) || !m)
		return -1;
	*out = v;
	return 0;
}

int ju_call_bool(JNIEnv *env, jobject obj, const char *name, const char *sig, jboolean *out)
{
	jmethodID m = method_of(env, obj, name, sig);
	jboolean v = m ? (*env)->CallBooleanMethod(env, obj, m) : JNI_FALSE;
	if (ju_take_exception(env, NULL, 0) || !m)
		return -1;
	*out = v;
	return 0;
}

int ju_call_string(JNIEnv *env, jobject obj, const char *name, char *buf, size_t len)
{
	jobject s = NULL;
	if (ju_call_object(env, obj, name, "()Ljava/lang/String;", &s, NULL, 0) < 0 || !s)
		return -1;
	int rc = ju_string(env, s, buf, len);
	(*env)->DeleteLocalRef(env, s);
	return rc;
}

static jobject runtime(JNIEnv *env)
{
	jclass c = (*env)->FindClass(env, "java/lang/Runtime");
	jmethodID m = c ? (*env)->GetStaticMethodID(env, c, "getRuntime", "()Ljava/lang/Runtime;")
			: NULL;
	jobject r = m ? (*env)->CallStaticObjectMethod(env, c, m) : NULL;
	return ju_take_exception(env, NULL, 0) ? NULL : r;
}

int ju_heap(JNIEnv *env, int64_t *used, int64_t *max)
{
	jobject r = runtime(env);
	jlong total = 0, free_ = 0, mx = 0;
	if (!r || ju_call_long(env, r, "totalMemory", "()J", &total) < 0 ||
	    ju_call_long(env, r, "freeMemory", "()J", &free_) < 0 ||
	    ju_call_long(env, r, "maxMemory", "()J", &mx) < 0)
		return -1;
	*used = total - free_;
	*max = mx;
	return 0;
}

int ju_runtime_exit(JNIEnv *env, int status)
{
	jobject r = runtime(env);
	return r ? ju_call_void(env, r, "exit", "(I)V", NULL, 0, (jint)status) : -1;
}

int ju_thread_dump(JNIEnv *env, FILE *out, char *err, size_t errlen)
{
	/* ManagementFactory.getPlatformMBeanServer().invoke(
	 *   new ObjectName("com.sun.management:type=DiagnosticCommand"),
	 *   "threadPrint", new Object[]{new String[0]}, new String[]{"[Ljava.lang.String;"}) */
	jclass mf = (*env)->FindClass(env, "java/lang/management/ManagementFactory");
	jmethodID get_srv = mf ? (*env)->GetStaticMethodID(env, mf, "getPlatformMBeanServer",
							   "()Ljavax/management/MBeanServer;")
			       : NULL;
	jobject srv = get_srv ? (*env)->CallStaticObjectMethod(env, mf, get_srv) : NULL;
	jclass on = srv ? (*env)->FindClass(env, "javax/management/ObjectName") : NULL;
	jmethodID on_ctor = on ? (*env)->GetMethodID(env, on, "<init>", "(Ljava/lang/String;)V") : NULL;
	jstring on_name = on_ctor ? (*env)->NewStringUTF(env, "com.sun.management:type=DiagnosticCommand")
				  : NULL;
	jobject name = on_name ? (*env)->NewObject(env, on, on_ctor, on_name) : NULL;
	jclass str_cls = name ? (*env)->FindClass(env, "java/lang/String") : NULL;
	jclass obj_cls = str_cls ? (*env)->FindClass(env, "java/lang/Object") : NULL;
	jobjectArray empty = obj_cls ? (*env)->NewObjectArray(env, 0, str_cls, NULL) : NULL;
	jobjectArray params = empty ? (*env)->NewObjectArray(env, 1, obj_cls, empty) : NULL;
	jstring sig0 = params ? (*env)->NewStringUTF(env, "[Ljava.lang.String;") : NULL;
	jobjectArray sig = sig0 ? (*env)->NewObjectArray(env, 1, str_cls, sig0) : NULL;
	jstring op = sig ? (*env)->NewStringUTF(env, "threadPrint") : NULL;
	jobject text = NULL;
	if (op) {
		jclass srv_cls = (*env)->FindClass(env, "javax/management/MBeanServerConnection");
		jmethodID inv = srv_cls ? (*env)->GetMethodID(env, srv_cls, "invoke",
			"(Ljavax/management/ObjectName;Ljava/lang/String;[Ljava/lang/Object;[Ljava/lang/String;)Ljava/lang/Object;")
					: NULL;
		text = inv ? (*env)->CallObjectMethod(env, srv, inv, name, op, params, sig) : NULL;
	}
	if (ju_take_exception(env, err, errlen) || !text)
		return -1;
	const char *s = (*env)->GetStringUTFChars(env, (jstring)text, NULL);
	if (!s) {
		(*env)->ExceptionClear(env);
		return -1;
	}
	flockfile(out);
	fputs(s, out);
	fflush(out);
	funlockfile(out);
	(*env)->ReleaseStringUTFChars(env, (jstring)text, s);
	return 0;
}
