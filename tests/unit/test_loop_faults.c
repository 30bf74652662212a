/* test_loop_faults.c - the EventLoop (event_loop.h) and Epoll (epoll.h)
 * classes when the system says no: allocation, epoll, eventfd and timerfd
 * failures, injected with fault.h.
 *
 * Every step from step05_eventloop on. The task queue tests need
 * step09_wakeup (UNIT_STEP >= 9), the timer tests step10_timer.
 *
 * tests/Makefile hook:
 *   UNIT_MODULES += loop_faults:event_loop.c,channel.c,epoll.c,log.c
 *   UNIT_WRAP_loop_faults := malloc calloc realloc epoll_create1 epoll_ctl
 *                            epoll_wait eventfd timerfd_create timerfd_settime
 *
 * By hand (step10):
 *
 *   cc -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -g -pthread \
 *      -fsanitize=address,undefined -DUNIT_STEP=10 -Istep10_timer \
 *      -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=epoll_create1 \
 *      -Wl,--wrap=epoll_ctl,--wrap=epoll_wait,--wrap=eventfd \
 *      -Wl,--wrap=timerfd_create,--wrap=timerfd_settime \
 *      tests/unit/test_loop_faults.c tests/unit/unit_main.c \
 *      step10_timer/{event_loop,channel,epoll,log}.c \
 *      $(pkg-config --cflags --libs check) -o /tmp/lf-10 && /tmp/lf-10
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"
#include "epoll.h"
#include "event_loop.h"
#include "fault.h"
#include "unit.h"

#ifndef UNIT_STEP
#define UNIT_STEP 0
#endif

FAULT_WRAP(void *, malloc, (size_t n), (n), NULL, ENOMEM)
FAULT_WRAP(void *, calloc, (size_t n, size_t size), (n, size), NULL, ENOMEM)
FAULT_WRAP(void *, realloc, (void *p, size_t n), (p, n), NULL, ENOMEM)
FAULT_WRAP(int, epoll_create1, (int flags), (flags), -1, EMFILE)
FAULT_WRAP(int, epoll_ctl, (int epfd, int op, int fd, struct epoll_event *ev),
           (epfd, op, fd, ev), -1, ENOMEM)
FAULT_WRAP(int, epoll_wait, (int epfd, struct epoll_event *evs, int max, int ms),
           (epfd, evs, max, ms), -1, EINTR)
FAULT_WRAP(int, eventfd, (unsigned int initval, int flags), (initval, flags), -1, EMFILE)
FAULT_WRAP(int, timerfd_create, (int clockid, int flags), (clockid, flags), -1, EMFILE)
FAULT_WRAP(int, timerfd_settime,
           (int fd, int flags, const struct itimerspec *its, struct itimerspec *old),
           (fd, flags, its, old), -1, EINVAL)

#if UNIT_STEP >= 10
#include "timestamp.h"
/* step10's event_loop.c reads the clock through timestamp.c, which this
 * test does not link (steps before 10 lack it). */
uint64_t timestamp_now_ms(void)
{
    return mono_ms();
}
#endif

/* The errno each injected failure of event_loop_new() must come back with. */
static int usual_errno(const char *fn)
{
    if (strcmp(fn, "epoll_create1") == 0 || strcmp(fn, "eventfd") == 0 ||
        strcmp(fn, "timerfd_create") == 0)
        return EMFILE;
    return ENOMEM;                     /* allocations, epoll_ctl */
}

/* ---- construction ------------------------------------------------------- */

