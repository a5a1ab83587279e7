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

/*
 * Local improvement: while the busiest task b is above @p goal, move one of its
 * partitions to the least-loaded task l (or swap one of each) when that lowers the
 * pair's maximum; each step lowers the sum of squared loads, so it cannot cycle.
 * Cost O(P + T) per step (plus |b| * |l| for a swap), at most KP_WEIGHTED_IMPROVE_STEPS.
 */
static int improve(wt_t *s, int32_t *owner, double goal)
{
        const kp_plan_ctx_t *ctx = s->ctx;
        const int32_t T = ctx->T;
        size_t *onb = NULL, *onl = NULL;
        size_t nb, nl, capb = 0, capl = 0;
        int err = 0;
        for (int step = 0; step < KP_WEIGHTED_IMPROVE_STEPS; step++) {
                int32_t b = 0, l = 0;
                for (int32_t j = 1; j < T; j++) {
                        if (s->load[j] > s->load[b])
                                b = j;
                        if (s->load[j] < s->load[l])
                                l = j;
                }
                double gap = s->load[b] - s->load[l];
                double eps = 1e-9 * (s->load[b] > 1 ? s->load[b] : 1);
                if (s->load[b] <= goal || gap <= eps)
                        break;
                if (s->cnt[b] > (int64_t)capb) {
                        free(onb);
                        capb = (size_t)s->cnt[b];
                        if (!(onb = malloc(capb * sizeof(*onb)))) {
                                err = KP_ERR_NOMEM;
                                break;
                        }
                }
                if (s->cnt[l] > (int64_t)capl) {
                        free(onl);
                        capl = (size_t)s->cnt[l];
                        if (!(onl = malloc(capl * sizeof(*onl)))) {
                                err = KP_ERR_NOMEM;
                                break;
                        }
                }
                nb = nl = 0;
                for (size_t i = 0; i < ctx->P; i++) {
                        if (owner[i] == b)
                                onb[nb++] = i;
                        else if (owner[i] == l)
                                onl[nl++] = i;
                }
                /* best single move: weight nearest gap / 2, strictly inside (0, gap) */
                size_t best = SIZE_MAX, bx = 0, by = 0;
                double bestd = INFINITY;
                for (size_t x = 0; x < nb; x++) {
                        double wx = weight(s, onb[x]);
                        if (wx > eps && wx < gap - eps && fabs(gap / 2 - wx) < bestd) {
                                bestd = fabs(gap / 2 - wx);
                                best = x;
                        }
                }
                if (best != SIZE_MAX) {
                        size_t i = onb[best];
                        double wi = weight(s, i);
                        owner[i] = l;
                        s->load[b] -= wi;
                        s->load[l] += wi;
                        s->cnt[b]--;
                        s->cnt[l]++;
                        continue;
                }
                if ((double)nb * (double)nl > 4e6)
                        break;
                for (size_t x = 0; x < nb; x++) {
                        double wx = weight(s, onb[x]);
                        for (size_t y = 0; y < nl; y++) {
                                double d = wx - weight(s, onl[y]);
                                if (d > eps && d < gap - eps && fabs(gap / 2 - d) < bestd) {
                                        bestd = fabs(gap / 2 - d);
                                        bx = x;
                                        by = y;
                                        best = 0;
                                }
                        }
                }
                if (best == SIZE_MAX)
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

int kp_planner_weighted(const kp_plan_ctx_t *ctx, int32_t *owner)
{
        const kp_plan_input_t *in = ctx->in;
        const int32_t T = ctx->T;
        const size_t P = ctx->P;
        wt_t s;
        int32_t *order = NULL, *rest = NULL, *alt = NULL, *bytask = NULL;
        size_t *bystart = NULL;
        uint8_t *inrest = NULL;
        wkey_t *keys = NULL;
        int err = KP_ERR_NOMEM;
        double total = 0, heaviest = 0;

        memset(&s, 0, sizeof(s));
        s.ctx = ctx;
        s.w = in->weights;
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
        /* heaviest first; equal weights keep flat order, so no sort is needed */
        if (s.w) {
                if (!(keys = malloc(P * sizeof(*keys))))
                        goto out;
                for (size_t i = 0; i < P; i++) {
                        keys[i].w = s.w[i];
                        keys[i].i = (int32_t)i;
                }
                qsort(keys, P, sizeof(*keys), wkey_cmp);
                for (size_t i = 0; i < P; i++)
                        order[i] = keys[i].i;
                free(keys);
                keys = NULL;
        } else {
                for (size_t i = 0; i < P; i++)
                        order[i] = (int32_t)i;
        }
        const double bound = fmax(heaviest, total / T);
        /* improve() stops once within 0.1% of the bound: closer is rarely reachable */
        const double goal = bound * 1.001;

        if (!in->previous_owner) {
                err = fresh(&s, order, owner, goal);
                goto out;
        }

        /* sticky: a task over the slack bound sheds as few partitions as it can: the
         * lightest one that covers its excess alone, else its heaviest and again */
        const double cap = bound * (1 + KP_WEIGHTED_STICKY_SLACK);
        size_t nr = 0;
        rest = malloc(P * sizeof(*rest));
        bystart = calloc((size_t)T + 1, sizeof(*bystart));
        bytask = malloc(P * sizeof(*bytask));
        inrest = calloc(P, 1);
        if (!rest || !bystart || !bytask || !inrest)
                goto out;
        for (size_t i = 0; i < P; i++) {
                int32_t o = in->previous_owner[i];
                if (o >= 0 && o < T)
                        bystart[o + 1]++;
        }
        for (int32_t j = 0; j < T; j++)
                bystart[j + 1] += bystart[j];
        for (size_t x = 0; x < P; x++) {
                size_t i = (size_t)order[x];
                int32_t o = in->previous_owner[i];
                if (o >= 0 && o < T)
                        bytask[bystart[o]++] = (int32_t)i; /* heaviest first per task */
                else
                        rest[nr++] = (int32_t)i;
        }
        for (int32_t j = T; j > 0; j--)
                bystart[j] = bystart[j - 1];
        bystart[0] = 0;
        for (int32_t j = 0; j < T; j++) {
                int32_t *L = bytask + bystart[j];
                size_t n = bystart[j + 1] - bystart[j], lo = 0, cut = SIZE_MAX;
                double excess = -cap;
                for (size_t x = 0; x < n; x++)
                        excess += weight(&s, (size_t)L[x]);
                while (excess > 0 && lo < n) {
                        if (weight(&s, (size_t)L[lo]) >= excess) {
                                /* the last (lightest) of L[lo..] still >= excess */
                                size_t a = lo, z = n - 1;
                                while (a < z) {
                                        size_t mid = a + (z - a + 1) / 2;
                                        if (weight(&s, (size_t)L[mid]) >= excess)
                                                a = mid;
                                        else
                                                z = mid - 1;
                                }
                                cut = a;
                                break;
                        }
                        excess -= weight(&s, (size_t)L[lo]);
                        rest[nr++] = L[lo++];
                }
                for (size_t x = lo; x < n; x++) {
                        size_t i = (size_t)L[x];
                        if (x == cut) {
                                rest[nr++] = L[x];
                                continue;
                        }
                        owner[i] = j;
                        s.load[j] += weight(&s, i);
                        s.cnt[j]++;
                }
        }
        /* LPT wants the leftovers heaviest first */
        for (size_t x = 0; x < nr; x++)
                inrest[rest[x]] = 1;
        nr = 0;
        for (size_t x = 0; x < P; x++)
                if (inrest[order[x]])
                        rest[nr++] = order[x];
        lpt(&s, rest, nr, owner);
        double m = max_load(&s);
        const double tol = bound * (1 + KP_WEIGHTED_TOLERANCE);
        if (m > tol) {
                if ((err = improve(&s, owner, tol)))
                        goto out;
                m = max_load(&s);
        }
        if (m > tol) {
                /* still too uneven: a fresh plan wins when it is better balanced */
                if (!(alt = malloc(P * sizeof(*alt))))
                        goto out;
                if ((err = fresh(&s, order, alt, goal)))
                        goto out;
                if (max_load(&s) < m)
                        memcpy(owner, alt, P * sizeof(*owner));
        }
        err = 0;
out:
        free(inrest);
        free(bytask);
        free(bystart);
        free(alt);
        free(rest);
        free(keys);
        free(order);
        free(s.heap);
        free(s.cnt);
        free(s.load);
        return err;
}
