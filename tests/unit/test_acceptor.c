/* test_acceptor.c - unit tests of the Acceptor class (acceptor.h): setup
 * failures, accept() errors, and (step10_timer) the pause after EMFILE.
 * Failures are injected with fault.h; the listener binds 127.0.0.1 port 0.
 *
 * Every step from step06_acceptor on; the pause tests need step10
 * (UNIT_STEP >= 10).
 *
 * tests/Makefile hook:
 *   UNIT_MODULES += acceptor:acceptor.c,socket.c,inet_address.c,event_loop.c,
 *                   channel.c,epoll.c,log.c
 *   UNIT_WRAP_acceptor := malloc realloc socket setsockopt bind listen
 *                         accept4 epoll_ctl
 *
 * By hand (step10):
 *
 *   cc -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -g -pthread \
 *      -fsanitize=address,undefined -DUNIT_STEP=10 -Istep10_timer \
 *      -Wl,--wrap=malloc,--wrap=realloc,--wrap=socket,--wrap=setsockopt \
 *      -Wl,--wrap=bind,--wrap=listen,--wrap=accept4,--wrap=epoll_ctl \
 *      tests/unit/test_acceptor.c tests/unit/unit_main.c \
 *      step10_timer/{acceptor,socket,inet_address,event_loop,channel,epoll,log}.c \
 *      $(pkg-config --cflags --libs check) -o /tmp/acc-10 && /tmp/acc-10
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "acceptor.h"
#include "channel.h"
#include "event_loop.h"
#include "fault.h"
#include "inet_address.h"
#include "socket.h"
#include "unit.h"

#ifndef UNIT_STEP
#define UNIT_STEP 0
#endif

FAULT_WRAP(void *, malloc, (size_t n), (n), NULL, ENOMEM)
FAULT_WRAP(void *, realloc, (void *p, size_t n), (p, n), NULL, ENOMEM)
FAULT_WRAP(int, socket, (int domain, int type, int proto), (domain, type, proto),
           -1, EMFILE)
FAULT_WRAP(int, setsockopt, (int fd, int level, int name, const void *v, socklen_t len),
           (fd, level, name, v, len), -1, ENOPROTOOPT)
FAULT_WRAP(int, bind, (int fd, const struct sockaddr *a, socklen_t len),
           (fd, a, len), -1, EADDRINUSE)
FAULT_WRAP(int, listen, (int fd, int backlog), (fd, backlog), -1, EADDRINUSE)
FAULT_WRAP(int, accept4, (int fd, struct sockaddr *a, socklen_t *len, int flags),
           (fd, a, len, flags), -1, EMFILE)
FAULT_WRAP(int, epoll_ctl, (int epfd, int op, int fd, struct epoll_event *ev),
           (epfd, op, fd, ev), -1, ENOMEM)

#if UNIT_STEP >= 10
#include "timestamp.h"
/* step10's event_loop.c reads the clock through timestamp.c, which this
 * test does not link (steps before 10 lack it). */
uint64_t timestamp_now_ms(void)
{
    return mono_ms();
}
#endif

/* ---- a loop with an acceptor, and a stopwatch that ends it ------------- */

struct fixture {
    struct event_loop *loop;
    struct acceptor *acceptor;
    uint16_t port;
    int accepted;                /* connections handed to the callback */
    int quit_after;              /* quit the loop at this many */
    struct inet_address peer;    /* the last one's */
    void (*on_accept)(void);     /* called after each, if set */
    int timer_pipe[2];           /* the stopwatch writes, the loop quits */
    struct channel timer_channel;
    int limit_ms;
    atomic_bool stop_watch;
    atomic_bool timed_out;
    pthread_t watch;
};

static struct fixture fx;

static void on_connection(void *ctx, struct socket *sock,
                          const struct inet_address *peer)
{
    struct fixture *f = ctx;
    f->accepted++;
    f->peer = *peer;
    socket_close(sock);
    if (f->on_accept)
        f->on_accept();
    if (f->accepted == f->quit_after)
        event_loop_quit(f->loop);
}

/* Readable stopwatch pipe: time is up. (A pipe, not a cross-thread quit:
 * loops before step09 cannot be woken from another thread.) */
