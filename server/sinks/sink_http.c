/* sink_http.c — the http sink: batches of records POSTed (or PUT) by one libcurl multi thread per
 * group. */
#include "base/config.h"
#include "base/err.h"
#include "base/util.h"
#include "sinks/sink_http.h"
#include "sinks/sink_kinds.h"
#include "sinks/sink_line.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * Threads. One driver thread per running group owns a curl multi handle and every easy
 * handle of the group: curl handles are not thread-safe, so only it adds, removes and
 * performs them; the tasks' threads (put, flush, precommit, close) only touch batches
 * under their task's mutex and wake it with curl_multi_wakeup. One thread per group, not
 * one per process: a group's sink state opens and closes with the group (group_open /
 * group_close), its stop joins only its own thread, and one group's slow target never
 * shares a poll loop with another's. Never a thread per request: the multi interface
 * drives all of a group's requests from the one loop.
 *
 * Order. A task has at most one batch in flight (sent or waiting for its retry): a
 * partition's records reach the target in offset order, as a Kafka producer keeps them,
 * and a retried batch is never overtaken by a later one.
 *
 * Lock order: group lock > task mutex.
 */

/* Where the records of one source partition start in a batch. */
typedef struct http_span {
        const void *part;
        int64_t first;
} http_span_t;

typedef struct http_batch {
        struct http_batch *next; /* the task's batches, oldest first */
        char *body;
        size_t len, cap;
        size_t nrecs;
        /* Per record: where its bytes start in body, and a copy of it (kp_sink_msg_copy) at
         * copy in arena, back to back: a refused batch splits at record boundaries and a
         * record refused alone goes back to the runtime as it was put. One buffer per batch,
         * not an allocation per record: the copy costs a memcpy on the hot path. */
        size_t *at, *copy;
        size_t recs_cap;
        char *arena;
        size_t arena_len, arena_cap;
        http_span_t *spans;
        size_t nspans, spans_cap;
        char *key;         /* raw: the key, base64 (NULL: the record has none) */
        int sealed;        /* complete: no record is added any more */
        int attempts;      /* requests made for it */
        int64_t opened_ms; /* when its first record came (linger) */
        int64_t due_ms;    /* sealed: not sent before */
} http_batch_t;

typedef struct http_group http_group_t;

/* A record refused for good, kept until the runtime takes it (http_refused_done). */
typedef struct http_refused {
        struct http_refused *next;
        kp_sink_msg_t *rec; /* owned */
        char status[16];
        char reason[512];
} http_refused_t;

typedef struct http_task {
        http_group_t *g;
        struct http_task *next; /* in g->tasks */
        pthread_mutex_t mu;
        pthread_cond_t cond; /* a batch acknowledged, the task failed, or it stopped sending */
        http_batch_t *head, *tail; /* unacknowledged, oldest first; tail may be open */
        int64_t held;              /* body bytes of them */
        int sending;               /* head's request is in the multi handle */
        int closing;
        int failed;
        char error[512];
        http_refused_t *ref_head, *ref_tail; /* refused, oldest first */
        CURL *easy;                          /* the driver's */
        struct curl_slist *req_hdrs;         /* raw: the configured ones and X-Kplane-Key */
        char answer[KP_SINK_HTTP_ANSWER_SNIPPET + 1];
        size_t answer_len;
        /* An acknowledged batch kept for the next one to open: its buffers (body, arena,
         * offsets) reused as they grew, not allocated and grown again per batch. */
        http_batch_t *spare;
        _Atomic int64_t acked, retries;
        char retry_error[256]; /* under mu: the last answer retried past */
} http_task_t;

struct http_group {
        kp_http_conf_t conf;
        CURLM *multi;
        pthread_t thread;
        pthread_mutex_t lock; /* tasks, stop */
        http_task_t *tasks;
        int stop;
        uint64_t rng; /* the driver's: full jitter */
};

/* ---- batches (task side, under t->mu) ---- */

static void batch_free(http_batch_t *b)
{
        if (!b)
                return;
        free(b->arena);
        free(b->copy);
        free(b->at);
        free(b->body);
        free(b->spans);
        free(b->key);
        free(b);
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
        size_t c = *cap ? *cap : 16;
        void *n;
        if (need <= *cap)
                return 0;
        while (c < need)
                c *= 2;
        if (!(n = realloc(*p, c * size)))
                return KP_ERR_NOMEM;
        *p = n;
        *cap = c;
        return 0;
}

/* Seals @p t's open batch, if any: json_array closes its array. */
static void batch_seal(const http_task_t *t, http_batch_t *b, int64_t due_ms)
{
        if (!b || b->sealed)
                return;
        if (t->g->conf.format == KP_HTTP_JSON_ARRAY)
                b->body[b->len++] = ']'; /* room kept by batch_append and batch_room */
        b->sealed = 1;
        b->due_ms = due_ms;
}

