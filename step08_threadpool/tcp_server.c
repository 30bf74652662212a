/* tcp_server.c - see tcp_server.h. */
#include "tcp_server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "acceptor.h"
#include "connection.h"
#include "log.h"

struct tcp_server {
    struct event_loop *loop;          /* not owned */
    struct acceptor *acceptor;        /* owned */
    struct connection **conns;        /* a reference each, indexed by fd */
    size_t nconns;                    /* slots in conns */
    struct tcp_server_options options;
    conn_message_callback message_callback;
    void *message_ctx;                /* for message_callback; not owned */
};

/* Makes room for index fd in the table. */
static int reserve_slot(struct tcp_server *server, int fd)
{
    if ((size_t)fd < server->nconns)
        return 0;
    size_t n = server->nconns ? server->nconns : 64;
    while (n <= (size_t)fd)
        n *= 2;
    struct connection **bigger = realloc(server->conns, n * sizeof(*bigger));
    if (!bigger)
        return -1;
    memset(bigger + server->nconns, 0,
           (n - server->nconns) * sizeof(*bigger));
    server->conns = bigger;
    server->nconns = n;
    return 0;
}

/* A connection ended: forget it and drop the table's reference. Its fd is
 * closed by the last reference, so the slot is free before the fd number
 * can come back from accept(). */
static void remove_connection(void *ctx, struct connection *conn)
{
    struct tcp_server *server = ctx;
    server->conns[conn_fd(conn)] = NULL;
    conn_unref(conn);
}

/* The acceptor's callback: wrap the socket in a connection and keep it. */
static void new_connection(void *ctx, struct socket *sock,
                           const struct inet_address *peer)
{
    struct tcp_server *server = ctx;
    int fd = sock->fd;

    if (reserve_slot(server, fd) < 0) {
        log_error("new connection: %s", strerror(errno));
        socket_close(sock);
        return;
    }
    struct connection *conn = conn_new(server->loop, sock, peer,
                                       server->options.max_payload);
    if (!conn) {
        log_error("new connection: %s", strerror(errno));
        socket_close(sock);
        return;
    }
    conn_set_message_callback(conn, server->message_callback,
                              server->message_ctx);
    conn_set_close_callback(conn, remove_connection, server);
    server->conns[fd] = conn;
    if (conn_establish(conn) < 0) {
        log_error("new connection: %s", strerror(errno));
        conn_close(conn);
    }
}

struct tcp_server *tcp_server_new(struct event_loop *loop,
                                  const struct inet_address *addr,
                                  const struct tcp_server_options *options)
{
    struct tcp_server *server = calloc(1, sizeof(*server));
    if (!server)
        return NULL;
    server->loop = loop;
    server->options = *options;
    server->acceptor = acceptor_new(loop, addr, new_connection, server);
    if (!server->acceptor) {
        int saved = errno;
        free(server);
        errno = saved;
        return NULL;
    }
    return server;
}

void tcp_server_free(struct tcp_server *server)
{
    if (!server)
        return;
    acceptor_free(server->acceptor);
    for (size_t fd = 0; fd < server->nconns; fd++)
        if (server->conns[fd])
            conn_close(server->conns[fd]);     /* drops the table's reference */
    free(server->conns);
    free(server);
}

void tcp_server_set_message_callback(struct tcp_server *server,
                                     conn_message_callback fn, void *ctx)
{
    server->message_callback = fn;
    server->message_ctx = ctx;
}

int tcp_server_start(struct tcp_server *server)
{
    return acceptor_listen(server->acceptor);
}

int tcp_server_local_address(const struct tcp_server *server,
                             struct inet_address *addr)
{
    return acceptor_local_address(server->acceptor, addr);
}
