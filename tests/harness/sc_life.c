/* sc_life.c - the life of connections and of the server: idle reaping,
 * and its honesty (a slow reader the server paused is not idle; a sender
 * that trickles one message is), SIGTERM/SIGINT shutdown, running out of
 * file descriptors, and a clean exit under valgrind.
 */
#include "client.h"
#include "net.h"
#include "scenarios.h"
#include "stream.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define IDLE_WATCH   3000     /* ms the active connection must stay open */
#define IDLE_PERIOD   300     /* ms between its messages */

/* The silent connection: 1 once the server closed it, -1 if data came. */
static int silent_closed(int fd)
{
    char c;
    ssize_t n = recv(fd, &c, 1, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        return 1;
    return n > 0 ? -1 : 0;
}

int sc_idle_reap(struct run *r)
{
    const char *args[] = { "-i", "1", NULL };
    struct spawn sp = { .args = args };
    struct server *s;
    struct stream a;
    int quiet = -1, sent = 0;
    int64_t reaped = -1;

    stream_init(&a, -1);
    TRY_PTR(s = run_start(r, &sp));
    TRY(quiet = rt_connect(r, s->port));
    TRY(a.fd = rt_connect(r, s->port));
    int64_t t0 = now_ms(), next = t0, talk_end = t0 + IDLE_WATCH;
    int64_t reap_end = t0 + ms(IDLE_WATCH);
    for (;;) {
        int64_t now = now_ms();
        bool talking = now < talk_end;
        if (!talking && (reaped >= 0 || now >= reap_end))
            break;
        if (talking && now >= next) {
            char text[32];
            int n = snprintf(text, sizeof(text), "keepalive %d", sent++);
            stream_add(&a, r->proto, text, (size_t)n);
            next += IDLE_PERIOD;
        }
        EXPECT(r, stream_send(&a) >= 0, "active connection: %s", a.err);
        struct pollfd pfd[2] = { { a.fd, POLLIN, 0 }, { quiet, POLLIN, 0 } };
        int64_t until = talking ? (next < talk_end ? next : talk_end) : reap_end;
        int wait = (int)(until - now_ms());
        poll(pfd, reaped >= 0 ? 1 : 2, wait < 0 ? 0 : wait);  /* the timing is the test */
        if (pfd[0].revents)
            EXPECT(r, stream_recv(&a) >= 0 && !a.eof, "active connection closed after "
                   "%.2f s: %s", (now_ms() - t0) / 1000.0, a.failed ? a.err : "EOF");
        if (reaped < 0 && pfd[1].revents) {
            int c = silent_closed(quiet);
            EXPECT(r, c >= 0, "the silent connection received data");
            if (c == 1)
                reaped = now_ms() - t0;
        }
    }
    EXPECT(r, reaped >= 0, "silent connection still open after %d ms (-i 1)", ms(IDLE_WATCH));
    EXPECT(r, reaped >= 500, "silent connection closed after only %lld ms (-i 1)",
           (long long)reaped);
    TRY(pump(r, &a, 1, ms(T_TRIP), ms(T_TRIP)));
    run_note(r, "silent connection reaped after %.2f s; active one open for %.1f s, "
             "%d replies", reaped / 1000.0, IDLE_WATCH / 1000.0, sent);
out:
    if (quiet >= 0)
        close(quiet);
    if (a.fd >= 0)
        close(a.fd);
    stream_free(&a);
    return run_result(r);
}

#define SLOW_RATE   (1 << 20)  /* bytes a second the slow reader reads */
#define SLOW_WATCH     5000     /* ms it keeps sending and reading slowly */

/* -i 2 -t 1: a client keeps sending 4 KiB requests and reads the replies
 * at about 1 MiB/s, far slower than it sends. The server pauses reading it
 * (back-pressure), but the connection is busy, not idle: it must stay open
 * for 5 s, and every reply must come. */
int sc_slow_reader_not_idle(struct run *r)
{
    const char *args[] = { "-i", "2", "-t", "1", NULL };
    const char *args_no_threads[] = { "-i", "2", NULL };
    struct spawn sp = { .args = (cfg.features & F_THREADS) ? args : args_no_threads };
    struct server *s;
    struct stream st;
    uint64_t seed = run_seed(r);

    stream_init(&st, -1);
    TRY_PTR(s = run_start(r, &sp));
    for (int i = 0; i < 8192; i++)         /* 32 MiB: more than 5 s of reading */
        stream_add_random(&st, PROTO_FRAMED, &seed, 4096);
    TRY(st.fd = rt_connect(r, s->port));
    int64_t t0 = now_ms(), next = t0;
    size_t allowed = 0;
    while (now_ms() - t0 < SLOW_WATCH) {
        EXPECT(r, stream_send(&st) >= 0, "%s", st.err);
        if (now_ms() >= next) {             /* 100 KiB every 100 ms */
            allowed += SLOW_RATE / 10;
            next += 100;
        }
        while (st.got < allowed && !st.eof) {
            struct pollfd pfd = { st.fd, POLLIN, 0 };
            if (poll(&pfd, 1, 0) <= 0)
                break;
            static uint8_t buf[SLOW_RATE / 10];
            size_t want = allowed - st.got < sizeof(buf) ? allowed - st.got : sizeof(buf);
            ssize_t n = recv(st.fd, buf, want, 0);
            EXPECT(r, n > 0, "the server closed the busy connection after %.1f s "
                   "(%zu reply bytes read, %zu request bytes sent): %s",
                   (now_ms() - t0) / 1000.0, st.got, st.sent,
                   n == 0 ? "EOF" : strerror(errno));
            EXPECT(r, memcmp(buf, st.want.p + st.got, (size_t)n) == 0,
                   "reply bytes %zu.. differ", st.got);
            st.got += (size_t)n;
        }
        poll(NULL, 0, 10);                 /* the pace is the scenario */
    }
    size_t sent_then = st.sent, got_then = st.got;
    TRY(pump(r, &st, 1, ms(T_BULK), ms(T_STALL)));
    run_note(r, "open after %.1f s of slow reading (%zu reply bytes read, %zu request "
             "bytes sent by then); every reply came", SLOW_WATCH / 1000.0, got_then,
             sent_then);
out:
    if (st.fd >= 0)
        close(st.fd);
    stream_free(&st);
    return run_result(r);
}

#define DRAIN_MSGS          3   /* requests of DRAIN_LEN, sent at once */
#define DRAIN_LEN      300000
#define DRAIN_RCVBUF (128 << 10) /* the client's receive buffer: the rest waits
                                  * in the server's kernel send queue */
#define DRAIN_CHUNK   (16 << 10) /* read every DRAIN_PERIOD ms: 320 KiB/s */
#define DRAIN_PERIOD        50
#define DRAIN_LIMIT     20000   /* ms for it all */

/* -i 1: a client sends three 300 KB requests at once and then only reads,
 * at 320 KiB/s. The server writes the replies as fast as the kernel takes
 * them, and then has nothing to do for seconds while its kernel's send
 * queue drains into the client: it writes nothing, reads nothing, and yet
 * the client keeps reading. The connection must stay open, and serve one
 * more round trip after the last reply. */
int sc_draining_reader_not_idle(struct run *r)
{
    const char *args[] = { "-i", "1", "-m", "300000", NULL };
    struct spawn sp = { .args = args };
    struct server *s;
    struct stream st;
    uint64_t seed = run_seed(r);
    static uint8_t buf[DRAIN_CHUNK];

    stream_init(&st, -1);
    TRY_PTR(s = run_start(r, &sp));
    for (int i = 0; i < DRAIN_MSGS; i++)
        stream_add_random(&st, PROTO_FRAMED, &seed, DRAIN_LEN);
    TRY(st.fd = rt_connect(r, s->port));
    int rcvbuf = DRAIN_RCVBUF;
    EXPECT(r, setsockopt(st.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) == 0,
           "SO_RCVBUF: %s", strerror(errno));
    int64_t t0 = now_ms(), next = t0;
    size_t allowed = 0;
    while (st.got < st.want.len) {
        EXPECT(r, now_ms() - t0 < ms(DRAIN_LIMIT), "%zu of %zu reply bytes after %d ms",
               st.got, st.want.len, ms(DRAIN_LIMIT));
        EXPECT(r, stream_send(&st) >= 0, "%s", st.err);
        if (now_ms() >= next) {
            allowed += DRAIN_CHUNK;
            next += DRAIN_PERIOD;
        }
        size_t want = allowed - st.got;
        if (want > st.want.len - st.got)
            want = st.want.len - st.got;
        if (want > 0) {
            ssize_t n = recv(st.fd, buf, want, MSG_DONTWAIT);
            EXPECT(r, n != 0, "the server closed the connection while the client read "
                   "(%zu of %zu reply bytes read, %.1f s)", st.got, st.want.len,
                   (now_ms() - t0) / 1000.0);
            EXPECT(r, n > 0 || errno == EAGAIN, "recv: %s", strerror(errno));
            if (n > 0) {
                EXPECT(r, memcmp(buf, st.want.p + st.got, (size_t)n) == 0,
                       "reply bytes %zu.. differ", st.got);
                st.got += (size_t)n;
            }
        }
        poll(NULL, 0, 10);                 /* the pace is the scenario */
    }
    double drained = (now_ms() - t0) / 1000.0;
    EXPECT(r, silent_closed(st.fd) == 0, "reaped while it read: EOF right after the last "
           "reply (%.1f s)", drained);
    stream_add(&st, PROTO_FRAMED, "still here", 10);
    TRY(pump(r, &st, 1, ms(T_TRIP), ms(T_TRIP)));
    run_note(r, "open after %.1f s of reading %zu reply bytes at 320 KiB/s, then one "
             "more round trip", drained, st.want.len);
out:
    if (st.fd >= 0)
        close(st.fd);
    stream_free(&st);
    return run_result(r);
}

/* -i 2: one client announces a 1000-byte message and sends it a byte every
 * 300 ms, another sends a whole small message every 300 ms. Bytes keep
 * arriving on both, but only the second makes progress: the trickling
 * one must be closed after about 2 s, the other must stay open. */
int sc_trickle_sender(struct run *r)
{
    const char *args[] = { "-i", "2", NULL };
    struct spawn sp = { .args = args };
    struct server *s;
    struct stream honest;
    int trickle = -1, sent = 0;
    int64_t closed_at = -1;

    stream_init(&honest, -1);
    TRY_PTR(s = run_start(r, &sp));
    TRY(trickle = rt_connect(r, s->port));
    TRY(honest.fd = rt_connect(r, s->port));
    uint8_t header[4] = { 0, 0, 0x03, 0xe8 };      /* 1000 bytes follow */
    int64_t t0 = now_ms(), end = t0 + ms(4000);
    EXPECT(r, net_send_all(trickle, header, 4, t0 + ms(T_TRIP)) == 0, "send: %s",
           strerror(errno));
    while (now_ms() < end && closed_at < 0) {
        poll(NULL, 0, 300);                /* the pace is the scenario */
        if (send(trickle, "x", 1, MSG_NOSIGNAL) == 1)
            sent++;
        char text[32];
        int n = snprintf(text, sizeof(text), "honest %d", sent);
        stream_add(&honest, PROTO_FRAMED, text, (size_t)n);
        EXPECT(r, stream_send(&honest) >= 0, "%s", honest.err);
        EXPECT(r, stream_recv(&honest) >= 0 && !honest.eof, "the honest sender was "
               "closed after %.1f s: %s", (now_ms() - t0) / 1000.0,
               honest.failed ? honest.err : "EOF");
        int c = silent_closed(trickle);
        EXPECT(r, c >= 0, "the trickling sender got a reply");
        if (c == 1)
            closed_at = now_ms() - t0;
    }
    EXPECT(r, closed_at >= 0, "the trickling sender is still open after %d ms (-i 2; "
           "%d bytes of its 1000-byte message sent, one every 300 ms)", ms(4000), sent);
    EXPECT(r, closed_at >= 1500, "the trickling sender was closed after only %lld ms "
           "(-i 2)", (long long)closed_at);
    TRY(pump(r, &honest, 1, ms(T_TRIP), ms(T_TRIP)));
    run_note(r, "trickling sender closed after %.2f s (%d bytes sent); the honest one "
             "stayed open", closed_at / 1000.0, sent);
out:
    if (trickle >= 0)
        close(trickle);
    if (honest.fd >= 0)
        close(honest.fd);
    stream_free(&honest);
    return run_result(r);
}

/* Opens n connections to s: on the later ones a whole request or a partial
 * message, then a round trip on the first (a server that serves one client
 * at a time serves the first first). 0 or -1. */
static int open_busy(struct run *r, struct server *s, int *fds, int n)
{
    if (rt_connect_many(r, s->port, fds, n) < 0)
        return -1;
    for (int i = 1; i < n; i++) {
        struct bytes req = { 0 }, rep = { 0 };
        encode(r->proto, &req, &rep, "pending request", 15);
        size_t len = i % 2 ? req.len : req.len - 5;     /* odd: mid-message */
        int rc = net_send_all(fds[i], req.p, len, now_ms() + ms(T_TRIP));
        bytes_free(&req);
        bytes_free(&rep);
        if (rc < 0)
            return run_fail(r, "send on connection %d failed: %s", i, strerror(errno));
    }
    return rt_trip(r, fds[0], r->proto, "first connection", 16);
}

/* Sends sig and expects exit status 0 within timeout_ms. */
static int expect_clean_exit(struct run *r, struct server *s, int sig, int timeout_ms)
{
    char st[96];
    server_signal(s, sig);
    s->ended = true;
    if (!server_wait(s, timeout_ms))
        return run_fail(r, "%s: still running after %d ms", strsignal(sig), timeout_ms);
    if (!WIFEXITED(s->status) || WEXITSTATUS(s->status) != 0)
        return run_fail(r, "%s: %s, want exit status 0", strsignal(sig),
                        status_str(s->status, st, sizeof(st)));
    return 0;
}

int sc_sigterm_clean(struct run *r)
{
    static const int sigs[] = { SIGTERM, SIGINT };
    int fds[10];
    struct server *s;

    for (int i = 0; i < 10; i++)
        fds[i] = -1;
    for (int k = 0; k < 2; k++) {
        TRY_PTR(s = run_start(r, NULL));
        TRY(open_busy(r, s, fds, k == 0 ? 10 : 4));
        TRY(expect_clean_exit(r, s, sigs[k], ms(3000)));
        net_close_all(fds, 10);
    }
out:
    net_close_all(fds, 10);
    return run_result(r);
}

#define EMFILE_LIMIT 64
#define EMFILE_CONNS 200

int sc_emfile(struct run *r)
{
    struct spawn sp = { .nofile = EMFILE_LIMIT };
    struct server *s;
    int fds[EMFILE_CONNS];

    for (int i = 0; i < EMFILE_CONNS; i++)
        fds[i] = -1;
    TRY_PTR(s = run_start(r, &sp));
    double busy0 = proc_busy_seconds(s->pid), cpu0 = proc_cpu_seconds(s->pid);
    TRY(rt_connect_many(r, s->port, fds, EMFILE_CONNS));
    poll(NULL, 0, 1000);                  /* the duration is the measurement */
    double busy = proc_busy_seconds(s->pid) - busy0, cpu = proc_cpu_seconds(s->pid) - cpu0;
    EXPECT(r, busy0 >= 0 && cpu0 >= 0, "cannot read /proc/%d", (int)s->pid);
    /* 0.3 s, scaled less than other deadlines: the window is 1 s, and a
     * limit near 1 s could not tell a spinning server. */
    double limit = cfg.normal ? 0.3 : 0.5;
    EXPECT(r, busy < limit, "server was running or runnable %.2f s (CPU %.2f s) of the "
           "1 s holding %d connections with RLIMIT_NOFILE %d (limit %.1f s): spinning "
           "on accept?", busy, cpu, EMFILE_CONNS, EMFILE_LIMIT, limit);
    net_close_all(fds, EMFILE_CONNS);
    TRY(rt_fresh_trip(r, s->port, r->proto, "after closing all"));
    run_note(r, "running or runnable %.2f s (CPU %.2f s) of the 1 s window", busy, cpu);
out:
    net_close_all(fds, EMFILE_CONNS);
    return run_result(r);
}

static bool have_valgrind(void)
{
    const char *path = getenv("PATH");
    char dir[4096], file[4200];
    while (path && *path) {
        size_t n = strcspn(path, ":");
        snprintf(dir, sizeof(dir), "%.*s", (int)n, path);
        snprintf(file, sizeof(file), "%s/valgrind", dir);
        if (access(file, X_OK) == 0)
            return true;
        path += n + (path[n] == ':');
    }
    return false;
}

/* The line of valgrind's output that starts with `key`, or "". */
static void valgrind_line(const char *err, const char *key, char *out, size_t n)
{
    const char *hit = err ? strstr(err, key) : NULL;
    first_line(hit ? hit : "", out, n);
}

int sc_valgrind_shutdown(struct run *r)
{
    struct spawn sp = { .valgrind = true };
    struct server *s;
    int fds[5] = { -1, -1, -1, -1, -1 };
    char *err = NULL, st[96], errors[120], lost[120], reachable[120];

    EXPECT(r, have_valgrind(), "valgrind is not installed (apt-get install valgrind)");
    TRY_PTR(s = run_start(r, &sp));
    for (int i = 0; i < 3; i++)
        TRY(rt_fresh_trip(r, s->port, r->proto, "under valgrind"));
    TRY(open_busy(r, s, fds, 5));
    server_signal(s, SIGTERM);
    s->ended = true;
    EXPECT(r, server_wait(s, 30000), "still running 30 s after SIGTERM");
    err = slurp(s->err_path, NULL);
    valgrind_line(err, "ERROR SUMMARY:", errors, sizeof(errors));
    valgrind_line(err, "definitely lost:", lost, sizeof(lost));
    valgrind_line(err, "still reachable:", reachable, sizeof(reachable));
    EXPECT(r, WIFEXITED(s->status) && WEXITSTATUS(s->status) == 0,
           "SIGTERM: %s, want exit status 0 (%s %s; see %s)",
           status_str(s->status, st, sizeof(st)), errors, lost, s->err_path);
    EXPECT(r, strstr(errors, "ERROR SUMMARY: 0 errors"), "%s (see %s)", errors, s->err_path);
    run_note(r, "%s", strstr(err, "All heap blocks were freed") ? "all heap blocks freed"
                                                                : reachable);
out:
    free(err);
    net_close_all(fds, 5);
    return run_result(r);
}