static void task_seal(http_task_t *t, int64_t due_ms)
{
        batch_seal(t, t->tail, due_ms);
}

static http_batch_t *batch_open(http_task_t *t)
{
        http_batch_t *b = t->spare;
        if (b) {
                t->spare = NULL;
                free(b->key);
                b->key = NULL;
                b->next = NULL;
                b->len = b->nrecs = b->arena_len = b->nspans = 0;
                b->sealed = b->attempts = 0;
                b->due_ms = 0;
        } else if (!(b = calloc(1, sizeof(*b)))) {
                return NULL;
        }
        b->opened_ms = kp_time_mono_ms();
        if (t->tail)
                t->tail->next = b;
        else
                t->head = b;
        t->tail = b;
        return b;
}

/* Notes that @p b holds a record of @p part at @p offset (its partition's first in it). */
static int batch_span(http_batch_t *b, const void *part, int64_t offset)
{
        for (size_t i = 0; i < b->nspans; i++)
                if (b->spans[i].part == part)
                        return 0;
        if (grow((void **)&b->spans, &b->spans_cap, b->nspans + 1, sizeof(*b->spans)))
                return KP_ERR_NOMEM;
        b->spans[b->nspans++] = (http_span_t){.part = part, .first = offset};
        return 0;
}

/* Notes a record in @p b, its bytes at @p at in the body: room for its copy (@p size
 * bytes, a multiple of 8) at the end of the arena. @returns the room, NULL: no memory. */
static void *batch_rec(http_batch_t *b, size_t size, size_t at)
{
        if (b->nrecs == b->recs_cap) {
                size_t cap = b->recs_cap ? b->recs_cap * 2 : 16;
                size_t *a = realloc(b->at, sizeof(*a) * cap);
                if (a)
                        b->at = a;
                size_t *c = a ? realloc(b->copy, sizeof(*c) * cap) : NULL;
                if (!c)
                        return NULL;
                b->copy = c, b->recs_cap = cap;
        }
        if (grow((void **)&b->arena, &b->arena_cap, b->arena_len + size, 1))
                return NULL;
        b->at[b->nrecs] = at;
        b->copy[b->nrecs++] = b->arena_len;
        b->arena_len += size;
        return b->arena + b->arena_len - size;
}

/* Record @p i of @p b: its copy, pointing into the arena where it is now. */
static kp_sink_msg_t *batch_msg(http_batch_t *b, size_t i)
{
        kp_sink_msg_t *m = (kp_sink_msg_t *)(b->arena + b->copy[i]);
        kp_sink_msg_rebase(m);
        return m;
}

/* Bytes of record @p i's copy in @p b's arena. */
static size_t batch_msg_size(const http_batch_t *b, size_t i)
{
        return (i + 1 < b->nrecs ? b->copy[i + 1] : b->arena_len) - b->copy[i];
}

/* Notes record @p m in @p b: its bytes are the @p len after @p b's body (already there,
 * @p sep bytes of separator first), and a copy of it goes to the arena. */
static int batch_take(http_task_t *t, http_batch_t *b, const kp_sink_msg_t *m, size_t sep,
                      size_t len)
{
        void *room = batch_rec(b, kp_sink_msg_size(m), b->len + sep);
        if (!room || batch_span(b, kp_sink_msg_copy(room, m)->part, m->offset))
                return KP_ERR_NOMEM;
        b->len += sep + len;
        t->held += (int64_t)(sep + len);
        return 0;
}

/* Appends @p len bytes of @p data (one record) to @p b, keeping room for a closing ']',
 * and notes a copy of @p m. */
static int batch_append(http_task_t *t, http_batch_t *b, const kp_sink_msg_t *m, const void *data,
                        size_t len)
{
        if (grow((void **)&b->body, &b->cap, b->len + len + 2, 1))
                return KP_ERR_NOMEM;
        if (len)
                memcpy(b->body + b->len, data, len);
        return batch_take(t, b, m, 0, len);
}

/* raw: a batch of its own, its value the body, its key (base64) for X-Kplane-Key. */
static int task_add_raw(http_task_t *t, const kp_sink_msg_t *m)
{
        http_batch_t *b;
        task_seal(t, kp_time_mono_ms());
        if (!(b = batch_open(t)))
                return KP_ERR_NOMEM;
        if (m->key) {
                if (!(b->key = malloc(4 * ((m->key_len + 2) / 3) + 1)))
                        return KP_ERR_NOMEM;
                kp_base64_encode(m->key, m->key_len, b->key);
        }
        if (batch_append(t, b, m, m->value, m->value_len))
                return KP_ERR_NOMEM;
        task_seal(t, kp_time_mono_ms());
        return 0;
}

