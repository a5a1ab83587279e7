/* pattern.c — topic patterns: POSIX ERE subset parsed to a tree, compiled to a Thompson NFA,
 * matched by a Pike VM in linear time. */
#include "base/pattern.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/err.h"

/* ---- the program ---- */

enum op {
        OP_CHAR,  /* consume byte c */
        OP_ANY,   /* consume any byte */
        OP_CLASS, /* consume a byte of classes[cls] */
        OP_BOL,   /* only at the start of the string */
        OP_EOL,   /* only at its end */
        OP_SPLIT, /* go on at x and at y */
        OP_JMP,   /* go on at x */
        OP_MATCH,
};

typedef struct inst {
        uint8_t op;
        uint8_t c;
        uint32_t cls;
        uint32_t x, y;
} inst_t;

typedef struct byteset {
        uint8_t bits[32];
} byteset_t;

struct kp_pattern {
        inst_t *prog;
        size_t n;
        byteset_t *classes;
        size_t nclasses;
};

/* ---- the tree ---- */

enum node_type { N_CHAR, N_ANY, N_CLASS, N_BOL, N_EOL, N_CAT, N_ALT, N_REPEAT };

#define NO_NODE  ((uint32_t)-1)
#define INFINITE (-1)

/* Children of N_CAT and N_ALT are a list (child, then next...), so a long branch
 * does not make a deep tree; N_REPEAT has one child. size: the states it compiles to,
 * computed once (node_size). */
typedef struct node {
        uint8_t type;
        uint8_t c;
        uint32_t cls;
        int min, max;
        uint32_t child, next, last;
        uint32_t size;
        int sized;
} node_t;

typedef struct parser {
        const char *re;
        size_t pos;
        int depth; /* open parentheses */
        node_t *nodes;
        size_t nnodes, nodes_cap;
        byteset_t *classes;
        size_t nclasses, classes_cap;
        char *errstr;
        size_t errstr_size;
        int failed;
} parser_t;

static void fail(parser_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records the first error only: the one nearest the cause. */
static void fail(parser_t *p, const char *fmt, ...)
{
        if (p->failed)
                return;
        p->failed = 1;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->errstr, p->errstr_size, fmt, ap);
        va_end(ap);
}

static uint32_t node_new(parser_t *p, int type)
{
        if (p->nnodes == p->nodes_cap) {
                size_t cap = p->nodes_cap ? p->nodes_cap * 2 : 64;
                node_t *nodes = realloc(p->nodes, cap * sizeof(*nodes));
                if (!nodes) {
                        fail(p, "out of memory");
                        return NO_NODE;
                }
                p->nodes = nodes;
                p->nodes_cap = cap;
        }
        node_t *n = &p->nodes[p->nnodes];
        memset(n, 0, sizeof(*n));
        n->type = (uint8_t)type;
        n->child = n->next = n->last = NO_NODE;
        return (uint32_t)p->nnodes++;
}

/* Appends @p child to the list of @p parent (N_CAT or N_ALT). */
static void node_add(parser_t *p, uint32_t parent, uint32_t child)
{
        node_t *n = &p->nodes[parent];
        if (n->child == NO_NODE)
                n->child = child;
        else
                p->nodes[n->last].next = child;
        p->nodes[parent].last = child;
}

static uint32_t class_new(parser_t *p)
{
        if (p->nclasses == p->classes_cap) {
                size_t cap = p->classes_cap ? p->classes_cap * 2 : 8;
                byteset_t *c = realloc(p->classes, cap * sizeof(*c));
                if (!c) {
                        fail(p, "out of memory");
                        return NO_NODE;
                }
                p->classes = c;
                p->classes_cap = cap;
        }
        memset(&p->classes[p->nclasses], 0, sizeof(byteset_t));
        return (uint32_t)p->nclasses++;
}

static void set_add(byteset_t *s, unsigned c)
{
        s->bits[c >> 3] |= (uint8_t)(1u << (c & 7));
}

static int set_has(const byteset_t *s, unsigned c)
{
        return (s->bits[c >> 3] >> (c & 7)) & 1;
}

/* ---- bracket expressions ---- */

