/* main.c - step03: the step02 server, with its plumbing moved into classes.
 *
 * InetAddress (inet_address.c) holds an address, Socket (socket.c) owns an
 * fd and knows the socket calls, Epoll (epoll.c) owns the epoll instance.
 * What stays here is what the application decides: the command line, the
 * socket options, and what to do with a readable or writable client.
 *
 * Client sockets are level-triggered (LT) by default; with -e they are
 * edge-triggered (ET) and every readiness is drained until EAGAIN.
 * A chunk the kernel does not take waits in the client's "pending" area
 * while the socket is watched for EPOLLOUT instead of EPOLLIN.
 *
 * Usage: ./server IP PORT [-h] [-e]
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "epoll.h"
#include "inet_address.h"
#include "log.h"
#include "socket.h"

#define READ_CHUNK 65536    /* bytes asked of one recv() */

/* What the server keeps per client socket, in a table indexed by fd. */
struct client {
    char  *pending;        /* owned: bytes read but not yet echoed, or NULL */
    size_t pending_len;    /* bytes in pending */
    size_t pending_off;    /* bytes of pending already sent */
};

static struct client *clients;     /* indexed by fd; grows on demand */
static size_t nclients;            /* entries in clients */
static bool edge_triggered;        /* -e: client sockets use EPOLLET */

static void usage(FILE *out)
{
    fprintf(out, "usage: server IP PORT [-h] [-e]\n"
                 "  IP    dotted IPv4 address to bind, e.g. 127.0.0.1\n"
                 "  PORT  TCP port, 0 for any free port\n"
                 "  -h    show this help\n"
                 "  -e    edge-triggered client sockets (default level-triggered)\n");
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

/* The events a client socket is watched for: EPOLLIN while nothing is
 * pending, EPOLLOUT while a chunk waits to be sent. */
static uint32_t client_events(uint32_t events)
{
    return edge_triggered ? events | EPOLLET : events;
}

static struct client *client_at(int fd)
{
    if ((size_t)fd >= nclients) {
        size_t n = nclients ? nclients : 64;
        while (n <= (size_t)fd)
            n *= 2;
        struct client *bigger = realloc(clients, n * sizeof(*clients));
        if (!bigger)
            return NULL;
        memset(bigger + nclients, 0, (n - nclients) * sizeof(*clients));
        clients = bigger;
        nclients = n;
    }
    return &clients[fd];
}

static void close_client(struct epoll *ep, int fd)
{
    struct client *c = &clients[fd];
    /* Leave the epoll set before close(): the fd number is reused at once. */
    epoll_remove_fd(ep, fd);
    free(c->pending);
    memset(c, 0, sizeof(*c));
    struct socket s;
    socket_init(&s, fd);
    socket_close(&s);
}

/* Accepts every waiting connection. */
static void accept_clients(struct epoll *ep, struct socket *listener)
{
    for (;;) {
        struct socket client;
        if (socket_accept(listener, &client, NULL) < 0) {
            if (errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                log_error("accept: %s", strerror(errno)); /* EMFILE: step10 */
            return;
        }
        if (!client_at(client.fd) ||
            epoll_add_fd(ep, client.fd, client_events(EPOLLIN)) < 0) {
            log_error("new client: %s", strerror(errno));
            socket_close(&client);
        }
    }
}

/* The client sent something (or closed, or failed): echo what is there.
 * LT reads once per readiness; ET must read until EAGAIN. */
static void client_readable(struct epoll *ep, int fd)
{
    static char buf[READ_CHUNK];

    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0) {
            close_client(ep, fd);             /* peer closed its write side */
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                close_client(ep, fd);         /* ECONNRESET and friends */
            return;
        }
        ssize_t sent = send_some(fd, buf, (size_t)n);
        if (sent < 0) {
            close_client(ep, fd);
            return;
        }
        if (sent < n) {
            /* The send buffer is full: keep the rest, stop reading. */
            struct client *c = &clients[fd];
            c->pending_len = (size_t)(n - sent);
            c->pending_off = 0;
            c->pending = malloc(c->pending_len);
            if (!c->pending ||
                epoll_modify_fd(ep, fd, client_events(EPOLLOUT)) < 0) {
                log_error("pending: %s", strerror(errno));
                close_client(ep, fd);
                return;
            }
            memcpy(c->pending, buf + sent, c->pending_len);
            return;
        }
        if (!edge_triggered)
            return;                           /* LT reports the rest again */
    }
}

/* The send buffer has room again: send the pending chunk, then read again. */
static void client_writable(struct epoll *ep, int fd)
{
    struct client *c = &clients[fd];
    ssize_t sent = send_some(fd, c->pending + c->pending_off,
                             c->pending_len - c->pending_off);
    if (sent < 0) {
        close_client(ep, fd);
        return;
    }
    c->pending_off += (size_t)sent;
    if (c->pending_off < c->pending_len)
        return;                               /* wait for the next EPOLLOUT */
    free(c->pending);
    c->pending = NULL;
    /* EPOLL_CTL_MOD re-checks readiness: data that arrived meanwhile is
     * reported even in ET mode. */
    if (epoll_modify_fd(ep, fd, client_events(EPOLLIN)) < 0)
        close_client(ep, fd);
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
        if (strcmp(argv[i], "-e") == 0) {
            edge_triggered = true;
            continue;
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

    /* A client that resets while we send must not kill the server. */
    signal(SIGPIPE, SIG_IGN);

    struct socket listener;
    if (socket_open(&listener) < 0) {
        log_error("socket: %s", strerror(errno));
        return 1;
    }
    /* The options the course sets on its listening socket, but for
     * SO_REUSEPORT: with it a second server would share a port that is in
     * use instead of failing (see the notes). Accepted sockets inherit
     * TCP_NODELAY and SO_KEEPALIVE on Linux. */
    if (socket_set_reuse_addr(&listener, true) < 0 ||
        socket_set_tcp_nodelay(&listener, true) < 0 ||
        socket_set_keep_alive(&listener, true) < 0) {
        log_error("setsockopt: %s", strerror(errno));
        return 1;
    }
    if (socket_bind(&listener, &addr) < 0) {
        int saved = errno;
        fprintf(stderr, "server: bind %s:%s: %s\n", positional[0],
                positional[1], strerror(saved));
        return saved == EADDRINUSE ? 1 : 2;
    }
    if (socket_listen(&listener) < 0 ||
        socket_local_address(&listener, &addr) < 0) {
        log_error("listen: %s", strerror(errno));
        return 1;
    }

    /* Port 0 asked the kernel to choose: report the port actually bound. */
    char name[INET_ADDRESS_STRLEN];
    printf("listening on %s\n", inet_address_to_string(&addr, name, sizeof(name)));
    fflush(stdout);

    struct epoll *ep = epoll_new();
    if (!ep || epoll_add_fd(ep, listener.fd, EPOLLIN) < 0) {
        log_error("epoll: %s", strerror(errno));
        return 1;
    }

    for (;;) {
        struct epoll_event *events;
        int n = epoll_poll(ep, -1, &events);
        if (n < 0) {
            log_error("epoll_wait: %s", strerror(errno));
            return 1;
        }
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == listener.fd)
                accept_clients(ep, &listener);
            else if (clients[fd].pending)
                client_writable(ep, fd);      /* EPOLLOUT, or an error */
            else
                client_readable(ep, fd);      /* EPOLLIN, EOF or an error */
        }
    }
}
