/* main.c - step07: main() configures an EchoServer and runs the loop.
 *
 * From this step on the server speaks the framed protocol: a 4-byte
 * big-endian length, then the payload; each request gets one reply,
 * "reply:" followed by the request's payload. The EchoServer
 * (echo_server.c) holds that business logic on top of the TcpServer.
 * What stays here is the command line.
 *
 * Usage: ./server IP PORT [-h] [-m BYTES]
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "echo_server.h"
#include "event_loop.h"
#include "inet_address.h"
#include "log.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: server IP PORT [-h] [-m BYTES]\n"
                 "  IP        dotted IPv4 address to bind, e.g. 127.0.0.1\n"
                 "  PORT      TCP port, 0 for any free port\n"
                 "  -h        show this help\n"
                 "  -m BYTES  largest message payload accepted (default 16777216)\n");
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

/* The value of option argv[*i], which must follow it, as a decimal count
 * in [0, max]; advances *i past it. A bad value exits: complaint names it. */
static unsigned long long count_option(int argc, char **argv, int *i,
                                       unsigned long long max,
                                       const char *complaint)
{
    if (*i + 1 >= argc)
        bad_argument("option %s needs a value", argv[*i]);
    const char *s = argv[++*i];
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max)
        bad_argument(complaint, s);
    return v;
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
    /* A reply carries 6 more bytes than its request and its length must
     * fit the 32-bit header. */
    const unsigned long long max_payload_limit = UINT32_MAX - 6;
    struct tcp_server_options options = { .max_payload = 16u << 20 };

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "-m") == 0) {
            options.max_payload = (size_t)count_option(
                argc, argv, &i, max_payload_limit, "bad message size '%s'");
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

    set_log_level();
    /* A client that resets while we send must not kill the server. */
    signal(SIGPIPE, SIG_IGN);
    /* Buffers are freed as soon as they drain (an idle connection pins no
     * memory), so a stream of large messages frees and allocates megabytes
     * again and again. By default glibc then gives the top of the heap back
     * to the kernel each time, and every message page-faults fresh zeroed
     * memory: 2.5 times the CPU per 1 MiB message. Keep up to 16 MiB. */
    mallopt(M_TOP_PAD, 16 << 20);

    struct event_loop *loop = event_loop_new();
    if (!loop) {
        log_error("event loop: %s", strerror(errno));
        return 1;
    }
    int status = 1;
    struct echo_server *server = echo_server_new(loop, &addr, &options);
    if (!server) {
        int saved = errno;
        fprintf(stderr, "server: cannot listen on %s:%s: %s\n", positional[0],
                positional[1], strerror(saved));
        /* An address this host cannot bind is a bad argument; a busy port
         * or a lack of resources is a runtime failure. */
        status = saved == EADDRNOTAVAIL || saved == EACCES ? 2 : 1;
        goto out;
    }
    if (echo_server_local_address(server, &addr) < 0 ||
        echo_server_start(server) < 0) {
        log_error("listen: %s", strerror(errno));
        goto out;
    }

    /* Port 0 asked the kernel to choose: report the port actually bound. */
    char name[INET_ADDRESS_STRLEN];
    printf("listening on %s\n", inet_address_to_string(&addr, name, sizeof(name)));
    fflush(stdout);

    if (event_loop_run(loop) < 0) {
        log_error("epoll_wait: %s", strerror(errno));
        goto out;
    }
    status = 0;
out:
    echo_server_free(server);
    event_loop_free(loop);
    return status;
}
