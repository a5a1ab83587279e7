/* lag_eval.h — judges a partition's consumption from a window of samples, the way Burrow does,
 * without thresholds. */
#ifndef KP_LAG_EVAL_H
#define KP_LAG_EVAL_H

#include <stddef.h>
#include <stdint.h>

typedef enum kp_lag_state {
        KP_LAG_UNKNOWN = 0,    /* too few samples, or offsets not known yet */
        KP_LAG_OK,             /* caught up at some point of the window, or catching up */
        KP_LAG_FALLING_BEHIND, /* reading, but the lag grew between every two samples */
        KP_LAG_STALLED,        /* not reading although messages wait */
} kp_lag_state_t;

/*
 * Judges @p n samples of one partition, oldest first: @p pos[i] the group's committed
 * offset (or position) and @p hw[i] the high watermark at sample i (-1: unknown).
 * Burrow's rules (github.com/linkedin/Burrow/wiki/Consumer-Lag-Evaluation-Rules):
 *  - any sample with lag 0: OK;
 *  - the offset did not move over the window and the lag did not shrink: STALLED;
 *  - the offset moved, the lag never shrank between two samples and grew overall:
 *    FALLING_BEHIND;
 *  - otherwise OK.
 * Fewer than KP_LAG_MIN_SAMPLES samples, or any unknown one: UNKNOWN. Pure; O(n).
 */
kp_lag_state_t kp_lag_eval(const int64_t *pos, const int64_t *hw, size_t n);

/* "unknown", "ok", "falling_behind", "stalled". */
const char *kp_lag_state_name(kp_lag_state_t s);

#endif /* KP_LAG_EVAL_H */
