/* demo.h — `kplane serve --demo`: three embedded clusters, a group, an uneven stream. */
#ifndef KP_DEMO_H
#define KP_DEMO_H

#include <stddef.h>

#include "app/app.h"

typedef struct kp_demo kp_demo_t;

/*
 * Creates, where absent, the demo's clusters (demo-a/orders, demo-b/payments,
 * demo-c/clicks: embedded, 10 partitions each), registers their topics and the group
 * "analytics" reading all three with parallelism 30 and a first plan, and marks the
 * group to run (its desired state: the caller's resume of desired groups starts it, as
 * on every --demo start, so the demo is alive on first sight); then starts a producer
 * thread writing @p rate messages/s in all, unevenly spread (some partitions several
 * times hotter than others). demo-b's broker is slow in phases (KP_DEMO_SLOW_*): the
 * groups reading or writing it fall behind, then catch up, so lag moves on first sight.
 * @returns the running demo (stop with kp_demo_stop) or NULL with errstr.
 */
kp_demo_t *kp_demo_start(kp_app_t *app, int rate, char *errstr, size_t errstr_size);
/* Stops the producer and the slow phases. NULL does nothing. */
void kp_demo_stop(kp_demo_t *demo);

#endif /* KP_DEMO_H */
