/* coord_broker.c — the session a KIP-848 group really gets: the broker's settings, read once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "coord/coord_int.h"

/* Takes the two settings from the answer @p ev, if it holds them. @returns how many. */
static int session_take(kp_coord_t *c, rd_kafka_event_t *ev)
{
        const rd_kafka_DescribeConfigs_result_t *res = rd_kafka_event_DescribeConfigs_result(ev);
        size_t nres = 0, nent = 0;
        const rd_kafka_ConfigResource_t **rs =
                res ? rd_kafka_DescribeConfigs_result_resources(res, &nres) : NULL;
        const rd_kafka_ConfigEntry_t **es = nres && !rd_kafka_ConfigResource_error(rs[0])
                                                    ? rd_kafka_ConfigResource_configs(rs[0], &nent)
                                                    : NULL;
        int found = 0;
        for (size_t i = 0; i < nent; i++) {
                const char *name = rd_kafka_ConfigEntry_name(es[i]);
                const char *value = rd_kafka_ConfigEntry_value(es[i]);
                int v = value ? atoi(value) : 0;
                if (v <= 0)
                        continue;
                if (!strcmp(name, "group.consumer.session.timeout.ms"))
                        c->session_ms = v, found++;
                else if (!strcmp(name, "group.consumer.heartbeat.interval.ms"))
                        c->heartbeat_ms = v, found++;
        }
        return found;
}

void kp_coord_broker_session(kp_coord_t *c)
{
        char errstr[512], id[16];
        int found = 0;
        rd_kafka_t *rk = c->broker_id >= 0 ? kp_coord_admin_new(c, errstr, sizeof(errstr)) : NULL;
        if (rk) {
                snprintf(id, sizeof(id), "%d", (int)c->broker_id);
                rd_kafka_ConfigResource_t *res =
                        rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_BROKER, id);
                rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
                rd_kafka_DescribeConfigs(rk, &res, 1, NULL, q);
                rd_kafka_event_t *ev = rd_kafka_queue_poll(q, KP_KAFKA_METADATA_TIMEOUT_MS);
                if (ev) {
                        found = session_take(c, ev);
                        rd_kafka_event_destroy(ev);
                }
                rd_kafka_ConfigResource_destroy(res);
                rd_kafka_queue_destroy(q);
                rd_kafka_destroy(rk);
        }
        if (found < 2)
                fprintf(stderr,
                        "kplane: coordination: the broker's KIP-848 session timeout could not "
                        "be read; %d ms is said, the broker's applies\n",
                        c->session_ms);
}
