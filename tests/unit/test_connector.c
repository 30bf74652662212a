/* test_connector.c - unit tests of the Connector class (connector.h), the
 * client side of step10_timer.
 *
 * tests/Makefile hook:
 *   UNIT_MODULES += connector:connector.c,socket.c,inet_address.c,
 *                   timestamp.c,event_loop.c,channel.c,epoll.c,log.c
 *   UNIT_WRAP_connector := malloc calloc realloc socket connect epoll_ctl
 *                          getsockopt
 *
 * Asserted: connector.h's contract. A listener is connected to, and the
 * socket handed over; a refused connect is reported once without retry,
 * and retried on the back-off schedule with it (0.5 s, 1 s, 2 s ...,
 * capped at 8 s); a server that appears between attempts is connected
 * to; a connect that lands on its own socket (a self-connect) is a
 * failure; stop works in every state; a failure of any allocation or
 * syscall gives exactly one callback, and leaks no fd and no memory.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "connector.h"
#include "event_loop.h"
#include "fault.h"
#include "inet_address.h"
#include "socket.h"
#include "unit.h"

FAULT_WRAP(void *, malloc, (size_t n), (n), NULL, ENOMEM)
FAULT_WRAP(void *, calloc, (size_t n, size_t size), (n, size), NULL, ENOMEM)
FAULT_WRAP(void *, realloc, (void *p, size_t n), (p, n), NULL, ENOMEM)
FAULT_WRAP(int, socket, (int domain, int type, int proto), (domain, type, proto),
           -1, EMFILE)
FAULT_WRAP(int, epoll_ctl, (int epfd, int op, int fd, struct epoll_event *ev),
           (epfd, op, fd, ev), -1, ENOMEM)
FAULT_WRAP(int, getsockopt, (int fd, int level, int name, void *v, socklen_t *len),
           (fd, level, name, v, len), -1, ENOBUFS)

/* connect(), wrapped by hand: besides the faults, it can make the next
 * call a self-connect, by binding the socket to the very address it
 * connects to (what an unlucky ephemeral port does). */
static bool self_connect_next;

int __real_connect(int fd, const struct sockaddr *a, socklen_t len);
int __wrap_connect(int fd, const struct sockaddr *a, socklen_t len);
int __wrap_connect(int fd, const struct sockaddr *a, socklen_t len)
{
    int err = fault_hit(F_connect, ECONNREFUSED);
    if (err) {
        errno = err;
        return -1;
    }
    if (self_connect_next) {
        self_connect_next = false;
        if (bind(fd, a, len) < 0)
            return -1;
    }
    return __real_connect(fd, a, len);
}

/* ---- fixture ---------------------------------------------------------- */

#define MAX_FAILURES 8

struct record {
    struct event_loop *loop;
    struct connector *c;
    int connected;                 /* connected callbacks */
    int fd;                        /* the socket handed over, or -1 */
    int nfailed;
    int err[MAX_FAILURES];
    uint64_t retry_ms[MAX_FAILURES];
    double at[MAX_FAILURES];       /* now_s() of each failure */
    int quit_after_failures;       /* quit the loop at this many; 0: never */
    bool stop_in_failed;           /* connector_stop() inside the callback */
    struct timer deadline;         /* ends a run that waits too long */
};

static struct record rec;

static void on_connected(void *ctx, struct socket *sock)
{
    struct record *r = ctx;
    r->connected++;
    r->fd = sock->fd;
    event_loop_quit(r->loop);
}

static void on_failed(void *ctx, int err, uint64_t retry_ms)
{
    struct record *r = ctx;
    if (r->nfailed < MAX_FAILURES) {
        r->err[r->nfailed] = err;
        r->retry_ms[r->nfailed] = retry_ms;
        r->at[r->nfailed] = now_s();
    }
    r->nfailed++;
    if (r->stop_in_failed)
        connector_stop(r->c);
    if (retry_ms == 0 || r->nfailed == r->quit_after_failures)
        event_loop_quit(r->loop);
}

static void quit_loop(void *ctx)
{
    event_loop_quit(ctx);
}

static void setup(void)
{
    memset(&rec, 0, sizeof(rec));
    rec.fd = -1;
    rec.loop = event_loop_new();
    ck_assert_ptr_nonnull(rec.loop);
    timer_init(&rec.deadline);
}

