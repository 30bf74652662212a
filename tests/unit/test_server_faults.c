/* test_server_faults.c - the EchoServer, TcpServer and Connection classes
 * (echo_server.h, tcp_server.h, connection.h) of step10_timer when memory,
 * fds, epoll or threads fail, injected with fault.h.
 *
 * The server runs in this process: the test's thread runs the main loop,
 * a client thread talks to it over 127.0.0.1 (port 0: the kernel picks).
 *
 *   - construction: echo_server_new() refuses cleanly whichever call fails
 *     (NULL, errno, no fd, thread or memory left behind);
 *   - sessions: one client session (three pipelined messages, then
 *     SHUT_WR) with the n-th allocation (or epoll_ctl) failing, for every n
 *     until the session needs fewer: the server never answers wrongly,
 *     never stalls without logging an error, keeps serving new clients,
 *     and leaks nothing once freed.
 *
 * Only steps with timestamp.c (step10_timer on): the API is step10's.
 *
 * tests/Makefile hook:
 *   UNIT_MODULES += server_faults:timestamp.c,echo_server.c,... (SERVER_SRCS_10)
 *   UNIT_WRAP_server_faults := malloc calloc realloc epoll_create1 epoll_ctl
 *       epoll_wait eventfd timerfd_create socket bind listen pthread_create
 *
 * By hand: see tests/README.md (make -C tests ../build/tests/unit/server_faults-10).
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "buffer.h"
#include "codec.h"
#include "connection.h"
#include "echo_server.h"
#include "event_loop.h"
#include "fault.h"
#include "inet_address.h"
#include "socket.h"
#include "tcp_server.h"
#include "unit.h"

FAULT_WRAP(void *, malloc, (size_t n), (n), NULL, ENOMEM)
FAULT_WRAP(void *, calloc, (size_t n, size_t size), (n, size), NULL, ENOMEM)
FAULT_WRAP(void *, realloc, (void *p, size_t n), (p, n), NULL, ENOMEM)
FAULT_WRAP(int, epoll_create1, (int flags), (flags), -1, EMFILE)
FAULT_WRAP(int, epoll_ctl, (int epfd, int op, int fd, struct epoll_event *ev),
           (epfd, op, fd, ev), -1, ENOMEM)
FAULT_WRAP(int, epoll_wait, (int epfd, struct epoll_event *evs, int max, int ms),
           (epfd, evs, max, ms), -1, EINVAL)
FAULT_WRAP(int, eventfd, (unsigned int initval, int flags), (initval, flags), -1, EMFILE)
FAULT_WRAP(int, timerfd_create, (int clockid, int flags), (clockid, flags), -1, EMFILE)
FAULT_WRAP(int, socket, (int domain, int type, int proto), (domain, type, proto),
           -1, EMFILE)
FAULT_WRAP(int, bind, (int fd, const struct sockaddr *a, socklen_t len),
           (fd, a, len), -1, EADDRINUSE)
FAULT_WRAP(int, listen, (int fd, int backlog), (fd, backlog), -1, EADDRINUSE)
FAULT_WRAP_PTHREAD_CREATE(EAGAIN)

static struct inet_address any_port(void)
{
    struct inet_address addr;
    ck_assert_int_eq(inet_address_init(&addr, "127.0.0.1", 0), 0);
    return addr;
}

/* ---- construction --------------------------------------------------------- */

/* The errno echo_server_new() must report when fn failed. */
static bool errno_ok(const char *fn, int err)
{
    if (strcmp(fn, "pthread_create") == 0)
        return err == EAGAIN;
    if (strcmp(fn, "socket") == 0)
        return err == EMFILE;
    if (strcmp(fn, "bind") == 0 || strcmp(fn, "listen") == 0)
        return err == EADDRINUSE;
    if (strcmp(fn, "epoll_create1") == 0 || strcmp(fn, "eventfd") == 0 ||
        strcmp(fn, "timerfd_create") == 0)
        /* Only the I/O threads create loops, and tcp_server reports a
         * loop that could not be created as ENOMEM, whatever the cause. */
        return err == EMFILE || err == ENOMEM;
    return err == ENOMEM;                  /* allocations, epoll_ctl */
}

