/* planner_balanced.c — the balanced strategy: even counts over all topics and per topic, sticky to
 * a previous plan. */
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__) && !defined(KP_PLANNER_NO_SSE2)
#define KP_PLANNER_SSE2 1
#include <emmintrin.h>
#endif

#include "base/err.h"
#include "planner/planner_int.h"

/*
 * The sticky re-plan, in the terms of planner.h: task j must hold f_t or f_t + 1
 * partitions of topic t (f_t = p_t / T, r_t = p_t % T tasks get the + 1: the topic's
 * "extras") and F or F + 1 in all (F = P / T, R = P % T tasks get F + 1). Since every
 * task holds sum(f_t) before extras, the global bound says how many extras each task
 * may take: E = F - sum(f_t), or E + 1 for R chosen tasks, and these capacities add up
 * to exactly sum(r_t). So the plan is:
 *   1. count, per topic, where its partitions were; a task holding more than f_t of
 *      topic t is a "useful" cell: an extra there keeps one more partition in place;
 *   2. give the E + 1 capacities to the tasks with the most useful cells;
 *   3. place extras on useful cells while capacity lasts (A1), then the remaining
 *      extras anywhere with room (A2, topics with most left first); when a topic finds
 *      room only on tasks that already hold its extra, a two-step swap frees a slot
 *      (always possible: see repair());
 *   4. with each task's target per topic fixed, keep partitions on their previous
 *      owner up to the target and deal the rest to the tasks still short.
 * Cost: O(P + T log T + K log K) at worst (step 2's selection is O(T) expected) plus the
 * rare repairs. The O(P) is one pass over the previous owners that counts and copies them
 * (step 1, most of the time at 1M partitions); after it only the partitions it listed
 * (past a task's f_t, or without a task) and the cells, at most min(p_t, T) per topic,
 * are looked at again.
 */

/* One extra in a task's list: its topic, whether it keeps a previous partition in place, and
 * where it is in its topic's list (xcol; < KP_PLAN_PARTITIONS_MAX). One 8-byte entry, not
 * three arrays of 13 bytes in all: step 3a writes one per extra it places, out of cache at
 * 1M partitions over 10k tasks (100k extras: a sixth of the re-plan in three arrays). */
typedef struct col {
        int32_t top;
        uint32_t useful : 1;
        uint32_t x : 31;
} col_t;

/* A useful cell in its task's list (repair() wants a task's useful topics, in any order): the
 * task's useful cell before it and the cell's topic. Linked as step 1 finds them, instead of
 * gathered by task afterwards. */
typedef struct ulink {
        int32_t next;
        int32_t t;
} ulink_t;

typedef struct bal {
        int32_t T;
        size_t K;
        int32_t *cap, *used; /* extras per task: capacity, taken */
        int32_t *fresh;      /* extras per task that keep nothing in place (useful 0) */
        col_t *col;          /* task j's n-th extra at col[n * T + j] (col_slot()) */
        size_t *xstart;      /* topic t's extras list: xcol[xstart[t] ..] */
        int32_t *xcol;       /* task of each extra of a topic */
        int32_t *xn;         /* extras placed per topic */
        uint32_t *mark;      /* per task: == gen when the current topic has an extra there */
        uint32_t *tmark;     /* per topic, for repair() */
        uint32_t gen, tgen;
        int32_t *freel; /* tasks with used < cap */
        int32_t nfree;
        int32_t cursor; /* where repair() looks for a full task next */
        int32_t *lack;  /* the tasks without the repairing topic's extra, ascending */
        int32_t nlack;
        int32_t *uhead;   /* task j's useful topics: a list from its last useful cell, -1 ends */
        ulink_t *ulink;   /* per useful cell (useful[] in sticky_t) */
        uint32_t *umark;  /* per topic: useful at the repair's task j when == ugen */
        uint32_t *ucmark; /* per task: useful for the repairing topic when == ucgen */
        uint32_t ugen, ucgen;
        int32_t tj, uj;    /* the task tmark / umark describe now (-1: none) */
        size_t scan_limit; /* full tasks repair() inspects once it has a candidate */
} bal_t;

/* Where task @p j's @p n-th extra is: row n holds every task's n-th, so step 3a, which gives
 * most tasks their n-th extra in the n-th topic it places, writes along one row at a time
 * instead of a slot in every task's list each topic (1M x 10k, +1 task: a sweep over 100k
 * entries per topic). */
static inline size_t col_slot(const bal_t *b, int32_t j, int32_t n)
{
        return (size_t)n * (size_t)b->T + (size_t)j;
}

/* Gives task @p j the extra of topic @p t at @p x in t's list (the caller counts xn). */
static inline void place_at(bal_t *b, int32_t t, int32_t j, int useful, size_t x)
{
        b->xcol[x] = j;
        b->fresh[j] += !useful;
        if (j == b->tj) /* tmark follows the extras of the last repair's task */
                b->tmark[t] = b->tgen;
        b->col[col_slot(b, j, b->used[j]++)] = (col_t){t, (uint32_t)useful, (uint32_t)x};
}

static inline void place(bal_t *b, int32_t t, int32_t j, int useful)
{
        place_at(b, t, j, useful, b->xstart[t] + (size_t)b->xn[t]++);
}

