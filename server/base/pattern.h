/* pattern.h — topic patterns: a linear-time matcher for the POSIX extended regex subset. */
#ifndef KP_PATTERN_H
#define KP_PATTERN_H

#include <stddef.h>
#include <stdint.h>

/*
 * A compiled topic pattern: a Thompson NFA simulated with a state set (a Pike VM
 * without captures), so a match costs O(length of the string x states) whatever the
 * pattern; glibc's regexec backtracks and `^(a*)*\1\1$` pinned a core forever.
 *
 * The syntax is POSIX ERE as regcomp(REG_EXTENDED) reads it, in the C locale, byte by
 * byte: literals, `.`, bracket expressions (ranges, `^` negation, [:class:], [.c.] and
 * [=c=] of one character), `^` and `$` anywhere, `( )`, `|`, `*` `+` `?`, `{m}` `{m,}`
 * `{m,n}` (and glibc's `{,n}`), `\` before a punctuation character. Search semantics
 * like regexec: a match anywhere in the string unless anchored.
 *
 * Refused at compile time, with a message naming the construct: back-references
 * (`\1`..`\9`, not matchable in linear time), other escapes (`\w`, `\<`, `\n`...),
 * unbalanced `(`, `)`, `[`, `{`, a repetition of nothing or of an anchor, counts over
 * KP_PATTERN_REPEAT_MAX, patterns over KP_PATTERN_MAX characters and programs over
 * KP_PATTERN_STATES_MAX states (counted before `{m,n}` is expanded). Where glibc takes
 * an unmatched `)` as a literal, this refuses it.
 */
typedef struct kp_pattern kp_pattern_t;

/* Compiles @p re. @returns a new pattern (kp_pattern_destroy) or NULL with the reason
 * in @p errstr ("out of memory" included). */
kp_pattern_t *kp_pattern_compile(const char *re, char *errstr, size_t errstr_size);

/* @returns 1 when @p s contains a match of @p pat, 0 when not, KP_ERR_NOMEM when the
 * state set cannot be allocated. Costs O(strlen(s) x states); thread-safe (the
 * pattern is read-only, the state set is the call's own). */
int kp_pattern_match(const kp_pattern_t *pat, const char *s);

/* kp_pattern_match that also adds the VM's steps (state visits) to *@p stepsp: the
 * bound tests and measurements check. */
int kp_pattern_match_steps(const kp_pattern_t *pat, const char *s, uint64_t *stepsp);

/* @returns the number of states (instructions) of the compiled program. */
size_t kp_pattern_states(const kp_pattern_t *pat);

/* Frees @p pat. NULL does nothing. */
void kp_pattern_destroy(kp_pattern_t *pat);

#endif /* KP_PATTERN_H */
