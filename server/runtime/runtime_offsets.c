/* runtime_offsets.c — a group's committed offsets read through the admin API of a lane's
 * handle (ListConsumerGroupOffsets: the OffsetFetch of rd_kafka_committed, under the
 * group's id rather than the handle's). */
#include "runtime/runtime_int.h"

#include <stdlib.h>
#include <string.h>

static int part_cmp(const void *a, const void *b)
{
        const rd_kafka_topic_partition_t *x = a, *y = b;
        int c = strcmp(x->topic, y->topic);
        return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

/* Copies the answer @p res (sorted here) into @p l: each entry's offset and error, one
 * missing from the answer gets _UNKNOWN_PARTITION. */
static void offsets_copy(rd_kafka_topic_partition_list_t *l, rd_kafka_topic_partition_list_t *res)
{
        qsort(res->elems, (size_t)res->cnt, sizeof(res->elems[0]), part_cmp);
        for (int i = 0; i < l->cnt; i++) {
                rd_kafka_topic_partition_t *e = &l->elems[i];
                const rd_kafka_topic_partition_t *f =
                        bsearch(e, res->elems, (size_t)res->cnt, sizeof(res->elems[0]), part_cmp);
                e->offset = f ? f->offset : RD_KAFKA_OFFSET_INVALID;
                e->err = f ? f->err : RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION;
        }
}

/* Sends the request for @p l on @p q. @returns 0 or why not. */
static rd_kafka_resp_err_t offsets_ask(rd_kafka_t *rk, const char *group,
                                       const rd_kafka_topic_partition_list_t *l,
                                       rd_kafka_queue_t *q)
{
        rd_kafka_AdminOptions_t *opts =
                rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
        rd_kafka_ListConsumerGroupOffsets_t *req;
        if (!opts)
                return RD_KAFKA_RESP_ERR__INVALID_ARG;
        /* No request timeout of our own (librdkafka 2.14's admin timeout can free what
         * a late coordinator answer uses, confluentinc/librdkafka#4605): the caller's
         * wait is bounded by its poll, the request by socket.timeout.ms. */
        req = rd_kafka_ListConsumerGroupOffsets_new(group, l);
        rd_kafka_ListConsumerGroupOffsets(rk, &req, 1, opts, q);
        rd_kafka_ListConsumerGroupOffsets_destroy(req);
        rd_kafka_AdminOptions_destroy(opts);
        return RD_KAFKA_RESP_ERR_NO_ERROR;
}

rd_kafka_resp_err_t rt_offsets_read(rd_kafka_t *rk, const char *group,
                                    rd_kafka_topic_partition_list_t *l, int timeout_ms)
{
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_resp_err_t err = offsets_ask(rk, group, l, q);
        rd_kafka_event_t *ev = NULL;

        if (!err && !(ev = rd_kafka_queue_poll(q, timeout_ms)))
                err = RD_KAFKA_RESP_ERR__TIMED_OUT;
        else if (!err && rd_kafka_event_type(ev) != RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT)
                err = RD_KAFKA_RESP_ERR__FAIL;
        else if (!err && rd_kafka_event_error(ev))
                err = rd_kafka_event_error(ev);
        if (!err) {
                size_t n = 0;
                const rd_kafka_group_result_t **gr =
                        rd_kafka_ListConsumerGroupOffsets_result_groups(
                                rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);
                const rd_kafka_error_t *gerr = n ? rd_kafka_group_result_error(gr[0]) : NULL;
                const rd_kafka_topic_partition_list_t *res =
                        n ? rd_kafka_group_result_partitions(gr[0]) : NULL;
                if (!n || !res)
                        err = RD_KAFKA_RESP_ERR__FAIL;
                else if (gerr)
                        err = rd_kafka_error_code(gerr);
                else {
                        rd_kafka_topic_partition_list_t *copy =
                                rd_kafka_topic_partition_list_copy(res);
                        offsets_copy(l, copy);
                        rd_kafka_topic_partition_list_destroy(copy);
                }
        }
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_queue_destroy(q);
        return err;
}
