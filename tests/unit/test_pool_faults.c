/* test_pool_faults.c - the ThreadPool class (thread_pool.h) when memory or
 * threads run out, injected with fault.h.
 *
 * Every step from step08_threadpool on.
 *
 * tests/Makefile hook:
 *   UNIT_MODULES += pool_faults:thread_pool.c,log.c
 *   UNIT_WRAP_pool_faults := malloc calloc pthread_create
 *
 * By hand:
 *
 *   cc -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -g -pthread \
 *      -fsanitize=address,undefined -DUNIT_STEP=10 -Istep10_timer \
 *      -Wl,--wrap=malloc,--wrap=calloc,--wrap=pthread_create \
 *      tests/unit/test_pool_faults.c tests/unit/unit_main.c \
 *      step10_timer/{thread_pool,log}.c \
 *      $(pkg-config --cflags --libs check) -o /tmp/pf-10 && /tmp/pf-10
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fault.h"
#include "thread_pool.h"
#include "unit.h"

FAULT_WRAP(void *, malloc, (size_t n), (n), NULL, ENOMEM)
FAULT_WRAP(void *, calloc, (size_t n, size_t size), (n, size), NULL, ENOMEM)
FAULT_WRAP_PTHREAD_CREATE(EAGAIN)

START_TEST(new_fails_cleanly_at_every_call)
{
    /* 3 threads: the pool's memory, then each thread, may be refused. The
     * threads already started are stopped and joined. */
    int threads = fault_threads();
    int failed_creates = 0, failed_allocs = 0;
    long n;
    for (n = 1; n < 50; n++) {
        fault_reset();
        fault_add(FAULT(malloc) | FAULT(calloc) | FAULT(pthread_create), n, 1, 0);
        errno = 0;
        struct thread_pool *pool = thread_pool_new("pf", 3);
        int err = errno;
        fault_clear();
        if (fault_injected() == 0) {
            ck_assert_ptr_nonnull(pool);
            ck_assert_int_eq(thread_pool_size(pool), 3);
            thread_pool_free(pool);
            break;
        }
        const char *fn = fault_last();
        int want = strcmp(fn, "pthread_create") == 0 ? EAGAIN : ENOMEM;
        ck_assert_msg(pool == NULL, "thread_pool_new() succeeded although "
                      "call %ld (%s) failed", n, fn);
        ck_assert_msg(err == want, "call %ld (%s) failed: errno %d (%s), want %s",
                      n, fn, err, strerror(err), strerror(want));
        ck_assert_msg(fault_threads() == threads, "call %ld (%s) failed: %d "
                      "threads, %d before", n, fn, fault_threads(), threads);
        ck_assert_msg(fault_leak_check() == 0, "call %ld (%s) failed: memory "
                      "leaked (see the LeakSanitizer report)", n, fn);
        if (strcmp(fn, "pthread_create") == 0)
            failed_creates++;
        else
            failed_allocs++;
    }
    ck_assert_int_lt(n, 50);
    ck_assert_int_ge(failed_allocs, 1);
    ck_assert_int_eq(failed_creates, 3);       /* the 1st, 2nd, 3rd thread */
    ck_assert_int_eq(fault_threads(), threads);
}
END_TEST

struct gate {
    atomic_int open;
    atomic_int started;
};

static void wait_gate(void *ctx)
{
    struct gate *g = ctx;
    atomic_store(&g->started, 1);
    for (int i = 0; i < 10000 && !atomic_load(&g->open); i++)
        sleep_ms(1);
}

struct order {
    int next;                    /* the seq expected next */
    int runs;
    int errors;
};

struct order_job {
    struct order *o;
    int seq;
};

static void ordered_job(void *ctx)
{
    struct order_job *j = ctx;
    if (j->seq != j->o->next)
        j->o->errors++;
    j->o->next = j->seq + 1;
    j->o->runs++;
}

START_TEST(submit_when_queue_cannot_grow)
{
    enum { RING = 64 };                        /* the first ring's slots */
    static struct gate g;
    static struct order o;
    static struct order_job jobs[RING + 1], refused = { &o, 1000 };
    struct thread_pool *pool = thread_pool_new("pf", 1);
    ck_assert_ptr_nonnull(pool);

    /* The very first job needs a ring: refused, errno ENOMEM. */
    fault_reset();
    fault_add(FAULT(malloc) | FAULT(calloc), 1, 1, 0);
    errno = 0;
    ck_assert_int_eq(thread_pool_submit(pool, 0, ordered_job, &refused), -1);
    ck_assert_int_eq(errno, ENOMEM);
    fault_clear();
    ck_assert_int_eq(fault_injected(), 1);

    /* Hold the thread, fill the ring. */
    ck_assert_int_eq(thread_pool_submit(pool, 0, wait_gate, &g), 0);
    for (int i = 0; i < 5000 && !atomic_load(&g.started); i++)
        sleep_ms(1);
    ck_assert(atomic_load(&g.started));
    for (int i = 0; i < RING; i++) {
        jobs[i] = (struct order_job){ &o, i };
        ck_assert_int_eq(thread_pool_submit(pool, 0, ordered_job, &jobs[i]), 0);
    }
    /* Full: growing it fails. */
    fault_reset();
    fault_add(FAULT(malloc) | FAULT(calloc), 1, 1, 0);
    errno = 0;
    ck_assert_int_eq(thread_pool_submit(pool, 0, ordered_job, &refused), -1);
    ck_assert_int_eq(errno, ENOMEM);
    fault_clear();
    ck_assert_int_eq(fault_injected(), 1);

    /* With memory back the ring grows; the queue kept its order. */
    jobs[RING] = (struct order_job){ &o, RING };
    ck_assert_int_eq(thread_pool_submit(pool, 0, ordered_job, &jobs[RING]), 0);
    atomic_store(&g.open, 1);
    thread_pool_free(pool);
    ck_assert_int_eq(o.runs, RING + 1);        /* the refused ones never ran */
    ck_assert_int_eq(o.errors, 0);
    ck_assert_int_eq(o.next, RING + 1);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("pool_faults");
    TCase *tc = tcase_create("faults");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, new_fails_cleanly_at_every_call);
    tcase_add_test(tc, submit_when_queue_cannot_grow);
    suite_add_tcase(s, tc);
    return s;
}
