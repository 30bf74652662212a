/* thread_pool.h - the ThreadPool class: N threads, one job queue each.
 *
 * A job submitted with key k runs on thread k % N, after every job
 * submitted earlier with a key that maps to the same thread: jobs of one
 * key run in submission order, one at a time. The server uses that twice:
 * an I/O pool whose threads each run one event loop (one long job each),
 * and a worker pool where all messages of a connection share a key, so
 * their replies stay in request order.
 *
 * Any thread may submit. thread_pool_free() is for the thread that created
 * the pool: it lets every queued job run, then joins the threads.
 */
#ifndef THREAD_POOL_H
#define THREAD_POOL_H

#include <stddef.h>

struct thread_pool;

typedef void (*thread_pool_job)(void *ctx);

/* Starts nthreads threads named "<name>-1" ... (nthreads >= 1). NULL with
 * errno on failure. */
struct thread_pool *thread_pool_new(const char *name, int nthreads);

/* Runs every job already queued, stops and joins the threads, frees. */
void thread_pool_free(struct thread_pool *pool);

int thread_pool_size(const struct thread_pool *pool);

/* Queues fn(ctx) on thread key % size. -1 with errno ENOMEM. */
int thread_pool_submit(struct thread_pool *pool, size_t key,
                       thread_pool_job fn, void *ctx);

#endif
