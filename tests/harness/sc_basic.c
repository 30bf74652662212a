/* sc_basic.c - the command line and the simplest conversations: start-up
 * line, bad arguments, a port in use, -h, one echo, clients one after
 * another, 50 at once, and a half-closed connection.
 */
#include "client.h"
#include "net.h"
#include "scenarios.h"
#include "stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int sc_startup(struct run *r)
{
    struct server *s;

    TRY_PTR(s = run_start(r, NULL));
    TRY(rt_once(r, s->port, r->proto, "startup", 7));
    server_drain_stdout(s, ms(200));
    EXPECT(r, s->nextra == 0, "%zu more bytes on stdout after the start-up line: '%.*s'",
           s->nextra, (int)(s->nextra < 60 ? s->nextra : 60), s->extra);
    run_note(r, "'%s'", s->line);
out:
    return run_result(r);
}

/* Starts a server that should exit by itself; waits for it and reads its
 * stdout to the end and its stderr. NULL if it did not exit in time. */
static struct server *run_to_exit(struct run *r, const struct spawn *sp,
                                  const char *what, char **err)
{
    struct server *s = run_spawn(r, sp);
    *err = NULL;
    if (s == NULL)
        return NULL;
    if (!server_wait(s, ms(T_EXIT))) {
        run_fail(r, "%s: still running after %d ms", what, ms(T_EXIT));
        return NULL;
    }
    server_drain_stdout(s, ms(1000));
    *err = slurp(s->err_path, NULL);
    return s;
}

int sc_bad_args(struct run *r)
{
    static const struct {
        const char *ip, *port, *opt, *val, *what;
    } cases[] = {      /* port NULL: none at all */
        { "127.0.0.1", "99999", NULL,    NULL, "port 99999" },
        { "127.0.0.1", "x",     NULL,    NULL, "port x" },
        { "127.0.0.1", "0",     "-Z",    NULL, "option -Z" },
        { "256.1.1.1", "0",     NULL,    NULL, "IP 256.1.1.1" },
        { "192.0.2.1", "0",     NULL,    NULL, "IP 192.0.2.1 (not local)" },
        { "127.0.0.1", NULL,    NULL,    NULL, "no PORT" },
        { "127.0.0.1", "0",     "extra", NULL, "a third argument" },
        { "127.0.0.1", "0",     "-m",    NULL, "-m without a value" },
        { "127.0.0.1", "0",     "-m",    "x",  "-m x" },
    };
    char *err = NULL;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *args[] = { cases[i].opt, cases[i].val, NULL };
        struct spawn sp = { .ip = cases[i].ip, .port = cases[i].port,
                            .no_port = cases[i].port == NULL, .args = args };
        char st[96];
        const char *what = cases[i].what;
        struct server *s;

        TRY_PTR(s = run_to_exit(r, &sp, what, &err));
        s->ended = true;
        EXPECT(r, WIFEXITED(s->status) && WEXITSTATUS(s->status) == 2,
               "%s: %s, want exit status 2", what, status_str(s->status, st, sizeof(st)));
        EXPECT(r, s->nextra == 0, "%s: %zu bytes on stdout, want none", what, s->nextra);
        EXPECT(r, err && count_lines(err) == 1, "%s: %d lines on stderr, want exactly 1: '%.200s'",
               what, err ? count_lines(err) : 0, err ? err : "");
        free(err);
        err = NULL;
    }
out:
    free(err);
    return run_result(r);
}

/* A second server on a port the first one listens on: "address already
 * in use" is a runtime failure (exit 1, one line), and the first one keeps
 * the port and its clients. */
int sc_port_in_use(struct run *r)
{
    struct server *first, *second;
    char port[8], st[96], *err = NULL;

    TRY_PTR(first = run_start(r, NULL));
    snprintf(port, sizeof(port), "%u", first->port);
    struct spawn sp = { .port = port };
    TRY_PTR(second = run_to_exit(r, &sp, "second server on the same port", &err));
    second->ended = true;
    EXPECT(r, WIFEXITED(second->status) && WEXITSTATUS(second->status) == 1,
           "second server on port %s: %s, want exit status 1 (%s)", port,
           status_str(second->status, st, sizeof(st)),
           second->nextra > 0 ? "it printed a start-up line" : "no start-up line");
    EXPECT(r, second->nextra == 0, "second server: %zu bytes on stdout, want none",
           second->nextra);
    EXPECT(r, err && count_lines(err) == 1, "second server: %d lines on stderr, want "
           "exactly 1: '%.200s'", err ? count_lines(err) : 0, err ? err : "");
    for (int i = 0; i < 5; i++)
        TRY(rt_fresh_trip(r, first->port, r->proto, "the first server, after"));
    char line[160];
    first_line(err, line, sizeof(line));
    run_note(r, "'%s'", line);
out:
    free(err);
    return run_result(r);
}

int sc_help(struct run *r)
{
    const char *args[] = { "-h", NULL };
    struct spawn sp = { .args = args };
    char *err = NULL, st[96];
    struct server *s;

    TRY_PTR(s = run_to_exit(r, &sp, "-h", &err));
    s->ended = true;
    EXPECT(r, WIFEXITED(s->status) && WEXITSTATUS(s->status) == 0,
           "-h: %s, want exit status 0", status_str(s->status, st, sizeof(st)));
    s->extra[s->nextra < sizeof(s->extra) ? s->nextra : sizeof(s->extra) - 1] = '\0';
    EXPECT(r, strcasestr(s->extra, "usage") || (err && strcasestr(err, "usage")),
           "-h printed nothing that mentions usage");
out:
    free(err);
    return run_result(r);
}

int sc_echo(struct run *r)
{
    struct server *s;

    TRY_PTR(s = run_start(r, NULL));
    TRY(rt_once(r, s->port, r->proto, "hello, echo", 11));
out:
    return run_result(r);
}

int sc_sequential_clients(struct run *r)
{
    struct server *s;

    TRY_PTR(s = run_start(r, NULL));
    for (int i = 0; i < 20; i++) {
        char what[32];
        snprintf(what, sizeof(what), "client %d of 20", i + 1);
        TRY(rt_fresh_trip(r, s->port, r->proto, what));
    }
out:
    return run_result(r);
}

int sc_concurrent_50(struct run *r)
{
    struct server *s;

    TRY_PTR(s = run_start(r, NULL));
    TRY(rt_many_trips(r, s->port, 50, ms(2000), ms(2000)));
out:
    return run_result(r);
}

int sc_half_close(struct run *r)
{
    struct stream st;
    uint64_t seed = run_seed(r);

    stream_init(&st, -1);
    for (int i = 0; i < 25; i++)           /* 25 x 4 KiB = 100 KiB */
        stream_add_random(&st, r->proto, &seed, 4096);
    st.shut_wr = st.want_eof = true;
    return rt_serve_stream(r, &st);
}
