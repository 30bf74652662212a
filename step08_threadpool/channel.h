/* channel.h - the Channel class: one fd, the events wanted, the callbacks.
 *
 * A channel points at an fd it does not own. It remembers which events its
 * owner wants (events), which ones epoll reported (revents), and whether the
 * fd is in the epoll set yet (so an update is EPOLL_CTL_ADD or _MOD). The
 * epoll_event of the fd carries a pointer to the channel (data.ptr), so a
 * ready event leads straight to the channel and from there to the owner's
 * callbacks: no lookup by fd.
 *
 * A channel belongs to one event loop, through which it updates the epoll
 * set. The owner embeds the channel, sets its callbacks and ctx, and must
 * remove it (channel_remove) before closing the fd or freeing the memory.
 * Only the thread that runs the channel's loop touches it.
 */
#ifndef CHANNEL_H
#define CHANNEL_H

#include <stdbool.h>
#include <stdint.h>

struct event_loop;

typedef void (*channel_callback)(void *ctx);

struct channel {
    int fd;                           /* not owned */
    struct event_loop *loop;          /* the loop fd belongs to; not owned */
    bool in_epoll;                    /* in the loop's epoll set: MOD, not ADD */
    uint32_t events;                  /* what the owner wants to hear about */
    uint32_t revents;                 /* what the last epoll_wait() reported */
    channel_callback read_callback;   /* readable, or the peer sent FIN */
    channel_callback write_callback;  /* writable */
    channel_callback close_callback;  /* hung up with nothing left to read */
    channel_callback error_callback;  /* EPOLLERR */
    channel_callback hold;            /* tie: keeps ctx alive during an event */
    channel_callback release;         /* tie: lets it go afterwards */
    void *ctx;                        /* passed to every callback; not owned */
};

/* Prepares ch for fd in loop; no events yet, the fd is not in the set. */
void channel_init(struct channel *ch, struct event_loop *loop, int fd,
                  void *ctx);

void channel_set_read_callback(struct channel *ch, channel_callback fn);
void channel_set_write_callback(struct channel *ch, channel_callback fn);
void channel_set_close_callback(struct channel *ch, channel_callback fn);
void channel_set_error_callback(struct channel *ch, channel_callback fn);

/* Ties the channel to its owner's lifetime: hold(ctx) runs before the
 * callbacks of an event and release(ctx) after them, so a callback that
 * closes the owner cannot free it (and the channel) under the next one. */
void channel_tie(struct channel *ch, channel_callback hold,
                 channel_callback release);

/* Edge-triggered from the next update on. */
void channel_use_et(struct channel *ch);

/* The five operations: each changes events and updates the epoll set.
 * They return 0, or -1 with errno when epoll_ctl fails. */
int channel_enable_reading(struct channel *ch);
int channel_disable_reading(struct channel *ch);
int channel_enable_writing(struct channel *ch);
int channel_disable_writing(struct channel *ch);
int channel_disable_all(struct channel *ch);

bool channel_is_writing(const struct channel *ch);

/* Takes the fd out of the epoll set. Safe to call twice. */
void channel_remove(struct channel *ch);

/* Called by the loop when epoll_wait() reported revents for ch. */
void channel_handle_event(struct channel *ch);

#endif
