/* echo_server.h - the EchoServer class: the business logic.
 *
 * It owns a TcpServer and answers each message with one reply whose payload
 * is "reply:" followed by the request's payload. The TcpServer below knows
 * nothing about what a message means.
 *
 * With workers > 0 it also owns a pool of worker threads: the I/O thread
 * copies each message into a job for the worker chosen by the connection
 * (so one connection's replies keep their order), and the worker computes
 * and sends the reply. The functions below are for the main loop's thread.
 */
#ifndef ECHO_SERVER_H
#define ECHO_SERVER_H

#include <stdbool.h>

#include "inet_address.h"
#include "tcp_server.h"

struct echo_server;
struct event_loop;

/* Binds and listens on addr, starts the threads. NULL with errno on
 * failure. */
struct echo_server *echo_server_new(struct event_loop *loop,
                                    const struct inet_address *addr,
                                    const struct tcp_server_options *options,
                                    int workers);
void echo_server_free(struct echo_server *es);

int echo_server_start(struct echo_server *es);

/* What all connections hold now (tcp_server_held). Any thread. */
size_t echo_server_held(const struct echo_server *es);

/* The server cannot go on (tcp_server_failed). */
bool echo_server_failed(const struct echo_server *es);

/* The address actually bound (the real port when asked for port 0). */
int echo_server_local_address(const struct echo_server *es,
                              struct inet_address *addr);

#endif
