/* echo_server.c - see echo_server.h. */
#include "echo_server.h"

#include <errno.h>
#include <stdlib.h>

#include "connection.h"

struct echo_server {
    struct tcp_server *server;     /* owned */
};

/* HandleMessage in the course: one request in, one reply out. */
static void handle_message(void *ctx, struct connection *conn,
                           const char *payload, size_t len)
{
    static const char prefix[] = "reply:";
    (void)ctx;
    struct iovec parts[2] = {
        { .iov_base = (void *)prefix, .iov_len = sizeof(prefix) - 1 },
        { .iov_base = (void *)payload, .iov_len = len },
    };
    conn_send_message(conn, parts, 2);
}

struct echo_server *echo_server_new(struct event_loop *loop,
                                    const struct inet_address *addr,
                                    const struct tcp_server_options *options)
{
    struct echo_server *es = malloc(sizeof(*es));
    if (!es)
        return NULL;
    es->server = tcp_server_new(loop, addr, options);
    if (!es->server) {
        int saved = errno;
        free(es);
        errno = saved;
        return NULL;
    }
    tcp_server_set_message_callback(es->server, handle_message, es);
    return es;
}

void echo_server_free(struct echo_server *es)
{
    if (!es)
        return;
    tcp_server_free(es->server);
    free(es);
}

int echo_server_start(struct echo_server *es)
{
    return tcp_server_start(es->server);
}

int echo_server_local_address(const struct echo_server *es,
                              struct inet_address *addr)
{
    return tcp_server_local_address(es->server, addr);
}
