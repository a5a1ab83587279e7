/* lag_eval.c — judges a partition's consumption from a window of samples, the way Burrow does,
 * without thresholds. */
#include "runtime/lag_eval.h"

#include "base/config.h"

kp_lag_state_t kp_lag_eval(const int64_t *pos, const int64_t *hw, size_t n)
{
        if (n < KP_LAG_MIN_SAMPLES)
                return KP_LAG_UNKNOWN;
        for (size_t i = 0; i < n; i++)
                if (pos[i] < 0 || hw[i] < 0)
                        return KP_LAG_UNKNOWN;
        int grows = 1; /* the lag never shrank between two samples */
        int64_t prev = -1;
        for (size_t i = 0; i < n; i++) {
                int64_t lag = hw[i] > pos[i] ? hw[i] - pos[i] : 0;
                if (lag == 0)
                        return KP_LAG_OK;
                if (i && lag < prev)
                        grows = 0;
                prev = lag;
        }
        int64_t first = hw[0] - pos[0], last = hw[n - 1] - pos[n - 1];
        if (pos[n - 1] <= pos[0] && last >= first)
                return KP_LAG_STALLED;
        if (grows && last > first)
                return KP_LAG_FALLING_BEHIND;
        return KP_LAG_OK;
}

const char *kp_lag_state_name(kp_lag_state_t s)
{
        switch (s) {
        case KP_LAG_OK: return "ok";
        case KP_LAG_FALLING_BEHIND: return "falling_behind";
        case KP_LAG_STALLED: return "stalled";
        default: return "unknown";
        }
}
