/* channel.c - see channel.h. */
#include "channel.h"

#include <stddef.h>
#include <sys/epoll.h>

#include "event_loop.h"

/* EPOLLRDHUP makes a FIN visible as such; it is handled as a read, because
 * data that came before the FIN must still be read (see channel_handle_event). */
#define READ_EVENTS (EPOLLIN | EPOLLPRI | EPOLLRDHUP)
#define WRITE_EVENTS EPOLLOUT

void channel_init(struct channel *ch, struct event_loop *loop, int fd,
                  void *ctx)
{
    ch->fd = fd;
    ch->loop = loop;
    ch->in_epoll = false;
    ch->events = 0;
    ch->revents = 0;
    ch->read_callback = NULL;
    ch->write_callback = NULL;
    ch->close_callback = NULL;
    ch->error_callback = NULL;
    ch->hold = NULL;
    ch->release = NULL;
    ch->ctx = ctx;
}

void channel_set_read_callback(struct channel *ch, channel_callback fn)
{
    ch->read_callback = fn;
}

void channel_set_write_callback(struct channel *ch, channel_callback fn)
{
    ch->write_callback = fn;
}

void channel_set_close_callback(struct channel *ch, channel_callback fn)
{
    ch->close_callback = fn;
}

void channel_set_error_callback(struct channel *ch, channel_callback fn)
{
    ch->error_callback = fn;
}

void channel_tie(struct channel *ch, channel_callback hold,
                 channel_callback release)
{
    ch->hold = hold;
    ch->release = release;
}

void channel_use_et(struct channel *ch)
{
    ch->events |= EPOLLET;
}

static int update(struct channel *ch)
{
    return event_loop_update_channel(ch->loop, ch);
}

int channel_enable_reading(struct channel *ch)
{
    ch->events |= READ_EVENTS;
    return update(ch);
}

int channel_disable_reading(struct channel *ch)
{
    ch->events &= ~(uint32_t)READ_EVENTS;
    return update(ch);
}

int channel_enable_writing(struct channel *ch)
{
    ch->events |= WRITE_EVENTS;
    return update(ch);
}

int channel_disable_writing(struct channel *ch)
{
    ch->events &= ~(uint32_t)WRITE_EVENTS;
    return update(ch);
}

int channel_disable_all(struct channel *ch)
{
    ch->events &= EPOLLET;
    return update(ch);
}

bool channel_is_writing(const struct channel *ch)
{
    return (ch->events & WRITE_EVENTS) != 0;
}

void channel_remove(struct channel *ch)
{
    if (ch->in_epoll)
        event_loop_remove_channel(ch->loop, ch);
}

/* The order matters. EPOLLHUP without EPOLLIN: both directions are shut and
 * nothing is left to read. EPOLLERR: report it. Otherwise read before
 * anything else, even when EPOLLRDHUP says the peer sent FIN: bytes that
 * arrived with the FIN are in the socket, and the read callback takes them
 * and then sees EOF. Handling RDHUP first, as a close, would lose them. */
static void dispatch(struct channel *ch, uint32_t ev)
{
    if ((ev & EPOLLHUP) && !(ev & EPOLLIN)) {
        if (ch->close_callback)
            ch->close_callback(ch->ctx);
        return;
    }
    if (ev & EPOLLERR) {
        if (ch->error_callback)
            ch->error_callback(ch->ctx);
        return;
    }
    if ((ev & READ_EVENTS) && ch->read_callback)
        ch->read_callback(ch->ctx);
    /* The read callback may have closed the owner: a removed channel gets
     * no more callbacks. The tie keeps ch itself valid to look at. */
    if ((ev & WRITE_EVENTS) && ch->in_epoll && ch->write_callback)
        ch->write_callback(ch->ctx);
}

void channel_handle_event(struct channel *ch)
{
    void *ctx = ch->ctx;
    channel_callback release = ch->release;

    if (ch->hold)
        ch->hold(ctx);
    dispatch(ch, ch->revents);
    if (release)
        release(ctx);
}
