/* connector.c - see connector.h. */
#include "connector.h"

#include <errno.h>
#include <stdlib.h>

#include "channel.h"
#include "event_loop.h"

enum connector_state {
    CONNECTOR_IDLE,                /* nothing under way */
    CONNECTOR_WAITING,             /* the timer brings the next attempt */
    CONNECTOR_CONNECTING,          /* sock is open, the handshake goes on */
};

struct connector {
    struct event_loop *loop;       /* not owned */
    struct inet_address addr;      /* where to */
    enum connector_state state;
    struct socket sock;            /* owned while CONNECTING; else fd -1 */
    struct channel channel;        /* watches sock while CONNECTING */
    struct timer timer;            /* armed while WAITING */
    uint64_t delay_ms;             /* the back-off before the next retry */
    bool retry;                    /* try again after a failure */
    connector_connected_callback connected;
    void *connected_ctx;           /* for connected; not owned */
    connector_failed_callback failed;
    void *failed_ctx;              /* for failed; not owned */
};

uint64_t connector_next_delay(uint64_t delay_ms)
{
    return delay_ms >= CONNECTOR_MAX_DELAY_MS / 2 ? CONNECTOR_MAX_DELAY_MS
                                                  : delay_ms * 2;
}

/* Whether trying again may help: the peer is not there yet, or the path
 * to it, or a local port for it. Anything else (EACCES, EAFNOSUPPORT, a
 * bad fd...) fails the same way every time. */
static bool may_pass(int err)
{
    switch (err) {
    case ECONNREFUSED: case ETIMEDOUT: case ECONNRESET: case ECONNABORTED:
    case EHOSTUNREACH: case ENETUNREACH: case ENETDOWN: case EHOSTDOWN:
    case EADDRINUSE: case EADDRNOTAVAIL: case EAGAIN:
    case EMFILE: case ENFILE: case ENOBUFS: case ENOMEM:
        return true;
    default:
        return false;
    }
}

static void attempt(void *arg);

/* The attempt failed with err: report it, and wait for the next one or
 * give up. */
static void failed(struct connector *c, int err)
{
    uint64_t retry_ms = 0;
    c->state = CONNECTOR_IDLE;
    if (c->retry && may_pass(err)) {
        retry_ms = c->delay_ms;
        if (event_loop_run_after(c->loop, &c->timer, retry_ms, attempt, c) == 0) {
            c->state = CONNECTOR_WAITING;
            c->delay_ms = connector_next_delay(c->delay_ms);
        } else {
            err = errno;                       /* ENOMEM: no next attempt */
            retry_ms = 0;
        }
    }
    if (c->failed)
        c->failed(c->failed_ctx, err, retry_ms);
}

/* A connection whose local and peer addresses are the same went nowhere.
 * Connecting to a local port where nobody listens, from a port the
 * kernel picked, can pick that very port: the SYN then meets itself (a
 * simultaneous open), and the socket is "connected" to itself. Any write
 * comes back as the reply. */
static bool self_connected(const struct socket *sock)
{
    struct inet_address local, peer;
    return socket_local_address(sock, &local) == 0 &&
           socket_peer_address(sock, &peer) == 0 &&
           local.sin.sin_port == peer.sin.sin_port &&
           local.sin.sin_addr.s_addr == peer.sin.sin_addr.s_addr;
}

/* The socket turned writable (or errored): the handshake is over. */
static void handshake_over(void *arg)
{
    struct connector *c = arg;
    channel_remove(&c->channel);               /* the connection adds it anew */
    int err = socket_error(&c->sock);
    if (err == 0 && self_connected(&c->sock))
        err = ECONNREFUSED;                    /* nobody listens there */
    if (err != 0) {
        socket_close(&c->sock);
        failed(c, err);
        return;
    }
    struct socket sock = c->sock;
    c->sock.fd = -1;
    c->state = CONNECTOR_IDLE;
    c->delay_ms = CONNECTOR_FIRST_DELAY_MS;
    c->connected(c->connected_ctx, &sock);
}

static void attempt(void *arg)
{
    struct connector *c = arg;
    c->state = CONNECTOR_IDLE;
    if (socket_open(&c->sock) < 0) {
        failed(c, errno);                      /* EMFILE, ENOBUFS... */
        return;
    }
    if (socket_connect(&c->sock, &c->addr) < 0 && errno != EINPROGRESS) {
        int err = errno;
        socket_close(&c->sock);
        failed(c, err);
        return;
    }
    /* Connected at once or not, the answer comes as writability: one path
     * for both, and for the self-connect check. */
    channel_init(&c->channel, c->loop, c->sock.fd, c);
    channel_set_write_callback(&c->channel, handshake_over);
    channel_set_error_callback(&c->channel, handshake_over);
    channel_set_close_callback(&c->channel, handshake_over);
    if (channel_enable_writing(&c->channel) < 0) {
        int err = errno;
        socket_close(&c->sock);
        failed(c, err);
        return;
    }
    c->state = CONNECTOR_CONNECTING;
}

struct connector *connector_new(struct event_loop *loop,
                                const struct inet_address *addr)
{
    struct connector *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->loop = loop;
    c->addr = *addr;
    c->state = CONNECTOR_IDLE;
    c->sock.fd = -1;
    timer_init(&c->timer);
    c->delay_ms = CONNECTOR_FIRST_DELAY_MS;
    return c;
}

void connector_free(struct connector *c)
{
    if (!c)
        return;
    connector_stop(c);
    free(c);
}

void connector_set_connected_callback(struct connector *c,
                                      connector_connected_callback fn,
                                      void *ctx)
{
    c->connected = fn;
    c->connected_ctx = ctx;
}

void connector_set_failed_callback(struct connector *c,
                                   connector_failed_callback fn, void *ctx)
{
    c->failed = fn;
    c->failed_ctx = ctx;
}

void connector_set_retry(struct connector *c, bool on)
{
    c->retry = on;
}

int connector_start(struct connector *c)
{
    event_loop_assert_in_loop_thread(c->loop);
    if (c->state != CONNECTOR_IDLE)
        return 0;                              /* already at it */
    c->delay_ms = CONNECTOR_FIRST_DELAY_MS;
    if (event_loop_run_after(c->loop, &c->timer, 0, attempt, c) < 0)
        return -1;
    c->state = CONNECTOR_WAITING;
    return 0;
}

void connector_stop(struct connector *c)
{
    event_loop_assert_in_loop_thread(c->loop);
    event_loop_cancel(c->loop, &c->timer);
    if (c->state == CONNECTOR_CONNECTING) {
        channel_remove(&c->channel);
        socket_close(&c->sock);
    }
    c->state = CONNECTOR_IDLE;
}
