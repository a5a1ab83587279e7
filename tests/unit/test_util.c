/* test_util.c — base/util: name rules at their limits, UTF-8 checks, the growable buffer, time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "base/config.h"
#include "base/err.h"
#include "base/util.h"

/* @returns a string of @p n copies of @p c (free()). */
static char *repeat(char c, size_t n)
{
        char *s = malloc(n + 1);
        assert_non_null(s);
        memset(s, c, n);
        s[n] = '\0';
        return s;
}

static void test_names_are_accepted_up_to_kp_name_max_and_refused_past_it(void **state)
{
        (void)state;
        char *at = repeat('a', KP_NAME_MAX), *over = repeat('a', KP_NAME_MAX + 1);
        assert_true(kp_name_valid(at));
        assert_false(kp_name_valid(over));
        assert_true(kp_name_valid("c1.eu_west-2"));
        assert_false(kp_name_valid(""));
        assert_false(kp_name_valid(NULL));
        /* the first character is a letter or a digit */
        assert_false(kp_name_valid(".x"));
        assert_false(kp_name_valid("-x"));
        assert_false(kp_name_valid("_x"));
        assert_false(kp_name_valid("a/b"));
        assert_false(kp_name_valid("a b"));
        free(at);
        free(over);
}

static void test_topic_names_follow_kafka_up_to_249_characters(void **state)
{
        (void)state;
        char *at = repeat('t', KP_TOPIC_NAME_MAX), *over = repeat('t', KP_TOPIC_NAME_MAX + 1);
        assert_int_equal(KP_TOPIC_NAME_MAX, 249); /* Kafka's, not ours to change */
        assert_true(kp_topic_name_valid(at));
        assert_false(kp_topic_name_valid(over));
        assert_true(kp_topic_name_valid("_internal.x-1"));
        assert_false(kp_topic_name_valid("."));
        assert_false(kp_topic_name_valid(".."));
        assert_true(kp_topic_name_valid("..."));
        assert_false(kp_topic_name_valid(""));
        assert_false(kp_topic_name_valid("a:b"));
        free(at);
        free(over);
}

/* The rules quoted in error messages name the same lengths as the limits. */
static void test_name_rules_in_messages_follow_the_limits(void **state)
{
        (void)state;
        char want[128];
        snprintf(want, sizeof(want), "^[A-Za-z0-9][A-Za-z0-9._-]{0,%d}$", KP_NAME_MAX - 1);
        assert_string_equal(KP_NAME_RULE, want);
        snprintf(want, sizeof(want), "^[A-Za-z0-9._-]{1,%d}$", KP_TOPIC_NAME_MAX);
        assert_string_equal(KP_TOPIC_NAME_RULE, want);
        assert_string_equal(KP_STR(KP_HTTP_MAX_BODY_MIB), "1");
        assert_int_equal(KP_HTTP_MAX_BODY, KP_HTTP_MAX_BODY_MIB * 1024 * 1024);
}

