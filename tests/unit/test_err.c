/* test_err.c — base/err: every error code has its own name; anything else reads "internal". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"

static void test_every_code_has_a_distinct_name_and_unknown_codes_are_internal(void **state)
{
        (void)state;
        /* the names logs and metrics carry: changing one is a visible change */
        static const struct {
                int err;
                const char *name;
        } want[] = {
                {KP_OK, "ok"},
                {KP_ERR_INVALID, "invalid"},
                {KP_ERR_NOT_FOUND, "not_found"},
                {KP_ERR_EXISTS, "exists"},
                {KP_ERR_IN_USE, "in_use"},
                {KP_ERR_CONFLICT, "conflict"},
                {KP_ERR_UNPROCESSABLE, "unprocessable"},
                {KP_ERR_UNAVAILABLE, "unavailable"},
                {KP_ERR_TOO_LARGE, "too_large"},
                {KP_ERR_NOMEM, "nomem"},
                {KP_ERR_INTERNAL, "internal"},
        };
        size_t n = sizeof(want) / sizeof(want[0]);
        for (size_t i = 0; i < n; i++) {
                assert_string_equal(kp_err_name(want[i].err), want[i].name);
                for (size_t j = 0; j < i; j++)
                        assert_int_not_equal(want[i].err, want[j].err);
        }
        /* the codes run 0, -1 .. -10 without a gap: a new one is added at the end */
        assert_int_equal(KP_ERR_INTERNAL, -(int)(n - 1));
        assert_string_equal(kp_err_name(-11), "internal");
        assert_string_equal(kp_err_name(1), "internal");
        assert_string_equal(kp_err_name(-1000), "internal");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(
                        test_every_code_has_a_distinct_name_and_unknown_codes_are_internal),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
