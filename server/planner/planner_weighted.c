/* planner_weighted.c — the weighted strategy: balance measured load (LPT + local moves), sticky to
 * a previous plan. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/err.h"
#include "planner/planner_int.h"

typedef struct wt {
        const kp_plan_ctx_t *ctx;
        const double *w; /* NULL: every partition weighs 1 */
        double *load;    /* per task */
        int64_t *cnt;    /* per task */
        int32_t *heap;   /* tasks, least loaded on top */
} wt_t;

static double weight(const wt_t *s, size_t i)
{
        return s->w ? s->w[i] : 1.0;
}

/* Least loaded first; among equal loads the one with fewer partitions (so zero-weight
 * partitions still spread), then the lower task. */
static int less(const wt_t *s, int32_t a, int32_t b)
{
        if (s->load[a] != s->load[b])
                return s->load[a] < s->load[b];
        if (s->cnt[a] != s->cnt[b])
                return s->cnt[a] < s->cnt[b];
        return a < b;
}

static void sift_down(wt_t *s, int32_t at)
{
        const int32_t n = s->ctx->T;
        int32_t *h = s->heap;
        for (;;) {
                int32_t l = 2 * at + 1, r = l + 1, m = at;
                if (l < n && less(s, h[l], h[m]))
                        m = l;
                if (r < n && less(s, h[r], h[m]))
                        m = r;
                if (m == at)
                        return;
                int32_t x = h[m];
                h[m] = h[at];
                h[at] = x;
                at = m;
        }
}

static void heap_build(wt_t *s)
{
        for (int32_t j = 0; j < s->ctx->T; j++)
                s->heap[j] = j;
        for (int32_t j = s->ctx->T / 2; j >= 0; j--)
                sift_down(s, j);
}

/* LPT: each partition of @p order (heaviest first) onto the least-loaded task.
 * Cost O(n log T). */
static void lpt(wt_t *s, const int32_t *order, size_t n, int32_t *owner)
{
        heap_build(s);
        for (size_t x = 0; x < n; x++) {
                size_t i = (size_t)order[x];
                int32_t j = s->heap[0];
                owner[i] = j;
                s->load[j] += weight(s, i);
                s->cnt[j]++;
                sift_down(s, 0);
        }
}

static double max_load(const wt_t *s)
{
        double m = 0;
        for (int32_t j = 0; j < s->ctx->T; j++)
                if (s->load[j] > m)
                        m = s->load[j];
        return m;
}

/* The busiest (*bp) and the least-loaded (*lp) task, the first of each among equals. */
static void extremes(const wt_t *s, int32_t *bp, int32_t *lp)
{
        int32_t b = 0, l = 0;
        for (int32_t j = 1; j < s->ctx->T; j++) {
                if (s->load[j] > s->load[b])
                        b = j;
                if (s->load[j] < s->load[l])
                        l = j;
        }
        *bp = b;
        *lp = l;
}

/* Makes *@p bufp hold at least @p n entries (the old ones are not kept). @returns 0 or
 * KP_ERR_NOMEM. */
static int scratch_reserve(size_t **bufp, size_t *capp, int64_t n)
{
        if (n <= (int64_t)*capp)
                return 0;
        free(*bufp);
        *capp = (size_t)n;
        return (*bufp = malloc(*capp * sizeof(**bufp))) ? 0 : KP_ERR_NOMEM;
}

/* The partition of @p onb (@p nb, on the busiest task) whose weight is nearest gap / 2,
 * strictly inside (0, gap): moving it lowers the pair's maximum. SIZE_MAX: none. */
static size_t best_move(const wt_t *s, const size_t *onb, size_t nb, double gap, double eps)
{
        size_t best = SIZE_MAX;
        double bestd = INFINITY;
        for (size_t x = 0; x < nb; x++) {
                double wx = weight(s, onb[x]);
                if (wx > eps && wx < gap - eps && fabs(gap / 2 - wx) < bestd) {
                        bestd = fabs(gap / 2 - wx);
                        best = x;
                }
        }
        return best;
}

