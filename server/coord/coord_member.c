/* coord_member.c — membership of the service's consumer group: rebalances, members, lease. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/util.h"
#include "coord/coord_int.h"
#include "kafka/kafka.h"

/* 1 when @p parts holds partition 0 of the work topic. */
static int holds_slot0(const kp_coord_t *c, const rd_kafka_topic_partition_list_t *parts)
{
        for (int i = 0; parts && i < parts->cnt; i++)
                if (parts->elems[i].partition == 0 && !strcmp(parts->elems[i].topic, c->work_topic))
                        return 1;
        return 0;
}

/* After a rebalance: whether this instance leads, from what it owns now. */
static void note_assignment(kp_coord_t *c, rd_kafka_t *rk)
{
        rd_kafka_topic_partition_list_t *owned = NULL;
        int leads = !rd_kafka_assignment(rk, &owned) && holds_slot0(c, owned);
        if (owned)
                rd_kafka_topic_partition_list_destroy(owned);
        pthread_mutex_lock(&c->lock);
        c->self_leads = leads;
        pthread_mutex_unlock(&c->lock);
}

/*
 * librdkafka's rebalance callback, on the coordination thread (inside its poll). Cooperative
 * (classic cooperative-sticky, and KIP-848): only the moved slots come and go. A lost
 * assignment (session expired, cut off from the coordinator) ends the lease at once.
 */
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
        kp_coord_t *c = opaque;
        int cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
        rd_kafka_error_t *error = NULL;
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                /* the coordinator has just synced this member: a session from now */
                __atomic_store_n(&c->lease_until_ms,
                                 kp_time_mono_ms() + c->session_ms - c->heartbeat_ms,
                                 __ATOMIC_RELEASE);
                if (cooperative)
                        error = rd_kafka_incremental_assign(rk, parts);
                else
                        rd_kafka_assign(rk, parts);
        } else {
                if (rd_kafka_assignment_lost(rk)) {
                        __atomic_store_n(&c->lease_until_ms, 0, __ATOMIC_RELEASE);
                        fprintf(stderr, "kplane: coordination: membership of %s lost\n", c->group);
                }
                if (cooperative)
                        error = rd_kafka_incremental_unassign(rk, parts);
                else
                        rd_kafka_assign(rk, NULL);
        }
        if (error) {
                fprintf(stderr, "kplane: coordination: %s\n", rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
        }
        note_assignment(c, rk);
        /* the members changed: list them at the next turn */
        c->next_describe_ms = 0;
}

/* Sets kplane's own membership properties on @p conf. @returns 0 or an error with errstr. */
static int member_props(kp_coord_t *c, rd_kafka_conf_t *conf, char *errstr, size_t errstr_size)
{
        char session[16], heartbeat[16];
        snprintf(session, sizeof(session), "%d", c->session_ms);
        snprintf(heartbeat, sizeof(heartbeat), "%d", c->heartbeat_ms);
        const char *classic[][2] = {{"group.protocol", "classic"},
                                    {"partition.assignment.strategy", "cooperative-sticky"},
                                    {"session.timeout.ms", session},
                                    {"heartbeat.interval.ms", heartbeat}};
        /* KIP-848: the broker owns the session timeout and the assignor */
        const char *consumer[][2] = {{"group.protocol", "consumer"}};
        const char *(*props)[2] = c->protocol == KP_COORD_CLASSIC ? classic : consumer;
        size_t n = c->protocol == KP_COORD_CLASSIC ? 4 : 1;
        for (size_t i = 0; i < n; i++) {
                if (rd_kafka_conf_set(conf, props[i][0], props[i][1], errstr, errstr_size) !=
                    RD_KAFKA_CONF_OK)
                        return KP_ERR_INVALID;
        }
        /* the instance id is what DescribeConsumerGroups shows of a member */
        if (rd_kafka_conf_set(conf, "client.id", c->id, errstr, errstr_size) != RD_KAFKA_CONF_OK)
                return KP_ERR_INVALID;
        rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
        rd_kafka_conf_set_opaque(conf, c);
        return 0;
}