/* @p b with room after its body for @p m's line, its separator and a closing ']'. */
static int batch_room(http_batch_t *b, const kp_sink_msg_t *m)
{
        return grow((void **)&b->body, &b->cap, b->len + kp_sink_line_max(m) + 3, 1);
}

/*
 * json_lines / json_array: the record's line into the open batch, or a new one when it
 * would pass max_messages or max_bytes (a record alone may pass max_bytes: it goes alone).
 * The line is written straight after the open batch's body, not into a scratch buffer
 * copied after: only a line that turns out not to fit moves (to the new batch).
 */
static int task_add_line(http_task_t *t, const kp_sink_msg_t *m)
{
        const kp_http_conf_t *c = &t->g->conf;
        int array = c->format == KP_HTTP_JSON_ARRAY;
        http_batch_t *b = t->tail && !t->tail->sealed ? t->tail : NULL;
        size_t len, sep = (size_t)array;
        char *line;

        if (b && (int64_t)b->nrecs >= c->max_messages) {
                task_seal(t, kp_time_mono_ms());
                b = NULL;
        }
        if ((!b && !(b = batch_open(t))) || batch_room(b, m))
                return KP_ERR_NOMEM;
        line = b->body + b->len + sep;
        len = kp_sink_line_write(line, m);
        if (!array)
                line[len++] = '\n';
        if (b->nrecs && (int64_t)(b->len + len + (size_t)array * 2) > c->max_bytes) {
                http_batch_t *nb = batch_open(t); /* before the seal: t->tail is still b */
                if (!nb || grow((void **)&nb->body, &nb->cap, len + 3, 1))
                        return KP_ERR_NOMEM;
                memcpy(nb->body + sep, b->body + b->len + sep, len); /* before ']' lands */
                batch_seal(t, b, kp_time_mono_ms());
                b = nb;
        }
        if (array)
                b->body[b->len] = b->nrecs ? ',' : '[';
        if (batch_take(t, b, m, sep, len))
                return KP_ERR_NOMEM;
        if ((int64_t)b->nrecs >= c->max_messages || (int64_t)b->len >= c->max_bytes)
                task_seal(t, kp_time_mono_ms());
        return 0;
}

/* Bytes a task may hold unacknowledged: see KP_SINK_HTTP_TASK_HELD_MIN. */
static int64_t task_held_max(const http_task_t *t)
{
        int64_t two = 2 * t->g->conf.max_bytes;
        return two > KP_SINK_HTTP_TASK_HELD_MIN ? two : KP_SINK_HTTP_TASK_HELD_MIN;
}

static kp_sink_status_t http_put(void *state, const kp_sink_msg_t *msgs, size_t n, size_t *taken,
                                 char *errstr, size_t errstr_size)
{
        http_task_t *t = state;
        kp_sink_status_t st = KP_SINK_OK;
        size_t i;

        pthread_mutex_lock(&t->mu);
        for (i = 0; i < n && !t->failed; i++) {
                if (t->held && t->held >= task_held_max(t)) {
                        snprintf(errstr, errstr_size, "http sink: %lld bytes wait for %s",
                                 (long long)t->held, t->g->conf.where);
                        st = KP_SINK_RETRY;
                        break;
                }
                if (t->g->conf.format == KP_HTTP_RAW ? task_add_raw(t, msgs + i)
                                                     : task_add_line(t, msgs + i)) {
                        snprintf(errstr, errstr_size, "http sink: out of memory");
                        st = KP_SINK_FATAL;
                        break;
                }
        }
        if (t->failed) {
                snprintf(errstr, errstr_size, "%s", t->error);
                st = KP_SINK_FATAL;
        }
        *taken = i;
        pthread_mutex_unlock(&t->mu);
        curl_multi_wakeup(t->g->multi);
        return st;
}

/* Sends what is open now and waits until everything is acknowledged, the task failed or
 * @p deadline_ms passed. */
static kp_sink_status_t http_flush(void *state, int64_t deadline_ms, char *errstr,
                                   size_t errstr_size)
{
        http_task_t *t = state;
        kp_sink_status_t st = KP_SINK_OK;
        struct timespec ts;

        pthread_mutex_lock(&t->mu);
        task_seal(t, kp_time_mono_ms());
        curl_multi_wakeup(t->g->multi);
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t now = kp_time_mono_ms();
        int64_t wait = deadline_ms > now ? deadline_ms - now : 0;
        ts.tv_sec += wait / 1000;
        ts.tv_nsec += (wait % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L)
                ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        while (wait && t->head && !t->failed &&
               pthread_cond_timedwait(&t->cond, &t->mu, &ts) != ETIMEDOUT)
                ;
        if (t->failed) {
                snprintf(errstr, errstr_size, "%s", t->error);
                st = KP_SINK_FATAL;
        } else if (t->ref_head) {
                snprintf(errstr, errstr_size, "%s", t->ref_head->reason);
                st = KP_SINK_DEAD_LETTER;
        } else if (t->head) {
                snprintf(errstr, errstr_size, "http sink: %lld bytes not yet acknowledged by %s",
                         (long long)t->held, t->g->conf.where);
                st = KP_SINK_RETRY;
        }
        pthread_mutex_unlock(&t->mu);
        return st;
}

