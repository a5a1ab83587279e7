/* runtime_history.c — a running group's lag over the last minutes: the rings and their JSON. */
#include "runtime/runtime_int.h"

#include "runtime/lag_time.h"

#include <stdatomic.h>
#include <string.h>
#include <time.h>

void rt_history_init(rt_history_t *h, int samples)
{
        memset(h, 0, sizeof(*h));
        if (samples < 1 || samples > KP_HISTORY_SAMPLES)
                samples = KP_HISTORY_SAMPLES;
        h->cap = samples;
        h->pcap = (samples + KP_HISTORY_PART_EVERY - 1) / KP_HISTORY_PART_EVERY;
}

static int64_t unix_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The age of @p p's oldest unread message at @p now (unix ms): its high watermark at each of
 * its partition samples, then now, interpolated (lag_time.c). Only a partition with lag
 * needs it: caught up is 0, unknown -1. O(KP_HISTORY_PART_SAMPLES).
 */
static int64_t part_lag_ms(const rt_history_t *h, const rt_part_t *p, int64_t now)
{
        int64_t t[KP_HISTORY_PART_SAMPLES + 1], hw[KP_HISTORY_PART_SAMPLES + 1];
        size_t n = 0;
        int lower_bound;
        if (!p->in_plan || p->last_lag < 0)
                return -1;
        if (p->last_lag == 0)
                return 0;
        uint64_t kept = p->hist_n < (uint64_t)h->pcap ? p->hist_n : (uint64_t)h->pcap;
        for (uint64_t j = h->pn - kept; j < h->pn; j++) {
                int s = (int)(j % (uint64_t)h->pcap);
                t[n] = h->pt[s];
                hw[n++] = p->hist_hw[s];
        }
        t[n] = now;
        hw[n++] = p->last_hw;
        return kp_lag_time_ms(t, hw, n, p->last_from, now, &lower_bound);
}

void rt_history_sample(rt_group_t *g)
{
        rt_history_t *h = &g->hist;
        int64_t lag = 0, now = unix_ms();
        double rate = 0;
        int i, known = 0;
        for (i = 0; i < g->ntasks; i++)
                rate += atomic_load(&g->tasks[i]->rate);
        int hw_known = 0;
        for (i = 0; i < g->nparts; i++) {
                rt_part_t *p = g->parts[i];
                if (p->in_plan && p->last_lag >= 0) {
                        lag += p->last_lag;
                        known = 1;
                }
                hw_known |= p->in_plan && p->last_hw >= 0;
        }
        for (i = 0; i < g->nparts; i++)
                atomic_store(&g->parts[i]->lag_ms, part_lag_ms(h, g->parts[i], now));
        int slot = (int)(h->n % (uint64_t)h->cap);
        h->t[slot] = now;
        h->lag[slot] = known ? lag : -1;
        h->rate[slot] = rate;
        /* Partitions every KP_HISTORY_PART_EVERY samples, from the first one that knows a
         * high watermark on (a sample before the first fetch answered would only hold
         * unknowns, and the lag in time would have nothing to interpolate from for one
         * more partition interval). */
        h->n++;
        if (!h->pn && !hw_known) {
                h->pfrom = h->n;
                return;
        }
        if ((h->n - 1 - h->pfrom) % KP_HISTORY_PART_EVERY)
                return;
        slot = (int)(h->pn++ % (uint64_t)h->pcap);
        h->pt[slot] = now;
        for (i = 0; i < g->nparts; i++) {
                rt_part_t *p = g->parts[i];
                p->hist_lag[slot] = p->in_plan ? p->last_lag : -1;
                p->hist_hw[slot] = p->in_plan ? p->last_hw : -1;
                p->hist_n++;
        }
}

static json_t *lag_json(int64_t v)
{
        return v >= 0 ? json_integer(v) : json_null();
}

/* Keeps in @p best (sorted, most lagging first; *nbest <= top) the @p top partitions with
 * the largest last lag, ties to the earlier one. O(top) per partition. */
static void top_insert(rt_part_t **best, int *nbest, int top, rt_part_t *p)
{
        int k = *nbest;
        if (k == top && (top == 0 || best[k - 1]->last_lag >= p->last_lag))
                return;
        if (k < top)
                k = (*nbest)++;
        else
                k = top - 1;
        while (k > 0 && best[k - 1]->last_lag < p->last_lag) {
                best[k] = best[k - 1];
                k--;
        }
        best[k] = p;
}

void rt_group_history_fill(rt_group_t *g, json_t *doc, int64_t since, int top)
{
        rt_history_t *h = &g->hist;
        json_t *t = json_array(), *lag = json_array(), *rate = json_array();
        json_t *pt = json_array(), *parts = json_array();
        rt_part_t *best[KP_HISTORY_TOP_MAX];
        int nbest = 0, i, st;
        uint64_t j, from, pfrom, pskip;

        if (top > KP_HISTORY_TOP_MAX)
                top = KP_HISTORY_TOP_MAX;
        pthread_mutex_lock(&g->lock);
        st = atomic_load(&g->state);
        json_object_set_new(doc, "state", json_string(kp_group_state_name(st)));
        json_object_set_new(doc, "interval_ms", json_integer(KP_RUNTIME_RATE_INTERVAL_MS));
        json_object_set_new(doc, "capacity", json_integer(h->cap));
        json_object_set_new(doc, "partition_interval_ms",
                            json_integer(KP_RUNTIME_RATE_INTERVAL_MS * KP_HISTORY_PART_EVERY));
        json_object_set_new(doc, "partition_capacity", json_integer(h->pcap));
        from = h->n > (uint64_t)h->cap ? h->n - (uint64_t)h->cap : 0;
        for (j = from; j < h->n; j++) {
                int s = (int)(j % (uint64_t)h->cap);
                if (h->t[s] <= since)
                        continue;
                json_array_append_new(t, json_integer(h->t[s]));
                json_array_append_new(lag, lag_json(h->lag[s]));
                json_array_append_new(rate, json_real(h->rate[s]));
        }
        pfrom = h->pn > (uint64_t)h->pcap ? h->pn - (uint64_t)h->pcap : 0;
        for (pskip = pfrom; pskip < h->pn && h->pt[pskip % (uint64_t)h->pcap] <= since; pskip++)
                ;
        for (j = pskip; j < h->pn; j++)
                json_array_append_new(pt, json_integer(h->pt[j % (uint64_t)h->pcap]));
        for (i = 0; i < g->nparts; i++)
                if (g->parts[i]->in_plan)
                        top_insert(best, &nbest, top, g->parts[i]);
        for (i = 0; i < nbest; i++) {
                rt_part_t *p = best[i];
                json_t *vals = json_array();
                /* the partition's samples are the last hist_n partition samples */
                uint64_t first = h->pn > p->hist_n ? h->pn - p->hist_n : 0;
                for (j = pskip; j < h->pn; j++)
                        json_array_append_new(
                                vals, j < first ? json_null()
                                                : lag_json(p->hist_lag[j % (uint64_t)h->pcap]));
                json_array_append_new(
                        parts, json_pack("{s:s, s:s, s:i, s:o}", "cluster", p->cl->name, "topic",
                                         p->tp->name, "partition", (int)p->partition, "lag", vals));
        }
        pthread_mutex_unlock(&g->lock);
        json_object_set_new(
                doc, "samples",
                json_pack("{s:o, s:o, s:o}", "t", t, "lag", lag, "messages_per_s", rate));
        json_object_set_new(doc, "partition_t", pt);
        json_object_set_new(doc, "partitions", parts);
}
