/* token.h — the API token a server needs: given, generated once for a public address, or none. */
#ifndef KP_TOKEN_H
#define KP_TOKEN_H

#include <stddef.h>

/*
 * Decides the API token of a server listening on @p listen ("host:port") with its
 * database at @p db_path, like Redis's protected mode and Jupyter's first-start token:
 * - KPLANE_API_TOKEN set and non-empty: that token;
 * - a loopback address (127.0.0.0/8, localhost, ::1): KPLANE_API_TOKEN or none;
 * - any other address: KPLANE_API_TOKEN= (set, empty) together with KPLANE_INSECURE=1
 *   runs open (with a warning); otherwise the token kept in KP_TOKEN_FILE in the
 *   database's directory (at most KP_TOKEN_FILE_MAX bytes, else start-up fails), generated
 *   there (KP_TOKEN_BYTES random bytes as hex, file mode 0600) and
 *   printed once, on the start that made it. Later starts only say where it is.
 * @returns 0 with *tokenp = a new string (free()) or NULL for no auth; -1 with errstr
 * when the token file cannot be read or written (start-up then fails).
 */
int kp_token_resolve(const char *listen, const char *db_path, char **tokenp, char *errstr,
                     size_t errstr_size);

/* @returns 1 when the host of @p listen ("host:port") is a loopback address. */
int kp_token_listen_is_loopback(const char *listen);

#endif /* KP_TOKEN_H */
