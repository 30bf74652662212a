/* epoll.h - the Epoll class: one epoll instance and its event array.
 *
 * Owns the epoll fd and the array epoll_wait() fills. It manages the
 * interest set in terms of channels: the epoll_event of an fd carries a
 * pointer to its channel (data.ptr), and a wait hands back the ready
 * channels with their revents set. What an event means is the channel's
 * business. Single-threaded: one thread uses a struct epoll.
 */
#ifndef EPOLL_H
#define EPOLL_H

#include <stdint.h>
#include <sys/epoll.h>

#define EPOLL_MAX_EVENTS 1024  /* events taken from one epoll_wait() */

struct channel;
struct epoll;

struct epoll *epoll_new(void);                 /* NULL with errno on failure */
void epoll_free(struct epoll *ep);

/* Adds ch->fd with ch->events, or modifies it if ch is already in the set. */
int epoll_update_channel(struct epoll *ep, struct channel *ch);
int epoll_remove_channel(struct epoll *ep, struct channel *ch);

/* Waits up to timeout_ms (-1: forever), stores the ready channels in active
 * (room for EPOLL_MAX_EVENTS) with their revents set. Returns their number:
 * 0 on timeout or when a signal interrupted the wait, -1 with errno on
 * failure. */
int epoll_poll(struct epoll *ep, int timeout_ms, struct channel **active);

#endif
