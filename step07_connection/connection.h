/* connection.h - the Connection class: one accepted TCP connection.
 *
 * A connection owns its socket and its channel. Its channel callbacks echo
 * what the peer sends; when the connection ends (EOF, reset, error) it
 * tells its owner through the close callback, and the owner frees it.
 * Runs in its loop's thread only.
 */
#ifndef CONNECTION_H
#define CONNECTION_H

#include "inet_address.h"
#include "socket.h"

struct connection;
struct event_loop;

/* The connection is over; the callee must conn_free() it (not before this
 * callback returns, which is the last thing the connection does). */
typedef void (*conn_close_callback)(void *ctx, struct connection *conn);

/* Takes *sock over. NULL with errno on failure (sock is then still the
 * caller's). */
struct connection *conn_new(struct event_loop *loop, struct socket *sock,
                            const struct inet_address *peer);

void conn_set_close_callback(struct connection *conn, conn_close_callback fn,
                             void *ctx);

/* Starts reading: puts the channel in the loop, edge-triggered. */
int conn_establish(struct connection *conn);

int conn_fd(const struct connection *conn);

/* Removes the channel from the loop, then closes the socket, then frees. */
void conn_free(struct connection *conn);

#endif
