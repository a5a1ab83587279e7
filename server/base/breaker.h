/* breaker.h — remembers which endpoints failed lately, so callers skip a known-dead one for a
 * while. */
#ifndef KP_BREAKER_H
#define KP_BREAKER_H

#include <stddef.h>
#include <stdint.h>

/*
 * A circuit breaker per key (e.g. a cluster's bootstrap address). After a failure the
 * key is "open" for open_ms: kp_breaker_check() says so at once, with the failure's
 * reason and time, instead of letting every caller wait out the same timeout again.
 * When open_ms has passed, one caller is let through to try (half-open); the others
 * keep getting the open answer until that try reports. Thread-safe; at most
 * KP_BREAKER_KEYS keys, of any length, are remembered (the oldest healthy or expired one
 * is reused).
 */
typedef struct kp_breaker kp_breaker_t;

/* @returns a new breaker (kp_breaker_destroy) or NULL when out of memory. */
kp_breaker_t *kp_breaker_new(int open_ms);
/* NULL does nothing. */
void kp_breaker_destroy(kp_breaker_t *b);

/*
 * @returns 0 when the caller should try @p key (and then call kp_breaker_report), or 1
 * when the key failed less than open_ms ago (or another caller is trying it): @p why
 * gets the failure's reason and *@p failed_at_ms its CLOCK_REALTIME time in ms.
 * A NULL breaker always answers 0.
 */
int kp_breaker_check(kp_breaker_t *b, const char *key, char *why, size_t why_size,
                     int64_t *failed_at_ms);
/* The try of @p key ended: @p error NULL or "" = it worked (closes), else why it failed
 * (opens for open_ms). */
void kp_breaker_report(kp_breaker_t *b, const char *key, const char *error);

#endif /* KP_BREAKER_H */
