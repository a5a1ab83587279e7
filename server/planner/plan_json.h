/* plan_json.h — plans <-> JSON: what-if and sweep requests, plan documents, previous owners (shared
 * by api/ and the CLI). */
#ifndef KP_PLAN_JSON_H
#define KP_PLAN_JSON_H

#include <jansson.h>

#include "planner/planner.h"
#include "base/util.h"

/*
 * A parsed `POST /api/v1/plan` body:
 * {"topics": [{"cluster", "topic", "partitions"}], "parallelism", "strategy",
 *  "weights": [{"cluster", "topic", "partition", "weight"}], "rebalance"}.
 * Required: topics (1 or more, each (cluster, topic) once) and parallelism. Optional:
 * cluster (default "default"), strategy (default "balanced"), weights (partitions not
 * listed weigh 1; each 0..KP_WEIGHT_MAX, a partition at most once), rebalance (default
 * false).
 * Embedded: kp_plan_request_parse() fills it, kp_plan_request_cleanup() frees what it
 * owns. input.topics and input.weights point into memory the request owns, valid
 * until cleanup; input.previous_owner is NULL (the caller may set it).
 */
typedef struct kp_plan_request {
        kp_plan_input_t input;
        kp_plan_topic_t *topics; /* owned: input.topics, with owned name strings */
        double *weights;         /* owned: input.weights, or NULL */
} kp_plan_request_t;

/*
 * Parses and validates @p body into @p req (overwritten). Every problem is appended to
 * @p errors (a JSON array) as {"field": "topics[2].partitions", "message": "must be
 * 1..1000000"}; unknown fields are errors too.
 * @returns 0, KP_ERR_INVALID (errors appended, @p req left clean) or KP_ERR_NOMEM.
 * Cost: O(K log K + P).
 */
int kp_plan_request_parse(const json_t *body, kp_plan_request_t *req, json_t *errors);
/* Frees what @p req owns; a zeroed or cleaned request is fine. */
void kp_plan_request_cleanup(kp_plan_request_t *req);

/*
 * The what-if body's plain form read straight from its @p len bytes, without a jansson
 * tree (plan_request_plain.c says which form). @returns 0 with @p req exactly as
 * json_loadb (JSON_REJECT_DUPLICATES) and kp_plan_request_parse() would leave it, or 1
 * (@p req left clean) for any other body, valid or not: the caller takes that path
 * then, so every refusal and its wording stay that path's. Cost O(len + K log K).
 */
int kp_plan_request_parse_plain(const char *body, size_t len, kp_plan_request_t *req);

/*
 * A parsed `POST /api/v1/plan/sweep` body: {"topics", "parallelism": {"from", "to"},
 * "strategies": [...], "weights", "rebalance"}. strategies defaults to all five, each
 * at most once. (to - from + 1) must be <= KP_SWEEP_STEPS_MAX (the work is checked
 * apart: kp_sweep_request_check_work). input holds topics and weights (owned as above),
 * parallelism = from, strategy = strategies[0] and skip_recommendations = 1, so each
 * step's analysis is cheap (recommendations come out empty).
 */
typedef struct kp_sweep_request {
        kp_plan_input_t input;
        int32_t from, to;
        kp_strategy_t strategies[KP_STRATEGY__CNT];
        size_t strategy_cnt;
        kp_plan_request_t base; /* owns input's memory */
} kp_sweep_request_t;

/* Like kp_plan_request_parse() for a sweep body. */
int kp_sweep_request_parse(const json_t *body, kp_sweep_request_t *req, json_t *errors);
void kp_sweep_request_cleanup(kp_sweep_request_t *req);

/*
 * What a parsed request will cost, in partition-steps (one unit: a partition or a task
 * handled once by one planner run): a what-if is P + T; a sweep is, per strategy, the sum
 * of P + t over t = from..to, a weighted strategy counted KP_SWEEP_WEIGHTED_COST times.
 * Used for the limits below and to decide whether to leave the HTTP threads. O(K).
 */
