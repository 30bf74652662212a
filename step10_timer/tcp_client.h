/* tcp_client.h - the TcpClient class: a connector and the connection it
 * makes.
 *
 * The client side of the reactor, next to TcpServer: it owns a Connector
 * (connector.h) and at most one Connection (connection.h, the same class
 * the server uses), made from the connector's socket. Messages that arrive
 * go to the message callback; the connection callback hears when the
 * connection is up and when it is over; the connect-failed callback hears
 * each failed attempt (and whether another one comes). With reconnect on,
 * a connection that is lost is made again (muduo's TcpClient::retry).
 *
 * Loop thread only: every function, and every callback runs there. A
 * callback may call any function here but tcp_client_free().
 */
#ifndef TCP_CLIENT_H
#define TCP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "connection.h"
#include "connector.h"
#include "inet_address.h"

struct event_loop;
struct tcp_client;

/* up: the connection is established; !up: it is over, and conn is not
 * the client's any more (the callee may keep a reference of its own). */
typedef void (*tcp_client_connection_callback)(void *ctx,
                                               struct connection *conn,
                                               bool up);

/* max_payload: the largest message accepted from the server. NULL with
 * errno ENOMEM. */
struct tcp_client *tcp_client_new(struct event_loop *loop,
                                  const struct inet_address *addr,
                                  size_t max_payload);

/* Stops connecting, closes the connection if there is one (pending output
 * is dropped), frees the client. */
void tcp_client_free(struct tcp_client *cli);

void tcp_client_set_message_callback(struct tcp_client *cli,
                                     conn_message_callback fn, void *ctx);
void tcp_client_set_connection_callback(struct tcp_client *cli,
                                        tcp_client_connection_callback fn,
                                        void *ctx);
void tcp_client_set_connect_failed_callback(struct tcp_client *cli,
                                            connector_failed_callback fn,
                                            void *ctx);

/* Retry a failed connect with back-off (connector.h). Off by default. */
void tcp_client_set_retry(struct tcp_client *cli, bool on);

/* Connect again when an established connection is lost. Off by default. */
void tcp_client_set_reconnect(struct tcp_client *cli, bool on);

/* Starts connecting. -1 with errno ENOMEM. */
int tcp_client_connect(struct tcp_client *cli);

/* No more messages will be sent: half-closes the connection once its
 * output is out, and does not reconnect when the server then closes. */
void tcp_client_disconnect(struct tcp_client *cli);

/* Stops connecting (and reconnecting); a connection keeps going. */
void tcp_client_stop(struct tcp_client *cli);

/* The connection, or NULL when there is none. */
struct connection *tcp_client_connection(const struct tcp_client *cli);

#endif
