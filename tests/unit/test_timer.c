/* test_timer.c - unit tests of the loop's timers (step10_timer/event_loop.h).
 *
 * tests/Makefile hook (the first source decides the steps: only those with
 * timestamp.c, i.e. step10_timer on):
 *
 *   UNIT_MODULES += timer:timestamp.c,event_loop.c,channel.c,epoll.c,log.c
 *
 * By hand:
 *
 *   cc -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -g -pthread \
 *      -fsanitize=address,undefined -DUNIT_STEP=10 -Istep10_timer \
 *      tests/unit/test_timer.c tests/unit/unit_main.c \
 *      step10_timer/{timestamp,event_loop,channel,epoll,log}.c \
 *      $(pkg-config --cflags --libs check) -o /tmp/timer-10 && /tmp/timer-10
 *
 * Deadlines are checked against the loop's clock (event_loop_now() when
 * the timer was armed, per event_loop.h) and the monotonic clock, with a
 * generous upper bound for slow (sanitizer) builds. Every test that runs
 * the loop has a watchdog thread that quits it, so a timer that never
 * fires fails the test instead of hanging it.
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
#include <time.h>
#include <unistd.h>

#include "channel.h"
#include "event_loop.h"
#include "timestamp.h"
#include "unit.h"

#define LATE_MS 2000            /* how late a timer may fire in a slow build */

/* ---- a watchdog: quits the loop from another thread ------------------- */

struct watchdog {
    struct event_loop *loop;
    int ms;
    atomic_bool done, fired;
    pthread_t thread;
};

static void *watchdog_main(void *arg)
{
    struct watchdog *w = arg;
    for (int waited = 0; waited < w->ms && !atomic_load(&w->done); waited += 5)
        sleep_ms(5);
    if (!atomic_load(&w->done)) {
        atomic_store(&w->fired, true);
        event_loop_quit(w->loop);
    }
    return NULL;
}

/* Runs the loop until something quits it, or ms pass (then fails). */
static void run_loop(struct event_loop *loop, int ms)
{
    struct watchdog w = { .loop = loop, .ms = ms };
    ck_assert_int_eq(pthread_create(&w.thread, NULL, watchdog_main, &w), 0);
    int rc = event_loop_run(loop);
    atomic_store(&w.done, true);
    pthread_join(w.thread, NULL);
    ck_assert_int_eq(rc, 0);
    ck_assert_msg(!atomic_load(&w.fired),
                  "the loop did not quit by itself within %d ms", ms);
}

/* ---- what a timer's fn records ------------------------------------------ */

struct shot {
    struct event_loop *loop;
    struct timer timer;
    int id;
    int fired;
    uint64_t armed_at;          /* event_loop_now() when armed */
    uint64_t delay;
    uint64_t fired_loop_ms;     /* event_loop_now() in fn */
    uint64_t fired_real_ms;     /* timestamp_now_ms() in fn */
    bool armed_in_fn;           /* timer_is_armed() of its own timer in fn */
    bool quit;                  /* fn quits the loop */
    int *order;                 /* fn appends id here */
    int *norder;
};

static void shot_fn(void *ctx)
{
    struct shot *s = ctx;
    s->fired++;
    s->fired_loop_ms = event_loop_now(s->loop);
    s->fired_real_ms = timestamp_now_ms();
    s->armed_in_fn = timer_is_armed(&s->timer);
    if (s->order)
        s->order[(*s->norder)++] = s->id;
    if (s->quit)
        event_loop_quit(s->loop);
}

static void arm(struct event_loop *loop, struct shot *s, int id, uint64_t delay)
{
    s->loop = loop;
    s->id = id;
    s->delay = delay;
    s->armed_at = event_loop_now(loop);
    timer_init(&s->timer);
    ck_assert_int_eq(event_loop_run_after(loop, &s->timer, delay, shot_fn, s), 0);
    ck_assert(timer_is_armed(&s->timer));
}

