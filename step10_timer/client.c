/* client.c - a blocking line client.
 *
 * Reads lines from standard input, sends each one to the server, waits for
 * its reply and prints the reply on its own line. Exits 0 at end of input
 * once every reply has arrived.
 *
 * Framed protocol: a line (without its newline) goes out as one message, a
 * 4-byte big-endian length and the bytes; the reply comes back the same
 * way, and its payload is printed followed by a newline.
 *
 * Usage: ./client IP PORT
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
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

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Sends one line as a message and prints its reply. -1 on failure. */
static int round_trip(int fd, char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\n')
        len--;
    /* Header and line in one segment: two small writes would meet Nagle's
     * algorithm and the server's delayed ACK, 40 ms per line. */
    char *msg = malloc(4 + len);
    if (!msg) {
        perror("client: malloc");
        return -1;
    }
    put_u32((unsigned char *)msg, (uint32_t)len);
    memcpy(msg + 4, line, len);
    int rc = write_all(fd, msg, 4 + len);
    free(msg);
    if (rc < 0) {
        perror("client: send");
        return -1;
    }
    unsigned char header[4];
    char *reply = NULL;
    if (read_exact(fd, (char *)header, sizeof(header)) < 0)
        goto read_failed;
    uint32_t reply_len = get_u32(header);
    reply = malloc((size_t)reply_len + 1);
    if (!reply) {
        perror("client: malloc");
        return -1;
    }
    if (read_exact(fd, reply, reply_len) < 0)
        goto read_failed;
    reply[reply_len] = '\n';
    if (write_all(STDOUT_FILENO, reply, (size_t)reply_len + 1) < 0) {
        perror("client: stdout");
        free(reply);
        return -1;
    }
    free(reply);
    return 0;

read_failed:
    fprintf(stderr, "client: reading reply: %s\n",
            errno ? strerror(errno) : "server closed the connection");
    free(reply);
    return -1;
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
        if (round_trip(fd, line, (size_t)len) < 0) {
            status = 1;
            break;
        }
    }
    free(line);
    close(fd);
    return status;
}