/* The first of b->lack's @p n ascending tasks at or after @p k, round to 0 past the last. */
static int32_t lack_from(const int32_t *lack, int32_t n, int32_t k)
{
        int32_t lo = 0, hi = n;
        while (lo < hi) {
                const int32_t mid = lo + (hi - lo) / 2;
                if (lack[mid] < k)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo == n ? 0 : lo;
}

/* repair()'s search: the full tasks without t's extra from b->cursor on, round the tasks, the
 * cursor left after the one it stopped at (where it was when it went round). Only b->lack
 * (the tasks without t's extra when t's repairs began) can qualify: no task loses t's extra
 * during them. @returns the task, -1 when none, with the slot in @p slotp. */
static int32_t repair_find(bal_t *b, int32_t j, size_t *slotp)
{
        int32_t best_k = -1, best_gain = -3;
        size_t looked = 0;
        const int32_t nl = b->nlack;
        /* umark can add 1 only when j has a useful topic */
        const int32_t jhas = b->uhead[j] >= 0;
        int32_t q = lack_from(b->lack, nl, b->cursor);
        for (int32_t n = 0; n < nl; n++, q = q + 1 == nl ? 0 : q + 1) {
                const int32_t k = b->lack[q];
                if (b->used[k] < b->cap[k] || b->mark[k] == b->gen || k == j)
                        continue;
                const int32_t tk = b->ucmark[k] == b->ucgen;
                /* The most any extra of k can gain: a fresh one (useful 0) up to tk + jhas,
                 * a useful one up to tk + jhas - 1. The scan below keeps the first of the
                 * best, so it stops at the first reaching this bound, and a k that cannot
                 * pass best_gain is not read: the same choice as reading every extra, in
                 * O(1) for a task whose extras all keep partitions in place (a re-plan of
                 * many topics: thousands of extras a task, thousands of repairs). */
                const int32_t bound = tk + jhas - (b->fresh[k] ? 0 : 1);
                for (int32_t e = 0; e < b->used[k] && bound > best_gain; e++) {
                        const size_t s = col_slot(b, k, e);
                        const int32_t u = b->col[s].top;
                        if (b->tmark[u] == b->tgen)
                                continue;
                        int32_t gain = tk - (int32_t)b->col[s].useful + (b->umark[u] == b->ugen);
                        if (gain > best_gain) {
                                best_gain = gain;
                                *slotp = s;
                                best_k = k;
                        }
                }
                if (best_k >= 0 && (best_gain >= 1 || ++looked >= b->scan_limit)) {
                        b->cursor = k + 1 == b->T ? 0 : k + 1;
                        break;
                }
        }
        return best_k;
}

/*
 * Topic t (marked with b->gen) still needs an extra, but every task with room already
 * holds one of its extras. Take such a task j and a full task k without t: k holds
 * used_k >= E topics, j holds at most E - 1 besides t (j has room, so used_j <= E), so
 * some topic u is in k and not in j. Move u's extra k -> j and give k's slot to t.
 * Among the (k, u) looked at, the one that keeps the most partitions in place wins:
 * gain = useful(t, k) - useful(u, k) + useful(u, j). Cost: up to O(E) per task looked at
 * (O(1) for one whose extras cannot beat the best so far: repair_find()), at most
 * b->scan_limit tasks after the first candidate, and O(log T) to find where to start among
 * the tasks without t's extra (listed once per topic: O(T) for all its repairs).
 */
static int repair(bal_t *b, int32_t t)
{
        const int32_t j = b->freel[0];
        size_t best_slot = 0;
        /* Marked afresh only for another task than the last repair's: j's extras are
         * added to as they come (place_at) and j loses none while it is the task with room
         * (one that gives up an extra is full: it is another repair's k, under another j);
         * its useful topics never change. Consecutive repairs share j, and these lists run
         * to thousands of topics. */
        if (j != b->tj) {
                b->tgen++;
                b->tj = j;
                for (int32_t e = 0; e < b->used[j]; e++)
                        b->tmark[b->col[col_slot(b, j, e)].top] = b->tgen;
        }
        if (j != b->uj) {
                b->ugen++;
                b->uj = j;
                for (int32_t c = b->uhead[j]; c >= 0; c = b->ulink[c].next)
                        b->umark[b->ulink[c].t] = b->ugen;
        }
        const int32_t best_k = repair_find(b, j, &best_slot);
        if (best_k < 0)
                return KP_ERR_INTERNAL;
        const int32_t k = best_k, u = b->col[best_slot].top;
        const int uj = b->umark[u] == b->ugen, tk = b->ucmark[k] == b->ucgen;
        /* a task holds at most one extra of a topic: u's extra at k is the one at col[].x */
        const size_t x = b->col[best_slot].x;
        size_t last = col_slot(b, k, b->used[k] - 1);
        b->fresh[k] -= !b->col[best_slot].useful;
        b->col[best_slot] = b->col[last];
        b->used[k]--;
        b->xcol[x] = j;
        b->fresh[j] += !uj;
        b->tmark[u] = b->tgen; /* j == b->tj */
        b->col[col_slot(b, j, b->used[j]++)] = (col_t){u, (uint32_t)uj, (uint32_t)x};
        place(b, t, k, tk);
        b->mark[k] = b->gen;
        if (b->used[j] == b->cap[j])
                b->freel[0] = b->freel[--b->nfree];
        return 0;
}

typedef struct colkey {
        int32_t useful;
        int32_t prev;   /* <= KP_PLAN_PARTITIONS_MAX: 16 bytes a key */
        int32_t spread; /* the task's rank among the holders of its first useful topic */
        int32_t j;
} colkey_t;

/* 1 when @p x goes before @p y: most useful cells, then most partitions kept, then
 * spread, then task (so no two keys tie). */
static inline int colkey_before(const colkey_t *x, const colkey_t *y)
{
        if (x->useful != y->useful)
                return x->useful > y->useful;
        if (x->prev != y->prev)
                return x->prev > y->prev;
        if (x->spread != y->spread)
                return x->spread < y->spread;
        return x->j < y->j;
}

/* Sorts @p n keys by colkey_before with @p tmp (n entries) as scratch: a merge sort with
 * the comparison inlined, since qsort's call per comparison was a tenth of a re-plan of
 * 1M partitions over 10k tasks. The keys never tie, so the order is qsort's. */
static void colkey_sort(colkey_t *a, colkey_t *tmp, size_t n)
{
        if (n <= 16) {
                for (size_t x = 1; x < n; x++) {
                        colkey_t k = a[x];
                        size_t y = x;
                        for (; y > 0 && colkey_before(&k, &a[y - 1]); y--)
                                a[y] = a[y - 1];
                        a[y] = k;
                }
                return;
        }
        const size_t h = n / 2;
        colkey_sort(a, tmp, h);
        colkey_sort(a + h, tmp, n - h);
        size_t i = 0, j = h, o = 0;
        while (i < h && j < n)
                tmp[o++] = colkey_before(&a[j], &a[i]) ? a[j++] : a[i++];
        while (i < h)
                tmp[o++] = a[i++];
        memcpy(a, tmp, o * sizeof(*a));
}

static inline void colkey_swap(colkey_t *x, colkey_t *y)
{
        colkey_t k = *x;
        *x = *y;
        *y = k;
}

/* Puts in a[0 .. k) the @p k of the @p n keys that go first (colkey_before), in no
 * particular order: all capacities_deal() needs, for O(n) expected instead of a sort's
 * O(n log n) (a tenth of a re-plan of 1M partitions over 10k tasks). A quickselect with a
 * median-of-three pivot; what is left after 2 log2 n rounds, or 16 keys, is sorted
 * (colkey_sort(), @p tmp its scratch), so the worst case stays O(n log n). Since no two
 * keys tie, the k keys are those a sort would put first. */
static void colkey_select(colkey_t *a, colkey_t *tmp, size_t n, size_t k)
{
        /* a[0 .. lo) go before a[lo .. hi), which go before a[hi .. n) */
        size_t lo = 0, hi = n;
        int rounds = 0;
        for (size_t m = n; m > 1; m >>= 1)
                rounds += 2;
        while (k > lo && k < hi) {
                if (hi - lo <= 16 || rounds-- == 0) {
                        colkey_sort(a + lo, tmp, hi - lo);
                        return;
                }
                const size_t mid = lo + (hi - lo) / 2, last = hi - 1;
                if (colkey_before(&a[mid], &a[lo]))
                        colkey_swap(&a[mid], &a[lo]);
                if (colkey_before(&a[last], &a[lo]))
                        colkey_swap(&a[last], &a[lo]);
                if (colkey_before(&a[mid], &a[last]))
                        colkey_swap(&a[mid], &a[last]);
                /* a[last] is now the median of the three: the pivot */
                const colkey_t pv = a[last];
                size_t s = lo;
                for (size_t x = lo; x < last; x++)
                        if (colkey_before(&a[x], &pv))
                                colkey_swap(&a[x], &a[s++]);
                colkey_swap(&a[s], &a[last]);
                if (k <= s)
                        hi = s;
                else
                        lo = s + 1;
        }
}

typedef struct topkey {
        int32_t left;
        int32_t t;
} topkey_t;

static int topkey_cmp(const void *a, const void *c)
{
        const topkey_t *x = a, *y = c;
        if (x->left != y->left)
                return x->left > y->left ? -1 : 1;
        return (x->t > y->t) - (x->t < y->t);
}

/*
 * Step 2 of the sticky re-plan: E + 1 extras' capacity for the R tasks with the most
 * useful cells (@p ucnt; then the most partitions kept, @p ptot), E for the others, into
 * b->cap. Among equals the capacity is dealt round the topics (each task ranked among
 * the holders of its first useful topic): given to the holders of one topic only, that
 * topic's own extras would find no task with room that lacks it, and repair() would move
 * partitions (10 topics x 100 partitions on 1,000 tasks, each topic grown by 10%: 10
 * moved instead of none). Only which R tasks come first matters, not their order: a
 * selection (colkey_select()). @p ck is scratch of 2T entries. Cost O(T + cells)
 * expected, O(T log T + cells) at worst.
 */
static void capacities_deal(bal_t *b, colkey_t *ck, const int32_t *ucnt, const int32_t *ptot,
                            const int32_t *useful, const size_t *ustart, int64_t E, int64_t R)
{
        const int32_t T = b->T;
        for (int32_t j = 0; j < T; j++) {
                ck[j].useful = ucnt[j];
                ck[j].prev = ptot[j];
                ck[j].spread = INT32_MAX;
                ck[j].j = j;
        }
        for (size_t t = 0; t < b->K; t++) {
                int32_t rank = 0;
                for (size_t u = ustart[t]; u < ustart[t + 1]; u++)
                        if (ck[useful[u]].spread == INT32_MAX)
                                ck[useful[u]].spread = rank++;
        }
        if (R > 0)
                colkey_select(ck, ck + T, (size_t)T, (size_t)R);
        for (int32_t x = 0; x < T; x++)
                b->cap[ck[x].j] = (int32_t)(E + (x < R ? 1 : 0));
}

/* A partition step 4 looks at, with its previous owner: step 4 then reads no owner from the
 * previous plan, which is out of the cache by then at 1M partitions. */
typedef struct over {
        uint32_t i;
        int32_t o;
} over_t;

/* The sticky re-plan's own arrays, beside the extras' bookkeeping (bal_t). */
typedef struct sticky {
        bal_t b;
        const kp_plan_ctx_t *ctx;
        int32_t *cnt;   /* T + 1 entries: scratch count of one topic's partitions (T: invalid) */
        int32_t *seen;  /* T + 1 entries: the tasks of one topic, in order of first appearance */
        int32_t *ctask; /* every cell (a task holding some of a topic), by topic: ctask[cstart[t]
                           ..] */
        int32_t *ccnt;  /* the partitions of topic t the cell's task held */
        size_t *cstart;
        int32_t *room;   /* T + 1 entries: step 4's target minus what the task held (T: invalid) */
        int32_t *keep;   /* per task over its target: partitions it still keeps (step 4) */
        int32_t *useful; /* useful cells, by topic: useful[ustart[t] ..] are tasks */
        size_t *ustart;
        int32_t *ucnt;  /* per task: useful cells */
        int32_t *ptot;  /* per task: previous partitions it held (of topics still planned) */
        uint32_t *pool; /* keep_and_deal_small()'s partitions to deal */
        over_t *over;   /* by topic, over[ostart[t] ..]: the partitions step 4 looks at (below) */
        size_t *ostart;
        colkey_t *ck;  /* 2T entries, for capacities_deal() */
        topkey_t *tk;  /* K entries: topic orders of steps 3a and 3b */
        int64_t E, R;  /* every task takes E or E + 1 extras, R tasks E + 1 */
        size_t sum_r;  /* extras in all: sum of p_t % T */
        size_t maxp;   /* the largest topic's partitions */
        size_t cells;  /* at most this many cells: sum of min(p_t, T) */
        int64_t sum_f; /* what every task holds before extras: sum of p_t / T */
        int64_t moved; /* partitions whose previous owner (>= 0) lost them */
} sticky_t;

/* The bounds of the plan (F, R, E, sum_r) from the topics, and repair()'s scan limit. */
static void sticky_bounds(sticky_t *st)
{
        const kp_plan_ctx_t *ctx = st->ctx;
        const int32_t T = ctx->T;
        size_t sum_f = 0;
        for (size_t t = 0; t < ctx->in->topic_cnt; t++) {
                size_t p = (size_t)ctx->in->topics[t].partitions;
                if (p > st->maxp)
                        st->maxp = p;
                sum_f += p / (size_t)T;
                st->sum_r += p % (size_t)T;
                st->cells += p < (size_t)T ? p : (size_t)T;
        }
        const int64_t F = (int64_t)(ctx->P / (size_t)T);
        st->R = (int64_t)(ctx->P % (size_t)T);
        st->E = F - (int64_t)sum_f;
        st->sum_f = (int64_t)sum_f;
        /* small plans: repair() may look at every task; large ones: 64 after a find */
        st->b.scan_limit = (double)T * (double)(st->E + 1) <= 1e6 ? (size_t)T : 64;
}

/* Allocates every array of @p st (sticky_bounds() first). @returns 0 or KP_ERR_NOMEM. */
static int sticky_alloc(sticky_t *st)
{
        bal_t *b = &st->b;
        const size_t T = (size_t)st->ctx->T, K = st->ctx->in->topic_cnt;
        const size_t sum_r = st->sum_r, C = st->cells ? st->cells : 1;
        st->cnt = calloc(T + 1, sizeof(*st->cnt));
        st->seen = malloc((T + 1) * sizeof(*st->seen));
        st->ctask = malloc(C * sizeof(*st->ctask));
        st->ccnt = malloc(C * sizeof(*st->ccnt));
        st->cstart = malloc((K + 1) * sizeof(*st->cstart));
        st->room = malloc((T + 1) * sizeof(*st->room));
        st->keep = malloc((T + 1) * sizeof(*st->keep));
        st->ucnt = calloc(T, sizeof(*st->ucnt));
        st->ptot = calloc(T, sizeof(*st->ptot));
        st->useful = malloc(C * sizeof(*st->useful));
        st->ustart = malloc((K + 1) * sizeof(*st->ustart));
        st->pool = malloc((st->maxp ? st->maxp : 1) * sizeof(*st->pool));
        st->over = malloc((st->ctx->P ? st->ctx->P : 1) * sizeof(*st->over));
        st->ostart = malloc((K + 1) * sizeof(*st->ostart));
        st->ck = malloc(2 * T * sizeof(*st->ck)); /* the second half: colkey_sort's scratch */
        st->tk = malloc((K ? K : 1) * sizeof(*st->tk));
        b->cap = malloc(T * sizeof(*b->cap));
        b->used = calloc(T, sizeof(*b->used));
        b->fresh = calloc(T, sizeof(*b->fresh));
        b->tj = b->uj = -1;
        /* E or E + 1 extras a task: E rows, one more when R > 0 (at most sum_r + T entries) */
        const size_t rows = (size_t)st->E + (st->R > 0), cols = rows * T;
        b->col = malloc((cols ? cols : 1) * sizeof(*b->col));
        b->xstart = malloc((K + 1) * sizeof(*b->xstart));
        b->xcol = malloc((sum_r ? sum_r : 1) * sizeof(*b->xcol));
        b->xn = calloc(K ? K : 1, sizeof(*b->xn));
        b->mark = calloc(T, sizeof(*b->mark));
        b->tmark = calloc(K ? K : 1, sizeof(*b->tmark));
        b->freel = malloc(T * sizeof(*b->freel));
        b->lack = malloc(T * sizeof(*b->lack));
        b->uhead = malloc(T * sizeof(*b->uhead));
        b->ulink = malloc(C * sizeof(*b->ulink));
        b->umark = calloc(K ? K : 1, sizeof(*b->umark));
        b->ucmark = calloc(T, sizeof(*b->ucmark));
        if (!st->cnt || !st->seen || !st->ctask || !st->ccnt || !st->cstart || !st->room ||
            !st->keep || !st->ucnt || !st->ptot || !st->useful || !st->ustart || !st->pool ||
            !st->over || !st->ostart || !st->ck || !st->tk || !b->cap || !b->used || !b->fresh ||
            !b->col || !b->xstart || !b->xcol || !b->xn || !b->mark || !b->tmark || !b->freel ||
            !b->lack || !b->uhead || !b->ulink || !b->umark || !b->ucmark)
                return KP_ERR_NOMEM;
        return 0;
}

static void sticky_free(sticky_t *st)
{
        bal_t *b = &st->b;
        free(b->ucmark);
        free(b->umark);
        free(b->ulink);
        free(b->uhead);
        free(b->lack);
        free(b->freel);
        free(b->tmark);
        free(b->mark);
        free(b->xn);
        free(b->xcol);
        free(b->xstart);
        free(b->col);
        free(b->used);
        free(b->fresh);
        free(b->cap);
        free(st->tk);
        free(st->ck);
        free(st->ostart);
        free(st->over);
        free(st->pool);
        free(st->ustart);
        free(st->useful);
        free(st->ptot);
        free(st->ucnt);
        free(st->keep);
        free(st->room);
        free(st->cstart);
        free(st->ccnt);
        free(st->ctask);
        free(st->seen);
        free(st->cnt);
}

/* A count no task reaches (P <= KP_PLAN_PARTITIONS_MAX): topic_cells() starts the sentinel
 * cnt[T] there, so a partition without a task as owner fails the same single test as a
 * task's first partition and one past its f_t. */
#define CELL_INVALID 0x80000000u

/* One topic's pass (topic_cells()): the counts, the tasks in order of first appearance
 * (seen) and the partitions step 4 looks at (over). */
typedef struct cellpass {
        uint32_t *cnt;
        int32_t *seen;
        over_t *over;
        size_t ns, no;
        uint32_t T, look1;
} cellpass_t;

/* topic_cells()'s pass for partition @p i of owner @p o (a task, or T): counted, listed when
 * the test holds. Not marked unlikely: gcc then kept the list counters on the stack, and in a
 * run of listed partitions (a topic's first T, say) each waited on the last one's store. */
static inline __attribute__((always_inline)) void cell_count(cellpass_t *cp, uint32_t o, size_t i,
                                                             int32_t p)
{
        const uint32_t c = cp->cnt[o]++;
        if (c - 1u >= cp->look1) {
                if (!c)
                        cp->seen[cp->ns++] = (int32_t)o;
                else
                        cp->over[cp->no++] = (over_t){(uint32_t)i, p};
        }
}

/* Counts partitions @p i .. @p i + 3, whose owners are all tasks when @p valid (no clamp to the
 * sentinel: a constant once inlined). */
static inline __attribute__((always_inline)) void cells_four(cellpass_t *cp, const int32_t *prev,
                                                             size_t i, int valid)
{
        const uint32_t T = cp->T;
        const uint32_t p0 = (uint32_t)prev[i], p1 = (uint32_t)prev[i + 1];
        const uint32_t p2 = (uint32_t)prev[i + 2], p3 = (uint32_t)prev[i + 3];
        cell_count(cp, valid || p0 < T ? p0 : T, i, (int32_t)p0);
        cell_count(cp, valid || p1 < T ? p1 : T, i + 1, (int32_t)p1);
        cell_count(cp, valid || p2 < T ? p2 : T, i + 2, (int32_t)p2);
        cell_count(cp, valid || p3 < T ? p3 : T, i + 3, (int32_t)p3);
}

/* topic_cells()'s pass over partitions [@p o0, @p o1): each owner copied into @p owner (step 4
 * keeps most of them) and counted, four a round. With SSE2 one 16-byte load copies four owners
 * and tells whether all are tasks, so most rounds count without the clamp; the rest, or every
 * round without SSE2, clamp. Not inlined, so its registers are its own (see cell_count()).
 * 1M x 10k, +1 task: 1.85 ms before the clamp-free rounds, 1.55 with them, 1.3 with its own
 * registers. */
static __attribute__((noinline)) void cells_pass(cellpass_t *cpp, const int32_t *prev,
                                                 int32_t *owner, size_t o0, size_t o1)
{
        cellpass_t c = *cpp, *cp = &c; /* a local: its fields stay in registers */
        size_t i = o0;
#ifdef KP_PLANNER_SSE2
        const __m128i tm1 = _mm_set1_epi32((int)(cp->T - 1u));
        for (; i + 4 <= o1; i += 4) {
                const __m128i v = _mm_loadu_si128((const __m128i *)(prev + i));
                _mm_storeu_si128((__m128i *)(owner + i), v);
                /* the sign of p | (T - 1 - p) is set when p < 0 or p >= T */
                const __m128i bad = _mm_or_si128(v, _mm_sub_epi32(tm1, v));
                if (__builtin_expect(_mm_movemask_ps(_mm_castsi128_ps(bad)) != 0, 0))
                        cells_four(cp, prev, i, 0);
                else
                        cells_four(cp, prev, i, 1);
        }
#endif
        for (; i + 4 <= o1; i += 4) {
                memcpy(owner + i, prev + i, 4 * sizeof(*owner));
                cells_four(cp, prev, i, 0);
        }
        for (; i < o1; i++) {
                const uint32_t p = (uint32_t)prev[i];
                owner[i] = (int32_t)p;
                cell_count(cp, p < cp->T ? p : cp->T, i, (int32_t)p);
        }
        *cpp = c;
}

/* Step 1 for topic @p t: its cells (the tasks that held its partitions, in order of first
 * appearance, and how many each held) into ctask/ccnt from @p nc; a cell holding more than
 * f_t is useful (useful/ustart). One pass over the topic's previous owners, which it also
 * copies into @p owner (step 4 keeps most of them), and lists in over/ostart the
 * partitions step 4 has to look at: a task's partitions after its first f_t (it keeps at
 * least f_t: the rest may be over its target) and those whose owner is not a task (-1,
 * or >= T: counted on the sentinel cnt[T]); a topic with f_t = 0 lists none. The pass
 * is most of a re-plan's time, so a partition takes one test, c - 1 >= f_t - 1
 * (unsigned), that holds for a task's first partition (c = 0 wraps), one past its first
 * f_t and the sentinel's (c >= CELL_INVALID). Leaves cnt zeroed. @returns the cells now
 * listed. */
static size_t topic_cells(sticky_t *st, size_t t, size_t nc, size_t *nu, int32_t *owner)
{
        const kp_plan_input_t *in = st->ctx->in;
        const int32_t *prev = in->previous_owner;
        const uint32_t T = (uint32_t)st->ctx->T;
        const size_t o0 = st->ctx->offset[t], o1 = st->ctx->offset[t + 1];
        const int32_t f = in->topics[t].partitions / (int32_t)T;
        /* a topic with fewer partitions than tasks lists none: keep_and_deal_small() reads it
         * again from prev */
        const uint32_t look1 = f > 0 ? (uint32_t)f - 1 : UINT32_MAX;
        uint32_t *cnt = (uint32_t *)st->cnt;
        cellpass_t cp = {cnt, st->seen, st->over, 0, st->ostart[t], T, look1};
        cnt[T] = CELL_INVALID;
        cells_pass(&cp, prev, owner, o0, o1);
        cnt[T] = 0;
        const size_t ns = cp.ns;
        const int32_t *seen = st->seen;
        st->ostart[t + 1] = cp.no;
        for (size_t s = 0; s < ns; s++) {
                const int32_t o = seen[s], c = (int32_t)cnt[o];
                cnt[o] = 0;
                st->ctask[nc] = o;
                st->ccnt[nc++] = c;
                if (c > f) {
                        const size_t u = (*nu)++;
                        st->useful[u] = o;
                        st->b.ulink[u] = (ulink_t){st->b.uhead[o], (int32_t)t};
                        st->b.uhead[o] = (int32_t)u;
                        st->ucnt[o]++;
                }
                st->ptot[o] += c;
        }
        return nc;
}

/* Step 1: every topic's cells (topic_cells()), the owners copied, the useful ones also by task in
 * b.uhead/b.ulink for repair(); ptot counts what each task held. Cost O(P + T). */
static void useful_cells(sticky_t *st, int32_t *owner)
{
        const int32_t T = st->ctx->T;
        const size_t K = st->ctx->in->topic_cnt;
        bal_t *b = &st->b;
        size_t nu = 0, nc = 0;
        st->ostart[0] = 0;
        memset(b->uhead, 0xff, (size_t)T * sizeof(*b->uhead)); /* -1: no useful cell yet */
        for (size_t t = 0; t < K; t++) {
                st->ustart[t] = nu;
                st->cstart[t] = nc;
                nc = topic_cells(st, t, nc, &nu, owner);
        }
        st->ustart[K] = nu;
        st->cstart[K] = nc;
}

/* Step 2: capacities, and where each task's and each topic's extras lists start.
 * @returns 0, or KP_ERR_INTERNAL when the capacities do not add up to the extras. */
static int extras_lay_out(sticky_t *st)
{
        const kp_plan_input_t *in = st->ctx->in;
        const int32_t T = st->ctx->T;
        const size_t K = in->topic_cnt;
        bal_t *b = &st->b;
        capacities_deal(b, st->ck, st->ucnt, st->ptot, st->useful, st->ustart, st->E, st->R);
        size_t caps = 0, acc = 0;
        for (int32_t j = 0; j < T; j++)
                caps += (size_t)b->cap[j];
        for (size_t t = 0; t < K; t++) {
                b->xstart[t] = acc;
                acc += (size_t)(in->topics[t].partitions % T);
        }
        b->xstart[K] = acc;
        return caps == st->sum_r ? 0 : KP_ERR_INTERNAL;
}

/* Step 3a: extras on useful cells while capacity lasts, topics with the least choice
 * first (fewest useful cells beyond the extras they need), so flexible topics do not
 * take the capacity the others can only find there. */
static void extras_on_useful_cells(sticky_t *st)
{
        const kp_plan_input_t *in = st->ctx->in;
        const int32_t T = st->ctx->T;
        const size_t K = in->topic_cnt;
        topkey_t *tk = st->tk;
        bal_t *b = &st->b;
        for (size_t t = 0; t < K; t++) {
                int64_t slack = (int64_t)(st->ustart[t + 1] - st->ustart[t]) -
                                (int64_t)(in->topics[t].partitions % T);
                tk[t].left = (int32_t)(slack > INT32_MAX ? INT32_MAX : slack);
                tk[t].t = (int32_t)t;
        }
        qsort(tk, K, sizeof(*tk), topkey_cmp);
        for (size_t x = K; x-- > 0;) {
                const size_t t = (size_t)tk[x].t;
                const int32_t r = in->topics[t].partitions % T;
                /* xn[t] in a register: through memory each extra waited on the last one's
                 * store */
                const size_t xs = b->xstart[t];
                int32_t n = b->xn[t];
                for (size_t u = st->ustart[t]; u < st->ustart[t + 1] && n < r; u++) {
                        int32_t j = st->useful[u];
                        if (b->used[j] < b->cap[j])
                                place_at(b, (int32_t)t, j, 1, xs + (size_t)n++);
                }
                b->xn[t] = n;
        }
}

/* Topic @p t's @p left remaining extras on tasks with room that lack one of its extras;
 * when none is left, repair() frees a slot. @returns 0 or KP_ERR_INTERNAL. */
static int extras_anywhere(sticky_t *st, int32_t t, int32_t left)
{
        bal_t *b = &st->b;
        b->gen++;
        for (size_t s = b->xstart[t]; s < b->xstart[t] + (size_t)b->xn[t]; s++)
                b->mark[b->xcol[s]] = b->gen;
        b->ucgen++;
        for (size_t u = st->ustart[t]; u < st->ustart[t + 1]; u++)
                b->ucmark[st->useful[u]] = b->ucgen;
        int32_t idx = 0;
        while (left > 0 && idx < b->nfree) {
                int32_t j = b->freel[idx];
                if (b->mark[j] == b->gen) {
                        idx++;
                        continue;
                }
                place(b, t, j, 0);
                b->mark[j] = b->gen;
                left--;
                if (b->used[j] == b->cap[j])
                        b->freel[idx] = b->freel[--b->nfree];
                else
                        idx++;
        }
        b->nlack = 0;
        for (int32_t k = 0; k < b->T && left > 0; k++)
                if (b->mark[k] != b->gen)
                        b->lack[b->nlack++] = k;
        for (; left > 0; left--) {
                if (!b->nfree)
                        return KP_ERR_INTERNAL;
                int err = repair(b, t);
                if (err)
                        return err;
        }
        return 0;
}

/* Step 3b: the extras step 3a left, topics with most left first. @returns 0 or
 * KP_ERR_INTERNAL. */
static int extras_remaining(sticky_t *st)
{
        const kp_plan_input_t *in = st->ctx->in;
        const int32_t T = st->ctx->T;
        topkey_t *tk = st->tk;
        bal_t *b = &st->b;
        for (int32_t j = 0; j < T; j++)
                if (b->used[j] < b->cap[j])
                        b->freel[b->nfree++] = j;
        size_t nt = 0;
        for (size_t t = 0; t < in->topic_cnt; t++) {
                int32_t left = in->topics[t].partitions % T - b->xn[t];
                if (left > 0) {
                        tk[nt].left = left;
                        tk[nt].t = (int32_t)t;
                        nt++;
                }
        }
        qsort(tk, nt, sizeof(*tk), topkey_cmp);
        for (size_t x = 0; x < nt; x++) {
                int err = extras_anywhere(st, tk[x].t, tk[x].left);
                if (err)
                        return err;
        }
        return 0;
}

/* Step 4 for a topic @p t with fewer partitions than tasks (f_t = 0): a task keeps one of
 * its partitions where it holds one of the topic's extras, the rest go to the extras' tasks
 * that kept none. @returns 0 or KP_ERR_INTERNAL. Leaves cnt zeroed. */
static int keep_and_deal_small(sticky_t *st, size_t t, int32_t *owner)
{
        const int32_t *prev = st->ctx->in->previous_owner;
        const int32_t T = st->ctx->T;
        const size_t o0 = st->ctx->offset[t], o1 = st->ctx->offset[t + 1];
        int32_t *cnt = st->cnt;
        uint32_t *pool = st->pool;
        bal_t *b = &st->b;
        const size_t xs = b->xstart[t], xe = b->xstart[t + 1];
        size_t np = 0, q = 0;
        b->gen++;
        for (size_t s = xs; s < xe; s++)
                b->mark[b->xcol[s]] = b->gen;
        for (size_t i = o0; i < o1; i++) {
                int32_t o = prev[i];
                if (o >= 0 && o < T && cnt[o] < (b->mark[o] == b->gen)) {
                        cnt[o]++; /* kept: step 1 copied it into owner[i] */
                } else {
                        pool[np++] = (uint32_t)i;
                        st->moved += o >= 0;
                }
        }
        for (size_t s = xs; s < xe; s++) {
                int32_t j = b->xcol[s];
                if (!cnt[j] && q < np)
                        owner[pool[q++]] = j;
                cnt[j] = 0;
        }
        return q == np ? 0 : KP_ERR_INTERNAL;
}

/* Sets @p n entries of @p a to @p v, eight a round: a count gcc -O2 vectorises (its cheap
 * model wants one it knows). */
static void fill_i32(int32_t *a, size_t n, int32_t v)
{
        size_t i = 0;
        for (; i + 8 <= n; i += 8)
                for (size_t q = 0; q < 8; q++)
                        a[i + q] = v;
        for (; i < n; i++)
                a[i] = v;
}

/* Step 4's targets for topic @p t (f_t >= 1): room[j] = f_t (+ 1 with an extra) minus
 * what task j held, from the topic's cells; a task over its target gets keep[j] = the
 * target minus f_t (how many of its listed partitions it keeps); room[T] is -1 when some
 * partition had no task as owner. @returns 1 when every task held exactly its target
 * (nothing moves). Cost O(T + cells). */
static int targets_set(sticky_t *st, size_t t)
{
        const int32_t T = st->ctx->T;
        const int32_t f = st->ctx->in->topics[t].partitions / T;
        int32_t *room = st->room;
        bal_t *b = &st->b;
        int64_t held = 0;
        int over = 0;
        fill_i32(room, (size_t)T, f);
        for (size_t s = b->xstart[t]; s < b->xstart[t + 1]; s++)
                room[b->xcol[s]]++;
        for (size_t c = st->cstart[t]; c < st->cstart[t + 1]; c++) {
                const int32_t j = st->ctask[c];
                const int32_t target = room[j];
                room[j] -= st->ccnt[c];
                held += st->ccnt[c];
                if (room[j] < 0) {
                        st->keep[j] = target - f;
                        over = 1;
                }
        }
        const int invalid = held < st->ctx->in->topics[t].partitions;
        room[T] = invalid ? -1 : 0;
        st->keep[T] = 0;
        return !over && !invalid;
}

/* Step 4 for topic @p t: with each task's target fixed (f_t, + 1 where it holds an
 * extra), keep partitions on their previous owner (step 1 copied them) up to the target
 * and deal the rest, in the order they are met, to the tasks still short (lowest task
 * first, each up to its room). Only the partitions step 1 listed can go: those of a task
 * over its target (room < 0) after its first keep[] listed ones, and those without a task
 * as owner. A task short of its target was not over it, so dealing as the scan goes never
 * changes what the scan tests. @returns 0 or KP_ERR_INTERNAL. */
static int keep_and_deal(sticky_t *st, size_t t, int32_t *owner)
{
        const uint32_t T = (uint32_t)st->ctx->T;
        if (st->ctx->in->topics[t].partitions < (int32_t)T)
                return keep_and_deal_small(st, t, owner);
        if (targets_set(st, t))
                return 0;
        int32_t *room = st->room, *keep = st->keep;
        uint32_t next = 0; /* the deal: the task after the one taking partitions now */
        int32_t need = 0;  /* what that one still takes */
        for (size_t x = st->ostart[t]; x < st->ostart[t + 1]; x++) {
                const uint32_t i = st->over[x].i;
                const int32_t o = st->over[x].o;
                const uint32_t k = (uint32_t)o < T ? (uint32_t)o : T;
                if (room[k] >= 0)
                        continue;
                if (keep[k] > 0) {
                        keep[k]--;
                        continue;
                }
                st->moved += o >= 0;
                while (need <= 0) {
                        if (next == T)
                                return KP_ERR_INTERNAL;
                        need = room[next++];
                }
                owner[i] = (int32_t)(next - 1);
                need--;
        }
        return 0;
}

/* The analysis' counts, known here: task j holds f_t of every topic t, plus its extras;
 * a partition moved when it was dealt from the pool with an owner >= 0 (a pooled
 * partition never goes back to its previous owner: that task was at its target). */
static void tally_fill(const sticky_t *st, kp_plan_tally_t *tally)
{
        for (int32_t j = 0; j < st->b.T; j++)
                tally->cnt[j] = st->sum_f + st->b.used[j];
        tally->moved = st->moved;
        tally->filled = 1;
}

static int balanced_sticky(const kp_plan_ctx_t *ctx, int32_t *owner)
{
        sticky_t st;
        memset(&st, 0, sizeof(st));
        st.ctx = ctx;
        st.b.T = ctx->T;
        st.b.K = ctx->in->topic_cnt;
        sticky_bounds(&st);
        int err = sticky_alloc(&st);
        if (err)
                goto out;
        useful_cells(&st, owner);
        if ((err = extras_lay_out(&st)))
                goto out;
        extras_on_useful_cells(&st);
        if ((err = extras_remaining(&st)))
                goto out;
        for (size_t t = 0; t < ctx->in->topic_cnt && !err; t++)
                err = keep_and_deal(&st, t, owner);
        if (!err && ctx->tally)
                tally_fill(&st, ctx->tally);
out:
        sticky_free(&st);
        return err;
}

int kp_planner_balanced(const kp_plan_ctx_t *ctx, int32_t *owner)
{
        if (ctx->in->previous_owner)
                return balanced_sticky(ctx, owner);
        /* A global round-robin over the concatenated topics: consecutive flat indexes
         * go to consecutive tasks, so both the global and every per-topic count differ
         * by at most one between tasks. */
        int32_t o = 0;
        for (size_t i = 0; i < ctx->P; i++) {
                owner[i] = o;
                if (++o == ctx->T)
                        o = 0;
        }
        return 0;
}