/* Each partition: up to the first record of it in a batch not acknowledged (batches are
 * acknowledged oldest first, a failed one never) or refused and not yet taken back by the
 * runtime, else all it took. */
static void http_precommit(void *state, kp_sink_offset_t *offs, size_t n)
{
        http_task_t *t = state;
        pthread_mutex_lock(&t->mu);
        for (size_t i = 0; i < n; i++) {
                int64_t acked = offs[i].taken;
                for (http_batch_t *b = t->head; b && acked == offs[i].taken; b = b->next)
                        for (size_t s = 0; s < b->nspans; s++)
                                if (b->spans[s].part == offs[i].part) {
                                        acked = b->spans[s].first;
                                        break;
                                }
                for (http_refused_t *r = t->ref_head; r; r = r->next)
                        if (r->rec->part == offs[i].part) {
                                if (r->rec->offset < acked)
                                        acked = r->rec->offset;
                                break;
                        }
                offs[i].acked = acked;
        }
        pthread_mutex_unlock(&t->mu);
}

/* Copies the first refused records out (their storage stays until http_refused_done). */
static size_t http_refused(void *state, kp_sink_refused_t *out, size_t max)
{
        http_task_t *t = state;
        size_t n = 0;
        pthread_mutex_lock(&t->mu);
        for (http_refused_t *r = t->ref_head; r && n < max; r = r->next)
                out[n++] = (kp_sink_refused_t){
                        .msg = *r->rec, .reason = r->reason, .status = r->status};
        pthread_mutex_unlock(&t->mu);
        return n;
}

/* Frees the first @p n refused records of @p t (t->mu held, or the task closing). */
static void task_refused_drop(http_task_t *t, size_t n)
{
        while (n-- && t->ref_head) {
                http_refused_t *r = t->ref_head;
                t->ref_head = r->next;
                free(r->rec);
                free(r);
        }
        if (!t->ref_head)
                t->ref_tail = NULL;
}

static void http_refused_done(void *state, size_t n)
{
        http_task_t *t = state;
        pthread_mutex_lock(&t->mu);
        task_refused_drop(t, n);
        pthread_mutex_unlock(&t->mu);
}

static int64_t http_acked(void *state)
{
        http_task_t *t = state;
        return atomic_load_explicit(&t->acked, memory_order_relaxed);
}

static int64_t http_own_retries(void *state)
{
        http_task_t *t = state;
        return atomic_load_explicit(&t->retries, memory_order_relaxed);
}

static void http_retry_error(void *state, char *buf, size_t size)
{
        http_task_t *t = state;
        pthread_mutex_lock(&t->mu);
        snprintf(buf, size, "%s", t->retry_error);
        pthread_mutex_unlock(&t->mu);
}

/* ---- the driver thread: requests, answers, retries ---- */

/* Keeps the start of an answer's body for a refused batch's error. */
static size_t answer_keep(char *data, size_t size, size_t nmemb, void *arg)
{
        http_task_t *t = arg;
        size_t n = size * nmemb, room = KP_SINK_HTTP_ANSWER_SNIPPET - t->answer_len;
        memcpy(t->answer + t->answer_len, data, n < room ? n : room);
        t->answer_len += n < room ? n : room;
        return n;
}

/* Starts the request of @p t's head batch (sealed, due). Driver thread, t->mu held. */
static void request_start(http_task_t *t)
{
        http_group_t *g = t->g;
        http_batch_t *b = t->head;
        struct curl_slist *h = g->conf.headers;

        curl_slist_free_all(t->req_hdrs);
        t->req_hdrs = NULL;
        if (g->conf.format == KP_HTTP_RAW && b->key) {
                char *line = malloc(strlen(b->key) + 16);
                for (struct curl_slist *c = g->conf.headers; line && c; c = c->next)
                        t->req_hdrs = curl_slist_append(t->req_hdrs, c->data);
                if (line) {
                        sprintf(line, b->key[0] ? "X-Kplane-Key: %s" : "X-Kplane-Key;", b->key);
                        t->req_hdrs = curl_slist_append(t->req_hdrs, line);
                }
                free(line);
                h = t->req_hdrs ? t->req_hdrs : h;
        }
        curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)b->len);
        curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, b->len ? b->body : "");
        t->answer_len = 0;
        b->attempts++;
        if (curl_multi_add_handle(g->multi, t->easy) == CURLM_OK)
                t->sending = 1;
}

