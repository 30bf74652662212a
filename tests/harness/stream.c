/* stream.c - concurrent send/receive/verify over many connections. */
#include "stream.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

void encode(enum proto p, struct bytes *req, struct bytes *rep,
            const void *payload, size_t n)
{
    if (p == PROTO_FRAMED) {
        bytes_add_u32(req, (uint32_t)n);
        bytes_add_u32(rep, (uint32_t)(n + 6));
        bytes_add(rep, "reply:", 6);
    }
    bytes_add(req, payload, n);
    bytes_add(rep, payload, n);
}

void stream_init(struct stream *s, int fd)
{
    memset(s, 0, sizeof(*s));
    s->fd = fd;
}

void stream_add(struct stream *s, enum proto p, const void *payload, size_t n)
{
    encode(p, &s->out, &s->want, payload, n);
}

void stream_add_random(struct stream *s, enum proto p, uint64_t *seed, size_t n)
{
    uint8_t *buf = malloc(n ? n : 1);
    rand_fill(seed, buf, n);
    stream_add(s, p, buf, n);
    free(buf);
}

void stream_free(struct stream *s)
{
    bytes_free(&s->out);
    bytes_free(&s->want);
}

bool stream_done(const struct stream *s)
{
    return s->sent == s->out.len && (!s->shut_wr || s->shut_done) &&
           s->got == s->want.len && (!s->want_eof || s->eof);
}

static int stream_fail(struct stream *s, const char *fmt, ...)
{
    if (!s->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->err, sizeof(s->err), fmt, ap);
        va_end(ap);
        s->failed = true;
    }
    return -1;
}

int stream_send(struct stream *s)
{
    int moved = 0;
    while (s->sent < s->out.len) {
        size_t left = s->out.len - s->sent;
        ssize_t n = send(s->fd, s->out.p + s->sent, left < 262144 ? left : 262144,
                         MSG_NOSIGNAL);
        if (n > 0) {
            s->sent += (size_t)n;
            moved = 1;
        } else if (errno == EAGAIN) {
            return moved;
        } else if (errno != EINTR) {
            return stream_fail(s, "send failed after %zu of %zu bytes: %s",
                               s->sent, s->out.len, strerror(errno));
        }
    }
    if (s->shut_wr && !s->shut_done) {
        shutdown(s->fd, SHUT_WR);
        s->shut_done = true;
        moved = 1;
    }
    return moved;
}

int stream_send_until_stall(struct stream *s, int quiet_ms)
{
    for (;;) {
        if (stream_send(s) < 0)
            return -1;
        if (s->sent == s->out.len)
            return 0;
        struct pollfd pfd = { s->fd, POLLOUT, 0 };
        if (poll(&pfd, 1, quiet_ms) == 0)
            return 1;
    }
}

/* Checks received bytes against what the server owes. */
static int verify(struct stream *s, const uint8_t *p, size_t n)
{
    size_t owed = s->want.len - s->got;
    size_t cmp = n < owed ? n : owed;
    const uint8_t *w = s->want.p + s->got;
    if (memcmp(w, p, cmp) != 0) {
        size_t i = 0;
        while (w[i] == p[i])
            i++;
        return stream_fail(s, "reply byte %zu of %zu differs: got 0x%02x, want 0x%02x",
                           s->got + i, s->want.len, p[i], w[i]);
    }
    s->got += cmp;
    if (n > cmp)
        return stream_fail(s, "%zu unexpected bytes after all %zu reply bytes",
                           n - cmp, s->want.len);
    return 0;
}

int stream_recv(struct stream *s)
{
    static uint8_t buf[262144];
    int moved = 0;
    for (;;) {
        ssize_t n = recv(s->fd, buf, sizeof(buf), 0);
        if (n > 0) {
            moved = 1;
            if (verify(s, buf, (size_t)n) < 0)
                return -1;
        } else if (n == 0) {
            s->eof = true;
            if (s->got < s->want.len)
                return stream_fail(s, "server closed the connection after %zu of %zu reply bytes",
                                   s->got, s->want.len);
            return 1;
        } else if (errno == EAGAIN) {
            return moved;
        } else if (errno != EINTR) {
            return stream_fail(s, "recv failed after %zu of %zu reply bytes: %s",
                               s->got, s->want.len, strerror(errno));
        }
    }
}

