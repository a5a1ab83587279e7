/* test_pattern.c — topic patterns: the linear-time engine agrees with glibc's regexec, refuses
 * what it cannot match in linear time, and its work is bounded by length x states. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/pattern.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Compiles @p re with both engines (glibc: regcomp with REG_EXTENDED | REG_NOSUB, the C
 * locale) and asserts they answer alike on every string. */
static void assert_agrees(const char *re, const char *const *strs, size_t nstrs)
{
        char errstr[256];
        regex_t rx;
        if (regcomp(&rx, re, REG_EXTENDED | REG_NOSUB))
                fail_msg("glibc does not compile /%s/: not a valid test pattern", re);
        kp_pattern_t *pat = kp_pattern_compile(re, errstr, sizeof(errstr));
        if (!pat)
                fail_msg("/%s/ compiles in glibc but not here: %s", re, errstr);
        for (size_t i = 0; i < nstrs; i++) {
                int want = regexec(&rx, strs[i], 0, NULL, 0) == 0;
                int got = kp_pattern_match(pat, strs[i]);
                if (got != want)
                        fail_msg("/%s/ on \"%s\": glibc %d, kp_pattern %d", re, strs[i], want, got);
        }
        kp_pattern_destroy(pat);
        regfree(&rx);
}

static const char *const strings[] = {
        "",     "a",   "b",      "ab",         "ba",        "aab",       "abab", "x",
        "xa",   "-",   ".",      "/",          "]",         "[",         "{",    "}",
        "(",    ")",   "|",      "^",          "$",         "\\",        "A",    "0",
        "%",    "a b", "a\tb",   "orders.eu",  "ordersXeu", "orders",    "c",    "abc",
        "aaab", "aa",  "bbbbbb", "payments-1", "_x",        "Z9.z-_",    "*",    "+",
        "?",    "&",   "a.b",    "acb",        "aaaaaaaab", "aaaaaaaaa",
};

/* Every construct the engine supports, and the corner cases of glibc's reading. */
static void test_each_construct_answers_as_glibc_does(void **state)
{
        (void)state;
        static const char *const patterns[] = {
                "",
                "a",
                "abc",
                ".",
                "a.b",
                "^a",
                "b$",
                "^ab$",
                "^$",
                "a|b",
                "ab|cd|",
                "a||b",
                "(|a)",
                "|a",
                "()",
                "(a)",
                "((a))",
                "(a|b)c",
                "a*",
                "a+",
                "a?",
                "^a*$",
                "^a+b$",
                "^a?b",
                "a**",
                "a+*",
                "a*+?",
                "a?{2}",
                "a{1}{2}",
                "a{2}",
                "^a{2}$",
                "a{2,}",
                "^a{2,3}$",
                "^a{0,1}b",
                "a{,2}",
                "^a{,2}$",
                "a{,}",
                "a{0}",
                "a{0,0}b",
                "^(ab){2}",
                "^(a|b){3,}$",
                "[ab]",
                "[^ab]",
                "^[^ab]*$",
                "[a-c]",
                "[]a]",
                "[^]a]",
                "[]-a]",
                "[]-]",
                "[^]]",
                "[a-]",
                "[-a]",
                "[^-a]",
                "[--/]",
                "[%--]",
                "[a-c-]",
                "[[]",
                "[a[]",
                "[\\]",
                "[\\.]",
                "[[:alpha:]]",
                "[[:digit:]]",
                "[[:alnum:]]",
                "[[:upper:]]",
                "[[:lower:]]",
                "[[:punct:]]",
                "[[:space:]]",
                "[[:blank:]]",
                "[[:xdigit:]]",
                "[[:print:]]",
                "[[:graph:]]",
                "[[:cntrl:]]",
                "[^[:alnum:]]",
                "[[:alpha:][:digit:]]",
                "[[:digit:]-]",
                "[[.-.]]",
                "[[=a=]]",
                "[a-[.c.]]",
                "[:alpha:]",
                "(^a)",
                "(a|^)b",
                "b$|a",
                "(a$)b",
                "(a$)|b",
                "(^)*",
                "(^)+a",
                "x(^)*a",
                "^^a",
                "a$$",
                "$a",
                "a^",
                "a^b",
                "\\.",
                "\\{",
                "\\}",
                "\\(",
                "\\)",
                "\\[",
                "\\]",
                "\\|",
                "\\^",
                "\\$",
                "\\*",
                "\\+",
                "\\?",
                "\\\\",
                "\\-",
                "\\/",
                "\\_",
                "\\&",
                "a}",
                "]",
                "}",
                "^orders\\..*",
                "^orders\\.(eu|us)$",
                "^payments-[0-9]+$",
                "^[A-Za-z0-9._-]{1,249}$",
                "(a*)*b",
                "(a|a)*b",
                "^(a|a)*(a|a)*(a|a)*b$",
                "(a*)+$",
                "(a+|b+)*c",
        };
        for (size_t i = 0; i < N(patterns); i++)
                assert_agrees(patterns[i], strings, N(strings));
}

