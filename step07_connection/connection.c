/* connection.c - see connection.h. */
#include "connection.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "channel.h"
#include "log.h"

#define READ_CHUNK 65536    /* bytes asked of one recv() */

struct connection {
    struct socket sock;            /* owned */
    struct channel channel;        /* ctx = this connection */
    struct inet_address peer;      /* the client's address */
    char  *pending;                /* owned: bytes read but not yet echoed, or NULL */
    size_t pending_len;            /* bytes in pending */
    size_t pending_off;            /* bytes of pending already sent */
    conn_close_callback close_callback;
    void *close_ctx;               /* for close_callback; not owned */
};

/* Sends what the socket takes now. Returns the bytes sent (maybe fewer than
 * len when the send buffer is full), or -1 on error. */
static ssize_t send_some(int fd, const char *buf, size_t len)
{
    size_t sent = 0;
    while (sent < len) {
        ssize_t n = send(fd, buf + sent, len - sent, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return -1;
        }
        sent += (size_t)n;
    }
    return (ssize_t)sent;
}

/* The end of a connection: the owner frees it. Nothing may touch conn
 * after this call. */
static void handle_close(void *ctx)
{
    struct connection *conn = ctx;
    conn->close_callback(conn->close_ctx, conn);
}

/* The peer sent something (or closed, or failed): echo what is there.
 * Edge-triggered: read until EAGAIN, or the rest would wait forever. */
static void handle_read(void *ctx)
{
    static char buf[READ_CHUNK];
    struct connection *conn = ctx;

    for (;;) {
        ssize_t n = recv(conn->sock.fd, buf, sizeof(buf), 0);
        if (n == 0) {
            handle_close(conn);               /* peer closed its write side */
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                handle_close(conn);           /* ECONNRESET and friends */
            return;
        }
        ssize_t sent = send_some(conn->sock.fd, buf, (size_t)n);
        if (sent < 0) {
            handle_close(conn);
            return;
        }
        if (sent < n) {
            /* The send buffer is full: keep the rest, stop reading. */
            conn->pending_len = (size_t)(n - sent);
            conn->pending_off = 0;
            conn->pending = malloc(conn->pending_len);
            if (!conn->pending || channel_disable_reading(&conn->channel) < 0 ||
                channel_enable_writing(&conn->channel) < 0) {
                log_error("pending: %s", strerror(errno));
                handle_close(conn);
                return;
            }
            memcpy(conn->pending, buf + sent, conn->pending_len);
            return;
        }
    }
}

/* The send buffer has room again: send the pending chunk, then read again. */
static void handle_write(void *ctx)
{
    struct connection *conn = ctx;
    ssize_t sent = send_some(conn->sock.fd, conn->pending + conn->pending_off,
                             conn->pending_len - conn->pending_off);
    if (sent < 0) {
        handle_close(conn);
        return;
    }
    conn->pending_off += (size_t)sent;
    if (conn->pending_off < conn->pending_len)
        return;                               /* wait for the next EPOLLOUT */
    free(conn->pending);
    conn->pending = NULL;
    /* EPOLL_CTL_MOD re-checks readiness: data that arrived meanwhile is
     * reported even in ET mode. */
    if (channel_disable_writing(&conn->channel) < 0 ||
        channel_enable_reading(&conn->channel) < 0)
        handle_close(conn);
}

struct connection *conn_new(struct event_loop *loop, struct socket *sock,
                            const struct inet_address *peer)
{
    struct connection *conn = calloc(1, sizeof(*conn));
    if (!conn)
        return NULL;
    conn->sock = *sock;
    conn->peer = *peer;
    channel_init(&conn->channel, loop, sock->fd, conn);
    channel_set_read_callback(&conn->channel, handle_read);
    channel_set_write_callback(&conn->channel, handle_write);
    channel_set_close_callback(&conn->channel, handle_close);
    channel_set_error_callback(&conn->channel, handle_close);
    channel_use_et(&conn->channel);
    return conn;
}

void conn_set_close_callback(struct connection *conn, conn_close_callback fn,
                             void *ctx)
{
    conn->close_callback = fn;
    conn->close_ctx = ctx;
}

int conn_establish(struct connection *conn)
{
    return channel_enable_reading(&conn->channel);
}

int conn_fd(const struct connection *conn)
{
    return conn->sock.fd;
}

void conn_free(struct connection *conn)
{
    /* Leave the epoll set before close(): the fd number is reused at once. */
    channel_remove(&conn->channel);
    socket_close(&conn->sock);
    free(conn->pending);
    free(conn);
}
