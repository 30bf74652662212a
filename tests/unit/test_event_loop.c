/* test_event_loop.c - unit tests of the EventLoop class (event_loop.h).
 *
 * Every step from step05_eventloop on has event_loop.c. The dispatch tests
 * run on all of them; the thread check from step08_threadpool on; the
 * cross-thread task queue (run_in_loop, queue_in_loop, quit from another
 * thread) and the notices only from step09_wakeup on (UNIT_STEP >= 9, set
 * by tests/Makefile).
 *
 * tests/Makefile hook: UNIT_MODULES += event_loop:event_loop.c,channel.c,epoll.c,log.c
 * (step10's event_loop.c also calls timestamp_now_ms(): a weak stand-in
 * below is used when timestamp.c is not linked in).
 *
 * By hand:
 *
 *   cc -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -g -pthread \
 *      -fsanitize=address,undefined -DUNIT_STEP=9 -Istep09_wakeup \
 *      tests/unit/test_event_loop.c tests/unit/unit_main.c \
 *      step09_wakeup/{event_loop,channel,epoll,log}.c \
 *      $(pkg-config --cflags --libs check) -o /tmp/el-09 && /tmp/el-09
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"
#include "event_loop.h"
#include "fault.h"
#include "log.h"
#include "unit.h"

#ifndef UNIT_STEP
#define UNIT_STEP 0
#endif

#if UNIT_STEP >= 10
#include "timestamp.h"
/* Used only if timestamp.c is not linked into this test. */
__attribute__((weak)) uint64_t timestamp_now_ms(void)
{
    return mono_ms();
}
#endif

/* ---- every step: channels and quit -------------------------------------- */

START_TEST(new_and_free)
{
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    event_loop_free(loop);
    /* Many of them: fds and memory are given back (ASan/LSan, EMFILE). */
    for (int i = 0; i < 2000; i++) {
        loop = event_loop_new();
        ck_assert_ptr_nonnull(loop);
        event_loop_free(loop);
    }
}
END_TEST

struct reader {
    struct event_loop *loop;
    struct channel ch;
    int fd;
    int calls;
    char got[64];
    size_t len;
    bool quit_after;
    struct reader *other;        /* removed by this one's callback */
};

static void on_readable(void *ctx)
{
    struct reader *r = ctx;
    r->calls++;
    ssize_t n = read(r->fd, r->got + r->len, sizeof(r->got) - r->len);
    if (n > 0)
        r->len += (size_t)n;
    if (r->other) {
        channel_remove(&r->other->ch);
        r->other = NULL;
    }
    if (r->quit_after)
        event_loop_quit(r->loop);
}

START_TEST(dispatches_to_channel_and_quits)
{
    int p[2];
    static struct reader r;
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    make_pipe(p, O_NONBLOCK);

    r.loop = loop;
    r.fd = p[0];
    r.quit_after = true;
    channel_init(&r.ch, loop, p[0], &r);
    channel_set_read_callback(&r.ch, on_readable);
    ck_assert_int_eq(channel_enable_reading(&r.ch), 0);
    ck_assert_int_eq(write(p[1], "ping", 4), 4);

    ck_assert_int_eq(event_loop_run(loop), 0);   /* returns after quit */
    ck_assert_int_eq(r.calls, 1);
    ck_assert_uint_eq(r.len, 4);
    ck_assert_mem_eq(r.got, "ping", 4);


    channel_remove(&r.ch);
    event_loop_free(loop);
    close_pair(p);
}
END_TEST

/* Two pipes, each with a byte in it, and a reader on each whose handler
 * removes the other's channel and quits the loop: one round of the loop
 * finds both ready. */
static void two_ready_readers(struct event_loop *loop, int a[2], int b[2],
                              struct reader *ra, struct reader *rb)
{
    make_pipe(a, O_NONBLOCK);
    make_pipe(b, O_NONBLOCK);
    *ra = (struct reader){ .loop = loop, .fd = a[0], .quit_after = true };
    *rb = (struct reader){ .loop = loop, .fd = b[0], .quit_after = true };
    ra->other = rb;
    rb->other = ra;
    channel_init(&ra->ch, loop, a[0], ra);
    channel_init(&rb->ch, loop, b[0], rb);
    channel_set_read_callback(&ra->ch, on_readable);
    channel_set_read_callback(&rb->ch, on_readable);
    ck_assert_int_eq(channel_enable_reading(&ra->ch), 0);
    ck_assert_int_eq(channel_enable_reading(&rb->ch), 0);
    ck_assert_int_eq(write(a[1], "a", 1), 1);
    ck_assert_int_eq(write(b[1], "b", 1), 1);
}