static void expect_on_time(const struct shot *s)
{
    ck_assert_int_eq(s->fired, 1);
    ck_assert_uint_ge(s->fired_loop_ms, s->armed_at + s->delay);
    ck_assert_uint_ge(s->fired_real_ms, s->armed_at + s->delay);
    ck_assert_uint_lt(s->fired_real_ms, s->armed_at + s->delay + LATE_MS);
}

/* ---- tests -------------------------------------------------------------- */

START_TEST(init_is_not_armed)
{
    struct timer t;
    memset(&t, 0x5A, sizeof(t));
    timer_init(&t);
    ck_assert(!timer_is_armed(&t));
    ck_assert_uint_eq(t.heap_index, TIMER_IDLE);
}
END_TEST

START_TEST(now_is_the_monotonic_clock)
{
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    uint64_t t = timestamp_now_ms();
    uint64_t n = event_loop_now(loop);
    ck_assert_uint_le(n, t);
    ck_assert_uint_gt(n + LATE_MS, t);
    event_loop_free(loop);
}
END_TEST

START_TEST(run_after_fires_once_on_time)
{
    static struct shot s;
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    s.quit = true;
    arm(loop, &s, 1, 100);
    run_loop(loop, 5000);
    expect_on_time(&s);
    ck_assert(!s.armed_in_fn);                 /* a one-shot is done */
    ck_assert(!timer_is_armed(&s.timer));
    event_loop_free(loop);
}
END_TEST

START_TEST(zero_delay_fires)
{
    static struct shot s;
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    s.quit = true;
    arm(loop, &s, 1, 0);
    run_loop(loop, 3000);
    ck_assert_int_eq(s.fired, 1);
    event_loop_free(loop);
}
END_TEST

START_TEST(fire_in_deadline_order)
{
    static struct shot s[6];
    static int order[6], norder;
    static const uint64_t delays[6] = { 120, 20, 80, 40, 100, 60 };
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    for (int i = 0; i < 6; i++) {
        s[i].order = order;
        s[i].norder = &norder;
        s[i].quit = delays[i] == 120;
        arm(loop, &s[i], i, delays[i]);
    }
    run_loop(loop, 5000);
    ck_assert_int_eq(norder, 6);
    static const int want[6] = { 1, 3, 5, 2, 4, 0 };
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(order[i], want[i]);
        expect_on_time(&s[i]);
    }
    event_loop_free(loop);
}
END_TEST

START_TEST(equal_deadlines_fifo)
{
    enum { N = 50 };
    static struct shot s[N], last;
    static int order[N + 1], norder;
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    for (int i = 0; i < N; i++) {
        s[i].order = order;
        s[i].norder = &norder;
        arm(loop, &s[i], i, 30);       /* same now, same delay */
    }
    last.quit = true;
    arm(loop, &last, N, 60);
    run_loop(loop, 5000);
    ck_assert_int_eq(norder, N);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(order[i], i);
    /* One round: they all saw the same loop clock. */
    for (int i = 1; i < N; i++)
        ck_assert_uint_eq(s[i].fired_loop_ms, s[0].fired_loop_ms);
    event_loop_free(loop);
}
END_TEST

START_TEST(cancel_prevents_firing)
{
    static struct shot a, b, c;
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    arm(loop, &a, 1, 20);
    arm(loop, &b, 2, 40);
    c.quit = true;
    arm(loop, &c, 3, 150);
    event_loop_cancel(loop, &a.timer);
    ck_assert(!timer_is_armed(&a.timer));
    event_loop_cancel(loop, &a.timer);         /* again: nothing happens */
    ck_assert(!timer_is_armed(&a.timer));
    ck_assert(timer_is_armed(&b.timer));
    run_loop(loop, 5000);
    ck_assert_int_eq(a.fired, 0);
    expect_on_time(&b);
    expect_on_time(&c);

    struct timer idle;
    timer_init(&idle);
    event_loop_cancel(loop, &idle);            /* never armed: nothing */
    ck_assert(!timer_is_armed(&idle));
    event_loop_free(loop);
}
END_TEST

