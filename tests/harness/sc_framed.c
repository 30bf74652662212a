/* sc_framed.c - the framed protocol: headers cut into bytes, many messages
 * in one write, empty and large messages, a 1000-message pipeline, the -m
 * limit, garbage on one connection beside a healthy one, and half-close
 * with pipelined (and one incomplete) messages. These always speak framed,
 * so raw columns fail them.
 */
#include "client.h"
#include "net.h"
#include "scenarios.h"
#include "stream.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Appends `count` messages of random sizes 0..max_len. */
static void add_messages(struct stream *st, uint64_t *seed, int count, uint32_t max_len)
{
    for (int i = 0; i < count; i++)
        stream_add_random(st, PROTO_FRAMED, seed, rand_below(seed, max_len + 1));
}

int sc_split_header(struct run *r)
{
    struct server *s;
    struct stream st;
    uint64_t seed = run_seed(r);

    stream_init(&st, -1);
    TRY_PTR(s = run_start(r, NULL));
    stream_add_random(&st, PROTO_FRAMED, &seed, 200);
    TRY(st.fd = rt_connect(r, s->port));
    net_nodelay(st.fd);
    int64_t deadline = now_ms() + ms(T_TRIP);
    for (; st.sent < st.out.len; st.sent++)
        EXPECT(r, net_send_all(st.fd, st.out.p + st.sent, 1, deadline) == 0,
               "send of byte %zu failed: %s", st.sent, strerror(errno));
    TRY(pump(r, &st, 1, ms(T_TRIP), ms(T_TRIP)));
out:
    if (st.fd >= 0)
        close(st.fd);
    stream_free(&st);
    return run_result(r);
}

int sc_many_in_one_write(struct run *r)
{
    struct server *s;
    struct stream st;
    uint64_t seed = run_seed(r);

    stream_init(&st, -1);
    TRY_PTR(s = run_start(r, NULL));
    add_messages(&st, &seed, 100, 200);
    TRY(st.fd = rt_connect(r, s->port));
    ssize_t n = send(st.fd, st.out.p, st.out.len, MSG_NOSIGNAL);
    EXPECT(r, n > 0, "send failed: %s", strerror(errno));
    st.sent = (size_t)n;           /* a short write is finished by pump() */
    TRY(pump(r, &st, 1, ms(T_TRIP), ms(T_TRIP)));
    run_note(r, "%zu bytes, %zd of them in the first write()", st.out.len, n);
out:
    if (st.fd >= 0)
        close(st.fd);
    stream_free(&st);
    return run_result(r);
}

int sc_empty_message(struct run *r)
{
    struct server *s;

    TRY_PTR(s = run_start(r, NULL));
    TRY(rt_once(r, s->port, PROTO_FRAMED, "", 0));
out:
    return run_result(r);
}

int sc_message_1mib(struct run *r)
{
    struct stream st;
    uint64_t seed = run_seed(r);

    stream_init(&st, -1);
    stream_add_random(&st, PROTO_FRAMED, &seed, 1 << 20);
    return rt_serve_stream(r, &st);
}

int sc_pipeline_1000(struct run *r)
{
    struct stream st;
    uint64_t seed = run_seed(r);

    stream_init(&st, -1);
    add_messages(&st, &seed, 1000, 65536);
    size_t total = st.out.len;
    int rc = rt_serve_stream(r, &st);
    run_note(r, "--seed %llu, %zu bytes", (unsigned long long)cfg.seed, total);
    return rc;
}

/* Waits until the server's stderr has more than `lines` lines. */
static int stderr_grows(const struct server *s, int lines, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        char *text = slurp(s->err_path, NULL);
        int n = text ? count_lines(text) : 0;
        free(text);
        if (n > lines)
            return n;
        if (ms_left(deadline) == 0)
            return -1;
        poll(NULL, 0, 10);            /* a short step while awaiting a log line */
    }
}

/* Sends a header announcing n bytes (and a few payload bytes): the server
 * must close the connection without a reply and log one line. */
