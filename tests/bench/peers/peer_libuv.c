/* peer_libuv.c - the reference peer on libuv: one loop, one uv_tcp_t per
 * connection.
 *
 *   ./peer_libuv IP PORT [-h] [-m BYTES] [--raw]
 *
 * Reading: every connection reads into one loop-wide buffer (the loop runs
 * one read callback at a time), except a connection holding part of a
 * framed message, which reads straight behind that part in its own buffer.
 *
 * Writing: uv_try_write first; what the socket does not take at once is
 * copied into one uv_write request. Framed replies of one read are built in
 * a loop-wide scratch buffer (reply heads and small payloads, copied) and
 * written with one vectored call; payloads of ZERO_COPY_MIN bytes or more
 * are not copied but passed as their own uv_buf_t.
 *
 * Back-pressure: reading stops while a connection has more than
 * PEER_HIGH_WATER bytes queued, and starts again below PEER_LOW_WATER.
 * At end of input a uv_shutdown runs after the queued writes, then the
 * connection is closed. A header over -m closes the connection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "peer_common.h"

#define READ_BUF      (64 * 1024)
#define ZERO_COPY_MIN (64 * 1024)
#define MAX_BUFS      64

struct conn {
    uv_tcp_t tcp;
    uint8_t *in;                 /* a partial framed message, from in[0] */
    size_t   in_len, in_cap;
    int      paused;             /* reading stopped by back-pressure */
};

struct write_req {
    uv_write_t req;
    uv_buf_t   buf;
    uint8_t    data[];
};

static struct peer_opts opts;
static uv_loop_t *loop;
static uint8_t read_buf[READ_BUF];
static uint8_t *scratch;         /* framed replies under construction */
static size_t scratch_cap;

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void on_close(uv_handle_t *h)
{
    struct conn *c = h->data;
    free(c->in);
    free(c);
}

static void conn_close(struct conn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_close);
}

