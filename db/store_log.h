/* store_log.h — the store's writes as records of a log that every instance applies (issue 15). */
#ifndef KP_STORE_LOG_H
#define KP_STORE_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "db/store.h"

/*
 * Several instances share one state through a compacted log (server/coord/coord_state.c).
 * One record per row the write changed, keyed by what it is: `cluster/<name>`,
 * `topic/<cluster>/<name>`, `pattern/<cluster>/<pattern>`, `group/<name>` (the group's doc
 * and whether it should run), `plan/<group>/<version>`; each part percent-encoded ('%' and
 * '/'), so a key names one row. The value is that row's full state as a JSON object (its
 * columns; a column holding JSON is embedded as JSON); a NULL value (a tombstone) deletes
 * it. So compaction keeps exactly the latest state of each row and every plan version.
 * `leader/<instance>` records (a new leader's barrier) change nothing.
 *
 * With a log set (kp_store_set_log), every write of the store becomes: wait until this
 * process may write (it leads and applied the whole log), run the write's transaction as
 * today (its checks decide 404, 409, 422 and the plan version) but capture the rows it
 * changed and roll it back, publish one record per changed row as one atomic append, wait
 * until the log was applied to this database up to them. Writes are serialised, so each
 * decides on a database holding every earlier write.
 */

typedef struct kp_store_rec {
        char *key;
        char *value; /* NUL-terminated JSON object; NULL: a tombstone */
        size_t value_len;
} kp_store_rec_t;

/* A growing list of records (owned: kp_store_recs_cleanup). */
typedef struct kp_store_recs {
        kp_store_rec_t *items;
        size_t cnt, cap;
} kp_store_recs_t;

/* Appends copies of @p key and @p value (@p len bytes; NULL: a tombstone).
 * @returns 0 or KP_ERR_NOMEM. */
int kp_store_recs_add(kp_store_recs_t *r, const char *key, const char *value, size_t len);
/* Frees every record and empties @p r. */
void kp_store_recs_cleanup(kp_store_recs_t *r);

/* Where a store in log mode writes (every function may be called from any writing thread,
 * one at a time: the store serialises its writes). */
typedef struct kp_store_log_ops {
        /* 0 once this process may decide a write: it leads and has applied the log to its
         * end; else KP_ERR_UNAVAILABLE with errstr (not the leader, log unreachable). */
        int (*ready)(void *ctx, char *errstr, size_t errstr_size);
        /* Appends @p recs as one atomic unit; *offsetp = the offset of the last one. */
        int (*publish)(void *ctx, const kp_store_rec_t *recs, size_t n, int64_t *offsetp,
                       char *errstr, size_t errstr_size);
        /* Returns once this database applied the log up to @p offset (inclusive);
         * KP_ERR_UNAVAILABLE when it did not within its bound. */
        int (*wait)(void *ctx, int64_t offset, char *errstr, size_t errstr_size);
        void *ctx;
} kp_store_log_ops_t;

/* Sets (copied) or, with NULL, clears the log the store writes through, once the write in
 * flight (if any) is done. Switching between log mode and local writes is for start-up:
 * has_log is read unlocked by writers. */
void kp_store_set_log(kp_store_t *st, const kp_store_log_ops_t *ops);

/* Log mode with every write refused (KP_ERR_UNAVAILABLE, @p why: static storage): while
 * an instance joins its service, before the log is there, and once it stops. */
void kp_store_log_refuse(kp_store_t *st, const char *why);

/*
 * Applies the records read from the log, in order, in one transaction together with
 * @p next_offset (the offset after the last record read), so the rows and the offset they
 * reach are stored or lost together. Applying never checks what a write already checked
 * (compaction may reorder a row before the row it refers to): it upserts or deletes.
 * @returns 0 or an error (nothing applied).
 */
int kp_store_log_apply(kp_store_t *st, const kp_store_rec_t *recs, size_t n, int64_t next_offset,
                       char *errstr, size_t errstr_size);
/* *nextp = the offset to read the log from: the one stored by the last apply, 0 when none. */
int kp_store_log_next(kp_store_t *st, int64_t *nextp, char *errstr, size_t errstr_size);

/* Key parts: writes "kind/part1[/part2]" with each part percent-encoded into @p buf.
 * @returns the length, or -1 when it does not fit. */
int kp_store_log_key(char *buf, size_t size, const char *kind, const char *a, const char *b);
/* Splits @p key into its kind and decoded parts (each a copy in @p buf, which must hold
 * strlen(key) + 3 bytes; *bp NULL without a second part). @returns 0 or -1 when malformed. */
int kp_store_log_key_parse(const char *key, char *buf, size_t size, const char **kindp,
                           const char **ap, const char **bp);

#endif /* KP_STORE_LOG_H */
