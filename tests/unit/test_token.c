/* test_token.c — http/token: the API token of a public address, generated once (0600) and reused;
 * loopback without one; an operator's token file read whole or refused, never cut. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/config.h"
#include "http/token.h"

/* A fresh directory per test, its database path and its token file's path. */
typedef struct dir {
        char path[64];
        char db[128];
        char token[128];
} dir_t;

static int setup(void **state)
{
        dir_t *d = calloc(1, sizeof(*d));
        if (!d)
                return -1;
        snprintf(d->path, sizeof(d->path), "/tmp/kp-test-token-XXXXXX");
        if (!mkdtemp(d->path))
                return -1;
        snprintf(d->db, sizeof(d->db), "%s/kplane.db", d->path);
        snprintf(d->token, sizeof(d->token), "%s/" KP_TOKEN_FILE, d->path);
        unsetenv("KPLANE_API_TOKEN");
        unsetenv("KPLANE_INSECURE");
        *state = d;
        return 0;
}

static int teardown(void **state)
{
        dir_t *d = *state;
        unlink(d->token);
        rmdir(d->path);
        free(d);
        return 0;
}

static void write_file(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static void test_loopback_addresses_need_no_token(void **state)
{
        dir_t *d = *state;
        char err[256], *tok = (char *)"unset";
        const char *loop[] = {"127.0.0.1:8080", "127.1.2.3:1", "localhost:80", "[::1]:80",
                              "::1:80"};
        for (size_t i = 0; i < sizeof(loop) / sizeof(loop[0]); i++) {
                assert_true(kp_token_listen_is_loopback(loop[i]));
                assert_int_equal(kp_token_resolve(loop[i], d->db, &tok, err, sizeof(err)), 0);
                assert_null(tok);
        }
        assert_false(kp_token_listen_is_loopback("0.0.0.0:8080"));
        assert_false(kp_token_listen_is_loopback("10.0.0.1:8080"));
        assert_false(kp_token_listen_is_loopback("localhostx:80"));
        assert_false(kp_token_listen_is_loopback(":8080")); /* every address */
        assert_int_equal(access(d->token, F_OK), -1);       /* nothing was written */
}

static void test_a_public_address_generates_a_token_once_0600_and_reuses_it(void **state)
{
        dir_t *d = *state;
        char err[256], *first = NULL, *again = NULL;
        struct stat st;
        assert_int_equal(kp_token_resolve("0.0.0.0:8080", d->db, &first, err, sizeof(err)), 0);
        assert_non_null(first);
        assert_int_equal(strlen(first), 2 * KP_TOKEN_BYTES);
        assert_int_equal(strspn(first, "0123456789abcdef"), 2 * KP_TOKEN_BYTES);
        assert_int_equal(stat(d->token, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(kp_token_resolve("0.0.0.0:9090", d->db, &again, err, sizeof(err)), 0);
        assert_string_equal(again, first);
        free(first);
        free(again);
}

static void test_a_given_token_wins_and_insecure_needs_both_variables(void **state)
{
        dir_t *d = *state;
        char err[256], *tok = NULL;
        setenv("KPLANE_API_TOKEN", "given-secret", 1);
        assert_int_equal(kp_token_resolve("0.0.0.0:8080", d->db, &tok, err, sizeof(err)), 0);
        assert_string_equal(tok, "given-secret");
        free(tok);
        /* set but empty, with KPLANE_INSECURE=1: open on purpose, nothing written */
        setenv("KPLANE_API_TOKEN", "", 1);
        setenv("KPLANE_INSECURE", "1", 1);
        assert_int_equal(kp_token_resolve("0.0.0.0:8080", d->db, &tok, err, sizeof(err)), 0);
        assert_null(tok);
        assert_int_equal(access(d->token, F_OK), -1);
        /* KPLANE_INSECURE alone does not open it */
        unsetenv("KPLANE_API_TOKEN");
        assert_int_equal(kp_token_resolve("0.0.0.0:8080", d->db, &tok, err, sizeof(err)), 0);
        assert_non_null(tok);
        free(tok);
        unsetenv("KPLANE_INSECURE");
}

/* An operator's own token, longer than a generated one, is read whole (it was cut at 71
 * bytes), its first line only; a file past KP_TOKEN_FILE_MAX is refused, not cut. */
static void test_a_token_file_is_read_whole_or_refused(void **state)
{
        dir_t *d = *state;
        char err[256], *tok = NULL;
        char *long_token = malloc(301);
        memset(long_token, 'k', 300);
        long_token[300] = '\0';
        char *text = malloc(400);
        snprintf(text, 400, "%s\nsecond line\n", long_token);
        write_file(d->token, text);
        assert_int_equal(kp_token_resolve("0.0.0.0:8080", d->db, &tok, err, sizeof(err)), 0);
        assert_string_equal(tok, long_token);
        free(tok);
        tok = NULL;

        char *huge = malloc(KP_TOKEN_FILE_MAX + 2);
        memset(huge, 'h', KP_TOKEN_FILE_MAX + 1);
        huge[KP_TOKEN_FILE_MAX + 1] = '\0';
        write_file(d->token, huge);
        assert_int_equal(kp_token_resolve("0.0.0.0:8080", d->db, &tok, err, sizeof(err)), -1);
        assert_null(tok);
        assert_non_null(strstr(err, "over"));
        /* exactly at the limit is one token */
        huge[KP_TOKEN_FILE_MAX] = '\0';
        write_file(d->token, huge);
        assert_int_equal(kp_token_resolve("0.0.0.0:8080", d->db, &tok, err, sizeof(err)), 0);
        assert_int_equal(strlen(tok), KP_TOKEN_FILE_MAX);
        free(tok);
        /* an empty file holds no token: an error, not an open server */
        write_file(d->token, "\n");
        tok = NULL;
        assert_int_equal(kp_token_resolve("0.0.0.0:8080", d->db, &tok, err, sizeof(err)), -1);
        assert_null(tok);
        free(huge);
        free(text);
        free(long_token);
}

/* The token file sits beside the database, whatever the length of its directory's path. */
static void test_the_token_file_sits_in_the_database_directory(void **state)
{
        dir_t *d = *state;
        char err[256], *tok = NULL;
        char sub[512];
        snprintf(sub, sizeof(sub), "%s/%0200d", d->path, 0);
        assert_int_equal(mkdir(sub, 0700), 0);
        char db[600], file[600];
        snprintf(db, sizeof(db), "%s/x.db", sub);
        snprintf(file, sizeof(file), "%s/" KP_TOKEN_FILE, sub);
        assert_int_equal(kp_token_resolve("0.0.0.0:8080", db, &tok, err, sizeof(err)), 0);
        assert_int_equal(access(file, R_OK), 0);
        free(tok);
        unlink(file);
        rmdir(sub);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_loopback_addresses_need_no_token, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(
                        test_a_public_address_generates_a_token_once_0600_and_reuses_it, setup,
                        teardown),
                cmocka_unit_test_setup_teardown(
                        test_a_given_token_wins_and_insecure_needs_both_variables, setup, teardown),
                cmocka_unit_test_setup_teardown(test_a_token_file_is_read_whole_or_refused, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_the_token_file_sits_in_the_database_directory,
                                                setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
