/* sc_hostile.c - hostile and unlucky clients: a header over the limit
 * behind requests that are owed replies; a client that floods its loop
 * beside one that only wants a quick answer now and then; a flood of empty
 * messages whose replies are never read; a crowd holding large partial
 * messages against a memory budget; the memory a burst leaves behind.
 */
#include "client.h"
#include "net.h"
#include "scenarios.h"
#include "stream.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
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

/* count requests of random sizes from min_len to max_len, then a header announcing
 * bad bytes, more than -m allows, and a few bytes of its payload. The
 * server owes a reply for each request, then EOF; nothing for the bad
 * message. */
static int oversize_after(struct run *r, uint16_t port, uint64_t *seed, int count,
                          uint32_t min_len, uint32_t max_len, uint32_t bad,
                          uint32_t max_piece, const char *what)
{
    struct stream st;
    stream_init(&st, -1);
    for (int i = 0; i < count; i++)
        stream_add_random(&st, PROTO_FRAMED, seed,
                          min_len + rand_below(seed, max_len - min_len + 1));
    bytes_add_u32(&st.out, bad);
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
    /* A limit over the workers' high water mark (64 KiB), and a worker
     * where there are workers: one long request then fills the backlog,
     * and decoding stops right before the bad header, unchecked. */
    const char *args[] = { "-m", "100000", NULL };
    const char *with_worker[] = { "-m", "100000", "-w", "1", NULL };
    struct spawn sp = { .args = (cfg.features & F_THREADS) ? with_worker : args };
    const uint32_t too_long = 100000 + 1, huge = 0xFFFFFFFFu;
    struct server *s;
    uint64_t seed = run_seed(r);

    TRY_PTR(s = run_start(r, &sp));
    TRY(oversize_after(r, s->port, &seed, 1, 1, 1, too_long, 0,
                       "one 1-byte request and the bad header in one write"));
    TRY(oversize_after(r, s->port, &seed, 1, 70000, 100000, huge, 0,
                       "one long request and a 4 GiB header in one write"));
    TRY(oversize_after(r, s->port, &seed, 150, 0, OVERSIZE_LIMIT, huge, 0,
                       "150 requests and a 4 GiB header in one write"));
    TRY(oversize_after(r, s->port, &seed, 2000, 0, 16, huge, 0,
                       "2000 small requests and a 4 GiB header in one write"));
    for (int i = 0; i < 10; i++)
        TRY(oversize_after(r, s->port, &seed, 150, 0, OVERSIZE_LIMIT,
                           i % 2 ? huge : too_long, 1 + 200 * i,
                           "150 requests and the bad header in random pieces"));
    TRY(rt_fresh_trip(r, s->port, PROTO_FRAMED, "after the bad headers"));
    /* Nothing was ever set aside for a bad header: not even address space
     * (the sanitizers reserve terabytes of their own). */
    long peak = proc_status_kb(s->pid, "VmPeak");
    if (cfg.normal)
        EXPECT(r, peak > 0 && peak < (1L << 20), "VmPeak %ld kB: room was made for "
               "a 4 GiB message", peak);
    run_note(r, "14 connections, every owed reply then EOF; VmPeak %ld kB; --seed %llu",
             peak, (unsigned long long)cfg.seed);
out:
    return run_result(r);
}

/* ---- fairness ------------------------------------------------------------ */

#define FLOOD_PAYLOAD 100         /* bytes per message of the flooding client */
#define FAIR_SAMPLES   40         /* round trips of the neighbour */
#define FAIR_PERIOD    50         /* ms between them */
#define FAIR_MEDIAN    20         /* ms: the neighbour's median round trip */
#define FAIR_WORST    200         /* ms: its worst, on a loaded 2-core machine */
#define FAIR_SLOW      10         /* sanitizers: a turn of 256 KiB takes 10x */

/* A client that sends 100-byte messages as fast as the server takes them
 * (one thread) and reads the replies as fast as they come (another), so
 * that its socket is never empty on the server's side. */
struct flooder {
    int fd;
    atomic_bool stop;             /* set by the scenario */
    atomic_ullong replies;        /* replies received and verified */
    char err[160];                /* the receiver's failure; "" if none */
    char send_err[160];           /* the sender's */
};

enum { FLOOD_REQ = 4 + FLOOD_PAYLOAD, FLOOD_REP = 4 + 6 + FLOOD_PAYLOAD };

