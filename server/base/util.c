/* util.c — small shared helpers: time stamps, name checks, a growable byte buffer. */
#include "base/util.h"

#include "base/config.h"
#include "base/err.h"

#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

void kp_time_iso8601(char *buf, size_t size)
{
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int64_t kp_time_mono_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t kp_time_mono_ms(void)
{
        return kp_time_mono_ns() / 1000000;
}

static int name_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-';
}

int kp_name_valid(const char *s)
{
        size_t n;
        if (!s || !s[0] || !name_char(s[0]) || s[0] == '.' || s[0] == '_' || s[0] == '-')
                return 0;
        for (n = 0; s[n]; n++)
                if (!name_char(s[n]) || n >= KP_NAME_MAX)
                        return 0;
        return 1;
}

int kp_topic_name_valid(const char *s)
{
        size_t n;
        if (!s || !s[0])
                return 0;
        for (n = 0; s[n]; n++)
                if (!name_char(s[n]) || n >= KP_TOPIC_NAME_MAX)
                        return 0;
        /* Kafka refuses "." and ".." as topic names. */
        return strcmp(s, ".") && strcmp(s, "..");
}

/* Length of the well-formed UTF-8 sequence at @p s (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF, the rules jansson checks), or 0. */
static size_t utf8_seq(const unsigned char *s)
{
        if (s[0] < 0x80)
                return 1;
        size_t n = s[0] >= 0xc2 && s[0] <= 0xdf   ? 2
                   : s[0] >= 0xe0 && s[0] <= 0xef ? 3
                   : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4
                                                  : 0;
        for (size_t i = 1; i < n; i++)
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
        if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
            (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
                return 0;
        return n;
}

int kp_utf8_valid(const char *s)
{
        const unsigned char *u = (const unsigned char *)s;
        while (*u) {
                size_t n = utf8_seq(u);
                if (!n)
                        return 0;
                u += n;
        }
        return 1;
}

void kp_utf8_scrub(char *s)
{
        unsigned char *u = (unsigned char *)s;
        while (*u) {
                size_t n = utf8_seq(u);
                if (!n) {
                        *u = '?';
                        n = 1;
                }
                u += n;
        }
}

void kp_buf_init(kp_buf_t *b)
{
        memset(b, 0, sizeof(*b));
}

/* The one kept block (kp_buf_free): its memory is mapped and faulted in already. */
static pthread_mutex_t keep_lock = PTHREAD_MUTEX_INITIALIZER;
static char *keep_data;
static size_t keep_cap;

void kp_buf_free(void *data)
{
        size_t cap = data ? malloc_usable_size(data) : 0;
        if (cap < KP_BUF_HUGE_MIN || cap > KP_BUF_KEEP_MAX) {
                free(data);
                return;
        }
        pthread_mutex_lock(&keep_lock);
        if (cap > keep_cap) { /* the larger of the two serves more */
                char *old = keep_data;
                keep_data = data;
                keep_cap = cap;
                data = old;
        }
        pthread_mutex_unlock(&keep_lock);
        free(data);
}

/* The kept block when it holds @p need bytes (the caller owns it then), else NULL. */
static char *buf_take_kept(size_t need, size_t *capp)
{
        char *d = NULL;
        pthread_mutex_lock(&keep_lock);
        if (keep_data && keep_cap >= need) {
                d = keep_data;
                *capp = keep_cap;
                keep_data = NULL;
                keep_cap = 0;
        }
        pthread_mutex_unlock(&keep_lock);
        return d;
}

void kp_buf_cleanup(kp_buf_t *b)
{
        kp_buf_free(b->data);
        memset(b, 0, sizeof(*b));
}

/* A buffer of KP_BUF_HUGE_MIN bytes or more (a what-if answer of a million partitions is
 * ~55 MB) is one malloc mmaps afresh for every answer: without transparent huge pages each
 * 4 KiB of it is a page fault on first write, ~45% of writing such an answer here. Asked
 * for huge pages (where the kernel leaves them to madvise), it takes one fault per 2 MiB.
 * Advice only: it changes no byte, and nothing fails without it. */
static void buf_huge(char *d, size_t cap)
{
#ifdef MADV_HUGEPAGE
        if (cap < KP_BUF_HUGE_MIN)
                return;
        const uintptr_t page = 4096;
        uintptr_t from = ((uintptr_t)d + page - 1) & ~(page - 1),
                  to = ((uintptr_t)d + cap) & ~(page - 1);
        if (to > from)
                (void)madvise((void *)from, to - from, MADV_HUGEPAGE);
#else
        (void)d, (void)cap;
#endif
}

/* Grows the buffer to hold @p extra more bytes plus a NUL; doubles, so appends are
 * amortised O(1). */
static int buf_reserve(kp_buf_t *b, size_t extra)
{
        if (b->oom)
                return -1;
        /* no allocation reaches half the address space: refused before len + extra + 1
         * could wrap around (and look small) or the doubling below overflow */
        if (extra > SIZE_MAX / 2 - b->len - 1) {
                b->oom = 1;
                return -1;
        }
        size_t need = b->len + extra + 1;
        if (need <= b->cap)
                return 0;
        size_t cap = b->cap ? b->cap : 256;
        while (cap < need)
                cap *= 2;
        char *d = cap >= KP_BUF_HUGE_MIN ? buf_take_kept(need, &cap) : NULL;
        if (d) {
                if (b->len)
                        memcpy(d, b->data, b->len + 1);
                kp_buf_free(b->data);
        } else if (!(d = realloc(b->data, cap))) {
                b->oom = 1;
                return -1;
        } else {
                buf_huge(d, cap);
        }
        b->data = d;
        b->cap = cap;
        return 0;
}

int kp_buf_reserve(kp_buf_t *b, size_t extra)
{
        return buf_reserve(b, extra) ? KP_ERR_NOMEM : 0;
}

void kp_buf_append(kp_buf_t *b, const void *data, size_t len)
{
        if (buf_reserve(b, len))
                return;
        memcpy(b->data + b->len, data, len);
        b->len += len;
        b->data[b->len] = '\0';
}

void kp_buf_printf(kp_buf_t *b, const char *fmt, ...)
{
        va_list ap;
        char small[256];
        va_start(ap, fmt);
        int n = vsnprintf(small, sizeof(small), fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if ((size_t)n < sizeof(small)) {
                kp_buf_append(b, small, (size_t)n);
                return;
        }
        if (buf_reserve(b, (size_t)n))
                return;
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
        b->len += (size_t)n;
}

char *kp_buf_steal(kp_buf_t *b, size_t *lenp)
{
        char *d = b->data;
        if (lenp)
                *lenp = b->len;
        if (!d)
                d = calloc(1, 1);
        memset(b, 0, sizeof(*b));
        return d;
}