/* Subscribes the member to the work topic. @returns 0 or an error with errstr. */
static int member_subscribe(kp_coord_t *c, char *errstr, size_t errstr_size)
{
        rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(topics, c->work_topic, RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t err = rd_kafka_subscribe(c->member, topics);
        rd_kafka_topic_partition_list_destroy(topics);
        if (err) {
                snprintf(errstr, errstr_size, "subscribe %s: %s", c->work_topic,
                         rd_kafka_err2str(err));
                return KP_ERR_UNAVAILABLE;
        }
        return 0;
}

int kp_coord_member_open(kp_coord_t *c, char *errstr, size_t errstr_size)
{
        char rderr[512];
        rd_kafka_conf_t *conf = kp_kafka_consumer_conf_new(c->bootstrap, c->config, c->group,
                                                           "latest", errstr, errstr_size);
        if (!conf)
                return KP_ERR_INVALID;
        if (member_props(c, conf, errstr, errstr_size)) {
                rd_kafka_conf_destroy(conf);
                return KP_ERR_INVALID;
        }
        c->member = rd_kafka_new(RD_KAFKA_CONSUMER, conf, rderr, sizeof(rderr));
        if (!c->member) {
                rd_kafka_conf_destroy(conf); /* not taken on failure */
                snprintf(errstr, errstr_size, "coordination consumer: %s", rderr);
                return KP_ERR_INVALID;
        }
        conf = NULL; /* owned by the member now */
        c->describe_q = rd_kafka_queue_new(c->member);
        return member_subscribe(c, errstr, errstr_size);
}

/* Asks the coordinator for the group's members (answered on describe_q). */
static void describe_send(kp_coord_t *c)
{
        const char *groups[] = {c->group};
        rd_kafka_AdminOptions_t *opts =
                rd_kafka_AdminOptions_new(c->member, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
        char err[128];
        rd_kafka_AdminOptions_set_request_timeout(opts, c->session_ms, err, sizeof(err));
        c->describe_sent_ms = kp_time_mono_ms();
        rd_kafka_DescribeConsumerGroups(c->member, groups, 1, opts, c->describe_q);
        rd_kafka_AdminOptions_destroy(opts);
        c->describe_pending = 1;
}

/* Copies the members of @p g into @p seen (calloc'd by the caller, nmembers long).
 * @returns 1 when this instance's current member id is among them. */
static int members_copy(kp_coord_t *c, const rd_kafka_ConsumerGroupDescription_t *g,
                        kp_coord_seen_t *seen, size_t n, const char *self_member)
{
        int listed = 0;
        for (size_t i = 0; i < n; i++) {
                const rd_kafka_MemberDescription_t *m =
                        rd_kafka_ConsumerGroupDescription_member(g, i);
                const rd_kafka_MemberAssignment_t *a = rd_kafka_MemberDescription_assignment(m);
                const char *cid = rd_kafka_MemberDescription_client_id(m);
                const char *mid = rd_kafka_MemberDescription_consumer_id(m);
                seen[i].instance_id = strdup(cid ? cid : "");
                seen[i].leads = a && holds_slot0(c, rd_kafka_MemberAssignment_partitions(a));
                if (self_member && mid && !strcmp(mid, self_member))
                        listed = 1;
        }
        return listed;
}

/*
 * Mid-rebalance a classic group lists its members without assignments, yet a cooperative
 * member keeps what it owns until it is revoked: the leader stays the one last seen leading
 * while it is still a member and nobody else is shown owning partition 0 (under c->lock).
 */
static void keep_leader(const kp_coord_t *c, kp_coord_seen_t *seen, size_t n)
{
        const char *was = NULL;
        for (size_t i = 0; i < n; i++)
                if (seen[i].leads)
                        return;
        for (size_t i = 0; i < c->nseen && !was; i++)
                if (c->seen[i].leads)
                        was = c->seen[i].instance_id;
        for (size_t i = 0; was && i < n; i++)
                if (seen[i].instance_id && !strcmp(seen[i].instance_id, was))
                        seen[i].leads = 1;
}

/* Replaces the members shown by those of @p g and renews the lease if it lists this
 * instance. */
static void members_take(kp_coord_t *c, const rd_kafka_ConsumerGroupDescription_t *g)
{
        size_t n = rd_kafka_ConsumerGroupDescription_member_count(g);
        kp_coord_seen_t *seen = calloc(n ? n : 1, sizeof(*seen));
        char *self_member = rd_kafka_memberid(c->member);
        if (!seen) {
                rd_kafka_mem_free(c->member, self_member);
                return;
        }
        int listed = members_copy(c, g, seen, n, self_member);
        rd_kafka_mem_free(c->member, self_member);
        pthread_mutex_lock(&c->lock);
        keep_leader(c, seen, n);
        for (size_t i = 0; i < c->nseen; i++)
                free(c->seen[i].instance_id);
        free(c->seen);
        c->seen = seen;
        c->nseen = n;
        c->group_state =
                rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(g));
        c->described_ms = kp_time_mono_ms();
        pthread_mutex_unlock(&c->lock);
        /* listed at send time at the latest: its session runs at least until a heartbeat
         * interval before a session timeout from then (heartbeats go every interval) */
        if (listed)
                __atomic_store_n(&c->lease_until_ms,
                                 c->describe_sent_ms + c->session_ms - c->heartbeat_ms,
                                 __ATOMIC_RELEASE);
}

/* Takes the answer of DescribeConsumerGroups, if one came. */
static void describe_take(kp_coord_t *c)
{
        rd_kafka_event_t *ev = rd_kafka_queue_poll(c->describe_q, 0);
        if (!ev)
                return;
        c->describe_pending = 0;
        const rd_kafka_DescribeConsumerGroups_result_t *res =
                rd_kafka_event_DescribeConsumerGroups_result(ev);
        size_t n = 0;
        const rd_kafka_ConsumerGroupDescription_t **gs =
                res ? rd_kafka_DescribeConsumerGroups_result_groups(res, &n) : NULL;
        const rd_kafka_error_t *gerr = n ? rd_kafka_ConsumerGroupDescription_error(gs[0]) : NULL;
        if (rd_kafka_event_error(ev) || !n || gerr) {
                rd_kafka_resp_err_t code =
                        gerr ? rd_kafka_error_code(gerr) : rd_kafka_event_error(ev);
                /* a coordinator still loading or moving (a broker just started), or a
                 * group not created yet (asked before the first join completed): asked
                 * again in a second, not a failure worth a line */
                int passing = code == RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS ||
                              code == RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE ||
                              code == RD_KAFKA_RESP_ERR_NOT_COORDINATOR ||
                              code == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND;
                if (!c->describe_failing && !passing)
                        fprintf(stderr,
                                "kplane: coordination: cannot list the members of %s: %s (%s)\n",
                                c->group,
                                gerr ? rd_kafka_error_string(gerr)
                                     : rd_kafka_event_error_string(ev),
                                rd_kafka_err2name(code));
                c->describe_failing = !passing;
        } else {
                c->describe_failing = 0;
                members_take(c, gs[0]);
        }
        rd_kafka_event_destroy(ev);
}

/* Says once what keeps the membership from working (a refused join, an unknown topic). */
static void member_error(kp_coord_t *c, rd_kafka_message_t *rkm)
{
        if (rkm->err != c->member_err)
                fprintf(stderr, "kplane: coordination: %s: %s\n", c->group,
                        rd_kafka_message_errstr(rkm));
        c->member_err = rkm->err;
}

void kp_coord_member_turn(kp_coord_t *c)
{
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(c->member, KP_COORD_POLL_MS);
        if (rkm) { /* the work topic carries no records: only errors come here */
                if (rkm->err && rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        member_error(c, rkm);
                rd_kafka_message_destroy(rkm);
        }
        if (c->describe_pending)
                describe_take(c);
        int64_t now = kp_time_mono_ms();
        if (!c->describe_pending && now >= c->next_describe_ms) {
                describe_send(c);
                c->next_describe_ms = now + KP_COORD_DESCRIBE_INTERVAL_MS;
        }
}

void kp_coord_member_close(kp_coord_t *c)
{
        if (!c->member)
                return;
        /* LeaveGroup, so the others rebalance now rather than after the session timeout.
         * Unsubscribe first: measured on Kafka 4.1, a member holding no partition (every one
         * but the leader) closed without it was only dropped at the session timeout. */
        rd_kafka_unsubscribe(c->member);
        rd_kafka_consumer_close(c->member);
        if (c->describe_q)
                rd_kafka_queue_destroy(c->describe_q);
        rd_kafka_destroy(c->member);
        c->describe_q = NULL;
        c->member = NULL;
}
