/* planner.h — the pure assignment planner: partitions and a parallelism in, owners and analysis
 * out. */
#ifndef KP_PLANNER_H
#define KP_PLANNER_H

#include <stddef.h>
#include <stdint.h>

/*
 * The planner does no I/O, holds no globals and takes no locks. Inputs are borrowed for
 * the duration of a call. Partitions are addressed in "flat order": topics in the order
 * the caller gave them, and within a topic partitions 0..n-1; flat index i of topic t,
 * partition p is offset(t) + p where offset(t) is the sum of the partition counts of the
 * topics before t.
 */

typedef enum kp_strategy {
        KP_STRATEGY_BALANCED = 0,
        KP_STRATEGY_WEIGHTED,
        KP_STRATEGY_FLINK,
        KP_STRATEGY_RANGE,
        KP_STRATEGY_ROUNDROBIN,
        KP_STRATEGY__CNT
} kp_strategy_t;

/* What callers switch on (kp_strategy_desc_t.flags). */
/* Places by partition weights: a caller without any should measure them (the group
 * re-plan samples rates), and a sweep counts each step KP_SWEEP_WEIGHTED_COST times. */
#define KP_STRATEGY_F_WEIGHTS 0x1u
/* Keeps partitions with their previous_owner where it can; the others only report moves. */
#define KP_STRATEGY_F_STICKY 0x2u
/* Reproduces an external assignor (Flink's, Kafka's) whatever the balance: the advice
 * compares its busiest task with the balanced strategy's bound. */
#define KP_STRATEGY_F_EXTERNAL 0x4u

struct kp_plan_ctx;

/*
 * One strategy, everything that names or runs it. The table (planner_strategy.c) is the
 * only list of strategies: names in errors, the CLI, plan_json and the sweep defaults come
 * from it, and a unit test holds openapi.json's Strategy schema and the page's list to it.
 * A new strategy is one enum value above and one entry there.
 */
typedef struct kp_strategy_desc {
        kp_strategy_t strategy;
        const char *name;    /* the API name: openapi.json's Strategy enum, the page's list */
        const char *summary; /* one line: openapi.json's Strategy description "name: summary" */
        unsigned flags;      /* KP_STRATEGY_F_* */
        /* The planner's own (planner_int.h): writes ctx->P owners. @returns 0 or KP_ERR_*. */
        int (*plan)(const struct kp_plan_ctx *ctx, int32_t *owner);
} kp_strategy_desc_t;

/* @returns the descriptor of @p s, or NULL when out of range. O(1). */
const kp_strategy_desc_t *kp_strategy_desc(kp_strategy_t s);
/* @returns the API name of @p s ("balanced"), or NULL when out of range. */
const char *kp_strategy_name(kp_strategy_t s);
/* Parses an API name. @returns 0, or -1 when @p name is not a strategy. */
int kp_strategy_parse(const char *name, kp_strategy_t *sp);
/* Writes every strategy name in table order, separated by @p sep ("balanced, weighted,
 * ..."), into @p buf (always NUL-terminated when @p size > 0): what an error listing the
 * valid names or a usage line shows. @returns @p buf. */
char *kp_strategy_names(const char *sep, char *buf, size_t size);

typedef struct kp_plan_topic {
        const char *cluster; /* borrowed */
        const char *topic;   /* borrowed */
        int32_t partitions;  /* >= 1 */
} kp_plan_topic_t;

typedef struct kp_plan_input {
        const kp_plan_topic_t *topics; /* borrowed, topic_cnt entries */
        size_t topic_cnt;
        int32_t parallelism; /* 1..KP_PARALLELISM_MAX */
        kp_strategy_t strategy;
        /* Optional, one per partition in flat order (>= 0). weighted balances these;
         * NULL means every partition weighs 1. Other strategies ignore them for
         * placement but the analysis reports load when present. */
        const double *weights;
        /* Optional, one per partition in flat order: the task that owned it in the
         * previous plan, or -1 (new partition). balanced and weighted stay sticky to
         * it; all strategies report moved_from_previous against it. */
        const int32_t *previous_owner;
        /* The group reads with fan-out (rebalance): only changes recommendations. */
        int rebalance;
        /* Non-zero: leave analysis.recommendations empty (sweeps: saves the Flink
         * advice search for each step). */
        int skip_recommendations;
} kp_plan_input_t;

typedef enum kp_plan_case {
        KP_CASE_EQUAL = 0, /* partitions == parallelism */
        KP_CASE_BELOW,     /* partitions < parallelism: some tasks idle */
        KP_CASE_ABOVE      /* partitions > parallelism */
} kp_plan_case_t;

/* @returns "partitions_equal_parallelism", ... */
const char *kp_plan_case_name(kp_plan_case_t c);

typedef struct kp_plan_analysis {
        kp_plan_case_t plan_case;
        int64_t partitions;
        int32_t tasks;
        int32_t idle_tasks;
        int64_t min_partitions_per_task;
        int64_t max_partitions_per_task;
        /* busiest task's partition count over the mean; for weighted (or when weights
         * are given) its load over the mean load. */
        double skew;
        double max_load;  /* busiest task's load (weights, else counts) */
        double mean_load; /* total load / tasks */
        /* partitions whose owner differs from previous_owner (new ones not counted);
         * -1 when there was no previous plan. */
        int64_t moved_from_previous;
        /* Plain English advice, owned by the plan, recommendation_cnt strings: idle tasks
         * (lower parallelism to P or set "rebalance"), an uneven split and the divisors
         * of P nearest T that split evenly, a count strategy's skew against balanced's,
         * a partition heavier than a fair share, and (whatever the strategy) a warning
         * when Flink's own placement at T would be uneven, with the nearest even
         * parallelism below and above T. Empty with skip_recommendations. */
        char **recommendations;
        size_t recommendation_cnt;
} kp_plan_analysis_t;

