/* epoll.c - see epoll.h. */
#include "epoll.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

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

static int control(struct epoll *ep, int op, int fd, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.fd = fd };
    return epoll_ctl(ep->epfd, op, fd, &ev);
}

int epoll_add_fd(struct epoll *ep, int fd, uint32_t events)
{
    return control(ep, EPOLL_CTL_ADD, fd, events);
}

int epoll_modify_fd(struct epoll *ep, int fd, uint32_t events)
{
    return control(ep, EPOLL_CTL_MOD, fd, events);
}

int epoll_remove_fd(struct epoll *ep, int fd)
{
    return control(ep, EPOLL_CTL_DEL, fd, 0);
}

int epoll_poll(struct epoll *ep, int timeout_ms, struct epoll_event **events)
{
    int n = epoll_wait(ep->epfd, ep->events, EPOLL_MAX_EVENTS, timeout_ms);
    if (n < 0 && errno == EINTR)
        n = 0;
    *events = ep->events;
    return n;
}
