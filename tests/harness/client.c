/* client.c - connects and round trips that record failures in the run. */
#include "client.h"

#include "net.h"
#include "stream.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int rt_connect(struct run *r, uint16_t port)
{
    int fd = net_connect(port, ms(T_CONNECT));
    if (fd < 0)
        return run_fail(r, "connect to port %u: %s", port, strerror(errno));
    return fd;
}

int rt_connect_many(struct run *r, uint16_t port, int *fds, int n)
{
    struct pollfd *pfd = calloc((size_t)n, sizeof(*pfd));
    int pending = 0, rc = 0;

    for (int i = 0; i < n; i++)
        fds[i] = -1;
    for (int i = 0; i < n; i++) {
        fds[i] = net_connect_start(port);
        if (fds[i] < 0) {
            rc = run_fail(r, "connect %d of %d: %s", i + 1, n, strerror(errno));
            goto out;
        }
        pfd[i] = (struct pollfd){ fds[i], POLLOUT, 0 };
        pending++;
    }
    int64_t deadline = now_ms() + ms(T_CONNECT) + n * 2;
    while (pending > 0) {
        int left = ms_left(deadline);
        if (left == 0 || poll(pfd, (nfds_t)n, left) == 0) {
            rc = run_fail(r, "%d of %d connections not established within %d ms",
                          pending, n, ms(T_CONNECT) + n * 2);
            goto out;
        }
        for (int i = 0; i < n; i++) {
            if (pfd[i].fd < 0 || pfd[i].revents == 0)
                continue;
            if (net_connect_result(fds[i]) < 0) {
                rc = run_fail(r, "connection %d of %d: %s", i + 1, n, strerror(errno));
                goto out;
            }
            pfd[i].fd = -1;           /* poll() skips negative fds */
            pending--;
        }
    }
out:
    free(pfd);
    return rc;
}

int rt_trip(struct run *r, int fd, enum proto p, const void *payload, size_t n)
{
    return rt_trip_within(r, fd, p, payload, n, ms(T_TRIP));
}

int rt_trip_within(struct run *r, int fd, enum proto p, const void *payload, size_t n,
                   int limit_ms)
{
    struct stream s;
    stream_init(&s, fd);
    stream_add(&s, p, payload, n);
    int rc = pump(r, &s, 1, limit_ms, limit_ms);
    stream_free(&s);
    return rc;
}

int rt_once(struct run *r, uint16_t port, enum proto p, const void *payload, size_t n)
{
    int fd = rt_connect(r, port);
    if (fd < 0)
        return -1;
    int rc = rt_trip(r, fd, p, payload, n);
    close(fd);
    return rc;
}

int rt_fresh_trip(struct run *r, uint16_t port, enum proto p, const char *what)
{
    char text[64];
    int len = snprintf(text, sizeof(text), "%s round trip", what);
    struct run sub = { .sc = r->sc, .proto = p };
    if (rt_once(&sub, port, p, text, (size_t)len) < 0)
        return run_fail(r, "%s: %s", what, sub.msg);
    return 0;
}

int rt_stream(struct run *r, uint16_t port, struct stream *s)
{
    int rc = -1;
    s->fd = rt_connect(r, port);
    if (s->fd >= 0) {
        rc = pump(r, s, 1, ms(T_BULK), ms(T_STALL));
        close(s->fd);
    }
    stream_free(s);
    return rc;
}

int rt_serve_stream(struct run *r, struct stream *s)
{
    struct server *srv = run_start(r, NULL);
    if (srv == NULL) {
        stream_free(s);
        return -1;
    }
    return rt_stream(r, srv->port, s);
}

int rt_streams(struct run *r, uint16_t port, int n,
               void (*fill)(struct stream *s, int i, void *ctx), void *ctx,
               int total_ms, int idle_ms)
{
    int *fds = calloc((size_t)n, sizeof(*fds));
    struct stream *v = calloc((size_t)n, sizeof(*v));
    int rc = rt_connect_many(r, port, fds, n);
    for (int i = 0; i < n; i++) {
        stream_init(&v[i], fds[i]);
        fill(&v[i], i, ctx);
    }
    if (rc == 0)
        rc = pump(r, v, (size_t)n, total_ms, idle_ms);
    for (int i = 0; i < n; i++)
        stream_free(&v[i]);
    net_close_all(fds, n);
    free(v);
    free(fds);
    return rc;
}

/* One short request naming connection i. */
static void fill_named(struct stream *st, int i, void *ctx)
{
    const struct run *r = ctx;
    char text[32];
    int n = snprintf(text, sizeof(text), "connection %d", i);
    stream_add(st, r->proto, text, (size_t)n);
}

int rt_many_trips(struct run *r, uint16_t port, int n, int total_ms, int idle_ms)
{
    return rt_streams(r, port, n, fill_named, r, total_ms, idle_ms);
}