/* For n = 1, 2, ...: echo_server_new() (2 I/O threads, 2 workers) with the
 * n-th call in mask failing, until it makes fewer than n such calls. Each
 * failure must give NULL, the right errno, and leave no fd, thread or
 * memory behind. Adds the names of the functions that failed to seen;
 * returns how many of them were pthread_create. */
static int sweep_new(struct event_loop *loop, unsigned mask, char *seen,
                     size_t seen_size)
{
    struct tcp_server_options opts = { .max_payload = 1 << 20, .io_threads = 2,
                                       .idle_seconds = 60 };
    struct inet_address addr = any_port();
    int fds = fault_open_fds(), threads = fault_threads();
    int failed_threads = 0;
    long n;
    for (n = 1; n < 200; n++) {
        fault_reset();
        fault_add(mask, n, 1, 0);
        errno = 0;
        struct echo_server *es = echo_server_new(loop, &addr, &opts, 2);
        int err = errno;
        fault_clear();
        if (fault_injected() == 0) {
            ck_assert_ptr_nonnull(es);
            echo_server_free(es);
            break;
        }
        const char *fn = fault_last();
        ck_assert_msg(es == NULL, "echo_server_new() succeeded although call "
                      "%ld (%s) failed", n, fn);
        ck_assert_msg(errno_ok(fn, err), "call %ld (%s) failed: errno %d (%s)",
                      n, fn, err, strerror(err));
        ck_assert_msg(fault_open_fds() == fds, "call %ld (%s) failed: %d fds "
                      "open, %d before", n, fn, fault_open_fds(), fds);
        ck_assert_msg(fault_threads() == threads, "call %ld (%s) failed: %d "
                      "threads, %d before", n, fn, fault_threads(), threads);
        ck_assert_msg(fault_leak_check() == 0, "call %ld (%s) failed: memory "
                      "leaked (see the LeakSanitizer report)", n, fn);
        failed_threads += strcmp(fn, "pthread_create") == 0;
        if (!strstr(seen, fn) && strlen(seen) + strlen(fn) + 2 < seen_size) {
            strcat(seen, " ");
            strcat(seen, fn);
        }
    }
    ck_assert_int_lt(n, 200);
    return failed_threads;
}

START_TEST(new_fails_cleanly_at_every_call)
{
    static const struct { enum fault_sym sym; const char *name; } want[] = {
        { F_calloc, "calloc" }, { F_malloc, "malloc" }, { F_socket, "socket" },
        { F_bind, "bind" }, { F_listen, "listen" },
        { F_epoll_create1, "epoll_create1" }, { F_eventfd, "eventfd" },
        { F_timerfd_create, "timerfd_create" }, { F_epoll_ctl, "epoll_ctl" },
        { F_pthread_create, "pthread_create" },
    };
    const unsigned mask = FAULT(malloc) | FAULT(calloc) | FAULT(realloc) |
                          FAULT(epoll_create1) | FAULT(epoll_ctl) |
                          FAULT(eventfd) | FAULT(timerfd_create) |
                          FAULT(socket) | FAULT(bind) | FAULT(listen) |
                          FAULT(pthread_create);
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    int fds = fault_open_fds();
    char seen[256] = "";

    /* 2 I/O threads and 2 workers: each could not start once. */
    ck_assert_int_eq(sweep_new(loop, mask, seen, sizeof(seen)), 4);
    /* The I/O threads make their calls while the main thread makes its
     * own, so which call is the n-th varies from run to run, and a sweep
     * over all of them may miss one function. Sweep that one alone. */
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!strstr(seen, want[i].name))
            sweep_new(loop, 1u << want[i].sym, seen, sizeof(seen));
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        ck_assert_msg(strstr(seen, want[i].name) != NULL, "no %s failed in "
                      "echo_server_new() (failed:%s)", want[i].name, seen);
    event_loop_free(loop);
    ck_assert_int_eq(fault_open_fds(), fds - 3);     /* the loop's 3 */
}
END_TEST

