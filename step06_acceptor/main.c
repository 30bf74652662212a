/* main.c - step06: main() configures a TcpServer and runs the loop.
 *
 * The listening side lives in the Acceptor (acceptor.c), each client in a
 * Connection (connection.c), and the TcpServer (tcp_server.c) owns both:
 * the acceptor reports new sockets, the server wraps each in a connection
 * and frees it when it ends. What stays here is the command line.
 *
 * Usage: ./server IP PORT [-h]
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event_loop.h"
#include "inet_address.h"
#include "log.h"
#include "tcp_server.h"

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

    struct event_loop *loop = event_loop_new();
    if (!loop) {
        log_error("event loop: %s", strerror(errno));
        return 1;
    }
    int status = 1;
    struct tcp_server *server = tcp_server_new(loop, &addr);
    if (!server) {
        int saved = errno;
        fprintf(stderr, "server: cannot listen on %s:%s: %s\n", positional[0],
                positional[1], strerror(saved));
        /* An address this host cannot bind is a bad argument; a busy port
         * or a lack of resources is a runtime failure. */
        status = saved == EADDRNOTAVAIL || saved == EACCES ? 2 : 1;
        goto out;
    }
    if (tcp_server_local_address(server, &addr) < 0 ||
        tcp_server_start(server) < 0) {
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
    tcp_server_free(server);
    event_loop_free(loop);
    return status;
}