/* Pending work of @p t: seal a batch that lingered long enough, start the head's request
 * when due, stop sending when closing. Lowers *next_ms to when it wants to run next. */
static void task_tick(http_task_t *t, int64_t now, int64_t *next_ms)
{
        http_group_t *g = t->g;
        pthread_mutex_lock(&t->mu);
        if (t->closing || t->failed) {
                if (t->sending)
                        curl_multi_remove_handle(g->multi, t->easy);
                t->sending = 0;
                pthread_cond_broadcast(&t->cond);
                pthread_mutex_unlock(&t->mu);
                return;
        }
        /* The open batch closes when it can leave: nothing before it and its linger over.
         * Behind a request in flight (or a batch waiting for its retry) it stays open, so
         * what arrives meanwhile goes out in the next request, not in one request each. */
        if (t->tail && !t->tail->sealed && t->tail == t->head && !t->sending) {
                if (now >= t->tail->opened_ms + g->conf.linger_ms)
                        task_seal(t, now);
                else if (t->tail->opened_ms + g->conf.linger_ms < *next_ms)
                        *next_ms = t->tail->opened_ms + g->conf.linger_ms;
        }
        if (!t->sending && t->head && t->head->sealed) {
                if (t->head->due_ms <= now)
                        request_start(t);
                else if (t->head->due_ms < *next_ms)
                        *next_ms = t->head->due_ms;
        }
        pthread_mutex_unlock(&t->mu);
}

