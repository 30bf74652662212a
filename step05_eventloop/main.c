/* main.c - step05: an EventLoop runs the loop; main() sets it up.
 *
 * The loop (event_loop.c) owns the epoll set, waits, and tells each ready
 * channel to handle its event. Channels belong to the loop. Whoever creates
 * a channel gives it its callbacks: the listener's channel accepts, a
 * client's channel echoes.
 *
 * Client sockets are edge-triggered, as in the course, and every readiness
 * is drained until EAGAIN. A chunk the kernel does not take waits in the
 * client's "pending" area while the socket is watched for EPOLLOUT instead
 * of EPOLLIN.
 *
 * Usage: ./server IP PORT [-h]
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "channel.h"
#include "event_loop.h"
#include "inet_address.h"
#include "log.h"
#include "socket.h"

#define READ_CHUNK 65536    /* bytes asked of one recv() */

/* The listening socket and its channel. */
struct listener {
    struct socket sock;        /* owned */
    struct channel channel;    /* ctx = this listener */
};

/* One client connection, reached from epoll through its channel. */
struct client {
    struct socket sock;        /* owned */
    struct channel channel;    /* ctx = this client */
    char  *pending;            /* owned: bytes read but not yet echoed, or NULL */
    size_t pending_len;        /* bytes in pending */
    size_t pending_off;        /* bytes of pending already sent */
};

static void usage(FILE *out)
{
    fprintf(out, "usage: server IP PORT [-h]\n"
                 "  IP    dotted IPv4 address to bind, e.g. 127.0.0.1\n"
                 "  PORT  TCP port, 0 for any free port\n"
                 "  -h    show this help\n");
}

/* Prints one line naming the problem and exits with status 2. */
static void bad_argument(const char *fmt, const char *arg)
{
    fprintf(stderr, "server: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (try -h)\n");
    exit(2);
}

static int parse_port(const char *s, uint16_t *port)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

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

static void close_client(struct client *c)
{
    /* Leave the epoll set before close(): the fd number is reused at once. */
    channel_remove(&c->channel);
    socket_close(&c->sock);
    free(c->pending);
    free(c);
}

/* The channel callbacks for a client: ctx is the struct client. */
static void client_readable(void *ctx);
static void client_writable(void *ctx);

static void client_closed(void *ctx)
{
    close_client(ctx);
}

