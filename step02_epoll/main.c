/* main.c - step02: one thread serves many clients with epoll.
 *
 * Every socket is non-blocking and watched by one epoll instance; the thread
 * sleeps only in epoll_wait(). The listening socket is level-triggered.
 * Client sockets are level-triggered (LT) by default; with -e they are
 * edge-triggered (ET) and every readiness is drained until EAGAIN, because
 * an edge is reported once and data left in the socket would wait forever.
 *
 * A send() on a non-blocking socket can take less than it is given. The
 * unsent rest of one chunk waits in the client's "pending" area; while it
 * waits the server watches for EPOLLOUT instead of EPOLLIN, so it never reads
 * more than it can send back (back-pressure, with bounded memory).
 *
 * Usage: ./server IP PORT [-h] [-e]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK 65536    /* bytes asked of one recv() */
#define MAX_EVENTS 1024     /* events taken from one epoll_wait() */

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
static int watch_client(int epfd, int op, int fd, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.fd = fd };
    if (edge_triggered)
        ev.events |= EPOLLET;
    return epoll_ctl(epfd, op, fd, &ev);
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

static void close_client(int epfd, int fd)
{
    struct client *c = &clients[fd];
    /* Leave the epoll set before close(): the fd number is reused at once. */
    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
    free(c->pending);
    memset(c, 0, sizeof(*c));
    close(fd);
}

/* Accepts every waiting connection. */
static void accept_clients(int epfd, int listen_fd)
{
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                perror("server: accept");   /* EMFILE: see notes/step10 */
            return;
        }
        if (!client_at(fd) || watch_client(epfd, EPOLL_CTL_ADD, fd, EPOLLIN) < 0) {
            perror("server: new client");
            close(fd);
        }
    }
}

/* The client sent something (or closed, or failed): echo what is there.
 * LT reads once per readiness; ET must read until EAGAIN. */
static void client_readable(int epfd, int fd)
{
    static char buf[READ_CHUNK];

    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0) {
            close_client(epfd, fd);           /* peer closed its write side */
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                close_client(epfd, fd);       /* ECONNRESET and friends */
            return;
        }
        ssize_t sent = send_some(fd, buf, (size_t)n);
        if (sent < 0) {
            close_client(epfd, fd);
            return;
        }
        if (sent < n) {
            /* The send buffer is full: keep the rest, stop reading. */
            struct client *c = &clients[fd];
            c->pending_len = (size_t)(n - sent);
            c->pending_off = 0;
            c->pending = malloc(c->pending_len);
            if (!c->pending ||
                watch_client(epfd, EPOLL_CTL_MOD, fd, EPOLLOUT) < 0) {
                perror("server: pending");
                close_client(epfd, fd);
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
static void client_writable(int epfd, int fd)
{
    struct client *c = &clients[fd];
    ssize_t sent = send_some(fd, c->pending + c->pending_off,
                             c->pending_len - c->pending_off);
    if (sent < 0) {
        close_client(epfd, fd);
        return;
    }
    c->pending_off += (size_t)sent;
    if (c->pending_off < c->pending_len)
        return;                               /* wait for the next EPOLLOUT */
    free(c->pending);
    c->pending = NULL;
    /* EPOLL_CTL_MOD re-checks readiness: data that arrived meanwhile is
     * reported even in ET mode. */
    if (watch_client(epfd, EPOLL_CTL_MOD, fd, EPOLLIN) < 0)
        close_client(epfd, fd);
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

    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    if (inet_pton(AF_INET, positional[0], &addr.sin_addr) != 1)
        bad_argument("bad IPv4 address '%s'", positional[0]);
    uint16_t port;
    if (parse_port(positional[1], &port) < 0)
        bad_argument("bad port '%s'", positional[1]);
    addr.sin_port = htons(port);

    /* A client that resets while we send must not kill the server. */
    signal(SIGPIPE, SIG_IGN);

    int listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd < 0) {
        perror("server: socket");
        return 1;
    }
    if (bind(listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        int saved = errno;
        fprintf(stderr, "server: bind %s:%s: %s\n", positional[0],
                positional[1], strerror(saved));
        return saved == EADDRINUSE ? 1 : 2;
    }
    if (listen(listen_fd, SOMAXCONN) < 0) {
        perror("server: listen");
        return 1;
    }

    /* Port 0 asked the kernel to choose: report the port actually bound. */
    socklen_t len = sizeof(addr);
    if (getsockname(listen_fd, (struct sockaddr *)&addr, &len) < 0) {
        perror("server: getsockname");
        return 1;
    }
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof(ip));
    printf("listening on %s:%u\n", ip, ntohs(addr.sin_port));
    fflush(stdout);

    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        perror("server: epoll_create1");
        return 1;
    }
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = listen_fd };
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev) < 0) {
        perror("server: epoll_ctl");
        return 1;
    }

    static struct epoll_event events[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(epfd, events, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("server: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == listen_fd)
                accept_clients(epfd, listen_fd);
            else if (clients[fd].pending)
                client_writable(epfd, fd);    /* EPOLLOUT, or an error */
            else
                client_readable(epfd, fd);    /* EPOLLIN, EOF or an error */
        }
    }
}
