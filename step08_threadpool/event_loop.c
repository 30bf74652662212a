/* event_loop.c - see event_loop.h. */
#include "event_loop.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "channel.h"
#include "epoll.h"
#include "log.h"

struct event_loop {
    struct epoll *ep;                          /* owned */
    pthread_t thread;                          /* the creator, which runs it */
    atomic_bool quit;                          /* set by event_loop_quit() */
    struct channel *active[EPOLL_MAX_EVENTS];  /* this round's ready channels */
    int nactive;                               /* entries in active */
    int dispatching;                           /* index being handled, or -1 */
    unsigned long rounds;                      /* rounds traced (LOG_LEVEL=trace) */
};

struct event_loop *event_loop_new(void)
{
    struct event_loop *loop = calloc(1, sizeof(*loop));
    if (!loop)
        return NULL;
    loop->ep = epoll_new();
    if (!loop->ep) {
        free(loop);
        return NULL;
    }
    loop->thread = pthread_self();
    atomic_init(&loop->quit, false);
    loop->dispatching = -1;
    return loop;
}

void event_loop_free(struct event_loop *loop)
{
    if (!loop)
        return;
    epoll_free(loop->ep);
    free(loop);
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

int event_loop_run(struct event_loop *loop)
{
    event_loop_assert_in_loop_thread(loop);
    while (!atomic_load(&loop->quit)) {
        loop->nactive = epoll_poll(loop->ep, EVENT_LOOP_POLL_MS, loop->active);
        if (loop->nactive < 0)
            return -1;
        bool trace = log_enabled(LOG_LEVEL_TRACE);
        if (trace)
            trace_round(loop);
        for (int i = 0; i < loop->nactive; i++) {
            loop->dispatching = i;
            if (trace)
                trace_dispatch(loop->active[i]);
            if (loop->active[i])              /* NULL: removed this round */
                channel_handle_event(loop->active[i]);
        }
        loop->dispatching = -1;
        loop->nactive = 0;
    }
    return 0;
}

void event_loop_quit(struct event_loop *loop)
{
    atomic_store(&loop->quit, true);
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

int event_loop_update_channel(struct event_loop *loop, struct channel *ch)
{
    return epoll_update_channel(loop->ep, ch);
}

void event_loop_remove_channel(struct event_loop *loop, struct channel *ch)
{
    epoll_remove_channel(loop->ep, ch);
    /* A handler may close another channel that is still waiting its turn in
     * this round; its memory may be gone by then. Forget it. */
    for (int i = loop->dispatching + 1; i < loop->nactive; i++)
        if (loop->active[i] == ch)
            loop->active[i] = NULL;
}