static void test_utf8_is_checked_as_jansson_does_and_scrubbed_in_place(void **state)
{
        (void)state;
        assert_true(kp_utf8_valid("plain"));
        assert_true(kp_utf8_valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
        assert_false(kp_utf8_valid("\xc0\xaf"));         /* overlong '/' */
        assert_false(kp_utf8_valid("\xed\xa0\x80"));     /* a surrogate */
        assert_false(kp_utf8_valid("\xf4\x90\x80\x80")); /* past U+10FFFF */
        assert_false(kp_utf8_valid("\xe2\x82"));         /* cut short */
        char s[] = "a\xff"
                   "b\xc3\xa9\xe2\x82";
        kp_utf8_scrub(s);
        assert_string_equal(s, "a?b\xc3\xa9??");
        assert_true(kp_utf8_valid(s));
}

static void test_buffer_grows_past_any_size_and_hands_its_memory_over(void **state)
{
        (void)state;
        kp_buf_t b;
        kp_buf_init(&b);
        for (int i = 0; i < 10000; i++)
                kp_buf_append(&b, "0123456789", 10);
        assert_int_equal(b.len, 100000);
        assert_int_equal(b.data[b.len], '\0');
        assert_false(b.oom);
        /* a formatted piece longer than printf's stack buffer is written whole */
        char *big = repeat('x', 5000);
        kp_buf_printf(&b, "[%s]%d", big, 42);
        assert_int_equal(b.len, 100000 + 5000 + 4);
        assert_memory_equal(b.data + 100000, "[x", 2);
        assert_string_equal(b.data + b.len - 4, "x]42");
        free(big);
        size_t len;
        char *d = kp_buf_steal(&b, &len);
        assert_int_equal(len, 100000 + 5004);
        assert_null(b.data);
        assert_int_equal(b.len, 0);
        free(d);
        /* an empty buffer still gives a string */
        d = kp_buf_steal(&b, &len);
        assert_non_null(d);
        assert_string_equal(d, "");
        assert_int_equal(len, 0);
        free(d);
        kp_buf_cleanup(&b);
}

/* 1 when the mapping holding @p addr is advised for huge pages (VmFlags "hg"), 0 when
 * not, -1 when /proc/self/smaps does not say. */
static int mapping_advised_huge(const void *addr)
{
        FILE *f = fopen("/proc/self/smaps", "r");
        char line[512];
        int in = 0, found = -1;
        uintptr_t a = (uintptr_t)addr;
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f)) {
                unsigned long lo, hi;
                char perms[8];
                if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3) { /* a mapping's line */
                        in = a >= lo && a < hi;
                } else if (in && !strncmp(line, "VmFlags:", 8)) {
                        found = strstr(line, " hg") != NULL;
                        break;
                }
        }
        fclose(f);
        return found;
}

/* A buffer grown past KP_BUF_HUGE_MIN keeps every byte, and where the kernel has
 * transparent huge pages its memory is advised for them (what saves the page faults). */
static void test_a_large_buffer_keeps_its_bytes_and_asks_for_huge_pages(void **state)
{
        (void)state;
        kp_buf_t b;
        kp_buf_init(&b);
        size_t n = KP_BUF_HUGE_MIN + KP_BUF_HUGE_MIN / 2;
        for (size_t i = 0; i < n; i += 8)
                kp_buf_append(&b, "01234567", 8);
        assert_false(b.oom);
        assert_int_equal(b.len, n);
        assert_true(b.cap >= KP_BUF_HUGE_MIN);
        for (size_t i = 0; i < n; i += 8)
                if (memcmp(b.data + i, "01234567", 8))
                        fail_msg("byte %zu changed", i);
        FILE *thp = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
        if (thp) {
                char mode[128] = "";
                if (!fgets(mode, sizeof(mode), thp))
                        mode[0] = '\0';
                fclose(thp);
                if (!strstr(mode, "[never]"))
                        assert_int_equal(mapping_advised_huge(b.data + n / 2), 1);
        }
        kp_buf_cleanup(&b);
}

/* A large buffer's memory, freed, is the next large buffer's (faulted in already: a
 * 1M-partition what-if answer took 31 ms in fresh memory, 20 in kept), with what that buffer
 * held before it grew; one block at a time, the larger kept; a small block never. */
