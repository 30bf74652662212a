/* connection.h - the Connection class: one TCP connection, accepted by a
 * server (tcp_server) or made by a client (tcp_client).
 *
 * A connection owns its socket, its channel and two Buffers. On readable it
 * reads what the socket has, cuts the input into framed messages (codec.h)
 * and hands each one to the message callback. conn_send_message() frames a
 * reply into the output buffer; the connection writes it when the current
 * batch of messages is done (or at once, outside a batch), and what the
 * kernel does not take waits for EPOLLOUT. While more than CONN_HIGH_WATER
 * bytes wait (in the output buffer or in workers), the connection stops
 * taking messages and stops reading (back-pressure, checked per message).
 * One readable event reads at most CONN_READ_BUDGET bytes, so one peer
 * cannot hold the loop. When the peer closes its write side, or sends a
 * header over the limit, every reply owed is sent before the close,
 * including replies still in workers.
 * A connection idle for its idle timeout is closed: nothing read from it,
 * nothing written to it, no job in a worker; so is one that has held one
 * incomplete message that long (a trickling sender).
 *
 * What it holds (buffer storage, and what workers hold for it) is reported
 * to its owner after every event and task that changed it, for the
 * server's memory budget, which may ask any connection to go (conn_evict).
 *
 * Lifetime: a connection is reference counted. conn_new() returns it with
 * one reference, which its owner (the server's table) keeps until the close
 * callback. A channel event holds a reference while it runs (channel_tie).
 * The last conn_unref() closes the fd and frees the memory; conn_close()
 * only ends the connection, exactly once, whoever asks.
 *
 * Threads: everything that touches a connection's buffers, channel and
 * state runs in its loop's thread, so nothing needs a lock. Other threads
 * call conn_establish(), conn_send_message() and conn_end_async(): each
 * becomes a task on the connection's loop (event_loop_run_in_loop), which
 * holds a reference until it has run. conn_ref() and conn_unref(): any
 * thread.
 */
#ifndef CONNECTION_H
#define CONNECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "inet_address.h"
#include "socket.h"

#define CONN_HIGH_WATER (4u << 20)  /* output bytes that pause reading */
#define CONN_ASYNC_HIGH_WATER (64u << 10) /* bytes in workers that pause it */
#define CONN_DIRECT_WRITE 65536     /* a reply this large skips the output copy */
#define CONN_MAX_PARTS 8            /* parts of one conn_send_message() */
#define CONN_STACK_REPLIES 16384    /* stack for the replies to one read */
#define CONN_READ_BUDGET (256u << 10) /* bytes read per event, at most */

struct connection;
struct event_loop;

/* One whole message; payload is valid only during the call. */
typedef void (*conn_message_callback)(void *ctx, struct connection *conn,
                                      const char *payload, size_t len);

/* The connection is over (closed by the peer, an error, or conn_close()):
 * the callee drops the owner's reference. */
typedef void (*conn_close_callback)(void *ctx, struct connection *conn);

/* What the connection makes the server hold changed from was to now bytes
 * (the storage of its buffers, and what workers hold for it), for a memory
 * budget. In its loop's thread, or in the thread that drops its last
 * reference (then now is 0). */
typedef void (*conn_held_callback)(void *ctx, struct connection *conn,
                                   size_t was, size_t now);

/* Takes *sock over. max_payload: a larger header is a protocol error; the
 * replies owed for the requests before it go out, then the connection
 * closes. NULL with errno on failure (sock is then still the caller's). */
struct connection *conn_new(struct event_loop *loop, struct socket *sock,
                            const struct inet_address *peer,
                            size_t max_payload);

void conn_set_message_callback(struct connection *conn,
                               conn_message_callback fn, void *ctx);
void conn_set_close_callback(struct connection *conn, conn_close_callback fn,
                             void *ctx);
void conn_set_held_callback(struct connection *conn, conn_held_callback fn,
                            void *ctx);

/* The bytes it holds, as last reported. Any thread: a moment's value. */
size_t conn_held(const struct connection *conn);

/* The server is over its memory budget, and this connection holds the
 * most: marks it, and its loop closes it with a warning line. Any thread.
 * Returns what it held when marked, or 0 if it holds nothing or was marked
 * already. */
size_t conn_evict(struct connection *conn);

/* What conn_evict() marked it with, or 0. Any thread. */
size_t conn_evict_mark(const struct connection *conn);

/* Closes the connection once it has been idle for idle_ms, or has held one
 * incomplete message that long, unless the server paused reading it (0,
 * the default: never). Call before conn_establish(). */
void conn_set_idle_timeout(struct connection *conn, uint64_t idle_ms);

/* Starts reading: puts the channel in the loop, edge-triggered. Any thread
 * (the work is done in the loop's thread). -1 with errno if it cannot be
 * handed over; a failure in the loop closes the connection. */
int conn_establish(struct connection *conn);

int conn_fd(const struct connection *conn);

void conn_ref(struct connection *conn);
void conn_unref(struct connection *conn);

/* Sends one framed message whose payload is the concatenation of parts.
 * Dropped if the connection is closed. Any thread: from another thread
 * the message is copied and sent by a task in the loop. */
void conn_send_message(struct connection *conn, const struct iovec *parts,
                       int nparts);

/* A message was handed to another thread, which owes a reply: until
 * conn_end_async(), a half-closed connection stays open and cost counts
 * against CONN_HIGH_WATER. cost: the bytes held for the job meanwhile (the
 * job with its copy of the message, its reply, their bookkeeping), as the
 * caller counts them. Loop thread. */
void conn_begin_async(struct connection *conn, size_t cost);

/* The reply for such a message was sent (or dropped); cost as given to
 * conn_begin_async(). Any thread. */
void conn_end_async(struct connection *conn, size_t cost);

/* Whether the connection stops reading while more than CONN_HIGH_WATER
 * bytes wait to be sent (on by default). A server's output is its replies
 * to what it reads, so stopping is back-pressure. A client's output is its
 * requests: if it stopped reading the replies, and the server stopped
 * reading the requests for the same reason, neither would move. Call
 * before conn_establish(). */
void conn_set_pause_on_output(struct connection *conn, bool on);

/* Messages sent from conn_begin_batch() to conn_end_batch() are written
 * together at the end, as the replies to one read are. Loop thread. */
void conn_begin_batch(struct connection *conn);
void conn_end_batch(struct connection *conn);

/* Sends FIN once the output is out (a half-close): the connection goes on
 * reading, and ends when the peer closes. Nothing may be sent after it.
 * Loop thread. */
void conn_shutdown(struct connection *conn);

/* Bytes waiting to be sent. Loop thread. */
size_t conn_output_pending(const struct connection *conn);

/* Ends the connection now: out of the loop, then the close callback.
 * Pending output is dropped. Idempotent. Loop thread. */
void conn_close(struct connection *conn);

#endif
