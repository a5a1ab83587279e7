/* coord_status.c — the status topic's records: parsed, kept per instance, written as JSON. */
#include "coord/coord_status.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/err.h"

/* The strings of a row are the table's: freed here, though the view's type says const. */
static void row_free(kp_coord_status_t *r)
{
        free((char *)r->id);
        free((char *)r->url);
        free((char *)r->joined_at);
        free((char *)r->last_seen);
        kp_coord_tasks_t tasks = {(kp_coord_task_t *)r->tasks, r->ntasks, r->ntasks};
        kp_coord_tasks_free(&tasks);
        memset(r, 0, sizeof(*r));
}

/* @returns field @p name of @p doc as a string no longer than @p max, or NULL. */
static const char *field(const json_t *doc, const char *name, size_t max)
{
        const json_t *v = json_object_get(doc, name);
        if (!json_is_string(v) || json_string_length(v) > max || !json_string_length(v))
                return NULL;
        return json_string_value(v);
}

/* Reads the report of @p doc into @p row: "epoch" (an integer >= 0) and "tasks" (see
 * kp_coord_tasks_parse), each optional (0, none). @returns 0, KP_ERR_INVALID or NOMEM. */
static int report_parse(kp_coord_status_t *row, const json_t *doc)
{
        const json_t *epoch = json_object_get(doc, "epoch");
        const json_t *tasks = json_object_get(doc, "tasks");
        kp_coord_tasks_t set = {0};
        if (epoch && (!json_is_integer(epoch) || json_integer_value(epoch) < 0))
                return KP_ERR_INVALID;
        row->epoch = epoch ? (int64_t)json_integer_value(epoch) : 0;
        int err = tasks ? kp_coord_tasks_parse(tasks, KP_COORD_REPORT_TASKS_MAX, &set) : 0;
        row->tasks = set.items;
        row->ntasks = set.cnt;
        return err;
}

/* Parses @p value into *@p row (owned copies) when it is the record of instance @p id.
 * @returns 0, KP_ERR_INVALID or KP_ERR_NOMEM. */
static int row_parse(kp_coord_status_t *row, const char *id, const char *value, size_t len)
{
        json_t *doc = json_loadb(value, len, JSON_REJECT_DUPLICATES, NULL);
        const char *rid = field(doc, "id", KP_COORD_ID_MAX);
        const char *url = field(doc, "url", KP_COORD_URL_MAX);
        const char *joined = field(doc, "joined_at", KP_COORD_ID_MAX);
        const char *seen = field(doc, "last_seen", KP_COORD_ID_MAX);
        int err = KP_ERR_INVALID;
        memset(row, 0, sizeof(*row));
        if (rid && url && joined && seen && !strcmp(rid, id)) {
                row->id = strdup(id);
                row->url = strdup(url);
                row->joined_at = strdup(joined);
                row->last_seen = strdup(seen);
                err = row->id && row->url && row->joined_at && row->last_seen ? 0 : KP_ERR_NOMEM;
                if (!err)
                        err = report_parse(row, doc);
                if (err)
                        row_free(row);
        }
        json_decref(doc);
        return err;
}

/* @returns the index of instance @p id's row, or -1. */
static long row_find(const kp_coord_statuses_t *t, const char *id)
{
        for (size_t i = 0; i < t->cnt; i++)
                if (!strcmp(t->rows[i].id, id))
                        return (long)i;
        return -1;
}

/* Puts @p row (taken) at the end of @p t. @returns 0, KP_ERR_INVALID (full) or NOMEM. */
static int row_append(kp_coord_statuses_t *t, kp_coord_status_t *row)
{
        if (t->cnt >= KP_COORD_STATUS_MAX)
                return KP_ERR_INVALID;
        if (t->cnt == t->cap) {
                size_t cap = t->cap ? t->cap * 2 : 8;
                kp_coord_status_t *rows = realloc(t->rows, cap * sizeof(*rows));
                if (!rows)
                        return KP_ERR_NOMEM;
                t->rows = rows;
                t->cap = cap;
        }
        t->rows[t->cnt++] = *row;
        return 0;
}

int kp_coord_statuses_apply(kp_coord_statuses_t *t, const char *key, size_t key_len,
                            const char *value, size_t value_len)
{
        char id[KP_COORD_ID_MAX + 1];
        kp_coord_status_t row;
        if (!key || !key_len || key_len > KP_COORD_ID_MAX || memchr(key, '\0', key_len))
                return KP_ERR_INVALID;
        memcpy(id, key, key_len);
        id[key_len] = '\0';
        long at = row_find(t, id);
        if (!value) { /* a tombstone: the instance stopped cleanly */
                if (at >= 0) {
                        row_free(&t->rows[at]);
                        t->rows[at] = t->rows[--t->cnt];
                }
                return 0;
        }
        int err = row_parse(&row, id, value, value_len);
        if (err)
                return err;
        if (at >= 0) {
                row_free(&t->rows[at]);
                t->rows[at] = row;
                return 0;
        }
        if ((err = row_append(t, &row)))
                row_free(&row);
        return err;
}

void kp_coord_statuses_cleanup(kp_coord_statuses_t *t)
{
        for (size_t i = 0; i < t->cnt; i++)
                row_free(&t->rows[i]);
        free(t->rows);
        memset(t, 0, sizeof(*t));
}

char *kp_coord_status_json(const kp_coord_status_t *st)
{
        json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:I, s:o}", "id", st->id, "url", st->url,
                                "joined_at", st->joined_at, "last_seen", st->last_seen, "epoch",
                                (json_int_t)st->epoch, "tasks",
                                kp_coord_tasks_json(st->tasks, st->ntasks));
        char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        return s;
}
