/* event_loop.h - the EventLoop class: one loop, one thread, one epoll set.
 *
 * The loop owns its struct epoll. Channels belong to a loop: they update
 * and remove themselves through it, and the loop dispatches their events.
 * A loop belongs to the thread that created it, which is the thread that
 * runs it; only that thread may touch the loop or its channels. Other
 * threads hand it work: event_loop_run_in_loop() and _queue_in_loop() put
 * a task in the loop's queue and wake the loop through its eventfd; the
 * loop runs queued tasks after each round of events.
 *
 * Timers: the loop keeps its timers in a min-heap ordered by deadline and
 * arms one timerfd, watched like any channel, for the earliest. A timer's
 * memory belongs to its owner (embed a struct timer); the loop only points
 * at it while it is armed. Timer functions are for the loop's thread.
 */
#ifndef EVENT_LOOP_H
#define EVENT_LOOP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct channel;
struct event_loop;

typedef void (*event_loop_task)(void *ctx);

/* A notice its owner embeds, for news the loop must not miss: posting it
 * allocates nothing, so it cannot fail, and posting it again before it ran
 * does nothing (the posts coalesce, as libuv's uv_async_send does). */
struct loop_notice {
    event_loop_task fn;            /* runs in the loop's thread */
    void *ctx;                     /* for fn; not owned */
    struct loop_notice *next;      /* the loop's list, while posted */
    atomic_bool posted;            /* queued, fn not started yet */
};

#define TIMER_IDLE ((size_t)-1)  /* heap_index of a timer that is not armed */

struct timer {
    uint64_t when_ms;          /* deadline, on the loop's monotonic clock */
    uint64_t interval_ms;      /* 0: once; else rearmed this much later */
    uint64_t seq;              /* arming order: equal deadlines run FIFO */
    event_loop_task fn;        /* runs in the loop's thread */
    void *ctx;                 /* for fn; not owned */
    size_t heap_index;         /* place in the loop's heap, or TIMER_IDLE */
};

struct event_loop *event_loop_new(void);       /* NULL with errno on failure */

/* Runs the tasks still queued (so they can drop what they hold), then frees
 * the loop. Its thread must have stopped running it. */
void event_loop_free(struct event_loop *loop);

/* Waits for events and dispatches them, then runs queued tasks, until
 * event_loop_quit(). Returns 0, or -1 with errno if waiting fails. The
 * quit is taken on the way out: the loop may be run again. */
int event_loop_run(struct event_loop *loop);

/* Makes event_loop_run() return after the current round. Any thread: a
 * loop blocked in epoll_wait() is woken. */
void event_loop_quit(struct event_loop *loop);

/* Runs fn(ctx) now if called in the loop's thread, else queues it like
 * event_loop_queue_in_loop(). Any thread. -1 with errno ENOMEM. */
int event_loop_run_in_loop(struct event_loop *loop, event_loop_task fn,
                           void *ctx);

/* Queues fn(ctx) to run in the loop's thread after the current round of
 * events, in the order queued, and wakes the loop. Any thread; a task may
 * queue more tasks. -1 with errno ENOMEM. */
int event_loop_queue_in_loop(struct event_loop *loop, event_loop_task fn,
                             void *ctx);

void loop_notice_init(struct loop_notice *n, event_loop_task fn, void *ctx);

/* Queues n to run in the loop's thread, after the tasks queued before it,
 * unless it is queued already. Any thread. True if this call queued it:
 * the caller then keeps what ctx points at alive until fn has run. */
bool event_loop_post_notice(struct event_loop *loop, struct loop_notice *n);

/* Whether the calling thread is the loop's own. Any thread. */
bool event_loop_is_in_loop_thread(const struct event_loop *loop);

/* Aborts, naming the caller, unless the calling thread is the loop's own:
 * the thread rules of the headers, checked in every build (as muduo's
 * assertInLoopThread). */
#define event_loop_assert_in_loop_thread(loop) \
    event_loop_check_thread((loop), __func__)
void event_loop_check_thread(const struct event_loop *loop, const char *caller);

/* The loop's thread has stopped running it for good (it was joined): the
 * calling thread takes the loop over, to close what the loop still holds
 * and free it. */
void event_loop_adopt(struct event_loop *loop);

/* Prepares a timer that is not armed. */
void timer_init(struct timer *t);
bool timer_is_armed(const struct timer *t);

/* Arms t to run fn(ctx) once, delay_ms from now (re-arms it if armed).
 * -1 with errno ENOMEM. */
int event_loop_run_after(struct event_loop *loop, struct timer *t,
                         uint64_t delay_ms, event_loop_task fn, void *ctx);

/* Arms t to run fn(ctx) every interval_ms (> 0), the first time
 * interval_ms from now. -1 with errno ENOMEM. */
int event_loop_run_every(struct event_loop *loop, struct timer *t,
                         uint64_t interval_ms, event_loop_task fn, void *ctx);

/* Disarms t; nothing happens if it is not armed. A timer's fn may cancel
 * any timer, itself included. A one-shot timer's fn may free the timer's
 * memory; a repeating one is armed again when its fn runs, so its fn must
 * cancel it first. */
void event_loop_cancel(struct event_loop *loop, struct timer *t);

/* The loop's clock: monotonic milliseconds, read before each handler, each
 * run of the tasks and each pass over the timers (a vDSO call, about 40
 * ns here): the time a handler stamps is its own, however long the round. */
uint64_t event_loop_now(const struct event_loop *loop);

/* For channel.c: add or modify ch in the epoll set, or remove it. A channel
 * removed while the loop dispatches a round is not dispatched later in
 * that round, even if epoll reported it. */
int event_loop_update_channel(struct event_loop *loop, struct channel *ch);
void event_loop_remove_channel(struct event_loop *loop, struct channel *ch);

#endif