/* Bracket expressions byte by byte, every ASCII byte. */
static void test_classes_agree_with_glibc_on_every_ascii_byte(void **state)
{
        (void)state;
        static const char *const patterns[] = {
                ".",           "[[:alpha:]]",  "[[:digit:]]", "[[:alnum:]]",
                "[[:upper:]]", "[[:lower:]]",  "[[:punct:]]", "[[:space:]]",
                "[[:blank:]]", "[[:xdigit:]]", "[[:print:]]", "[[:graph:]]",
                "[[:cntrl:]]", "[^a-z]",       "[ -~]",       "[^[:print:]]"};
        char s[128][2];
        const char *strs[127];
        for (int c = 1; c < 128; c++) {
                s[c][0] = (char)c;
                s[c][1] = '\0';
                strs[c - 1] = s[c];
        }
        for (size_t i = 0; i < N(patterns); i++)
                assert_agrees(patterns[i], strs, N(strs));
}

/* xorshift64*: a fixed seed, so a failure reproduces. */
static uint64_t rng_state;

static unsigned rnd(unsigned n)
{
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return (unsigned)((rng_state * 2685821657736338717ULL) >> 33) % n;
}

/* A random pattern written twice: as given to kp_pattern ("ours") and with every
 * counted repetition and `+` written out for glibc ("theirs": X{1,2} as XX?, X+ as XX*).
 * glibc duplicates the subtree itself for those and gets anchors in the copies wrong:
 * (^b|a$){2} matches "baa" there, (^b|a$)(^b|a$) does not. */
typedef struct gen {
        char ours[1024], theirs[4096];
} gen_t;

static void cat(char *dst, size_t size, const char *s)
{
        size_t n = strlen(dst), m = strlen(s);
        if (n + m < size)
                memcpy(dst + n, s, m + 1);
}

#define PUT(g, o, t)                                                                               \
        do {                                                                                       \
                cat((g)->ours, sizeof((g)->ours), (o));                                            \
                cat((g)->theirs, sizeof((g)->theirs), (t));                                        \
        } while (0)

static void gen_alt(gen_t *g, int depth);

/* An atom that may be repeated. */
static void gen_atom(gen_t *g, int depth)
{
        static const char *const atoms[] = {"a",     "b",     "c",    ".",     "[ab]",
                                            "[^a]",  "[a-b]", "[]a]", "[^]b]", "[[:alpha:]]",
                                            "[b-c]", "\\.",   "a",    "b",     "[c-]"};
        if (depth > 0 && rnd(4) == 0) {
                gen_t in = {"", ""};
                gen_alt(&in, depth - 1);
                PUT(g, "(", "(");
                PUT(g, in.ours, in.theirs);
                PUT(g, ")", ")");
                return;
        }
        const char *a = atoms[rnd(N(atoms))];
        PUT(g, a, a);
}

/* Applies quantifier @p q to the atom @p a, written out for glibc into @p out. */
static void spell_out(char *out, size_t size, const char *a, const char *q)
{
        static const struct {
                const char *q, *shape; /* shape: A = the atom */
        } shapes[] = {
                {"*", "A*"},      {"+", "AA*"},       {"?", "A?"},      {"{2}", "AA"},
                {"{0,1}", "A?"},  {"{1,2}", "AA?"},   {"{2,}", "AAA*"}, {"{0}", "()"},
                {"{,2}", "A?A?"}, {"{1,3}", "AA?A?"},
        };
        out[0] = '\0';
        for (size_t i = 0; i < N(shapes); i++) {
                if (strcmp(shapes[i].q, q))
                        continue;
                for (const char *c = shapes[i].shape; *c; c++) {
                        char ch[2] = {*c, '\0'};
                        cat(out, size, *c == 'A' ? a : ch);
                }
                return;
        }
        fail_msg("no shape for %s", q);
}

