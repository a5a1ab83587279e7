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

int kp_token_listen_is_loopback(const char *listen)
{
        char host[256];
        const char *colon = strrchr(listen, ':');
        size_t n = colon ? (size_t)(colon - listen) : strlen(listen);
        if (n >= sizeof(host))
                return 0;
        memcpy(host, listen, n);
        host[n] = '\0';
        return !strncmp(host, "127.", 4) || !strcmp(host, "localhost") || !strcmp(host, "[::1]") ||
               !strcmp(host, "::1");
}

/* Writes the token file's path (the database's directory + KP_TOKEN_FILE) to @p out. */
static int token_path(const char *db_path, char *out, size_t out_size)
{
        const char *slash = strrchr(db_path, '/');
        int n = slash ? snprintf(out, out_size, "%.*s/%s", (int)(slash - db_path), db_path,
                                 KP_TOKEN_FILE)
                      : snprintf(out, out_size, "%s", KP_TOKEN_FILE);
        return n < 0 || (size_t)n >= out_size ? -1 : 0;
}

/* Reads the token kept in @p path. @returns a new string, or NULL (errno set; EINVAL when
 * the file holds no token). */
static char *token_read(const char *path)
{
        char buf[KP_TOKEN_BYTES * 2 + 8];
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return NULL;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0) {
                errno = EINVAL;
                return NULL;
        }
        buf[n] = '\0';
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

int kp_token_resolve(const char *listen, const char *db_path, char **tokenp, char *errstr,
                     size_t errstr_size)
{
        const char *env = getenv("KPLANE_API_TOKEN");
        const char *insecure = getenv("KPLANE_INSECURE");
        char path[4096];
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
        if (token_path(db_path, path, sizeof(path))) {
                snprintf(errstr, errstr_size, "token file path too long");
                return -1;
        }
        if ((*tokenp = token_read(path))) {
                fprintf(stderr,
                        "kplane: listening beyond loopback: the API token is in %s "
                        "(send Authorization: Bearer <token>)\n",
                        path);
                return 0;
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
