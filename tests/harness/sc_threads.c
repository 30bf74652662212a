/* sc_threads.c - I/O threads and workers (-t 2 -w 2, -t 2 -w 0): 100
 * clients pipelining 200 messages each, then 1000 clients that connect,
 * send and reset while 10 others keep the workers busy. Every reply is
 * verified, in order, per connection.
 */
#include "client.h"
#include "net.h"
#include "scenarios.h"
#include "stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUSY      10          /* clients that keep the server busy */
#define RESETS  1000          /* clients that send one message and reset */
#define BATCH     50          /* reset clients opened at once */

struct tagged {
    enum proto proto;
    uint64_t seed;
    int count;                /* messages per client */
    uint32_t max_filler;      /* random bytes after the tag */
};

/* `count` messages "client I message K:" + random filler, on client i. */
static void fill_tagged(struct stream *st, int i, void *ctx)
{
    struct tagged *t = ctx;
    uint8_t *buf = malloc(64 + t->max_filler);
    for (int k = 0; k < t->count; k++) {
        int n = snprintf((char *)buf, 64, "client %d message %d:", i, k);
        uint32_t filler = rand_below(&t->seed, t->max_filler + 1);
        rand_fill(&t->seed, buf + n, filler);
        stream_add(st, t->proto, buf, (size_t)n + filler);
    }
    free(buf);
}

/* Opens BATCH connections, sends one message on each and resets them. */
static int reset_batch(struct run *r, uint16_t port, int first)
{
    int fds[BATCH];
    int rc = rt_connect_many(r, port, fds, BATCH);
    for (int i = 0; i < BATCH && rc == 0; i++) {
        struct bytes req = { 0 }, rep = { 0 };
        char text[32];
        int n = snprintf(text, sizeof(text), "reset client %d", first + i);
        encode(r->proto, &req, &rep, text, (size_t)n);
        if (net_send_all(fds[i], req.p, req.len, now_ms() + ms(T_TRIP)) < 0)
            rc = run_fail(r, "send on reset client %d failed", first + i);
        bytes_free(&req);
        bytes_free(&rep);
    }
    for (int i = 0; i < BATCH; i++) {
        if (fds[i] >= 0)
            net_close_rst(fds[i]);
    }
    return rc;
}

static int threads(struct run *r, const char *t, const char *w)
{
    const char *args[] = { "-t", t, "-w", w, NULL };
    struct spawn sp = { .args = args };
    struct tagged pipelined = { r->proto, run_seed(r), 200, 64 };
    struct tagged busy = { r->proto, run_seed(r) + 1, 1000, 1000 };
    struct stream v[BUSY];
    int fds[BUSY];
    struct server *s;

    for (int i = 0; i < BUSY; i++) {
        fds[i] = -1;
        stream_init(&v[i], -1);
    }
    TRY_PTR(s = run_start(r, &sp));
    TRY(rt_streams(r, s->port, 100, fill_tagged, &pipelined, ms(T_BULK), ms(T_STALL)));

    TRY(rt_connect_many(r, s->port, fds, BUSY));
    for (int i = 0; i < BUSY; i++) {
        v[i].fd = fds[i];
        fill_tagged(&v[i], i, &busy);
    }
    for (int first = 0; first < RESETS; first += BATCH) {
        TRY(reset_batch(r, s->port, first));
        if (pump_step(v, BUSY, 0) < 0)
            break;                      /* pump() below reports it */
    }
    TRY(pump(r, v, BUSY, ms(T_BULK), ms(T_STALL)));
    TRY(rt_fresh_trip(r, s->port, r->proto, "after the resets"));
    run_note(r, "100 x 200 pipelined, %d resets beside %d busy clients", RESETS, BUSY);
out:
    for (int i = 0; i < BUSY; i++)
        stream_free(&v[i]);
    net_close_all(fds, BUSY);
    return run_result(r);
}

int sc_threads_t2w2(struct run *r)
{
    return threads(r, "2", "2");
}

int sc_threads_t2w0(struct run *r)
{
    return threads(r, "2", "0");
}
