/* acceptor.h - the Acceptor class: the listening socket and its channel.
 *
 * acceptor_new() does the classic server steps (socket, options, bind,
 * listen); acceptor_listen() puts the listening channel in the loop. Each
 * accepted connection is reported to the owner through new_connection,
 * which takes the socket over. When accept() fails for lack of fds or
 * memory, the acceptor stops watching for ACCEPTOR_PAUSE_MS instead of
 * spinning on a listening socket that stays readable. Runs in the loop's
 * thread only.
 */
#ifndef ACCEPTOR_H
#define ACCEPTOR_H

#include "inet_address.h"
#include "socket.h"

#define ACCEPTOR_PAUSE_MS 100

struct acceptor;
struct event_loop;

/* Called once per accepted connection; the callee owns *sock from now on. */
typedef void (*acceptor_new_connection_callback)(void *ctx, struct socket *sock,
                                                 const struct inet_address *peer);

/* Binds and listens on addr. NULL with errno on failure (EADDRINUSE,
 * EADDRNOTAVAIL, ... from the call that failed). */
struct acceptor *acceptor_new(struct event_loop *loop,
                              const struct inet_address *addr,
                              acceptor_new_connection_callback fn, void *ctx);

/* Removes the channel from the loop and closes the listening socket. */
void acceptor_free(struct acceptor *a);

/* Starts watching the listening socket for connections. */
int acceptor_listen(struct acceptor *a);

/* The address actually bound (the real port when asked for port 0). */
int acceptor_local_address(const struct acceptor *a, struct inet_address *addr);

#endif
