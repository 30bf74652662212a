/* net.h - client sockets to 127.0.0.1 for the harness. Every socket is
 * non-blocking and close-on-exec; waiting is done with poll() and deadlines.
 */
#ifndef NET_H
#define NET_H

#include <stddef.h>
#include <stdint.h>

/* Starts a non-blocking connect to 127.0.0.1:port. Returns the fd (the
 * connection may still be in progress) or -1 with errno. */
int net_connect_start(uint16_t port);

/* After POLLOUT on a connecting fd: 0 if connected, else -1 with errno. */
int net_connect_result(int fd);

/* Connects within timeout_ms. Returns the fd or -1 with errno. */
int net_connect(uint16_t port, int timeout_ms);

/* poll() one fd until an event or the deadline; returns revents, 0 on
 * timeout. */
int net_wait(int fd, short events, int64_t deadline);

/* Sends all of p before the deadline. 0, or -1 with errno (ETIMEDOUT). */
int net_send_all(int fd, const void *p, size_t n, int64_t deadline);

/* Reads until the peer closes (EOF or reset), discarding data, and counts
 * the bytes in *got. Returns 1 when closed, 0 at the deadline. */
int net_await_close(int fd, int64_t deadline, size_t *got);

void net_nodelay(int fd);

/* Closes with SO_LINGER {1, 0}: the peer sees a reset, not a FIN. */
void net_close_rst(int fd);

/* Closes every fd >= 0 in fds[0..n) and sets it to -1. */
void net_close_all(int *fds, int n);

#endif