/* The pair (onb[*bxp], onl[*byp]) whose weight difference is nearest gap / 2, strictly
 * inside (0, gap): swapping them lowers the pair's maximum. @returns 1, or 0 when none
 * does. Cost O(nb * nl). */
static int best_swap(const wt_t *s, const size_t *onb, size_t nb, const size_t *onl, size_t nl,
                     double gap, double eps, size_t *bxp, size_t *byp)
{
        double bestd = INFINITY;
        int found = 0;
        for (size_t x = 0; x < nb; x++) {
                double wx = weight(s, onb[x]);
                for (size_t y = 0; y < nl; y++) {
                        double d = wx - weight(s, onl[y]);
                        if (d > eps && d < gap - eps && fabs(gap / 2 - d) < bestd) {
                                bestd = fabs(gap / 2 - d);
                                *bxp = x;
                                *byp = y;
                                found = 1;
                        }
                }
        }
        return found;
}

/*
 * Local improvement: while the busiest task b is above @p goal, move one of its
 * partitions to the least-loaded task l (or swap one of each) when that lowers the
 * pair's maximum; each step lowers the sum of squared loads, so it cannot cycle.
 * Cost O(P + T) per step (plus |b| * |l| for a swap), at most KP_WEIGHTED_IMPROVE_STEPS.
 */
static int improve(wt_t *s, int32_t *owner, double goal)
{
        size_t *onb = NULL, *onl = NULL;
        size_t capb = 0, capl = 0, bx = 0, by = 0;
        int err = 0;
        for (int step = 0; step < KP_WEIGHTED_IMPROVE_STEPS; step++) {
                int32_t b, l;
                extremes(s, &b, &l);
                double gap = s->load[b] - s->load[l];
                double eps = 1e-9 * (s->load[b] > 1 ? s->load[b] : 1);
                if (s->load[b] <= goal || gap <= eps)
                        break;
                if ((err = scratch_reserve(&onb, &capb, s->cnt[b])) ||
                    (err = scratch_reserve(&onl, &capl, s->cnt[l])))
                        break;
                size_t nb = 0, nl = 0;
                for (size_t i = 0; i < s->ctx->P; i++) {
                        if (owner[i] == b)
                                onb[nb++] = i;
                        else if (owner[i] == l)
                                onl[nl++] = i;
                }
                size_t x = best_move(s, onb, nb, gap, eps);
                if (x != SIZE_MAX) {
                        double wi = weight(s, onb[x]);
                        owner[onb[x]] = l;
                        s->load[b] -= wi;
                        s->load[l] += wi;
                        s->cnt[b]--;
                        s->cnt[l]++;
                        continue;
                }
                if ((double)nb * (double)nl > 4e6 ||
                    !best_swap(s, onb, nb, onl, nl, gap, eps, &bx, &by))
                        break;
                double d = weight(s, onb[bx]) - weight(s, onl[by]);
                owner[onb[bx]] = l;
                owner[onl[by]] = b;
                s->load[b] -= d;
                s->load[l] += d;
        }
        free(onl);
        free(onb);
        return err;
}

typedef struct wkey {
        double w;
        int32_t i;
} wkey_t;

static int wkey_cmp(const void *a, const void *b)
{
        const wkey_t *x = a, *y = b;
        if (x->w != y->w)
                return x->w > y->w ? -1 : 1;
        return (x->i > y->i) - (x->i < y->i);
}

/* Fresh LPT + improvement into @p owner; loads/counts left in @p s. */
static int fresh(wt_t *s, const int32_t *order, int32_t *owner, double goal)
{
        memset(s->load, 0, (size_t)s->ctx->T * sizeof(*s->load));
        memset(s->cnt, 0, (size_t)s->ctx->T * sizeof(*s->cnt));
        lpt(s, order, s->ctx->P, owner);
        return improve(s, owner, goal);
}

