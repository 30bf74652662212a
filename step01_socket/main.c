/* main.c - step01: the simplest echo server.
 *
 * One blocking listening socket; one client at a time: accept() a client,
 * recv() and send() back until the client closes, close() it, accept the
 * next. Everything a socket program does is here, in order:
 * socket -> bind -> listen -> accept -> recv/send -> close.
 *
 * Usage: ./server IP PORT [-h]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK 65536    /* bytes asked of one recv() */

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

/* Sends all of buf, blocking as long as it takes. Returns -1 on error. */
static int send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Echoes everything the client sends until it closes its side. */
static void serve_client(int fd)
{
    static char buf[READ_CHUNK];

    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n > 0) {
            if (send_all(fd, buf, (size_t)n) < 0)
                return;               /* peer vanished (EPIPE, ECONNRESET) */
        } else if (n == 0) {
            return;                   /* peer closed its write side */
        } else if (errno != EINTR) {
            return;                   /* ECONNRESET and friends */
        }
    }
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

    int listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
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

    for (;;) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            perror("server: accept");
            continue;
        }
        serve_client(fd);
        close(fd);
    }
}