START_TEST(cancel_earliest_rearms_for_next)
{
    /* Cancelling the earliest timer leaves the next one on time (and the
     * loop must not wake for the cancelled one's deadline and stop). */
    static struct shot a, b;
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    arm(loop, &a, 1, 30);
    b.quit = true;
    arm(loop, &b, 2, 120);
    event_loop_cancel(loop, &a.timer);
    run_loop(loop, 5000);
    ck_assert_int_eq(a.fired, 0);
    expect_on_time(&b);
    event_loop_free(loop);
}
END_TEST

START_TEST(rearm_moves_deadline)
{
    static struct shot s, guard;
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    arm(loop, &s, 1, 3000);
    /* Re-arming an armed timer: the new deadline replaces the old. */
    s.quit = true;
    s.armed_at = event_loop_now(loop);
    s.delay = 50;
    ck_assert_int_eq(event_loop_run_after(loop, &s.timer, 50, shot_fn, &s), 0);
    ck_assert(timer_is_armed(&s.timer));
    run_loop(loop, 2500);
    expect_on_time(&s);
    ck_assert(!timer_is_armed(&s.timer));      /* not armed twice */

    /* Later too: a re-arm to the far future is not fired early. */
    guard.quit = true;
    s.quit = false;
    arm(loop, &s, 1, 20);
    ck_assert_int_eq(event_loop_run_after(loop, &s.timer, 10000, shot_fn, &s), 0);
    arm(loop, &guard, 2, 200);
    run_loop(loop, 5000);
    ck_assert_int_eq(s.fired, 1);              /* only the first time */
    ck_assert(timer_is_armed(&s.timer));
    event_loop_cancel(loop, &s.timer);
    event_loop_free(loop);
}
END_TEST

/* run_every: counts beats, cancels itself at the 5th. */
struct beat {
    struct event_loop *loop;
    struct timer timer;
    int beats;
    uint64_t at[8];
    bool armed_in_fn;
};

static void beat_fn(void *ctx)
{
    struct beat *b = ctx;
    b->at[b->beats++] = event_loop_now(b->loop);
    b->armed_in_fn = timer_is_armed(&b->timer);  /* re-armed before fn */
    if (b->beats == 5) {
        event_loop_cancel(b->loop, &b->timer);
        event_loop_quit(b->loop);
    }
}

START_TEST(run_every_repeats_until_cancelled)
{
    static struct beat b;
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    b.loop = loop;
    timer_init(&b.timer);
    uint64_t t0 = event_loop_now(loop);
    ck_assert_int_eq(event_loop_run_every(loop, &b.timer, 40, beat_fn, &b), 0);
    ck_assert(timer_is_armed(&b.timer));
    run_loop(loop, 10000);
    ck_assert_int_eq(b.beats, 5);
    ck_assert(b.armed_in_fn);
    ck_assert(!timer_is_armed(&b.timer));
    /* Beat i never comes before i+1 intervals after arming (the schedule
     * is fixed-rate: a late beat may be followed by a closer one). */
    for (int i = 0; i < 5; i++)
        ck_assert_uint_ge(b.at[i], t0 + 40 * (uint64_t)(i + 1));
    for (int i = 1; i < 5; i++)
        ck_assert_uint_gt(b.at[i], b.at[i - 1]);
    ck_assert_uint_lt(b.at[4], t0 + 5 * 40 + LATE_MS);
    event_loop_free(loop);
}
END_TEST

START_TEST(run_every_zero_interval_refused)
{
    struct timer t;
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    timer_init(&t);
    ck_assert_int_eq(event_loop_run_every(loop, &t, 0, beat_fn, NULL), -1);
    ck_assert(!timer_is_armed(&t));
    event_loop_free(loop);
}
END_TEST

/* fn frees its own timer (one-shot), or cancels and frees (repeating). */
struct owned {
    struct timer timer;
    struct event_loop *loop;
    int *count;
    bool repeating;
};

