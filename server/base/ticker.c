/* ticker.c — a background thread that wakes on an interval, on a kick, and stops on request. */
#include "base/ticker.h"

#include <time.h>

int kp_ticker_start(kp_ticker_t *t, void *(*fn)(void *), void *arg)
{
        pthread_condattr_t ca;
        t->stop = 0;
        t->kicked = 0;
        pthread_mutex_init(&t->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&t->cond, &ca);
        pthread_condattr_destroy(&ca);
        if (pthread_create(&t->thread, NULL, fn, arg)) {
                pthread_cond_destroy(&t->cond);
                pthread_mutex_destroy(&t->lock);
                return -1;
        }
        return 0;
}

int kp_ticker_wait(kp_ticker_t *t, int64_t ms)
{
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += (time_t)(ms / 1000);
        until.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&t->lock);
        while (!t->stop && !t->kicked)
                if (pthread_cond_timedwait(&t->cond, &t->lock, &until))
                        break;
        int stop = t->stop;
        t->kicked = 0;
        pthread_mutex_unlock(&t->lock);
        return stop;
}

void kp_ticker_kick(kp_ticker_t *t)
{
        pthread_mutex_lock(&t->lock);
        t->kicked = 1;
        pthread_cond_signal(&t->cond);
        pthread_mutex_unlock(&t->lock);
}

void kp_ticker_stop_begin(kp_ticker_t *t)
{
        pthread_mutex_lock(&t->lock);
        t->stop = 1;
        pthread_cond_signal(&t->cond);
        pthread_mutex_unlock(&t->lock);
}

int kp_ticker_stopping(kp_ticker_t *t)
{
        pthread_mutex_lock(&t->lock);
        int stop = t->stop;
        pthread_mutex_unlock(&t->lock);
        return stop;
}

void kp_ticker_stop(kp_ticker_t *t)
{
        kp_ticker_stop_begin(t);
        pthread_join(t->thread, NULL);
        pthread_cond_destroy(&t->cond);
        pthread_mutex_destroy(&t->lock);
}
