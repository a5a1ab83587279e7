/* lag_time.c — the age of a partition's oldest unread message, interpolated from high
 * watermark samples (kafka-lag-exporter's estimate), no fetch needed. */
#include "runtime/lag_time.h"

/* The first sample of the window: after the last drop of the high watermark, if any. */
static size_t window_start(const int64_t *hw, size_t n)
{
        size_t start = 0, i;
        int64_t prev = -1;
        for (i = 0; i < n; i++) {
                if (hw[i] < 0)
                        continue;
                if (prev >= 0 && hw[i] < prev)
                        start = i;
                prev = hw[i];
        }
        return start;
}

int64_t kp_lag_time_ms(const int64_t *t_ms, const int64_t *hw, size_t n, int64_t pos,
                       int64_t now_ms, int *lower_bound)
{
        size_t start = window_start(hw, n), i, newer = n, first = n;
        int64_t age;
        *lower_bound = 0;
        if (pos < 0)
                return -1;
        /* newest known sample at or below pos, and the known sample just after it */
        for (i = n; i-- > start;) {
                if (hw[i] < 0)
                        continue;
                first = i;
                if (hw[i] <= pos)
                        break;
                newer = i;
        }
        if (first == n)
                return -1; /* no known sample */
        if (newer == n)
                return 0; /* pos reached the newest high watermark: nothing unread then */
        if (hw[first] > pos) {
                /* written before the window began */
                *lower_bound = 1;
                age = now_ms - t_ms[first];
                return age > 0 ? age : 0;
        }
        /* hw[first] <= pos < hw[newer]: offset pos was written when the high watermark
         * passed pos + 1, somewhere between the two samples */
        double frac = (double)(pos + 1 - hw[first]) / (double)(hw[newer] - hw[first]);
        double written = (double)t_ms[first] + frac * (double)(t_ms[newer] - t_ms[first]);
        age = now_ms - (int64_t)written;
        return age > 0 ? age : 0;
}
