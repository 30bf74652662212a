/* test_thread_pool.c - unit tests of the ThreadPool class (thread_pool.h).
 *
 * Built by tests/Makefile (UNIT_MODULES "thread_pool:thread_pool.c,log.c")
 * against every step that has thread_pool.c (step08_threadpool on), with
 * unit_main.c as main(), ASan and UBSan:
 *
 *   make -C tests unit            -> build/tests/unit/thread_pool-NN
 *
 * By hand (also worth running with -fsanitize=thread instead):
 *
 *   cc -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -g -pthread \
 *      -fsanitize=address,undefined -Istep08_threadpool \
 *      tests/unit/test_thread_pool.c tests/unit/unit_main.c \
 *      step08_threadpool/thread_pool.c step08_threadpool/log.c \
 *      $(pkg-config --cflags --libs check) -o /tmp/tp-08 && /tmp/tp-08
 *
 * Asserted: thread_pool.h's contract. Jobs of a key run on thread
 * key % size, one at a time, in submission order; different threads run
 * at the same time; any thread may submit, jobs included; free() runs
 * every queued job before it returns; threads are named "<name>-N"; a
 * ring that a burst grew is given back once it is empty.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "thread_pool.h"
#include "unit.h"

/* ---- creation ----------------------------------------------------------- */

START_TEST(new_and_size)
{
    for (int n = 1; n <= 8; n *= 2) {
        struct thread_pool *pool = thread_pool_new("tp", n);
        ck_assert_ptr_nonnull(pool);
        ck_assert_int_eq(thread_pool_size(pool), n);
        thread_pool_free(pool);
    }
}
END_TEST

START_TEST(new_rejects_no_threads)
{
    errno = 0;
    ck_assert_ptr_null(thread_pool_new("tp", 0));
    ck_assert_int_ne(errno, 0);
    errno = 0;
    ck_assert_ptr_null(thread_pool_new("tp", -3));
    ck_assert_int_ne(errno, 0);
}
END_TEST

START_TEST(free_null_and_idle)
{
    thread_pool_free(NULL);
    struct thread_pool *pool = thread_pool_new("idle", 3);
    ck_assert_ptr_nonnull(pool);
    double t = now_s();
    thread_pool_free(pool);              /* nothing queued: returns at once */
    ck_assert_double_lt(now_s() - t, 2.0);
}
END_TEST

/* ---- which thread ------------------------------------------------------- */

#define NTHREADS 4
#define NKEYS 64

struct where {
    pthread_t thread[NKEYS];
    atomic_int ran[NKEYS];
};

struct where_job {
    struct where *w;
    int key;
};

static void record_thread(void *ctx)
{
    struct where_job *j = ctx;
    j->w->thread[j->key] = pthread_self();
    atomic_fetch_add(&j->w->ran[j->key], 1);
}

START_TEST(key_selects_thread)
{
    static struct where w;
    static struct where_job jobs[NKEYS];
    struct thread_pool *pool = thread_pool_new("tp", NTHREADS);
    ck_assert_ptr_nonnull(pool);
    for (int k = 0; k < NKEYS; k++) {
        jobs[k] = (struct where_job){ &w, k };
        ck_assert_int_eq(thread_pool_submit(pool, (size_t)k, record_thread,
                                            &jobs[k]), 0);
    }
    thread_pool_free(pool);              /* joins: the records are visible */

    for (int k = 0; k < NKEYS; k++) {
        ck_assert_int_eq(atomic_load(&w.ran[k]), 1);
        ck_assert(!pthread_equal(w.thread[k], pthread_self()));
        /* Same residue, same thread; different residue, different thread. */
        for (int k2 = 0; k2 < k; k2++)
            ck_assert_msg(pthread_equal(w.thread[k], w.thread[k2]) ==
                          (k % NTHREADS == k2 % NTHREADS),
                          "keys %d and %d: same thread %d", k, k2,
                          pthread_equal(w.thread[k], w.thread[k2]) != 0);
    }
}
END_TEST

