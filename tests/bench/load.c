/* load.c - the benchmark's load client, for raw echo and framed reply.
 *
 * usage: load IP PORT [options]        (load -h lists them)
 *
 * Opens C connections spread over T threads. Each thread has its own epoll
 * and non-blocking sockets, and keeps K requests in flight on each of its
 * connections: a reply that comes back is verified byte for byte, and the
 * next request goes out at once (a closed loop). The run lasts -d seconds
 * (after --warmup seconds that are not counted), or -n messages per
 * connection.
 *
 * Phases: every thread connects its share (at most MAX_CONNECTING at a time,
 * so a slow acceptor does not overflow the listen backlog), all threads meet
 * at a barrier, the main thread fixes the measurement window, and traffic
 * starts. At the end of the window no new request is issued; the replies
 * still owed are drained and verified, then the connections are reset
 * (SO_LINGER 0: no TIME_WAIT left behind; see conn_start_connect).
 *
 * Messages are stamped with (connection id, sequence number) and rebuilt on
 * both sides from those two numbers (payload.h), so verification costs one
 * memcmp per received chunk. Raw echo has no message boundaries: each
 * connection tracks how many reply bytes it has verified, in order.
 * Latency runs from the moment a request enters the window to the moment its
 * last reply byte is read, recorded in a log-linear histogram (hist.h).
 *
 * With --pid the server's CPU time (utime and stime from /proc/PID/stat) is
 * read at the two ends of the window, giving CPU microseconds per message,
 * user and system apart.
 * With --hold every connection does one round trip and then stays open and
 * idle; "ready N" is printed and the client waits for SIGINT, SIGTERM or
 * SIGHUP (or end of standard input when that is a pipe or a terminal).
 *
 * Exit status: 0 when every reply verified, 1 on any connection or
 * verification error, 2 on a bad argument.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "hist.h"
#include "payload.h"

#define MAX_CONNECTING 128          /* connects in progress per thread */
#define MAX_EVENTS     256
#define READ_BUF       (256 * 1024) /* per-thread receive buffer */
#define SEND_BATCH     64           /* messages per writev */
#define MAX_ERRORS_SHOWN 10
#define NS             1000000000LL

struct options {
    struct sockaddr_in addr;
    enum proto proto;
    int        conns, threads, inflight;
    size_t     size;
    double     duration, warmup, timeout;
    uint64_t   count;               /* -n: messages per connection; 0: -d */
    int        json, hold;
    pid_t      server_pid;          /* --pid: 0 when not given */
};

enum conn_state { C_CONNECTING, C_READY, C_RUNNING, C_IDLE, C_DONE, C_FAILED };

struct conn {
    int             fd;
    uint32_t        id;
    enum conn_state state;
    int             want_out;       /* EPOLLOUT is registered */
    uint64_t        issued;         /* requests put in the window so far */
    uint64_t        send_seq;       /* first request not fully written ... */
    size_t          send_off;       /* ... and how much of it is */
    uint64_t        recv_seq;       /* first reply not fully verified ... */
    size_t          recv_off;       /* ... and how much of it is */
    struct wire     expect;         /* reply recv_seq, valid while recv_off > 0 */
    int64_t         last_progress;  /* when a reply byte last arrived */
    int64_t        *issue_ns;       /* ring of K: when each request entered */
};

struct worker {
    pthread_t    tid;
    int          epfd;
    struct conn *conns;
    int          nconns;
    int          live;              /* connections still running */
    int          draining;          /* past the window: issue nothing new */
    uint64_t     messages;          /* replies completed inside the window */
    uint64_t     errors;
    int64_t      last_complete;
    uint8_t     *rbuf;
    struct hist  hist;
};

static struct options opt = {
    .proto = PROTO_FRAMED, .conns = 1, .threads = 1, .inflight = 1,
    .size = 16, .duration = 2.0, .warmup = 0.0, .timeout = 10.0,
};
static struct msgfmt format;

/* The window, fixed by main between the two barriers. */
static int64_t t_origin, t_start, t_end;
static pthread_barrier_t connected_barrier, go_barrier;

static pthread_mutex_t error_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long errors_shown, errors_hidden;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

static void sleep_until(int64_t t)
{
    struct timespec ts = { .tv_sec = t / NS, .tv_nsec = t % NS };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* Prints the first few errors to stderr and counts the rest. */
static void report_error(const char *fmt, ...)
{
    pthread_mutex_lock(&error_lock);
    if (errors_shown < MAX_ERRORS_SHOWN) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "load: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
        errors_shown++;
    } else {
        errors_hidden++;
    }
    pthread_mutex_unlock(&error_lock);
}