/* Milliseconds the answer's Retry-After asks for (seconds or an HTTP date), -1: none. */
static int64_t retry_after_ms(CURL *easy)
{
        struct curl_header *h = NULL;
        const char *v;
        char *end;
        if (curl_easy_header(easy, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK || !h)
                return -1;
        v = h->value;
        long long s = strtoll(v, &end, 10);
        if (end != v && !*end)
                return s < 0 ? 0
                       : s > KP_SINK_HTTP_RETRY_AFTER_MAX_MS / 1000
                               ? KP_SINK_HTTP_RETRY_AFTER_MAX_MS
                               : s * 1000;
        time_t at = curl_getdate(v, NULL);
        if (at < 0)
                return -1;
        int64_t ms = ((int64_t)at - (int64_t)time(NULL)) * 1000;
        return ms < 0                                 ? 0
               : ms > KP_SINK_HTTP_RETRY_AFTER_MAX_MS ? KP_SINK_HTTP_RETRY_AFTER_MAX_MS
                                                      : ms;
}

/* Full jitter: random(0, min(cap, base * 2^(attempts - 1))). */
static int64_t backoff_ms(http_group_t *g, int attempts)
{
        const kp_http_conf_t *c = &g->conf;
        int64_t ceil = c->max_backoff_ms;
        if (attempts - 1 < 40 && c->initial_backoff_ms << (attempts - 1) < ceil)
                ceil = c->initial_backoff_ms << (attempts - 1);
        g->rng ^= g->rng << 13, g->rng ^= g->rng >> 7, g->rng ^= g->rng << 17;
        return (int64_t)(g->rng % (uint64_t)(ceil + 1));
}

/* 1 when the answer (or its absence) is worth another attempt. */
static int answer_retryable(CURLcode rc, long status)
{
        return rc != CURLE_OK || status == 408 || status == 429 || status >= 500;
}

/* 1 when @p text repeats the value of a configured header (a target that echoes the
 * request back): then it stays out of the task's error, which is shown and logged. */
static int answer_repeats_a_secret(const kp_http_conf_t *c, const char *text)
{
        for (const struct curl_slist *h = c->headers; h; h = h->next) {
                const char *v = strstr(h->data, ": ");
                if (v && strlen(v + 2) >= 4 && strstr(text, v + 2))
                        return 1;
        }
        return 0;
}

/* Says into @p out what went wrong with @p t's request (t->mu held): @p why, then the
 * status and the answer's start, made printable, or the connection error. */
static void answer_describe(http_task_t *t, CURLcode rc, long status, const char *why, char *out,
                            size_t out_size)
{
        char answer[KP_SINK_HTTP_ANSWER_SNIPPET + 1];
        size_t i;
        for (i = 0; i < t->answer_len; i++)
                answer[i] = t->answer[i] >= 0x20 && t->answer[i] < 0x7f ? t->answer[i] : ' ';
        answer[i] = '\0';
        if (answer_repeats_a_secret(&t->g->conf, answer))
                i = (size_t)snprintf(answer, sizeof(answer),
                                     "(its answer is withheld: it "
                                     "repeats a configured header)");
        if (rc != CURLE_OK)
                snprintf(out, out_size, "http sink: %s: %s%s", t->g->conf.where, why,
                         curl_easy_strerror(rc));
        else
                snprintf(out, out_size, "http sink: %s: %s%ld%s%s", t->g->conf.where, why, status,
                         i ? ": " : "", answer);
}

/* Acknowledged or refused: the head batch leaves @p t (t->mu held). */
static void task_drop_head(http_task_t *t)
{
        http_batch_t *b = t->head;
        t->head = b->next;
        if (!t->head)
                t->tail = NULL;
        t->held -= (int64_t)b->len;
        if (t->spare)
                batch_free(b);
        else
                t->spare = b;
}

/* Where record @p i of sealed batch @p b ends (json_array: before its ',' or the ']'). */
static size_t batch_rec_end(const http_batch_t *b, size_t i, int array)
{
        return (i + 1 < b->nrecs ? b->at[i + 1] : b->len) - (size_t)array;
}

/* A sealed batch, due now, of records [@p from, @p to) of @p b, moved out of it (their
 * bytes copied). NULL when out of memory. */
static http_batch_t *batch_part(const http_group_t *g, http_batch_t *b, size_t from, size_t to)
{
        int array = g->conf.format == KP_HTTP_JSON_ARRAY;
        http_batch_t *n = calloc(1, sizeof(*n));
        size_t i, need = 2;
        if (!n)
                return NULL;
        for (i = from; i < to; i++)
                need += batch_rec_end(b, i, array) - b->at[i] + 1;
        if (grow((void **)&n->body, &n->cap, need, 1))
                goto fail;
        for (i = from; i < to; i++) {
                size_t at = b->at[i], len = batch_rec_end(b, i, array) - at;
                if (array)
                        n->body[n->len++] = i == from ? '[' : ',';
                size_t size = batch_msg_size(b, i);
                void *room = batch_rec(n, size, n->len);
                if (!room)
                        goto fail;
                memcpy(room, b->arena + b->copy[i], size); /* rebased when read */
                if (batch_span(n, ((kp_sink_msg_t *)room)->part, ((kp_sink_msg_t *)room)->offset))
                        goto fail;
                memcpy(n->body + n->len, b->body + at, len);
                n->len += len;
        }
        if (array)
                n->body[n->len++] = ']';
        n->sealed = 1;
        n->opened_ms = n->due_ms = kp_time_mono_ms();
        return n;
fail:
        batch_free(n);
        return NULL;
}

/* Splits @p t's head batch (t->mu held; two records or more) into two halves that take its
 * place, due now, so that only the records refused alone count as refused (a batch of n
 * with one poison record costs about 2 log2(n) more requests). @returns 0 or KP_ERR_NOMEM. */
static int task_split_head(http_task_t *t)
{
        http_batch_t *b = t->head, *lo, *hi = NULL;
        size_t half = b->nrecs / 2;
        if (!(lo = batch_part(t->g, b, 0, half)) || !(hi = batch_part(t->g, b, half, b->nrecs))) {
                batch_free(lo);
                return KP_ERR_NOMEM;
        }
        lo->next = hi;
        hi->next = b->next;
        t->head = lo;
        if (t->tail == b)
                t->tail = hi;
        t->held += (int64_t)(lo->len + hi->len) - (int64_t)b->len;
        batch_free(b);
        return 0;
}

/* Hands every record of @p t's head batch (t->mu held) back as refused, with @p reason and
 * @p status, and drops the batch. @returns 0 or KP_ERR_NOMEM. */
static int task_refuse_head(http_task_t *t, const char *reason, const char *status)
{
        http_batch_t *b = t->head;
        for (size_t i = 0; i < b->nrecs; i++) {
                http_refused_t *r = calloc(1, sizeof(*r));
                if (!r || !(r->rec = malloc(batch_msg_size(b, i)))) {
                        free(r);
                        return KP_ERR_NOMEM;
                }
                memcpy(r->rec, batch_msg(b, i), batch_msg_size(b, i));
                kp_sink_msg_rebase(r->rec);
                snprintf(r->reason, sizeof(r->reason), "%s", reason);
                snprintf(r->status, sizeof(r->status), "%s", status);
                if (t->ref_tail)
                        t->ref_tail->next = r;
                else
                        t->ref_head = r;
                t->ref_tail = r;
        }
        task_drop_head(t);
        return 0;
}

/*
 * 1 when a final @p status may be the fault of one record of the batch, so that splitting
 * the batch finds it: 400 Bad Request, 413 Content Too Large (the batch, or a record in
 * it, too large) and 422 Unprocessable Content, the statuses a target gives for what a
 * body holds. Every other final 4xx (401, 403, 404, 405, 410, 415, ...) says the endpoint
 * refuses the request whatever it holds: bisecting would send ~2n requests only to refuse
 * every record one by one, so the batch is refused whole, as Kafka Connect's HTTP sinks
 * and Redpanda Connect's http_client output refuse (and dead-letter) a batch as it was.
 */
static int answer_splits(long status)
{
        return status == 400 || status == 413 || status == 422;
}

/* The head batch is refused for good (t->mu held). A final 400, 413 or 422 of several
 * records splits it (answer_splits); anything else (such a 4xx of one record, another 4xx,
 * a redirect: not followed, the headers would go along; retries exhausted) hands its
 * records back as refused (kp_sink_refused). */
static void request_refused(http_task_t *t, CURLcode rc, long status)
{
        http_batch_t *b = t->head;
        char why[64], reason[512], st[16];
        int err;
        if (rc == CURLE_OK && answer_splits(status) && b->nrecs > 1) {
                err = task_split_head(t);
        } else {
                if (answer_retryable(rc, status))
                        snprintf(why, sizeof(why),
                                 "retries exhausted after %d attempts: ", b->attempts);
                else
                        snprintf(why, sizeof(why), "%s",
                                 status >= 300 && status < 400 ? "redirects are not followed: "
                                                               : "refused for good: ");
                answer_describe(t, rc, status, why, reason, sizeof(reason));
                snprintf(st, sizeof(st), rc == CURLE_OK ? "%ld" : "none", status);
                err = task_refuse_head(t, reason, st);
        }
        if (err) {
                snprintf(t->error, sizeof(t->error), "http sink: out of memory");
                t->failed = 1;
        }
}

/* The head batch's request ended (driver thread). 2xx: acknowledged. Retryable: again
 * after the back-off (and Retry-After), until max_attempts. Otherwise refused for good:
 * request_refused splits it or hands its records back. */
static void request_done(http_task_t *t, CURLcode rc)
{
        http_group_t *g = t->g;
        long status = 0;
        pthread_mutex_lock(&t->mu);
        http_batch_t *b = t->head;
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
        t->sending = 0;
        if (rc == CURLE_OK && status >= 200 && status < 300) {
                atomic_fetch_add_explicit(&t->acked, (int64_t)b->nrecs, memory_order_relaxed);
                t->retry_error[0] = '\0'; /* answered: nothing is being retried past now */
                task_drop_head(t);
        } else if (answer_retryable(rc, status) && b->attempts < g->conf.max_attempts) {
                int64_t wait = backoff_ms(g, b->attempts), after = retry_after_ms(t->easy);
                b->due_ms = kp_time_mono_ms() + (after > wait ? after : wait);
                atomic_fetch_add_explicit(&t->retries, 1, memory_order_relaxed);
                answer_describe(t, rc, status, "retrying after ", t->retry_error,
                                sizeof(t->retry_error));
        } else {
                request_refused(t, rc, status);
        }
        pthread_cond_broadcast(&t->cond);
        pthread_mutex_unlock(&t->mu);
}

/* Every request that ended since the last call. @returns how many. */
static int driver_reap(http_group_t *g)
{
        CURLMsg *m;
        int left, n = 0;
        while ((m = curl_multi_info_read(g->multi, &left))) {
                http_task_t *t = NULL;
                CURL *easy = m->easy_handle;
                CURLcode rc = m->data.result;
                if (m->msg != CURLMSG_DONE)
                        continue;
                curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
                curl_multi_remove_handle(g->multi, easy); /* m is gone after this */
                request_done(t, rc);
                n++;
        }
        return n;
}

static void *driver_main(void *arg)
{
        http_group_t *g = arg;
        int running;
        for (;;) {
                int64_t now = kp_time_mono_ms(), next = now + 1000;
                pthread_mutex_lock(&g->lock);
                if (g->stop) {
                        pthread_mutex_unlock(&g->lock);
                        break;
                }
                for (http_task_t *t = g->tasks; t; t = t->next)
                        task_tick(t, now, &next);
                pthread_mutex_unlock(&g->lock);
                curl_multi_perform(g->multi, &running);
                /* a request that ended may have made the next batch due: no waiting then */
                if (driver_reap(g))
                        continue;
                now = kp_time_mono_ms();
                curl_multi_poll(g->multi, NULL, 0, next > now ? (int)(next - now) : 0, NULL);
        }
        return NULL;
}

/* ---- the kind ---- */

static int http_validate(const json_t *conf, char *errstr, size_t errstr_size)
{
        kp_http_conf_t c;
        int err = kp_http_conf_parse(conf, &c, errstr, errstr_size);
        kp_http_conf_cleanup(&c);
        return err;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
        curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void http_group_close(void *state)
{
        http_group_t *g = state;
        if (!g)
                return;
        if (g->multi) {
                pthread_mutex_lock(&g->lock);
                g->stop = 1;
                pthread_mutex_unlock(&g->lock);
                curl_multi_wakeup(g->multi);
                pthread_join(g->thread, NULL);
                curl_multi_cleanup(g->multi);
        }
        pthread_mutex_destroy(&g->lock);
        kp_http_conf_cleanup(&g->conf);
        free(g);
}

static int http_group_open(const json_t *conf, const char *group, void **groupp, char *errstr,
                           size_t errstr_size)
{
        http_group_t *g = calloc(1, sizeof(*g));
        (void)group;
        pthread_once(&curl_once, curl_init_once);
        if (!g) {
                snprintf(errstr, errstr_size, "out of memory");
                return KP_ERR_NOMEM;
        }
        pthread_mutex_init(&g->lock, NULL);
        g->rng = (uint64_t)kp_time_mono_ns() ^ (uint64_t)(uintptr_t)g ^ 0x9e3779b97f4a7c15ULL;
        if (kp_http_conf_parse(conf, &g->conf, errstr, errstr_size)) {
                http_group_close(g);
                return KP_ERR_INVALID;
        }
        if (!(g->multi = curl_multi_init()) || pthread_create(&g->thread, NULL, driver_main, g)) {
                curl_multi_cleanup(g->multi);
                g->multi = NULL;
                http_group_close(g);
                snprintf(errstr, errstr_size, "http sink: cannot start its thread");
                return KP_ERR_INTERNAL;
        }
        *groupp = g;
        return 0;
}

/* The task's easy handle: everything but the body and, for raw, the headers. */
static CURL *task_easy(http_task_t *t)
{
        const kp_http_conf_t *c = &t->g->conf;
        CURL *e = curl_easy_init();
        if (!e)
                return NULL;
        curl_easy_setopt(e, CURLOPT_URL, c->url);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        if (c->put)
                curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(e, CURLOPT_USERAGENT, "kplane/" KP_VERSION);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, answer_keep);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
        curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)t);
        return e;
}