START_TEST(io_loop_whose_wait_fails_stops_the_server)
{
    /* The I/O thread's epoll_wait() fails: it logs, marks the server
     * failed and stops the main loop (it would go on handing that loop
     * connections); the server then stops and frees cleanly. */
    struct tcp_server_options opts = { .max_payload = 1 << 20, .io_threads = 1 };
    struct inet_address addr = any_port();
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    int threads = fault_threads();
    capture_start();
    fault_reset();
    fault_add(FAULT(epoll_wait), 1, 1, EINVAL);
    struct tcp_server *server = tcp_server_new(loop, &addr, &opts);
    for (int i = 0; i < 2000 && fault_injected() == 0; i++)
        usleep(1000);
    fault_clear();
    ck_assert_ptr_nonnull(server);
    ck_assert_int_eq(fault_injected(), 1);
    double t0 = now_s();
    ck_assert_int_eq(event_loop_run(loop), 0);  /* quit by the I/O thread */
    ck_assert_double_lt(now_s() - t0, 5.0);
    ck_assert(tcp_server_failed(server));
    tcp_server_free(server);
    char *log = capture_end();
    ck_assert_msg(count_lines_with(log, "[io-1] epoll_wait: Invalid argument; "
                                   "shutting down") == 1, "log: %s", log);
    free(log);
    ck_assert_int_eq(fault_threads(), threads);
    event_loop_free(loop);
}
END_TEST

/* ---- a lost end of a reply -------------------------------------------- */

/* A connection on a socketpair, whose one message goes to a "worker" (a
 * thread of the test) that ends it with conn_end_async() while malloc
 * fails, after the peer's FIN was read. */
struct lost_end {
    struct event_loop *loop;
    struct connection *conn;
    atomic_int stage;              /* 1: message taken; 2: its round is over */
    atomic_bool closed;
};

static void lost_end_message(void *ctx, struct connection *conn,
                             const char *payload, size_t len)
{
    struct lost_end *le = ctx;
    (void)payload;
    (void)len;
    conn_begin_async(conn, 100);
    le->conn = conn;
    atomic_store(&le->stage, 1);
}

static void lost_end_closed(void *ctx, struct connection *conn)
{
    struct lost_end *le = ctx;
    atomic_store(&le->closed, true);
    conn_unref(conn);                          /* the owner's */
    event_loop_quit(le->loop);
}

static void round_over(void *ctx)
{
    struct lost_end *le = ctx;
    atomic_store(&le->stage, 2);
}

static void *lost_end_worker(void *arg)
{
    struct lost_end *le = arg;
    while (atomic_load(&le->stage) < 1)
        sleep_ms(1);
    /* Tasks run after the round of events: once this one has run, the
     * round that read the message and the FIN is over. */
    if (event_loop_queue_in_loop(le->loop, round_over, le) < 0)
        return NULL;
    while (atomic_load(&le->stage) < 2)
        sleep_ms(1);
    fault_reset();
    fault_add(FAULT(malloc), 1, 1, 0);
    conn_end_async(le->conn, 100);
    fault_clear();
    double deadline = now_s() + 3;             /* the loop must close it */
    while (!atomic_load(&le->closed) && now_s() < deadline)
        sleep_ms(5);
    if (!atomic_load(&le->closed))
        event_loop_quit(le->loop);             /* it did not: end the test */
    return NULL;
}

START_TEST(lost_end_of_a_reply_closes_a_half_closed_connection)
{
    static struct lost_end le;
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                                0, sv), 0);
    le.loop = event_loop_new();
    ck_assert_ptr_nonnull(le.loop);
    struct socket sock;
    socket_init(&sock, sv[0]);
    struct inet_address peer = any_port();
    struct connection *conn = conn_new(le.loop, &sock, &peer, 1 << 20);
    ck_assert_ptr_nonnull(conn);
    conn_set_message_callback(conn, lost_end_message, &le);
    conn_set_close_callback(conn, lost_end_closed, &le);
    ck_assert_int_eq(conn_establish(conn), 0);
    /* One message and the FIN, together: the reply is owed after EOF. */
    static const char msg[] = { 0, 0, 0, 2, 'h', 'i' };
    ck_assert_int_eq(write(sv[1], msg, sizeof(msg)), (ssize_t)sizeof(msg));
    ck_assert_int_eq(shutdown(sv[1], SHUT_WR), 0);
    pthread_t th;
    capture_start();
    ck_assert_int_eq(pthread_create(&th, NULL, lost_end_worker, &le), 0);
    ck_assert_int_eq(event_loop_run(le.loop), 0);
    pthread_join(th, NULL);
    char *log = capture_end();
    ck_assert_msg(atomic_load(&le.closed), "the half-closed connection is still "
                  "open 3 s after the news of its last reply was lost; log: %s", log);
    ck_assert_msg(count_lines_with(log, "end of a reply: Cannot allocate memory") == 1,
                  "log: %s", log);
    free(log);
    char c;
    ck_assert_int_eq(read(sv[1], &c, 1), 0);   /* the client sees EOF */
    close(sv[1]);
    event_loop_free(le.loop);
}
END_TEST

