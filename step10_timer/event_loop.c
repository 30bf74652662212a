/* event_loop.c - see event_loop.h. */
#include "event_loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "channel.h"
#include "epoll.h"
#include "log.h"
#include "timestamp.h"

struct task {
    event_loop_task fn;
    void *ctx;
};

#define TASKS_MIN 64               /* slots of a new task array */

/* A growable array of tasks. */
struct task_list {
    struct task *tasks;                        /* owned */
    size_t count;
    size_t cap;
};

struct event_loop {
    struct epoll *ep;                          /* owned */
    pthread_t thread;                          /* the creator, which runs it */
    atomic_bool quit;                          /* set by event_loop_quit() */
    struct channel *active[EPOLL_MAX_EVENTS];  /* this round's ready channels */
    int nactive;                               /* entries in active */
    int dispatching;                           /* index being handled, or -1 */
    unsigned long rounds;                      /* rounds traced (LOG_LEVEL=trace) */
    int wakeup_fd;                             /* owned: an eventfd */
    struct channel wakeup_channel;             /* reads wakeup_fd */
    atomic_bool wakeup_pending;                /* written since the last take */
    pthread_mutex_t lock;                      /* guards queued, notices */
    struct task_list queued;                   /* tasks for the next run */
    struct loop_notice *notices;               /* posted, in order; not owned */
    struct loop_notice **notices_tail;         /* where the next one goes */
    struct task_list running;                  /* loop thread: the run now */
    uint64_t now_ms;                           /* the clock at this wake-up */
    int timer_fd;                              /* owned: a timerfd */
    struct channel timer_channel;              /* reads timer_fd */
    uint64_t timer_fd_when;                    /* its deadline; 0: disarmed */
    struct timer **heap;                       /* owned array; timers aren't */
    size_t nheap;                              /* armed timers */
    size_t heap_cap;                           /* slots in heap */
    uint64_t timer_seq;                        /* next struct timer.seq */
    bool running_timers;                       /* in handle_timers */
};

/* Makes epoll_wait() return: one 8-byte write to the eventfd. Skipped if
 * another write happened since the loop last took its queue: that one
 * will make the loop take this task too. */