/* Grows *p to at least want bytes; -1 when out of memory. */
static int reserve(uint8_t **p, size_t *cap, size_t want)
{
    if (*cap >= want)
        return 0;
    size_t n = *cap ? *cap : 4096;
    while (n < want)
        n *= 2;
    uint8_t *q = realloc(*p, n);
    if (q == NULL)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

static void on_write(uv_write_t *req, int status)
{
    struct conn *c = req->handle->data;
    free(req);
    if (status < 0) {
        if (status != UV_ECANCELED)
            conn_close(c);
        return;
    }
    if (c->paused && c->tcp.write_queue_size <= PEER_LOW_WATER) {
        c->paused = 0;
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    }
}

/* Sends bufs: what the socket takes now, the rest (copied) queued.
 * Returns -1 when the connection has been closed. */
static int conn_send(struct conn *c, uv_buf_t *bufs, unsigned nbufs)
{
    uv_stream_t *s = (uv_stream_t *)&c->tcp;
    size_t total = 0, done = 0;
    for (unsigned i = 0; i < nbufs; i++)
        total += bufs[i].len;

    if (c->tcp.write_queue_size == 0) {
        int r = uv_try_write(s, bufs, nbufs);
        if (r < 0 && r != UV_EAGAIN) {
            conn_close(c);
            return -1;
        }
        done = r > 0 ? (size_t)r : 0;
    }
    if (done == total)
        return 0;

    struct write_req *w = malloc(sizeof(*w) + total - done);
    if (w == NULL) {
        conn_close(c);
        return -1;
    }
    size_t off = 0;
    for (unsigned i = 0; i < nbufs; i++) {
        size_t len = bufs[i].len, skip = done < len ? done : len;
        memcpy(w->data + off, bufs[i].base + skip, len - skip);
        off += len - skip;
        done -= skip;
    }
    w->buf = uv_buf_init((char *)w->data, (unsigned)off);
    if (uv_write(&w->req, s, &w->buf, 1, on_write) < 0) {
        free(w);
        conn_close(c);
        return -1;
    }
    if (!c->paused && c->tcp.write_queue_size > PEER_HIGH_WATER) {
        c->paused = 1;
        uv_read_stop(s);
    }
    return 0;
}

/* Replies to the complete messages at the front of [p, p + len).
 * Returns the bytes consumed, or -1 when the connection has been closed. */
static long reply_framed(struct conn *c, const uint8_t *p, size_t len)
{
    size_t end = 0, copied = 0;
    int too_big = 0;

    /* Pass 1: how far the complete messages go, and how much is copied. */
    while (len - end >= 4) {
        uint32_t n = peer_get_be32(p + end);
        if (n > opts.max_payload) {
            too_big = 1;
            break;
        }
        if (len - end - 4 < n)
            break;
        copied += REPLY_HEAD_LEN + (n < ZERO_COPY_MIN ? n : 0);
        end += 4 + (size_t)n;
    }
    if (reserve(&scratch, &scratch_cap, copied) < 0) {
        conn_close(c);
        return -1;
    }

    /* Pass 2: heads and small payloads into scratch, large ones by reference. */
    uv_buf_t bufs[MAX_BUFS];
    unsigned nbufs = 0;
    uint8_t *o = scratch, *run = scratch;
    for (size_t off = 0; off < end; ) {
        uint32_t n = peer_get_be32(p + off);
        peer_reply_head(o, n);
        o += REPLY_HEAD_LEN;
        if (n < ZERO_COPY_MIN) {
            memcpy(o, p + off + 4, n);
            o += n;
        } else {
            bufs[nbufs++] = uv_buf_init((char *)run, (unsigned)(o - run));
            bufs[nbufs++] = uv_buf_init((char *)(p + off + 4), n);
            run = o;
            if (nbufs + 2 > MAX_BUFS) {
                if (conn_send(c, bufs, nbufs) < 0)
                    return -1;
                nbufs = 0;
            }
        }
        off += 4 + (size_t)n;
    }
    if (o > run)
        bufs[nbufs++] = uv_buf_init((char *)run, (unsigned)(o - run));
    if (nbufs > 0 && conn_send(c, bufs, nbufs) < 0)
        return -1;

    if (too_big) {
        fprintf(stderr, "%s: message of %u bytes exceeds -m %u, closing the "
                "connection\n", opts.prog, peer_get_be32(p + end),
                opts.max_payload);
        conn_close(c);
        return -1;
    }
    return (long)end;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;
    (void)suggested;
    if (c->in_len == 0) {
        *buf = uv_buf_init((char *)read_buf, sizeof(read_buf));
        return;
    }
    /* Read behind the partial message already held. */
    if (reserve(&c->in, &c->in_cap, c->in_len + READ_BUF) < 0) {
        *buf = uv_buf_init(NULL, 0);    /* on_read gets UV_ENOBUFS */
        return;
    }
    *buf = uv_buf_init((char *)c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    conn_close(req->handle->data);
    free(req);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;

    if (nread == UV_EOF) {              /* flush what is owed, then close */
        uv_shutdown_t *req = malloc(sizeof(*req));
        if (req == NULL || uv_shutdown(req, s, on_shutdown) < 0) {
            free(req);
            conn_close(c);
        }
        return;
    }
    if (nread < 0) {
        conn_close(c);
        return;
    }
    if (nread == 0)
        return;
    if (opts.raw) {
        uv_buf_t b = uv_buf_init(buf->base, (unsigned)nread);
        conn_send(c, &b, 1);
        return;
    }

    const uint8_t *p = (const uint8_t *)buf->base;
    size_t len = (size_t)nread;
    if (p != read_buf) {                /* read into c->in, behind its part */
        c->in_len += len;
        p = c->in;
        len = c->in_len;
    }
    long used = reply_framed(c, p, len);
    if (used < 0)
        return;
    size_t rest = len - (size_t)used;
    if (p == read_buf) {
        if (rest > 0) {
            if (reserve(&c->in, &c->in_cap, rest) < 0) {
                conn_close(c);
                return;
            }
            memcpy(c->in, p + used, rest);
        }
    } else {
        memmove(c->in, c->in + used, rest);
    }
    c->in_len = rest;
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0) {
        fprintf(stderr, "%s: accept: %s\n", opts.prog, uv_strerror(status));
        return;
    }
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return;
    uv_tcp_init(loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int main(int argc, char **argv)
{
    static uv_tcp_t server;

    peer_parse_args(&opts, argc, argv);
    int fd = peer_listen(&opts);

    loop = uv_default_loop();
    uv_tcp_init(loop, &server);
    int r = uv_tcp_open(&server, fd);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&server, SOMAXCONN, on_connection);
    if (r < 0) {
        fprintf(stderr, "%s: listen: %s\n", opts.prog, uv_strerror(r));
        return 1;
    }
    uv_run(loop, UV_RUN_DEFAULT);
    return 0;
}