/* ---- the memory budget ---------------------------------------------------- */

/* An in-process server for the budget tests: the test's thread runs the
 * main loop, a client thread does the talking and quits the loop. */
struct budget_run {
    struct event_loop *loop;
    struct echo_server *es;
    uint16_t port;
};

static int connect_to(uint16_t port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    return fd;
}

/* Sends the header of a message of len bytes and 1000 bytes of it. */
static void send_partial(int fd, uint32_t len)
{
    static char part[4 + 1000];
    uint32_t n = htonl(len);
    memcpy(part, &n, 4);
    ck_assert_int_eq(send(fd, part, sizeof(part), MSG_NOSIGNAL), (ssize_t)sizeof(part));
}

/* Waits until what the connections hold is at least want bytes. */
static bool held_reaches(const struct echo_server *es, size_t want)
{
    double deadline = now_s() + 5;
    while (echo_server_held(es) < want && now_s() < deadline)
        sleep_ms(1);
    return echo_server_held(es) >= want;
}

/* Whether the server closed fd: EOF or a reset within 3 s. */
static bool closed_by_server(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    if (poll(&p, 1, 3000) <= 0)
        return false;
    char c;
    return read(fd, &c, 1) <= 0;
}

struct eviction {
    struct budget_run *run;
    bool order_ok;                 /* the biggest went, the others stayed */
    char detail[200];
};

static void *eviction_client(void *arg)
{
    struct eviction *ev = arg;
    struct budget_run *br = ev->run;
    int big = connect_to(br->port), small = connect_to(br->port),
        newest = connect_to(br->port);
    /* 2 MiB first, then 1 MiB (3 MiB and their headers: under the budget),
     * then 1.5 MiB: over. The one to go is the biggest, not the newest. */
    send_partial(big, 2u << 20);
    bool ok = held_reaches(br->es, 2u << 20);
    send_partial(small, 1u << 20);
    ok = ok && held_reaches(br->es, 3u << 20);
    send_partial(newest, 3u << 19);
    bool big_gone = ok && closed_by_server(big);
    struct pollfd p[2] = { { small, POLLIN, 0 }, { newest, POLLIN, 0 } };
    bool others_stay = poll(p, 2, 300) == 0;
    ev->order_ok = big_gone && others_stay;
    snprintf(ev->detail, sizeof(ev->detail), "held reached: %d, the 2 MiB one closed: "
             "%d, the others open: %d, held now %zu", ok, big_gone, others_stay,
             echo_server_held(br->es));
    close(big);
    close(small);
    close(newest);
    event_loop_quit(br->loop);
    return NULL;
}

static void budget_start(struct budget_run *br, size_t budget, int io_threads,
                         int workers)
{
    struct tcp_server_options opts = { .max_payload = 16u << 20,
                                       .io_threads = io_threads,
                                       .idle_seconds = 60,
                                       .memory_budget = budget };
    struct inet_address addr = any_port();
    br->loop = event_loop_new();
    ck_assert_ptr_nonnull(br->loop);
    br->es = echo_server_new(br->loop, &addr, &opts, workers);
    ck_assert_ptr_nonnull(br->es);
    struct inet_address bound;
    ck_assert_int_eq(echo_server_local_address(br->es, &bound), 0);
    ck_assert_int_eq(echo_server_start(br->es), 0);
    br->port = inet_address_port(&bound);
}

static void budget_stop(struct budget_run *br)
{
    echo_server_free(br->es);
    event_loop_free(br->loop);
}