START_TEST(huge_keys)
{
    /* Keys past INT_MAX map by key % size too (size_t arithmetic). */
    static struct where w;
    static struct where_job jobs[3];
    struct thread_pool *pool = thread_pool_new("tp", 3);
    ck_assert_ptr_nonnull(pool);
    size_t keys[3] = { SIZE_MAX, SIZE_MAX - 3, (size_t)1 << 40 };
    for (int i = 0; i < 3; i++) {
        jobs[i] = (struct where_job){ &w, i };
        ck_assert_int_eq(thread_pool_submit(pool, keys[i], record_thread,
                                            &jobs[i]), 0);
    }
    thread_pool_free(pool);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(atomic_load(&w.ran[i]), 1);
    /* SIZE_MAX and SIZE_MAX - 3 have the same residue mod 3. */
    ck_assert(pthread_equal(w.thread[0], w.thread[1]));
    ck_assert_uint_ne(SIZE_MAX % 3, ((size_t)1 << 40) % 3);
    ck_assert(!pthread_equal(w.thread[0], w.thread[2]));
}
END_TEST

/* ---- order and exclusion ------------------------------------------------ */

#define ORDER_KEYS 8
#define ORDER_JOBS 20000

struct order {
    int next[ORDER_KEYS];                /* next sequence number expected */
    atomic_int running[ORDER_KEYS];      /* jobs of the key running now */
    atomic_int errors;
};

struct order_job {
    struct order *o;
    int key;
    int seq;
};

static void ordered_job(void *ctx)
{
    struct order_job *j = ctx;
    struct order *o = j->o;
    if (atomic_fetch_add(&o->running[j->key], 1) != 0)
        atomic_fetch_add(&o->errors, 1);             /* two at a time */
    if (o->next[j->key] != j->seq)
        atomic_fetch_add(&o->errors, 1);             /* out of order */
    o->next[j->key] = j->seq + 1;
    atomic_fetch_sub(&o->running[j->key], 1);
}

START_TEST(same_key_in_submission_order)
{
    static struct order o;
    struct order_job *jobs = calloc(ORDER_JOBS, sizeof(*jobs));
    int seq[ORDER_KEYS] = {0};
    ck_assert_ptr_nonnull(jobs);
    /* 3 threads, 8 keys: several keys share a thread. */
    struct thread_pool *pool = thread_pool_new("ord", 3);
    ck_assert_ptr_nonnull(pool);
    unsigned r = 12345;
    for (int i = 0; i < ORDER_JOBS; i++) {
        r = r * 1103515245u + 12345u;
        int key = (int)((r >> 16) % ORDER_KEYS);
        jobs[i] = (struct order_job){ &o, key, seq[key]++ };
        ck_assert_int_eq(thread_pool_submit(pool, (size_t)key, ordered_job,
                                            &jobs[i]), 0);
    }
    thread_pool_free(pool);
    ck_assert_int_eq(atomic_load(&o.errors), 0);
    for (int k = 0; k < ORDER_KEYS; k++)
        ck_assert_int_eq(o.next[k], seq[k]);         /* every job ran */
    free(jobs);
}
END_TEST

/* Many producers at once; per producer and key, order is kept. */
#define PRODUCERS 4
#define PER_PRODUCER 5000

struct mp {
    struct thread_pool *pool;
    int next[PRODUCERS][ORDER_KEYS];
    atomic_int errors;
    atomic_int ran;
};

struct mp_job {
    struct mp *m;
    int producer, key, seq;
};

static void mp_job_fn(void *ctx)
{
    struct mp_job *j = ctx;
    if (j->m->next[j->producer][j->key] != j->seq)
        atomic_fetch_add(&j->m->errors, 1);
    j->m->next[j->producer][j->key] = j->seq + 1;
    atomic_fetch_add(&j->m->ran, 1);
}