START_TEST(removed_channel_not_dispatched_in_same_round)
{
    /* Two fds ready in one round; the first handler removes the other's
     * channel (and could free it): the other must not be dispatched. */
    int a[2], b[2];
    static struct reader ra, rb;
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    two_ready_readers(loop, a, b, &ra, &rb);

    ck_assert_int_eq(event_loop_run(loop), 0);
    ck_assert_int_eq(ra.calls + rb.calls, 1);

    channel_remove(&ra.ch);
    channel_remove(&rb.ch);
    event_loop_free(loop);
    close_pair(a); close_pair(b);
}
END_TEST

/* LOG_LEVEL=trace: the same round, as the loop tells it on stderr. */
START_TEST(trace_tells_each_round)
{
    int a[2], b[2];
    static struct reader ra, rb;
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    two_ready_readers(loop, a, b, &ra, &rb);

    log_set_level(LOG_LEVEL_TRACE);
    capture_start();
    int rc = event_loop_run(loop);
    char *out = capture_end();
    log_set_level(LOG_LEVEL_INFO);
    ck_assert_int_eq(rc, 0);
    char first[64];
    snprintf(first, sizeof(first), "  fd %d IN: dispatch\n", ra.calls ? a[0] : b[0]);
    ck_assert_msg(strstr(out, " TRACE ") && strstr(out, "round 1: 2 ready\n") &&
                  strstr(out, first) &&
                  strstr(out, "  a channel closed earlier in this round: skipped\n"),
                  "stderr: %s", out);
    free(out);

    channel_remove(&ra.ch);
    channel_remove(&rb.ch);
    event_loop_free(loop);
    close_pair(a); close_pair(b);
}
END_TEST

struct byte_reader {
    struct event_loop *loop;
    int fd, calls;
    char got[16];
};

/* Reads one byte per call; quits after the 10th. */
static void read_one_byte(void *ctx)
{
    struct byte_reader *r = ctx;
    if (r->calls < (int)sizeof(r->got) && read(r->fd, &r->got[r->calls], 1) == 1)
        r->calls++;
    if (r->calls == 10)
        event_loop_quit(r->loop);
}

START_TEST(level_triggered_by_default)
{
    /* Unread data makes the channel ready again in the next round. */
    int p[2];
    static struct byte_reader r;
    struct channel ch;
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    make_pipe(p, O_NONBLOCK);
    ck_assert_int_eq(write(p[1], "0123456789", 10), 10);

    r.loop = loop;
    r.fd = p[0];
    channel_init(&ch, loop, p[0], &r);
    channel_set_read_callback(&ch, read_one_byte);
    ck_assert_int_eq(channel_enable_reading(&ch), 0);
    ck_assert_int_eq(event_loop_run(loop), 0);
    ck_assert_int_eq(r.calls, 10);
    ck_assert_mem_eq(r.got, "0123456789", 10);

    channel_remove(&ch);
    event_loop_free(loop);
    close_pair(p);
}
END_TEST

#if UNIT_STEP >= 8
static void *check_not_in_loop(void *arg)
{
    return event_loop_is_in_loop_thread(arg) ? (void *)1 : NULL;
}

static void *adopt_and_check(void *arg)
{
    event_loop_adopt(arg);
    return event_loop_is_in_loop_thread(arg) ? (void *)1 : NULL;
}
#endif

#if UNIT_STEP >= 8
/* ---- the thread rule, checked ------------------------------------------ */

/* Runs a loop-thread function on a loop from another thread. */
static void *break_the_rule(void *arg)
{
    struct event_loop *loop = arg;
#if UNIT_STEP >= 9
    static struct channel ch;
    channel_init(&ch, loop, 0, NULL);
    channel_enable_reading(&ch);           /* epoll_ctl: loop thread only */
#else
    event_loop_run(loop);                  /* running it: its thread only */
#endif
    return NULL;
}