START_TEST(eviction_takes_the_biggest_first)
{
    static struct budget_run br;
    static struct eviction ev = { .run = &br };
    budget_start(&br, (3u << 20) + 4096, 0, 0);  /* 3 MiB and some headroom */
    capture_start();
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, eviction_client, &ev), 0);
    ck_assert_int_eq(event_loop_run(br.loop), 0);
    pthread_join(th, NULL);
    budget_stop(&br);
    char *log = capture_end();
    ck_assert_msg(ev.order_ok, "%s; log: %s", ev.detail, log);
    /* The buffer reserved for the 2 MiB message: header and prepend area. */
    char want[128];
    snprintf(want, sizeof(want), "holds %u bytes, the most while the server is "
             "over its memory budget", BUFFER_PREPEND + CODEC_HEADER_LEN + (2u << 20));
    ck_assert_msg(count_lines_with(log, want) == 1, "want \"%s\"; log: %s", want, log);
    ck_assert_int_eq(count_lines_with(log, "over its memory budget"), 1);
    free(log);
}
END_TEST

/* A flood of empty messages through a worker, replies read as they come:
 * the jobs pile up in the worker, and what the server counts for them
 * must follow what they really take from the heap. */
struct follow {
    struct budget_run *run;
    size_t base;                   /* heap in use before the flood */
    size_t heap_peak, held_peak;   /* sampled every 100 us */
    atomic_bool done;
    char err[120];
};

static void *follow_sampler(void *arg)
{
    struct follow *f = arg;
    while (!atomic_load(&f->done)) {
        size_t heap = heap_in_use(), held = echo_server_held(f->run->es);
        if (heap > f->base && heap - f->base > f->heap_peak)
            f->heap_peak = heap - f->base;
        if (held > f->held_peak)
            f->held_peak = held;
        usleep(100);
    }
    return NULL;
}

static void *follow_client(void *arg)
{
    enum { MESSAGES = 200000 };
    struct follow *f = arg;
    static char out[4 * 4096], in[65536];
    memset(out, 0, sizeof(out));               /* empty messages */
    int fd = connect_to(f->run->port);
    size_t sent = 0, got = 0, want = (size_t)MESSAGES * 10;
    double deadline = now_s() + 30;
    while (got < want && now_s() < deadline) {
        struct pollfd p = { fd, POLLIN | (sent < (size_t)MESSAGES * 4 ? POLLOUT : 0), 0 };
        if (poll(&p, 1, 100) <= 0)
            continue;
        if (p.revents & POLLOUT) {
            size_t left = (size_t)MESSAGES * 4 - sent;
            ssize_t n = send(fd, out, left < sizeof(out) ? left : sizeof(out),
                             MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0)
                sent += (size_t)n;
        }
        if (p.revents & POLLIN) {
            ssize_t n = recv(fd, in, sizeof(in), MSG_DONTWAIT);
            if (n <= 0)
                break;
            got += (size_t)n;
        }
    }
    if (got < want)
        snprintf(f->err, sizeof(f->err), "%zu of %zu reply bytes", got, want);
    close(fd);
    atomic_store(&f->done, true);
    /* The server closes its end and gives everything back. */
    deadline = now_s() + 3;
    while (echo_server_held(f->run->es) != 0 && now_s() < deadline)
        sleep_ms(1);
    event_loop_quit(f->run->loop);
    return NULL;
}

START_TEST(what_is_counted_follows_the_heap)
{
    static struct budget_run br;
    static struct follow f = { .run = &br };
    budget_start(&br, 0, 0, 1);                /* no budget: count only */
    atomic_init(&f.done, false);
    f.base = heap_in_use();
    pthread_t sampler, client;
    ck_assert_int_eq(pthread_create(&sampler, NULL, follow_sampler, &f), 0);
    ck_assert_int_eq(pthread_create(&client, NULL, follow_client, &f), 0);
    ck_assert_int_eq(event_loop_run(br.loop), 0);
    pthread_join(client, NULL);
    pthread_join(sampler, NULL);
    size_t held_after = echo_server_held(br.es);
    budget_stop(&br);
    ck_assert_msg(f.err[0] == '\0', "%s", f.err);
    /* The jobs piled up: each empty message held about 200 bytes. */
    ck_assert_msg(f.held_peak >= 16 * 1024, "counted at most %zu bytes", f.held_peak);
    ck_assert_msg(f.heap_peak <= 2 * f.held_peak + (256u << 10), "the heap grew by "
                  "up to %zu bytes while the server counted at most %zu", f.heap_peak,
                  f.held_peak);
    ck_assert_uint_eq(held_after, 0);          /* all given back */
}
END_TEST