/* Partitions heaviest first into @p order (P entries); equal weights keep flat order, so
 * without weights no sort is needed. @returns 0 or KP_ERR_NOMEM. Cost O(P log P). */
static int heaviest_first(const wt_t *s, int32_t *order)
{
        const size_t P = s->ctx->P;
        if (!s->w) {
                for (size_t i = 0; i < P; i++)
                        order[i] = (int32_t)i;
                return 0;
        }
        wkey_t *keys = malloc(P * sizeof(*keys));
        if (!keys)
                return KP_ERR_NOMEM;
        for (size_t i = 0; i < P; i++) {
                keys[i].w = s->w[i];
                keys[i].i = (int32_t)i;
        }
        qsort(keys, P, sizeof(*keys), wkey_cmp);
        for (size_t i = 0; i < P; i++)
                order[i] = keys[i].i;
        free(keys);
        return 0;
}

/* The previous plan by task, each task's partitions heaviest first: task j's are
 * bytask[bystart[j] .. bystart[j + 1]). Partitions without a previous owner < T go to
 * @p rest (*nrp of them). Cost O(P + T). */
static void by_previous_owner(const wt_t *s, const int32_t *order, int32_t *bytask, size_t *bystart,
                              int32_t *rest, size_t *nrp)
{
        const int32_t *prev = s->ctx->in->previous_owner;
        const int32_t T = s->ctx->T;
        const size_t P = s->ctx->P;
        for (size_t i = 0; i < P; i++)
                if (prev[i] >= 0 && prev[i] < T)
                        bystart[prev[i] + 1]++;
        for (int32_t j = 0; j < T; j++)
                bystart[j + 1] += bystart[j];
        for (size_t x = 0; x < P; x++) {
                size_t i = (size_t)order[x];
                int32_t o = prev[i];
                if (o >= 0 && o < T)
                        bytask[bystart[o]++] = (int32_t)i; /* heaviest first per task */
                else
                        rest[(*nrp)++] = (int32_t)i;
        }
        for (int32_t j = T; j > 0; j--)
                bystart[j] = bystart[j - 1];
        bystart[0] = 0;
}

/* Task @p j keeps its previous partitions @p L (@p n, heaviest first) but, when over
 * @p cap, sheds as few as it can: the lightest one that covers its excess alone, else its
 * heaviest and again. Shed ones go to @p rest. */
static void keep_under_cap(wt_t *s, int32_t j, const int32_t *L, size_t n, double cap,
                           int32_t *owner, int32_t *rest, size_t *nrp)
{
        size_t lo = 0, cut = SIZE_MAX;
        double excess = -cap;
        for (size_t x = 0; x < n; x++)
                excess += weight(s, (size_t)L[x]);
        while (excess > 0 && lo < n) {
                if (weight(s, (size_t)L[lo]) >= excess) {
                        /* the last (lightest) of L[lo..] still >= excess */
                        size_t a = lo, z = n - 1;
                        while (a < z) {
                                size_t mid = a + (z - a + 1) / 2;
                                if (weight(s, (size_t)L[mid]) >= excess)
                                        a = mid;
                                else
                                        z = mid - 1;
                        }
                        cut = a;
                        break;
                }
                excess -= weight(s, (size_t)L[lo]);
                rest[(*nrp)++] = L[lo++];
        }
        for (size_t x = lo; x < n; x++) {
                size_t i = (size_t)L[x];
                if (x == cut) {
                        rest[(*nrp)++] = L[x];
                        continue;
                }
                owner[i] = j;
                s->load[j] += weight(s, i);
                s->cnt[j]++;
        }
}

/* Sorts @p rest (@p nr partitions) heaviest first, as LPT wants, by walking @p order.
 * @returns 0 or KP_ERR_NOMEM. Cost O(P). */
static int rest_heaviest_first(const wt_t *s, const int32_t *order, int32_t *rest, size_t nr)
{
        const size_t P = s->ctx->P;
        uint8_t *inrest = calloc(P, 1);
        if (!inrest)
                return KP_ERR_NOMEM;
        for (size_t x = 0; x < nr; x++)
                inrest[rest[x]] = 1;
        nr = 0;
        for (size_t x = 0; x < P; x++)
                if (inrest[order[x]])
                        rest[nr++] = order[x];
        free(inrest);
        return 0;
}

