/* client.c - a line client on the server's own reactor.
 *
 * Reads lines from standard input and sends each one, framed, as soon as
 * it is read: it does not wait for the reply to a line before it sends
 * the next. Each reply is printed on its own line as it arrives. At end
 * of input it half-closes the connection, and exits 0 once every reply
 * has arrived and the server has closed.
 *
 * One event loop runs it all: a TcpClient (its Connector, then its
 * Connection) for the server, and standard input as one more channel.
 * Standard input stays blocking, so that a terminal shared with the shell
 * is left as it was: the channel is level-triggered and reads once per
 * event, which never blocks. A regular file (or /dev/null) cannot be
 * watched by epoll (EPERM): it is read a chunk per timer pass instead.
 *
 * Exit status: 0 when every line got its reply; 1 when the connection
 * failed (one line on stderr says why); 2 for a bad command line.
 *
 * Usage: ./client IP PORT [-r]      -r: retry connecting until the server
 *                                   answers (back-off from 0.5 s to 8 s)
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "buffer.h"
#include "channel.h"
#include "connection.h"
#include "event_loop.h"
#include "inet_address.h"
#include "tcp_client.h"

#define INPUT_CHUNK 65536            /* bytes of standard input per read */
#define SEND_HIGH_WATER (1u << 20)   /* requests waiting that pause input */

struct session {
    struct event_loop *loop;         /* not owned */
    struct tcp_client *tcp;          /* not owned */
    struct connection *conn;         /* the client's; NULL until connected */
    const char *where;               /* "IP:PORT", for messages */
    struct channel input;            /* standard input, when epoll takes it */
    bool input_polled;               /* input is watched by the channel */
    struct timer input_timer;        /* standard input, when it is a file */
    struct buffer line;              /* owned: the line read so far */
    bool input_paused;               /* too many requests wait to be sent */
    bool input_done;                 /* EOF on standard input */
    bool flush_queued;               /* printed replies wait for a flush */
    unsigned long long sent;         /* lines sent */
    unsigned long long received;     /* replies printed */
    int status;                      /* the exit status */
};

static void finish(struct session *s, int status)
{
    s->status = status;
    event_loop_quit(s->loop);
}

static void read_file_chunk(void *ctx);

/* Reads standard input again, after a pause or to begin with. */
static void resume_input(struct session *s)
{
    if (s->input_polled) {
        if (channel_enable_reading(&s->input) < 0) {
            perror("client: standard input");
            finish(s, 1);
        }
    } else if (event_loop_run_after(s->loop, &s->input_timer, 0,
                                    read_file_chunk, s) < 0) {
        perror("client: standard input");
        finish(s, 1);
    }
}

/* After a round of events: what it printed goes out, in one write. */
static void flush_stdout(void *ctx)
{
    struct session *s = ctx;
    s->flush_queued = false;
    if (fflush(stdout) != 0) {
        perror("client: standard output");
        finish(s, 1);
    }
}

/* A reply: printed as it comes (stdout is flushed once per round). */
static void on_reply(void *ctx, struct connection *conn, const char *payload,
                     size_t len)
{
    struct session *s = ctx;
    (void)conn;
    fwrite(payload, 1, len, stdout);
    putchar('\n');
    s->received++;
    if (!s->flush_queued &&
        event_loop_queue_in_loop(s->loop, flush_stdout, s) == 0)
        s->flush_queued = true;
    /* Replies come as the server reads the requests: time to read more? */
    if (s->input_paused && !s->input_done &&
        conn_output_pending(s->conn) < SEND_HIGH_WATER / 2) {
        s->input_paused = false;
        resume_input(s);
    }
}

/* Sends one line (without its newline) as one message. */
static void send_line(struct session *s, const char *text, size_t len)
{
    struct iovec part = { .iov_base = (void *)text, .iov_len = len };
    conn_send_message(s->conn, &part, 1);
    s->sent++;
}

/* Bytes of standard input: every whole line goes out, in one write for
 * all of them; a partial one waits for the rest. At EOF a last line
 * without its newline goes too (as getline() returns one). */
static void consume_input(struct session *s, const char *data, size_t n)
{
    conn_begin_batch(s->conn);
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t take = nl ? (size_t)(nl - data) : n;
        if (!nl) {
            if (buffer_append(&s->line, data, take) < 0) {
                perror("client: input");
                finish(s, 1);
            }
            break;
        }
        if (buffer_readable(&s->line) > 0) {
            if (buffer_append(&s->line, data, take) < 0) {
                perror("client: input");
                finish(s, 1);
                break;
            }
            send_line(s, buffer_peek(&s->line), buffer_readable(&s->line));
            buffer_free(&s->line);
        } else {
            send_line(s, data, take);
        }
        data += take + 1;
        n -= take + 1;
    }
    conn_end_batch(s->conn);
}

static void input_ended(struct session *s)
{
    if (buffer_readable(&s->line) > 0) {
        send_line(s, buffer_peek(&s->line), buffer_readable(&s->line));
        buffer_free(&s->line);
    }
    s->input_done = true;
    if (s->input_polled)
        channel_remove(&s->input);
    /* FIN once the requests are out; the server closes after the replies. */
    tcp_client_disconnect(s->tcp);
}