/* The POSIX classes as the C locale defines them (bytes above 0x7f are in none). */
static int class_member(const char *name, unsigned c)
{
        int upper = c >= 'A' && c <= 'Z', lower = c >= 'a' && c <= 'z';
        int digit = c >= '0' && c <= '9', alpha = upper || lower;
        int print = c >= 0x20 && c<0x7f, graph = c> 0x20 && c < 0x7f;
        if (!strcmp(name, "alpha"))
                return alpha;
        if (!strcmp(name, "digit"))
                return digit;
        if (!strcmp(name, "alnum"))
                return alpha || digit;
        if (!strcmp(name, "upper"))
                return upper;
        if (!strcmp(name, "lower"))
                return lower;
        if (!strcmp(name, "xdigit"))
                return digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (!strcmp(name, "space"))
                return c == ' ' || (c >= '\t' && c <= '\r');
        if (!strcmp(name, "blank"))
                return c == ' ' || c == '\t';
        if (!strcmp(name, "punct"))
                return graph && !alpha && !digit;
        if (!strcmp(name, "print"))
                return print;
        if (!strcmp(name, "graph"))
                return graph;
        if (!strcmp(name, "cntrl"))
                return c < 0x20 || c == 0x7f;
        return -1;
}

/* One element of a bracket at p->pos: a byte, [.c.], [=c=] (one byte each) or, when
 * @p class_ok, [:name:] added to @p set. @returns the byte, -2 for a class, -1 on
 * error. */
static int bracket_element(parser_t *p, byteset_t *set, int class_ok)
{
        const char *s = p->re + p->pos;
        if (s[0] == '[' && (s[1] == ':' || s[1] == '.' || s[1] == '=')) {
                char delim = s[1];
                const char *end = strchr(s + 2, delim);
                while (end && end[1] != ']')
                        end = strchr(end + 1, delim);
                if (!end) {
                        fail(p, "unbalanced bracket: '[%c' at offset %zu is never closed", delim,
                             p->pos);
                        return -1;
                }
                size_t len = (size_t)(end - (s + 2));
                p->pos += len + 4;
                if (delim != ':') {
                        if (len != 1) {
                                fail(p,
                                     "unsupported collating element [%c%.*s%c]: only one "
                                     "character may stand there",
                                     delim, (int)len, s + 2, delim);
                                return -1;
                        }
                        return (unsigned char)s[2];
                }
                char name[16] = "";
                if (len < sizeof(name))
                        memcpy(name, s + 2, len);
                if (len >= sizeof(name) || class_member(name, 'a') < 0) {
                        fail(p, "unknown character class [:%.*s:]", (int)len, s + 2);
                        return -1;
                }
                if (!class_ok) {
                        fail(p, "invalid range: a class [:%s:] cannot end a range", name);
                        return -1;
                }
                for (unsigned c = 1; c < 256; c++)
                        if (class_member(name, c))
                                set_add(set, c);
                return -2;
        }
        if (!s[0]) {
                fail(p, "unbalanced bracket: '[' is never closed");
                return -1;
        }
        p->pos++;
        return (unsigned char)s[0];
}

/* A bracket expression, p->pos just after its '['. */
static uint32_t parse_bracket(parser_t *p)
{
        size_t open = p->pos - 1;
        int negate = 0, first = 1;
        byteset_t set;
        memset(&set, 0, sizeof(set));
        if (p->re[p->pos] == '^') {
                negate = 1;
                p->pos++;
        }
        for (;;) {
                const char *s = p->re + p->pos;
                if (!s[0]) {
                        fail(p, "unbalanced bracket: '[' at offset %zu is never closed", open);
                        return NO_NODE;
                }
                if (s[0] == ']' && !first)
                        break;
                first = 0;
                int lo = bracket_element(p, &set, 1);
                if (lo == -1)
                        return NO_NODE;
                s = p->re + p->pos;
                if (s[0] != '-' || s[1] == ']' || !s[1]) {
                        if (lo >= 0)
                                set_add(&set, (unsigned)lo);
                        continue;
                }
                if (lo == -2) {
                        fail(p, "invalid range at offset %zu: a class cannot start a range",
                             p->pos);
                        return NO_NODE;
                }
                p->pos++;
                int hi = bracket_element(p, &set, 0);
                if (hi == -1)
                        return NO_NODE;
                if (hi < lo) {
                        fail(p, "invalid range %c-%c: its end comes before its start", lo, hi);
                        return NO_NODE;
                }
                for (int c = lo; c <= hi; c++)
                        set_add(&set, (unsigned)c);
                s = p->re + p->pos;
                if (s[0] == '-' && s[1] && s[1] != ']') {
                        fail(p,
                             "invalid range at offset %zu: a range cannot start at the end "
                             "of another",
                             p->pos);
                        return NO_NODE;
                }
        }
        p->pos++; /* ']' */
        if (negate)
                for (int i = 0; i < 32; i++)
                        set.bits[i] = (uint8_t)~set.bits[i];
        set.bits[0] &= (uint8_t)~1u; /* a C string holds no NUL to match */
        uint32_t cls = class_new(p);
        uint32_t n = cls == NO_NODE ? NO_NODE : node_new(p, N_CLASS);
        if (n == NO_NODE)
                return NO_NODE;
        p->classes[cls] = set;
        p->nodes[n].cls = cls;
        return n;
}