static void on_time_up(void *ctx)
{
    struct fixture *f = ctx;
    atomic_store(&f->timed_out, true);
    event_loop_quit(f->loop);
}

static void *stopwatch(void *arg)
{
    struct fixture *f = arg;
    for (int waited = 0; waited < f->limit_ms && !atomic_load(&f->stop_watch);
         waited += 5)
        sleep_ms(5);
    if (!atomic_load(&f->stop_watch) && write(f->timer_pipe[1], "t", 1) != 1)
        abort();
    return NULL;
}

static void setup(void)
{
    memset(&fx, 0, sizeof(fx));
    fx.loop = event_loop_new();
    ck_assert_ptr_nonnull(fx.loop);
    ck_assert_int_eq(pipe2(fx.timer_pipe, O_NONBLOCK | O_CLOEXEC), 0);
    channel_init(&fx.timer_channel, fx.loop, fx.timer_pipe[0], &fx);
    channel_set_read_callback(&fx.timer_channel, on_time_up);
    ck_assert_int_eq(channel_enable_reading(&fx.timer_channel), 0);
}

static void teardown(void)
{
    acceptor_free(fx.acceptor);
    channel_remove(&fx.timer_channel);
    close(fx.timer_pipe[0]);
    close(fx.timer_pipe[1]);
    event_loop_free(fx.loop);
}

static void listen_on_any_port(void)
{
    struct inet_address addr;
    ck_assert_int_eq(inet_address_init(&addr, "127.0.0.1", 0), 0);
    fx.acceptor = acceptor_new(fx.loop, &addr, on_connection, &fx);
    ck_assert_ptr_nonnull(fx.acceptor);
    ck_assert_int_eq(acceptor_local_address(fx.acceptor, &addr), 0);
    fx.port = inet_address_port(&addr);
    ck_assert_uint_ne(fx.port, 0);
    ck_assert_int_eq(acceptor_listen(fx.acceptor), 0);
}

/* A connected client socket; its local port in *port. The handshake is
 * done by the kernel (the backlog): no accept() needed. */
static int connect_client(uint16_t *port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET,
                               .sin_port = htons(fx.port) };
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    if (port) {
        socklen_t len = sizeof(sin);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
        *port = ntohs(sin.sin_port);
    }
    return fd;
}

/* Runs the loop until quit_after connections were accepted (true) or
 * limit_ms passed (false). A loop runs once: it cannot be restarted after
 * it quit. No check() here: check's bookkeeping allocates, and would use
 * up an injected allocation failure. */
static bool run_until_accepted(int quit_after, int limit_ms)
{
    fx.quit_after = quit_after;
    fx.limit_ms = limit_ms;
    atomic_store(&fx.stop_watch, false);
    atomic_store(&fx.timed_out, false);
    int rc_thread = pthread_create(&fx.watch, NULL, stopwatch, &fx);
    int rc_run = rc_thread == 0 ? event_loop_run(fx.loop) : -1;
    atomic_store(&fx.stop_watch, true);
    if (rc_thread == 0)
        pthread_join(fx.watch, NULL);
    ck_assert_int_eq(rc_thread, 0);
    ck_assert_int_eq(rc_run, 0);
    return !atomic_load(&fx.timed_out);
}

/* ---- construction --------------------------------------------------------- */

