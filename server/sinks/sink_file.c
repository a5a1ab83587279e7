/* sink_file.c — the file sink: one JSON line per message, a file per task, base64 key and value. */
#include "base/config.h"
#include "base/err.h"
#include "sinks/sink.h"
#include "sinks/sink_kinds.h"
#include "sinks/sink_line.h"

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

/* The directory every file sink lives under (KPLANE_SINK_DIR); set at start-up. */
static char sink_root[PATH_MAX] = KP_SINK_DIR_DEFAULT;

int kp_sink_dir_set(const char *dir)
{
        if (!dir || !dir[0] || strlen(dir) >= sizeof(sink_root))
                return KP_ERR_INVALID;
        snprintf(sink_root, sizeof(sink_root), "%s", dir);
        return 0;
}

const char *kp_sink_dir(void)
{
        return sink_root;
}

/* 1 when @p path names a place under the root by its words alone: relative, and no
 * ".." component (symlinks are refused when it is opened). */
static int path_stays_inside(const char *path)
{
        if (path[0] == '/')
                return 0;
        for (const char *c = path; *c;) {
                size_t n = strcspn(c, "/");
                if (n == 2 && c[0] == '.' && c[1] == '.')
                        return 0;
                c += n;
                c += *c == '/';
        }
        return 1;
}

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
        /* Room for the root and "/task-NNNNNN.jsonl". */
        if (strlen(path) > PATH_MAX / 2) {
                snprintf(errstr, errstr_size, "sink.path: too long");
                return KP_ERR_INVALID;
        }
        if (!path_stays_inside(path)) {
                snprintf(errstr, errstr_size,
                         "sink.path: must be a relative path under the sink directory "
                         "(KPLANE_SINK_DIR), without \"..\"");
                return KP_ERR_INVALID;
        }
        return 0;
}

/*
 * Opens directory @p rel under the sink root, one component at a time with openat and
 * O_NOFOLLOW from the root, creating missing ones with mkdirat (0750): a symlink planted
 * anywhere in the tree is refused, never followed out of it. The root itself is the
 * operator's (KPLANE_SINK_DIR) and is created if missing. @returns a directory fd or
 * -1 with errstr set. Costs two syscalls per component.
 */
static int dir_open_inside(const char *rel, char *errstr, size_t errstr_size)
{
        char comp[NAME_MAX + 1];
        if (mkdir(sink_root, 0750) && errno != EEXIST) {
                snprintf(errstr, errstr_size, "sink.path: cannot create the sink directory %s: %s",
                         sink_root, strerror(errno));
                return -1;
        }
        int fd = open(sink_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                snprintf(errstr, errstr_size, "sink.path: cannot open the sink directory %s: %s",
                         sink_root, strerror(errno));
                return -1;
        }
        for (const char *c = rel; *c && fd >= 0;) {
                size_t n = strcspn(c, "/");
                if (n >= sizeof(comp)) {
                        snprintf(errstr, errstr_size, "sink.path: a component is too long");
                        close(fd);
                        return -1;
                }
                memcpy(comp, c, n);
                comp[n] = '\0';
                c += n;
                c += *c == '/';
                if (!n || !strcmp(comp, "."))
                        continue;
                if (mkdirat(fd, comp, 0750) && errno != EEXIST) {
                        snprintf(errstr, errstr_size, "sink.path: cannot create %s: %s", comp,
                                 strerror(errno));
                        close(fd);
                        return -1;
                }
                int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (next < 0)
                        snprintf(errstr, errstr_size,
                                 "sink.path: %s: %s (symlinks are not followed)", comp,
                                 strerror(errno));
                close(fd);
                fd = next;
        }
        return fd;
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

static int file_open(const json_t *conf, void *group, int task, void **statep, char *errstr,
                     size_t errstr_size)
{
        const char *dir = json_string_value(json_object_get(conf, "path"));
        char name[32];
        file_sink_t *fs;
        int dfd = dir_open_inside(dir, errstr, errstr_size);

        (void)group;
        if (dfd < 0)
                return KP_ERR_INVALID;
        fs = calloc(1, sizeof(*fs));
        if (!fs) {
                close(dfd);
                snprintf(errstr, errstr_size, "out of memory");
                return KP_ERR_NOMEM;
        }
        snprintf(name, sizeof(name), "task-%04d.jsonl", task);
        /* for messages only: a path cut short still says where */
        if (snprintf(fs->path, sizeof(fs->path), "%s/%s/%s", sink_root, dir, name) < 0)
                fs->path[0] = '\0';
        /* Append: a restarted group adds to what an earlier run wrote. O_NOFOLLOW: a
         * symlink planted at the file would have had its target truncated and appended
         * to. 0640: messages are the operator's data, not everyone's. */
        fs->fd = openat(dfd, name, O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0640);
        close(dfd);
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

static int file_write(void *state, const kp_sink_msg_t *m, char *errstr, size_t errstr_size)
{
        file_sink_t *fs = state;
        size_t need = kp_sink_line_max(m) + 1; /* and the newline */
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
        o += kp_sink_line_write(o, m);
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

/* Takes records until one cannot be buffered (the buffer could not be written out, or
 * no memory): the task fails then, as a later write would fail the same way. */
static kp_sink_status_t file_put(void *state, const kp_sink_msg_t *msgs, size_t n, size_t *taken,
                                 char *errstr, size_t errstr_size)
{
        size_t i;
        for (i = 0; i < n; i++) {
                if (file_write(state, msgs + i, errstr, errstr_size)) {
                        *taken = i;
                        return KP_SINK_FATAL;
                }
        }
        *taken = n;
        return KP_SINK_OK;
}

/* write(2) never waits for anyone but the kernel: the deadline has nothing to bound. */
static kp_sink_status_t file_flush(void *state, int64_t deadline_ms, char *errstr,
                                   size_t errstr_size)
{
        (void)deadline_ms;
        return file_drain(state, errstr, errstr_size) ? KP_SINK_FATAL : KP_SINK_OK;
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

/* A record is acknowledged once a flush handed it to the kernel (no precommit op: a flush
 * that answered OK acknowledged everything taken). Timestamps and headers are not written:
 * the line format predates them and stays as it is. */
const kp_sink_ops_t kp_sink_file_ops = {
        .type = "file",
        .validate = file_validate,
        .open = file_open,
        .put = file_put,
        .flush = file_flush,
        .close = file_close,
};
