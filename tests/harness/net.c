/* net.c - non-blocking client sockets with poll()-based deadlines. */
#include "net.h"

#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

int net_connect_start(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = { 0 };
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int net_connect_result(int fd)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return -1;
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}

int net_connect(uint16_t port, int timeout_ms)
{
    int fd = net_connect_start(port);
    if (fd < 0)
        return -1;
    int ev = net_wait(fd, POLLOUT, now_ms() + timeout_ms);
    if (ev == 0 || net_connect_result(fd) < 0) {
        int e = ev == 0 ? ETIMEDOUT : errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int net_wait(int fd, short events, int64_t deadline)
{
    struct pollfd pfd = { fd, events, 0 };
    for (;;) {
        int rc = poll(&pfd, 1, ms_left(deadline));
        if (rc > 0)
            return pfd.revents;
        if (rc == 0)
            return 0;
        if (errno != EINTR)
            return POLLERR;
    }
}

int net_send_all(int fd, const void *p, size_t n, int64_t deadline)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w > 0) {
            b += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
        if (net_wait(fd, POLLOUT, deadline) == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
    }
    return 0;
}

int net_await_close(int fd, int64_t deadline, size_t *got)
{
    char buf[65536];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return 1;                 /* EOF, or a reset */
        if (n > 0) {
            if (got)
                *got += (size_t)n;
            continue;
        }
        if (net_wait(fd, POLLIN, deadline) == 0)
            return 0;
    }
}

void net_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void net_close_rst(int fd)
{
    struct linger lg = { 1, 0 };
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

void net_close_all(int *fds, int n)
{
    for (int i = 0; i < n; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
        fds[i] = -1;
    }
}
