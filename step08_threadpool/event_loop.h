/* event_loop.h - the EventLoop class: one loop, one thread, one epoll set.
 *
 * The loop owns its struct epoll. Channels belong to a loop: they update
 * and remove themselves through it, and the loop dispatches their events.
 * A loop belongs to the thread that created it, which is the thread that
 * runs it; only that thread may touch the loop or its channels, except
 * for event_loop_quit() and event_loop_is_in_loop_thread(), and except,
 * in this step only, a worker updating a connection's channel under the
 * connection's lock (step09 hands that to the loop's thread instead).
 *
 * Later chapters give the loop more to own; the epoll set stays in Epoll:
 * a wake-up eventfd and a task queue (step09), a timerfd and its timers
 * (step10).
 */
#ifndef EVENT_LOOP_H
#define EVENT_LOOP_H

#include <stdbool.h>

struct channel;
struct event_loop;

struct event_loop *event_loop_new(void);       /* NULL with errno on failure */
void event_loop_free(struct event_loop *loop);

/* Waits for events and dispatches them until event_loop_quit().
 * Returns 0, or -1 with errno if waiting fails. */
int event_loop_run(struct event_loop *loop);

/* Makes event_loop_run() return after the current round of events. Any
 * thread; a loop blocked in epoll_wait() notices within
 * EVENT_LOOP_POLL_MS (step09 wakes it at once). */
void event_loop_quit(struct event_loop *loop);

#define EVENT_LOOP_POLL_MS 10000

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

/* For channel.c: add or modify ch in the epoll set, or remove it. A channel
 * removed while the loop dispatches a round is not dispatched later in
 * that round, even if epoll reported it. */
int event_loop_update_channel(struct event_loop *loop, struct channel *ch);
void event_loop_remove_channel(struct event_loop *loop, struct channel *ch);

#endif
