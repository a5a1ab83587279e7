/* sink_file.c — the file sink: one JSON line per message, a file per task, base64 key and value. */
#include "config.h"
#include "err.h"
#include "sink.h"
#include "sink_kinds.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct file_sink {
        int fd;
        char *buf; /* allocated on the first write: idle tasks cost no buffer */
        size_t len;
        size_t cap;
        char path[PATH_MAX];
} file_sink_t;

static int file_validate(const json_t *conf, char *errstr, size_t errstr_size)
{
        const char *key;
        json_t *v;
        const char *path = json_string_value(json_object_get(conf, "path"));

        json_object_foreach((json_t *)conf, key, v)
        {
                if (strcmp(key, "type") && strcmp(key, "path")) {
                        snprintf(errstr, errstr_size, "sink.%s: unknown field", key);
                        return KP_ERR_INVALID;
                }
        }
        if (!path || !path[0]) {
                snprintf(errstr, errstr_size, "sink.path: must be a non-empty string");
                return KP_ERR_INVALID;
        }
        /* Room for "/task-NNNNNN.jsonl". */
        if (strlen(path) > PATH_MAX - 32) {
                snprintf(errstr, errstr_size, "sink.path: too long");
                return KP_ERR_INVALID;
        }
        return 0;
}

/* mkdir -p: the operator names a directory that may not exist yet. */
static int mkdirs(const char *dir, char *errstr, size_t errstr_size)
{
        char tmp[PATH_MAX];
        char *p;

        snprintf(tmp, sizeof(tmp), "%s", dir);
        for (p = tmp + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(tmp, 0755) && errno != EEXIST)
                        goto fail;
                *p = '/';
        }
        if (mkdir(tmp, 0755) && errno != EEXIST)
                goto fail;
        return 0;
fail:
        snprintf(errstr, errstr_size, "sink.path: cannot create %s: %s", tmp, strerror(errno));
        return KP_ERR_INVALID;
}

/*
 * A process killed in the middle of write(2) can leave a last line without its
 * newline. Its message was never committed (commits follow flushes), so it will be
 * delivered again: cut the torn line off, or the next append would glue onto it. Reads
 * the file's tail backwards in small blocks: cost proportional to the last line.
 */
static int drop_torn_tail(int fd, char *errstr, size_t errstr_size)
{
        char buf[4096];
        off_t end = lseek(fd, 0, SEEK_END), pos = end;
        if (end <= 0)
                return 0;
        while (pos > 0) {
                size_t n = pos < (off_t)sizeof(buf) ? (size_t)pos : sizeof(buf);
                if (pread(fd, buf, n, pos - (off_t)n) != (ssize_t)n) {
                        snprintf(errstr, errstr_size, "sink file: read: %s", strerror(errno));
                        return -1;
                }
                for (size_t i = n; i > 0; i--) {
                        if (buf[i - 1] == '\n') {
                                off_t keep = pos - (off_t)n + (off_t)i;
                                if (keep != end && ftruncate(fd, keep)) {
                                        snprintf(errstr, errstr_size, "sink file: truncate: %s",
                                                 strerror(errno));
                                        return -1;
                                }
                                return 0;
                        }
                }
                pos -= (off_t)n;
        }
        /* no newline at all: one torn line */
        if (ftruncate(fd, 0)) {
                snprintf(errstr, errstr_size, "sink file: truncate: %s", strerror(errno));
                return -1;
        }
        return 0;
}

static int file_open(const json_t *conf, int task, void **statep, char *errstr, size_t errstr_size)
{
        const char *dir = json_string_value(json_object_get(conf, "path"));
        file_sink_t *fs;

        if (mkdirs(dir, errstr, errstr_size))
                return KP_ERR_INVALID;
        fs = calloc(1, sizeof(*fs));
        if (!fs) {
                snprintf(errstr, errstr_size, "out of memory");
                return KP_ERR_NOMEM;
        }
        snprintf(fs->path, sizeof(fs->path), "%s/task-%04d.jsonl", dir, task);
        /* Append: a restarted group adds to what an earlier run wrote. */
        fs->fd = open(fs->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fs->fd < 0) {
                snprintf(errstr, errstr_size, "sink.path: cannot open %s: %s", fs->path,
                         strerror(errno));
                free(fs);
                return KP_ERR_INVALID;
        }
        if (drop_torn_tail(fs->fd, errstr, errstr_size)) {
                close(fs->fd);
                free(fs);
                return KP_ERR_INTERNAL;
        }
        *statep = fs;
        return 0;
}