/* ---- sessions ------------------------------------------------------------- */

enum outcome { OK, CLOSED, STALLED, WRONG };
static const char *const outcome_names[] = { "ok", "closed", "stalled", "wrong" };

/* Whether the captured stderr has an ERROR line. No allocation: this runs
 * while a fault may be armed. */
static bool error_logged(void)
{
    static char text[1 << 16];
    ssize_t n = pread(capture_fd, text, sizeof(text) - 1, 0);
    text[n > 0 ? n : 0] = '\0';
    return strstr(text, " ERROR ") != NULL;
}

/* Reads until want bytes came (true), or EOF, an error, or a stall. A
 * stall: nothing for 3 s, or for 0.3 s once an error was logged (the
 * server said why). */
static bool read_exactly(int fd, char *buf, size_t want, size_t *got,
                         enum outcome *out)
{
    double last = now_s();
    while (*got < want) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int r = poll(&p, 1, 50);
        if (r > 0) {
            ssize_t n = read(fd, buf + *got, want - *got);
            if (n <= 0) {
                *out = CLOSED;                 /* EOF, ECONNRESET */
                return false;
            }
            *got += (size_t)n;
            last = now_s();
            continue;
        }
        double idle = now_s() - last;
        if (idle > 3.0 || (idle > 0.3 && error_logged())) {
            *out = STALLED;
            return false;
        }
    }
    return true;
}

/* The payload of the session's third message: its reply is more than the
 * replies to one read get on the stack (CONN_STACK_REPLIES), and less
 * than a reply written straight from the caller (CONN_DIRECT_WRITE), so
 * the output buffer must allocate. */
#define BIG_PAYLOAD (CONN_STACK_REPLIES + 4000)

static char request[2 * 4 + 5 + 6 + 4 + BIG_PAYLOAD];
static char reply[3 * 4 + 3 * 6 + 5 + 6 + BIG_PAYLOAD];

/* Appends a framed message (a 4-byte big-endian length, then the bytes). */
static char *put_message(char *p, const char *a, size_t alen, const char *b,
                         size_t blen)
{
    uint32_t len = htonl((uint32_t)(alen + blen));
    memcpy(p, &len, 4);
    memcpy(p + 4, a, alen);
    memcpy(p + 4 + alen, b, blen);
    return p + 4 + alen + blen;
}

/* Fills request and reply: "hello", "world!" and BIG_PAYLOAD bytes. */
static void build_session(void)
{
    static char big[BIG_PAYLOAD];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);
    char *q = request, *r = reply;
    q = put_message(q, "hello", 5, "", 0);
    q = put_message(q, "world!", 6, "", 0);
    q = put_message(q, big, sizeof(big), "", 0);
    r = put_message(r, "reply:", 6, "hello", 5);
    r = put_message(r, "reply:", 6, "world!", 6);
    r = put_message(r, "reply:", 6, big, sizeof(big));
    ck_assert_uint_eq((size_t)(q - request), sizeof(request));
    ck_assert_uint_eq((size_t)(r - reply), sizeof(reply));
}

/* Three pipelined messages in one write and SHUT_WR at once: every reply,
 * then EOF (the replies still owed after the peer's FIN are the hard
 * part). No allocation: this runs while a fault may be armed. */