struct producer_arg {
    struct mp *m;
    int id;
    struct mp_job *jobs;
    int failed;
};

static void *producer(void *arg)
{
    struct producer_arg *p = arg;
    int seq[ORDER_KEYS] = {0};
    for (int i = 0; i < PER_PRODUCER; i++) {
        int key = (i * 7 + p->id) % ORDER_KEYS;
        p->jobs[i] = (struct mp_job){ p->m, p->id, key, seq[key]++ };
        if (thread_pool_submit(p->m->pool, (size_t)key, mp_job_fn,
                               &p->jobs[i]) != 0)
            p->failed++;
    }
    return NULL;
}

START_TEST(submit_from_many_threads)
{
    static struct mp m;
    struct producer_arg args[PRODUCERS];
    pthread_t th[PRODUCERS];
    m.pool = thread_pool_new("mp", 3);
    ck_assert_ptr_nonnull(m.pool);
    for (int i = 0; i < PRODUCERS; i++) {
        args[i] = (struct producer_arg){ &m, i,
                                         calloc(PER_PRODUCER, sizeof(struct mp_job)), 0 };
        ck_assert_ptr_nonnull(args[i].jobs);
        ck_assert_int_eq(pthread_create(&th[i], NULL, producer, &args[i]), 0);
    }
    for (int i = 0; i < PRODUCERS; i++)
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    thread_pool_free(m.pool);
    for (int i = 0; i < PRODUCERS; i++) {
        ck_assert_int_eq(args[i].failed, 0);
        free(args[i].jobs);
    }
    ck_assert_int_eq(atomic_load(&m.ran), PRODUCERS * PER_PRODUCER);
    ck_assert_int_eq(atomic_load(&m.errors), 0);
}
END_TEST

/* ---- concurrency -------------------------------------------------------- */

struct rendezvous {
    atomic_int arrived;
    int n;
    atomic_int met;
};

/* Waits (up to 5 s) until all n jobs are running at the same time. */
static void meet(void *ctx)
{
    struct rendezvous *r = ctx;
    atomic_fetch_add(&r->arrived, 1);
    double deadline = now_s() + 5.0;
    while (atomic_load(&r->arrived) < r->n && now_s() < deadline)
        sleep_ms(1);
    if (atomic_load(&r->arrived) >= r->n)
        atomic_fetch_add(&r->met, 1);
}

START_TEST(threads_run_in_parallel)
{
    static struct rendezvous r;
    r.n = 4;
    struct thread_pool *pool = thread_pool_new("par", 4);
    ck_assert_ptr_nonnull(pool);
    for (int k = 0; k < 4; k++)
        ck_assert_int_eq(thread_pool_submit(pool, (size_t)k, meet, &r), 0);
    thread_pool_free(pool);
    ck_assert_int_eq(atomic_load(&r.met), 4);
}
END_TEST

/* A job that blocks its thread must not hold up the others. */
struct gate {
    atomic_int open;
    atomic_int started;
};

static void wait_gate(void *ctx)
{
    struct gate *g = ctx;
    atomic_store(&g->started, 1);
    double deadline = now_s() + 10.0;
    while (!atomic_load(&g->open) && now_s() < deadline)
        sleep_ms(1);
}

static void count_job(void *ctx)
{
    atomic_fetch_add((atomic_int *)ctx, 1);
}

START_TEST(blocked_thread_does_not_block_others)
{
    static struct gate g;
    static atomic_int done;
    struct thread_pool *pool = thread_pool_new("blk", 2);
    ck_assert_ptr_nonnull(pool);
    ck_assert_int_eq(thread_pool_submit(pool, 0, wait_gate, &g), 0);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(thread_pool_submit(pool, 1, count_job, &done), 0);
    double deadline = now_s() + 5.0;
    while (atomic_load(&done) < 100 && now_s() < deadline)
        sleep_ms(1);
    ck_assert_int_eq(atomic_load(&done), 100);
    atomic_store(&g.open, 1);
    thread_pool_free(pool);
}
END_TEST