/* ---- the rest of the grammar ---- */

static uint32_t parse_alt(parser_t *p);

static int is_quantifier(char c)
{
        return c == '*' || c == '+' || c == '?' || c == '{';
}

/* A backslash escape, p->pos on the byte after it. */
static uint32_t parse_escape(parser_t *p)
{
        unsigned char c = (unsigned char)p->re[p->pos];
        if (!c) {
                fail(p, "trailing backslash");
                return NO_NODE;
        }
        if (c >= '1' && c <= '9') {
                fail(p,
                     "back-references (\\%c) are not supported: they cannot be matched in "
                     "linear time",
                     c);
                return NO_NODE;
        }
        /* \< \> \` \' are GNU anchors; a letter or digit is a GNU class or nothing */
        int punct = c > 0x20 && c < 0x7f && !(c >= '0' && c <= '9') &&
                    !((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
        if (!punct || c == '<' || c == '>' || c == '`' || c == '\'') {
                if (c >= 0x20 && c < 0x7f)
                        fail(p,
                             "unsupported escape \\%c: only a special character may follow "
                             "a backslash",
                             c);
                else
                        fail(p, "unsupported escape \\ followed by byte 0x%02x", c);
                return NO_NODE;
        }
        p->pos++;
        uint32_t n = node_new(p, N_CHAR);
        if (n != NO_NODE)
                p->nodes[n].c = c;
        return n;
}

static uint32_t parse_atom(parser_t *p)
{
        char c = p->re[p->pos];
        if (is_quantifier(c)) {
                fail(p, "nothing to repeat before '%c' at offset %zu", c, p->pos);
                return NO_NODE;
        }
        p->pos++;
        switch (c) {
        case '(': {
                size_t open = p->pos - 1;
                p->depth++;
                uint32_t n = parse_alt(p);
                p->depth--;
                if (n == NO_NODE)
                        return NO_NODE;
                if (p->re[p->pos] != ')') {
                        fail(p, "unbalanced parenthesis: '(' at offset %zu is never closed", open);
                        return NO_NODE;
                }
                p->pos++;
                return n;
        }
        case '[': return parse_bracket(p);
        case '\\': return parse_escape(p);
        case '.': return node_new(p, N_ANY);
        case '^': return node_new(p, N_BOL);
        case '$': return node_new(p, N_EOL);
        default: {
                uint32_t n = node_new(p, N_CHAR);
                if (n != NO_NODE)
                        p->nodes[n].c = (uint8_t)c;
                return n;
        }
        }
}

/* Digits at p->pos, or -1 when there are none; KP_PATTERN_REPEAT_MAX + 1 for more. */
static int parse_count(parser_t *p)
{
        int v = -1;
        while (p->re[p->pos] >= '0' && p->re[p->pos] <= '9') {
                int d = p->re[p->pos++] - '0';
                v = v < 0 ? d : v * 10 + d;
                if (v > KP_PATTERN_REPEAT_MAX)
                        v = KP_PATTERN_REPEAT_MAX + 1;
        }
        return v;
}

/* {m} {m,} {m,n} {,n}, p->pos just after the '{'. */
static int parse_bound(parser_t *p, int *minp, int *maxp)
{
        size_t open = p->pos - 1;
        int min = parse_count(p), max = min;
        if (p->re[p->pos] == ',') {
                p->pos++;
                max = parse_count(p);
                if (max < 0)
                        max = INFINITE;
                if (min < 0)
                        min = 0;
        }
        if (p->re[p->pos] != '}') {
                if (!p->re[p->pos] || !strchr(p->re + p->pos, '}'))
                        fail(p, "unbalanced brace: '{' at offset %zu is never closed", open);
                else
                        fail(p, "invalid repetition at offset %zu: write {m}, {m,} or {m,n}", open);
                return -1;
        }
        p->pos++;
        if (min < 0) {
                fail(p, "invalid repetition at offset %zu: write {m}, {m,} or {m,n}", open);
                return -1;
        }
        if (min > KP_PATTERN_REPEAT_MAX || max > KP_PATTERN_REPEAT_MAX) {
                fail(p, "repetition count at offset %zu is over %d", open, KP_PATTERN_REPEAT_MAX);
                return -1;
        }
        if (max != INFINITE && max < min) {
                fail(p, "invalid repetition {%d,%d}: the maximum is below the minimum", min, max);
                return -1;
        }
        *minp = min;
        *maxp = max;
        return 0;
}

/* An atom and the quantifiers after it (they stack: a** is (a*)*). */
static uint32_t parse_piece(parser_t *p)
{
        /* a bare anchor (not a group around one: (^)* is fine) */
        int anchor = p->re[p->pos] == '^' || p->re[p->pos] == '$';
        uint32_t n = parse_atom(p);
        while (n != NO_NODE && is_quantifier(p->re[p->pos])) {
                char q = p->re[p->pos];
                if (anchor) {
                        fail(p, "an anchor cannot be repeated ('%c' at offset %zu)", q, p->pos);
                        return NO_NODE;
                }
                int min = 0, max = INFINITE;
                p->pos++;
                if (q == '+')
                        min = 1;
                else if (q == '?')
                        max = 1;
                else if (q == '{' && parse_bound(p, &min, &max))
                        return NO_NODE;
                uint32_t r = node_new(p, N_REPEAT);
                if (r == NO_NODE)
                        return NO_NODE;
                p->nodes[r].child = n;
                p->nodes[r].min = min;
                p->nodes[r].max = max;
                n = r;
        }
        return n;
}

/* Pieces up to '|', ')' or the end; an empty branch matches the empty string. */
static uint32_t parse_branch(parser_t *p)
{
        uint32_t cat = node_new(p, N_CAT);
        while (cat != NO_NODE) {
                char c = p->re[p->pos];
                if (!c || c == '|')
                        break;
                if (c == ')') {
                        if (p->depth)
                                break;
                        fail(p, "unbalanced parenthesis: ')' at offset %zu has no '('", p->pos);
                        return NO_NODE;
                }
                uint32_t n = parse_piece(p);
                if (n == NO_NODE)
                        return NO_NODE;
                node_add(p, cat, n);
        }
        /* one piece is the branch: keeps ((a)) from nesting nodes to no purpose */
        if (cat != NO_NODE && p->nodes[cat].child != NO_NODE &&
            p->nodes[cat].child == p->nodes[cat].last)
                return p->nodes[cat].child;
        return cat;
}

static uint32_t parse_alt(parser_t *p)
{
        uint32_t alt = node_new(p, N_ALT);
        while (alt != NO_NODE) {
                uint32_t b = parse_branch(p);
                if (b == NO_NODE)
                        return NO_NODE;
                node_add(p, alt, b);
                if (p->re[p->pos] != '|')
                        break;
                p->pos++;
        }
        if (alt != NO_NODE && p->nodes[alt].child == p->nodes[alt].last)
                return p->nodes[alt].child;
        return alt;
}

/* ---- sizing and emitting ---- */

/* States @p n compiles to, saturated at KP_PATTERN_STATES_MAX + 1 so that nested
 * counts ({1,100}){1,100} are refused before anything is expanded. Computed once per
 * node: O(nodes). */
static uint64_t node_size(parser_t *p, uint32_t n)
{
        const uint64_t cap = (uint64_t)KP_PATTERN_STATES_MAX + 1;
        node_t *nd = &p->nodes[n];
        uint64_t sum = 1, k = 0;
        if (nd->sized)
                return nd->size;
        switch (nd->type) {
        case N_CAT:
        case N_ALT:
                sum = 0;
                for (uint32_t c = nd->child; c != NO_NODE; c = p->nodes[c].next, k++)
                        sum += node_size(p, c);
                if (nd->type == N_ALT && k > 1)
                        sum += 2 * (k - 1); /* a SPLIT and a JMP for each but the last */
                break;
        case N_REPEAT: {
                uint64_t s = node_size(p, nd->child);
                sum = (uint64_t)nd->min * s;
                sum += nd->max == INFINITE ? s + 2 : (uint64_t)(nd->max - nd->min) * (s + 1);
                break;
        }
        default: break;
        }
        nd = &p->nodes[n];
        nd->size = (uint32_t)(sum < cap ? sum : cap);
        nd->sized = 1;
        return nd->size;
}

typedef struct emitter {
        inst_t *prog;
        size_t n;
} emitter_t;

static size_t emit(emitter_t *e, int op)
{
        inst_t *i = &e->prog[e->n];
        memset(i, 0, sizeof(*i));
        i->op = (uint8_t)op;
        return e->n++;
}

/* Writes the program of @p n; its size was checked against the buffer beforehand. */
static void emit_node(emitter_t *e, const parser_t *p, uint32_t n)
{
        const node_t *nd = &p->nodes[n];
        /* an empty subtree emits nothing, however often it is repeated: ((){255}){255}
         * must not walk 65,025 copies of nothing */
        if (!nd->size)
                return;
        switch (nd->type) {
        case N_CHAR: e->prog[emit(e, OP_CHAR)].c = nd->c; return;
        case N_ANY: emit(e, OP_ANY); return;
        case N_CLASS: e->prog[emit(e, OP_CLASS)].cls = nd->cls; return;
        case N_BOL: emit(e, OP_BOL); return;
        case N_EOL: emit(e, OP_EOL); return;
        case N_CAT:
                for (uint32_t c = nd->child; c != NO_NODE; c = p->nodes[c].next)
                        emit_node(e, p, c);
                return;
        case N_ALT: {
                /* SPLIT L1, next; L1: branch; JMP end; next: ...; the JMPs patched last */
                size_t prev_jmp = (size_t)-1;
                for (uint32_t c = nd->child; c != NO_NODE; c = p->nodes[c].next) {
                        if (p->nodes[c].next == NO_NODE) {
                                emit_node(e, p, c);
                                break;
                        }
                        size_t split = emit(e, OP_SPLIT);
                        e->prog[split].x = (uint32_t)e->n;
                        emit_node(e, p, c);
                        size_t jmp = emit(e, OP_JMP);
                        /* chain the JMPs through x until the end is known */
                        e->prog[jmp].x = (uint32_t)prev_jmp;
                        prev_jmp = jmp;
                        e->prog[split].y = (uint32_t)e->n;
                }
                while (prev_jmp != (size_t)-1) {
                        size_t next = e->prog[prev_jmp].x;
                        e->prog[prev_jmp].x = (uint32_t)e->n;
                        prev_jmp = next == (uint32_t)-1 ? (size_t)-1 : next;
                }
                return;
        }
        case N_REPEAT: {
                for (int i = 0; i < nd->min; i++)
                        emit_node(e, p, nd->child);
                if (nd->max == INFINITE) {
                        /* L: SPLIT body, out; body; JMP L; out: */
                        size_t split = emit(e, OP_SPLIT);
                        e->prog[split].x = (uint32_t)e->n;
                        emit_node(e, p, nd->child);
                        e->prog[emit(e, OP_JMP)].x = (uint32_t)split;
                        e->prog[split].y = (uint32_t)e->n;
                        return;
                }
                /* optional copies: SPLIT body, out; body (flat: x?x? means x{0,2}) */
                for (int i = nd->min; i < nd->max; i++) {
                        size_t split = emit(e, OP_SPLIT);
                        e->prog[split].x = (uint32_t)e->n;
                        emit_node(e, p, nd->child);
                        e->prog[split].y = (uint32_t)e->n;
                }
                return;
        }
        }
}

kp_pattern_t *kp_pattern_compile(const char *re, char *errstr, size_t errstr_size)
{
        parser_t p = {.re = re, .errstr = errstr, .errstr_size = errstr_size};
        kp_pattern_t *pat = NULL;
        size_t len = strlen(re);
        if (len > KP_PATTERN_MAX) {
                fail(&p, "pattern is %zu characters long, over the limit of %d", len,
                     KP_PATTERN_MAX);
                goto out;
        }
        uint32_t root = parse_alt(&p);
        if (root == NO_NODE)
                goto out;
        uint64_t size = node_size(&p, root) + 1; /* + MATCH */
        if (size > KP_PATTERN_STATES_MAX) {
                fail(&p,
                     "pattern is too complex: it needs over %d states (a counted repetition "
                     "{m,n} copies what it repeats n times)",
                     KP_PATTERN_STATES_MAX);
                goto out;
        }
        pat = calloc(1, sizeof(*pat));
        if (!pat || !(pat->prog = calloc((size_t)size, sizeof(inst_t)))) {
                fail(&p, "out of memory");
                goto out;
        }
        emitter_t e = {pat->prog, 0};
        emit_node(&e, &p, root);
        emit(&e, OP_MATCH);
        if (e.n != size) {
                fail(&p, "internal error: pattern compiled to %zu states, sized %llu", e.n,
                     (unsigned long long)size);
                goto out;
        }
        pat->n = e.n;
        pat->classes = p.classes;
        pat->nclasses = p.nclasses;
        p.classes = NULL; /* owned by pat now */
out:
        if (p.failed) {
                kp_pattern_destroy(pat);
                pat = NULL;
        }
        free(p.classes);
        free(p.nodes);
        return pat;
}

/* ---- the VM ---- */

typedef struct vm {
        const kp_pattern_t *pat;
        const char *s;
        uint32_t *mark; /* mark[pc] == gen: pc is on the list being built */
        uint32_t gen;
        uint32_t *stack;
        uint64_t steps;
} vm_t;

/* Adds @p pc and everything reachable from it without consuming, at position @p pos,
 * to @p list. Each state enters a list once per position: that is the linear bound.
 * @returns 1 when MATCH is reachable. */
static int vm_add(vm_t *vm, uint32_t *list, size_t *lenp, uint32_t pc, size_t pos)
{
        const inst_t *prog = vm->pat->prog;
        size_t sp = 0;
        int matched = 0;
        vm->stack[sp++] = pc;
        while (sp) {
                pc = vm->stack[--sp];
                vm->steps++;
                if (vm->mark[pc] == vm->gen)
                        continue;
                vm->mark[pc] = vm->gen;
                const inst_t *i = &prog[pc];
                switch (i->op) {
                case OP_JMP: vm->stack[sp++] = i->x; break;
                case OP_SPLIT:
                        vm->stack[sp++] = i->y;
                        vm->stack[sp++] = i->x;
                        break;
                case OP_BOL:
                        if (pos == 0)
                                vm->stack[sp++] = pc + 1;
                        break;
                case OP_EOL:
                        if (!vm->s[pos])
                                vm->stack[sp++] = pc + 1;
                        break;
                case OP_MATCH: matched = 1; break;
                default: list[(*lenp)++] = pc; break;
                }
        }
        return matched;
}

static int inst_consumes(const kp_pattern_t *pat, const inst_t *i, unsigned char c)
{
        switch (i->op) {
        case OP_CHAR: return i->c == c;
        case OP_ANY: return 1;
        case OP_CLASS: return set_has(&pat->classes[i->cls], c);
        default: return 0;
        }
}

int kp_pattern_match_steps(const kp_pattern_t *pat, const char *s, uint64_t *stepsp)
{
        size_t n = pat->n;
        int matched = 0;
        vm_t vm = {.pat = pat, .s = s, .gen = 1};
        uint32_t *clist = malloc(n * sizeof(uint32_t));
        uint32_t *nlist = malloc(n * sizeof(uint32_t));
        /* a pop pushes at most two, and a state is expanded once per position */
        vm.stack = malloc((2 * n + 1) * sizeof(uint32_t));
        vm.mark = calloc(n, sizeof(uint32_t));
        if (!clist || !nlist || !vm.stack || !vm.mark) {
                matched = KP_ERR_NOMEM;
                goto out;
        }
        size_t clen = 0;
        matched = vm_add(&vm, clist, &clen, 0, 0);
        for (size_t pos = 0; !matched && s[pos]; pos++) {
                unsigned char c = (unsigned char)s[pos];
                size_t nlen = 0;
                vm.gen++;
                for (size_t k = 0; k < clen && !matched; k++) {
                        vm.steps++;
                        if (inst_consumes(pat, &pat->prog[clist[k]], c))
                                matched = vm_add(&vm, nlist, &nlen, clist[k] + 1, pos + 1);
                }
                /* a match may start at any position (regexec's search) */
                if (!matched)
                        matched = vm_add(&vm, nlist, &nlen, 0, pos + 1);
                uint32_t *t = clist;
                clist = nlist;
                nlist = t;
                clen = nlen;
        }
out:
        if (stepsp)
                *stepsp += vm.steps;
        free(vm.mark);
        free(vm.stack);
        free(nlist);
        free(clist);
        return matched;
}

int kp_pattern_match(const kp_pattern_t *pat, const char *s)
{
        return kp_pattern_match_steps(pat, s, NULL);
}

size_t kp_pattern_states(const kp_pattern_t *pat)
{
        return pat->n;
}

void kp_pattern_destroy(kp_pattern_t *pat)
{
        if (!pat)
                return;
        free(pat->prog);
        free(pat->classes);
        free(pat);
}