/* The frames of n requests (or replies, n of them) back to back. */
static void flood_frames(uint8_t *buf, size_t len, bool replies)
{
    struct bytes req = { 0 }, rep = { 0 };
    char payload[FLOOD_PAYLOAD];
    memset(payload, 'f', sizeof(payload));
    encode(PROTO_FRAMED, &req, &rep, payload, sizeof(payload));
    const struct bytes *b = replies ? &rep : &req;
    for (size_t i = 0; i < len; i++)
        buf[i] = b->p[i % b->len];
    bytes_free(&req);
    bytes_free(&rep);
}

static void *flood_send(void *arg)
{
    struct flooder *f = arg;
    static uint8_t out[(65536 / FLOOD_REQ) * FLOOD_REQ];   /* whole frames */
    size_t sent = 0;
    flood_frames(out, sizeof(out), false);
    while (!atomic_load(&f->stop)) {
        struct pollfd pfd = { f->fd, POLLOUT, 0 };
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        ssize_t n = send(f->fd, out + sent, sizeof(out) - sent, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            snprintf(f->send_err, sizeof(f->send_err), "send: %s", strerror(errno));
            break;
        }
        if (n > 0)
            sent = (sent + (size_t)n) % sizeof(out);
    }
    return NULL;
}

static void *flood_recv(void *arg)
{
    struct flooder *f = arg;
    static uint8_t in[65536], wanted[65536 + FLOOD_REP];
    size_t got = 0;                           /* offset in the current reply */
    flood_frames(wanted, sizeof(wanted), true);
    while (!atomic_load(&f->stop)) {
        struct pollfd pfd = { f->fd, POLLIN, 0 };
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        ssize_t n = recv(f->fd, in, sizeof(in), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            snprintf(f->err, sizeof(f->err), "recv: %s",
                     n == 0 ? "the server closed the connection" : strerror(errno));
            break;
        }
        if (n <= 0)
            continue;
        /* Any stretch of the replies starts at wanted + got. */
        if (memcmp(in, wanted + got, (size_t)n) != 0) {
            snprintf(f->err, sizeof(f->err), "a reply after the %llu-th differs",
                     atomic_load(&f->replies));
            break;
        }
        atomic_fetch_add(&f->replies, (got + (size_t)n) / FLOOD_REP);
        got = (got + (size_t)n) % FLOOD_REP;
    }
    return NULL;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int compare_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* One loop serves both clients (-t 1 where the column has threads): the
 * neighbour's round trips must not wait for the flood. */
int sc_fair_neighbour(struct run *r)
{
    const char *one_loop[] = { "-t", "1", NULL };
    struct spawn sp = { .args = (cfg.features & F_THREADS) ? one_loop : NULL };
    struct flooder f = { .fd = -1 };
    struct server *s;
    pthread_t sender, receiver;
    bool started = false;
    int b = -1;
    int64_t rtt[FAIR_SAMPLES];

    atomic_init(&f.stop, false);
    atomic_init(&f.replies, 0);
    TRY_PTR(s = run_start(r, &sp));
    TRY(f.fd = rt_connect(r, s->port));
    TRY(b = rt_connect(r, s->port));
    net_nodelay(b);
    EXPECT(r, pthread_create(&receiver, NULL, flood_recv, &f) == 0, "pthread_create failed");
    if (pthread_create(&sender, NULL, flood_send, &f) != 0) {
        atomic_store(&f.stop, true);
        pthread_join(receiver, NULL);
        EXPECT(r, false, "pthread_create failed");
    }
    started = true;
    poll(NULL, 0, 200);                /* the flood gets going: a measured warm-up */
    unsigned long long before = atomic_load(&f.replies);
    int slow = cfg.normal ? 1 : FAIR_SLOW;
    for (int i = 0; i < FAIR_SAMPLES; i++) {
        poll(NULL, 0, FAIR_PERIOD);    /* the pace is the scenario */
        char text[32];
        int n = snprintf(text, sizeof(text), "neighbour %d", i);
        int64_t t0 = now_us();
        /* Twice the worst allowed: a longer wait can only fail, so stop. */
        TRY(rt_trip_within(r, b, PROTO_FRAMED, text, (size_t)n, 2 * FAIR_WORST * slow));
        rtt[i] = now_us() - t0;
    }
    unsigned long long flooded = atomic_load(&f.replies) - before;
    atomic_store(&f.stop, true);
    pthread_join(sender, NULL);
    pthread_join(receiver, NULL);
    started = false;
    EXPECT(r, f.err[0] == '\0' && f.send_err[0] == '\0', "flooding client: %s%s",
           f.err, f.send_err);
    qsort(rtt, FAIR_SAMPLES, sizeof(rtt[0]), compare_i64);
    double worst = rtt[FAIR_SAMPLES - 1] / 1000.0, median = rtt[FAIR_SAMPLES / 2] / 1000.0;
    EXPECT(r, flooded >= 1000, "the flooding client got only %llu replies in %d ms: "
           "no flood to be fair against", flooded, FAIR_SAMPLES * FAIR_PERIOD);
    EXPECT(r, median < FAIR_MEDIAN * slow && worst < FAIR_WORST * slow, "the "
           "neighbour's round trips took %.1f ms (median; limit %d) and %.1f ms "
           "(worst; limit %d) beside a client flooding the same loop (%llu replies "
           "meanwhile)", median, FAIR_MEDIAN * slow, worst, FAIR_WORST * slow, flooded);
    run_note(r, "neighbour's round trips: median %.2f ms, worst %.2f ms; the flood got "
             "%llu replies meanwhile", median, worst, flooded);
out:
    if (started) {
        atomic_store(&f.stop, true);
        pthread_join(sender, NULL);
        pthread_join(receiver, NULL);
    }
    if (f.fd >= 0)
        close(f.fd);
    if (b >= 0)
        close(b);
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

/* ---- a memory budget ------------------------------------------------------ */

#define CROWD           100       /* connections of the crowd */
#define CROWD_HEADER    (16u << 20) /* each announces a 16 MiB message */
#define CROWD_BODY      (15u << 20) /* and sends 15 MiB of it */
#define CROWD_BUDGET    "67108864"  /* -M 64 MiB */
#define CROWD_PEAK_MIB  112       /* the server's peak RSS must stay under */

/* Counts the lines of the server's stderr that contain text. */
static int stderr_lines_with(const struct server *s, const char *text)
{
    char *log = slurp(s->err_path, NULL);
    int n = 0;
    for (const char *p = log; p && (p = strstr(p, text)) != NULL; p++)
        n++;
    free(log);
    return n;
}

/* -M 64 MiB: 100 connections each announce a 16 MiB message and send 15
 * MiB of it, then wait, while a small client does a round trip now and
 * then. The server must close the connections holding the most, one
 * warning line each, keep its peak RSS under 112 MiB, and serve the small
 * client all along. */
int sc_budget_partial_16mib(struct run *r)
{
    const char *args[] = { "-M", CROWD_BUDGET, NULL };
    struct spawn sp = { .args = args };
    long peak_limit_kb = (long)(cfg.normal ? CROWD_PEAK_MIB : 320) * 1024;
    struct server *s;
    int fds[CROWD], small = -1, trips = 0;
    size_t sent[CROWD] = { 0 };
    bool gone[CROWD] = { false };
    static uint8_t junk[1 << 20];
    uint64_t seed = run_seed(r);
    long hwm = 0;

    for (int i = 0; i < CROWD; i++)
        fds[i] = -1;
    rand_fill(&seed, junk, sizeof(junk));
    TRY_PTR(s = run_start(r, &sp));
    TRY(rt_connect_many(r, s->port, fds, CROWD));
    TRY(small = rt_connect(r, s->port));
    int64_t start = now_ms(), deadline = start + ms(T_BULK), next_trip = start;
    int active = CROWD;
    while (active > 0) {
        EXPECT(r, ms_left(deadline) > 0, "%d of %d connections still sending after "
               "%d ms", active, CROWD, ms(T_BULK));
        hwm = proc_status_kb(s->pid, "VmHWM");
        EXPECT(r, hwm >= 0 && hwm <= peak_limit_kb, "the server's peak RSS reached %ld "
               "kB (limit %ld kB) with %d connections still sending their partial "
               "16 MiB messages", hwm, peak_limit_kb, active);
        if (now_ms() >= next_trip) {
            TRY(rt_trip(r, small, PROTO_FRAMED, "small client", 12));
            trips++;
            next_trip = now_ms() + 100;
        }
        struct pollfd pfd[CROWD];
        int idx[CROWD], n = 0;
        for (int i = 0; i < CROWD; i++) {
            if (gone[i] || sent[i] == CROWD_BODY + 4)
                continue;
            pfd[n] = (struct pollfd){ fds[i], POLLOUT, 0 };
            idx[n++] = i;
        }
        if (n == 0)
            break;
        poll(pfd, (nfds_t)n, 50);
        for (int k = 0; k < n; k++) {
            int i = idx[k];
            if (pfd[k].revents == 0)
                continue;
            if (sent[i] == 0) {
                uint8_t h[4] = { CROWD_HEADER >> 24, (CROWD_HEADER >> 16) & 0xff,
                                 (CROWD_HEADER >> 8) & 0xff, CROWD_HEADER & 0xff };
                if (send(fds[i], h, 4, MSG_NOSIGNAL) == 4)
                    sent[i] = 4;
                continue;
            }
            size_t left = CROWD_BODY + 4 - sent[i];
            ssize_t m = send(fds[i], junk, left < sizeof(junk) ? left : sizeof(junk),
                             MSG_NOSIGNAL);
            if (m > 0) {
                sent[i] += (size_t)m;
                if (sent[i] == CROWD_BODY + 4)
                    active--;
            } else if (m < 0 && errno != EAGAIN && errno != EINTR) {
                gone[i] = true;                /* evicted: reset */
                active--;
            }
        }
    }
    /* Who was closed: EOF or a reset on read. */
    int closed = 0;
    for (int i = 0; i < CROWD; i++) {
        char c;
        ssize_t m = recv(fds[i], &c, 1, MSG_DONTWAIT);
        if (gone[i] || m == 0 || (m < 0 && errno != EAGAIN))
            closed++;
    }
    TRY(rt_trip(r, small, PROTO_FRAMED, "small client, after", 19));
    hwm = proc_status_kb(s->pid, "VmHWM");
    EXPECT(r, hwm <= peak_limit_kb, "the server's peak RSS reached %ld kB (limit %ld kB)",
           hwm, peak_limit_kb);
    int warnings = stderr_lines_with(s, "over its memory budget");
    EXPECT(r, closed > 0, "no connection was closed, yet they held %d x 15 MiB "
           "against a 64 MiB budget", CROWD);
    /* A connection may go by a reset the client has not seen yet. */
    EXPECT(r, warnings >= closed && warnings <= CROWD, "%d connections closed, %d "
           "warning lines (want one each)", closed, warnings);
    run_note(r, "peak RSS %ld kB (limit %ld kB); %d of %d connections closed, %d warning "
             "lines; %d round trips of the small client meanwhile, in %.1f s", hwm,
             peak_limit_kb, closed, CROWD, warnings, trips, (now_ms() - start) / 1000.0);
out:
    net_close_all(fds, CROWD);
    if (small >= 0)
        close(small);
    return run_result(r);
}

/* ---- after a burst ------------------------------------------------------ */

#define BURST_CONNS     50
#define BURST_MESSAGES 2000
#define BURST_MAX_LEN  1000
#define HELD_CONNS      200       /* connections holding a partial message */
#define HELD_LEN  (100 << 10)     /* its size: the heap, not mmap, serves it */
#define PINS              4       /* connections that stay open (one per loop) */
#define BURST_SETTLE   3000       /* ms for the memory to come back */
#define BURST_SLACK_MIB   8       /* what may stay (16 in sanitizer builds) */

struct burst {
    uint64_t seed;
};

static void fill_burst(struct stream *st, int i, void *ctx)
{
    struct burst *b = ctx;
    (void)i;
    for (int k = 0; k < BURST_MESSAGES; k++)
        stream_add_random(st, PROTO_FRAMED, &b->seed,
                          rand_below(&b->seed, BURST_MAX_LEN + 1));
}

/* Opens n connections and sends on each the header of a HELD_LEN message
 * and half of it, so that the server holds a buffer of HELD_LEN for each.
 * streams[i] gets the whole exchange, half sent. 0 or -1. */
static int hold_partial(struct run *r, uint16_t port, struct stream *streams,
                        int n, uint64_t *seed)
{
    int fds[HELD_CONNS];
    if (rt_connect_many(r, port, fds, n) < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        stream_init(&streams[i], fds[i]);
        stream_add_random(&streams[i], PROTO_FRAMED, seed, HELD_LEN);
        if (net_send_all(fds[i], streams[i].out.p, 4 + HELD_LEN / 2,
                         now_ms() + ms(T_TRIP)) < 0)
            return run_fail(r, "send on held connection %d: %s", i, strerror(errno));
        streams[i].sent = 4 + HELD_LEN / 2;
    }
    return 0;
}

/* The load of a busy server, then none: 50 clients pipeline 2000 messages
 * each through workers (-w 2 where the column has threads); then 200
 * clients each hold half of a 100 KiB message while 4 more arrive and do
 * the same (their buffers come last, above the others on the heap); then
 * the 200 reset. The 4 stay open and hold 400 KiB. The queues, rings and
 * heap the load made the server grow must be given back: VmRSS within
 * 8 MiB of where it started. */
int sc_memory_returns(struct run *r)
{
    /* I/O on the main loop and two workers: the connections' buffers come
     * from the main arena, where malloc_trim reaches everything. The tops
     * of the I/O threads' arenas (up to M_TOP_PAD each) it cannot reach;
     * notes/step10_timer.md 6.9 says so and measures it. */
    const char *workers[] = { "-t", "0", "-w", "2", NULL };
    struct spawn sp = { .args = (cfg.features & F_THREADS) ? workers : NULL };
    long slack_kb = (long)(cfg.normal ? BURST_SLACK_MIB : 2 * BURST_SLACK_MIB) * 1024;
    struct burst b = { run_seed(r) };
    static struct stream held[HELD_CONNS], pins[PINS];
    int nheld = 0, npins = 0;
    struct server *s;

    TRY_PTR(s = run_start(r, &sp));
    /* One round trip per thread first: each thread's first malloc makes its
     * arena, which is no burst's doing. */
    TRY(rt_many_trips(r, s->port, 8, ms(T_TRIP), ms(T_TRIP)));
    long rss0 = proc_status_kb(s->pid, "VmRSS");
    TRY(rt_streams(r, s->port, BURST_CONNS, fill_burst, &b, ms(T_BULK), ms(T_STALL)));
    TRY(hold_partial(r, s->port, held, HELD_CONNS, &b.seed));
    nheld = HELD_CONNS;
    /* The pins' buffers must come after the held ones in the heap: wait
     * until the server has read every byte the held connections sent (it
     * reserves a whole message when it reads its header). */
    int64_t until = now_ms() + ms(T_TRIP);
    long unread;
    while ((unread = proc_unread_bytes(s->pid, s->port)) != 0 && ms_left(until) > 0)
        poll(NULL, 0, 10);             /* a short step while awaiting the reads */
    EXPECT(r, unread == 0, "the server left %ld bytes of the held connections unread "
           "for %d ms", unread, ms(T_TRIP));
    TRY(hold_partial(r, s->port, pins, PINS, &b.seed));
    npins = PINS;
    for (int i = 0; i < HELD_CONNS; i++) {
        net_close_rst(held[i].fd);             /* the server frees their buffers */
        stream_free(&held[i]);
    }
    nheld = 0;
    long peak = proc_status_kb(s->pid, "VmHWM");
    long rss = -1;
    int64_t start = now_ms(), deadline = start + ms(BURST_SETTLE);
    for (;;) {
        rss = proc_status_kb(s->pid, "VmRSS");
        if ((rss >= 0 && rss <= rss0 + slack_kb) || ms_left(deadline) == 0)
            break;
        poll(NULL, 0, 50);             /* a short step while awaiting the release */
    }
    EXPECT(r, rss0 > 0 && rss > 0, "cannot read /proc/%d/status", (int)s->pid);
    EXPECT(r, rss <= rss0 + slack_kb, "VmRSS %ld kB %d ms after the load was gone, "
           "%ld kB before it (peak %ld kB): more than %ld kB kept", rss,
           ms(BURST_SETTLE), rss0, peak, slack_kb);
    run_note(r, "VmRSS %ld kB before the load, peak %ld kB, %ld kB %lld ms after it "
             "(4 connections still holding 400 KiB)", rss0, peak, rss,
             (long long)(now_ms() - start));
    TRY(pump(r, pins, PINS, ms(T_BULK), ms(T_STALL)));
    TRY(rt_fresh_trip(r, s->port, PROTO_FRAMED, "after the load"));
out:
    for (int i = 0; i < nheld; i++) {
        close(held[i].fd);
        stream_free(&held[i]);
    }
    for (int i = 0; i < npins; i++) {
        close(pins[i].fd);
        stream_free(&pins[i]);
    }
    return run_result(r);
}
