/* socket.c - see socket.h. */
#include "socket.h"

#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int socket_open(struct socket *s)
{
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    return s->fd < 0 ? -1 : 0;
}

void socket_init(struct socket *s, int fd)
{
    s->fd = fd;
}

void socket_close(struct socket *s)
{
    if (s->fd >= 0) {
        /* No retry on EINTR: on Linux the fd is gone whatever close says. */
        close(s->fd);
        s->fd = -1;
    }
}

static int set_option(struct socket *s, int level, int name, bool on)
{
    int v = on;
    return setsockopt(s->fd, level, name, &v, sizeof(v));
}

int socket_set_reuse_addr(struct socket *s, bool on)
{
    return set_option(s, SOL_SOCKET, SO_REUSEADDR, on);
}

int socket_set_reuse_port(struct socket *s, bool on)
{
    return set_option(s, SOL_SOCKET, SO_REUSEPORT, on);
}

int socket_set_tcp_nodelay(struct socket *s, bool on)
{
    return set_option(s, IPPROTO_TCP, TCP_NODELAY, on);
}

int socket_set_keep_alive(struct socket *s, bool on)
{
    return set_option(s, SOL_SOCKET, SO_KEEPALIVE, on);
}

int socket_bind(struct socket *s, const struct inet_address *addr)
{
    return bind(s->fd, (const struct sockaddr *)&addr->sin, sizeof(addr->sin));
}

int socket_listen(struct socket *s)
{
    return listen(s->fd, SOMAXCONN);
}

int socket_accept(struct socket *s, struct socket *client,
                  struct inet_address *peer)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    int fd;
    do {
        fd = accept4(s->fd, (struct sockaddr *)&sin, &len,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return -1;
    socket_init(client, fd);
    if (peer)
        peer->sin = sin;
    return fd;
}

int socket_local_address(const struct socket *s, struct inet_address *addr)
{
    socklen_t len = sizeof(addr->sin);
    return getsockname(s->fd, (struct sockaddr *)&addr->sin, &len);
}

int socket_shutdown_write(struct socket *s)
{
    return shutdown(s->fd, SHUT_WR);
}

int socket_connect(struct socket *s, const struct inet_address *addr)
{
    if (connect(s->fd, (const struct sockaddr *)&addr->sin, sizeof(addr->sin)) == 0)
        return 0;
    /* Interrupted, a non-blocking connect goes on in the background:
     * calling connect() again would only say EALREADY. */
    if (errno == EINTR)
        errno = EINPROGRESS;
    return -1;
}

int socket_error(struct socket *s)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return errno;
    return err;
}

int socket_peer_address(const struct socket *s, struct inet_address *addr)
{
    socklen_t len = sizeof(addr->sin);
    return getpeername(s->fd, (struct sockaddr *)&addr->sin, &len);
}

int socket_unacked(const struct socket *s, size_t *bytes)
{
    int n;
    if (ioctl(s->fd, SIOCOUTQ, &n) < 0)
        return -1;
    *bytes = (size_t)n;
    return 0;
}
