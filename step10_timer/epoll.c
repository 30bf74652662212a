/* epoll.c - see epoll.h. */
#include "epoll.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "channel.h"

struct epoll {
    int epfd;                                    /* owned */
    struct epoll_event events[EPOLL_MAX_EVENTS]; /* filled by epoll_wait() */
};

struct epoll *epoll_new(void)
{
    struct epoll *ep = malloc(sizeof(*ep));
    if (!ep)
        return NULL;
    ep->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (ep->epfd < 0) {
        free(ep);
        return NULL;
    }
    return ep;
}

void epoll_free(struct epoll *ep)
{
    if (!ep)
        return;
    close(ep->epfd);
    free(ep);
}

int epoll_update_channel(struct epoll *ep, struct channel *ch)
{
    struct epoll_event ev = { .events = ch->events, .data.ptr = ch };
    if (ch->in_epoll)
        return epoll_ctl(ep->epfd, EPOLL_CTL_MOD, ch->fd, &ev);
    /* Marked before the call: once the fd is in the set its events may be
     * handled at once, and that handler must see it added (step08 adds
     * channels to another thread's loop). */
    ch->in_epoll = true;
    if (epoll_ctl(ep->epfd, EPOLL_CTL_ADD, ch->fd, &ev) < 0) {
        ch->in_epoll = false;
        return -1;
    }
    return 0;
}

int epoll_remove_channel(struct epoll *ep, struct channel *ch)
{
    ch->in_epoll = false;
    return epoll_ctl(ep->epfd, EPOLL_CTL_DEL, ch->fd, NULL);
}

int epoll_poll(struct epoll *ep, int timeout_ms, struct channel **active)
{
    int n = epoll_wait(ep->epfd, ep->events, EPOLL_MAX_EVENTS, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    for (int i = 0; i < n; i++) {
        struct channel *ch = ep->events[i].data.ptr;
        ch->revents = ep->events[i].events;
        active[i] = ch;
    }
    return n;
}
