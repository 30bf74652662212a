/* tcp_server.h - the TcpServer class: an acceptor and its connections.
 *
 * The server owns its Acceptor and every Connection, in a table indexed by
 * fd. The acceptor reports each new socket to tcp_server, which wraps it in
 * a connection; a connection that ends reports back, and the server takes it
 * out of the table and drops its reference. What a message means is not the
 * server's business: it passes every message to the message callback.
 *
 * With io_threads > 0 the loop given to tcp_server_new() is the main
 * reactor: it only accepts, and each new connection goes, round-robin, to
 * one of io_threads sub-reactors, each an event loop in its own thread.
 * With 0 the main loop does all the I/O itself. The connection table is
 * shared by the main thread (adds) and the I/O threads (removes) under a
 * mutex taken once per connection, never per message.
 *
 * The memory budget: each connection reports what it holds when that
 * changes (an atomic add), and a total over memory_budget has the
 * connections holding the most closed, largest first, until it is under
 * again (the scan takes the table's mutex, over budget only). Once a
 * second the main loop gives freed memory back to the kernel if the
 * connections hold next to nothing. The functions below are for the main
 * loop's thread.
 */
#ifndef TCP_SERVER_H
#define TCP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "connection.h"
#include "inet_address.h"

struct event_loop;
struct tcp_server;

struct tcp_server_options {
    size_t max_payload;       /* -m: largest message payload accepted */
    int io_threads;           /* -t: sub-reactors; 0: the main loop does I/O */
    unsigned idle_seconds;    /* -i: close connections idle this long; 0: never */
    size_t memory_budget;     /* -M: bytes all connections may hold; 0: no limit */
};

#define TCP_SERVER_TRIM_MS 1000           /* how often memory is given back */
#define TCP_SERVER_TRIM_IDLE (1u << 20)   /* ... when connections hold at most this */
#define TCP_SERVER_TRIM_SLACK (1u << 20)  /* ... and glibc keeps more than this free */

/* Binds and listens on addr and starts the I/O threads. NULL with errno
 * on failure. */
struct tcp_server *tcp_server_new(struct event_loop *loop,
                                  const struct inet_address *addr,
                                  const struct tcp_server_options *options);

/* Every connection's messages go to fn(ctx, ...). Set before starting. */
void tcp_server_set_message_callback(struct tcp_server *server,
                                     conn_message_callback fn, void *ctx);

/* Stops accepting and stops the I/O threads (joined when it returns). The
 * connections stay, untouched, until tcp_server_free(). Idempotent. */
void tcp_server_stop(struct tcp_server *server);

/* Stops the server if it runs, closes every connection, frees the
 * server. */
void tcp_server_free(struct tcp_server *server);

/* Starts accepting in the loop. */
int tcp_server_start(struct tcp_server *server);

/* What all connections hold now (buffers, and what workers hold for
 * them): what the memory budget is checked against. Any thread. */
size_t tcp_server_held(const struct tcp_server *server);

/* An I/O loop failed and asked the main loop to quit: the server cannot
 * go on. */
bool tcp_server_failed(const struct tcp_server *server);

/* The address actually bound (the real port when asked for port 0). */
int tcp_server_local_address(const struct tcp_server *server,
                             struct inet_address *addr);

#endif