/* CPU time of a process, all threads, in microseconds: user and system
 * from the clock tick's samples, run from the scheduler's own account. */
struct cpu_time {
    double user, sys;
    double run;
};

/* The time the scheduler ran the threads of pid (the first field of each
 * /proc/PID/task/TID/schedstat, in ns), in microseconds; -1 if unknown.
 * Exact, where utime and stime are samples of 1 tick each. */
static double proc_run_us(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    double ns = 0;
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char file[64 + sizeof(e->d_name) + 16];
        unsigned long long run;
        if (e->d_name[0] == '.')
            continue;
        snprintf(file, sizeof(file), "%s/%s/schedstat", path, e->d_name);
        FILE *f = fopen(file, "r");
        if (f == NULL)
            continue;                   /* a thread that just ended */
        if (fscanf(f, "%llu", &run) == 1) {
            ns += (double)run;
            found = 1;
        }
        fclose(f);
    }
    closedir(d);
    return found ? ns / 1e3 : -1;
}

/* The server's CPU time so far; -1 (user and sys) if it cannot be read. */
static struct cpu_time proc_cpu_us(pid_t pid)
{
    struct cpu_time t = { -1, -1, -1 };
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return t;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';

    /* Fields after the command name, which may hold spaces: state is
     * field 3, utime and stime are fields 14 and 15. */
    char *p = strrchr(buf, ')');
    unsigned long long utime, stime;
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
               &utime, &stime) != 2)
        return t;
    double tick_us = 1e6 / (double)sysconf(_SC_CLK_TCK);
    t.user = (double)utime * tick_us;
    t.sys = (double)stime * tick_us;
    t.run = proc_run_us(pid);
    return t;
}

/* ---- one connection ------------------------------------------------- */

static void conn_watch(struct worker *w, struct conn *c, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = c };
    epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_want_out(struct worker *w, struct conn *c, int on)
{
    if (c->want_out != on) {
        c->want_out = on;
        conn_watch(w, c, EPOLLIN | (on ? EPOLLOUT : 0));
    }
}

/* Ends a connection that was running; in --hold mode it stays open. */
static void conn_finish(struct worker *w, struct conn *c)
{
    if (opt.hold) {
        epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        c->state = C_IDLE;
    } else {
        close(c->fd);
        c->state = C_DONE;
    }
    w->live--;
}

static void conn_fail(struct worker *w, struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void conn_fail(struct worker *w, struct conn *c, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    report_error("connection %u: %s", c->id, msg);

    w->errors++;
    if (c->state == C_RUNNING)
        w->live--;
    close(c->fd);
    c->state = C_FAILED;
}

static int conn_finished(const struct worker *w, const struct conn *c)
{
    if (opt.count > 0 && c->recv_seq == opt.count)
        return 1;
    return w->draining && c->recv_seq == c->issued;
}

static void conn_issue(struct conn *c, int64_t now)
{
    c->issue_ns[c->issued % (uint64_t)opt.inflight] = now;
    c->issued++;
}

/* Appends the part of [p, p + len) past *skip bytes to iov. */
static void add_iov(struct iovec *iov, int *niov, const uint8_t *p,
                    size_t len, size_t *skip)
{
    if (len <= *skip) {
        *skip -= len;
        return;
    }
    iov[*niov].iov_base = (void *)(p + *skip);
    iov[*niov].iov_len = len - *skip;
    (*niov)++;
    *skip = 0;
}

/* Writes the requests issued but not yet written, as far as the socket
 * takes them. */
static void conn_flush(struct worker *w, struct conn *c)
{
    while (c->send_seq < c->issued) {
        struct wire wires[SEND_BATCH];
        struct iovec iov[2 * SEND_BATCH];
        int niov = 0;
        size_t skip = c->send_off, want = 0;
        uint64_t end = c->issued;
        if (end - c->send_seq > SEND_BATCH)
            end = c->send_seq + SEND_BATCH;

        for (uint64_t seq = c->send_seq; seq < end; seq++) {
            struct wire *wr = &wires[seq - c->send_seq];
            wire_request(&format, c->id, seq, wr);
            add_iov(iov, &niov, wr->head, wr->head_len, &skip);
            add_iov(iov, &niov, wr->body, wr->body_len, &skip);
        }
        for (int i = 0; i < niov; i++)
            want += iov[i].iov_len;

        ssize_t n = writev(c->fd, iov, niov);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                conn_want_out(w, c, 1);
                return;
            }
            conn_fail(w, c, "write: %s", strerror(errno));
            return;
        }
        size_t done = c->send_off + (size_t)n;
        c->send_seq += done / format.request_len;
        c->send_off = done % format.request_len;
        if ((size_t)n < want) {         /* the socket buffer is full */
            conn_want_out(w, c, 1);
            return;
        }
    }
    conn_want_out(w, c, 0);
}