static int oversize(struct run *r, struct server *s, uint32_t n)
{
    uint8_t msg[14] = { (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                        (uint8_t)n, 'o', 'v', 'e', 'r', 's', 'i', 'z', 'e', 'd', '!' };
    char *text = slurp(s->err_path, NULL);
    int lines = text ? count_lines(text) : 0;
    free(text);

    int fd = rt_connect(r, s->port);
    if (fd < 0)
        return -1;
    int64_t deadline = now_ms() + ms(T_TRIP);
    size_t got = 0;
    int rc = 0;
    if (net_send_all(fd, msg, sizeof(msg), deadline) < 0)
        rc = run_fail(r, "header %u: send failed: %s", n, strerror(errno));
    else if (!net_await_close(fd, deadline, &got))
        rc = run_fail(r, "header %u: connection still open after %d ms", n, ms(T_TRIP));
    else if (got > 0)
        rc = run_fail(r, "header %u: %zu reply bytes, want none", n, got);
    else if (stderr_grows(s, lines, ms(T_TRIP)) < 0)
        rc = run_fail(r, "header %u: nothing logged to stderr", n);
    close(fd);
    return rc;
}

int sc_oversize_header(struct run *r)
{
    const char *args[] = { "-m", "1024", NULL };
    struct spawn sp = { .args = args };
    struct server *s;
    uint8_t payload[1024];
    uint64_t seed = run_seed(r);
    int fd = -1;

    TRY_PTR(s = run_start(r, &sp));
    rand_fill(&seed, payload, sizeof(payload));
    TRY(fd = rt_connect(r, s->port));
    TRY(rt_trip(r, fd, PROTO_FRAMED, payload, sizeof(payload)));
    TRY(oversize(r, s, 1025));
    TRY(oversize(r, s, 0xFFFFFFFFu));
    TRY(rt_fresh_trip(r, s->port, PROTO_FRAMED, "after the oversized headers"));
    TRY(rt_trip(r, fd, PROTO_FRAMED, "first connection", 16));
out:
    if (fd >= 0)
        close(fd);
    return run_result(r);
}

/* Sends what it can of the garbage and drains replies on fd. Returns 1
 * while the connection is usable, 0 once the server closed it. */
static int garbage_step(int fd, const uint8_t *junk, size_t len, size_t *sent)
{
    char buf[65536];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return 0;
        if (n < 0)
            break;
    }
    if (*sent < len) {
        size_t chunk = len - *sent < 65536 ? len - *sent : 65536;
        ssize_t n = send(fd, junk + *sent, chunk, MSG_NOSIGNAL);
        if (n > 0)
            *sent += (size_t)n;
        else if (errno != EAGAIN && errno != EINTR)
            return 0;
    }
    return 1;
}

int sc_garbage_1mib(struct run *r)
{
    enum { JUNK = 1 << 20 };
    struct server *s;
    uint64_t seed = run_seed(r);
    uint8_t *junk = malloc(JUNK);
    int good = -1, bad = -1, during = 0;
    size_t sent = 0;

    rand_fill(&seed, junk, JUNK);
    TRY_PTR(s = run_start(r, NULL));
    TRY(good = rt_connect(r, s->port));
    TRY(rt_trip(r, good, PROTO_FRAMED, "before", 6));
    TRY(bad = rt_connect(r, s->port));

    int64_t last = now_ms();
    size_t last_sent = 0;
    while (sent < JUNK && garbage_step(bad, junk, JUNK, &sent)) {
        TRY(rt_trip(r, good, PROTO_FRAMED, "during", 6));
        during++;
        if (sent != last_sent) {
            last_sent = sent;
            last = now_ms();
        }
        EXPECT(r, now_ms() - last < ms(T_STALL), "the server neither reads nor closes "
               "the garbage connection (%zu of %d bytes sent)", sent, JUNK);
        if (sent < JUNK)
            net_wait(bad, POLLIN | POLLOUT, now_ms() + 50);
    }
    TRY(rt_trip(r, good, PROTO_FRAMED, "after", 5));
    run_note(r, "%zu garbage bytes sent (%s), %d round trips during", sent,
             sent < JUNK ? "closed by the server" : "all of it", during);
out:
    run_note(r, "--seed %llu", (unsigned long long)cfg.seed);
    if (good >= 0)
        close(good);
    if (bad >= 0)
        close(bad);
    free(junk);
    return run_result(r);
}

int sc_half_close_pipelined(struct run *r)
{
    struct server *s;
    struct stream st;
    uint64_t seed = run_seed(r);

    stream_init(&st, -1);
    TRY_PTR(s = run_start(r, NULL));
    for (int trailing = 0; trailing <= 1; trailing++) {
        stream_init(&st, -1);
        add_messages(&st, &seed, 500, 1000);
        if (trailing) {                 /* header says 100, 10 bytes follow */
            bytes_add_u32(&st.out, 100);
            bytes_add(&st.out, "incomplete", 10);
        }
        st.shut_wr = st.want_eof = true;
        if (rt_stream(r, s->port, &st) < 0) {
            run_note(r, "%s", trailing ? "with a trailing incomplete message"
                                       : "complete messages only");
            goto out;
        }
    }
out:
    stream_free(&st);
    return run_result(r);
}
