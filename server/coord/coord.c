/* coord.c — an instance of the service: start, the coordination thread, the view, the lease. */
#include "coord/coord.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/util.h"
#include "coord/coord_int.h"
#include "kafka/kafka.h"

static void *coord_main(void *arg)
{
        kp_coord_t *c = arg;
        while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
                kp_coord_member_turn(c); /* waits up to KP_COORD_POLL_MS */
                kp_coord_records_turn(c);
        }
        return NULL;
}

/* The fields every coordinator has. @returns it or NULL (out of memory). */
static kp_coord_t *coord_alloc(const char *instance_id, const char *url)
{
        kp_coord_t *c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        c->id = strdup(instance_id);
        c->url = strdup(url);
        kp_time_iso8601(c->joined_at, sizeof(c->joined_at));
        if (!c->id || !c->url || pthread_mutex_init(&c->lock, NULL)) {
                free(c->id);
                free(c->url);
                free(c);
                return NULL;
        }
        return c;
}

kp_coord_t *kp_coord_solo_new(const char *instance_id, const char *url)
{
        kp_coord_t *c = coord_alloc(instance_id, url);
        if (c) {
                c->solo = 1;
                c->self_leads = 1;
        }
        return c;
}

/* Checks @p o and copies it into @p c. @returns 0 or KP_ERR_INVALID / NOMEM with errstr. */
static int coord_configure(kp_coord_t *c, const kp_coord_opts_t *o, char *errstr,
                           size_t errstr_size)
{
        if (strlen(o->service) > KP_COORD_ID_MAX || !kp_name_valid(o->service)) {
                snprintf(errstr, errstr_size, "KPLANE_SERVICE: %s", KP_NAME_RULE);
                return KP_ERR_INVALID;
        }
        if (o->session_timeout_ms < KP_COORD_SESSION_TIMEOUT_MIN_MS ||
            o->session_timeout_ms > KP_COORD_SESSION_TIMEOUT_MAX_MS) {
                snprintf(errstr, errstr_size, "KPLANE_SESSION_TIMEOUT_MS must be %d..%d",
                         KP_COORD_SESSION_TIMEOUT_MIN_MS, KP_COORD_SESSION_TIMEOUT_MAX_MS);
                return KP_ERR_INVALID;
        }
        if (kp_kafka_config_validate(o->config, errstr, errstr_size))
                return KP_ERR_INVALID;
        c->protocol = o->protocol;
        c->session_ms = o->session_timeout_ms;
        c->heartbeat_ms = o->session_timeout_ms / KP_COORD_HEARTBEATS_PER_SESSION;
        snprintf(c->group, sizeof(c->group), "_kplane-%s", o->service);
        snprintf(c->work_topic, sizeof(c->work_topic), "_kplane-%s-work", o->service);
        snprintf(c->status_topic, sizeof(c->status_topic), "_kplane-%s-status", o->service);
        snprintf(c->state_topic, sizeof(c->state_topic), "_kplane-%s-state", o->service);
        c->bootstrap = strdup(o->bootstrap);
        c->config = o->config ? json_deep_copy(o->config) : NULL;
        if (!c->bootstrap || (o->config && !c->config)) {
                snprintf(errstr, errstr_size, "out of memory");
                return KP_ERR_NOMEM;
        }
        return 0;
}

kp_coord_t *kp_coord_start(const kp_coord_opts_t *o, char *errstr, size_t errstr_size)
{
        if (strlen(o->instance_id) > KP_COORD_ID_MAX || strlen(o->url) > KP_COORD_URL_MAX) {
                snprintf(errstr, errstr_size,
                         "KPLANE_INSTANCE_ID is longer than %d bytes or KPLANE_ADVERTISED_URL "
                         "than %d",
                         KP_COORD_ID_MAX, KP_COORD_URL_MAX);
                return NULL;
        }
        kp_coord_t *c = coord_alloc(o->instance_id, o->url);
        if (!c) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        if (coord_configure(c, o, errstr, errstr_size) ||
            kp_coord_topics_ensure(c, errstr, errstr_size))
                goto fail;
        if (c->protocol == KP_COORD_CONSUMER)
                kp_coord_broker_session(c);
        if ((o->store && kp_coord_state_open(c, o->store, errstr, errstr_size)) ||
            kp_coord_records_open(c, errstr, errstr_size) ||
            kp_coord_member_open(c, errstr, errstr_size))
                goto fail;
        if (pthread_create(&c->thread, NULL, coord_main, c)) {
                snprintf(errstr, errstr_size, "cannot start the coordination thread");
                goto fail;
        }
        c->thread_started = 1;
        return c;
fail:
        kp_coord_stop(c);
        return NULL;
}

