/* acceptor.c - see acceptor.h. */
#include "acceptor.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "event_loop.h"
#include "log.h"

struct acceptor {
    struct socket sock;                       /* owned: the listening socket */
    struct channel channel;                   /* ctx = this acceptor */
    acceptor_new_connection_callback new_connection;
    void *ctx;                                /* for new_connection; not owned */
    struct timer pause_timer;                 /* ends a pause after EMFILE */
    bool warned;                              /* the pause was logged */
};

static void resume_accepting(void *arg)
{
    struct acceptor *a = arg;
    if (channel_enable_reading(&a->channel) == 0)
        return;
    /* Still not watching: try again later rather than never. */
    log_error("resume accepting: %s", strerror(errno));
    if (event_loop_run_after(a->channel.loop, &a->pause_timer,
                             ACCEPTOR_PAUSE_MS, resume_accepting, a) < 0)
        log_error("resume accepting: %s", strerror(errno));
}

/* Out of fds (EMFILE, ENFILE) or memory (ENOBUFS, ENOMEM): the pending
 * connection stays in the backlog and the listening socket stays readable,
 * so a level-triggered loop would call accept() again at once, forever.
 * Stop watching for a while instead; connections wait in the backlog, and
 * are accepted as soon as fds are free again. */
static void pause_accepting(struct acceptor *a, int err)
{
    if (!a->warned) {
        log_warn("accept: %s; pausing accepts (%d ms at a time)",
                 strerror(err), ACCEPTOR_PAUSE_MS);
        a->warned = true;
    }
    /* The timer first: without one to resume, a pause would be forever,
     * and spinning is the lesser evil. */
    if (event_loop_run_after(a->channel.loop, &a->pause_timer,
                             ACCEPTOR_PAUSE_MS, resume_accepting, a) < 0) {
        log_error("pause accepting: %s", strerror(errno));
        return;
    }
    if (channel_disable_reading(&a->channel) < 0)
        log_error("pause accepting: %s", strerror(errno));
}

/* The listening channel's read callback: accept every waiting connection. */
static void accept_connections(void *arg)
{
    struct acceptor *a = arg;

    for (;;) {
        struct socket sock;
        struct inet_address peer;
        if (socket_accept(&a->sock, &sock, &peer) < 0) {
            if (errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM)
                pause_accepting(a, errno);
            else if (errno != EAGAIN && errno != EWOULDBLOCK)
                log_error("accept: %s", strerror(errno));
            return;
        }
        a->warned = false;
        a->new_connection(a->ctx, &sock, &peer);
    }
}

struct acceptor *acceptor_new(struct event_loop *loop,
                              const struct inet_address *addr,
                              acceptor_new_connection_callback fn, void *ctx)
{
    struct acceptor *a = malloc(sizeof(*a));
    if (!a)
        return NULL;
    a->new_connection = fn;
    a->ctx = ctx;
    timer_init(&a->pause_timer);
    a->warned = false;
    if (socket_open(&a->sock) < 0) {
        free(a);
        return NULL;
    }
    /* The options the course sets on its listening socket, but for
     * SO_REUSEPORT: with it a second server would share a port that is in
     * use instead of failing (see the notes). Accepted sockets inherit
     * TCP_NODELAY and SO_KEEPALIVE on Linux. */
    if (socket_set_reuse_addr(&a->sock, true) < 0 ||
        socket_set_tcp_nodelay(&a->sock, true) < 0 ||
        socket_set_keep_alive(&a->sock, true) < 0 ||
        socket_bind(&a->sock, addr) < 0 ||
        socket_listen(&a->sock) < 0)
        goto fail;
    /* The listener stays level-triggered: a connection left in the backlog
     * is reported again. */
    channel_init(&a->channel, loop, a->sock.fd, a);
    channel_set_read_callback(&a->channel, accept_connections);
    return a;

fail:;
    int saved = errno;
    socket_close(&a->sock);
    free(a);
    errno = saved;
    return NULL;
}

void acceptor_free(struct acceptor *a)
{
    if (!a)
        return;
    event_loop_cancel(a->channel.loop, &a->pause_timer);
    channel_remove(&a->channel);
    socket_close(&a->sock);
    free(a);
}

int acceptor_listen(struct acceptor *a)
{
    return channel_enable_reading(&a->channel);
}

int acceptor_local_address(const struct acceptor *a, struct inet_address *addr)
{
    return socket_local_address(&a->sock, addr);
}