START_TEST(new_fails_cleanly_at_every_call)
{
    const unsigned mask = FAULT(malloc) | FAULT(calloc) | FAULT(realloc) |
                          FAULT(epoll_create1) | FAULT(epoll_ctl) |
                          FAULT(eventfd) | FAULT(timerfd_create);
    int fds = fault_open_fds();
    char seen[256] = "";
    long n;
    for (n = 1; n < 100; n++) {
        fault_reset();
        fault_add(mask, n, 1, 0);
        errno = 0;
        struct event_loop *loop = event_loop_new();
        int err = errno;
        fault_clear();
        if (fault_injected() == 0) {           /* no n-th call: it worked */
            ck_assert_ptr_nonnull(loop);
            event_loop_free(loop);
            break;
        }
        const char *fn = fault_last();
        ck_assert_msg(loop == NULL, "event_loop_new() succeeded although "
                      "call %ld (%s) failed", n, fn);
        ck_assert_msg(err == usual_errno(fn), "call %ld (%s) failed: errno "
                      "%d (%s), want %s", n, fn, err, strerror(err),
                      strerror(usual_errno(fn)));
        ck_assert_msg(fault_open_fds() == fds, "call %ld (%s) failed: %d fds "
                      "open, %d before", n, fn, fault_open_fds(), fds);
        ck_assert_msg(fault_leak_check() == 0, "call %ld (%s) failed: memory "
                      "leaked (see the LeakSanitizer report)", n, fn);
        if (!strstr(seen, fn) && strlen(seen) + strlen(fn) + 2 < sizeof(seen)) {
            strcat(seen, " ");
            strcat(seen, fn);
        }
    }
    ck_assert_int_lt(n, 100);
    ck_assert_int_eq(fault_open_fds(), fds);
    /* Every resource the loop acquires was refused once. */
    const char *want[] = { "calloc", "malloc", "epoll_create1",
#if UNIT_STEP >= 9
                           "eventfd", "epoll_ctl",
#endif
#if UNIT_STEP >= 10
                           "timerfd_create",
#endif
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        ck_assert_msg(strstr(seen, want[i]) != NULL, "no %s failed in "
                      "event_loop_new() (failed:%s)", want[i], seen);
}
END_TEST

START_TEST(free_of_null_does_nothing)
{
    int fds = fault_open_fds();
    event_loop_free(NULL);
    epoll_free(NULL);
    ck_assert_int_eq(fault_open_fds(), fds);
}
END_TEST

/* ---- channels and epoll ------------------------------------------------- */

struct reader {
    struct event_loop *loop;
    int fd, calls;
};

static void read_and_quit(void *ctx)
{
    struct reader *r = ctx;
    char buf[16];
    r->calls++;
    if (read(r->fd, buf, sizeof(buf)) < 0)
        r->calls += 1000;
    event_loop_quit(r->loop);
}

/* A loop, a non-blocking pipe and a channel on its read end that calls
 * read_and_quit (not yet enabled). */
struct piped {
    struct event_loop *loop;
    int p[2];
    struct reader r;
    struct channel ch;
};

static void piped_open(struct piped *t)
{
    t->loop = event_loop_new();
    ck_assert_ptr_nonnull(t->loop);
    make_pipe(t->p, O_NONBLOCK);
    t->r = (struct reader){ t->loop, t->p[0], 0 };
    channel_init(&t->ch, t->loop, t->p[0], &t->r);
    channel_set_read_callback(&t->ch, read_and_quit);
}

/* Enables reading and makes the pipe readable. */
static void piped_ready(struct piped *t)
{
    ck_assert_int_eq(channel_enable_reading(&t->ch), 0);
    ck_assert_int_eq(write(t->p[1], "x", 1), 1);
}

static void piped_close(struct piped *t)
{
    channel_remove(&t->ch);
    event_loop_free(t->loop);
    close_pair(t->p);
}

START_TEST(failed_add_is_reported_and_can_be_retried)
{
    static struct piped t;
    piped_open(&t);

    fault_reset();
    fault_add(FAULT(epoll_ctl), 1, 1, ENOSPC);
    errno = 0;
    ck_assert_int_eq(channel_enable_reading(&t.ch), -1);
    ck_assert_int_eq(errno, ENOSPC);
    fault_clear();
    ck_assert_int_eq(fault_injected(), 1);
    /* Not in the set: the retry must be an ADD (a MOD would fail ENOENT),
     * and channel_remove must not try to delete it. */
    ck_assert(!t.ch.in_epoll);
    ck_assert_int_eq(channel_enable_reading(&t.ch), 0);
    ck_assert(t.ch.in_epoll);

    ck_assert_int_eq(write(t.p[1], "x", 1), 1);
    ck_assert_int_eq(event_loop_run(t.loop), 0);
    ck_assert_int_eq(t.r.calls, 1);

    piped_close(&t);
}
END_TEST

START_TEST(interrupted_wait_is_not_an_error)
{
    /* epoll_wait() fails with EINTR three times (a signal came): the loop
     * waits again and dispatches the event when it comes. */
    static struct piped t;
    piped_open(&t);
    piped_ready(&t);

    fault_reset();
    fault_add(FAULT(epoll_wait), 1, 3, EINTR);
    int rc = event_loop_run(t.loop);
    fault_clear();
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(fault_injected(), 3);
    ck_assert_int_eq(t.r.calls, 1);

    piped_close(&t);
}
END_TEST

START_TEST(failed_wait_ends_run_with_errno)
{
    static struct piped t;
    piped_open(&t);
    piped_ready(&t);

    fault_reset();
    fault_add(FAULT(epoll_wait), 1, 1, EBADF);
    errno = 0;
    int rc = event_loop_run(t.loop);
    int err = errno;
    fault_clear();
    ck_assert_int_eq(rc, -1);
    ck_assert_int_eq(err, EBADF);
    ck_assert_int_eq(t.r.calls, 0);            /* nothing dispatched */

    /* The loop is still usable: the event is there on the next run. */
    ck_assert_int_eq(event_loop_run(t.loop), 0);
    ck_assert_int_eq(t.r.calls, 1);

    piped_close(&t);
}
END_TEST

#if UNIT_STEP >= 9

/* ---- step09 on: the task queue ---------------------------------------- */

struct counter {
    int runs;
    int last;                    /* the seq of the last task run */
    int out_of_order;
};

struct seq_task {
    struct counter *c;
    int seq;
};

static void count_task(void *arg)
{
    struct seq_task *t = arg;
    if (t->seq != t->c->last + 1)
        t->c->out_of_order++;
    t->c->last = t->seq;
    t->c->runs++;
}

START_TEST(queue_that_cannot_grow_refuses_the_task)
{
    enum { FIRST = 64 };                /* the first array's capacity */
    static struct counter c = { .last = -1 };
    static struct seq_task tasks[FIRST + 2], refused;
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);

    /* The very first task needs an array: refused, errno ENOMEM. */
    fault_reset();
    fault_add(FAULT(realloc) | FAULT(malloc), 1, 1, 0);
    refused = (struct seq_task){ &c, 1000 };
    errno = 0;
    ck_assert_int_eq(event_loop_queue_in_loop(loop, count_task, &refused), -1);
    ck_assert_int_eq(errno, ENOMEM);
    fault_clear();
    ck_assert_int_eq(fault_injected(), 1);

    for (int i = 0; i < FIRST; i++) {
        tasks[i] = (struct seq_task){ &c, i };
        ck_assert_int_eq(event_loop_queue_in_loop(loop, count_task, &tasks[i]), 0);
    }
    /* Full: the next one needs a bigger array. */
    fault_reset();
    fault_add(FAULT(realloc) | FAULT(malloc), 1, 1, 0);
    errno = 0;
    ck_assert_int_eq(event_loop_queue_in_loop(loop, count_task, &refused), -1);
    ck_assert_int_eq(errno, ENOMEM);
    fault_clear();
    ck_assert_int_eq(fault_injected(), 1);
    ck_assert_int_eq(c.runs, 0);

    /* Memory is back: queuing works again, nothing queued was lost. */
    tasks[FIRST] = (struct seq_task){ &c, FIRST };
    ck_assert_int_eq(event_loop_queue_in_loop(loop, count_task, &tasks[FIRST]), 0);
    event_loop_free(loop);                       /* runs what is queued */
    ck_assert_int_eq(c.runs, FIRST + 1);
    ck_assert_int_eq(c.out_of_order, 0);
    ck_assert_int_eq(c.last, FIRST);             /* the refused one never ran */
}
END_TEST