typedef struct kp_plan {
        int32_t parallelism;
        kp_strategy_t strategy;
        size_t partition_cnt; /* total partitions, flat */
        int32_t *owner;       /* partition_cnt entries: task 0..parallelism-1 */
        kp_plan_analysis_t analysis;
} kp_plan_t;

/*
 * Computes an assignment and its analysis.
 *
 * What each strategy guarantees (P partitions, T tasks, topic t has p_t partitions):
 * - balanced: every task holds floor(P/T) or ceil(P/T) partitions AND every task holds
 *   floor(p_t/T) or ceil(p_t/T) partitions of each topic t: both bounds always hold,
 *   with or without previous_owner (they can always be met together, so neither has to
 *   give way). Without a previous plan: owner = flat index % T. With one: a partition
 *   stays with its previous owner (< T) unless that owner is over one of the bounds;
 *   which tasks get the "+1" of each bound is chosen greedily to keep as many
 *   partitions in place as it can. moved_from_previous is exactly minimal when re-planning
 *   a plan onto itself (moves 0) and in the cases the tests pin: tasks added to or removed
 *   from a balanced plan (30 -> 31 moves 0, 30 -> 15 moves 15 for 3 x 10 partitions; +1,
 *   -1 task and +10% partitions of an i % T plan up to 2,001 tasks). Not always: 10 topics
 *   x 5,000 partitions on 3,000 tasks moves 20 where 16 suffice for +1 task, and 500
 *   where 0 suffice for +10% partitions (the greedy choice of the "+1" tasks); against
 *   an exact min-cost-flow optimum over 2,000 random previous plans (other parallelism,
 *   random scatter, Flink's placement with new partitions) it is exactly minimal in over
 *   90% of them, within 1% of the optimum in total, and never more than P/8 over (see
 *   tests/unit/test_planner_balanced.c). Partitions whose previous owner is >= T (a removed
 *   task) always move; new partitions (-1) fill the tasks with room.
 * - weighted: LPT (heaviest first onto the least-loaded task) plus a pass moving or
 *   swapping partitions off the busiest task; on ordinary inputs (many more partitions
 *   than tasks) the busiest task is within 5% of max(heaviest, total/T). With
 *   previous_owner, a task over that bound plus KP_WEIGHTED_STICKY_SLACK sheds as few
 *   partitions as it can (the lightest one covering its excess, else its heaviest and
 *   again); shed, new and orphaned partitions are placed by LPT; if the result is more
 *   than KP_WEIGHTED_TOLERANCE over the bound and a fresh plan is better balanced, the
 *   fresh plan is used.
 * - flink, range, roundrobin: exactly Flink's / Kafka's placement; previous_owner only
 *   feeds moved_from_previous.
 *
 * Cost: O(P + T + K log K) for flink, range, roundrobin (K topics), plus O(T log T) at
 * worst (O(T) expected) for a sticky balanced re-plan, and its repairs: when topics are many
 * and about as large as the group, each task holds extras of thousands of topics and a
 * repair may read those of the tasks it looks at (planner_balanced.c; 1M partitions in
 * 10,000 topics of 100, 50 -> 51 tasks: 0.27 s, against 1-3 ms for 10 topics); O(P log P)
 * for weighted; the Flink advice of the analysis adds at most KP_FLINK_ADVICE_WORK steps.
 * @returns a new plan, free with kp_plan_destroy(), or NULL with @p errstr set
 * (invalid parallelism, no partitions, too many partitions, out of memory).
 */
kp_plan_t *kp_planner_plan(const kp_plan_input_t *in, char *errstr, size_t errstr_size);

/* Frees @p plan and everything it owns. NULL does nothing. */
void kp_plan_destroy(kp_plan_t *plan);

/* What Apache Flink's KafkaSource would do with some topics at one parallelism. */
typedef struct kp_flink_advice {
        int32_t idle_tasks;     /* tasks that get no partition */
        int32_t busiest_tasks;  /* tasks holding max_partitions */
        int64_t max_partitions; /* the busiest task's partitions */
        int64_t min_partitions; /* the least busy task's */
        int even;               /* max - min <= 1 */
        /* When not even: the nearest parallelism below / above T at which Flink's
         * placement is even (0: none within KP_FLINK_EVEN_SEARCH steps and
         * KP_FLINK_ADVICE_WORK work); 0 when even. */
        int32_t even_below, even_above;
} kp_flink_advice_t;

/*
 * Flink's placement of @p topics (borrowed, @p topic_cnt >= 1, each >= 1 partition) at
 * parallelism @p T (1..KP_PARALLELISM_MAX), and where it would be even: what the plan
 * analysis advises, as figures. Pure. Cost O(K + T), plus at most KP_FLINK_ADVICE_WORK
 * steps when uneven. @returns 0 or KP_ERR_NOMEM (*out zeroed).
 */
int kp_planner_flink_advice(const kp_plan_topic_t *topics, size_t topic_cnt, int32_t T,
                            kp_flink_advice_t *out);

/* Java's String.hashCode of @p utf8 (decoded to UTF-16 code units; invalid UTF-8
 * bytes count as U+FFFD, like Java's decoder). */
int32_t kp_java_string_hash(const char *utf8);

/* Flink KafkaSourceEnumerator.getSplitOwner: the reader of @p topic / @p partition
 * among @p parallelism readers. */
int32_t kp_flink_owner(const char *topic, int32_t partition, int32_t parallelism);

#endif /* KP_PLANNER_H */