/* A whole reply has been verified: count it and refill the window. */
static void conn_complete(struct worker *w, struct conn *c, int64_t now)
{
    uint64_t seq = c->recv_seq++;
    if (now >= t_start && now < t_end) {
        w->messages++;
        hist_record(&w->hist, (uint64_t)(now - c->issue_ns[seq % (uint64_t)opt.inflight]));
    }
    w->last_complete = now;
    if (!w->draining && (opt.count == 0 || c->issued < opt.count))
        conn_issue(c, now);
}

/* Checks n received bytes against the replies owed, in order.
 * Returns -1 (connection failed) on the first byte that differs. */
static int conn_verify(struct worker *w, struct conn *c, const uint8_t *p,
                       size_t n, int64_t now)
{
    while (n > 0) {
        if (c->recv_seq >= c->issued) {
            conn_fail(w, c, "%zu unexpected bytes after reply %llu", n,
                      (unsigned long long)c->recv_seq);
            return -1;
        }
        if (c->recv_off == 0)
            wire_reply(&format, c->id, c->recv_seq, &c->expect);
        size_t take = format.reply_len - c->recv_off;
        if (take > n)
            take = n;
        long d = wire_compare(&c->expect, c->recv_off, p, take);
        if (d >= 0) {
            conn_fail(w, c, "reply %llu differs at byte %ld of %zu: "
                      "expected 0x%02x, got 0x%02x",
                      (unsigned long long)c->recv_seq, d, format.reply_len,
                      wire_byte(&c->expect, (size_t)d),
                      p[(size_t)d - c->recv_off]);
            return -1;
        }
        c->recv_off += take;
        p += take;
        n -= take;
        if (c->recv_off == format.reply_len) {
            c->recv_off = 0;
            conn_complete(w, c, now);
        }
    }
    return 0;
}

static void conn_readable(struct worker *w, struct conn *c, int64_t now)
{
    for (;;) {
        ssize_t n = read(c->fd, w->rbuf, READ_BUF);
        if (n > 0) {
            c->last_progress = now;
            if (conn_verify(w, c, w->rbuf, (size_t)n, now) < 0)
                return;
            if ((size_t)n < READ_BUF)   /* drained: spare the EAGAIN */
                break;
        } else if (n == 0) {
            conn_fail(w, c, "server closed the connection after %llu replies",
                      (unsigned long long)c->recv_seq);
            return;
        } else if (errno == EAGAIN) {
            break;
        } else if (errno != EINTR) {
            conn_fail(w, c, "read: %s", strerror(errno));
            return;
        }
    }
    if (conn_finished(w, c))
        conn_finish(w, c);
    else
        conn_flush(w, c);
}

/* ---- a worker thread: connect, then traffic ------------------------- */

static void conn_start_connect(struct worker *w, struct conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        report_error("connection %u: socket: %s", c->id, strerror(errno));
        w->errors++;
        c->state = C_FAILED;
        return;
    }
    /* Small requests go out at once; and close() resets the connection
     * instead of leaving it in TIME_WAIT: thousands of connections closed
     * per run would otherwise hold the loopback port range for a minute,
     * until servers cannot even bind port 0. */
    int one = 1;
    struct linger reset = { .l_onoff = 1, .l_linger = 0 };
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));

    struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
    epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev);
    c->state = C_CONNECTING;
    if (connect(c->fd, (struct sockaddr *)&opt.addr, sizeof(opt.addr)) < 0 &&
        errno != EINPROGRESS)
        conn_fail(w, c, "connect: %s", strerror(errno));
}