static void teardown(void)
{
    if (rec.fd >= 0)
        close(rec.fd);
    connector_free(rec.c);
    event_loop_cancel(rec.loop, &rec.deadline);
    event_loop_free(rec.loop);
}

/* Runs the loop until a callback quits it, or ms have passed. */
static void run_for(int ms)
{
    ck_assert_int_eq(event_loop_run_after(rec.loop, &rec.deadline, (uint64_t)ms,
                                          quit_loop, rec.loop), 0);
    ck_assert_int_eq(event_loop_run(rec.loop), 0);
    event_loop_cancel(rec.loop, &rec.deadline);
}

static struct connector *new_connector(uint16_t port, bool retry)
{
    struct inet_address addr;
    ck_assert_int_eq(inet_address_init(&addr, "127.0.0.1", port), 0);
    struct connector *c = connector_new(rec.loop, &addr);
    ck_assert_ptr_nonnull(c);
    connector_set_connected_callback(c, on_connected, &rec);
    connector_set_failed_callback(c, on_failed, &rec);
    connector_set_retry(c, retry);
    rec.c = c;
    return c;
}

/* A listening socket on 127.0.0.1 (port 0: any); its port in *port. */
static int listener(uint16_t port, int backlog, uint16_t *bound)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    int on = 1;
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)), 0);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(listen(fd, backlog), 0);
    socklen_t len = sizeof(sin);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    if (bound)
        *bound = ntohs(sin.sin_port);
    return fd;
}

/* A port nobody listens on: bound, then closed. */
static uint16_t free_port(void)
{
    uint16_t port;
    close(listener(0, 1, &port));
    return port;
}

/* ---- connecting --------------------------------------------------------- */

START_TEST(connects_to_a_listener)
{
    uint16_t port;
    int lfd = listener(0, 8, &port);
    int fds = fault_open_fds();
    struct connector *c = new_connector(port, false);
    ck_assert_int_eq(connector_start(c), 0);
    ck_assert_int_eq(rec.connected, 0);        /* nothing happens inside start */
    run_for(3000);
    ck_assert_int_eq(rec.connected, 1);
    ck_assert_int_eq(rec.nfailed, 0);
    int afd = accept(lfd, NULL, NULL);
    ck_assert_int_ge(afd, 0);
    ck_assert_int_eq(write(rec.fd, "x", 1), 1);  /* it is really connected */
    char ch;
    ck_assert_int_eq(read(afd, &ch, 1), 1);
    ck_assert_int_eq(fault_open_fds(), fds + 2);  /* the socket and afd */
    close(afd);
    close(lfd);
}
END_TEST

START_TEST(refused_without_retry_is_reported_once)
{
    int fds = fault_open_fds();
    struct connector *c = new_connector(free_port(), false);
    ck_assert_int_eq(connector_start(c), 0);
    run_for(3000);
    ck_assert_int_eq(rec.connected, 0);
    ck_assert_int_eq(rec.nfailed, 1);
    ck_assert_int_eq(rec.err[0], ECONNREFUSED);
    ck_assert_uint_eq(rec.retry_ms[0], 0);
    run_for(300);                               /* and nothing more comes */
    ck_assert_int_eq(rec.nfailed, 1);
    ck_assert_int_eq(fault_open_fds(), fds);
}
END_TEST

START_TEST(refused_is_retried_on_the_back_off_schedule)
{
    int fds = fault_open_fds();
    struct connector *c = new_connector(free_port(), true);
    rec.quit_after_failures = 3;
    double t0 = now_s();
    ck_assert_int_eq(connector_start(c), 0);
    run_for(10000);
    ck_assert_int_eq(rec.nfailed, 3);
    ck_assert_uint_eq(rec.retry_ms[0], CONNECTOR_FIRST_DELAY_MS);
    ck_assert_uint_eq(rec.retry_ms[1], 2 * CONNECTOR_FIRST_DELAY_MS);
    ck_assert_uint_eq(rec.retry_ms[2], 4 * CONNECTOR_FIRST_DELAY_MS);
    /* The attempts came as announced (timers are never early). */
    ck_assert_double_lt(rec.at[0] - t0, 0.2);
    ck_assert_double_ge(rec.at[1] - rec.at[0], 0.49);
    ck_assert_double_lt(rec.at[1] - rec.at[0], 0.9);
    ck_assert_double_ge(rec.at[2] - rec.at[1], 0.99);
    ck_assert_double_lt(rec.at[2] - rec.at[1], 1.5);
    /* The rest of the schedule, doubling up to the cap. */
    uint64_t d = CONNECTOR_FIRST_DELAY_MS;
    uint64_t want[] = { 1000, 2000, 4000, 8000, 8000, 8000 };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        d = connector_next_delay(d);
        ck_assert_uint_eq(d, want[i]);
    }
    connector_stop(c);
    ck_assert_int_eq(fault_open_fds(), fds);
}
END_TEST