START_TEST(new_fails_cleanly_at_every_call)
{
    const unsigned mask = FAULT(malloc) | FAULT(socket) | FAULT(setsockopt) |
                          FAULT(bind) | FAULT(listen);
    struct inet_address addr;
    ck_assert_int_eq(inet_address_init(&addr, "127.0.0.1", 0), 0);
    int fds = fault_open_fds();
    int points = 0;
    char seen[128] = "";
    long n;
    for (n = 1; n < 50; n++) {
        fault_reset();
        fault_add(mask, n, 1, 0);
        errno = 0;
        struct acceptor *a = acceptor_new(fx.loop, &addr, on_connection, &fx);
        int err = errno;
        fault_clear();
        if (fault_injected() == 0) {
            ck_assert_ptr_nonnull(a);
            acceptor_free(a);
            break;
        }
        const char *fn = fault_last();
        int want = strcmp(fn, "malloc") == 0 ? ENOMEM :
                   strcmp(fn, "socket") == 0 ? EMFILE :
                   strcmp(fn, "setsockopt") == 0 ? ENOPROTOOPT : EADDRINUSE;
        ck_assert_msg(a == NULL, "acceptor_new() succeeded although call %ld "
                      "(%s) failed", n, fn);
        ck_assert_msg(err == want, "call %ld (%s) failed: errno %d (%s), want %s",
                      n, fn, err, strerror(err), strerror(want));
        ck_assert_msg(fault_open_fds() == fds, "call %ld (%s) failed: %d fds "
                      "open, %d before", n, fn, fault_open_fds(), fds);
        ck_assert_msg(fault_leak_check() == 0, "call %ld (%s) failed: memory "
                      "leaked (see the LeakSanitizer report)", n, fn);
        points++;
        if (!strstr(seen, fn)) {
            strcat(seen, " ");
            strcat(seen, fn);
        }
    }
    ck_assert_int_lt(n, 50);
    ck_assert_int_eq(fault_open_fds(), fds);
    ck_assert_msg(strcmp(seen, " malloc socket setsockopt bind listen") == 0,
                  "failed:%s", seen);
    ck_assert_int_ge(points, 7);               /* 3 options */
}
END_TEST

START_TEST(port_in_use_is_reported)
{
    /* A listener without SO_REUSEPORT holds the port. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET };
    socklen_t len = sizeof(sin);
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);

    struct inet_address addr;
    ck_assert_int_eq(inet_address_init(&addr, "127.0.0.1", ntohs(sin.sin_port)), 0);
    int fds = fault_open_fds();
    errno = 0;
    ck_assert_ptr_null(acceptor_new(fx.loop, &addr, on_connection, &fx));
    ck_assert_int_eq(errno, EADDRINUSE);
    ck_assert_int_eq(fault_open_fds(), fds);
    close(fd);
}
END_TEST

START_TEST(second_acceptor_on_the_port_fails)
{
    /* Neither listener sets SO_REUSEPORT, so the second cannot share the
     * port of the first: "address already in use", exit 1 in main. */
    listen_on_any_port();
    struct inet_address addr;
    ck_assert_int_eq(inet_address_init(&addr, "127.0.0.1", fx.port), 0);
    int fds = fault_open_fds();
    errno = 0;
    ck_assert_ptr_null(acceptor_new(fx.loop, &addr, on_connection, &fx));
    ck_assert_int_eq(errno, EADDRINUSE);
    ck_assert_int_eq(fault_open_fds(), fds);
}
END_TEST

/* ---- accepting -------------------------------------------------------------- */

START_TEST(accepts_and_reports_the_peer)
{
    uint16_t client_port;
    listen_on_any_port();
    int c = connect_client(&client_port);
    ck_assert(run_until_accepted(1, 3000));
    ck_assert_int_eq(fx.accepted, 1);
    char name[INET_ADDRESS_STRLEN], want[INET_ADDRESS_STRLEN];
    snprintf(want, sizeof(want), "127.0.0.1:%u", client_port);
    ck_assert_str_eq(inet_address_to_string(&fx.peer, name, sizeof(name)), want);
    close(c);
}
END_TEST

START_TEST(aborted_connection_is_skipped)
{
    /* ECONNABORTED: that one is gone; the next waiting one is accepted in
     * the same round, and nothing is logged. */
    listen_on_any_port();
    int c = connect_client(NULL);
    capture_start();
    fault_reset();
    fault_add(FAULT(accept4), 1, 1, ECONNABORTED);
    int counter = fault_add(FAULT(accept4), 1, 0, 0);
    bool ok = run_until_accepted(1, 3000);
    fault_clear();
    /* Refused, accepted, EAGAIN: all in the one round. */
    ck_assert_int_eq(fault_calls(counter), 3);
    char *log = capture_end();
    ck_assert(ok);
    ck_assert_int_eq(fault_injected(), 1);
    ck_assert_int_eq(fx.accepted, 1);
    ck_assert_msg(log[0] == '\0', "logged: %s", log);
    free(log);
    close(c);
}
END_TEST

