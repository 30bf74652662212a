/* peer_epoll.c - the floor: a framed-reply server with no framework, one
 * epoll loop, and no copy of a payload in user space.
 *
 *   ./peer_epoll IP PORT [-h] [-m BYTES] [--raw]
 *
 * Each connection reads into a buffer of its own, grown to hold a whole
 * message once its header is known. The replies to the messages of one read
 * go out in one writev() of 10-byte heads and of payloads that stay where
 * read() put them. Only what the kernel does not take is copied, into an
 * output buffer; reading then stops until it has drained. Level-triggered,
 * one read per event. A header over -m: the replies owed go out, then the
 * connection closes. Raw echo (--raw) writes what was read.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "peer_common.h"

#define READ_MIN  (64 * 1024)       /* free bytes offered to every read */
#define MAX_MSGS  256               /* replies per writev: 2 iovecs each */

struct conn {
    int      fd;
    uint8_t *in;                    /* bytes read, not yet replied to */
    size_t   in_len, in_cap;
    uint8_t *out;                   /* what a writev left: sent on EPOLLOUT */
    size_t   out_len, out_off;
    int      closing;               /* close once out is sent */
};

static struct peer_opts opts;
static int epfd;

static void conn_close(struct conn *c)
{
    close(c->fd);                   /* also leaves the epoll set */
    free(c->in);
    free(c->out);
    free(c);
}

static void conn_watch(struct conn *c, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = c };
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Sends iov; copies what the kernel does not take into c->out and waits
 * for EPOLLOUT. -1 if the connection failed. */
static int conn_send(struct conn *c, struct iovec *iov, int n)
{
    ssize_t w = writev(c->fd, iov, n);
    if (w < 0 && errno != EAGAIN)
        return -1;
    size_t skip = w > 0 ? (size_t)w : 0, left = 0;
    for (int i = 0; i < n; i++)
        left += iov[i].iov_len;
    if ((left -= skip) == 0)
        return 0;
    if ((c->out = malloc(left)) == NULL)
        return -1;
    for (int i = 0; i < n; i++) {
        size_t len = iov[i].iov_len, s = skip < len ? skip : len;
        memcpy(c->out + c->out_len, (uint8_t *)iov[i].iov_base + s, len - s);
        c->out_len += len - s;
        skip -= s;
    }
    conn_watch(c, EPOLLOUT);        /* and no EPOLLIN: back-pressure */
    return 0;
}

/* Replies to the whole messages in c->in from off on, at most MAX_MSGS
 * of them, with one writev. Returns the offset past them, or -1. */
static long reply_framed(struct conn *c, size_t off)
{
    uint8_t heads[MAX_MSGS][REPLY_HEAD_LEN];
    struct iovec iov[2 * MAX_MSGS];
    int n = 0;

    while (c->in_len - off >= 4 && n < MAX_MSGS) {
        uint32_t len = peer_get_be32(c->in + off);
        if (len > opts.max_payload) {
            fprintf(stderr, "%s: message of %u bytes exceeds -m %u, closing "
                    "the connection\n", opts.prog, len, opts.max_payload);
            c->closing = 1;
            break;
        }
        if (c->in_len - off - 4 < len)
            break;
        peer_reply_head(heads[n], len);
        iov[2 * n] = (struct iovec){ heads[n], REPLY_HEAD_LEN };
        iov[2 * n + 1] = (struct iovec){ c->in + off + 4, len };
        off += 4 + len;
        n++;
    }
    if (n > 0 && conn_send(c, iov, 2 * n) < 0)
        return -1;
    return (long)off;
}

/* Replies to what c->in holds while the kernel takes the replies, keeps
 * the rest (an incomplete message) at the front. -1 to close. */
static int serve(struct conn *c)
{
    size_t off = 0;
    if (opts.raw) {
        struct iovec iov = { c->in, c->in_len };
        if (c->in_len > 0 && conn_send(c, &iov, 1) < 0)
            return -1;
        off = c->in_len;
    }
    while (!opts.raw && c->out_len == 0 && !c->closing) {
        long end = reply_framed(c, off);
        if (end < 0)
            return -1;
        if ((size_t)end == off)
            break;
        off = (size_t)end;
    }
    if (off > 0) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    return c->closing && c->out_len == 0 ? -1 : 0;
}

static void on_readable(struct conn *c)
{
    size_t whole = c->in_len >= 4 && !opts.raw ? 4 + peer_get_be32(c->in) : 0;
    size_t need = (whole > c->in_len ? whole : c->in_len) + READ_MIN;
    if (need > c->in_cap) {
        uint8_t *p = realloc(c->in, need);
        if (p == NULL) {
            conn_close(c);
            return;
        }
        c->in = p;
        c->in_cap = need;
    }
    ssize_t r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
    if (r < 0 && errno == EAGAIN)
        return;
    if (r > 0)
        c->in_len += (size_t)r;
    if (r <= 0 || serve(c) < 0)                 /* EOF: nothing is owed */
        conn_close(c);
}

static void on_writable(struct conn *c)
{
    ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
    if (w < 0 && errno == EAGAIN)
        return;
    if (w < 0) {
        conn_close(c);
        return;
    }
    if ((c->out_off += (size_t)w) < c->out_len)
        return;
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = 0;
    if (serve(c) < 0)                           /* what waited behind it */
        conn_close(c);
    else if (c->out_len == 0)
        conn_watch(c, EPOLLIN);
}

static void on_accept(int lfd)
{
    int fd, one = 1;
    while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        struct conn *c = calloc(1, sizeof(*c));
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        if (c == NULL || epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
}

int main(int argc, char **argv)
{
    static struct epoll_event evs[256];
    peer_parse_args(&opts, argc, argv);
    int lfd = peer_listen(&opts);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) < 0) {
        perror("peer_epoll: epoll");
        return 1;
    }
    for (;;) {
        int n = epoll_wait(epfd, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c == NULL)
                on_accept(lfd);
            else if (c->out_len > 0)
                on_writable(c);
            else
                on_readable(c);
        }
    }
}