/* Listens on the port of the first failure, so that the retry finds it. */
struct late_server {
    uint16_t port;
    int fd;
};

static struct late_server late = { 0, -1 };

static void listen_after_first_failure(void *ctx, int err, uint64_t retry_ms)
{
    on_failed(ctx, err, retry_ms);
    if (late.fd < 0)
        late.fd = listener(late.port, 8, NULL);
}

START_TEST(refused_then_accepted)
{
    late.port = free_port();
    late.fd = -1;
    struct connector *c = new_connector(late.port, true);
    connector_set_failed_callback(c, listen_after_first_failure, &rec);
    ck_assert_int_eq(connector_start(c), 0);
    run_for(5000);
    ck_assert_int_eq(rec.nfailed, 1);
    ck_assert_int_eq(rec.err[0], ECONNREFUSED);
    ck_assert_int_eq(rec.connected, 1);
    int afd = accept(late.fd, NULL, NULL);
    ck_assert_int_ge(afd, 0);
    close(afd);
    close(late.fd);
}
END_TEST

START_TEST(a_self_connect_is_refused)
{
    /* Bound to the address it connects to, the socket connects to itself:
     * without the check it would be handed over as "connected". */
    int fds = fault_open_fds();
    struct connector *c = new_connector(free_port(), false);
    self_connect_next = true;
    ck_assert_int_eq(connector_start(c), 0);
    run_for(3000);
    ck_assert(!self_connect_next);             /* the wrapper did it */
    ck_assert_int_eq(rec.connected, 0);
    ck_assert_int_eq(rec.nfailed, 1);
    ck_assert_int_eq(rec.err[0], ECONNREFUSED);
    ck_assert_int_eq(fault_open_fds(), fds);
}
END_TEST

/* ---- stopping ----------------------------------------------------------- */

START_TEST(stop_before_the_first_attempt)
{
    uint16_t port;
    int lfd = listener(0, 8, &port);
    int fds = fault_open_fds();
    struct connector *c = new_connector(port, true);
    ck_assert_int_eq(connector_start(c), 0);
    connector_stop(c);
    run_for(300);
    ck_assert_int_eq(rec.connected + rec.nfailed, 0);
    ck_assert_int_eq(fault_open_fds(), fds);
    close(lfd);
}
END_TEST

static void stop_connector(void *ctx)
{
    connector_stop(ctx);
    event_loop_quit(rec.loop);
}

START_TEST(stop_while_connecting)
{
    /* A listener whose backlog is full drops the SYN: the handshake stays
     * under way (the client's kernel retries the SYN for a minute). */
    uint16_t port;
    int lfd = listener(0, 0, &port);
    int fill[3];
    for (int i = 0; i < 3; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
        inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
        connect(fill[i], (struct sockaddr *)&sin, sizeof(sin));
    }
    sleep_ms(100);                             /* the backlog fills */
    int fds = fault_open_fds();
    struct connector *c = new_connector(port, false);
    ck_assert_int_eq(connector_start(c), 0);
    static struct timer stopper;
    timer_init(&stopper);
    ck_assert_int_eq(event_loop_run_after(rec.loop, &stopper, 300, stop_connector, c), 0);
    run_for(3000);
    ck_assert_int_eq(rec.connected + rec.nfailed, 0);   /* still at it, then stopped */
    ck_assert_int_eq(fault_open_fds(), fds);            /* its socket is closed */
    for (int i = 0; i < 3; i++)
        close(fill[i]);
    close(lfd);
}
END_TEST

START_TEST(stop_while_waiting_to_retry)
{
    int fds = fault_open_fds();
    struct connector *c = new_connector(free_port(), true);
    rec.quit_after_failures = 1;
    ck_assert_int_eq(connector_start(c), 0);
    run_for(3000);
    ck_assert_int_eq(rec.nfailed, 1);
    ck_assert_uint_gt(rec.retry_ms[0], 0);
    connector_stop(c);
    run_for(CONNECTOR_FIRST_DELAY_MS + 300);   /* the retry would have come */
    ck_assert_int_eq(rec.nfailed, 1);
    ck_assert_int_eq(fault_open_fds(), fds);
}
END_TEST

