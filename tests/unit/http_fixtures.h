/* http_fixtures.h — what the HTTP server's unit tests share: a loopback client connection and
 * reading one answer's status. Included by test_http_*.c (static inline: each takes what it
 * uses). */
#ifndef KP_HTTP_FIXTURES_H
#define KP_HTTP_FIXTURES_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

/* A connection to 127.0.0.1:@p port whose reads give up after @p timeout_s (a broken run
 * ends instead of hanging); fails the test when it cannot connect. */
static inline int http_connect(int port, int timeout_s)
{
        struct sockaddr_in sin = {.sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        struct timeval tv = {timeout_s, 0};
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fd >= 0);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
        return fd;
}

/* Reads one answer whose body is "ok" (2 bytes) and @returns its status (-1: none). */
static inline int http_read_status(int fd)
{
        char buf[4096];
        size_t len = 0;
        int status = 0;
        while (len < sizeof(buf) - 1) {
                ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
                if (n <= 0)
                        break;
                len += (size_t)n;
                buf[len] = '\0';
                char *end = strstr(buf, "\r\n\r\n");
                if (end && len >= (size_t)(end - buf) + 4 + 2)
                        break;
        }
        buf[len] = '\0';
        if (sscanf(buf, "HTTP/1.1 %d", &status) != 1)
                return -1;
        return status;
}

#endif /* KP_HTTP_FIXTURES_H */
