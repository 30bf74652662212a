/* tcp_client.c - see tcp_client.h. */
#include "tcp_client.h"

#include <errno.h>
#include <stdlib.h>

#include "event_loop.h"

struct tcp_client {
    struct event_loop *loop;       /* not owned */
    struct inet_address addr;      /* the server */
    size_t max_payload;            /* for the connection */
    struct connector *connector;   /* owned */
    struct connection *conn;       /* a reference, or NULL */
    bool reconnect;                /* connect again when conn is lost */
    bool stopped;                  /* tcp_client_stop() or _disconnect() */
    conn_message_callback message_callback;
    void *message_ctx;             /* for message_callback; not owned */
    tcp_client_connection_callback connection_callback;
    void *connection_ctx;          /* for connection_callback; not owned */
    connector_failed_callback failed_callback;
    void *failed_ctx;              /* for failed_callback; not owned */
};

static void report_failure(struct tcp_client *cli, int err, uint64_t retry_ms)
{
    if (cli->failed_callback)
        cli->failed_callback(cli->failed_ctx, err, retry_ms);
}

/* The connection is over: it is not the client's any more. */
static void connection_closed(void *ctx, struct connection *conn)
{
    struct tcp_client *cli = ctx;
    cli->conn = NULL;
    if (cli->connection_callback)
        cli->connection_callback(cli->connection_ctx, conn, false);
    conn_unref(conn);                          /* the client's reference */
    if (cli->reconnect && !cli->stopped && connector_start(cli->connector) < 0)
        report_failure(cli, errno, 0);
}

/* The connector's callback: the socket becomes the connection. */
static void connected(void *ctx, struct socket *sock)
{
    struct tcp_client *cli = ctx;
    struct connection *conn = conn_new(cli->loop, sock, &cli->addr,
                                       cli->max_payload);
    if (!conn) {
        int err = errno;
        socket_close(sock);
        report_failure(cli, err, 0);
        return;
    }
    /* Its output is requests: reading the replies must never wait for it. */
    conn_set_pause_on_output(conn, false);
    conn_set_message_callback(conn, cli->message_callback, cli->message_ctx);
    conn_set_close_callback(conn, connection_closed, cli);
    cli->conn = conn;
    /* In the loop's thread: it starts reading now, or closes. */
    conn_establish(conn);
    if (cli->conn && cli->connection_callback)
        cli->connection_callback(cli->connection_ctx, conn, true);
}

static void connect_failed(void *ctx, int err, uint64_t retry_ms)
{
    report_failure(ctx, err, retry_ms);
}

struct tcp_client *tcp_client_new(struct event_loop *loop,
                                  const struct inet_address *addr,
                                  size_t max_payload)
{
    struct tcp_client *cli = calloc(1, sizeof(*cli));
    if (!cli)
        return NULL;
    cli->connector = connector_new(loop, addr);
    if (!cli->connector) {
        free(cli);
        errno = ENOMEM;
        return NULL;
    }
    cli->loop = loop;
    cli->addr = *addr;
    cli->max_payload = max_payload;
    connector_set_connected_callback(cli->connector, connected, cli);
    connector_set_failed_callback(cli->connector, connect_failed, cli);
    return cli;
}

void tcp_client_free(struct tcp_client *cli)
{
    if (!cli)
        return;
    cli->stopped = true;
    connector_free(cli->connector);
    if (cli->conn)
        conn_close(cli->conn);                 /* connection_closed: unref */
    free(cli);
}

void tcp_client_set_message_callback(struct tcp_client *cli,
                                     conn_message_callback fn, void *ctx)
{
    cli->message_callback = fn;
    cli->message_ctx = ctx;
}

void tcp_client_set_connection_callback(struct tcp_client *cli,
                                        tcp_client_connection_callback fn,
                                        void *ctx)
{
    cli->connection_callback = fn;
    cli->connection_ctx = ctx;
}

void tcp_client_set_connect_failed_callback(struct tcp_client *cli,
                                            connector_failed_callback fn,
                                            void *ctx)
{
    cli->failed_callback = fn;
    cli->failed_ctx = ctx;
}

void tcp_client_set_retry(struct tcp_client *cli, bool on)
{
    connector_set_retry(cli->connector, on);
}

void tcp_client_set_reconnect(struct tcp_client *cli, bool on)
{
    cli->reconnect = on;
}

int tcp_client_connect(struct tcp_client *cli)
{
    cli->stopped = false;
    return connector_start(cli->connector);
}

void tcp_client_disconnect(struct tcp_client *cli)
{
    tcp_client_stop(cli);
    if (cli->conn)
        conn_shutdown(cli->conn);
}

void tcp_client_stop(struct tcp_client *cli)
{
    cli->stopped = true;
    connector_stop(cli->connector);
}

struct connection *tcp_client_connection(const struct tcp_client *cli)
{
    return cli->conn;
}