/* A connect finished (or the socket reported an error). */
static void conn_connected(struct worker *w, struct conn *c, uint32_t events)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (c->state == C_READY) {          /* hung up before traffic started */
        if (events & (EPOLLERR | EPOLLHUP))
            conn_fail(w, c, "server closed the connection before any request");
        return;
    }
    if (c->state != C_CONNECTING)       /* failed earlier in this batch */
        return;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
        conn_fail(w, c, "connect: %s", strerror(err));
        return;
    }
    c->state = C_READY;
    conn_watch(w, c, 0);                /* quiet until traffic starts */
}

static void connect_all(struct worker *w)
{
    struct epoll_event evs[MAX_EVENTS];
    int64_t deadline = now_ns() + (int64_t)(opt.timeout * NS);
    int next = 0, connecting = 0;

    for (;;) {
        while (next < w->nconns && connecting < MAX_CONNECTING) {
            struct conn *c = &w->conns[next++];
            conn_start_connect(w, c);
            connecting += c->state == C_CONNECTING;
        }
        if (connecting == 0 && next == w->nconns)
            return;
        if (now_ns() > deadline) {
            for (int i = 0; i < next; i++)
                if (w->conns[i].state == C_CONNECTING)
                    conn_fail(w, &w->conns[i], "connect timed out");
            return;
        }
        int nev = epoll_wait(w->epfd, evs, MAX_EVENTS, 100);
        for (int i = 0; i < nev; i++) {
            struct conn *c = evs[i].data.ptr;
            int was_connecting = c->state == C_CONNECTING;
            conn_connected(w, c, evs[i].events);
            connecting -= was_connecting && c->state != C_CONNECTING;
        }
    }
}

/* Fails the connections that owe replies and have received nothing for
 * longer than the timeout. */
static void check_timeouts(struct worker *w, int64_t now)
{
    int64_t limit = (int64_t)(opt.timeout * NS);
    for (int i = 0; i < w->nconns; i++) {
        struct conn *c = &w->conns[i];
        if (c->state == C_RUNNING && now - c->last_progress > limit)
            conn_fail(w, c, "no reply for %.1f s (%llu replies so far)",
                      opt.timeout, (unsigned long long)c->recv_seq);
    }
}

static void traffic(struct worker *w)
{
    struct epoll_event evs[MAX_EVENTS];
    int64_t now = now_ns(), next_check = now + NS / 10;

    for (int i = 0; i < w->nconns; i++) {
        struct conn *c = &w->conns[i];
        if (c->state != C_READY)
            continue;
        c->state = C_RUNNING;
        c->last_progress = now;
        w->live++;
        conn_watch(w, c, EPOLLIN);
        while (c->issued < (uint64_t)opt.inflight &&
               (opt.count == 0 || c->issued < opt.count))
            conn_issue(c, now);
        conn_flush(w, c);
    }

    while (w->live > 0) {
        int nev = epoll_wait(w->epfd, evs, MAX_EVENTS, 20);
        now = now_ns();
        if (!w->draining && now >= t_end) {
            w->draining = 1;
            for (int i = 0; i < w->nconns; i++) {
                struct conn *c = &w->conns[i];
                if (c->state == C_RUNNING && conn_finished(w, c))
                    conn_finish(w, c);
            }
        }
        for (int i = 0; i < nev; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->state != C_RUNNING)
                continue;
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                conn_readable(w, c, now);
            if (c->state == C_RUNNING && (evs[i].events & EPOLLOUT))
                conn_flush(w, c);
        }
        if (now >= next_check) {
            check_timeouts(w, now);
            next_check = now + NS / 10;
        }
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    connect_all(w);
    pthread_barrier_wait(&connected_barrier);
    pthread_barrier_wait(&go_barrier);
    traffic(w);
    return NULL;
}

