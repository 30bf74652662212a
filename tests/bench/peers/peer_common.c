/* peer_common.c - command line and listening socket of the reference peers.
 */
#include "peer_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void usage(const char *prog, FILE *out)
{
    fprintf(out, "usage: %s IP PORT [-h] [-m BYTES] [--raw]\n"
                 "  IP PORT   address to listen on; PORT 0 for any free port\n"
                 "  -m BYTES  largest accepted message payload (default %u)\n"
                 "  --raw     raw echo instead of framed reply\n"
                 "  -h        show this help\n", prog, PEER_MAX_DEFAULT);
}

static void bad_argument(const char *prog, const char *what, const char *arg)
{
    fprintf(stderr, "%s: %s '%s' (try -h)\n", prog, what, arg);
    exit(2);
}

static int parse_ulong(const char *s, unsigned long max, unsigned long *v)
{
    char *end;
    errno = 0;
    *v = strtoul(s, &end, 10);
    return errno != 0 || end == s || *end != '\0' || s[0] == '-' || *v > max
           ? -1 : 0;
}

void peer_parse_args(struct peer_opts *o, int argc, char **argv)
{
    const char *pos[2];
    int npos = 0;
    unsigned long v;

    memset(o, 0, sizeof(*o));
    o->prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    o->max_payload = PEER_MAX_DEFAULT;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0) {
            usage(o->prog, stdout);
            exit(0);
        } else if (strcmp(a, "--raw") == 0) {
            o->raw = 1;
        } else if (strcmp(a, "-m") == 0) {
            if (i + 1 == argc)
                bad_argument(o->prog, "missing value for", a);
            if (parse_ulong(argv[++i], UINT32_MAX - REPLY_PREFIX_LEN, &v) < 0)
                bad_argument(o->prog, "bad -m value", argv[i]);
            o->max_payload = (uint32_t)v;
        } else if (a[0] == '-' && a[1] != '\0') {
            bad_argument(o->prog, "unknown option", a);
        } else if (npos == 2) {
            bad_argument(o->prog, "unexpected argument", a);
        } else {
            pos[npos++] = a;
        }
    }
    if (npos < 2) {
        fprintf(stderr, "%s: expected IP and PORT (try -h)\n", o->prog);
        exit(2);
    }
    o->addr.sin_family = AF_INET;
    if (inet_pton(AF_INET, pos[0], &o->addr.sin_addr) != 1)
        bad_argument(o->prog, "bad IPv4 address", pos[0]);
    if (parse_ulong(pos[1], 65535, &v) < 0)
        bad_argument(o->prog, "bad port", pos[1]);
    o->addr.sin_port = htons((uint16_t)v);
}

int peer_listen(const struct peer_opts *o)
{
    struct sockaddr_in addr = o->addr;
    socklen_t len = sizeof(addr);
    int one = 1;

    signal(SIGPIPE, SIG_IGN);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "%s: socket: %s\n", o->prog, strerror(errno));
        exit(1);
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        fprintf(stderr, "%s: bind: %s\n", o->prog, strerror(errno));
        exit(errno == EADDRINUSE ? 1 : 2);
    }
    if (listen(fd, SOMAXCONN) < 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) < 0) {
        fprintf(stderr, "%s: listen: %s\n", o->prog, strerror(errno));
        exit(1);
    }
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof(ip));
    printf("listening on %s:%u\n", ip, ntohs(addr.sin_port));
    fflush(stdout);
    return fd;
}

uint32_t peer_get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | p[3];
}

void peer_reply_head(uint8_t *head, uint32_t n)
{
    uint32_t len = n + REPLY_PREFIX_LEN;
    head[0] = (uint8_t)(len >> 24);
    head[1] = (uint8_t)(len >> 16);
    head[2] = (uint8_t)(len >> 8);
    head[3] = (uint8_t)len;
    memcpy(head + 4, REPLY_PREFIX, REPLY_PREFIX_LEN);
}
