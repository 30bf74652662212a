/* sc_hostile.c - hostile and unlucky clients: a header over the limit
 * behind requests that are owed replies.
 */
#include "client.h"
#include "net.h"
#include "scenarios.h"
#include "stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