static void gen_piece(gen_t *g, int depth)
{
        static const char *const quants[] = {"*",     "+",    "?",   "{2}",  "{0,1}",
                                             "{1,2}", "{2,}", "{0}", "{,2}", "{1,3}"};
        if (rnd(12) == 0) {
                const char *anchor = rnd(2) ? "^" : "$";
                PUT(g, anchor, anchor);
                return;
        }
        gen_t atom = {"", ""};
        char spelt[4096], wrapped[4096];
        gen_atom(&atom, depth);
        /* one quantifier, seldom a second on top */
        for (int k = 0; k < 2 && rnd(k ? 16 : 3) == 0; k++) {
                const char *q = quants[rnd(k ? 3 : N(quants))];
                cat(atom.ours, sizeof(atom.ours), q);
                spell_out(spelt, sizeof(spelt), atom.theirs, q);
                snprintf(wrapped, sizeof(wrapped), "(%s)", spelt);
                snprintf(atom.theirs, sizeof(atom.theirs), "%s", wrapped);
        }
        PUT(g, atom.ours, atom.theirs);
}

static void gen_branch(gen_t *g, int depth)
{
        unsigned n = rnd(4);
        for (unsigned i = 0; i < n; i++)
                gen_piece(g, depth);
}

static void gen_alt(gen_t *g, int depth)
{
        gen_branch(g, depth);
        while (rnd(4) == 0) {
                PUT(g, "|", "|");
                gen_branch(g, depth);
        }
}

/* Thousands of random small patterns over {a, b, c} against random strings: each
 * answer must be glibc's (on the written-out pattern). */
static void test_random_patterns_agree_with_glibc(void **state)
{
        (void)state;
        enum { PATTERNS = 4000, STRINGS = 16 };
        char errstr[256];
        char sbuf[STRINGS][12];
        size_t cases = 0;
        rng_state = 0x6b706c616e65ULL; /* "kplane" */
        for (int i = 0; i < PATTERNS; i++) {
                gen_t g = {"", ""};
                regex_t rx;
                gen_alt(&g, 3);
                if (regcomp(&rx, g.theirs, REG_EXTENDED | REG_NOSUB))
                        fail_msg("glibc does not compile /%s/", g.theirs);
                kp_pattern_t *pat = kp_pattern_compile(g.ours, errstr, sizeof(errstr));
                if (!pat)
                        fail_msg("/%s/ does not compile: %s", g.ours, errstr);
                for (int k = 0; k < STRINGS; k++) {
                        unsigned len = rnd(10);
                        for (unsigned j = 0; j < len; j++)
                                sbuf[k][j] = "abc"[rnd(3)];
                        sbuf[k][len] = '\0';
                        int want = regexec(&rx, sbuf[k], 0, NULL, 0) == 0;
                        int got = kp_pattern_match(pat, sbuf[k]);
                        if (got != want)
                                fail_msg("/%s/ (glibc: /%s/) on \"%s\": glibc %d, kp_pattern %d",
                                         g.ours, g.theirs, sbuf[k], want, got);
                        cases++;
                }
                kp_pattern_destroy(pat);
                regfree(&rx);
        }
        assert_true(cases >= 50000);
}