/* Every task keeps what it held up to the slack bound; shed, new and orphaned partitions
 * are placed by LPT. @returns 0 or KP_ERR_NOMEM. */
static int keep_then_lpt(wt_t *s, const int32_t *order, int32_t *owner, double bound)
{
        const int32_t T = s->ctx->T;
        const size_t P = s->ctx->P;
        const double cap = bound * (1 + KP_WEIGHTED_STICKY_SLACK);
        int32_t *rest = malloc(P * sizeof(*rest));
        int32_t *bytask = malloc(P * sizeof(*bytask));
        size_t *bystart = calloc((size_t)T + 1, sizeof(*bystart));
        size_t nr = 0;
        int err = KP_ERR_NOMEM;
        if (!rest || !bytask || !bystart)
                goto out;
        by_previous_owner(s, order, bytask, bystart, rest, &nr);
        for (int32_t j = 0; j < T; j++)
                keep_under_cap(s, j, bytask + bystart[j], bystart[j + 1] - bystart[j], cap, owner,
                               rest, &nr);
        if ((err = rest_heaviest_first(s, order, rest, nr)))
                goto out;
        lpt(s, rest, nr, owner);
out:
        free(bystart);
        free(bytask);
        free(rest);
        return err;
}

/* The sticky re-plan: keep_then_lpt(), improved when over the tolerance, and if still
 * too uneven a fresh plan wins when it is better balanced. @returns 0 or KP_ERR_NOMEM. */
static int weighted_sticky(wt_t *s, const int32_t *order, int32_t *owner, double bound, double goal)
{
        const size_t P = s->ctx->P;
        int32_t *alt = NULL;
        int err = keep_then_lpt(s, order, owner, bound);
        if (err)
                return err;
        double m = max_load(s);
        const double tol = bound * (1 + KP_WEIGHTED_TOLERANCE);
        if (m > tol) {
                if ((err = improve(s, owner, tol)))
                        return err;
                m = max_load(s);
        }
        if (m <= tol)
                return 0;
        if (!(alt = malloc(P * sizeof(*alt))))
                return KP_ERR_NOMEM;
        if (!(err = fresh(s, order, alt, goal)) && max_load(s) < m)
                memcpy(owner, alt, P * sizeof(*owner));
        free(alt);
        return err;
}

int kp_planner_weighted(const kp_plan_ctx_t *ctx, int32_t *owner)
{
        const int32_t T = ctx->T;
        const size_t P = ctx->P;
        wt_t s;
        int32_t *order = NULL;
        int err = KP_ERR_NOMEM;
        double total = 0, heaviest = 0;

        memset(&s, 0, sizeof(s));
        s.ctx = ctx;
        s.w = ctx->in->weights;
        s.load = calloc((size_t)T, sizeof(*s.load));
        s.cnt = calloc((size_t)T, sizeof(*s.cnt));
        s.heap = malloc((size_t)T * sizeof(*s.heap));
        order = malloc(P * sizeof(*order));
        if (!s.load || !s.cnt || !s.heap || !order)
                goto out;
        for (size_t i = 0; i < P; i++) {
                double wi = weight(&s, i);
                total += wi;
                if (wi > heaviest)
                        heaviest = wi;
        }
        if ((err = heaviest_first(&s, order)))
                goto out;
        const double bound = fmax(heaviest, total / T);
        /* improve() stops once within 0.1% of the bound: closer is rarely reachable */
        const double goal = bound * 1.001;
        if (ctx->in->previous_owner)
                err = weighted_sticky(&s, order, owner, bound, goal);
        else
                err = fresh(&s, order, owner, goal);
out:
        free(order);
        free(s.heap);
        free(s.cnt);
        free(s.load);
        return err;
}
