/* unit.h - small helpers shared by the unit tests (tests/unit/test_*.c).
 *
 * Clocks and sleeping, fd pairs, the heap in use: nothing here knows a
 * step's module.
 * All of it is static inline, so a test that does not use a helper gets
 * no unused-function warning (-Werror).
 */
#ifndef UNIT_H
#define UNIT_H

#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
/* From the sanitizer runtime (clang's sanitizer/allocator_interface.h;
 * gcc ships no such header). */
size_t __sanitizer_get_current_allocated_bytes(void);
#else
#include <malloc.h>
#endif

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

/* Heap bytes allocated and not yet freed, process-wide: ASan's count in
 * ASan builds (its allocator replaces glibc's), glibc's otherwise. */
static inline size_t heap_in_use(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return __sanitizer_get_current_allocated_bytes();
#else
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
#endif
}

#endif
