/* socket.h - the Socket class: one TCP socket file descriptor.
 *
 * A struct socket owns its fd: socket_close() closes it, once. The struct is
 * small and is embedded by value in whoever owns the socket (the listener,
 * a connection). Every function returns 0 (or an fd) on success and -1 with
 * errno on failure; the caller decides what a failure means. The calls
 * made here are retried on EINTR here.
 */
#ifndef SOCKET_H
#define SOCKET_H

#include <stdbool.h>

#include "inet_address.h"

struct socket {
    int fd;  /* owned: closed by socket_close(); -1 when closed */
};

/* Opens a non-blocking, close-on-exec IPv4 TCP socket. */
int socket_open(struct socket *s);

/* Takes ownership of an fd that is already open (an accepted connection). */
void socket_init(struct socket *s, int fd);

/* Closes the fd if it is open. */
void socket_close(struct socket *s);

int socket_set_reuse_addr(struct socket *s, bool on);  /* SO_REUSEADDR */
int socket_set_reuse_port(struct socket *s, bool on);  /* SO_REUSEPORT (unused: see notes/step03) */
int socket_set_tcp_nodelay(struct socket *s, bool on); /* TCP_NODELAY */
int socket_set_keep_alive(struct socket *s, bool on);  /* SO_KEEPALIVE */

int socket_bind(struct socket *s, const struct inet_address *addr);
int socket_listen(struct socket *s);                   /* backlog SOMAXCONN */

/* Accepts one connection as a non-blocking, close-on-exec socket in
 * *client, its peer's address in *peer (may be NULL). -1 with errno EAGAIN
 * when no connection is waiting. */
int socket_accept(struct socket *s, struct socket *client,
                  struct inet_address *peer);

/* The address the socket is bound to (the real port after binding port 0). */
int socket_local_address(const struct socket *s, struct inet_address *addr);

/* Sends FIN: the peer reads EOF, and we may still read what it sends. */
int socket_shutdown_write(struct socket *s);

/* Starts connecting a non-blocking socket to addr: 0 if it connected at
 * once, else -1 with errno. EINPROGRESS means the handshake goes on: the
 * socket turns writable when it is over, and socket_error() says how it
 * went. */
int socket_connect(struct socket *s, const struct inet_address *addr);

/* Takes the socket's pending error (SO_ERROR): 0 if there is none, or the
 * errno value (the errno of getsockopt() if even that fails). */
int socket_error(struct socket *s);

/* The address of the peer (getpeername). */
int socket_peer_address(const struct socket *s, struct inet_address *addr);

/* Bytes written to the socket that the peer has not acknowledged yet
 * (SIOCOUTQ: sent and unacknowledged, or not sent yet). */
int socket_unacked(const struct socket *s, size_t *bytes);

#endif