START_TEST(loop_thread_functions_abort_elsewhere)
{
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, break_the_rule, loop), 0);
    pthread_join(th, NULL);
    ck_abort_msg("a loop-thread function ran in another thread");
}
END_TEST

START_TEST(adopt_hands_the_loop_over)
{
    /* After event_loop_adopt() the calling thread is the loop's thread. */
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    pthread_t th;
    void *res = (void *)2;
    ck_assert_int_eq(pthread_create(&th, NULL, check_not_in_loop, loop), 0);
    pthread_join(th, &res);
    ck_assert_ptr_null(res);
    ck_assert_int_eq(pthread_create(&th, NULL, adopt_and_check, loop), 0);
    pthread_join(th, &res);
    ck_assert_ptr_eq(res, (void *)1);
    ck_assert(!event_loop_is_in_loop_thread(loop));
    event_loop_adopt(loop);
    event_loop_free(loop);
}
END_TEST
#endif /* UNIT_STEP >= 8 */

#if UNIT_STEP >= 9

/* ---- step09 on: the task queue ------------------------------------------ */

struct watchdog {
    struct event_loop *loop;
    int ms;
    atomic_bool done;            /* the test finished by itself */
    atomic_bool fired;           /* the watchdog had to quit the loop */
    pthread_t thread;
};

/* Quits the loop from another thread if the test has not ended in time,
 * so a lost wake-up fails the test instead of hanging it. */
static void *watchdog_main(void *arg)
{
    struct watchdog *w = arg;
    double deadline = now_s() + w->ms / 1000.0;
    while (!atomic_load(&w->done) && now_s() < deadline)
        sleep_ms(5);
    if (!atomic_load(&w->done)) {
        atomic_store(&w->fired, true);
        event_loop_quit(w->loop);
    }
    return NULL;
}

static void watchdog_start(struct watchdog *w, struct event_loop *loop, int ms)
{
    w->loop = loop;
    w->ms = ms;
    atomic_init(&w->done, false);
    atomic_init(&w->fired, false);
    ck_assert_int_eq(pthread_create(&w->thread, NULL, watchdog_main, w), 0);
}

static void watchdog_stop(struct watchdog *w)
{
    atomic_store(&w->done, true);
    pthread_join(w->thread, NULL);
}

struct tally {
    struct event_loop *loop;
    atomic_int runs;
    atomic_int wrong_thread;
    int quit_at;                 /* quit the loop when runs reaches this */
    int last;                    /* order check: the last seq seen */
    atomic_int out_of_order;
};

struct seq_task {
    struct tally *t;
    int seq;
};

static void tally_task(void *ctx)
{
    struct seq_task *s = ctx;
    struct tally *t = s->t;
    if (!event_loop_is_in_loop_thread(t->loop))
        atomic_fetch_add(&t->wrong_thread, 1);
    if (s->seq >= 0) {
        if (s->seq != t->last + 1)
            atomic_fetch_add(&t->out_of_order, 1);
        t->last = s->seq;
    }
    if (atomic_fetch_add(&t->runs, 1) + 1 == t->quit_at)
        event_loop_quit(t->loop);
}

START_TEST(in_loop_thread)
{
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    ck_assert(event_loop_is_in_loop_thread(loop));
    event_loop_free(loop);
}
END_TEST

START_TEST(not_in_loop_thread_elsewhere)
{
    pthread_t th;
    void *res = (void *)2;
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    ck_assert_int_eq(pthread_create(&th, NULL, check_not_in_loop, loop), 0);
    pthread_join(th, &res);
    ck_assert_ptr_null(res);
    event_loop_free(loop);
}
END_TEST

START_TEST(run_in_loop_in_own_thread_runs_now)
{
    static struct tally t;
    static struct seq_task s = { &t, -1 };
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    t.loop = loop;
    ck_assert_int_eq(event_loop_run_in_loop(loop, tally_task, &s), 0);
    ck_assert_int_eq(atomic_load(&t.runs), 1);          /* already ran */
    event_loop_free(loop);
    ck_assert_int_eq(atomic_load(&t.runs), 1);          /* and only once */
}
END_TEST