static void free_self(void *ctx)
{
    struct owned *o = ctx;
    (*o->count)++;
    if (o->repeating)
        event_loop_cancel(o->loop, &o->timer);
    free(o);                                   /* ASan: no later access */
}

static void quit_fn(void *ctx)
{
    event_loop_quit(ctx);
}

START_TEST(fn_may_free_its_timer)
{
    static int count;
    static struct timer done;
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    for (int i = 0; i < 20; i++) {
        struct owned *o = calloc(1, sizeof(*o));
        ck_assert_ptr_nonnull(o);
        o->loop = loop;
        o->count = &count;
        o->repeating = i % 2;
        timer_init(&o->timer);
        if (o->repeating)
            ck_assert_int_eq(event_loop_run_every(loop, &o->timer, 10 + i,
                                                  free_self, o), 0);
        else
            ck_assert_int_eq(event_loop_run_after(loop, &o->timer, (uint64_t)i,
                                                  free_self, o), 0);
    }
    timer_init(&done);
    ck_assert_int_eq(event_loop_run_after(loop, &done, 200, quit_fn, loop), 0);
    run_loop(loop, 5000);
    ck_assert_int_eq(count, 20);
    event_loop_free(loop);
}
END_TEST

/* A fn cancels another timer that is due in the same round. */
struct canceller {
    struct event_loop *loop;
    struct timer *victim;
};

static void cancel_other(void *ctx)
{
    struct canceller *c = ctx;
    event_loop_cancel(c->loop, c->victim);
}

START_TEST(fn_cancels_timer_due_same_round)
{
    static struct timer a;
    static struct canceller c;
    static struct shot victim, end;
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    timer_init(&a);
    c = (struct canceller){ loop, &victim.timer };
    /* Same deadline, a armed first: a runs first and cancels the victim. */
    ck_assert_int_eq(event_loop_run_after(loop, &a, 30, cancel_other, &c), 0);
    arm(loop, &victim, 1, 30);
    end.quit = true;
    arm(loop, &end, 2, 150);
    run_loop(loop, 5000);
    ck_assert_int_eq(victim.fired, 0);
    ck_assert(!timer_is_armed(&victim.timer));
    expect_on_time(&end);
    event_loop_free(loop);
}
END_TEST

/* Many timers, a third of them cancelled: the rest fire in deadline
 * order (the heap survives removals from its middle). */
struct many {
    struct event_loop *loop;
    struct timer timer;
    int id;
    int fired;
    uint64_t when;
};

static struct many *many_last;
static int many_fired, many_bad_order, many_expected;

static void many_fn(void *ctx)
{
    struct many *m = ctx;
    m->fired++;
    if (many_last && (m->when < many_last->when ||
                      (m->when == many_last->when && m->id < many_last->id)))
        many_bad_order++;
    many_last = m;
    if (++many_fired == many_expected)
        event_loop_quit(m->loop);
}

START_TEST(many_timers_with_cancellation)
{
    enum { N = 2000 };
    struct many *m = calloc(N, sizeof(*m));
    ck_assert_ptr_nonnull(m);
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    uint64_t t0 = event_loop_now(loop);
    unsigned r = 42;
    for (int i = 0; i < N; i++) {
        r = r * 1103515245u + 12345u;
        uint64_t delay = (r >> 16) % 200;
        m[i] = (struct many){ .loop = loop, .id = i, .when = t0 + delay };
        timer_init(&m[i].timer);
        ck_assert_int_eq(event_loop_run_after(loop, &m[i].timer, delay,
                                              many_fn, &m[i]), 0);
    }
    many_expected = 0;
    for (int i = 0; i < N; i++) {
        if (i % 3 == 1)
            event_loop_cancel(loop, &m[i].timer);
        else
            many_expected++;
    }
    run_loop(loop, 10000);
    ck_assert_int_eq(many_fired, many_expected);
    ck_assert_int_eq(many_bad_order, 0);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(m[i].fired, i % 3 == 1 ? 0 : 1);
        ck_assert(!timer_is_armed(&m[i].timer));
    }
    event_loop_free(loop);
    free(m);
}
END_TEST

