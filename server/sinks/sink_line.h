/* sink_line.h — internal: one record as one JSON object, the line sinks write. */
#ifndef KP_SINK_LINE_H
#define KP_SINK_LINE_H

#include "sinks/sink.h"

/* @returns an upper bound of the bytes kp_sink_line_write writes for @p m. */
size_t kp_sink_line_max(const kp_sink_msg_t *m);
/*
 * Writes @p m at @p out (room for kp_sink_line_max) as {"cluster", "topic", "partition",
 * "offset", "timestamp" (unix ms or null), "headers" ([{"key", "value"}], value base64 or
 * null), "key", "value" (base64 or null)}, without a newline. @returns the bytes written.
 */
size_t kp_sink_line_write(char *out, const kp_sink_msg_t *m);

#endif /* KP_SINK_LINE_H */