/* Each refusal names its construct. */
static void test_what_is_not_linear_or_not_posix_is_refused_by_name(void **state)
{
        (void)state;
        static const struct {
                const char *re, *why;
        } cases[] = {
                {"^(a*)*\\1\\1$", "back-references (\\1)"},
                {"(a)\\2", "back-references (\\2)"},
                {"\\9", "back-references"},
                {"\\w", "unsupported escape \\w"},
                {"\\<a", "unsupported escape \\<"},
                {"a\\>", "unsupported escape \\>"},
                {"\\n", "unsupported escape \\n"},
                {"\\0", "unsupported escape \\0"},
                {"a\\", "trailing backslash"},
                {"(a", "unbalanced parenthesis: '(' at offset 0"},
                {"((a)", "unbalanced parenthesis"},
                {"a)", "unbalanced parenthesis: ')' at offset 1"},
                {"(a))", "unbalanced parenthesis"},
                {"[ab", "unbalanced bracket"},
                {"[]", "unbalanced bracket"},
                {"[[:alpha:]", "unbalanced bracket"},
                {"[[:]", "unbalanced bracket"},
                {"[[:foo:]]", "unknown character class [:foo:]"},
                {"[[.ab.]]", "collating element"},
                {"[z-a]", "invalid range"},
                {"[a-c-e]", "invalid range"},
                {"[[:alpha:]-z]", "invalid range"},
                {"[a-[:digit:]]", "invalid range"},
                {"*a", "nothing to repeat"},
                {"a|*b", "nothing to repeat"},
                {"(+a)", "nothing to repeat"},
                {"{1}", "nothing to repeat"},
                {"^*", "anchor cannot be repeated"},
                {"a$+", "anchor cannot be repeated"},
                {"a{", "unbalanced brace"},
                {"a{1,2", "unbalanced brace"},
                {"a{x}", "invalid repetition"},
                {"a{}", "invalid repetition"},
                {"a{2,1}", "maximum is below the minimum"},
                {"a{256}", "over 255"},
                {"a{1,99999999999999999999}", "over 255"},
                {"(a{1,100}){1,100}", "too complex"},
                {"((a{1,255}){1,255}){1,255}", "too complex"},
                {"(((a{255}){255}){255}){255}", "too complex"},
        };
        char errstr[256];
        for (size_t i = 0; i < N(cases); i++) {
                errstr[0] = '\0';
                kp_pattern_t *pat = kp_pattern_compile(cases[i].re, errstr, sizeof(errstr));
                if (pat)
                        fail_msg("/%s/ compiled; it must be refused (%s)", cases[i].re,
                                 cases[i].why);
                if (!strstr(errstr, cases[i].why))
                        fail_msg("/%s/: \"%s\" does not say \"%s\"", cases[i].re, errstr,
                                 cases[i].why);
        }
        /* the length limit is the engine's own, whoever calls it */
        char long_re[KP_PATTERN_MAX + 2];
        memset(long_re, 'a', sizeof(long_re) - 1);
        long_re[sizeof(long_re) - 1] = '\0';
        assert_null(kp_pattern_compile(long_re, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "over the limit"));
}

/* Repeating nothing costs nothing to compile, however deep: ((){255}){255}... must not
 * walk 255^k copies of an empty group. */
static void test_nested_counts_of_nothing_compile_at_once(void **state)
{
        (void)state;
        char re[KP_PATTERN_MAX + 1] = "";
        size_t len = 0;
        while (len + 7 < 500) {
                memmove(re + 1, re, len + 1);
                re[0] = '(';
                len++;
                strcat(re, "){255}");
                len += 6;
        }
        char errstr[256];
        kp_pattern_t *pat = kp_pattern_compile(re, errstr, sizeof(errstr));
        if (!pat)
                fail_msg("%s: %s", re, errstr);
        assert_int_equal(kp_pattern_match(pat, "anything"), 1);
        kp_pattern_destroy(pat);
}

/* Any pattern of the length limit without counted repetition fits in the states:
 * a stacked star costs the most (two states a character). */
static void test_the_longest_patterns_fit_the_state_limit(void **state)
{
        (void)state;
        char re[KP_PATTERN_MAX + 1];
        char errstr[256];
        re[0] = 'a';
        memset(re + 1, '*', KP_PATTERN_MAX - 1);
        re[KP_PATTERN_MAX] = '\0';
        kp_pattern_t *pat = kp_pattern_compile(re, errstr, sizeof(errstr));
        if (!pat)
                fail_msg("%s", errstr);
        assert_true(kp_pattern_states(pat) <= KP_PATTERN_STATES_MAX);
        assert_int_equal(kp_pattern_match(pat, "bbb"), 1);
        kp_pattern_destroy(pat);
        for (size_t i = 0; i + 2 < KP_PATTERN_MAX; i += 2) {
                re[i] = 'a';
                re[i + 1] = '|';
        }
        re[KP_PATTERN_MAX - 2] = 'b'; /* a|a|...|a|b */
        re[KP_PATTERN_MAX - 1] = '\0';
        pat = kp_pattern_compile(re, errstr, sizeof(errstr));
        if (!pat)
                fail_msg("%s", errstr);
        assert_true(kp_pattern_states(pat) <= KP_PATTERN_STATES_MAX);
        assert_int_equal(kp_pattern_match(pat, "xxb"), 1);
        assert_int_equal(kp_pattern_match(pat, "xxc"), 0);
        kp_pattern_destroy(pat);
}

