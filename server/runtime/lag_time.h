/* lag_time.h — lag in time: how long ago the oldest unread message of a partition was
 * written, estimated from samples of its high watermark. */
#ifndef KP_LAG_TIME_H
#define KP_LAG_TIME_H

#include <stddef.h>
#include <stdint.h>

/*
 * Estimates the age at @p now_ms of the message at offset @p pos (the group's position: the
 * oldest message it has not read) from @p n samples, oldest first, of the partition's high
 * watermark @p hw[i] taken at @p t_ms[i] (-1: unknown, skipped). This is kafka-lag-exporter's
 * method: find the two samples between which the high watermark passed @p pos and interpolate
 * linearly; no message is fetched. A high watermark that went down (topic re-created) starts
 * the window again after the drop.
 * @returns the age in ms (0 when @p pos has reached the newest sample's high watermark), or -1
 * when nothing is known. When @p pos is older than the whole window, the answer is the age
 * of the oldest sample and *@p lower_bound is set to 1 (the true age is larger); else 0.
 * Pure; O(n).
 */
int64_t kp_lag_time_ms(const int64_t *t_ms, const int64_t *hw, size_t n, int64_t pos,
                       int64_t now_ms, int *lower_bound);

#endif /* KP_LAG_TIME_H */