START_TEST(queue_in_loop_runs_later_not_now)
{
    static struct tally t;
    static struct seq_task s = { &t, -1 };
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    t.loop = loop;
    ck_assert_int_eq(event_loop_queue_in_loop(loop, tally_task, &s), 0);
    ck_assert_int_eq(atomic_load(&t.runs), 0);          /* queued, not run */
    event_loop_free(loop);                              /* runs the queue */
    ck_assert_int_eq(atomic_load(&t.runs), 1);
}
END_TEST

START_TEST(queue_in_own_thread_before_run_wakes)
{
    /* event_loop.h: queue_in_loop "queues fn(ctx) to run in the loop's
     * thread after the current round of events ... and wakes the loop".
     * Queued from the loop's thread before run(), with no fd ever ready,
     * the task must still run (and it quits the loop). */
    static struct tally t;
    static struct seq_task s = { &t, -1 };
    struct watchdog w;
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    t.loop = loop;
    t.quit_at = 1;
    ck_assert_int_eq(event_loop_queue_in_loop(loop, tally_task, &s), 0);
    watchdog_start(&w, loop, 2000);
    ck_assert_int_eq(event_loop_run(loop), 0);
    watchdog_stop(&w);
    bool fired = atomic_load(&w.fired);
    event_loop_free(loop);
    ck_assert_msg(!fired, "a task queued from the loop's thread before "
                  "event_loop_run() did not run until another thread woke "
                  "the loop (2 s later)");
    ck_assert_int_eq(atomic_load(&t.runs), 1);
}
END_TEST

struct producer_arg {
    struct event_loop *loop;
    struct tally *t;
    struct seq_task *tasks;
    int n;
    int use_run_in_loop;
    int failed;
    int delay_ms;
};

static void *produce(void *arg)
{
    struct producer_arg *p = arg;
    if (p->delay_ms)
        sleep_ms(p->delay_ms);
    for (int i = 0; i < p->n; i++) {
        p->tasks[i] = (struct seq_task){ p->t, i };
        int rc = p->use_run_in_loop
                 ? event_loop_run_in_loop(p->loop, tally_task, &p->tasks[i])
                 : event_loop_queue_in_loop(p->loop, tally_task, &p->tasks[i]);
        if (rc != 0)
            p->failed++;
    }
    return NULL;
}

static void from_other_thread(int use_run_in_loop)
{
    enum { N = 20000 };
    static struct tally t;
    struct producer_arg p;
    pthread_t th;
    struct watchdog w;
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    memset(&t, 0, sizeof(t));
    t.loop = loop;
    t.quit_at = N;
    t.last = -1;
    p = (struct producer_arg){ loop, &t, calloc(N, sizeof(struct seq_task)),
                               N, use_run_in_loop, 0, 50 };
    ck_assert_ptr_nonnull(p.tasks);
    /* The producer starts while the loop is blocked in epoll_wait(). */
    ck_assert_int_eq(pthread_create(&th, NULL, produce, &p), 0);
    watchdog_start(&w, loop, 10000);
    ck_assert_int_eq(event_loop_run(loop), 0);
    watchdog_stop(&w);
    pthread_join(th, NULL);
    event_loop_free(loop);
    ck_assert(!atomic_load(&w.fired));
    ck_assert_int_eq(p.failed, 0);
    ck_assert_int_eq(atomic_load(&t.runs), N);
    ck_assert_int_eq(atomic_load(&t.wrong_thread), 0);   /* in the loop's */
    ck_assert_int_eq(atomic_load(&t.out_of_order), 0);   /* in queue order */
    free(p.tasks);
}

START_TEST(queue_from_other_thread)
{
    from_other_thread(0);
}
END_TEST

START_TEST(run_in_loop_from_other_thread)
{
    from_other_thread(1);
}
END_TEST

/* Several producers: each one's tasks in its own order. */
struct multi {
    struct event_loop *loop;
    int last[4];
    atomic_int errors;
    atomic_int runs;
    int total;
};

struct multi_task {
    struct multi *m;
    int producer, seq;
};