/* The VM visits each state at most a few times per character: the steps of a match
 * are bounded by (length + 1) x 4 x states, and grow linearly with the length on the
 * patterns that make a backtracking engine explode. No clock involved. */
static void test_work_is_linear_in_the_string_and_bounded_by_states(void **state)
{
        (void)state;
        static const char *const evil[] = {
                "(a*)*b",   "^(a|a)*(a|a)*(a|a)*b$", "(a|aa)*c",
                "^(a+)+$x", "(.*)*(.*)*(.*)*z",      "^(a?){30}a{30}$",
        };
        char errstr[256];
        char s[1001];
        for (size_t i = 0; i < N(evil); i++) {
                kp_pattern_t *pat = kp_pattern_compile(evil[i], errstr, sizeof(errstr));
                if (!pat)
                        fail_msg("%s: %s", evil[i], errstr);
                size_t states = kp_pattern_states(pat);
                assert_true(states <= KP_PATTERN_STATES_MAX);
                uint64_t steps_at[4];
                size_t lens[4] = {125, 250, 500, 1000};
                for (int k = 0; k < 4; k++) {
                        memset(s, 'a', lens[k]);
                        s[lens[k]] = '\0';
                        uint64_t steps = 0;
                        int m = kp_pattern_match_steps(pat, s, &steps);
                        assert_true(m == 0 || m == 1);
                        if (steps > (uint64_t)(lens[k] + 1) * 4 * states)
                                fail_msg("/%s/ on %zu chars: %llu steps over the bound", evil[i],
                                         lens[k], (unsigned long long)steps);
                        steps_at[k] = steps;
                }
                /* doubling the string at most about doubles the work */
                for (int k = 1; k < 4; k++)
                        if (steps_at[k] > steps_at[k - 1] * 2 + states * 4)
                                fail_msg("/%s/: %llu then %llu steps: not linear", evil[i],
                                         (unsigned long long)steps_at[k - 1],
                                         (unsigned long long)steps_at[k]);
                kp_pattern_destroy(pat);
        }
}

/* The attack of issue 12: a 249-character topic name against the worst patterns the
 * limits admit stays within the bound (and the back-reference one is refused). */
static void test_a_249_character_topic_is_matched_within_the_bound(void **state)
{
        (void)state;
        char name[250], errstr[256];
        memset(name, 'a', 249);
        name[249] = '\0';
        assert_null(kp_pattern_compile("^(a*)*\\1\\1$", errstr, sizeof(errstr)));
        static const char *const worst[] = {"^(a*)*(a*)*(a*)*b$", "(a|b|.){1,255}x",
                                            "((a*){1,20}){1,20}x"};
        for (size_t i = 0; i < N(worst); i++) {
                kp_pattern_t *pat = kp_pattern_compile(worst[i], errstr, sizeof(errstr));
                if (!pat)
                        fail_msg("%s: %s", worst[i], errstr);
                uint64_t steps = 0;
                assert_int_equal(kp_pattern_match_steps(pat, name, &steps), 0);
                assert_true(steps <= 250ULL * 4 * kp_pattern_states(pat));
                kp_pattern_destroy(pat);
        }
}

static void test_destroy_null_does_nothing(void **state)
{
        (void)state;
        kp_pattern_destroy(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_each_construct_answers_as_glibc_does),
                cmocka_unit_test(test_classes_agree_with_glibc_on_every_ascii_byte),
                cmocka_unit_test(test_random_patterns_agree_with_glibc),
                cmocka_unit_test(test_what_is_not_linear_or_not_posix_is_refused_by_name),
                cmocka_unit_test(test_nested_counts_of_nothing_compile_at_once),
                cmocka_unit_test(test_the_longest_patterns_fit_the_state_limit),
                cmocka_unit_test(test_work_is_linear_in_the_string_and_bounded_by_states),
                cmocka_unit_test(test_a_249_character_topic_is_matched_within_the_bound),
                cmocka_unit_test(test_destroy_null_does_nothing),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