/* ---- command line --------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out,
        "usage: load IP PORT [options]\n"
        "  --proto raw|framed  raw echo (steps 01-06) or framed reply (07-10); default framed\n"
        "  -c N          connections (default 1)\n"
        "  -t N          client threads, each with its own epoll (default 1)\n"
        "  -k N          requests in flight per connection (default 1)\n"
        "  -s BYTES      payload bytes, K and M suffixes allowed (default 16)\n"
        "  -d SECONDS    measured duration (default 2)\n"
        "  -n COUNT      messages per connection instead of a duration\n"
        "  --warmup S    seconds of traffic before the window opens (default 0)\n"
        "  --timeout S   a connection that owes replies and gets nothing for S\n"
        "                seconds fails; also bounds the connect phase (default 10)\n"
        "  --pid PID     report the CPU time PID spends per message\n"
        "  --hold        one round trip per connection, then hold them idle\n"
        "                until SIGINT/SIGTERM/SIGHUP (or end of a piped stdin)\n"
        "  --json        one line of JSON instead of the table\n"
        "  -h            this help\n");
}

static void bad_argument(const char *what, const char *arg)
{
    fprintf(stderr, "load: %s '%s' (try -h)\n", what, arg);
    exit(2);
}

static long parse_long(const char *s, long lo, long hi, const char *what)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        bad_argument(what, s);
    return v;
}

static double parse_seconds(const char *s, const char *what)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v >= 0) || v > 86400)
        bad_argument(what, s);
    return v;
}

static size_t parse_size(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end == 'K' || *end == 'k')
        v <<= 10, end++;
    else if (*end == 'M' || *end == 'm')
        v <<= 20, end++;
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > (1u << 30))
        bad_argument("bad payload size", s);
    return (size_t)v;
}

static void parse_args(int argc, char **argv)
{
    enum { O_PROTO = 256, O_WARMUP, O_TIMEOUT, O_PID, O_HOLD, O_JSON };
    static const struct option longopts[] = {
        { "proto",   required_argument, NULL, O_PROTO },
        { "warmup",  required_argument, NULL, O_WARMUP },
        { "timeout", required_argument, NULL, O_TIMEOUT },
        { "pid",     required_argument, NULL, O_PID },
        { "hold",    no_argument,       NULL, O_HOLD },
        { "json",    no_argument,       NULL, O_JSON },
        { "help",    no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int ch;

    opterr = 0;
    while ((ch = getopt_long(argc, argv, "c:t:k:s:d:n:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c': opt.conns = (int)parse_long(optarg, 1, 1000000, "bad connection count"); break;
        case 't': opt.threads = (int)parse_long(optarg, 1, 256, "bad thread count"); break;
        case 'k': opt.inflight = (int)parse_long(optarg, 1, 65536, "bad in-flight count"); break;
        case 's': opt.size = parse_size(optarg); break;
        case 'd': opt.duration = parse_seconds(optarg, "bad duration"); break;
        case 'n': opt.count = (uint64_t)parse_long(optarg, 1, LONG_MAX, "bad message count"); break;
        case O_WARMUP: opt.warmup = parse_seconds(optarg, "bad warm-up"); break;
        case O_TIMEOUT: opt.timeout = parse_seconds(optarg, "bad timeout"); break;
        case O_PID: opt.server_pid = (pid_t)parse_long(optarg, 1, INT_MAX, "bad pid"); break;
        case O_HOLD: opt.hold = 1; break;
        case O_JSON: opt.json = 1; break;
        case O_PROTO:
            if (strcmp(optarg, "raw") == 0)
                opt.proto = PROTO_RAW;
            else if (strcmp(optarg, "framed") == 0)
                opt.proto = PROTO_FRAMED;
            else
                bad_argument("unknown protocol", optarg);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            bad_argument("unknown or incomplete option", argv[optind - 1]);
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "load: expected IP and PORT (try -h)\n");
        exit(2);
    }
    opt.addr.sin_family = AF_INET;
    if (inet_pton(AF_INET, argv[optind], &opt.addr.sin_addr) != 1)
        bad_argument("bad IPv4 address", argv[optind]);
    opt.addr.sin_port = htons((uint16_t)parse_long(argv[optind + 1], 1, 65535, "bad port"));
    if (opt.proto == PROTO_RAW && opt.size == 0)
        bad_argument("raw echo needs a payload of at least one byte, not", "0");
    if (opt.hold)
        opt.count = 1;
    if (opt.threads > opt.conns)
        opt.threads = opt.conns;
}

/* Every connection needs a descriptor: lift the soft limit if it is short. */
static void raise_nofile(void)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)opt.conns + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= need)
        return;
    rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < need) {
        fprintf(stderr, "load: %d connections need %llu descriptors, the limit "
                "is %llu (raise it with ulimit -n)\n", opt.conns,
                (unsigned long long)need, (unsigned long long)rl.rlim_cur);
        exit(2);
    }
}

/* ---- report --------------------------------------------------------- */

struct result {
    uint64_t    messages, errors;
    double      seconds;
    double      cpu_us;             /* server CPU in the window; < 0: unknown */
    double      user_us, sys_us;    /* its user and system parts */
    double      run_us;             /* the scheduler's count; < 0: unknown */
    struct hist hist;
};

