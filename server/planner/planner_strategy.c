/* planner_strategy.c — the strategy table: every strategy's name, summary, flags and function. */
#include <stdio.h>
#include <string.h>

#include "planner/planner_int.h"

/* Every strategy the planner knows; a new strategy is one more entry here (and its value in
 * kp_strategy_t). Names and summaries are the API's: openapi.json's Strategy schema and the
 * page's list must match them (tests/unit/test_planner_strategy.c checks both). */
static const kp_strategy_desc_t strategies[KP_STRATEGY__CNT] = {
        [KP_STRATEGY_BALANCED] = {KP_STRATEGY_BALANCED, "balanced",
                                  "floor/ceil(P/T) per task, each topic spread evenly, few moves "
                                  "from the previous plan",
                                  KP_STRATEGY_F_STICKY, kp_planner_balanced},
        [KP_STRATEGY_WEIGHTED] = {KP_STRATEGY_WEIGHTED, "weighted", "balanced over measured load",
                                  KP_STRATEGY_F_STICKY | KP_STRATEGY_F_WEIGHTS,
                                  kp_planner_weighted},
        [KP_STRATEGY_FLINK] = {KP_STRATEGY_FLINK, "flink", "Apache Flink KafkaSource owner formula",
                               KP_STRATEGY_F_EXTERNAL, kp_planner_flink},
        [KP_STRATEGY_RANGE] = {KP_STRATEGY_RANGE, "range", "Kafka RangeAssignor",
                               KP_STRATEGY_F_EXTERNAL, kp_planner_range},
        [KP_STRATEGY_ROUNDROBIN] = {KP_STRATEGY_ROUNDROBIN, "roundrobin",
                                    "Kafka RoundRobinAssignor", KP_STRATEGY_F_EXTERNAL,
                                    kp_planner_roundrobin},
};

const kp_strategy_desc_t *kp_strategy_desc(kp_strategy_t s)
{
        if ((int)s < 0 || s >= KP_STRATEGY__CNT)
                return NULL;
        return &strategies[s];
}

const char *kp_strategy_name(kp_strategy_t s)
{
        const kp_strategy_desc_t *d = kp_strategy_desc(s);
        return d ? d->name : NULL;
}

int kp_strategy_parse(const char *name, kp_strategy_t *sp)
{
        if (!name)
                return -1;
        for (int s = 0; s < KP_STRATEGY__CNT; s++) {
                if (!strcmp(name, strategies[s].name)) {
                        *sp = (kp_strategy_t)s;
                        return 0;
                }
        }
        return -1;
}

char *kp_strategy_names(const char *sep, char *buf, size_t size)
{
        size_t len = 0;
        if (!size)
                return buf;
        buf[0] = '\0';
        for (int s = 0; s < KP_STRATEGY__CNT && len < size; s++) {
                int n = snprintf(buf + len, size - len, "%s%s", s ? sep : "", strategies[s].name);
                if (n < 0)
                        break;
                len += (size_t)n;
        }
        return buf;
}