/* One read of standard input. Returns false at EOF, on an error, or when
 * too many requests wait (on_reply resumes). */
static bool read_input(struct session *s)
{
    char buf[INPUT_CHUNK];
    if (!s->conn)
        return false;                          /* the server has gone */
    ssize_t n;
    do {
        n = read(STDIN_FILENO, buf, sizeof(buf));
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        perror("client: standard input");
        finish(s, 1);
        return false;
    }
    if (n == 0) {
        input_ended(s);
        return false;
    }
    consume_input(s, buf, (size_t)n);
    if (s->conn && conn_output_pending(s->conn) > SEND_HIGH_WATER) {
        s->input_paused = true;                /* on_reply resumes */
        if (s->input_polled && channel_disable_reading(&s->input) < 0) {
            perror("client: standard input");
            finish(s, 1);
        }
        return false;
    }
    return true;
}

static void input_readable(void *ctx)
{
    read_input(ctx);
}

/* A file on standard input: one chunk per timer pass, so that the replies
 * are read in between. */
static void read_file_chunk(void *ctx)
{
    struct session *s = ctx;
    if (read_input(s))
        resume_input(s);
}

static void start_input(struct session *s)
{
    channel_init(&s->input, s->loop, STDIN_FILENO, s);
    channel_set_read_callback(&s->input, input_readable);
    channel_set_close_callback(&s->input, input_readable);  /* read sees EOF */
    channel_set_error_callback(&s->input, input_readable);  /* read says why */
    if (channel_enable_reading(&s->input) == 0) {
        s->input_polled = true;
        return;
    }
    if (errno != EPERM) {                      /* EPERM: a file, not a stream */
        perror("client: standard input");
        finish(s, 1);
        return;
    }
    resume_input(s);
}

static void on_connection(void *ctx, struct connection *conn, bool up)
{
    struct session *s = ctx;
    if (up) {
        s->conn = conn;
        start_input(s);
        return;
    }
    s->conn = NULL;
    if (s->input_done && s->received == s->sent) {
        finish(s, 0);                          /* every reply came */
        return;
    }
    if (s->input_done)
        fprintf(stderr, "client: the server closed the connection after %llu of "
                "%llu replies\n", s->received, s->sent);
    else
        fprintf(stderr, "client: the server closed the connection after %llu "
                "replies, before the end of the input\n", s->received);
    finish(s, 1);
}

static void on_connect_failed(void *ctx, int err, uint64_t retry_ms)
{
    struct session *s = ctx;
    if (retry_ms > 0) {
        fprintf(stderr, "client: connect %s: %s; retrying in %.1f s\n", s->where,
                strerror(err), (double)retry_ms / 1000);
        return;
    }
    fprintf(stderr, "client: connect %s: %s\n", s->where, strerror(err));
    finish(s, 1);
}

static int parse_port(const char *str, uint16_t *port)
{
    char *end;
    errno = 0;
    long v = strtol(str, &end, 10);
    if (errno != 0 || end == str || *end != '\0' || v < 1 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

static void usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "client: ");
    fprintf(stderr, what, arg);
    fprintf(stderr, " (usage: client IP PORT [-r])\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *positional[2];
    int npositional = 0;
    bool retry = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-r") == 0)
            retry = true;
        else if (argv[i][0] == '-' && argv[i][1] != '\0')
            usage_error("unknown option %s", argv[i]);
        else if (npositional == 2)
            usage_error("unexpected argument '%s'", argv[i]);
        else
            positional[npositional++] = argv[i];
    }
    if (npositional < 2)
        usage_error("%s", "expected IP and PORT");
    uint16_t port;
    struct inet_address addr;
    if (parse_port(positional[1], &port) < 0)
        usage_error("bad port '%s'", positional[1]);
    if (inet_address_init(&addr, positional[0], port) < 0)
        usage_error("bad IPv4 address '%s'", positional[0]);
    signal(SIGPIPE, SIG_IGN);

    char where[INET_ADDRESS_STRLEN];
    struct session s = { .where = inet_address_to_string(&addr, where, sizeof(where)),
                         .status = 1 };
    buffer_init(&s.line);
    timer_init(&s.input_timer);
    s.loop = event_loop_new();
    if (!s.loop) {
        perror("client: event loop");
        return 1;
    }
    /* A reply is at most what the framing can say. */
    s.tcp = tcp_client_new(s.loop, &addr, UINT32_MAX);
    if (!s.tcp) {
        perror("client");
        event_loop_free(s.loop);
        return 1;
    }
    tcp_client_set_message_callback(s.tcp, on_reply, &s);
    tcp_client_set_connection_callback(s.tcp, on_connection, &s);
    tcp_client_set_connect_failed_callback(s.tcp, on_connect_failed, &s);
    tcp_client_set_retry(s.tcp, retry);
    if (tcp_client_connect(s.tcp) < 0)
        perror("client: connect");
    else if (event_loop_run(s.loop) < 0)
        perror("client: epoll_wait");

    event_loop_cancel(s.loop, &s.input_timer);
    if (s.input_polled && !s.input_done)
        channel_remove(&s.input);
    tcp_client_free(s.tcp);
    buffer_free(&s.line);
    event_loop_free(s.loop);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("client: standard output");
        return 1;
    }
    return s.status;
}
