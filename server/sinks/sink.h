/* sink.h — where a consumer task puts the messages it read: a small vtable so new kinds plug in. */
#ifndef KP_SINK_H
#define KP_SINK_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* One message handed to a sink. Every pointer is borrowed for the duration of the
 * write call only; key/value are NULL when the record has none. */
typedef struct kp_sink_msg {
        const char *cluster;
        const char *topic;
        int32_t partition;
        int64_t offset;
        const void *key;
        size_t key_len;
        const void *value;
        size_t value_len;
} kp_sink_msg_t;

/*
 * A sink kind. A runtime task opens one instance, writes messages to it from one
 * thread at a time (the task serialises), flushes it before its offsets are committed
 * and closes it when the task ends. A sink has "taken" a message once write returned
 * 0; flush makes everything taken durable enough to commit past (for the file sink:
 * handed to the kernel with write(2)).
 */
typedef struct kp_sink_ops {
        const char *type; /* "discard", "file": the "type" of the sink document */
        /* Checks @p conf (the whole sink document) without side effects. */
        int (*validate)(const json_t *conf, char *errstr, size_t errstr_size);
        /* Opens an instance for task @p task; *statep is the instance's state. */
        int (*open)(const json_t *conf, int task, void **statep, char *errstr, size_t errstr_size);
        /* 0 when taken, else a negative kp_err_t with errstr set. */
        int (*write)(void *state, const kp_sink_msg_t *msg, char *errstr, size_t errstr_size);
        int (*flush)(void *state, char *errstr, size_t errstr_size);
        /* Flushes what it can and frees the state. */
        void (*close)(void *state);
} kp_sink_ops_t;

typedef struct kp_sink kp_sink_t;

/*
 * Validates a sink document ({"type": "discard"} or {"type": "file", "path": dir}; dir
 * relative to the sink directory, without ".."). @p conf NULL means discard.
 * @returns 0 or KP_ERR_INVALID with errstr starting with the field ("sink.path: ...").
 */
int kp_sink_validate(const json_t *conf, char *errstr, size_t errstr_size);

/*
 * Opens a sink instance for task number @p task from @p conf (borrowed; NULL means
 * discard). The file sink creates its directory inside the sink directory if needed
 * (never following a symlink) and appends to <sink dir>/<path>/task-NNNN.jsonl (0640). @returns a
 * new sink (close with kp_sink_close) or NULL with errstr set.
 */
kp_sink_t *kp_sink_open(const json_t *conf, int task, char *errstr, size_t errstr_size);

/*
 * Sets the directory every file sink's path is under (KPLANE_SINK_DIR, default
 * KP_SINK_DIR_DEFAULT; a copy is kept). Call at start-up, before any sink opens: it is
 * not synchronised. @returns 0 or KP_ERR_INVALID (empty or too long).
 */
int kp_sink_dir_set(const char *dir);
/* @returns the sink directory (borrowed, valid until the next kp_sink_dir_set). */
const char *kp_sink_dir(void);

/* Hands @p msg to the sink. Not thread-safe: the caller serialises per sink. */
int kp_sink_write(kp_sink_t *sink, const kp_sink_msg_t *msg, char *errstr, size_t errstr_size);
/* Makes every message taken so far safe to commit past. */
int kp_sink_flush(kp_sink_t *sink, char *errstr, size_t errstr_size);
/* Flushes and frees. NULL does nothing. */
void kp_sink_close(kp_sink_t *sink);
/* @returns the sink's type name ("discard", "file"). */
const char *kp_sink_type(const kp_sink_t *sink);

/*
 * Encodes @p len bytes of @p data as standard base64 (with padding) into @p out,
 * which must hold 4 * ((len + 2) / 3) + 1 bytes. @returns the length written.
 */
size_t kp_base64_encode(const void *data, size_t len, char *out);

#endif /* KP_SINK_H */