static void test_a_freed_large_buffer_is_kept_for_the_next_one(void **state)
{
        (void)state;
        kp_buf_t a, b, c;
        size_t len;
        kp_buf_init(&a);
        assert_int_equal(kp_buf_reserve(&a, 4 * KP_BUF_HUGE_MIN), 0);
        char *big = a.data;
        kp_buf_cleanup(&a); /* kept */

        kp_buf_init(&b);
        kp_buf_append(&b, "head", 4);
        assert_int_equal(kp_buf_reserve(&b, KP_BUF_HUGE_MIN + 1), 0);
        assert_ptr_equal(b.data, big);
        assert_string_equal(b.data, "head");
        assert_true(b.cap >= 4 + KP_BUF_HUGE_MIN + 2);
        /* taken: the next large buffer gets other memory */
        kp_buf_init(&c);
        assert_int_equal(kp_buf_reserve(&c, KP_BUF_HUGE_MIN), 0);
        assert_ptr_not_equal(c.data, big);
        char *other = c.data;
        /* a stolen answer handed back (as the HTTP layer does) is kept too; of two, the
         * larger: b's block, not c's smaller one */
        char *body = kp_buf_steal(&b, &len);
        assert_int_equal(len, 4);
        kp_buf_cleanup(&c);
        kp_buf_free(body);
        kp_buf_init(&a);
        assert_int_equal(kp_buf_reserve(&a, KP_BUF_HUGE_MIN + 1), 0);
        assert_ptr_equal(a.data, big);
        assert_ptr_not_equal(a.data, other);
        /* a small block is freed, not kept: the kept one stays */
        kp_buf_cleanup(&a);
        kp_buf_init(&b);
        kp_buf_append(&b, "x", 1);
        kp_buf_cleanup(&b);
        kp_buf_init(&a);
        assert_int_equal(kp_buf_reserve(&a, KP_BUF_HUGE_MIN + 1), 0);
        assert_ptr_equal(a.data, big);
        kp_buf_cleanup(&a);
}

static void test_buffer_reserve_lets_a_writer_store_in_place(void **state)
{
        (void)state;
        kp_buf_t b;
        kp_buf_init(&b);
        kp_buf_append(&b, "ab", 2);
        assert_int_equal(kp_buf_reserve(&b, 1000), 0);
        assert_true(b.cap >= b.len + 1000 + 1);
        memset(b.data + b.len, 'c', 1000);
        b.len += 1000;
        b.data[b.len] = '\0';
        assert_int_equal(strlen(b.data), 1002);
        /* a failed allocation is remembered and later appends do nothing */
        /* (SIZE_MAX once wrapped len + extra + 1 round to a size that "fitted") */
        assert_int_equal(kp_buf_reserve(&b, SIZE_MAX), KP_ERR_NOMEM);
        assert_true(b.oom);
        kp_buf_append(&b, "d", 1);
        assert_int_equal(b.len, 1002);
        kp_buf_cleanup(&b);
        assert_null(b.data);
}

static void test_time_stamps_are_utc_iso8601_and_the_clock_is_monotonic(void **state)
{
        (void)state;
        char buf[32];
        kp_time_iso8601(buf, sizeof(buf));
        assert_int_equal(strlen(buf), 20);
        int y, mo, d, h, mi, s;
        assert_int_equal(sscanf(buf, "%4d-%2d-%2dT%2d:%2d:%2dZ", &y, &mo, &d, &h, &mi, &s), 6);
        assert_true(y >= 2024 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31);
        int64_t a = kp_time_mono_ns(), ms = kp_time_mono_ms();
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
        int64_t b = kp_time_mono_ns();
        assert_true(b - a >= 2 * 1000 * 1000);
        assert_true(kp_time_mono_ms() >= ms + 2);
        assert_true(ms == a / 1000000 || ms == a / 1000000 + 1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names_are_accepted_up_to_kp_name_max_and_refused_past_it),
                cmocka_unit_test(test_topic_names_follow_kafka_up_to_249_characters),
                cmocka_unit_test(test_name_rules_in_messages_follow_the_limits),
                cmocka_unit_test(test_utf8_is_checked_as_jansson_does_and_scrubbed_in_place),
                cmocka_unit_test(test_buffer_grows_past_any_size_and_hands_its_memory_over),
                cmocka_unit_test(test_buffer_reserve_lets_a_writer_store_in_place),
                cmocka_unit_test(test_a_large_buffer_keeps_its_bytes_and_asks_for_huge_pages),
                cmocka_unit_test(test_a_freed_large_buffer_is_kept_for_the_next_one),
                cmocka_unit_test(test_time_stamps_are_utc_iso8601_and_the_clock_is_monotonic),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