START_TEST(stop_inside_the_failed_callback)
{
    int fds = fault_open_fds();
    struct connector *c = new_connector(free_port(), true);
    rec.stop_in_failed = true;
    rec.quit_after_failures = 1;
    ck_assert_int_eq(connector_start(c), 0);
    run_for(3000);
    run_for(CONNECTOR_FIRST_DELAY_MS + 300);
    ck_assert_int_eq(rec.nfailed, 1);
    ck_assert_int_eq(fault_open_fds(), fds);
    /* And it starts again afterwards. */
    rec.stop_in_failed = false;
    rec.quit_after_failures = 2;
    ck_assert_int_eq(connector_start(c), 0);
    run_for(3000);
    ck_assert_int_eq(rec.nfailed, 2);
}
END_TEST

/* ---- every failure -------------------------------------------------------- */

/* For n = 1, 2, ...: a connect to a listener with the n-th call in mask
 * failing, until the attempt makes fewer calls. Each must end in exactly
 * one callback (or a failed start), with no fd or memory left behind.
 * Returns how many calls failed. */
static int sweep(unsigned mask, int lfd, uint16_t port)
{
    int fds = fault_open_fds();
    long n;
    for (n = 1; n < 100; n++) {
        rec.connected = rec.nfailed = 0;
        rec.fd = -1;
        struct connector *c = new_connector(port, false);
        fault_reset();
        fault_add(mask, n, 1, 0);
        int rc = connector_start(c);
        if (rc == 0) {
            event_loop_run_after(rec.loop, &rec.deadline, 3000, quit_loop, rec.loop);
            event_loop_run(rec.loop);
            event_loop_cancel(rec.loop, &rec.deadline);
        }
        fault_clear();
        bool injected = fault_injected() > 0;
        const char *fn = fault_last();
        connector_free(c);
        rec.c = NULL;
        if (rec.fd >= 0) {
            int afd = accept(lfd, NULL, NULL);
            if (afd >= 0)
                close(afd);
            close(rec.fd);
            rec.fd = -1;
        }
        if (!injected)
            break;
        ck_assert_msg(rc < 0 || rec.connected + rec.nfailed == 1, "call %ld (%s) "
                      "failed: %d connected, %d failed callbacks", n, fn,
                      rec.connected, rec.nfailed);
        ck_assert_msg(fault_open_fds() == fds, "call %ld (%s) failed: %d fds open, "
                      "%d before", n, fn, fault_open_fds(), fds);
        ck_assert_msg(fault_leak_check() == 0, "call %ld (%s) failed: memory leaked",
                      n, fn);
    }
    ck_assert_int_lt(n, 100);
    return (int)n - 1;
}

START_TEST(every_call_that_fails_gives_one_callback)
{
    static const unsigned masks[] = {
        FAULT(malloc) | FAULT(calloc) | FAULT(realloc), FAULT(socket),
        FAULT(connect), FAULT(epoll_ctl), FAULT(getsockopt),
    };
    uint16_t port;
    int lfd = listener(0, 64, &port);
    for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
        int failed = sweep(masks[i], lfd, port);
        /* The allocations may all be made already (the timer heap); the
         * syscalls are made by every attempt. */
        ck_assert_msg(i == 0 || failed >= 1, "sweep %zu: no call failed", i);
    }
    close(lfd);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("connector");
    TCase *tc = tcase_create("connect");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, connects_to_a_listener);
    tcase_add_test(tc, refused_without_retry_is_reported_once);
    tcase_add_test(tc, refused_is_retried_on_the_back_off_schedule);
    tcase_add_test(tc, refused_then_accepted);
    tcase_add_test(tc, a_self_connect_is_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("stop");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, stop_before_the_first_attempt);
    tcase_add_test(tc, stop_while_connecting);
    tcase_add_test(tc, stop_while_waiting_to_retry);
    tcase_add_test(tc, stop_inside_the_failed_callback);
    suite_add_tcase(s, tc);

    tc = tcase_create("faults");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_call_that_fails_gives_one_callback);
    suite_add_tcase(s, tc);
    return s;
}