static void wakeup(struct event_loop *loop)
{
    if (atomic_exchange(&loop->wakeup_pending, true))
        return;
    uint64_t one = 1;
    ssize_t n;
    do {
        n = write(loop->wakeup_fd, &one, sizeof(one));
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        log_error("eventfd write: %s", strerror(errno));
}

/* The wake-up channel's read callback: drain the eventfd, or a
 * level-triggered fd would wake the loop again and again. */
static void handle_wakeup(void *ctx)
{
    struct event_loop *loop = ctx;
    uint64_t count;
    if (read(loop->wakeup_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
        log_error("eventfd read: %s", strerror(errno));
}

/* --- LOG_LEVEL=trace: each round of the loop on standard error. Out of
 * line and cold: with tracing off, a round pays one compare of the level. */

static __attribute__((noinline, cold)) void trace_round(struct event_loop *loop)
{
    log_trace("round %lu: %d ready", ++loop->rounds, loop->nactive);
}

static __attribute__((noinline, cold)) void trace_dispatch(const struct channel *ch)
{
    static const struct { uint32_t bit; const char *name; } names[] = {
        { EPOLLIN, "IN" }, { EPOLLPRI, "PRI" }, { EPOLLOUT, "OUT" },
        { EPOLLRDHUP, "RDHUP" }, { EPOLLHUP, "HUP" }, { EPOLLERR, "ERR" },
    };
    if (!ch) {
        log_trace("  a channel closed earlier in this round: skipped");
        return;
    }
    char events[48] = "";
    size_t len = 0;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if ((ch->revents & names[i].bit) && len < sizeof(events))
            len += (size_t)snprintf(events + len, sizeof(events) - len, "%s%s",
                                    len ? "|" : "", names[i].name);
    log_trace("  fd %d %s: dispatch", ch->fd, events);
}

static __attribute__((noinline, cold)) void trace_tasks(size_t ntasks,
                                                        const struct loop_notice *n)
{
    size_t nnotices = 0;
    for (; n; n = n->next)
        nnotices++;
    if (ntasks + nnotices > 0)
        log_trace("  run %zu task%s, %zu notice%s", ntasks, ntasks == 1 ? "" : "s",
                  nnotices, nnotices == 1 ? "" : "s");
}

/* Takes the queue and the notices under the lock and runs them outside the
 * lock: a task may take long, may queue more tasks (they run in the next
 * round), and never blocks a thread that queues. */
static void run_tasks(struct event_loop *loop)
{
    pthread_mutex_lock(&loop->lock);
    struct task_list taken = loop->queued;
    loop->queued = loop->running;              /* reuse the old array */
    struct loop_notice *notices = loop->notices;
    loop->notices = NULL;
    loop->notices_tail = &loop->notices;
    /* Cleared with the take, under the lock: a task queued from now on
     * is not in taken, so its queuer must write again. */
    atomic_store(&loop->wakeup_pending, false);
    pthread_mutex_unlock(&loop->lock);

    if (log_enabled(LOG_LEVEL_TRACE))
        trace_tasks(taken.count, notices);
    for (size_t i = 0; i < taken.count; i++)
        taken.tasks[i].fn(taken.tasks[i].ctx);
    /* After the tasks taken with them: a thread that queued a task and
     * then posted a notice finds them run in that order. */
    while (notices) {
        struct loop_notice *n = notices;
        notices = n->next;                     /* fn may free n */
        atomic_store(&n->posted, false);       /* a post from now on queues */
        n->fn(n->ctx);
    }
    if (taken.cap > TASKS_MIN && taken.count < taken.cap / 4) {
        /* A burst grew the array, and is over: the next queue starts a
         * small one, so an idle loop pins no memory. */
        free(taken.tasks);
        taken.tasks = NULL;
        taken.cap = 0;
    }
    taken.count = 0;
    loop->running = taken;
}

/* --- Timers: a binary min-heap of armed timers. --- */

#define HEAP_MIN 64                /* slots of a new heap */

static bool earlier(const struct timer *a, const struct timer *b)
{
    return a->when_ms < b->when_ms ||
           (a->when_ms == b->when_ms && a->seq < b->seq);
}

static void heap_set(struct event_loop *loop, size_t i, struct timer *t)
{
    loop->heap[i] = t;
    t->heap_index = i;
}

static void sift_up(struct event_loop *loop, size_t i)
{
    struct timer *t = loop->heap[i];
    while (i > 0 && earlier(t, loop->heap[(i - 1) / 2])) {
        heap_set(loop, i, loop->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(loop, i, t);
}

static void sift_down(struct event_loop *loop, size_t i)
{
    struct timer *t = loop->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= loop->nheap)
            break;
        if (child + 1 < loop->nheap &&
            earlier(loop->heap[child + 1], loop->heap[child]))
            child++;
        if (!earlier(loop->heap[child], t))
            break;
        heap_set(loop, i, loop->heap[child]);
        i = child;
    }
    heap_set(loop, i, t);
}

static void heap_remove(struct event_loop *loop, struct timer *t)
{
    size_t i = t->heap_index;
    struct timer *last = loop->heap[--loop->nheap];
    t->heap_index = TIMER_IDLE;
    if (last != t) {
        heap_set(loop, i, last);
        sift_up(loop, i);
        sift_down(loop, last->heap_index);
    }
    if (loop->heap_cap > HEAP_MIN && loop->nheap < loop->heap_cap / 4) {
        /* Far fewer timers than slots, after a crowd has gone: give half
         * back (a realloc that fails keeps them all). */
        struct timer **heap = realloc(loop->heap,
                                      loop->heap_cap / 2 * sizeof(*heap));
        if (heap) {
            loop->heap = heap;
            loop->heap_cap /= 2;
        }
    }
}

static int heap_push(struct event_loop *loop, struct timer *t)
{
    if (loop->nheap == loop->heap_cap) {
        size_t cap = loop->heap_cap ? loop->heap_cap * 2 : HEAP_MIN;
        struct timer **heap = realloc(loop->heap, cap * sizeof(*heap));
        if (!heap)
            return -1;
        loop->heap = heap;
        loop->heap_cap = cap;
    }
    heap_set(loop, loop->nheap++, t);
    sift_up(loop, t->heap_index);
    return 0;
}

/* Points the timerfd at the earliest deadline, with one syscall, and only
 * when that deadline changed: timers coming and going later cost nothing. */
static void arm_timer_fd(struct event_loop *loop)
{
    if (loop->running_timers)
        return;                                /* handle_timers arms at the end */
    uint64_t when = loop->nheap ? loop->heap[0]->when_ms : 0;
    if (when == loop->timer_fd_when)
        return;
    /* An absolute deadline (one already past fires at once); all zeros
     * disarm. A monotonic deadline is never 0. */
    struct itimerspec its = { 0 };
    its.it_value.tv_sec = (time_t)(when / 1000);
    its.it_value.tv_nsec = (long)(when % 1000) * 1000000;
    if (timerfd_settime(loop->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
        log_error("timerfd_settime: %s", strerror(errno));
        return;
    }
    loop->timer_fd_when = when;
}

/* The timerfd's read callback: run every timer that is due. A repeating
 * timer is re-armed before its fn runs, so fn may cancel it; nothing
 * touches a timer after its fn ran, so fn may free it. Only timers armed
 * before this pass run in it: a timer that re-arms itself with no delay
 * waits for the next pass instead of starving the loop's other fds. */
static void handle_timers(void *ctx)
{
    struct event_loop *loop = ctx;
    uint64_t expirations;
    if (read(loop->timer_fd, &expirations, sizeof(expirations)) < 0 &&
        errno != EAGAIN)
        log_error("timerfd read: %s", strerror(errno));
    loop->timer_fd_when = 0;                   /* it fired: disarmed */
    loop->now_ms = timestamp_now_ms();

    uint64_t armed_before = loop->timer_seq;
    size_t fired = 0;
    loop->running_timers = true;
    while (loop->nheap > 0 && loop->heap[0]->when_ms <= loop->now_ms &&
           loop->heap[0]->seq < armed_before) {
        struct timer *t = loop->heap[0];
        heap_remove(loop, t);
        fired++;
        if (t->interval_ms) {
            /* The next beat, not a burst of the ones missed. */
            t->when_ms += t->interval_ms;
            if (t->when_ms <= loop->now_ms)
                t->when_ms = loop->now_ms + t->interval_ms;
            t->seq = loop->timer_seq++;
            if (heap_push(loop, t) < 0)
                log_error("timer: %s", strerror(errno));
        }
        t->fn(t->ctx);
    }
    loop->running_timers = false;
    if (log_enabled(LOG_LEVEL_TRACE))
        log_trace("  %zu timer%s fired", fired, fired == 1 ? "" : "s");
    arm_timer_fd(loop);
}

void timer_init(struct timer *t)
{
    t->heap_index = TIMER_IDLE;
}

bool timer_is_armed(const struct timer *t)
{
    return t->heap_index != TIMER_IDLE;
}

static int start_timer(struct event_loop *loop, struct timer *t,
                       uint64_t delay_ms, uint64_t interval_ms,
                       event_loop_task fn, void *ctx)
{
    event_loop_assert_in_loop_thread(loop);
    if (timer_is_armed(t))
        heap_remove(loop, t);
    t->when_ms = loop->now_ms + delay_ms;
    t->interval_ms = interval_ms;
    t->seq = loop->timer_seq++;
    t->fn = fn;
    t->ctx = ctx;
    if (heap_push(loop, t) < 0)
        return -1;
    arm_timer_fd(loop);
    return 0;
}

int event_loop_run_after(struct event_loop *loop, struct timer *t,
                         uint64_t delay_ms, event_loop_task fn, void *ctx)
{
    return start_timer(loop, t, delay_ms, 0, fn, ctx);
}

int event_loop_run_every(struct event_loop *loop, struct timer *t,
                         uint64_t interval_ms, event_loop_task fn, void *ctx)
{
    if (interval_ms == 0) {
        errno = EINVAL;
        return -1;
    }
    return start_timer(loop, t, interval_ms, interval_ms, fn, ctx);
}

void event_loop_cancel(struct event_loop *loop, struct timer *t)
{
    event_loop_assert_in_loop_thread(loop);
    if (!timer_is_armed(t))
        return;
    heap_remove(loop, t);
    arm_timer_fd(loop);
}

uint64_t event_loop_now(const struct event_loop *loop)
{
    return loop->now_ms;
}

/* --- The loop. --- */

struct event_loop *event_loop_new(void)
{
    struct event_loop *loop = calloc(1, sizeof(*loop));
    if (!loop)
        return NULL;
    loop->wakeup_fd = -1;
    loop->timer_fd = -1;
    loop->ep = epoll_new();
    if (!loop->ep)
        goto fail;
    loop->wakeup_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->wakeup_fd < 0)
        goto fail;
    loop->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (loop->timer_fd < 0)
        goto fail;
    loop->now_ms = timestamp_now_ms();
    loop->thread = pthread_self();
    atomic_init(&loop->quit, false);
    atomic_init(&loop->wakeup_pending, false);
    pthread_mutex_init(&loop->lock, NULL);
    loop->notices_tail = &loop->notices;
    loop->dispatching = -1;
    channel_init(&loop->wakeup_channel, loop, loop->wakeup_fd, loop);
    channel_set_read_callback(&loop->wakeup_channel, handle_wakeup);
    channel_init(&loop->timer_channel, loop, loop->timer_fd, loop);
    channel_set_read_callback(&loop->timer_channel, handle_timers);
    if (channel_enable_reading(&loop->wakeup_channel) < 0 ||
        channel_enable_reading(&loop->timer_channel) < 0) {
        pthread_mutex_destroy(&loop->lock);
        goto fail;
    }
    return loop;

fail:;
    int saved = errno;
    if (loop->timer_fd >= 0)
        close(loop->timer_fd);
    if (loop->wakeup_fd >= 0)
        close(loop->wakeup_fd);
    epoll_free(loop->ep);
    free(loop);
    errno = saved;
    return NULL;
}

void event_loop_free(struct event_loop *loop)
{
    if (!loop)
        return;
    /* Queued tasks and notices hold references (to connections, buffers):
     * run them. */
    for (;;) {
        pthread_mutex_lock(&loop->lock);
        bool left = loop->queued.count > 0 || loop->notices != NULL;
        pthread_mutex_unlock(&loop->lock);
        if (!left)
            break;
        run_tasks(loop);
    }
    channel_remove(&loop->wakeup_channel);
    close(loop->wakeup_fd);
    channel_remove(&loop->timer_channel);
    close(loop->timer_fd);
    /* Timers still armed belong to their owners; forget them. */
    for (size_t i = 0; i < loop->nheap; i++)
        loop->heap[i]->heap_index = TIMER_IDLE;
    free(loop->heap);
    epoll_free(loop->ep);
    pthread_mutex_destroy(&loop->lock);
    free(loop->queued.tasks);
    free(loop->running.tasks);
    free(loop);
}

int event_loop_run(struct event_loop *loop)
{
    event_loop_assert_in_loop_thread(loop);
    while (!atomic_load(&loop->quit)) {
        loop->nactive = epoll_poll(loop->ep, -1, loop->active);
        if (loop->nactive < 0)
            return -1;
        bool trace = log_enabled(LOG_LEVEL_TRACE);
        if (trace)
            trace_round(loop);
        for (int i = 0; i < loop->nactive; i++) {
            loop->dispatching = i;
            if (trace)
                trace_dispatch(loop->active[i]);
            if (loop->active[i]) {            /* NULL: removed this round */
                /* Read for each handler: one may work its whole read
                 * budget, and the next must not stamp that time as its. */
                loop->now_ms = timestamp_now_ms();
                channel_handle_event(loop->active[i]);
            }
        }
        loop->dispatching = -1;
        loop->nactive = 0;
        loop->now_ms = timestamp_now_ms();
        run_tasks(loop);
    }
    atomic_store(&loop->quit, false);          /* taken: it may run again */
    return 0;
}

void event_loop_quit(struct event_loop *loop)
{
    atomic_store(&loop->quit, true);
    if (!event_loop_is_in_loop_thread(loop))
        wakeup(loop);
}

bool event_loop_is_in_loop_thread(const struct event_loop *loop)
{
    return pthread_equal(loop->thread, pthread_self());
}

void event_loop_check_thread(const struct event_loop *loop, const char *caller)
{
    if (event_loop_is_in_loop_thread(loop))
        return;
    log_error("%s: called outside its loop's thread", caller);
    abort();
}

void event_loop_adopt(struct event_loop *loop)
{
    loop->thread = pthread_self();
}

int event_loop_run_in_loop(struct event_loop *loop, event_loop_task fn,
                           void *ctx)
{
    if (event_loop_is_in_loop_thread(loop)) {
        fn(ctx);
        return 0;
    }
    return event_loop_queue_in_loop(loop, fn, ctx);
}

int event_loop_queue_in_loop(struct event_loop *loop, event_loop_task fn,
                             void *ctx)
{
    pthread_mutex_lock(&loop->lock);
    struct task_list *q = &loop->queued;
    if (q->count == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : TASKS_MIN;
        struct task *tasks = realloc(q->tasks, cap * sizeof(*tasks));
        if (!tasks) {
            pthread_mutex_unlock(&loop->lock);
            errno = ENOMEM;
            return -1;
        }
        q->tasks = tasks;
        q->cap = cap;
    }
    q->tasks[q->count++] = (struct task){ fn, ctx };
    pthread_mutex_unlock(&loop->lock);
    /* The loop's own thread needs no wake-up while it dispatches events:
     * it runs the queue next. Anywhere else (running tasks, before run)
     * the loop would sleep in epoll_wait() with the task queued. */
    if (!event_loop_is_in_loop_thread(loop) || loop->dispatching < 0)
        wakeup(loop);
    return 0;
}

void loop_notice_init(struct loop_notice *n, event_loop_task fn, void *ctx)
{
    n->fn = fn;
    n->ctx = ctx;
    n->next = NULL;
    atomic_init(&n->posted, false);
}

bool event_loop_post_notice(struct event_loop *loop, struct loop_notice *n)
{
    if (atomic_exchange(&n->posted, true))
        return false;                          /* queued: it will see the news */
    pthread_mutex_lock(&loop->lock);
    n->next = NULL;
    *loop->notices_tail = n;
    loop->notices_tail = &n->next;
    pthread_mutex_unlock(&loop->lock);
    if (!event_loop_is_in_loop_thread(loop) || loop->dispatching < 0)
        wakeup(loop);
    return true;
}

int event_loop_update_channel(struct event_loop *loop, struct channel *ch)
{
    event_loop_assert_in_loop_thread(loop);
    return epoll_update_channel(loop->ep, ch);
}

void event_loop_remove_channel(struct event_loop *loop, struct channel *ch)
{
    event_loop_assert_in_loop_thread(loop);
    epoll_remove_channel(loop->ep, ch);
    /* A handler may close another channel that is still waiting its turn in
     * this round; its memory may be gone by then. Forget it. */
    for (int i = loop->dispatching + 1; i < loop->nactive; i++)
        if (loop->active[i] == ch)
            loop->active[i] = NULL;
}
