/* epoll.h - the Epoll class: one epoll instance and its event array.
 *
 * Owns the epoll fd and the array epoll_wait() fills. It only manages the
 * interest set (add, modify, remove) and waits; what an event means is the
 * caller's business. Single-threaded: one thread uses a struct epoll.
 */
#ifndef EPOLL_H
#define EPOLL_H

#include <stdint.h>
#include <sys/epoll.h>

#define EPOLL_MAX_EVENTS 1024  /* events taken from one epoll_wait() */

struct epoll;

struct epoll *epoll_new(void);                 /* NULL with errno on failure */
void epoll_free(struct epoll *ep);

int epoll_add_fd(struct epoll *ep, int fd, uint32_t events);
int epoll_modify_fd(struct epoll *ep, int fd, uint32_t events);
int epoll_remove_fd(struct epoll *ep, int fd);

/* Waits up to timeout_ms (-1: forever) and points *events at the ready
 * events. Returns their number: 0 on timeout or when a signal interrupted
 * the wait, -1 with errno on failure. */
int epoll_poll(struct epoll *ep, int timeout_ms, struct epoll_event **events);

#endif