/* A timer and I/O: a zero-delay timer that re-arms itself from its own fn
 * must not keep the loop from dispatching an fd that becomes ready. */
struct spinner {
    struct event_loop *loop;
    struct timer timer;
    long spins;
    uint64_t give_up_at;        /* timestamp_now_ms(): starved, fail */
    bool stop;
};

static void spin_fn(void *ctx)
{
    struct spinner *s = ctx;
    if (s->stop)
        return;
    s->spins++;
    if (timestamp_now_ms() >= s->give_up_at) {
        event_loop_quit(s->loop);
        return;
    }
    event_loop_run_after(s->loop, &s->timer, 0, spin_fn, s);
}

struct pipe_reader {
    struct event_loop *loop;
    struct spinner *spinner;
    int fd;
    bool ran;
};

static void pipe_readable(void *ctx)
{
    struct pipe_reader *p = ctx;
    char c;
    if (read(p->fd, &c, 1) == 1)
        p->ran = true;
    p->spinner->stop = true;
    event_loop_cancel(p->loop, &p->spinner->timer);
    event_loop_quit(p->loop);
}

static void *write_later(void *arg)
{
    sleep_ms(50);
    if (write(*(int *)arg, "x", 1) != 1)
        abort();
    return NULL;
}

START_TEST(rearming_zero_delay_timer_does_not_starve_io)
{
    int fds[2];
    static struct spinner s;
    static struct pipe_reader pr;
    struct channel ch;
    pthread_t th;
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    make_pipe(fds, O_NONBLOCK);
    s.loop = loop;
    s.give_up_at = timestamp_now_ms() + 3000;
    timer_init(&s.timer);
    pr = (struct pipe_reader){ loop, &s, fds[0], false };
    channel_init(&ch, loop, fds[0], &pr);
    channel_set_read_callback(&ch, pipe_readable);
    ck_assert_int_eq(channel_enable_reading(&ch), 0);
    ck_assert_int_eq(event_loop_run_after(loop, &s.timer, 0, spin_fn, &s), 0);
    /* The pipe becomes ready 50 ms later, while the timer spins. */
    ck_assert_int_eq(pthread_create(&th, NULL, write_later, &fds[1]), 0);
    run_loop(loop, 10000);
    pthread_join(th, NULL);
    ck_assert_msg(pr.ran, "the pipe was not dispatched within 3 s: the timer "
                  "ran %ld times in a row (a zero-delay timer re-armed in its "
                  "fn is due again in the same handle_timers pass)", s.spins);
    ck_assert_int_gt(s.spins, 0);
    channel_remove(&ch);
    event_loop_cancel(loop, &s.timer);
    event_loop_free(loop);
    close_pair(fds);
}
END_TEST

/* Timers armed from another round, while the loop runs. */
struct relay {
    struct event_loop *loop;
    struct timer timer;
    int hops;
    uint64_t armed_at[6];
    uint64_t fired_at[6];
};

static void relay_fn(void *ctx)
{
    struct relay *r = ctx;
    r->fired_at[r->hops] = timestamp_now_ms();
    if (++r->hops == 5) {
        event_loop_quit(r->loop);
        return;
    }
    r->armed_at[r->hops] = event_loop_now(r->loop);
    event_loop_run_after(r->loop, &r->timer, 30, relay_fn, r);
}

START_TEST(fn_rearms_itself)
{
    static struct relay r;
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    r.loop = loop;
    timer_init(&r.timer);
    r.armed_at[0] = event_loop_now(loop);
    ck_assert_int_eq(event_loop_run_after(loop, &r.timer, 30, relay_fn, &r), 0);
    run_loop(loop, 5000);
    ck_assert_int_eq(r.hops, 5);
    for (int i = 0; i < 5; i++) {
        ck_assert_uint_ge(r.fired_at[i], r.armed_at[i] + 30);
        ck_assert_uint_lt(r.fired_at[i], r.armed_at[i] + 30 + LATE_MS);
    }
    ck_assert(!timer_is_armed(&r.timer));
    event_loop_free(loop);
}
END_TEST

