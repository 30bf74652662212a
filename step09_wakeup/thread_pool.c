/* thread_pool.c - see thread_pool.h. */
#include "thread_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct job {
    thread_pool_job fn;
    void *ctx;
};

#define RING_MIN 64                /* slots of a new ring */

/* One thread and its queue: a ring of jobs that grows when full and is
 * given back when a burst is over. */
struct worker {
    pthread_t thread;
    pthread_mutex_t lock;          /* guards everything below */
    pthread_cond_t nonempty;       /* signalled when a job is queued or on stop */
    struct job *jobs;              /* owned: the ring */
    size_t cap;                    /* slots in jobs */
    size_t head;                   /* next job to run */
    size_t count;                  /* jobs queued */
    bool stopping;                 /* set by thread_pool_free() */
    char name[24];                 /* thread name, for the log */
};

struct thread_pool {
    int nthreads;
    int started;                   /* threads created (for cleanup) */
    struct worker workers[];       /* nthreads of them */
};

static void *thread_main(void *arg)
{
    struct worker *w = arg;
    log_set_thread_name(w->name);
    pthread_setname_np(pthread_self(), w->name);   /* for ps -L, top -H */

    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (w->count == 0 && !w->stopping)
            pthread_cond_wait(&w->nonempty, &w->lock);
        if (w->count == 0)
            break;                         /* stopping, and nothing left */
        struct job job = w->jobs[w->head];
        w->head = (w->head + 1) % w->cap;
        if (--w->count == 0 && w->cap > RING_MIN) {
            /* A burst grew the ring, and is over: the next job starts a
             * small one (grow), so an idle pool pins no memory. */
            free(w->jobs);
            w->jobs = NULL;
            w->cap = 0;
            w->head = 0;
        }
        /* Run the job unlocked: it may take long, and may submit more. */
        pthread_mutex_unlock(&w->lock);
        job.fn(job.ctx);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

struct thread_pool *thread_pool_new(const char *name, int nthreads)
{
    if (nthreads < 1) {
        errno = EINVAL;
        return NULL;
    }
    struct thread_pool *pool =
        calloc(1, sizeof(*pool) + (size_t)nthreads * sizeof(struct worker));
    if (!pool)
        return NULL;
    pool->nthreads = nthreads;
    for (int i = 0; i < nthreads; i++) {
        struct worker *w = &pool->workers[i];
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->nonempty, NULL);
        snprintf(w->name, sizeof(w->name), "%.10s-%d", name, i + 1);
    }
    for (int i = 0; i < nthreads; i++) {
        int err = pthread_create(&pool->workers[i].thread, NULL, thread_main,
                                 &pool->workers[i]);
        if (err != 0) {
            thread_pool_free(pool);
            errno = err;
            return NULL;
        }
        pool->started++;
    }
    return pool;
}

void thread_pool_free(struct thread_pool *pool)
{
    if (!pool)
        return;
    for (int i = 0; i < pool->started; i++) {
        struct worker *w = &pool->workers[i];
        pthread_mutex_lock(&w->lock);
        w->stopping = true;
        pthread_cond_signal(&w->nonempty);
        pthread_mutex_unlock(&w->lock);
    }
    for (int i = 0; i < pool->started; i++)
        pthread_join(pool->workers[i].thread, NULL);
    for (int i = 0; i < pool->nthreads; i++) {
        struct worker *w = &pool->workers[i];
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->nonempty);
        free(w->jobs);
    }
    free(pool);
}

int thread_pool_size(const struct thread_pool *pool)
{
    return pool->nthreads;
}

/* Doubles the ring, unrolling it so the queue starts at slot 0. */
static int grow(struct worker *w)
{
    size_t cap = w->cap ? w->cap * 2 : RING_MIN;
    struct job *jobs = malloc(cap * sizeof(*jobs));
    if (!jobs)
        return -1;
    for (size_t i = 0; i < w->count; i++)
        jobs[i] = w->jobs[(w->head + i) % w->cap];
    free(w->jobs);
    w->jobs = jobs;
    w->cap = cap;
    w->head = 0;
    return 0;
}

int thread_pool_submit(struct thread_pool *pool, size_t key,
                       thread_pool_job fn, void *ctx)
{
    struct worker *w = &pool->workers[key % (size_t)pool->nthreads];
    pthread_mutex_lock(&w->lock);
    if (w->count == w->cap && grow(w) < 0) {
        pthread_mutex_unlock(&w->lock);
        errno = ENOMEM;
        return -1;
    }
    w->jobs[(w->head + w->count) % w->cap] = (struct job){ fn, ctx };
    w->count++;
    pthread_cond_signal(&w->nonempty);
    pthread_mutex_unlock(&w->lock);
    return 0;
}