static void task_free(http_task_t *t)
{
        task_refused_drop(t, SIZE_MAX);
        while (t->head) {
                http_batch_t *b = t->head;
                t->head = b->next;
                batch_free(b);
        }
        batch_free(t->spare);
        if (t->easy)
                curl_easy_cleanup(t->easy);
        curl_slist_free_all(t->req_hdrs);
        pthread_cond_destroy(&t->cond);
        pthread_mutex_destroy(&t->mu);
        free(t);
}

static int http_open(const json_t *conf, void *group, int task, void **statep, char *errstr,
                     size_t errstr_size)
{
        http_group_t *g = group;
        http_task_t *t = calloc(1, sizeof(*t));
        pthread_condattr_t ca;
        (void)conf;
        if (!t) {
                snprintf(errstr, errstr_size, "out of memory");
                return KP_ERR_NOMEM;
        }
        t->g = g;
        (void)task;
        pthread_mutex_init(&t->mu, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&t->cond, &ca);
        pthread_condattr_destroy(&ca);
        if (!(t->easy = task_easy(t))) {
                task_free(t);
                snprintf(errstr, errstr_size, "http sink: curl_easy_init failed");
                return KP_ERR_NOMEM;
        }
        pthread_mutex_lock(&g->lock);
        t->next = g->tasks;
        g->tasks = t;
        pthread_mutex_unlock(&g->lock);
        *statep = t;
        return 0;
}