static void multi_task_fn(void *ctx)
{
    struct multi_task *mt = ctx;
    struct multi *m = mt->m;
    if (!event_loop_is_in_loop_thread(m->loop) ||
        m->last[mt->producer] + 1 != mt->seq)
        atomic_fetch_add(&m->errors, 1);
    m->last[mt->producer] = mt->seq;
    if (atomic_fetch_add(&m->runs, 1) + 1 == m->total)
        event_loop_quit(m->loop);
}

struct multi_arg {
    struct multi *m;
    int id;
    struct multi_task *tasks;
    int n;
};

static void *multi_produce(void *arg)
{
    struct multi_arg *a = arg;
    for (int i = 0; i < a->n; i++) {
        a->tasks[i] = (struct multi_task){ a->m, a->id, i };
        while (event_loop_queue_in_loop(a->m->loop, multi_task_fn,
                                        &a->tasks[i]) != 0)
            sleep_ms(1);
        if (i % 1000 == 0)
            sched_yield();
    }
    return NULL;
}

START_TEST(queue_from_many_threads)
{
    enum { P = 4, N = 10000 };
    static struct multi m;
    struct multi_arg args[P];
    pthread_t th[P];
    struct watchdog w;
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    m.loop = loop;
    m.total = P * N;
    for (int i = 0; i < P; i++)
        m.last[i] = -1;
    for (int i = 0; i < P; i++) {
        args[i] = (struct multi_arg){ &m, i, calloc(N, sizeof(struct multi_task)), N };
        ck_assert_ptr_nonnull(args[i].tasks);
        ck_assert_int_eq(pthread_create(&th[i], NULL, multi_produce, &args[i]), 0);
    }
    watchdog_start(&w, loop, 20000);
    ck_assert_int_eq(event_loop_run(loop), 0);
    watchdog_stop(&w);
    for (int i = 0; i < P; i++)
        pthread_join(th[i], NULL);
    event_loop_free(loop);
    ck_assert(!atomic_load(&w.fired));
    ck_assert_int_eq(atomic_load(&m.runs), P * N);
    ck_assert_int_eq(atomic_load(&m.errors), 0);
    for (int i = 0; i < P; i++)
        free(args[i].tasks);
}
END_TEST

/* A task that queues a task: the new one runs without any other event. */
struct chain {
    struct event_loop *loop;
    int steps, limit;
};

static void chain_task(void *ctx)
{
    struct chain *c = ctx;
    if (++c->steps >= c->limit) {
        event_loop_quit(c->loop);
        return;
    }
    if (event_loop_queue_in_loop(c->loop, chain_task, c) != 0)
        event_loop_quit(c->loop);
}

static void *queue_chain_later(void *arg)
{
    struct chain *c = arg;
    sleep_ms(20);
    event_loop_queue_in_loop(c->loop, chain_task, c);
    return NULL;
}

START_TEST(task_queues_task)
{
    static struct chain c;
    pthread_t th;
    struct watchdog w;
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    c.loop = loop;
    c.limit = 1000;
    ck_assert_int_eq(pthread_create(&th, NULL, queue_chain_later, &c), 0);
    watchdog_start(&w, loop, 5000);
    ck_assert_int_eq(event_loop_run(loop), 0);
    watchdog_stop(&w);
    pthread_join(th, NULL);
    event_loop_free(loop);
    ck_assert(!atomic_load(&w.fired));
    ck_assert_int_eq(c.steps, c.limit);
}
END_TEST

static void *quit_later(void *arg)
{
    sleep_ms(100);
    event_loop_quit(arg);
    return NULL;
}

START_TEST(quit_from_other_thread_wakes_loop)
{
    pthread_t th;
    struct watchdog w;
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    double t0 = now_s();
    ck_assert_int_eq(pthread_create(&th, NULL, quit_later, loop), 0);
    watchdog_start(&w, loop, 3000);
    ck_assert_int_eq(event_loop_run(loop), 0);      /* no fd, no task */
    double took = now_s() - t0;
    watchdog_stop(&w);
    pthread_join(th, NULL);
    event_loop_free(loop);
    ck_assert(!atomic_load(&w.fired));
    ck_assert_double_ge(took, 0.09);
    ck_assert_double_lt(took, 2.0);
}
END_TEST