/* Writes the buffer out with write(2), retrying short writes. */
static int file_drain(file_sink_t *fs, char *errstr, size_t errstr_size)
{
        size_t off = 0;
        while (off < fs->len) {
                ssize_t n = write(fs->fd, fs->buf + off, fs->len - off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        snprintf(errstr, errstr_size, "%s: write: %s", fs->path,
                                 n < 0 ? strerror(errno) : "no progress");
                        /* Keep the unwritten tail: a later flush retries it. */
                        memmove(fs->buf, fs->buf + off, fs->len - off);
                        fs->len -= off;
                        return KP_ERR_INTERNAL;
                }
                off += (size_t)n;
        }
        fs->len = 0;
        return 0;
}

/* Appends @p s as a JSON string body (names are validated, but escape anyway). */
static char *put_str(char *o, const char *s)
{
        static const char hex[] = "0123456789abcdef";
        *o++ = '"';
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                if (c == '"' || c == '\\') {
                        *o++ = '\\';
                        *o++ = (char)c;
                } else if (c < 0x20) {
                        memcpy(o, "\\u00", 4);
                        o += 4;
                        *o++ = hex[c >> 4];
                        *o++ = hex[c & 15];
                } else {
                        *o++ = (char)c;
                }
        }
        *o++ = '"';
        return o;
}

static char *put_b64(char *o, const void *data, size_t len)
{
        if (!data) {
                memcpy(o, "null", 4);
                return o + 4;
        }
        *o++ = '"';
        o += kp_base64_encode(data, len, o);
        *o++ = '"';
        return o;
}

static int file_write(void *state, const kp_sink_msg_t *m, char *errstr, size_t errstr_size)
{
        file_sink_t *fs = state;
        size_t need = 128 + 6 * (strlen(m->cluster) + strlen(m->topic)) +
                      4 * ((m->key_len + 2) / 3) + 4 * ((m->value_len + 2) / 3);
        char *o;

        if (fs->len + need > fs->cap) {
                if (fs->len && file_drain(fs, errstr, errstr_size))
                        return KP_ERR_INTERNAL;
                if (fs->len + need > fs->cap) {
                        size_t cap = need > KP_SINK_FILE_BUFFER ? need : KP_SINK_FILE_BUFFER;
                        char *b = realloc(fs->buf, fs->len + cap);
                        if (!b) {
                                snprintf(errstr, errstr_size, "out of memory");
                                return KP_ERR_NOMEM;
                        }
                        fs->buf = b;
                        fs->cap = fs->len + cap;
                }
        }
        o = fs->buf + fs->len;
        memcpy(o, "{\"cluster\":", 11);
        o = put_str(o + 11, m->cluster);
        memcpy(o, ",\"topic\":", 9);
        o = put_str(o + 9, m->topic);
        o += sprintf(o, ",\"partition\":%d,\"offset\":%lld,\"key\":", (int)m->partition,
                     (long long)m->offset);
        o = put_b64(o, m->key, m->key_len);
        memcpy(o, ",\"value\":", 9);
        o = put_b64(o + 9, m->value, m->value_len);
        *o++ = '}';
        *o++ = '\n';
        fs->len = (size_t)(o - fs->buf);
        /* A big value went past the usual buffer: hand it over now to shrink back. */
        if (fs->cap > KP_SINK_FILE_BUFFER) {
                /* On failure the line stays buffered (taken); a later flush retries. */
                if (!file_drain(fs, errstr, errstr_size)) {
                        free(fs->buf);
                        fs->buf = NULL;
                        fs->cap = 0;
                }
        }
        return 0;
}

static int file_flush(void *state, char *errstr, size_t errstr_size)
{
        return file_drain(state, errstr, errstr_size);
}

static void file_close(void *state)
{
        file_sink_t *fs = state;
        char err[256];
        if (!fs)
                return;
        if (file_drain(fs, err, sizeof(err)))
                fprintf(stderr, "kplane: sink: %s\n", err);
        close(fs->fd);
        free(fs->buf);
        free(fs);
}

const kp_sink_ops_t kp_sink_file_ops = {
        .type = "file",
        .validate = file_validate,
        .open = file_open,
        .write = file_write,
        .flush = file_flush,
        .close = file_close,
};