/* Tasks queued from another thread and timers in one loop. */
static void *quit_from_thread(void *arg)
{
    sleep_ms(150);
    event_loop_quit(arg);
    return NULL;
}

START_TEST(timers_and_cross_thread_quit)
{
    static struct beat b;
    pthread_t th;
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    b.loop = loop;
    timer_init(&b.timer);
    /* a slow heartbeat that would not quit by itself in time */
    ck_assert_int_eq(event_loop_run_every(loop, &b.timer, 1000, beat_fn, &b), 0);
    ck_assert_int_eq(pthread_create(&th, NULL, quit_from_thread, loop), 0);
    uint64_t t0 = timestamp_now_ms();
    run_loop(loop, 5000);
    pthread_join(th, NULL);
    ck_assert_uint_lt(timestamp_now_ms() - t0, 900);
    ck_assert_int_eq(b.beats, 0);
    ck_assert(timer_is_armed(&b.timer));
    event_loop_cancel(loop, &b.timer);
    event_loop_free(loop);
}
END_TEST

START_TEST(free_with_armed_timers)
{
    /* Freeing the loop with timers armed neither fires them nor touches
     * freed memory later; the timers are the owner's to reuse. */
    static struct shot s[3];
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    for (int i = 0; i < 3; i++)
        arm(loop, &s[i], i, 1000 + (uint64_t)i);
    event_loop_free(loop);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(s[i].fired, 0);
}
END_TEST

static void never_fn(void *ctx)
{
    (void)ctx;
    ck_abort_msg("a cancelled timer fired");
}

START_TEST(heap_is_given_back_when_timers_go)
{
    enum { CROWD = 10000 };
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    static struct timer t[CROWD];
    size_t before = heap_in_use();
    for (int i = 0; i < CROWD; i++) {
        timer_init(&t[i]);
        ck_assert_int_eq(event_loop_run_after(loop, &t[i], 60000 + (uint64_t)i,
                                              never_fn, NULL), 0);
    }
    size_t during = heap_in_use();
    ck_assert_uint_ge(during - before, CROWD * sizeof(void *));
    for (int i = 0; i < CROWD; i++)
        event_loop_cancel(loop, &t[i]);
    size_t after = heap_in_use();
    /* Back to the smallest heap: at most 64 slots kept. */
    ck_assert_msg(after <= before + 64 * sizeof(void *), "heap in use: %zu before "
                  "the timers, %zu with them, %zu after", before, during, after);
    event_loop_free(loop);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("timer");
    TCase *tc;

    tc = tcase_create("basic");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, init_is_not_armed);
    tcase_add_test(tc, now_is_the_monotonic_clock);
    tcase_add_test(tc, run_after_fires_once_on_time);
    tcase_add_test(tc, zero_delay_fires);
    tcase_add_test(tc, fire_in_deadline_order);
    tcase_add_test(tc, equal_deadlines_fifo);
    suite_add_tcase(s, tc);

    tc = tcase_create("cancel");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, cancel_prevents_firing);
    tcase_add_test(tc, cancel_earliest_rearms_for_next);
    tcase_add_test(tc, rearm_moves_deadline);
    tcase_add_test(tc, fn_may_free_its_timer);
    tcase_add_test(tc, fn_cancels_timer_due_same_round);
    tcase_add_test(tc, many_timers_with_cancellation);
    tcase_add_test(tc, free_with_armed_timers);
    tcase_add_test(tc, heap_is_given_back_when_timers_go);
    suite_add_tcase(s, tc);

    tc = tcase_create("repeat");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, run_every_repeats_until_cancelled);
    tcase_add_test(tc, run_every_zero_interval_refused);
    tcase_add_test(tc, fn_rearms_itself);
    tcase_add_test(tc, timers_and_cross_thread_quit);
    tcase_add_test(tc, rearming_zero_delay_timer_does_not_starve_io);
    suite_add_tcase(s, tc);

    return s;
}