void kp_coord_stop(kp_coord_t *c)
{
        if (!c)
                return;
        kp_coord_state_close(c); /* writes refused, the applier stopped: before leaving */
        __atomic_store_n(&c->stop, 1, __ATOMIC_RELEASE);
        if (c->thread_started)
                pthread_join(c->thread, NULL);
        /* the membership first: the others rebalance at once, then the record goes */
        kp_coord_member_close(c);
        kp_coord_records_close(c);
        for (size_t i = 0; i < c->nseen; i++)
                free(c->seen[i].instance_id);
        free(c->seen);
        kp_coord_statuses_cleanup(&c->statuses);
        kp_coord_tasks_free(&c->report_tasks);
        pthread_mutex_destroy(&c->lock);
        json_decref(c->config);
        free(c->bootstrap);
        free(c->id);
        free(c->url);
        free(c);
}

kp_coord_status_t kp_coord_status_self(const kp_coord_t *c, const char *now)
{
        return (kp_coord_status_t){.id = c->id,
                                   .url = c->url,
                                   .joined_at = c->joined_at,
                                   .last_seen = now,
                                   .epoch = c->report_epoch,
                                   .tasks = c->report_tasks.items,
                                   .ntasks = c->report_tasks.cnt};
}

/* Builds a single process's view: itself, seen now. */
static int coord_view_self(kp_coord_t *c, kp_coord_view_t *view, int leads)
{
        char now[32];
        kp_time_iso8601(now, sizeof(now));
        kp_coord_member_t self = {.instance_id = c->id, .leads = leads};
        kp_coord_status_t st = kp_coord_status_self(c, now);
        return kp_coord_view_build(view, &self, 1, &st, 1);
}

/* Builds the view from the members last listed and the records read (under c->lock). */
static int coord_view_members(kp_coord_t *c, kp_coord_view_t *view)
{
        kp_coord_member_t *members = calloc(c->nseen ? c->nseen : 1, sizeof(*members));
        if (!members)
                return KP_ERR_NOMEM;
        for (size_t i = 0; i < c->nseen; i++) {
                members[i].instance_id = c->seen[i].instance_id;
                members[i].leads = c->seen[i].leads;
        }
        int err = kp_coord_view_build(view, members, c->nseen, c->statuses.rows, c->statuses.cnt);
        free(members);
        return err;
}

int kp_coord_view(kp_coord_t *c, kp_coord_view_t *view)
{
        int err;
        pthread_mutex_lock(&c->lock);
        /* members known from the coordinator lately, else only what this instance knows
         * of itself (not answered yet, or not for a session: the list would be stale) */
        int described =
                !c->solo && c->described_ms && kp_time_mono_ms() - c->described_ms < c->session_ms;
        if (described)
                err = coord_view_members(c, view);
        else
                err = coord_view_self(c, view, c->self_leads);
        view->group_state = described ? c->group_state : NULL;
        pthread_mutex_unlock(&c->lock);
        view->protocol = c->solo ? NULL : c->protocol == KP_COORD_CLASSIC ? "classic" : "consumer";
        view->session_timeout_ms = c->solo ? 0 : c->session_ms;
        return err;
}

int kp_coord_lease_held(kp_coord_t *c)
{
        if (c->solo)
                return 1;
        return kp_time_mono_ms() < __atomic_load_n(&c->lease_until_ms, __ATOMIC_ACQUIRE);
}

int kp_coord_shared(const kp_coord_t *c)
{
        return c && !c->solo;
}

int kp_coord_leads(kp_coord_t *c)
{
        pthread_mutex_lock(&c->lock);
        int leads = c->self_leads;
        pthread_mutex_unlock(&c->lock);
        return leads;
}

int kp_coord_report(kp_coord_t *c, int64_t epoch, const kp_coord_task_t *running, size_t n)
{
        kp_coord_tasks_t copy;
        if (kp_coord_tasks_copy(&copy, running, n))
                return KP_ERR_NOMEM;
        pthread_mutex_lock(&c->lock);
        kp_coord_tasks_free(&c->report_tasks);
        c->report_tasks = copy;
        c->report_epoch = epoch;
        __atomic_store_n(&c->report_dirty, 1, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&c->lock);
        return 0;
}

const char *kp_coord_instance_id(const kp_coord_t *c)
{
        return c->id;
}

int kp_coord_write_target(kp_coord_t *c, char *url, size_t url_size)
{
        kp_coord_view_t view = {0};
        int target = KP_ERR_UNAVAILABLE;
        if (c->solo || !c->state || kp_coord_leads(c))
                return 1;
        if (kp_coord_view(c, &view))
                return KP_ERR_UNAVAILABLE;
        /* the list may still name this instance while its own assignment says otherwise
         * (mid-rebalance): no leader to send to yet */
        for (size_t i = 0; view.leader && strcmp(view.leader, c->id) && i < view.cnt; i++)
                if (!strcmp(view.items[i].id, view.leader) && view.items[i].url) {
                        snprintf(url, url_size, "%s", view.items[i].url);
                        target = 0;
                }
        kp_coord_view_cleanup(&view);
        return target;
}
