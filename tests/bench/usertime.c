/* usertime.c - a server's user time per byte read, measured without the
 * clock tick: an LD_PRELOAD library that reads the time-stamp counter as
 * each syscall the server makes through libc starts and ends, and adds up
 * the gaps in between, the time spent in user mode.
 *
 *   make -C tests/bench usertime.so
 *   LD_PRELOAD=tests/bench/usertime.so taskset -c 0 ./step10_timer/server 127.0.0.1 0 -t 0
 *
 * Every TSC_PERIOD cycles (about a second) it writes one line to stderr:
 *
 *   usertime: cycles 123456789 gaps 123456 dropped 12 bytes_read 45678901
 *
 * cycles is the user time in TSC cycles (dmesg says the TSC's rate; 2.69
 * GHz on the bench VM), bytes_read what the reads returned. A gap over
 * GAP_MAX cycles is dropped (counted in dropped): the thread was preempted
 * or the loop was idle. For a ping-pong of S-byte payloads, user ns per
 * message = cycles / GHz / (bytes_read / (S + 4)).
 *
 * Wrapped: read, readv, recv, recvmsg, write, writev, send, sendmsg,
 * epoll_wait, epoll_pwait, epoll_ctl, ioctl. One thread: the counters are
 * not atomic (run servers with one loop). The reading of the counter adds a
 * few cycles to each syscall, the same for every server.
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define GAP_MAX    200000ull        /* cycles: about 74 us */
#define TSC_PERIOD 2700000000ull    /* cycles between two reports */

static uint64_t last, cycles, gaps, dropped, bytes, since;

static uint64_t tsc(void)
{
    return __builtin_ia32_rdtsc();
}

static void enter(void)
{
    uint64_t gap = tsc() - last;
    if (last == 0)
        return;
    if (gap < GAP_MAX) {
        cycles += gap;
        gaps++;
    } else {
        dropped++;
    }
}

static void leave(ssize_t n, int is_read)
{
    static ssize_t (*real_write)(int, const void *, size_t);
    uint64_t now = tsc();
    if (is_read && n > 0)
        bytes += (uint64_t)n;
    if (since == 0)
        since = now;
    if (now - since > TSC_PERIOD) {
        char line[160];
        int len = snprintf(line, sizeof(line), "usertime: cycles %llu gaps %llu "
                           "dropped %llu bytes_read %llu\n",
                           (unsigned long long)cycles, (unsigned long long)gaps,
                           (unsigned long long)dropped, (unsigned long long)bytes);
        if (!real_write)
            real_write = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
        if (real_write(STDERR_FILENO, line, (size_t)len) < 0)
            dropped++;
        cycles = gaps = dropped = bytes = 0;
        since = tsc();
    }
    last = tsc();
}

/* The real function, looked up once. */
#define REAL(name) \
    static __typeof__(name) *real; \
    if (!real) \
        real = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

#define WRAP(is_read, type, name, params, args) \
    type name params \
    { \
        REAL(name); \
        enter(); \
        type r = real args; \
        leave((ssize_t)r, is_read); \
        return r; \
    }

WRAP(1, ssize_t, read, (int fd, void *b, size_t n), (fd, b, n))
WRAP(1, ssize_t, readv, (int fd, const struct iovec *v, int c), (fd, v, c))
WRAP(1, ssize_t, recv, (int fd, void *b, size_t n, int f), (fd, b, n, f))
WRAP(1, ssize_t, recvmsg, (int fd, struct msghdr *m, int f), (fd, m, f))
WRAP(0, ssize_t, write, (int fd, const void *b, size_t n), (fd, b, n))
WRAP(0, ssize_t, writev, (int fd, const struct iovec *v, int c), (fd, v, c))
WRAP(0, ssize_t, send, (int fd, const void *b, size_t n, int f), (fd, b, n, f))
WRAP(0, ssize_t, sendmsg, (int fd, const struct msghdr *m, int f), (fd, m, f))
WRAP(0, int, epoll_wait, (int e, struct epoll_event *v, int m, int t), (e, v, m, t))
WRAP(0, int, epoll_pwait, (int e, struct epoll_event *v, int m, int t,
                           const sigset_t *s), (e, v, m, t, s))
WRAP(0, int, epoll_ctl, (int e, int op, int fd, struct epoll_event *v), (e, op, fd, v))

int ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    REAL(ioctl);
    enter();
    int r = real(fd, req, arg);
    leave(0, 0);
    return r;
}