static void print_result(const struct result *r)
{
    double rate = r->seconds > 0 ? (double)r->messages / r->seconds : 0;
    double mib = rate * (double)format.size / (1024.0 * 1024.0);
    double p50 = (double)hist_percentile(&r->hist, 50) / 1e3;
    double p99 = (double)hist_percentile(&r->hist, 99) / 1e3;
    double p999 = (double)hist_percentile(&r->hist, 99.9) / 1e3;
    double max = r->hist.count ? (double)r->hist.max / 1e3 : 0;
    double mean = hist_mean(&r->hist) / 1e3;
    double per_msg = r->cpu_us >= 0 && r->messages > 0 ?
                     r->cpu_us / (double)r->messages : -1;
    const char *proto = opt.proto == PROTO_RAW ? "raw" : "framed";

    if (opt.json) {
        printf("{\"proto\":\"%s\",\"connections\":%d,\"threads\":%d,"
               "\"inflight\":%d,\"size\":%zu,\"seconds\":%.3f,"
               "\"messages\":%llu,\"msgs_per_s\":%.1f,\"mib_per_s\":%.2f,"
               "\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
               "\"max_us\":%.1f,\"mean_us\":%.1f,",
               proto, opt.conns, opt.threads, opt.inflight, format.size,
               r->seconds, (unsigned long long)r->messages, rate, mib,
               p50, p99, p999, max, mean);
        if (per_msg >= 0)
            printf("\"server_cpu_us\":%.0f,\"cpu_us_per_msg\":%.3f,"
                   "\"user_us_per_msg\":%.3f,\"sys_us_per_msg\":%.3f,",
                   r->cpu_us, per_msg, r->user_us / (double)r->messages,
                   r->sys_us / (double)r->messages);
        else
            printf("\"server_cpu_us\":null,\"cpu_us_per_msg\":null,"
                   "\"user_us_per_msg\":null,\"sys_us_per_msg\":null,");
        if (per_msg >= 0 && r->run_us >= 0)
            printf("\"run_us_per_msg\":%.3f,", r->run_us / (double)r->messages);
        else
            printf("\"run_us_per_msg\":null,");
        printf("\"errors\":%llu}\n", (unsigned long long)r->errors);
    } else {
        printf("%s, %d connections, %d threads, %d in flight, %zu-byte "
               "payloads, %.2f s\n", proto, opt.conns, opt.threads,
               opt.inflight, format.size, r->seconds);
        printf("  messages   %llu  (%.0f msg/s, %.2f MiB/s of payload)\n",
               (unsigned long long)r->messages, rate, mib);
        printf("  latency    p50 %.1f us  p99 %.1f us  p99.9 %.1f us  "
               "max %.1f us  mean %.1f us\n", p50, p99, p999, max, mean);
        if (per_msg >= 0)
            printf("  server     %.3f CPU us per message (user %.3f, system %.3f)\n",
                   per_msg, r->user_us / (double)r->messages,
                   r->sys_us / (double)r->messages);
        if (per_msg >= 0 && r->run_us >= 0)
            printf("             %.3f us per message run by the scheduler's count\n",
                   r->run_us / (double)r->messages);
        printf("  errors     %llu\n", (unsigned long long)r->errors);
    }
    fflush(stdout);
}