START_TEST(other_accept_error_is_logged)
{
    /* EPERM (a firewall said no): logged; the listener stays readable for
     * the connection still waiting, which the next round accepts. */
    listen_on_any_port();
    int c = connect_client(NULL);
    capture_start();
    fault_reset();
    fault_add(FAULT(accept4), 1, 1, EPERM);
    bool ok = run_until_accepted(1, 3000);
    fault_clear();
    char *log = capture_end();
    ck_assert(ok);
    ck_assert_int_eq(fx.accepted, 1);
    ck_assert_msg(count_lines_with(log, "accept: Operation not permitted") == 1,
                  "log: %s", log);
    free(log);
    close(c);
}
END_TEST

#if UNIT_STEP >= 10

/* ---- step10: the pause after EMFILE -------------------------------------- */

static struct {
    int counter;                 /* the rule counting accept() calls */
    long calls;                  /* its count at the first accept */
    double start, took;
    int client2;
} episode;

/* After the first accept: a second client, and a second episode of
 * refused accepts (ENFILE, once). */
static void second_episode(void)
{
    if (fx.accepted != 1)
        return;
    episode.took = now_s() - episode.start;
    episode.calls = fault_calls(episode.counter);
    fault_add(FAULT(accept4), 1, 1, ENFILE);
    episode.client2 = connect_client(NULL);
}

START_TEST(out_of_fds_pauses_then_accepts)
{
    /* accept() says EMFILE three times in a row: each time the acceptor
     * stops watching for ACCEPTOR_PAUSE_MS (no accept() calls meanwhile),
     * warns once for the whole episode, and accepts when fds are back.
     * A second episode after that success warns again. */
    listen_on_any_port();
    int c = connect_client(NULL);
    fx.on_accept = second_episode;
    capture_start();
    fault_reset();
    fault_add(FAULT(accept4), 1, 3, EMFILE);
    episode.counter = fault_add(FAULT(accept4), 1, 0, 0);
    episode.start = now_s();
    bool ok = run_until_accepted(2, 5000);
    fault_clear();
    char *log = capture_end();

    ck_assert(ok);
    ck_assert_int_eq(fx.accepted, 2);
    ck_assert_int_eq(fault_injected(), 4);
    ck_assert_msg(episode.took >= 3 * ACCEPTOR_PAUSE_MS / 1000.0 * 0.9,
                  "accepted after %.3f s: paused less than 3 x %d ms",
                  episode.took, ACCEPTOR_PAUSE_MS);
    /* 3 refused, then accepted: no spinning while paused. */
    ck_assert_msg(episode.calls == 4, "%ld accept() calls", episode.calls);
    ck_assert_msg(count_lines_with(log, "pausing accepts") == 2, "log: %s", log);
    ck_assert_int_eq(count_lines_with(log, "Too many open files; pausing"), 1);
    ck_assert_int_eq(count_lines_with(log, "Too many open files in system; pausing"), 1);
    free(log);
    close(c);
    close(episode.client2);
}
END_TEST

/* With a client waiting: accept4() fails with EMFILE once and the n-th
 * call of mask once more, and the loop runs until one connection is
 * accepted (3 s at most), stderr captured. Returns what was logged
 * (malloc'ed); *ok says whether it was accepted. */
static char *emfile_and_one_more(unsigned mask, long n, bool *ok)
{
    capture_start();
    fault_reset();
    fault_add(FAULT(accept4), 1, 1, EMFILE);
    fault_add(mask, n, 1, 0);
    *ok = run_until_accepted(1, 3000);
    fault_clear();
    char *log = capture_end();
    return log;
}

START_TEST(failed_pause_is_logged_and_accepting_goes_on)
{
    /* EMFILE, and the listener cannot be taken out of epoll: logged; the
     * connection is accepted once accept() works again. */
    listen_on_any_port();
    int c = connect_client(NULL);
    bool ok;
    char *log = emfile_and_one_more(FAULT(epoll_ctl), 1, &ok);
    ck_assert_int_eq(fault_injected(), 2);
    ck_assert_msg(count_lines_with(log, "pause accepting: ") == 1, "log: %s", log);
    ck_assert_msg(ok, "not accepted within 3 s");
    free(log);
    close(c);
}
END_TEST

