#include "base/thread.h"

int thread_start(pthread_t *out, void *(*fn)(void *), void *arg, size_t stack_size,
		 int detached)
{
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, stack_size ? stack_size : THREAD_STACK_WORKER);
	if (detached)
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_t t;
	int rc = pthread_create(&t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	if (rc == 0 && out)
		*out = t;
	return rc;
}

int thread_start_detached(void *(*fn)(void *), void *arg, size_t stack_size)
{
	return thread_start(NULL, fn, arg, stack_size, 1);
}
