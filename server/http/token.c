/* token.c — the API token: given, generated once for a public address, or explicitly none. */
#include "http/token.h"

#include "base/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* 1 when the @p n bytes at @p host are @p name. */
static int host_is(const char *host, size_t n, const char *name)
{
        return n == strlen(name) && !memcmp(host, name, n);
}

int kp_token_listen_is_loopback(const char *listen)
{
        const char *colon = strrchr(listen, ':');
        size_t n = colon ? (size_t)(colon - listen) : strlen(listen);
        return (n >= 4 && !memcmp(listen, "127.", 4)) || host_is(listen, n, "localhost") ||
               host_is(listen, n, "[::1]") || host_is(listen, n, "::1");
}

/* @returns the token file's path (the database's directory + KP_TOKEN_FILE), a new
 * string, or NULL when out of memory. */
static char *token_path(const char *db_path)
{
        const char *slash = strrchr(db_path, '/');
        size_t dir = slash ? (size_t)(slash - db_path) + 1 : 0;
        char *path = malloc(dir + sizeof(KP_TOKEN_FILE));
        if (path) {
                memcpy(path, db_path, dir);
                memcpy(path + dir, KP_TOKEN_FILE, sizeof(KP_TOKEN_FILE));
        }
        return path;
}

/* Reads the token kept in @p path: its first line. @returns a new string, or NULL (errno
 * set; EINVAL when the file holds no token, EFBIG when it is over KP_TOKEN_FILE_MAX bytes:
 * a token is never cut short). */
static char *token_read(const char *path)
{
        char buf[KP_TOKEN_FILE_MAX + 1];
        size_t len = 0;
        ssize_t n = 1;
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return NULL;
        while (len < sizeof(buf) && n) {
                n = read(fd, buf + len, sizeof(buf) - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        break;
                len += (size_t)n;
        }
        int saved = errno;
        close(fd);
        if (n < 0) {
                errno = saved;
                return NULL;
        }
        if (len > KP_TOKEN_FILE_MAX) {
                errno = EFBIG;
                return NULL;
        }
        buf[len] = '\0';
        buf[strcspn(buf, "\r\n")] = '\0';
        if (!buf[0]) {
                errno = EINVAL;
                return NULL;
        }
        return strdup(buf);
}

/* Makes a new token and keeps it in @p path (created 0600, never over an existing file).
 * @returns a new string or NULL with errno set. */
static char *token_generate(const char *path)
{
        unsigned char raw[KP_TOKEN_BYTES];
        char hex[KP_TOKEN_BYTES * 2 + 2];
        size_t got = 0;
        while (got < sizeof(raw)) {
                ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return NULL;
                got += (size_t)n;
        }
        for (size_t i = 0; i < sizeof(raw); i++)
                snprintf(hex + 2 * i, 3, "%02x", raw[i]);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return NULL;
        size_t len = strlen(hex);
        hex[len] = '\n';
        int ok = write(fd, hex, len + 1) == (ssize_t)(len + 1) && !fsync(fd);
        int saved = errno;
        close(fd);
        if (!ok) {
                unlink(path);
                errno = saved;
                return NULL;
        }
        hex[len] = '\0';
        return strdup(hex);
}

/* The token of a public address: the one kept in @p path, or a new one kept there.
 * @returns 0 with *tokenp, or -1 with errstr. */
static int token_kept(const char *path, char **tokenp, char *errstr, size_t errstr_size)
{
        if ((*tokenp = token_read(path))) {
                fprintf(stderr,
                        "kplane: listening beyond loopback: the API token is in %s "
                        "(send Authorization: Bearer <token>)\n",
                        path);
                return 0;
        }
        if (errno == EFBIG) {
                snprintf(errstr, errstr_size,
                         "cannot read the API token %s: over %d bytes (" KP_TOKEN_FILE
                         " holds one token)",
                         path, KP_TOKEN_FILE_MAX);
                return -1;
        }
        if (errno != ENOENT) {
                snprintf(errstr, errstr_size, "cannot read the API token %s: %s", path,
                         strerror(errno));
                return -1;
        }
        if (!(*tokenp = token_generate(path))) {
                snprintf(errstr, errstr_size, "cannot keep a new API token in %s: %s", path,
                         strerror(errno));
                return -1;
        }
        fprintf(stderr,
                "kplane: listening beyond loopback with no KPLANE_API_TOKEN: generated one, "
                "kept in %s (0600); it is printed this once:\n"
                "kplane: API token: %s\n",
                path, *tokenp);
        return 0;
}

int kp_token_resolve(const char *listen, const char *db_path, char **tokenp, char *errstr,
                     size_t errstr_size)
{
        const char *env = getenv("KPLANE_API_TOKEN");
        const char *insecure = getenv("KPLANE_INSECURE");
        *tokenp = NULL;
        if (env && env[0]) {
                *tokenp = strdup(env);
                return *tokenp ? 0 : -1;
        }
        if (kp_token_listen_is_loopback(listen))
                return 0;
        if (env && insecure && !strcmp(insecure, "1")) {
                fprintf(stderr,
                        "kplane: WARNING: listening on %s with no API token "
                        "(KPLANE_API_TOKEN empty, KPLANE_INSECURE=1): anyone who "
                        "reaches it controls this kplane\n",
                        listen);
                return 0;
        }
        char *path = token_path(db_path);
        if (!path) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        int err = token_kept(path, tokenp, errstr, errstr_size);
        free(path);
        return err;
}
