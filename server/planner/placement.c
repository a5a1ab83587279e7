/* placement.c — balances running tasks over live instances with the fewest moves. */
#include "planner/placement.h"

#include <stdlib.h>

typedef struct inst {
        size_t index, count, quota;
} inst_t;

/* Most tasks first, then lower index: the instances that get the larger shares. */
static int by_count_desc(const void *a, const void *b)
{
        const inst_t *x = a, *y = b;
        if (x->count != y->count)
                return x->count > y->count ? -1 : 1;
        return x->index < y->index ? -1 : x->index > y->index;
}

/* Quotas: floor(ntasks / ninst) each, one more for the (ntasks % ninst) fullest. */
static int quotas_set(inst_t *by_index, size_t ninst, size_t ntasks)
{
        inst_t *sorted = malloc(ninst * sizeof(*sorted));
        size_t base = ntasks / ninst, extra = ntasks % ninst;
        if (!sorted)
                return -1;
        for (size_t i = 0; i < ninst; i++)
                sorted[i] = by_index[i];
        qsort(sorted, ninst, sizeof(*sorted), by_count_desc);
        for (size_t i = 0; i < ninst; i++)
                by_index[sorted[i].index].quota = base + (i < extra ? 1 : 0);
        free(sorted);
        return 0;
}

long kp_placement_balance(int32_t *owners, size_t ntasks, size_t ninst)
{
        long moved = 0;
        if (ninst == 0)
                return ntasks ? -1 : 0;
        inst_t *in = calloc(ninst, sizeof(*in));
        if (!in)
                return -1;
        for (size_t i = 0; i < ninst; i++)
                in[i].index = i;
        for (size_t t = 0; t < ntasks; t++)
                if (owners[t] >= 0 && (size_t)owners[t] < ninst)
                        in[owners[t]].count++;
        if (quotas_set(in, ninst, ntasks)) {
                free(in);
                return -1;
        }
        /* keep up to the quota, first tasks first; release the rest */
        for (size_t i = 0; i < ninst; i++)
                in[i].count = 0;
        for (size_t t = 0; t < ntasks; t++) {
                if (owners[t] < 0 || (size_t)owners[t] >= ninst) {
                        owners[t] = -1; /* unowned, or its instance is gone */
                        continue;
                }
                inst_t *o = &in[owners[t]];
                if (o->count < o->quota)
                        o->count++;
                else
                        owners[t] = -1; /* surplus: moves */
        }
        /* what moves fills the instances below their quota, in index order: every one
         * ends at its quota whichever gets which task */
        size_t j = 0;
        for (size_t t = 0; t < ntasks; t++) {
                if (owners[t] >= 0)
                        continue;
                while (in[j].count >= in[j].quota)
                        j++;
                in[j].count++;
                owners[t] = (int32_t)j;
                moved++;
        }
        free(in);
        return moved;
}
