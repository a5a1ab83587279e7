/* ticker.h — a background thread that wakes on an interval, on a kick, and stops on request. */
#ifndef KP_TICKER_H
#define KP_TICKER_H

#include <pthread.h>
#include <stdint.h>

/* Embedded: kp_ticker_start / kp_ticker_stop. Fields are private. */
typedef struct kp_ticker {
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond; /* on CLOCK_MONOTONIC: wall-clock jumps don't matter */
        int stop;
        int kicked;
} kp_ticker_t;

/* Starts a thread running @p fn(@p arg). @returns 0 or -1 (nothing to clean up). */
int kp_ticker_start(kp_ticker_t *t, void *(*fn)(void *), void *arg);
/* From the ticker's thread: sleeps up to @p ms or until kicked or stopped.
 * @returns 1 when the ticker is stopping (the thread should return), else 0. */
int kp_ticker_wait(kp_ticker_t *t, int64_t ms);
/* Wakes the thread now (a kick is remembered until the next wait). */
void kp_ticker_kick(kp_ticker_t *t);
/* Asks the thread to stop without waiting (kp_ticker_stop still joins). */
void kp_ticker_stop_begin(kp_ticker_t *t);
/* @returns 1 once a stop was asked (for a long pass to end early), else 0. */
int kp_ticker_stopping(kp_ticker_t *t);
/* Asks the thread to stop, joins it and frees the ticker's resources. */
void kp_ticker_stop(kp_ticker_t *t);

#endif /* KP_TICKER_H */
