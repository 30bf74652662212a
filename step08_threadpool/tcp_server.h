/* tcp_server.h - the TcpServer class: an acceptor and its connections.
 *
 * The server owns its Acceptor and every Connection, in a table indexed by
 * fd. The acceptor reports each new socket to tcp_server, which wraps it in
 * a connection; a connection that ends reports back, and the server takes it
 * out of the table and drops its reference. What a message means is not the
 * server's business: it passes every message to the message callback.
 * Runs in the loop's thread only.
 */
#ifndef TCP_SERVER_H
#define TCP_SERVER_H

#include <stddef.h>

#include "connection.h"
#include "inet_address.h"

struct event_loop;
struct tcp_server;

struct tcp_server_options {
    size_t max_payload;       /* -m: largest message payload accepted */
};

/* Binds and listens on addr. NULL with errno on failure. */
struct tcp_server *tcp_server_new(struct event_loop *loop,
                                  const struct inet_address *addr,
                                  const struct tcp_server_options *options);

/* Every connection's messages go to fn(ctx, ...). Set before starting. */
void tcp_server_set_message_callback(struct tcp_server *server,
                                     conn_message_callback fn, void *ctx);

/* Closes every connection and the listener, frees the server. */
void tcp_server_free(struct tcp_server *server);

/* Starts accepting in the loop. */
int tcp_server_start(struct tcp_server *server);

/* The address actually bound (the real port when asked for port 0). */
int tcp_server_local_address(const struct tcp_server *server,
                             struct inet_address *addr);

#endif
