#include "base/thread.h"

#include <pthread.h>

int thread_start_detached(void *(*fn)(void *), void *arg, size_t stack_size)
{
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	if (stack_size)
		pthread_attr_setstacksize(&attr, stack_size);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_t t;
	int rc = pthread_create(&t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return rc;
}
