/* unit.h - small helpers shared by the unit tests (tests/unit/test_*.c).
 *
 * Clocks and sleeping, and fd pairs: nothing here knows a step's module.
 * All of it is static inline, so a test that does not use a helper gets
 * no unused-function warning (-Werror).
 */
#ifndef UNIT_H
#define UNIT_H

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

/* CLOCK_MONOTONIC in seconds. */
static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CLOCK_MONOTONIC in milliseconds (what step10's timestamp_now_ms() is). */
static inline uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Sleeps ms milliseconds, through EINTR. */
static inline void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* A pipe (flags as for pipe2(), 0 for a blocking one); asserts it opened. */
static inline void make_pipe(int p[2], int flags)
{
    ck_assert_int_eq(pipe2(p, flags), 0);
}

/* Closes both ends of a pipe or socketpair. */
static inline void close_pair(const int fds[2])
{
    close(fds[0]);
    close(fds[1]);
}

#endif