static bool wants_read(const struct stream *s)
{
    return s->got < s->want.len || (s->want_eof && !s->eof);
}

int pump_step(struct stream *v, size_t n, int timeout_ms)
{
    static struct pollfd *pfd;
    static size_t *idx, cap;
    if (n > cap) {
        pfd = realloc(pfd, n * sizeof(*pfd));
        idx = realloc(idx, n * sizeof(*idx));
        if (pfd == NULL || idx == NULL)
            abort();
        cap = n;
    }

    int moved = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        struct stream *s = &v[i];
        if (s->failed)
            return -1;
        if (s->sent == s->out.len && s->shut_wr && !s->shut_done)
            moved |= stream_send(s);            /* nothing left: shut now */
        if (stream_done(s))
            continue;
        short ev = (short)((s->sent < s->out.len ? POLLOUT : 0) |
                           (wants_read(s) ? POLLIN : 0));
        pfd[k] = (struct pollfd){ s->fd, ev, 0 };
        idx[k++] = i;
    }
    if (k == 0)
        return moved;
    int rc = poll(pfd, k, moved ? 0 : timeout_ms);
    if (rc < 0)
        return errno == EINTR ? moved : -1;
    for (size_t j = 0; j < k && rc > 0; j++) {
        struct stream *s = &v[idx[j]];
        short re = pfd[j].revents;
        if (re == 0)
            continue;
        if (re & (POLLOUT | POLLERR | POLLHUP)) {
            int m = (pfd[j].events & POLLOUT) ? stream_send(s) : 0;
            if (m < 0 && !(re & POLLIN))
                return -1;
            moved |= m > 0;
        }
        if (re & (POLLIN | POLLERR | POLLHUP)) {
            int m = (pfd[j].events & POLLIN) ? stream_recv(s) : 0;
            if (m < 0)
                return -1;
            moved |= m > 0;
        }
        if (s->failed)
            return -1;
    }
    return moved;
}

/* Describes where the first unfinished stream stands. */
static void progress(struct stream *v, size_t n, char *buf, size_t len)
{
    size_t open = 0, first = n;
    for (size_t i = 0; i < n; i++) {
        if (!stream_done(&v[i])) {
            open++;
            if (first == n)
                first = i;
        }
    }
    if (first == n) {
        snprintf(buf, len, "all %zu connections done", n);
        return;
    }
    struct stream *s = &v[first];
    snprintf(buf, len, "%zu of %zu connections unfinished; conn %zu sent %zu/%zu, "
             "received %zu/%zu%s", open, n, first, s->sent, s->out.len,
             s->got, s->want.len, s->want_eof && !s->eof ? ", no EOF yet" : "");
}

int pump(struct run *r, struct stream *v, size_t n, int total_ms, int idle_ms)
{
    int64_t start = now_ms(), last = start;
    char where[256];
    for (;;) {
        size_t done = 0;
        for (size_t i = 0; i < n; i++) {
            if (v[i].failed)
                return n == 1 ? run_fail(r, "%s", v[i].err)
                              : run_fail(r, "conn %zu of %zu: %s", i, n, v[i].err);
            done += stream_done(&v[i]);
        }
        if (done == n)
            return 0;
        int64_t now = now_ms();
        if (now - start >= total_ms) {
            progress(v, n, where, sizeof(where));
            return run_fail(r, "not done within %d ms (%s)", total_ms, where);
        }
        if (now - last >= idle_ms) {
            progress(v, n, where, sizeof(where));
            return run_fail(r, "no progress for %d ms (%s)", idle_ms, where);
        }
        int wait = (int)(total_ms - (now - start));
        if (wait > idle_ms - (now - last))
            wait = (int)(idle_ms - (now - last));
        if (pump_step(v, n, wait) > 0)
            last = now_ms();
    }
}