int64_t kp_plan_request_work(const kp_plan_request_t *req);
int64_t kp_sweep_request_work(const kp_sweep_request_t *req);

/*
 * The limits that bound the work of a well-formed request, not only its bytes: at most
 * KP_WHATIF_PARTITIONS_MAX partitions in all; a sweep at most KP_SWEEP_WORK_MAX
 * partition-steps. @returns 0 or KP_ERR_UNPROCESSABLE (a 422) with errstr naming the
 * limit and the value. O(K).
 */
int kp_plan_request_check_work(const kp_plan_request_t *req, char *errstr, size_t errstr_size);
int kp_sweep_request_check_work(const kp_sweep_request_t *req, char *errstr, size_t errstr_size);

/*
 * @returns a new {"parallelism", "strategy", "tasks": [{"task": 0, "partitions":
 * [{"cluster", "topic", "partition"}]}, ... every task 0..T-1, idle ones with []],
 * "analysis": {...}} for @p plan computed over @p topics (the same array, in the same
 * order, as the plan's input), or NULL when out of memory. Within a task, partitions
 * are listed in flat order. Cost: O(P + T) JSON values.
 */
json_t *kp_plan_to_json(const kp_plan_t *plan, const kp_plan_topic_t *topics, size_t topic_cnt);

/*
 * Groups @p plan's flat partition indexes by task, keeping flat order within a task (a
 * counting sort): task j owns (*bytp)[(*startp)[j] .. (*startp)[j + 1]). Both arrays are
 * new (free()); *startp has T + 1 entries. @returns 0 or KP_ERR_NOMEM. Cost: O(P + T).
 */
int kp_plan_by_task(const kp_plan_t *plan, size_t **startp, size_t **bytp);

/*
 * Appends to @p b the text of kp_plan_to_json() exactly as json_dumps(..., JSON_COMPACT)
 * writes it (same keys, order and escaping), without building the JSON tree: what the
 * what-if answer needs for large plans. @returns 0 or KP_ERR_NOMEM (@p b then holds a
 * partial document). Cost: O(P + T + K) bytes written, one allocation for the tasks.
 */
int kp_plan_json_write(kp_buf_t *b, const kp_plan_t *plan, const kp_plan_topic_t *topics,
                       size_t topic_cnt);

/*
 * @returns a new {"case", "partitions", "tasks", "idle_tasks", "min_partitions_per_task",
 * "max_partitions_per_task", "skew", "max_load", "mean_load", "moved_from_previous",
 * "recommendations"} or NULL when out of memory. moved_from_previous is null when the
 * plan had no previous plan; skew is rounded to 6 decimals.
 */
json_t *kp_plan_analysis_to_json(const kp_plan_analysis_t *a);

/* Appends to @p b the text of kp_plan_analysis_to_json(@p a) exactly as
 * json_dumps(..., JSON_COMPACT) writes it, without the tree. @returns 0 or KP_ERR_NOMEM. */
int kp_plan_analysis_write(kp_buf_t *b, const kp_plan_analysis_t *a);

/*
 * Maps a stored plan document (anything with "tasks": [{"task", "partitions":
 * [{"cluster", "topic", "partition"}]}]) to previous owners for @p topics in flat order:
 * *ownerp = new array of P entries (free()), -1 for partitions the document does not
 * place (new ones); tasks >= the next parallelism stay as they are (the planner treats
 * them as removed tasks). A document without a "tasks" array gives *ownerp = NULL.
 * Entries for unknown topics or partitions are ignored. @returns 0 or KP_ERR_NOMEM.
 * Cost: O(K log K + document size * log K).
 */
int kp_plan_previous_owners(const json_t *plan_doc, const kp_plan_topic_t *topics, size_t topic_cnt,
                            int32_t **ownerp);

#endif /* KP_PLAN_JSON_H */