/* ---- queue growth ------------------------------------------------------- */

START_TEST(queue_grows_across_wraparound)
{
    /* The thread is held by a gate job while many jobs queue up behind it,
     * after others have already been taken off the queue (so the queue
     * does not start at its front when it has to grow). */
    static struct gate g;
    static struct order o;
    enum { N = 5000 };
    struct order_job *jobs = calloc(N, sizeof(*jobs));
    ck_assert_ptr_nonnull(jobs);
    struct thread_pool *pool = thread_pool_new("ring", 1);
    ck_assert_ptr_nonnull(pool);

    for (int i = 0; i < 10; i++) {              /* move the queue's head */
        jobs[i] = (struct order_job){ &o, 0, i };
        ck_assert_int_eq(thread_pool_submit(pool, 0, ordered_job, &jobs[i]), 0);
    }
    ck_assert_int_eq(thread_pool_submit(pool, 0, wait_gate, &g), 0);
    double deadline = now_s() + 5.0;
    while (!atomic_load(&g.started) && now_s() < deadline)
        sleep_ms(1);
    ck_assert(atomic_load(&g.started));
    for (int i = 10; i < N; i++) {              /* queued behind the gate */
        jobs[i] = (struct order_job){ &o, 0, i };
        ck_assert_int_eq(thread_pool_submit(pool, 0, ordered_job, &jobs[i]), 0);
    }
    atomic_store(&g.open, 1);
    thread_pool_free(pool);
    ck_assert_int_eq(atomic_load(&o.errors), 0);
    ck_assert_int_eq(o.next[0], N);
    free(jobs);
}
END_TEST

/* ---- free runs what is queued ------------------------------------------- */

static void slow_job(void *ctx)
{
    sleep_ms(200);
    atomic_fetch_add((atomic_int *)ctx, 1);
}

START_TEST(free_runs_every_queued_job)
{
    static atomic_int done;
    struct thread_pool *pool = thread_pool_new("drain", 2);
    ck_assert_ptr_nonnull(pool);
    /* Slow jobs first, so most are still queued when free() is called. */
    for (int k = 0; k < 2; k++)
        ck_assert_int_eq(thread_pool_submit(pool, (size_t)k, slow_job, &done), 0);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(thread_pool_submit(pool, (size_t)i, count_job, &done), 0);
    ck_assert_int_lt(atomic_load(&done), 1002);
    thread_pool_free(pool);
    ck_assert_int_eq(atomic_load(&done), 1002);
}
END_TEST

/* Jobs that submit jobs: on the same key, the new job runs after it. */
struct chain {
    struct thread_pool *pool;
    atomic_int steps;
    int limit;
    pthread_t thread;
    atomic_int errors;
};

static void chain_job(void *ctx)
{
    struct chain *c = ctx;
    int step = atomic_fetch_add(&c->steps, 1);
    if (step == 0)
        c->thread = pthread_self();
    else if (!pthread_equal(c->thread, pthread_self()))
        atomic_fetch_add(&c->errors, 1);
    if (step + 1 < c->limit &&
        thread_pool_submit(c->pool, 5, chain_job, c) != 0)
        atomic_fetch_add(&c->errors, 1);
}

START_TEST(job_submits_job)
{
    static struct chain c;
    c.pool = thread_pool_new("chain", 2);
    ck_assert_ptr_nonnull(c.pool);
    c.limit = 1000;
    ck_assert_int_eq(thread_pool_submit(c.pool, 5, chain_job, &c), 0);
    double deadline = now_s() + 10.0;
    while (atomic_load(&c.steps) < c.limit && now_s() < deadline)
        sleep_ms(1);
    ck_assert_int_eq(atomic_load(&c.steps), c.limit);
    thread_pool_free(c.pool);
    ck_assert_int_eq(atomic_load(&c.steps), c.limit);
    ck_assert_int_eq(atomic_load(&c.errors), 0);
}
END_TEST