/* free() runs what is queued, and what those tasks queue. */
static void requeue_once(void *ctx)
{
    struct tally *t = ctx;
    static struct seq_task s;
    s = (struct seq_task){ t, -1 };
    atomic_fetch_add(&t->runs, 1);
    event_loop_queue_in_loop(t->loop, tally_task, &s);
}

START_TEST(free_runs_queued_tasks)
{
    static struct tally t;
    static struct seq_task s[100];
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    t.loop = loop;
    t.last = -1;
    for (int i = 0; i < 100; i++) {
        s[i] = (struct seq_task){ &t, i };
        ck_assert_int_eq(event_loop_queue_in_loop(loop, tally_task, &s[i]), 0);
    }
    ck_assert_int_eq(event_loop_queue_in_loop(loop, requeue_once, &t), 0);
    event_loop_free(loop);
    ck_assert_int_eq(atomic_load(&t.runs), 102);
    ck_assert_int_eq(atomic_load(&t.out_of_order), 0);
}
END_TEST

static void count_task(void *ctx)
{
    (*(int *)ctx)++;
}

/* Runs once per round: at the 4th it notes the heap in use and quits. */
struct stepper {
    struct event_loop *loop;
    int round;
    size_t after;                  /* heap in use at the 4th round */
};

static void step_task(void *ctx)
{
    struct stepper *st = ctx;
    if (++st->round == 4) {
        st->after = heap_in_use();
        event_loop_quit(st->loop);
        return;
    }
    ck_assert_int_eq(event_loop_queue_in_loop(st->loop, step_task, st), 0);
}

START_TEST(task_array_is_given_back_after_a_burst)
{
    enum { BURST = 10000 };
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    struct stepper st = { loop, 0, 0 };
    int ran = 0;
    size_t before = heap_in_use();
    for (int i = 0; i < BURST; i++)
        ck_assert_int_eq(event_loop_queue_in_loop(loop, count_task, &ran), 0);
    size_t during = heap_in_use();
    ck_assert_uint_ge(during - before, BURST * 2 * sizeof(void *));
    ck_assert_int_eq(event_loop_queue_in_loop(loop, step_task, &st), 0);
    /* Round 1 runs the burst. The two arrays take turns: round 2 runs from
     * the small one, round 3 from the big one, which it gives back. */
    ck_assert_int_eq(event_loop_run(loop), 0);
    ck_assert_int_eq(ran, BURST);
    ck_assert_msg(st.after <= before + 64 * 2 * sizeof(void *), "heap in use: %zu "
                  "before the burst, %zu during, %zu after", before, during, st.after);
    event_loop_free(loop);
}
END_TEST

/* ---- notices -------------------------------------------------------- */

struct noticed {
    struct event_loop *loop;
    struct loop_notice notice;
    atomic_int runs;
    atomic_int wrong_thread;
    int tasks_before;            /* tasks run when the notice ran */
    int repost;                  /* times the notice posts itself again */
};

static int tasks_run;

static void counted_task(void *ctx)
{
    (void)ctx;
    tasks_run++;
}

static void notice_fn(void *ctx)
{
    struct noticed *nd = ctx;
    if (!event_loop_is_in_loop_thread(nd->loop))
        atomic_fetch_add(&nd->wrong_thread, 1);
    nd->tasks_before = tasks_run;
    if (atomic_fetch_add(&nd->runs, 1) + 1 > nd->repost)
        event_loop_quit(nd->loop);
    else
        event_loop_post_notice(nd->loop, &nd->notice);
}

/* From another thread: three tasks, then the notice posted five times. */
static void *post_from_thread(void *arg)
{
    struct noticed *nd = arg;
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(event_loop_queue_in_loop(nd->loop, counted_task, NULL), 0);
    int queued = 0;
    for (int i = 0; i < 5; i++)
        queued += event_loop_post_notice(nd->loop, &nd->notice);
    return (void *)(intptr_t)queued;
}