START_TEST(failed_pause_timer_does_not_stop_accepting)
{
    /* EMFILE, the listener is out of epoll, and the timer that would end
     * the pause cannot be armed (its heap cannot grow). The pause must end
     * all the same: a pending connection is accepted within 3 s. */
    listen_on_any_port();
    int c = connect_client(NULL);
    bool ok;                                    /* realloc 1: the loop's first timer */
    char *log = emfile_and_one_more(FAULT(realloc), 1, &ok);
    ck_assert_int_eq(fault_injected(), 2);
    ck_assert_msg(count_lines_with(log, "pause accepting: ") == 1, "log: %s", log);
    ck_assert_msg(ok, "a failed pause timer stopped the acceptor for good: "
                  "the pending connection was not accepted within 3 s");
    free(log);
    close(c);
}
END_TEST

START_TEST(failed_resume_does_not_stop_accepting)
{
    /* EMFILE; the pause starts, but putting the listener back in epoll
     * fails once when it ends. The pause must end all the same: a pending
     * connection is accepted within 3 s. */
    listen_on_any_port();
    int c = connect_client(NULL);
    bool ok;                                    /* epoll_ctl 1: pause, 2: resume */
    char *log = emfile_and_one_more(FAULT(epoll_ctl), 2, &ok);
    ck_assert_int_eq(fault_injected(), 2);
    ck_assert_msg(count_lines_with(log, "resume accepting: ") == 1, "log: %s", log);
    ck_assert_msg(ok, "a failed resume stopped the acceptor for good: the "
                  "pending connection was not accepted within 3 s");
    free(log);
    close(c);
}
END_TEST

static void quit_loop(void *ctx)
{
    event_loop_quit(ctx);
}

static struct timer free_timer, quit_timer;

/* Frees the acceptor in mid-pause, and quits 3 pauses later. */
static void free_acceptor(void *ctx)
{
    (void)ctx;
    acceptor_free(fx.acceptor);
    fx.acceptor = NULL;
    if (event_loop_run_after(fx.loop, &quit_timer, 3 * ACCEPTOR_PAUSE_MS,
                             quit_loop, fx.loop) < 0)
        abort();
}

START_TEST(free_while_paused_cancels_the_pause)
{
    /* Freed during a pause: its timer must not fire into freed memory
     * (ASan would report it) while the loop runs on. */
    listen_on_any_port();
    int c = connect_client(NULL);
    capture_start();
    fault_reset();
    fault_add(FAULT(accept4), 1, 1, EMFILE);
    timer_init(&free_timer);
    timer_init(&quit_timer);
    ck_assert_int_eq(event_loop_run_after(fx.loop, &free_timer,
                                          ACCEPTOR_PAUSE_MS / 2,
                                          free_acceptor, NULL), 0);
    bool ok = run_until_accepted(1, 3000);      /* ends by quit_timer */
    fault_clear();
    char *log = capture_end();
    ck_assert_msg(ok, "the loop did not end by its timer");
    ck_assert_int_eq(fault_injected(), 1);
    ck_assert_int_eq(fx.accepted, 0);
    ck_assert_msg(count_lines_with(log, "pausing accepts") == 1, "log: %s", log);
    free(log);
    close(c);
}
END_TEST

#endif

Suite *unit_suite(void)
{
    Suite *s = suite_create("acceptor");
    TCase *tc = tcase_create("new");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, new_fails_cleanly_at_every_call);
    tcase_add_test(tc, port_in_use_is_reported);
    tcase_add_test(tc, second_acceptor_on_the_port_fails);
    suite_add_tcase(s, tc);

    tc = tcase_create("accept");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, accepts_and_reports_the_peer);
    tcase_add_test(tc, aborted_connection_is_skipped);
    tcase_add_test(tc, other_accept_error_is_logged);
    suite_add_tcase(s, tc);

#if UNIT_STEP >= 10
    tc = tcase_create("pause");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, out_of_fds_pauses_then_accepts);
    tcase_add_test(tc, failed_pause_is_logged_and_accepting_goes_on);
    tcase_add_test(tc, failed_pause_timer_does_not_stop_accepting);
    tcase_add_test(tc, failed_resume_does_not_stop_accepting);
    tcase_add_test(tc, free_while_paused_cancels_the_pause);
    suite_add_tcase(s, tc);
#endif
    return s;
}
