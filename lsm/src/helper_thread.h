/*
 * helper_thread.h — a worker thread with the mutex and condition variable it waits on.
 *
 * Both table-writing helpers (the builder's writeback hints, the direct writer's writes) are
 * one thread that sleeps on a condition until given work or told to stop.  This is that
 * thread's life cycle; what the work is and which fields mu guards stay with the user.
 */
#ifndef LSM_HELPER_THREAD_H
#define LSM_HELPER_THREAD_H

#include <pthread.h>

typedef struct helper_thread {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;    /* [mu] set by helper_thread_stop: main should return once out of work */
    int running; /* the thread was started and not yet joined */
} helper_thread;

/* Start main(arg) in a new thread with t's mu and cv ready.  Returns 1, or 0 (nothing
 * started, nothing to stop) when no thread or lock can be had. */
int helper_thread_start(helper_thread *t, void *(*main)(void *), void *arg);

/* Set stop, wake the thread, join it and destroy mu and cv.  Nothing if it is not running. */
void helper_thread_stop(helper_thread *t);

#endif