/* The loop's eventfd: the one fd of this process that is an eventfd. */
static int find_eventfd(void)
{
    int found = -1;
    for (int fd = 0; fd < 1024; fd++) {
        char path[64], target[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        if (n < 0)
            continue;
        target[n] = '\0';
        if (strcmp(target, "anon_inode:[eventfd]") == 0) {
            ck_assert_msg(found < 0, "two eventfds: %d and %d", found, fd);
            found = fd;
        }
    }
    return found;
}

struct queuer {
    struct event_loop *loop;
    int efd;
    int rc;
};

static void quit_task(void *arg)
{
    event_loop_quit(arg);
}

/* Fills the eventfd's counter, so the wake-up write() fails with EAGAIN,
 * then queues a task that quits the loop. */
static void *fill_then_queue(void *arg)
{
    struct queuer *q = arg;
    uint64_t most = 0xfffffffffffffffeULL;
    if (write(q->efd, &most, sizeof(most)) != sizeof(most))
        q->rc = -2;
    else
        q->rc = event_loop_queue_in_loop(q->loop, quit_task, q->loop);
    return NULL;
}

START_TEST(failed_wakeup_write_is_logged)
{
    static struct queuer q;
    pthread_t th;
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    q = (struct queuer){ loop, find_eventfd(), -1 };
    ck_assert_int_ge(q.efd, 0);

    capture_start();
    ck_assert_int_eq(pthread_create(&th, NULL, fill_then_queue, &q), 0);
    pthread_join(th, NULL);
    /* The full counter keeps the eventfd readable: the loop wakes all the
     * same, drains it, runs the task. */
    int rc = event_loop_run(loop);
    char *log = capture_end();
    ck_assert_int_eq(q.rc, 0);
    ck_assert_int_eq(rc, 0);
    ck_assert_msg(count_lines_with(log, "eventfd write: ") == 1, "log: %s", log);
    free(log);
    event_loop_free(loop);
}
END_TEST

#endif

#if UNIT_STEP >= 10

/* ---- step10: timers ------------------------------------------------------- */

struct fired {
    struct event_loop *loop;
    int order[4];
    int n;
    int quit_after;
};

struct fire_ctx {
    struct fired *f;
    int id;
};

static void record_fire(void *arg)
{
    struct fire_ctx *c = arg;
    if (c->f->n < 4)
        c->f->order[c->f->n] = c->id;
    if (++c->f->n == c->f->quit_after)
        event_loop_quit(c->f->loop);
}

struct watchdog {
    struct event_loop *loop;
    atomic_bool done, fired;
    pthread_t thread;
};

static void *watchdog_main(void *arg)
{
    struct watchdog *w = arg;
    for (int waited = 0; waited < 3000 && !atomic_load(&w->done); waited += 5)
        sleep_ms(5);
    if (!atomic_load(&w->done)) {
        atomic_store(&w->fired, true);
        event_loop_quit(w->loop);
    }
    return NULL;
}

/* Runs the loop until it quits by itself (true) or 3 s pass (false). */
static bool run_for_3s(struct event_loop *loop)
{
    static struct watchdog w;
    w.loop = loop;
    atomic_store(&w.done, false);
    atomic_store(&w.fired, false);
    ck_assert_int_eq(pthread_create(&w.thread, NULL, watchdog_main, &w), 0);
    ck_assert_int_eq(event_loop_run(loop), 0);
    atomic_store(&w.done, true);
    pthread_join(w.thread, NULL);
    return !atomic_load(&w.fired);
}

START_TEST(timer_heap_that_cannot_grow_refuses_the_timer)
{
    static struct fired f;
    static struct fire_ctx ca, cb;
    struct timer a, b;
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    f = (struct fired){ .loop = loop, .quit_after = 1 };
    ca = (struct fire_ctx){ &f, 1 };
    cb = (struct fire_ctx){ &f, 2 };
    timer_init(&a);
    timer_init(&b);

    fault_reset();
    fault_add(FAULT(realloc) | FAULT(malloc), 1, 1, 0);
    errno = 0;
    ck_assert_int_eq(event_loop_run_after(loop, &a, 10, record_fire, &ca), -1);
    ck_assert_int_eq(errno, ENOMEM);
    fault_clear();
    ck_assert_int_eq(fault_injected(), 1);
    ck_assert(!timer_is_armed(&a));

    /* With memory again, another timer is armed and fires; a never does. */
    ck_assert_int_eq(event_loop_run_after(loop, &b, 20, record_fire, &cb), 0);
    ck_assert(run_for_3s(loop));
    ck_assert_int_eq(f.n, 1);
    ck_assert_int_eq(f.order[0], 2);
    event_loop_free(loop);
}
END_TEST

START_TEST(failed_timerfd_settime_is_logged_and_retried)
{
    /* Arming the timerfd for a fails (logged). Arming b, later than a,
     * must set the timerfd for a's deadline after all: the loop may not
     * believe the timerfd armed after a failure. */
    static struct fired f;
    static struct fire_ctx ca, cb;
    struct timer a, b;
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    f = (struct fired){ .loop = loop, .quit_after = 2 };
    ca = (struct fire_ctx){ &f, 1 };
    cb = (struct fire_ctx){ &f, 2 };
    timer_init(&a);
    timer_init(&b);

    capture_start();
    fault_reset();
    fault_add(FAULT(timerfd_settime), 1, 1, 0);
    ck_assert_int_eq(event_loop_run_after(loop, &a, 20, record_fire, &ca), 0);
    fault_clear();
    ck_assert_int_eq(fault_injected(), 1);
    ck_assert(timer_is_armed(&a));
    ck_assert_int_eq(event_loop_run_after(loop, &b, 60, record_fire, &cb), 0);
    bool quit = run_for_3s(loop);
    char *log = capture_end();
    ck_assert_msg(count_lines_with(log, "timerfd_settime: ") == 1, "log: %s", log);
    free(log);
    ck_assert_msg(quit, "the timers did not fire within 3 s (fired: %d)", f.n);
    ck_assert_int_eq(f.order[0], 1);
    ck_assert_int_eq(f.order[1], 2);
    event_loop_free(loop);
}
END_TEST

#endif

Suite *unit_suite(void)
{
    Suite *s = suite_create("loop_faults");
    TCase *tc = tcase_create("new");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, new_fails_cleanly_at_every_call);
    tcase_add_test(tc, free_of_null_does_nothing);
    suite_add_tcase(s, tc);

    tc = tcase_create("epoll");
    tcase_add_test(tc, failed_add_is_reported_and_can_be_retried);
    tcase_add_test(tc, interrupted_wait_is_not_an_error);
    tcase_add_test(tc, failed_wait_ends_run_with_errno);
    suite_add_tcase(s, tc);

#if UNIT_STEP >= 9
    tc = tcase_create("queue");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, queue_that_cannot_grow_refuses_the_task);
    tcase_add_test(tc, failed_wakeup_write_is_logged);
    suite_add_tcase(s, tc);
#endif
#if UNIT_STEP >= 10
    tc = tcase_create("timers");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, timer_heap_that_cannot_grow_refuses_the_timer);
    tcase_add_test(tc, failed_timerfd_settime_is_logged_and_retried);
    suite_add_tcase(s, tc);
#endif
    return s;
}