/* --hold: waits for a signal, or for end of input on a pipe or terminal. */
static void hold_until_told(int sfd)
{
    struct stat st;
    struct pollfd pfd[2] = { { .fd = sfd, .events = POLLIN },
                             { .fd = STDIN_FILENO, .events = POLLIN } };
    int nfds = fstat(STDIN_FILENO, &st) == 0 &&
               (S_ISFIFO(st.st_mode) || isatty(STDIN_FILENO)) ? 2 : 1;
    while (poll(pfd, (nfds_t)nfds, -1) < 0 && errno == EINTR)
        ;
    if (pfd[0].revents & POLLIN) {      /* take the signal: none stays pending */
        struct signalfd_siginfo si;
        if (read(sfd, &si, sizeof(si)) < 0)
            perror("load: signalfd");
    }
    close(sfd);
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    if (msgfmt_init(&format, opt.proto, opt.size) < 0) {
        fprintf(stderr, "load: out of memory\n");
        return 1;
    }

    /* --hold waits for these on a signalfd: block them in every thread. */
    int sfd = -1;
    if (opt.hold) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        sfd = signalfd(-1, &set, SFD_CLOEXEC);
    }

    struct worker *workers = calloc((size_t)opt.threads, sizeof(*workers));
    struct conn *conns = calloc((size_t)opt.conns, sizeof(*conns));
    int64_t *rings = calloc((size_t)opt.conns * (size_t)opt.inflight, sizeof(*rings));
    if (workers == NULL || conns == NULL || rings == NULL) {
        fprintf(stderr, "load: out of memory\n");
        return 1;
    }
    /* Connections are cut into contiguous shares, one per thread. */
    for (int i = 0; i < opt.conns; i++) {
        conns[i].id = (uint32_t)i;
        conns[i].fd = -1;
        conns[i].issue_ns = rings + (size_t)i * (size_t)opt.inflight;
    }
    pthread_barrier_init(&connected_barrier, NULL, (unsigned)opt.threads + 1);
    pthread_barrier_init(&go_barrier, NULL, (unsigned)opt.threads + 1);
    for (int t = 0, first = 0; t < opt.threads; t++) {
        struct worker *w = &workers[t];
        int share = opt.conns / opt.threads + (t < opt.conns % opt.threads);
        w->conns = conns + first;
        w->nconns = share;
        first += share;
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        w->rbuf = malloc(READ_BUF);
        if (w->epfd < 0 || w->rbuf == NULL) {
            fprintf(stderr, "load: cannot set up thread %d\n", t);
            return 1;
        }
        hist_init(&w->hist);
        pthread_create(&w->tid, NULL, worker_main, w);
    }

    /* Every thread has connected its share: open the window. */
    pthread_barrier_wait(&connected_barrier);
    t_origin = now_ns();
    if (opt.count > 0) {
        t_start = t_origin;
        t_end = INT64_MAX;
    } else {
        t_start = t_origin + (int64_t)(opt.warmup * NS);
        t_end = t_start + (int64_t)(opt.duration * NS);
    }
    pthread_barrier_wait(&go_barrier);

    struct result r = { .cpu_us = -1, .run_us = -1 };
    struct cpu_time cpu0 = { -1, -1, -1 }, cpu1 = { -1, -1, -1 };
    if (opt.server_pid && opt.count == 0) {
        sleep_until(t_start);
        cpu0 = proc_cpu_us(opt.server_pid);
        sleep_until(t_end);
        cpu1 = proc_cpu_us(opt.server_pid);
    } else if (opt.server_pid) {
        cpu0 = proc_cpu_us(opt.server_pid);
    }

    hist_init(&r.hist);
    int64_t last = t_origin;
    for (int t = 0; t < opt.threads; t++) {
        pthread_join(workers[t].tid, NULL);
        r.messages += workers[t].messages;
        r.errors += workers[t].errors;
        hist_merge(&r.hist, &workers[t].hist);
        if (workers[t].last_complete > last)
            last = workers[t].last_complete;
    }
    if (opt.server_pid && opt.count > 0)
        cpu1 = proc_cpu_us(opt.server_pid);
    if (cpu0.user >= 0 && cpu1.user >= 0) {
        r.user_us = cpu1.user - cpu0.user;
        r.sys_us = cpu1.sys - cpu0.sys;
        r.cpu_us = r.user_us + r.sys_us;
        if (cpu0.run >= 0 && cpu1.run >= 0)
            r.run_us = cpu1.run - cpu0.run;
    }
    r.seconds = opt.count > 0 ? (double)(last - t_origin) / NS : opt.duration;
    if (errors_hidden > 0)
        fprintf(stderr, "load: %lu more errors not shown\n", errors_hidden);

    if (!opt.hold) {
        print_result(&r);
    } else if (r.errors) {
        fprintf(stderr, "load: %llu of %d connections failed\n",
                (unsigned long long)r.errors, opt.conns);
    } else {
        printf("ready %d\n", opt.conns);
        fflush(stdout);
        hold_until_told(sfd);
    }

    for (int i = 0; i < opt.conns; i++)
        if (conns[i].state == C_IDLE)
            close(conns[i].fd);
    for (int t = 0; t < opt.threads; t++) {
        close(workers[t].epfd);
        free(workers[t].rbuf);
    }
    free(rings);
    free(conns);
    free(workers);
    msgfmt_free(&format);
    return r.errors ? 1 : 0;
}
