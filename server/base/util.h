/* util.h — small shared helpers: time stamps, name checks, a growable byte buffer. */
#ifndef KP_UTIL_H
#define KP_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Writes the current UTC time as "2026-11-25T20:00:00Z" into @p buf (>= 21 bytes). */
void kp_time_iso8601(char *buf, size_t size);
/* Monotonic clock in milliseconds / nanoseconds. */
int64_t kp_time_mono_ms(void);
int64_t kp_time_mono_ns(void);

/* 1 when @p s matches KP_NAME_RULE (cluster, group names; config.h). */
int kp_name_valid(const char *s);
/* 1 when @p s matches KP_TOPIC_NAME_RULE (Kafka topic names; config.h). */
int kp_topic_name_valid(const char *s);

/* 1 when @p s is well-formed UTF-8 (what jansson accepts in a string). */
int kp_utf8_valid(const char *s);
/* Replaces, in place, each byte of @p s that is not part of well-formed UTF-8 with '?',
 * so a string echoed from a request can always go into JSON. */
void kp_utf8_scrub(char *s);

/* A growable byte buffer. Embedded: kp_buf_init / kp_buf_cleanup. */
typedef struct kp_buf {
        char *data; /* NUL-terminated when len > 0 */
        size_t len;
        size_t cap;
        int oom; /* set once an append failed; later appends do nothing */
} kp_buf_t;

void kp_buf_init(kp_buf_t *b);
void kp_buf_cleanup(kp_buf_t *b);
/* Makes room for @p extra more bytes (and the NUL) past len, so a writer can store into
 * data + len directly; it then sets len and the NUL itself. @returns 0 or KP_ERR_NOMEM
 * (and sets b->oom). */
int kp_buf_reserve(kp_buf_t *b, size_t extra);
/* Appends bytes; on allocation failure sets b->oom. */
void kp_buf_append(kp_buf_t *b, const void *data, size_t len);
void kp_buf_printf(kp_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the buffer's memory to the caller (kp_buf_free, or free()) and resets @p b. */
char *kp_buf_steal(kp_buf_t *b, size_t *lenp);
/* Frees memory of a kp_buf_t (kp_buf_steal's): a large block (KP_BUF_HUGE_MIN up to
 * KP_BUF_KEEP_MAX) is kept, one at a time, for the next large buffer to grow into. */
void kp_buf_free(void *data);

#endif /* KP_UTIL_H */
