/*
 * helper_thread.c — a worker thread's life cycle (helper_thread.h).
 */
#include "helper_thread.h"

int helper_thread_start(helper_thread *t, void *(*main)(void *), void *arg)
{
    t->stop = 0;
    t->running = 0;
    if (pthread_mutex_init(&t->mu, NULL)) return 0;
    if (pthread_cond_init(&t->cv, NULL)) {
        pthread_mutex_destroy(&t->mu);
        return 0;
    }
    if (pthread_create(&t->th, NULL, main, arg)) {
        pthread_cond_destroy(&t->cv);
        pthread_mutex_destroy(&t->mu);
        return 0;
    }
    t->running = 1;
    return 1;
}

void helper_thread_stop(helper_thread *t)
{
    if (!t->running) return;
    pthread_mutex_lock(&t->mu);
    t->stop = 1;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->th, NULL);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    t->running = 0;
}