/* Stops sending (the driver takes the request off the wire) and frees: what was not
 * acknowledged was not committed, so it is read again. */
static void http_close(void *state)
{
        http_task_t *t = state, **pp;
        http_group_t *g = t->g;
        pthread_mutex_lock(&t->mu);
        t->closing = 1;
        curl_multi_wakeup(g->multi);
        while (t->sending)
                pthread_cond_wait(&t->cond, &t->mu);
        pthread_mutex_unlock(&t->mu);
        pthread_mutex_lock(&g->lock);
        for (pp = &g->tasks; *pp != t; pp = &(*pp)->next)
                ;
        *pp = t->next;
        pthread_mutex_unlock(&g->lock);
        task_free(t);
}

static json_t *http_redact(const json_t *conf)
{
        return kp_http_conf_redact(conf);
}

static void http_unredact(json_t *conf, const json_t *old)
{
        kp_http_conf_unredact(conf, old);
}

/* Acknowledged at a 2xx (precommit says how far per partition). */
const kp_sink_ops_t kp_sink_http_ops = {
        .type = "http",
        .validate = http_validate,
        .group_open = http_group_open,
        .group_close = http_group_close,
        .open = http_open,
        .put = http_put,
        .flush = http_flush,
        .precommit = http_precommit,
        .acked = http_acked,
        .close = http_close,
        .redact = http_redact,
        .unredact = http_unredact,
        .refused = http_refused,
        .refused_done = http_refused_done,
        .own_retries = http_own_retries,
        .retry_error = http_retry_error,
};
