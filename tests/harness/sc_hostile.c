/* sc_hostile.c - hostile and unlucky clients: a header over the limit
 * behind requests that are owed replies; a flood of empty messages whose
 * replies are never read.
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

#define OVERSIZE_LIMIT 1024       /* -m of the oversize scenarios */

/* Sends every byte of st->out in pieces of random sizes (1 .. max_piece
 * bytes), one write each, then marks them sent. 0, or -1 (recorded). */
static int send_in_pieces(struct run *r, struct stream *st, uint64_t *seed,
                          uint32_t max_piece)
{
    int64_t deadline = now_ms() + ms(T_TRIP);
    while (st->sent < st->out.len) {
        size_t left = st->out.len - st->sent;
        size_t piece = 1 + rand_below(seed, max_piece);
        if (piece > left)
            piece = left;
        if (net_send_all(st->fd, st->out.p + st->sent, piece, deadline) < 0)
            return run_fail(r, "send after %zu of %zu bytes: %s", st->sent,
                            st->out.len, strerror(errno));
        st->sent += piece;
    }
    return 0;
}

/* count requests of random sizes up to max_len, then a header announcing
 * more than -m allows and a few bytes of its payload. The server owes a
 * reply for each request, then EOF; nothing for the bad message. */
static int oversize_after(struct run *r, uint16_t port, uint64_t *seed, int count,
                          uint32_t max_len, uint32_t max_piece, const char *what)
{
    struct stream st;
    stream_init(&st, -1);
    for (int i = 0; i < count; i++)
        stream_add_random(&st, PROTO_FRAMED, seed, rand_below(seed, max_len + 1));
    bytes_add_u32(&st.out, OVERSIZE_LIMIT + 1);
    bytes_add(&st.out, "too large!", 10);
    st.want_eof = true;

    int rc = -1;
    if ((st.fd = rt_connect(r, port)) < 0)
        goto out;
    net_nodelay(st.fd);
    if (max_piece > 0 && send_in_pieces(r, &st, seed, max_piece) < 0)
        goto out;
    rc = pump(r, &st, 1, ms(T_TRIP), ms(T_TRIP));
out:
    if (rc < 0)
        run_note(r, "%s", what);
    if (st.fd >= 0)
        close(st.fd);
    stream_free(&st);
    return rc;
}

int sc_oversize_flush(struct run *r)
{
    const char *args[] = { "-m", "1024", NULL };
    struct spawn sp = { .args = args };
    struct server *s;
    uint64_t seed = run_seed(r);

    TRY_PTR(s = run_start(r, &sp));
    TRY(oversize_after(r, s->port, &seed, 1, 1, 0,
                       "one 1-byte request and the bad header in one write"));
    TRY(oversize_after(r, s->port, &seed, 150, OVERSIZE_LIMIT, 0,
                       "150 requests and the bad header in one write"));
    TRY(oversize_after(r, s->port, &seed, 2000, 16, 0,
                       "2000 small requests and the bad header in one write"));
    for (int i = 0; i < 10; i++)
        TRY(oversize_after(r, s->port, &seed, 150, OVERSIZE_LIMIT, 1 + 200 * i,
                           "150 requests and the bad header in random pieces"));
    TRY(rt_fresh_trip(r, s->port, PROTO_FRAMED, "after the bad headers"));
    run_note(r, "13 connections, every owed reply then EOF; --seed %llu",
             (unsigned long long)cfg.seed);
out:
    return run_result(r);
}

/* ---- an unread flood -------------------------------------------------- */

#define FLOOD_TOTAL (16 << 20)    /* bytes of empty messages */
#define FLOOD_CHECK (1 << 20)     /* reply bytes verified after the stall */

/* One connection sends empty messages (4 bytes each, 10-byte replies)
 * and reads nothing: the server must stop reading it before the jobs and
 * replies it holds for it grow past a few MiB. With workers (-t 1 -w 1
 * where the column has threads) a job costs far more than its payload. */
int sc_flood_unread(struct run *r)
{
    const char *with_worker[] = { "-t", "1", "-w", "1", NULL };
    struct spawn sp = { .args = (cfg.features & F_THREADS) ? with_worker : NULL };
    long limit_mib = cfg.normal ? 24 : 200;
    struct server *s;
    struct stream st;

    stream_init(&st, -1);
    TRY_PTR(s = run_start(r, &sp));
    long rss0 = proc_status_kb(s->pid, "VmRSS");
    for (int i = 0; i < FLOOD_TOTAL / 4; i++)
        stream_add(&st, PROTO_FRAMED, "", 0);
    TRY(st.fd = rt_connect(r, s->port));
    int stalled = stream_send_until_stall(&st, ms(500));
    EXPECT(r, stalled >= 0, "while flooding without reading: %s", st.err);
    EXPECT(r, stalled == 1, "sent all %d MiB of empty messages without a stall: the "
           "server takes them without bound", FLOOD_TOTAL >> 20);
    poll(NULL, 0, ms(200));            /* jobs in flight settle: the peak is measured */
    long hwm = proc_status_kb(s->pid, "VmHWM");
    EXPECT(r, rss0 > 0 && hwm > 0, "cannot read /proc/%d/status", (int)s->pid);
    double grew = (double)(hwm - rss0) / 1024.0;
    EXPECT(r, grew <= (double)limit_mib, "peak RSS grew by %.1f MiB > %ld MiB while "
           "%zu empty messages (%.1f MiB) went unanswered (VmRSS %ld kB at start, "
           "VmHWM %ld kB)", grew, limit_mib, st.sent / 4, st.sent / 1048576.0, rss0, hwm);
    /* The replies are right, and come once the client reads. */
    int64_t deadline = now_ms() + ms(T_BULK);
    while (st.got < FLOOD_CHECK) {
        EXPECT(r, net_wait(st.fd, POLLIN, deadline) != 0, "only %zu reply bytes within "
               "%d ms of reading", st.got, ms(T_BULK));
        EXPECT(r, stream_recv(&st) >= 0, "%s", st.err);
    }
    run_note(r, "stalled after %.1f MiB (%zu messages); VmHWM - VmRSS(start) = %.1f MiB "
             "<= %ld MiB", st.sent / 1048576.0, st.sent / 4, grew, limit_mib);
out:
    if (st.fd >= 0)
        net_close_rst(st.fd);
    stream_free(&st);
    return run_result(r);
}