/* ---- thread names ------------------------------------------------------- */

#include "log.h"

static void log_probe(void *ctx)
{
    log_warn("probe %d", *(int *)ctx);
}

START_TEST(threads_are_named)
{
    /* Log lines from pool threads say "[<name>-N]", N = key % size + 1. */
    int p[2];
    static int ids[3] = {0, 1, 2};
    make_pipe(p, 0);
    int saved = dup(2);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_eq(dup2(p[1], 2), 2);

    struct thread_pool *pool = thread_pool_new("tp", 3);
    if (pool) {
        for (int k = 0; k < 3; k++)
            thread_pool_submit(pool, (size_t)k, log_probe, &ids[k]);
        thread_pool_free(pool);
    }
    dup2(saved, 2);
    close(saved);
    close(p[1]);
    ck_assert_ptr_nonnull(pool);

    char out[4096];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof(out) - 1 &&
           (n = read(p[0], out + len, sizeof(out) - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(p[0]);
    ck_assert_msg(strstr(out, "[tp-1] probe 0") != NULL, "log: %s", out);
    ck_assert_msg(strstr(out, "[tp-2] probe 1") != NULL, "log: %s", out);
    ck_assert_msg(strstr(out, "[tp-3] probe 2") != NULL, "log: %s", out);
}
END_TEST

/* ---- memory -------------------------------------------------------------- */

START_TEST(ring_is_given_back_after_a_burst)
{
    enum { BURST = 10000 };
    static struct gate g;
    static atomic_int ran;
    struct thread_pool *pool = thread_pool_new("burst", 1);
    ck_assert_ptr_nonnull(pool);
    ck_assert_int_eq(thread_pool_submit(pool, 0, wait_gate, &g), 0);
    size_t before = heap_in_use();
    for (int i = 0; i < BURST; i++)
        ck_assert_int_eq(thread_pool_submit(pool, 0, count_job, &ran), 0);
    size_t during = heap_in_use();
    /* A job is a function and a pointer: the ring grew by that a job. */
    ck_assert_uint_ge(during - before, BURST * 2 * sizeof(void *));

    atomic_store(&g.open, 1);
    double deadline = now_s() + 10;
    while (atomic_load(&ran) < BURST && now_s() < deadline)
        sleep_ms(1);
    ck_assert_int_eq(atomic_load(&ran), BURST);
    /* The worker gave the ring back when it took the last job. */
    size_t after = heap_in_use();
    ck_assert_msg(after <= before, "heap in use: %zu before the burst, %zu during, "
                  "%zu after", before, during, after);
    thread_pool_free(pool);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("thread_pool");
    TCase *tc;

    tc = tcase_create("create");
    tcase_add_test(tc, new_and_size);
    tcase_add_test(tc, new_rejects_no_threads);
    tcase_add_test(tc, free_null_and_idle);
    suite_add_tcase(s, tc);

    tc = tcase_create("keys");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, key_selects_thread);
    tcase_add_test(tc, huge_keys);
    tcase_add_test(tc, same_key_in_submission_order);
    tcase_add_test(tc, submit_from_many_threads);
    suite_add_tcase(s, tc);

    tc = tcase_create("memory");
    tcase_add_test(tc, ring_is_given_back_after_a_burst);
    suite_add_tcase(s, tc);

    tc = tcase_create("run");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, threads_run_in_parallel);
    tcase_add_test(tc, blocked_thread_does_not_block_others);
    tcase_add_test(tc, queue_grows_across_wraparound);
    tcase_add_test(tc, free_runs_every_queued_job);
    tcase_add_test(tc, job_submits_job);
    tcase_add_test(tc, threads_are_named);
    suite_add_tcase(s, tc);

    return s;
}
