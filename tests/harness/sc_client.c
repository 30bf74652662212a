/* sc_client.c - the column's own client (the `client` binary next to its
 * server): 10 000 lines piped in, a refused connection, a server that goes
 * away mid-stream; and, for the reactor client of step10, retrying until
 * the server starts (-r) and sending every line without waiting for the
 * replies (pipelining).
 */
#include "client.h"
#include "net.h"
#include "scenarios.h"
#include "stream.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define LINES 10000
#define CLIENT_QUIET 2000  /* ms (scaled) without a request byte: the client stopped */

/* A client process: stdin and stdout on pipes, stderr in a file. */
struct client_proc {
    pid_t pid;
    int in;                        /* write end of its stdin, -1 once closed */
    int out;                       /* read end of its stdout */
    char err_path[4200];
    struct bytes stdout_text;      /* what it printed */
    int status;
    bool reaped;
};

/* The client binary next to the column's server. */
static void client_path(char *buf, size_t n)
{
    snprintf(buf, n, "%s", cfg.server);
    char *slash = strrchr(buf, '/');
    snprintf(slash ? slash + 1 : buf, n - (size_t)(slash ? slash + 1 - buf : 0),
             "client");
}

/* Starts `client 127.0.0.1 PORT [extra]`. 0, or -1 (recorded). */
static int client_start(struct run *r, struct client_proc *c, uint16_t port,
                        const char *extra)
{
    char path[4200], portstr[8];
    int in[2], out[2];
    client_path(path, sizeof(path));
    snprintf(portstr, sizeof(portstr), "%u", port);
    snprintf(c->err_path, sizeof(c->err_path), "%s/%s.client.stderr", cfg.outdir,
             r->sc->name);
    memset(&c->stdout_text, 0, sizeof(c->stdout_text));
    c->reaped = false;
    int err_fd = open(c->err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (err_fd < 0 || pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
        return run_fail(r, "client pipes: %s", strerror(errno));
    pid_t parent = getpid();
    c->pid = fork();
    if (c->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err_fd, 2);
        close_range(3, ~0U, 0);
        signal(SIGPIPE, SIG_DFL);
        execl(path, path, "127.0.0.1", portstr, extra, (char *)NULL);
        dprintf(2, "harness: exec %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err_fd);
    if (c->pid < 0)
        return run_fail(r, "fork: %s", strerror(errno));
    c->in = in[1];
    c->out = out[0];
    fcntl(c->in, F_SETFL, O_NONBLOCK);
    fcntl(c->out, F_SETFL, O_NONBLOCK);
    return 0;
}

/* Feeds input (then closes stdin, unless keep_open) and collects stdout
 * until the client exits or timeout_ms pass. 1 if it exited. */
static int client_pump(struct client_proc *c, const struct bytes *input,
                       bool keep_open, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    size_t fed = 0;
    for (;;) {
        if (c->in >= 0 && input && fed == input->len && !keep_open) {
            close(c->in);
            c->in = -1;
        }
        struct pollfd pfd[2] = { { c->out, POLLIN, 0 },
                                 { c->in, POLLOUT, 0 } };
        bool feeding = c->in >= 0 && input && fed < input->len;
        int rc = poll(pfd, feeding ? 2 : 1, ms_left(deadline) > 100 ? 100 : ms_left(deadline));
        if (rc > 0 && (pfd[0].revents & (POLLIN | POLLHUP))) {
            char buf[65536];
            ssize_t n = read(c->out, buf, sizeof(buf));
            if (n > 0)
                bytes_add(&c->stdout_text, buf, (size_t)n);
            if (n == 0 && !c->reaped) {       /* stdout closed: exiting */
                waitpid(c->pid, &c->status, 0);
                c->reaped = true;
                return 1;
            }
        }
        if (rc > 0 && feeding && (pfd[1].revents & POLLOUT)) {
            ssize_t n = write(c->in, input->p + fed, input->len - fed);
            if (n > 0)
                fed += (size_t)n;
            else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                close(c->in);                  /* it stopped reading */
                c->in = -1;
            }
        }
        if (waitpid(c->pid, &c->status, WNOHANG) == c->pid) {
            c->reaped = true;
            /* What it printed before it went. */
            char buf[65536];
            ssize_t n;
            while ((n = read(c->out, buf, sizeof(buf))) > 0)
                bytes_add(&c->stdout_text, buf, (size_t)n);
            return 1;
        }
        if (ms_left(deadline) == 0)
            return 0;
    }
}

static void client_end(struct client_proc *c)
{
    if (c->pid > 0 && !c->reaped) {
        kill(c->pid, SIGKILL);
        waitpid(c->pid, &c->status, 0);
        c->reaped = true;
    }
    if (c->in >= 0)
        close(c->in);
    if (c->out >= 0)
        close(c->out);
    c->in = c->out = -1;
    bytes_free(&c->stdout_text);
}

/* The client's stderr: NULL-safe text, and whether a sanitizer spoke. */
static char *client_stderr(const struct client_proc *c, bool *sanitizer)
{
    char *text = slurp(c->err_path, NULL);
    *sanitizer = text && (strstr(text, "Sanitizer") || strstr(text, "runtime error:"));
    return text;
}

/* A port nobody listens on: bound to port 0, then closed. 0, or -1
 * (recorded). */
static int free_port(struct run *r, uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(sin);
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
             getsockname(fd, (struct sockaddr *)&sin, &len) == 0;
    int err = errno;
    if (fd >= 0)
        close(fd);
    if (!ok)
        return run_fail(r, "a free port: %s", strerror(err));
    *port = ntohs(sin.sin_port);
    return 0;
}

/* After the client exited: no sanitizer report, the exit status wanted,
 * and (want not NULL) exactly want on stdout. 0, or -1 (recorded). *err
 * gets its stderr. */
static int client_check(struct run *r, struct client_proc *c, int status,
                        const struct bytes *want, char **err)
{
    bool sanitizer;
    char st[96];
    *err = client_stderr(c, &sanitizer);
    if (sanitizer)
        return run_fail(r, "sanitizer report in %s", c->err_path);
    if (!WIFEXITED(c->status) || WEXITSTATUS(c->status) != status)
        return run_fail(r, "client: %s, want exit status %d (stderr: %.200s)",
                        status_str(c->status, st, sizeof(st)), status,
                        *err ? *err : "");
    if (want && (c->stdout_text.len != want->len ||
                 memcmp(c->stdout_text.p, want->p, want->len) != 0))
        return run_fail(r, "client printed %zu bytes, want %zu: every reply, in "
                        "order", c->stdout_text.len, want->len);
    return 0;
}

/* "line K" for K = 1..n, one a line; the replies the column owes. */
static void make_lines(int n, struct bytes *in, struct bytes *want)
{
    for (int k = 1; k <= n; k++) {
        char line[32];
        int len = snprintf(line, sizeof(line), "line %d\n", k);
        bytes_add(in, line, (size_t)len);
        if (cfg.proto == PROTO_FRAMED)
            bytes_add(want, "reply:", 6);
        bytes_add(want, line, (size_t)len);
    }
}

int sc_client_lines_10000(struct run *r)
{
    struct client_proc c = { .in = -1, .out = -1 };
    struct bytes in = { 0 }, want = { 0 };
    struct server *s;
    char *err = NULL;

    make_lines(LINES, &in, &want);
    TRY_PTR(s = run_start(r, NULL));
    TRY(client_start(r, &c, s->port, NULL));
    EXPECT(r, client_pump(&c, &in, false, ms(T_BULK)), "the client did not exit "
           "within %d ms (%zu bytes printed)", ms(T_BULK), c.stdout_text.len);
    TRY(client_check(r, &c, 0, &want, &err));
    run_note(r, "%d replies in order, exit 0", LINES);
out:
    free(err);
    client_end(&c);
    bytes_free(&in);
    bytes_free(&want);
    return run_result(r);
}

int sc_client_refused(struct run *r)
{
    struct client_proc c = { .in = -1, .out = -1 };
    struct bytes in = { 0 };
    char *err = NULL;
    uint16_t port;

    bytes_add(&in, "hello\n", 6);
    TRY(free_port(r, &port));
    TRY(client_start(r, &c, port, NULL));
    EXPECT(r, client_pump(&c, &in, false, ms(T_EXIT)), "the client did not exit "
           "within %d ms", ms(T_EXIT));
    TRY(client_check(r, &c, 1, NULL, &err));
    EXPECT(r, err && count_lines(err) == 1 && strstr(err, "refused"), "stderr: %d "
           "lines, want one that says refused: '%.200s'", err ? count_lines(err) : 0,
           err ? err : "");
    EXPECT(r, c.stdout_text.len == 0, "%zu bytes on stdout", c.stdout_text.len);
    char line[160];
    first_line(err, line, sizeof(line));
    run_note(r, "'%s'", line);
out:
    free(err);
    client_end(&c);
    bytes_free(&in);
    return run_result(r);
}

/* Reads stdout until it holds at least want bytes. */
static bool client_printed(struct client_proc *c, size_t want, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    while (c->stdout_text.len < want && ms_left(deadline) > 0) {
        struct pollfd pfd = { c->out, POLLIN, 0 };
        if (poll(&pfd, 1, ms_left(deadline)) <= 0)
            continue;
        char buf[4096];
        ssize_t n = read(c->out, buf, sizeof(buf));
        if (n <= 0)
            break;
        bytes_add(&c->stdout_text, buf, (size_t)n);
    }
    return c->stdout_text.len >= want;
}

int sc_client_server_closes(struct run *r)
{
    struct client_proc c = { .in = -1, .out = -1 };
    struct bytes first = { 0 }, want = { 0 }, rest = { 0 }, unused = { 0 };
    struct server *s;
    char st[96], *err = NULL;
    bool sanitizer;

    make_lines(10, &first, &want);
    make_lines(10, &rest, &unused);
    TRY_PTR(s = run_start(r, NULL));
    TRY(client_start(r, &c, s->port, NULL));
    EXPECT(r, write(c.in, first.p, first.len) == (ssize_t)first.len, "write: %s",
           strerror(errno));
    EXPECT(r, client_printed(&c, want.len, ms(T_TRIP)), "%zu of %zu reply bytes "
           "before the server went", c.stdout_text.len, want.len);
    server_signal(s, SIGKILL);             /* mid-stream: more lines follow */
    s->ended = true;
    server_wait(s, ms(T_EXIT));
    EXPECT(r, client_pump(&c, &rest, false, ms(T_EXIT)), "the client did not exit "
           "within %d ms of losing its server", ms(T_EXIT));
    err = client_stderr(&c, &sanitizer);
    EXPECT(r, !sanitizer, "sanitizer report in %s", c.err_path);
    EXPECT(r, WIFEXITED(c.status) && WEXITSTATUS(c.status) != 0, "client: %s, want "
           "a non-zero exit status", status_str(c.status, st, sizeof(st)));
    EXPECT(r, err && count_lines(err) == 1, "stderr: %d lines, want one that says "
           "why: '%.200s'", err ? count_lines(err) : 0, err ? err : "");
    char line[200];
    first_line(err, line, sizeof(line));
    run_note(r, "%s; '%s'", status_str(c.status, st, sizeof(st)), line);
out:
    free(err);
    client_end(&c);
    bytes_free(&first);
    bytes_free(&want);
    bytes_free(&rest);
    bytes_free(&unused);
    return run_result(r);
}

/* -r: the client starts 1 s before the server, on the server's port-to-be,
 * and must get through once it is there. */
int sc_client_retry(struct run *r)
{
    struct client_proc c = { .in = -1, .out = -1 };
    struct bytes in = { 0 }, want = { 0 };
    struct server *s;
    char st[96], portstr[8], *err = NULL;
    uint16_t port;

    TRY(free_port(r, &port));
    make_lines(3, &in, &want);
    TRY(client_start(r, &c, port, "-r"));
    EXPECT(r, !client_pump(&c, &in, true, 1000), "the client exited before the "
           "server started: %s", status_str(c.status, st, sizeof(st)));
    snprintf(portstr, sizeof(portstr), "%u", port);
    struct spawn sp = { .port = portstr };
    TRY_PTR(s = run_start(r, &sp));
    close(c.in);
    c.in = -1;
    EXPECT(r, client_pump(&c, NULL, false, ms(8000)), "the client did not finish "
           "within %d ms of the server's start", ms(8000));
    TRY(client_check(r, &c, 0, &want, &err));
    run_note(r, "connected after %d failed attempts; every reply", count_lines(err));
out:
    free(err);
    client_end(&c);
    bytes_free(&in);
    bytes_free(&want);
    return run_result(r);
}

/* The harness plays the server: it reads requests and answers none until
 * all 100 lines have arrived. A client that waits for each reply before
 * the next line sends one, and stalls. */
int sc_client_pipelines(struct run *r)
{
    enum { N = 100 };
    struct client_proc c = { .in = -1, .out = -1 };
    struct bytes in = { 0 }, want = { 0 }, got = { 0 }, replies = { 0 }, echo = { 0 };
    char *err = NULL;
    int lfd = -1, conn = -1;

    make_lines(N, &in, &want);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(sin);
    EXPECT(r, lfd >= 0 && bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
           listen(lfd, 4) == 0 && getsockname(lfd, (struct sockaddr *)&sin, &len) == 0,
           "listen: %s", strerror(errno));
    TRY(client_start(r, &c, ntohs(sin.sin_port), NULL));
    EXPECT(r, write(c.in, in.p, in.len) == (ssize_t)in.len, "write: %s", strerror(errno));
    close(c.in);
    c.in = -1;
    EXPECT(r, net_wait(lfd, POLLIN, now_ms() + ms(T_CONNECT)), "the client did not "
           "connect");
    conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    EXPECT(r, conn >= 0, "accept: %s", strerror(errno));
    /* Every request, without a single reply. A client that waits for
     * replies sends one request and stops: CLIENT_QUIET without a byte
     * ends the wait (a pipelining client sends the 100 lines in a burst). */
    size_t owed = in.len + 4 * N - N;          /* frames: no newline, a header */
    int64_t deadline = now_ms() + ms(T_TRIP);
    int64_t quiet = now_ms() + ms(CLIENT_QUIET);
    while (got.len < owed && ms_left(deadline) > 0) {
        char buf[4096];
        if (net_wait(conn, POLLIN, quiet < deadline ? quiet : deadline) == 0)
            break;
        ssize_t n = recv(conn, buf, sizeof(buf), 0);
        if (n <= 0)
            break;
        bytes_add(&got, buf, (size_t)n);
        quiet = now_ms() + ms(CLIENT_QUIET);
    }
    EXPECT(r, got.len == owed, "%zu of the %zu request bytes of %d lines arrived "
           "before any reply: the client waits for replies", got.len, owed, N);
    /* Now the replies, all at once, and the close after the client's FIN. */
    for (size_t off = 0; off + 4 <= got.len;) {
        uint32_t plen = (uint32_t)got.p[off] << 24 | (uint32_t)got.p[off + 1] << 16 |
                        (uint32_t)got.p[off + 2] << 8 | got.p[off + 3];
        encode(PROTO_FRAMED, &echo, &replies, got.p + off + 4, plen);
        off += 4 + plen;
    }
    EXPECT(r, net_send_all(conn, replies.p + 0, replies.len, now_ms() + ms(T_TRIP)) == 0,
           "send: %s", strerror(errno));
    size_t dummy;
    net_await_close(conn, now_ms() + ms(T_TRIP), &dummy);  /* the client's FIN */
    close(conn);
    conn = -1;
    EXPECT(r, client_pump(&c, NULL, false, ms(T_EXIT)), "the client did not exit");
    TRY(client_check(r, &c, 0, &want, &err));
    run_note(r, "all %d requests sent before the first reply", N);
out:
    if (lfd >= 0)
        close(lfd);
    if (conn >= 0)
        close(conn);
    free(err);
    client_end(&c);
    bytes_free(&in);
    bytes_free(&want);
    bytes_free(&got);
    bytes_free(&replies);
    bytes_free(&echo);
    return run_result(r);
}
