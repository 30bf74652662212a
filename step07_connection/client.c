/* client.c - a blocking line client.
 *
 * Reads lines from standard input, sends each one to the server, waits for
 * its reply and prints the reply on its own line. Exits 0 at end of input
 * once every reply has arrived.
 *
 * The server echoes raw bytes, so a line's reply is the line itself: the
 * client sends the line with its newline and reads back as many bytes.
 *
 * Usage: ./client IP PORT
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

static int parse_port(const char *s, uint16_t *port)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
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

/* Reads exactly len bytes. Returns 0, or -1 with errno (0 for early EOF). */
static int read_exact(int fd, char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = read(fd, buf, len);
        if (n == 0) {
            errno = 0;
            return -1;
        }
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

/* Sends one line and prints its reply. Returns -1 on failure. */
static int round_trip(int fd, char *line, size_t len)
{
    if (len == 0 || line[len - 1] != '\n')
        line[len++] = '\n';              /* getline left room for it */
    if (write_all(fd, line, len) < 0) {
        perror("client: send");
        return -1;
    }
    if (read_exact(fd, line, len) < 0) {
        fprintf(stderr, "client: reading reply: %s\n",
                errno ? strerror(errno) : "server closed the connection");
        return -1;
    }
    if (write_all(STDOUT_FILENO, line, len) < 0) {
        perror("client: stdout");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: client IP PORT\n");
        return 2;
    }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    uint16_t port;
    if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) {
        fprintf(stderr, "client: bad IPv4 address '%s'\n", argv[1]);
        return 2;
    }
    if (parse_port(argv[2], &port) < 0) {
        fprintf(stderr, "client: bad port '%s'\n", argv[2]);
        return 2;
    }
    addr.sin_port = htons(port);
    signal(SIGPIPE, SIG_IGN);

    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("client: socket");
        return 1;
    }
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        fprintf(stderr, "client: connect %s:%s: %s\n", argv[1], argv[2],
                strerror(errno));
        return 1;
    }

    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int status = 0;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        if ((size_t)len + 1 >= cap) {    /* keep room for a missing '\n' */
            char *bigger = realloc(line, cap + 2);
            if (!bigger) {
                perror("client: realloc");
                status = 1;
                break;
            }
            line = bigger;
            cap += 2;
        }
        if (round_trip(fd, line, (size_t)len) < 0) {
            status = 1;
            break;
        }
    }
    free(line);
    close(fd);
    return status;
}