static enum outcome session(uint16_t port, char *detail, size_t detail_size)
{
    static char got[sizeof(reply) + 16];
    size_t n = 0;
    enum outcome out = OK;

    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
        snprintf(detail, detail_size, "connect: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return WRONG;                          /* the backlog takes it */
    }
    if (send(fd, request, sizeof(request), MSG_NOSIGNAL) != (ssize_t)sizeof(request)) {
        snprintf(detail, detail_size, "send: %s", strerror(errno));
        close(fd);
        return CLOSED;                         /* reset already */
    }
    shutdown(fd, SHUT_WR);
    if (read_exactly(fd, got, sizeof(reply), &n, &out)) {
        size_t extra = 0;
        if (read_exactly(fd, got + sizeof(reply), 1, &extra, &out))
            out = WRONG;                       /* a byte more than owed */
        else if (out == CLOSED)
            out = OK;                          /* EOF after every reply */
        n += extra;
    }
    if (memcmp(got, reply, n < sizeof(reply) ? n : sizeof(reply)) != 0)
        out = WRONG;
    /* "N of M reply bytes: <the first that came, printable or \ooo>" */
    int len = snprintf(detail, detail_size, "%zu of %zu reply bytes: ", n,
                       sizeof(reply));
    for (size_t i = 0; i < n && len > 0 && (size_t)len + 5 < detail_size; i++)
        len += snprintf(detail + len, detail_size - (size_t)len,
                        got[i] >= 32 && got[i] < 127 ? "%c" : "\\%03o",
                        (unsigned char)got[i]);
    close(fd);
    return out;
}

struct client {
    uint16_t port;
    struct event_loop *loop;     /* quit when done */
    enum outcome out, health;
    char detail[160], health_detail[160];
};

/* The session with the fault armed, then (disarmed) a health check. */
static void *client_main(void *arg)
{
    struct client *c = arg;
    c->out = session(c->port, c->detail, sizeof(c->detail));
    fault_clear();
    c->health = session(c->port, c->health_detail, sizeof(c->health_detail));
    event_loop_quit(c->loop);
    return NULL;
}

struct sweep {
    const char *name;
    unsigned mask;
    int io_threads, workers;
    const char *const *must_log;  /* lines the sweep must have caused */
};

/* What went wrong in a sweep: counted, and the first few described. */
static struct {
    int count;
    char text[2048];
} problems;

__attribute__((format(printf, 1, 2)))
static void problem(const char *fmt, ...)
{
    size_t len = strlen(problems.text);
    if (problems.count++ < 4 && len + 8 < sizeof(problems.text)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(problems.text + len, sizeof(problems.text) - len, fmt, ap);
        va_end(ap);
        len = strlen(problems.text);
        snprintf(problems.text + len, sizeof(problems.text) - len, " | ");
    }
}

/* For n = 1, 2, ...: a fresh server, one session with the n-th call in
 * mask failing, a health check, free; until a session makes fewer than
 * n such calls. Every session is checked; the test fails at the end with
 * the problems found (the first 4 described). */
