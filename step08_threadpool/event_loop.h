/* event_loop.h - the EventLoop class: one loop, one thread, one epoll set.
 *
 * The loop owns its struct epoll. Channels belong to a loop: they update
 * and remove themselves through it, and the loop dispatches their events.
 * Only the thread that runs the loop may touch it or its channels.
 *
 * Later chapters give the loop more to own; the epoll set stays in Epoll:
 * a thread id (step08), a wake-up eventfd and a task queue (step09), a
 * timerfd and its timers (step10).
 */
#ifndef EVENT_LOOP_H
#define EVENT_LOOP_H

struct channel;
struct event_loop;

struct event_loop *event_loop_new(void);       /* NULL with errno on failure */
void event_loop_free(struct event_loop *loop);

/* Waits for events and dispatches them until event_loop_quit().
 * Returns 0, or -1 with errno if waiting fails. */
int event_loop_run(struct event_loop *loop);

/* Makes event_loop_run() return after the current round of events. */
void event_loop_quit(struct event_loop *loop);

/* For channel.c: add or modify ch in the epoll set, or remove it. A channel
 * removed while the loop dispatches a round is not dispatched later in
 * that round, even if epoll reported it. */
int event_loop_update_channel(struct event_loop *loop, struct channel *ch);
void event_loop_remove_channel(struct event_loop *loop, struct channel *ch);

#endif
