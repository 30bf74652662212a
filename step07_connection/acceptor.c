/* acceptor.c - see acceptor.h. */
#include "acceptor.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "log.h"

struct acceptor {
    struct socket sock;                       /* owned: the listening socket */
    struct channel channel;                   /* ctx = this acceptor */
    acceptor_new_connection_callback new_connection;
    void *ctx;                                /* for new_connection; not owned */
};

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
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                log_error("accept: %s", strerror(errno)); /* EMFILE: step10 */
            return;
        }
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
