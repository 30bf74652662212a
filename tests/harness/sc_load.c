/* sc_load.c - volume: an 8 MiB payload, 100 resets, 2000 connections at
 * once, and a client that stops reading while it sends 64 MiB (the server's
 * memory must stay bounded).
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

#define MIB (1024 * 1024)

int sc_payload_8mib(struct run *r)
{
    struct stream st;
    uint64_t seed = run_seed(r);

    stream_init(&st, -1);
    stream_add_random(&st, r->proto, &seed, 8 * MIB);
    return rt_serve_stream(r, &st);
}

int sc_reset_100(struct run *r)
{
    struct server *s;
    struct bytes small = { 0 }, big = { 0 }, rep = { 0 };
    uint64_t seed = run_seed(r);
    uint8_t *junk = malloc(256 * 1024);
    int fds[100];

    for (int i = 0; i < 100; i++)
        fds[i] = -1;
    rand_fill(&seed, junk, 256 * 1024);
    encode(r->proto, &small, &rep, "reset me", 8);
    encode(r->proto, &big, &rep, junk, 256 * 1024);
    TRY_PTR(s = run_start(r, NULL));
    TRY(rt_connect_many(r, s->port, fds, 100));
    /* Even clients send a short request; odd ones as much of a 256 KiB one
     * as the socket takes, so the server has replies to write when the
     * resets come. */
    for (int i = 0; i < 100; i += 2)
        EXPECT(r, net_send_all(fds[i], small.p, small.len, now_ms() + ms(T_TRIP)) == 0,
               "send on client %d of 100 failed: %s", i + 1, strerror(errno));
    for (int i = 1; i < 100; i += 2)
        EXPECT(r, send(fds[i], big.p, big.len, MSG_NOSIGNAL) > 0,
               "send on client %d of 100 failed: %s", i + 1, strerror(errno));
    for (int i = 0; i < 100; i++) {
        net_close_rst(fds[i]);
        fds[i] = -1;
    }
    for (int i = 0; i < 5; i++) {
        char what[40];
        snprintf(what, sizeof(what), "fresh client %d of 5 after the resets", i + 1);
        TRY(rt_fresh_trip(r, s->port, r->proto, what));
    }
out:
    net_close_all(fds, 100);
    bytes_free(&small);
    bytes_free(&big);
    bytes_free(&rep);
    free(junk);
    return run_result(r);
}

int sc_connections_2000(struct run *r)
{
    struct server *s;

    TRY_PTR(s = run_start(r, NULL));
    TRY(rt_many_trips(r, s->port, 2000, ms(30000), ms(2000)));
out:
    return run_result(r);
}

#define SLOW_TOTAL (64 * MIB)
#define SLOW_MSG   4096

int sc_slow_reader(struct run *r)
{
    struct server *s;
    struct stream st;
    uint64_t seed = run_seed(r);
    long limit_mib = strcmp(cfg.build, "asan") == 0 || strcmp(cfg.build, "tsan") == 0 ? 200 : 48;

    stream_init(&st, -1);
    TRY_PTR(s = run_start(r, NULL));
    long rss0 = proc_status_kb(s->pid, "VmRSS");
    for (int i = 0; i < SLOW_TOTAL / SLOW_MSG; i++)
        stream_add_random(&st, r->proto, &seed, SLOW_MSG);
    TRY(st.fd = rt_connect(r, s->port));

    int stalled = stream_send_until_stall(&st, ms(500));
    EXPECT(r, stalled >= 0, "while writing without reading: %s", st.err);
    EXPECT(r, stalled == 1, "wrote all %d MiB without ever stalling: the server "
           "buffers without bound", SLOW_TOTAL / MIB);
    long rss_stall = proc_status_kb(s->pid, "VmRSS");
    size_t sent_at_stall = st.sent;

    TRY(pump(r, &st, 1, ms(T_BULK), ms(T_STALL)));
    long hwm = proc_status_kb(s->pid, "VmHWM");
    EXPECT(r, rss0 > 0 && hwm > 0, "cannot read /proc/%d/status", (int)s->pid);
    double grew = (double)(hwm - rss0) / 1024.0;
    EXPECT(r, grew <= (double)limit_mib,
           "peak RSS grew by %.1f MiB > %ld MiB (VmRSS %ld kB at start, %ld kB at the "
           "stall after %.1f MiB sent, VmHWM %ld kB)", grew, limit_mib, rss0,
           rss_stall, (double)sent_at_stall / MIB, hwm);
    run_note(r, "stalled after %.1f MiB; VmHWM - VmRSS(start) = %.1f MiB <= %ld MiB "
             "(VmRSS at stall %ld kB)", (double)sent_at_stall / MIB, grew, limit_mib,
             rss_stall);
out:
    if (st.fd >= 0)
        close(st.fd);
    stream_free(&st);
    return run_result(r);
}
