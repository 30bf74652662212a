/* connector.h - the Connector class: one outgoing TCP connection, made
 * without blocking, and tried again with back-off.
 *
 * An attempt opens a non-blocking socket and calls connect(). The kernel
 * says at once that the handshake goes on (EINPROGRESS); the socket turns
 * writable when it is over, and SO_ERROR then says how it went. A
 * connection that came back to its own socket (a self-connect: see
 * connector.c) counts as refused. On success the socket goes to the
 * connected callback, which owns it from then on. On failure the failed
 * callback hears the error and the delay before the next attempt: with
 * retrying on, CONNECTOR_FIRST_DELAY_MS, doubling up to
 * CONNECTOR_MAX_DELAY_MS, for the errors that may pass (refused, timed
 * out, unreachable...); otherwise 0, and the connector is idle again.
 *
 *   IDLE --start--> WAITING --timer--> CONNECTING --writable--> IDLE (connected)
 *                      ^                    |
 *                      +----- failed -------+   (retry on; else IDLE)
 *
 * connector_stop() cancels whatever is under way, at any time, and no fd
 * outlives the state that owns it. Nothing happens inside
 * connector_start(): the first attempt is a timer of 0 ms, so callbacks
 * only ever run from the loop.
 *
 * Loop thread only: every function, and every callback runs there. A
 * callback may call connector_stop() or connector_start(), but must not
 * free the connector.
 */
#ifndef CONNECTOR_H
#define CONNECTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "inet_address.h"
#include "socket.h"

#define CONNECTOR_FIRST_DELAY_MS 500   /* the first back-off */
#define CONNECTOR_MAX_DELAY_MS 8000    /* the back-off doubles up to this */

struct connector;
struct event_loop;

/* Connected: the callee takes *sock over. */
typedef void (*connector_connected_callback)(void *ctx, struct socket *sock);

/* An attempt failed with err (an errno value). retry_ms: the next attempt
 * comes that much later; 0: there is none, the connector is idle. */
typedef void (*connector_failed_callback)(void *ctx, int err,
                                          uint64_t retry_ms);

/* NULL with errno ENOMEM. */
struct connector *connector_new(struct event_loop *loop,
                                const struct inet_address *addr);

/* Stops it (closing a socket still connecting) and frees it. */
void connector_free(struct connector *c);

void connector_set_connected_callback(struct connector *c,
                                      connector_connected_callback fn,
                                      void *ctx);
void connector_set_failed_callback(struct connector *c,
                                   connector_failed_callback fn, void *ctx);

/* Whether a failed attempt is tried again. Off by default. */
void connector_set_retry(struct connector *c, bool on);

/* Starts connecting, with the back-off reset to its first delay. A
 * connector that is already at it goes on. -1 with errno if not even the
 * first attempt can be scheduled (ENOMEM). */
int connector_start(struct connector *c);

/* Cancels the attempt under way, or the wait for the next one. Idempotent. */
void connector_stop(struct connector *c);

/* The back-off after delay_ms: doubled, at most CONNECTOR_MAX_DELAY_MS. */
uint64_t connector_next_delay(uint64_t delay_ms);

#endif