static void sweep(const struct sweep *sw)
{
    struct tcp_server_options opts = { .max_payload = 1 << 20,
                                       .io_threads = sw->io_threads,
                                       .idle_seconds = 60 };
    struct inet_address addr = any_port();
    int counts[4] = {0};
    bool logged[8] = {false};
    bool leaked = false;
    long n;

    memset(&problems, 0, sizeof(problems));
    build_session();
    capture_start();
    int fds = fault_open_fds(), threads = fault_threads();
    for (n = 1; n < 500; n++) {
        struct event_loop *loop = event_loop_new();
        ck_assert_ptr_nonnull(loop);
        struct echo_server *es = echo_server_new(loop, &addr, &opts, sw->workers);
        ck_assert_ptr_nonnull(es);
        struct inet_address bound;
        ck_assert_int_eq(echo_server_local_address(es, &bound), 0);
        ck_assert_int_eq(echo_server_start(es), 0);
        static struct client c;
        c = (struct client){ .port = inet_address_port(&bound), .loop = loop };
        pthread_t th;
        capture_clear();

        /* No check() from here to fault_clear(): it allocates. */
        fault_reset();
        fault_add(sw->mask, n, 1, 0);
        int rc_thread = pthread_create(&th, NULL, client_main, &c);
        int rc_run = rc_thread == 0 ? event_loop_run(loop) : -1;
        if (rc_thread == 0)
            pthread_join(th, NULL);
        fault_clear();
        echo_server_free(es);
        event_loop_free(loop);

        char *log = capture_text();
        bool injected = fault_injected() > 0;
        const char *fn = fault_last();
        ck_assert_int_eq(rc_thread, 0);
        ck_assert_int_eq(rc_run, 0);
        if (c.out == WRONG)
            problem("call %ld (%s) failed: wrong reply (%s)", n, fn, c.detail);
        if (!injected && c.out != OK)
            problem("nothing failed, yet the session was %s (%s)",
                    outcome_names[c.out], c.detail);
        if (c.out == STALLED && !strstr(log, " ERROR "))
            problem("call %ld (%s) failed: the session stalled (%s) and "
                    "nothing was logged", n, fn, c.detail);
        if (c.out == STALLED && strstr(log, "end of a reply"))
            problem("call %ld (%s) failed: the news of a reply was lost, and "
                    "the half-closed connection stayed open (%s)", n, fn,
                    c.detail);
        if (c.health != OK)
            problem("call %ld (%s) failed: the next client's session was %s "
                    "(%s); log: %.200s", n, fn, outcome_names[c.health],
                    c.health_detail, log);
        if (fault_open_fds() != fds) {
            problem("call %ld (%s) failed: %d fds open, %d before", n, fn,
                    fault_open_fds(), fds);
            fds = fault_open_fds();
        }
        if (fault_threads() != threads)
            problem("call %ld (%s) failed: %d threads, %d before", n, fn,
                    fault_threads(), threads);
        if (!leaked && fault_leak_check() != 0) {
            problem("call %ld (%s) failed: memory leaked (see the "
                    "LeakSanitizer report)", n, fn);
            leaked = true;
        }
        for (int i = 0; i < 8 && sw->must_log && sw->must_log[i]; i++)
            logged[i] |= strstr(log, sw->must_log[i]) != NULL;
        free(log);
        counts[c.out]++;
        if (!injected)
            break;
    }
    capture_stop();
    ck_assert_msg(problems.count == 0, "%s: %d problems in %ld sessions: %s",
                  sw->name, problems.count, n, problems.text);
    ck_assert_int_lt(n, 500);
    /* The failures reached the code that copes with them. */
    for (int i = 0; i < 8 && sw->must_log && sw->must_log[i]; i++)
        ck_assert_msg(logged[i], "%s: no failure logged \"%s\" in %ld "
                      "sessions (ok %d, closed %d, stalled %d)", sw->name,
                      sw->must_log[i], n, counts[OK], counts[CLOSED],
                      counts[STALLED]);
    ck_assert_int_gt(counts[CLOSED], 0);
}

START_TEST(allocation_failures_with_workers)
{
    static const char *const must[] = {
        "new connection: Cannot allocate memory",
        "worker job: Cannot allocate memory",
        "reply from another thread: Cannot allocate memory",
        "end of a reply: Cannot allocate memory",
        NULL,
    };
    struct sweep sw = { "1 I/O thread, 1 worker",
                        FAULT(malloc) | FAULT(calloc) | FAULT(realloc), 1, 1, must };
    sweep(&sw);
}
END_TEST

START_TEST(allocation_failures_in_the_main_loop)
{
    static const char *const must[] = {
        "new connection: Cannot allocate memory",
        "reply: Cannot allocate memory",
        NULL,
    };
    struct sweep sw = { "no I/O thread, no worker",
                        FAULT(malloc) | FAULT(calloc) | FAULT(realloc), 0, 0, must };
    sweep(&sw);
}
END_TEST

START_TEST(epoll_ctl_failures)
{
    static const char *const must[] = {
        "new connection: Cannot allocate memory",
        NULL,
    };
    struct sweep sw = { "epoll_ctl, 1 I/O thread, 1 worker",
                        FAULT(epoll_ctl), 1, 1, must };
    sweep(&sw);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("server_faults");
    TCase *tc = tcase_create("new");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, new_fails_cleanly_at_every_call);
    tcase_add_test(tc, io_loop_whose_wait_fails_stops_the_server);
    tcase_add_test(tc, lost_end_of_a_reply_closes_a_half_closed_connection);
    suite_add_tcase(s, tc);

    tc = tcase_create("budget");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, eviction_takes_the_biggest_first);
    tcase_add_test(tc, what_is_counted_follows_the_heap);
    suite_add_tcase(s, tc);

    tc = tcase_create("sessions");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, allocation_failures_with_workers);
    tcase_add_test(tc, allocation_failures_in_the_main_loop);
    tcase_add_test(tc, epoll_ctl_failures);
    suite_add_tcase(s, tc);
    return s;
}
