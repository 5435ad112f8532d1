/* Small JNI helpers: every function clears any Java exception it causes and
 * reports failure as -1/NULL (with the exception's text in err when given),
 * so callers never leave an exception pending. Scala objects are reached the
 * way the bytecode exposes them: class "X$" with a static MODULE$ field. */
#ifndef SPARKSHIM_JNI_UTIL_H
#define SPARKSHIM_JNI_UTIL_H

#include <jni.h>
#include <stdint.h>
#include <stdio.h>

const char *ju_jni_error_name(jint rc);

/* If an exception is pending: clear it, put its toString() in buf (if buf),
 * return 1; else 0. */
int ju_take_exception(JNIEnv *env, char *buf, size_t len);
/* "cls: msg", plus " (caused by cls: msg)" for the root cause. */
void ju_throwable_summary(JNIEnv *env, jthrowable t, char *buf, size_t len);
int ju_string(JNIEnv *env, jobject jstr, char *buf, size_t len);

jobject ju_current_thread(JNIEnv *env);
/* Class by dotted name through thread's context class loader. */
jclass ju_load_class(JNIEnv *env, jobject thread, const char *dotted);
/* The MODULE$ of Scala object class `dotted` (ends in '$'). */
jobject ju_scala_object(JNIEnv *env, jobject thread, const char *dotted);
jobject ju_scala_some(JNIEnv *env, jobject thread, jobject value);
jobject ju_option_get(JNIEnv *env, jobject option); /* NULL for None */
jobject ju_box_long(JNIEnv *env, int64_t v);
jobject ju_time_unit_ms(JNIEnv *env);

int ju_call_void(JNIEnv *env, jobject obj, const char *name, const char *sig, char *err,
		 size_t errlen, ...);
int ju_call_object(JNIEnv *env, jobject obj, const char *name, const char *sig, jobject *out,
		   char *err, size_t errlen);
int ju_call_int(JNIEnv *env, jobject obj, const char *name, const char *sig, jint *out,
		char *err, size_t errlen);
int ju_call_long(JNIEnv *env, jobject obj, const char *name, const char *sig, jlong *out);
int ju_call_bool(JNIEnv *env, jobject obj, const char *name, const char *sig, jboolean *out);
int ju_call_string(JNIEnv *env, jobject obj, const char *name, char *buf, size_t len);
/* obj.name() for a public method without arguments found by name alone,
 * through reflection (Class.getMethod): for methods whose return type is a
 * class that Spark builds shade under different names (grpc's Server). The
 * call itself is a JNI call, so a public method of a non-public class
 * works. *out (may be NULL) gets the result, NULL for void. 0 / -1 (err). */
int ju_call_by_name(JNIEnv *env, jobject obj, const char *name, jobject *out, char *err,
		    size_t errlen);

int ju_heap(JNIEnv *env, int64_t *used, int64_t *max);
/* jstack-format dump through the DiagnosticCommand MBean (threadPrint). */
int ju_thread_dump(JNIEnv *env, FILE *out, char *err, size_t errlen);
/* Runtime.getRuntime().exit(status): does not return when it works. */
int ju_runtime_exit(JNIEnv *env, int status);

#endif