/* Accepts every waiting connection: the listener channel's read callback. */
static void accept_clients(void *ctx)
{
    struct listener *l = ctx;

    for (;;) {
        struct socket sock;
        if (socket_accept(&l->sock, &sock, NULL) < 0) {
            if (errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                log_error("accept: %s", strerror(errno)); /* EMFILE: step10 */
            return;
        }
        struct client *c = calloc(1, sizeof(*c));
        if (!c) {
            log_error("new client: %s", strerror(errno));
            socket_close(&sock);
            continue;
        }
        c->sock = sock;
        channel_init(&c->channel, l->channel.loop, sock.fd, c);
        channel_set_read_callback(&c->channel, client_readable);
        channel_set_write_callback(&c->channel, client_writable);
        channel_set_close_callback(&c->channel, client_closed);
        channel_set_error_callback(&c->channel, client_closed);
        channel_use_et(&c->channel);
        if (channel_enable_reading(&c->channel) < 0) {
            log_error("new client: %s", strerror(errno));
            close_client(c);
        }
    }
}

/* The client sent something (or closed, or failed): echo what is there.
 * Edge-triggered: read until EAGAIN, or the rest would wait forever. */
static void client_readable(void *ctx)
{
    static char buf[READ_CHUNK];
    struct client *c = ctx;

    for (;;) {
        ssize_t n = recv(c->sock.fd, buf, sizeof(buf), 0);
        if (n == 0) {
            close_client(c);                  /* peer closed its write side */
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                close_client(c);              /* ECONNRESET and friends */
            return;
        }
        ssize_t sent = send_some(c->sock.fd, buf, (size_t)n);
        if (sent < 0) {
            close_client(c);
            return;
        }
        if (sent < n) {
            /* The send buffer is full: keep the rest, stop reading. */
            c->pending_len = (size_t)(n - sent);
            c->pending_off = 0;
            c->pending = malloc(c->pending_len);
            if (!c->pending || channel_disable_reading(&c->channel) < 0 ||
                channel_enable_writing(&c->channel) < 0) {
                log_error("pending: %s", strerror(errno));
                close_client(c);
                return;
            }
            memcpy(c->pending, buf + sent, c->pending_len);
            return;
        }
    }
}

/* The send buffer has room again: send the pending chunk, then read again. */
static void client_writable(void *ctx)
{
    struct client *c = ctx;
    ssize_t sent = send_some(c->sock.fd, c->pending + c->pending_off,
                             c->pending_len - c->pending_off);
    if (sent < 0) {
        close_client(c);
        return;
    }
    c->pending_off += (size_t)sent;
    if (c->pending_off < c->pending_len)
        return;                               /* wait for the next EPOLLOUT */
    free(c->pending);
    c->pending = NULL;
    /* EPOLL_CTL_MOD re-checks readiness: data that arrived meanwhile is
     * reported even in ET mode. */
    if (channel_disable_writing(&c->channel) < 0 ||
        channel_enable_reading(&c->channel) < 0)
        close_client(c);
}

/* Sets the log level from LOG_LEVEL in the environment, if it names one:
 * LOG_LEVEL=trace shows every round of the event loop on standard error. */
static void set_log_level(void)
{
    const char *name = getenv("LOG_LEVEL");
    if (!name)
        return;
    int level = log_level_from_name(name);
    if (level < 0)
        log_warn("LOG_LEVEL=%s is none of trace, debug, info, warn, error; ignored",
                 name);
    else
        log_set_level((enum log_level)level);
}

int main(int argc, char **argv)
{
    const char *positional[2];
    int npositional = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0')
            bad_argument("unknown option %s", argv[i]);
        if (npositional == 2)
            bad_argument("unexpected argument '%s'", argv[i]);
        positional[npositional++] = argv[i];
    }
    if (npositional < 2)
        bad_argument("%s", "expected IP and PORT");

    uint16_t port;
    if (parse_port(positional[1], &port) < 0)
        bad_argument("bad port '%s'", positional[1]);
    struct inet_address addr;
    if (inet_address_init(&addr, positional[0], port) < 0)
        bad_argument("bad IPv4 address '%s'", positional[0]);

    set_log_level();
    /* A client that resets while we send must not kill the server. */
    signal(SIGPIPE, SIG_IGN);

    struct listener listener;
    if (socket_open(&listener.sock) < 0) {
        log_error("socket: %s", strerror(errno));
        return 1;
    }
    /* The options the course sets on its listening socket, but for
     * SO_REUSEPORT: with it a second server would share a port that is in
     * use instead of failing (see the notes). Accepted sockets inherit
     * TCP_NODELAY and SO_KEEPALIVE on Linux. */
    if (socket_set_reuse_addr(&listener.sock, true) < 0 ||
        socket_set_tcp_nodelay(&listener.sock, true) < 0 ||
        socket_set_keep_alive(&listener.sock, true) < 0) {
        log_error("setsockopt: %s", strerror(errno));
        return 1;
    }
    if (socket_bind(&listener.sock, &addr) < 0) {
        int saved = errno;
        fprintf(stderr, "server: bind %s:%s: %s\n", positional[0],
                positional[1], strerror(saved));
        return saved == EADDRINUSE ? 1 : 2;
    }
    if (socket_listen(&listener.sock) < 0 ||
        socket_local_address(&listener.sock, &addr) < 0) {
        log_error("listen: %s", strerror(errno));
        return 1;
    }

    /* Port 0 asked the kernel to choose: report the port actually bound. */
    char name[INET_ADDRESS_STRLEN];
    printf("listening on %s\n", inet_address_to_string(&addr, name, sizeof(name)));
    fflush(stdout);

    struct event_loop *loop = event_loop_new();
    if (!loop) {
        log_error("event loop: %s", strerror(errno));
        return 1;
    }
    /* The listener stays level-triggered: a connection left in the backlog
     * is reported again. */
    channel_init(&listener.channel, loop, listener.sock.fd, &listener);
    channel_set_read_callback(&listener.channel, accept_clients);
    if (channel_enable_reading(&listener.channel) < 0) {
        log_error("epoll: %s", strerror(errno));
        return 1;
    }

    if (event_loop_run(loop) < 0) {
        log_error("epoll_wait: %s", strerror(errno));
        return 1;
    }
    return 0;
}