START_TEST(notice_posts_coalesce_and_follow_the_tasks_before)
{
    static struct noticed nd;
    struct watchdog w;
    nd.loop = event_loop_new();
    ck_assert_ptr_nonnull(nd.loop);
    loop_notice_init(&nd.notice, notice_fn, &nd);
    tasks_run = 0;
    pthread_t th;
    void *queued;
    ck_assert_int_eq(pthread_create(&th, NULL, post_from_thread, &nd), 0);
    pthread_join(th, &queued);
    ck_assert_int_eq((int)(intptr_t)queued, 1);        /* the other 4 coalesced */
    watchdog_start(&w, nd.loop, 5000);
    ck_assert_int_eq(event_loop_run(nd.loop), 0);
    watchdog_stop(&w);
    ck_assert(!atomic_load(&w.fired));
    ck_assert_int_eq(atomic_load(&nd.runs), 1);
    ck_assert_int_eq(nd.tasks_before, 3);
    ck_assert_int_eq(atomic_load(&nd.wrong_thread), 0);
    event_loop_free(nd.loop);
}
END_TEST

START_TEST(notice_posted_by_its_fn_runs_again)
{
    static struct noticed nd;
    struct watchdog w;
    nd.loop = event_loop_new();
    ck_assert_ptr_nonnull(nd.loop);
    loop_notice_init(&nd.notice, notice_fn, &nd);
    nd.repost = 2;
    ck_assert(event_loop_post_notice(nd.loop, &nd.notice));
    watchdog_start(&w, nd.loop, 5000);
    ck_assert_int_eq(event_loop_run(nd.loop), 0);
    watchdog_stop(&w);
    ck_assert(!atomic_load(&w.fired));
    ck_assert_int_eq(atomic_load(&nd.runs), 3);
    event_loop_free(nd.loop);
}
END_TEST

START_TEST(free_runs_posted_notices)
{
    static struct noticed nd;
    nd.loop = event_loop_new();
    ck_assert_ptr_nonnull(nd.loop);
    loop_notice_init(&nd.notice, notice_fn, &nd);
    ck_assert(event_loop_post_notice(nd.loop, &nd.notice));
    ck_assert(!event_loop_post_notice(nd.loop, &nd.notice));
    event_loop_free(nd.loop);
    ck_assert_int_eq(atomic_load(&nd.runs), 1);
}
END_TEST

#endif /* UNIT_STEP >= 9 */

Suite *unit_suite(void)
{
    Suite *s = suite_create("event_loop");
    TCase *tc;

    tc = tcase_create("dispatch");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, new_and_free);
    tcase_add_test(tc, dispatches_to_channel_and_quits);
    tcase_add_test(tc, removed_channel_not_dispatched_in_same_round);
    tcase_add_test(tc, trace_tells_each_round);
    tcase_add_test(tc, level_triggered_by_default);
    suite_add_tcase(s, tc);

#if UNIT_STEP >= 8
    tc = tcase_create("threads");
    tcase_set_timeout(tc, 20);
    tcase_add_test_raise_signal(tc, loop_thread_functions_abort_elsewhere, SIGABRT);
    tcase_add_test(tc, adopt_hands_the_loop_over);
    suite_add_tcase(s, tc);
#endif

#if UNIT_STEP >= 9
    tc = tcase_create("tasks");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, in_loop_thread);
    tcase_add_test(tc, not_in_loop_thread_elsewhere);
    tcase_add_test(tc, run_in_loop_in_own_thread_runs_now);
    tcase_add_test(tc, queue_in_loop_runs_later_not_now);
    tcase_add_test(tc, queue_in_own_thread_before_run_wakes);
    tcase_add_test(tc, queue_from_other_thread);
    tcase_add_test(tc, run_in_loop_from_other_thread);
    tcase_add_test(tc, queue_from_many_threads);
    tcase_add_test(tc, task_queues_task);
    tcase_add_test(tc, quit_from_other_thread_wakes_loop);
    tcase_add_test(tc, free_runs_queued_tasks);
    tcase_add_test(tc, task_array_is_given_back_after_a_burst);
    tcase_add_test(tc, notice_posts_coalesce_and_follow_the_tasks_before);
    tcase_add_test(tc, notice_posted_by_its_fn_runs_again);
    tcase_add_test(tc, free_runs_posted_notices);
    suite_add_tcase(s, tc);
#endif

    return s;
}
