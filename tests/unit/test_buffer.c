/* test_buffer.c - unit tests of the Buffer class (buffer.h).
 *
 * Built by tests/Makefile (UNIT_MODULES "buffer:buffer.c") against every
 * step that has buffer.c, with unit_main.c as main(), ASan and UBSan:
 *
 *   make -C tests unit            -> build/tests/unit/buffer-NN
 *
 * By hand, against one step:
 *
 *   cc -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -g \
 *      -fsanitize=address,undefined -Istep07_connection \
 *      tests/unit/test_buffer.c tests/unit/unit_main.c step07_connection/buffer.c \
 *      $(pkg-config --cflags --libs check) -o /tmp/buffer-07 && /tmp/buffer-07
 *
 * Only the contract of buffer.h is asserted, plus what the reactor relies
 * on: compaction instead of growth, release of idle storage, borrowed
 * memory that is never freed, one readv() with a stack spill area, and
 * write() retrieving what was written. malloc is wrapped (fault.h) to
 * fail the copy out of a loan.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "buffer.h"
#include "fault.h"
#include "unit.h"

FAULT_WRAP(void *, malloc, (size_t n), (n), NULL, ENOMEM)

/* ---- helpers ------------------------------------------------------------ */

/* Deterministic bytes: pattern(i) for i = 0, 1, ... */
static unsigned char pattern(size_t i)
{
    return (unsigned char)((i * 131u + (i >> 8) * 7u + 17u) & 0xFF);
}

static void fill_pattern(unsigned char *p, size_t len, size_t start)
{
    for (size_t i = 0; i < len; i++)
        p[i] = pattern(start + i);
}

/* A malloc'ed block of pattern(start .. start+len). */
static unsigned char *pattern_alloc(size_t len, size_t start)
{
    unsigned char *p = malloc(len);
    ck_assert_ptr_nonnull(p);
    fill_pattern(p, len, start);
    return p;
}

/* Appends pattern(start .. start+len), len at most 4096, in one call. */
static void append_pattern(struct buffer *b, size_t len, size_t start)
{
    unsigned char chunk[4096];
    if (len > sizeof(chunk))
        ck_abort_msg("append_pattern: %zu bytes is too many", len);
    fill_pattern(chunk, len, start);
    ck_assert_int_eq(buffer_append(b, chunk, len), 0);
}

/* Asserts the readable bytes are pattern(start .. start+len). */
static void expect_pattern(const struct buffer *b, size_t start, size_t len)
{
    ck_assert_uint_eq(buffer_readable(b), len);
    if (len == 0)
        return;                 /* no readable byte: nothing to peek at */
    const unsigned char *p = (const unsigned char *)buffer_peek(b);
    for (size_t i = 0; i < len; i++)
        if (p[i] != pattern(start + i))
            ck_abort_msg("byte %zu of %zu is %u, expected %u", i, len,
                         (unsigned)p[i], (unsigned)pattern(start + i));
}

/* The three regions always add up to the capacity. */
static void expect_accounting(const struct buffer *b)
{
    ck_assert_uint_eq(buffer_prependable(b) + buffer_readable(b) +
                      buffer_writable(b), b->cap);
}

static void set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    ck_assert_int_ge(flags, 0);
    ck_assert_int_eq(fcntl(fd, F_SETFL, flags | O_NONBLOCK), 0);
}

/* Writes all len bytes to a blocking fd. */
static void write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        ck_assert_msg(n > 0, "write: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

/* Writes len bytes into a new pipe p, grown to 1 MiB so that they fit. */
static void pipe_holding(int p[2], const void *bytes, size_t len)
{
    make_pipe(p, 0);
    ck_assert_int_ge(fcntl(p[1], F_SETPIPE_SZ, 1 << 20), (int)len);
    write_all(p[1], bytes, len);
}

/* ---- init, append, peek, retrieve -------------------------------------- */

START_TEST(init_has_no_storage)
{
    struct buffer b;
    memset(&b, 0xA5, sizeof(b));              /* init must not rely on zeroes */
    buffer_init(&b);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.cap, 0);
    ck_assert_uint_eq(buffer_readable(&b), 0);
    ck_assert_uint_eq(buffer_writable(&b), 0);
    ck_assert_uint_eq(buffer_prependable(&b), 0);
    buffer_free(&b);                          /* free of a fresh buffer: no-op */
    ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(append_then_peek)
{
    struct buffer b;
    buffer_init(&b);
    ck_assert_int_eq(buffer_append(&b, "hello", 5), 0);
    ck_assert_ptr_nonnull(b.data);
    ck_assert_uint_eq(buffer_readable(&b), 5);
    ck_assert_mem_eq(buffer_peek(&b), "hello", 5);
    /* A fresh buffer keeps BUFFER_PREPEND bytes free in front. */
    ck_assert_uint_eq(buffer_prependable(&b), BUFFER_PREPEND);
    ck_assert_uint_ge(b.cap, BUFFER_PREPEND + 5);
    expect_accounting(&b);

    ck_assert_int_eq(buffer_append(&b, " world", 6), 0);
    ck_assert_uint_eq(buffer_readable(&b), 11);
    ck_assert_mem_eq(buffer_peek(&b), "hello world", 11);
    ck_assert_uint_eq(buffer_prependable(&b), BUFFER_PREPEND);
    expect_accounting(&b);
    buffer_free(&b);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.cap, 0);
    ck_assert_uint_eq(buffer_readable(&b), 0);
}
END_TEST

START_TEST(append_zero_bytes)
{
    struct buffer b;
    buffer_init(&b);
    ck_assert_int_eq(buffer_append(&b, "x", 0), 0);
    ck_assert_uint_eq(buffer_readable(&b), 0);
    ck_assert_int_eq(buffer_append(&b, "abc", 3), 0);
    ck_assert_int_eq(buffer_append(&b, "x", 0), 0);
    ck_assert_uint_eq(buffer_readable(&b), 3);
    ck_assert_mem_eq(buffer_peek(&b), "abc", 3);
    buffer_free(&b);
}
END_TEST

START_TEST(retrieve_part)
{
    struct buffer b;
    buffer_init(&b);
    ck_assert_int_eq(buffer_append(&b, "abcdefgh", 8), 0);
    size_t writable = buffer_writable(&b);
    const char *front = buffer_peek(&b);

    buffer_retrieve(&b, 3);
    ck_assert_uint_eq(buffer_readable(&b), 5);
    ck_assert_mem_eq(buffer_peek(&b), "defgh", 5);
    ck_assert_ptr_eq(buffer_peek(&b), front + 3);        /* no copying */
    ck_assert_uint_eq(buffer_prependable(&b), BUFFER_PREPEND + 3);
    ck_assert_uint_eq(buffer_writable(&b), writable);    /* back untouched */
    expect_accounting(&b);

    buffer_retrieve(&b, 4);
    ck_assert_uint_eq(buffer_readable(&b), 1);
    ck_assert_mem_eq(buffer_peek(&b), "h", 1);
    ck_assert_uint_eq(buffer_prependable(&b), BUFFER_PREPEND + 7);
    expect_accounting(&b);

    ck_assert_int_eq(buffer_append(&b, "ij", 2), 0);
    ck_assert_mem_eq(buffer_peek(&b), "hij", 3);
    buffer_free(&b);
}
END_TEST

START_TEST(retrieve_all_starts_over)
{
    struct buffer b;
    buffer_init(&b);
    ck_assert_int_eq(buffer_append(&b, "0123456789", 10), 0);
    buffer_retrieve(&b, 4);
    size_t cap = b.cap;
    char *data = b.data;

    buffer_retrieve_all(&b);
    ck_assert_uint_eq(buffer_readable(&b), 0);
    ck_assert_uint_eq(b.cap, cap);                 /* keeps its storage */
    ck_assert_ptr_eq(b.data, data);
    /* Empty: the whole space behind the prepend area is writable again. */
    ck_assert_uint_eq(buffer_prependable(&b), BUFFER_PREPEND);
    ck_assert_uint_eq(buffer_writable(&b), cap - BUFFER_PREPEND);
    expect_accounting(&b);

    ck_assert_int_eq(buffer_append(&b, "xyz", 3), 0);
    ck_assert_mem_eq(buffer_peek(&b), "xyz", 3);
    ck_assert_uint_eq(buffer_prependable(&b), BUFFER_PREPEND);
    buffer_free(&b);
}
END_TEST

START_TEST(retrieve_exactly_all)
{
    /* Retrieving the last byte one call at a time also starts over. */
    struct buffer b;
    buffer_init(&b);
    ck_assert_int_eq(buffer_append(&b, "abc", 3), 0);
    buffer_retrieve(&b, 1);
    buffer_retrieve(&b, 2);
    ck_assert_uint_eq(buffer_readable(&b), 0);
    ck_assert_uint_eq(buffer_prependable(&b), BUFFER_PREPEND);
    ck_assert_uint_eq(buffer_writable(&b), b.cap - BUFFER_PREPEND);
    buffer_retrieve_all(&b);                       /* of an empty buffer */
    ck_assert_uint_eq(buffer_readable(&b), 0);
    expect_accounting(&b);
    buffer_free(&b);

    buffer_init(&b);
    buffer_retrieve_all(&b);                       /* of a fresh buffer */
    ck_assert_uint_eq(buffer_readable(&b), 0);
    ck_assert_ptr_null(b.data);
    buffer_free(&b);
}
END_TEST

START_TEST(accounting_through_operations)
{
    struct buffer b;
    size_t in = 0, out = 0;

    buffer_init(&b);
    for (int round = 0; round < 200; round++) {
        size_t add = (size_t)(round * 37 % 300);
        append_pattern(&b, add, in);
        in += add;
        expect_accounting(&b);
        size_t take = (size_t)(round * 53 % 280);
        if (take > buffer_readable(&b))
            take = buffer_readable(&b);
        buffer_retrieve(&b, take);
        out += take;
        expect_accounting(&b);
        expect_pattern(&b, out, in - out);
        if (b.data)                       /* allocated: the area is kept */
            ck_assert_uint_ge(buffer_prependable(&b), BUFFER_PREPEND);
    }
    buffer_free(&b);
}
END_TEST

/* ---- growth ------------------------------------------------------------- */

START_TEST(growth_keeps_contents)
{
    struct buffer b;
    size_t total = 0;
    int grew = 0;
    size_t last_cap = 0;

    buffer_init(&b);
    for (int i = 0; i < 3000; i++) {
        size_t len = (size_t)(i % 1000) + 1;
        append_pattern(&b, len, total);
        total += len;
        if (b.cap != last_cap) {
            grew++;
            last_cap = b.cap;
        }
        ck_assert_uint_ge(b.cap, BUFFER_PREPEND + total);
    }
    expect_pattern(&b, 0, total);
    ck_assert_uint_eq(buffer_prependable(&b), BUFFER_PREPEND);
    expect_accounting(&b);
    /* 1.5 MB in 3000 appends: growth is geometric, not one step per append. */
    ck_assert_int_le(grew, 40);
    buffer_free(&b);
}
END_TEST

START_TEST(growth_byte_by_byte)
{
    struct buffer b;
    int grew = 0;
    size_t last_cap = 0;

    buffer_init(&b);
    for (size_t i = 0; i < 100000; i++) {
        unsigned char c = pattern(i);
        ck_assert_int_eq(buffer_append(&b, &c, 1), 0);
        if (b.cap != last_cap) {
            grew++;
            last_cap = b.cap;
        }
    }
    expect_pattern(&b, 0, 100000);
    ck_assert_int_le(grew, 40);
    buffer_free(&b);
}
END_TEST

START_TEST(one_big_append)
{
    struct buffer b;
    size_t len = 3u << 20;
    unsigned char *big = pattern_alloc(len, 0);

    buffer_init(&b);
    ck_assert_int_eq(buffer_append(&b, big, 10), 0);
    ck_assert_int_eq(buffer_append(&b, big + 10, len - 10), 0);
    expect_pattern(&b, 0, len);
    expect_accounting(&b);
    buffer_free(&b);
    free(big);
}
END_TEST

START_TEST(append_too_much_is_enomem)
{
    struct buffer b;
    buffer_init(&b);
    ck_assert_int_eq(buffer_append(&b, "abc", 3), 0);
    size_t cap = b.cap;
    char *data = b.data;

    /* BUFFER_PREPEND + readable + SIZE_MAX overflows: refused, unchanged.
     * The source is never read (it is 3 bytes long). */
    errno = 0;
    ck_assert_int_eq(buffer_append(&b, "xyz", SIZE_MAX), -1);
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_uint_eq(buffer_readable(&b), 3);
    ck_assert_mem_eq(buffer_peek(&b), "abc", 3);
    ck_assert_uint_eq(b.cap, cap);
    ck_assert_ptr_eq(b.data, data);

    errno = 0;
    ck_assert_int_eq(buffer_ensure_writable(&b, SIZE_MAX - 4), -1);
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_mem_eq(buffer_peek(&b), "abc", 3);
    buffer_free(&b);
}
END_TEST

/* ---- prepend ------------------------------------------------------------ */

START_TEST(prepend_header_in_front)
{
    struct buffer b;
    buffer_init(&b);
    ck_assert_int_eq(buffer_append(&b, "payload", 7), 0);
    const char *payload = buffer_peek(&b);
    char *data = b.data;
    size_t writable = buffer_writable(&b);

    ck_assert_int_eq(buffer_prepend(&b, "HDR:", 4), 0);
    ck_assert_uint_eq(buffer_readable(&b), 11);
    ck_assert_mem_eq(buffer_peek(&b), "HDR:payload", 11);
    /* The payload did not move: the header went into the prepend area. */
    ck_assert_ptr_eq(buffer_peek(&b) + 4, payload);
    ck_assert_ptr_eq(b.data, data);
    ck_assert_uint_eq(buffer_prependable(&b), BUFFER_PREPEND - 4);
    ck_assert_uint_eq(buffer_writable(&b), writable);
    expect_accounting(&b);

    /* The rest of the prepend area, exactly. */
    ck_assert_int_eq(buffer_prepend(&b, "1234", BUFFER_PREPEND - 4), 0);
    ck_assert_uint_eq(buffer_prependable(&b), 0);
    ck_assert_mem_eq(buffer_peek(&b), "1234HDR:payload", 15);

    /* And appending behind still works. */
    ck_assert_int_eq(buffer_append(&b, "!", 1), 0);
    ck_assert_mem_eq(buffer_peek(&b), "1234HDR:payload!", 16);
    buffer_free(&b);
}
END_TEST

START_TEST(prepend_too_big_is_enospc)
{
    struct buffer b;
    char big[BUFFER_PREPEND + 1];
    memset(big, 'P', sizeof(big));

    buffer_init(&b);
    ck_assert_int_eq(buffer_append(&b, "data", 4), 0);
    errno = 0;
    ck_assert_int_eq(buffer_prepend(&b, big, BUFFER_PREPEND + 1), -1);
    ck_assert_int_eq(errno, ENOSPC);
    ck_assert_uint_eq(buffer_readable(&b), 4);               /* unchanged */
    ck_assert_mem_eq(buffer_peek(&b), "data", 4);
    ck_assert_uint_eq(buffer_prependable(&b), BUFFER_PREPEND);

    ck_assert_int_eq(buffer_prepend(&b, big, 3), 0);
    errno = 0;
    ck_assert_int_eq(buffer_prepend(&b, big, BUFFER_PREPEND - 2), -1);
    ck_assert_int_eq(errno, ENOSPC);
    ck_assert_uint_eq(buffer_readable(&b), 7);
    ck_assert_mem_eq(buffer_peek(&b), "PPPdata", 7);
    buffer_free(&b);
}
END_TEST

START_TEST(prepend_after_retrieve)
{
    /* Retrieved bytes in front become prependable space. */
    struct buffer b;
    buffer_init(&b);
    ck_assert_int_eq(buffer_append(&b, "0123456789abcdef", 16), 0);
    buffer_retrieve(&b, 10);
    ck_assert_uint_eq(buffer_prependable(&b), BUFFER_PREPEND + 10);
    ck_assert_int_eq(buffer_prepend(&b, "ABCDEFGHIJKLMNOPQR", BUFFER_PREPEND + 10), 0);
    ck_assert_uint_eq(buffer_prependable(&b), 0);
    ck_assert_mem_eq(buffer_peek(&b), "ABCDEFGHIJKLMNOPQRabcdef", 24);
    buffer_free(&b);
}
END_TEST

START_TEST(prepend_into_fresh_buffer)
{
    /* buffer.h: "The first BUFFER_PREPEND bytes of a fresh buffer stay free,
     * so a header can be put in front of a payload without moving it."
     * A header put in front of an empty payload (a zero-length message)
     * in a buffer that has no storage yet must fit as well. */
    struct buffer b;
    buffer_init(&b);
    errno = 0;
    int rc = buffer_prepend(&b, "\0\0\0\0", 4);
    ck_assert_msg(rc == 0, "buffer_prepend of 4 bytes into a fresh buffer "
                  "returned %d (errno %d: %s); expected 0", rc, errno,
                  strerror(errno));
    ck_assert_uint_eq(buffer_readable(&b), 4);
    ck_assert_mem_eq(buffer_peek(&b), "\0\0\0\0", 4);
    ck_assert_uint_eq(buffer_prependable(&b), BUFFER_PREPEND - 4);
    buffer_free(&b);
}
END_TEST

START_TEST(prepend_into_fresh_buffer_too_big)
{
    struct buffer b;
    char big[BUFFER_PREPEND + 1] = {0};
    buffer_init(&b);
    errno = 0;
    ck_assert_int_eq(buffer_prepend(&b, big, sizeof(big)), -1);
    ck_assert_int_eq(errno, ENOSPC);
    ck_assert_uint_eq(buffer_readable(&b), 0);
    buffer_free(&b);
}
END_TEST

/* ---- compaction --------------------------------------------------------- */

/* A buffer whose writable space is exactly 0, holding pattern(0 .. n). */
static size_t fill_to_capacity(struct buffer *b)
{
    size_t n = 0;

    buffer_init(b);
    ck_assert_int_eq(buffer_ensure_writable(b, 1000), 0);
    ck_assert_uint_ge(buffer_writable(b), 1000);        /* room to play */
    while (buffer_writable(b) > 0) {
        size_t len = buffer_writable(b);
        if (len > 4096)
            len = 4096;
        append_pattern(b, len, n);
        n += len;
    }
    ck_assert_uint_eq(buffer_writable(b), 0);
    return n;
}

START_TEST(compaction_reuses_front_space)
{
    struct buffer b;
    size_t n = fill_to_capacity(&b);
    size_t cap = b.cap;
    char *data = b.data;

    /* Consume 40 bytes at the front, then append 30: they fit in the space
     * freed at the front, so the buffer wraps around instead of growing. */
    buffer_retrieve(&b, 40);
    append_pattern(&b, 30, n);
    ck_assert_uint_eq(b.cap, cap);
    ck_assert_ptr_eq(b.data, data);
    expect_pattern(&b, 40, n - 40 + 30);
    ck_assert_uint_eq(buffer_prependable(&b), BUFFER_PREPEND);   /* compacted */
    ck_assert_uint_eq(buffer_writable(&b), 10);
    expect_accounting(&b);

    /* Exactly the freed space: still no growth. */
    buffer_retrieve(&b, 25);
    append_pattern(&b, 35, n + 30);
    ck_assert_uint_eq(b.cap, cap);
    ck_assert_ptr_eq(b.data, data);
    ck_assert_uint_eq(buffer_writable(&b), 0);
    expect_pattern(&b, 65, n - 65 + 65);
    buffer_free(&b);
}
END_TEST

START_TEST(compaction_repeated_never_grows)
{
    /* A stream through a buffer that never holds more than it can: after
     * the first allocation, the capacity never changes. */
    struct buffer b;
    size_t n = fill_to_capacity(&b);
    size_t cap = b.cap;
    size_t out = 0;

    for (int i = 0; i < 10000; i++) {
        size_t take = (size_t)(i % 50) + 1;
        buffer_retrieve(&b, take);
        out += take;
        append_pattern(&b, take, n);
        n += take;
        ck_assert_uint_eq(b.cap, cap);
    }
    expect_pattern(&b, out, n - out);
    buffer_free(&b);
}
END_TEST

START_TEST(grows_when_front_space_is_not_enough)
{
    struct buffer b;
    size_t n = fill_to_capacity(&b);
    size_t cap = b.cap;

    buffer_retrieve(&b, 10);
    append_pattern(&b, 30, n);
    ck_assert_uint_gt(b.cap, cap);
    expect_pattern(&b, 10, n - 10 + 30);
    ck_assert_uint_eq(buffer_prependable(&b), BUFFER_PREPEND);
    expect_accounting(&b);
    buffer_free(&b);
}
END_TEST

START_TEST(compaction_after_prepend)
{
    /* Bytes prepended into the reserved area move back correctly when the
     * buffer compacts. */
    struct buffer b;
    size_t n = fill_to_capacity(&b);
    size_t cap = b.cap;
    unsigned char p[BUFFER_PREPEND];

    buffer_retrieve(&b, 100);
    memset(p, 'H', sizeof(p));
    ck_assert_int_eq(buffer_prepend(&b, p, BUFFER_PREPEND), 0);
    append_pattern(&b, 20, n);
    ck_assert_uint_eq(b.cap, cap);
    ck_assert_uint_eq(buffer_readable(&b), BUFFER_PREPEND + n - 100 + 20);
    ck_assert_mem_eq(buffer_peek(&b), p, BUFFER_PREPEND);
    buffer_retrieve(&b, BUFFER_PREPEND);
    expect_pattern(&b, 100, n - 100 + 20);
    buffer_free(&b);
}
END_TEST

/* ---- ensure_writable, begin_write, has_written ------------------------- */

START_TEST(ensure_writable_fresh)
{
    struct buffer b;
    buffer_init(&b);
    ck_assert_int_eq(buffer_ensure_writable(&b, 100), 0);
    ck_assert_ptr_nonnull(b.data);
    ck_assert_uint_ge(buffer_writable(&b), 100);
    ck_assert_uint_eq(buffer_readable(&b), 0);
    ck_assert_uint_eq(buffer_prependable(&b), BUFFER_PREPEND);
    expect_accounting(&b);

    char *w = buffer_begin_write(&b);
    ck_assert_ptr_eq(w, b.data + BUFFER_PREPEND);
    unsigned char bytes[100];
    fill_pattern(bytes, 100, 0);
    memcpy(w, bytes, 100);
    size_t writable = buffer_writable(&b);
    buffer_has_written(&b, 100);
    expect_pattern(&b, 0, 100);
    ck_assert_uint_eq(buffer_writable(&b), writable - 100);
    expect_accounting(&b);

    /* begin_write is always right behind the readable bytes. */
    ck_assert_int_eq(buffer_ensure_writable(&b, 1), 0);
    ck_assert_ptr_eq(buffer_begin_write(&b), buffer_peek(&b) + 100);
    buffer_free(&b);
}
END_TEST

START_TEST(ensure_writable_enough_is_noop)
{
    struct buffer b;
    buffer_init(&b);
    ck_assert_int_eq(buffer_append(&b, "abcdef", 6), 0);
    buffer_retrieve(&b, 2);
    size_t writable = buffer_writable(&b);
    char *data = b.data;
    const char *front = buffer_peek(&b);

    ck_assert_int_eq(buffer_ensure_writable(&b, writable), 0);
    ck_assert_ptr_eq(b.data, data);
    ck_assert_ptr_eq(buffer_peek(&b), front);              /* not moved */
    ck_assert_uint_eq(buffer_writable(&b), writable);
    ck_assert_mem_eq(buffer_peek(&b), "cdef", 4);
    ck_assert_int_eq(buffer_ensure_writable(&b, 0), 0);
    ck_assert_ptr_eq(buffer_peek(&b), front);
    buffer_free(&b);
}
END_TEST

START_TEST(ensure_writable_grows_and_keeps)
{
    struct buffer b;
    buffer_init(&b);
    ck_assert_int_eq(buffer_append(&b, "keep me", 7), 0);
    ck_assert_int_eq(buffer_ensure_writable(&b, 100000), 0);
    ck_assert_uint_ge(buffer_writable(&b), 100000);
    ck_assert_uint_eq(buffer_readable(&b), 7);
    ck_assert_mem_eq(buffer_peek(&b), "keep me", 7);
    memset(buffer_begin_write(&b), 'z', 100000);            /* ASan: in bounds */
    buffer_has_written(&b, 100000);
    ck_assert_uint_eq(buffer_readable(&b), 100007);
    ck_assert_int_eq(buffer_peek(&b)[100006], 'z');
    ck_assert_mem_eq(buffer_peek(&b), "keep mez", 8);
    expect_accounting(&b);
    buffer_free(&b);
}
END_TEST

START_TEST(ensure_writable_compacts)
{
    struct buffer b;
    size_t n = fill_to_capacity(&b);
    size_t cap = b.cap;
    buffer_retrieve(&b, 50);
    ck_assert_int_eq(buffer_ensure_writable(&b, 50), 0);
    ck_assert_uint_eq(b.cap, cap);
    ck_assert_uint_ge(buffer_writable(&b), 50);
    expect_pattern(&b, 50, n - 50);
    unsigned char more[50];
    fill_pattern(more, 50, n);
    memcpy(buffer_begin_write(&b), more, 50);
    buffer_has_written(&b, 50);
    expect_pattern(&b, 50, n);
    buffer_free(&b);
}
END_TEST

/* ---- release and free --------------------------------------------------- */

START_TEST(release_keeps_unread_data)
{
    struct buffer b;
    buffer_init(&b);
    ck_assert_int_eq(buffer_append(&b, "unread", 6), 0);
    buffer_retrieve(&b, 2);
    char *data = b.data;
    buffer_release(&b);
    ck_assert_ptr_eq(b.data, data);
    ck_assert_uint_eq(buffer_readable(&b), 4);
    ck_assert_mem_eq(buffer_peek(&b), "read", 4);

    buffer_retrieve(&b, 3);                   /* a single byte still counts */
    buffer_release(&b);
    ck_assert_ptr_nonnull(b.data);
    ck_assert_uint_eq(buffer_readable(&b), 1);
    ck_assert_mem_eq(buffer_peek(&b), "d", 1);
    buffer_free(&b);
}
END_TEST

START_TEST(release_frees_when_empty)
{
    struct buffer b;
    buffer_init(&b);
    ck_assert_int_eq(buffer_append(&b, "gone", 4), 0);
    buffer_retrieve_all(&b);
    ck_assert_ptr_nonnull(b.data);
    buffer_release(&b);
    ck_assert_ptr_null(b.data);            /* an idle buffer pins no memory */
    ck_assert_uint_eq(b.cap, 0);
    ck_assert_uint_eq(buffer_readable(&b), 0);
    ck_assert_uint_eq(buffer_writable(&b), 0);
    ck_assert_uint_eq(buffer_prependable(&b), 0);

    /* Usable again afterwards, like a fresh one. */
    ck_assert_int_eq(buffer_append(&b, "again", 5), 0);
    ck_assert_mem_eq(buffer_peek(&b), "again", 5);
    ck_assert_uint_eq(buffer_prependable(&b), BUFFER_PREPEND);
    buffer_free(&b);

    buffer_init(&b);
    buffer_release(&b);                   /* fresh: nothing to free */
    ck_assert_ptr_null(b.data);
    /* Only the empty allocated buffer is freed (no leak: LSan checks). */
    ck_assert_int_eq(buffer_ensure_writable(&b, 10), 0);
    buffer_release(&b);
    ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(free_with_data)
{
    struct buffer b;
    buffer_init(&b);
    ck_assert_int_eq(buffer_append(&b, "data", 4), 0);
    buffer_free(&b);                      /* LSan: nothing leaks */
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.cap, 0);
    ck_assert_uint_eq(buffer_readable(&b), 0);
    ck_assert_uint_eq(buffer_writable(&b), 0);
    ck_assert_int_eq(buffer_append(&b, "x", 1), 0);
    ck_assert_mem_eq(buffer_peek(&b), "x", 1);
    buffer_free(&b);
}
END_TEST

/* ---- buffer_peek_u32 ---------------------------------------------------- */

START_TEST(peek_u32_big_endian)
{
    static const struct {
        unsigned char bytes[4];
        uint32_t value;
    } cases[] = {
        { {0x01, 0x02, 0x03, 0x04}, 0x01020304u },
        { {0xFF, 0xFF, 0xFF, 0xFF}, 0xFFFFFFFFu },
        { {0x00, 0x00, 0x00, 0x00}, 0 },
        { {0x80, 0x00, 0x00, 0x00}, 0x80000000u },
        { {0x00, 0x00, 0x00, 0x01}, 1 },
        { {0x00, 0x00, 0x01, 0x00}, 256 },
        { {0x7F, 0xFE, 0x80, 0x81}, 0x7FFE8081u },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buffer b;
        buffer_init(&b);
        ck_assert_int_eq(buffer_append(&b, cases[i].bytes, 4), 0);
        ck_assert_uint_eq(buffer_peek_u32(&b), cases[i].value);
        ck_assert_uint_eq(buffer_readable(&b), 4);          /* only peeks */
        buffer_free(&b);
    }
}
END_TEST

START_TEST(peek_u32_at_read_position)
{
    /* Reads the first 4 *readable* bytes, at any (unaligned) offset, and
     * only 4 of them. */
    struct buffer b;
    static const unsigned char bytes[] = {0xEE, 0xDD, 0xCC, 0x0A, 0x0B, 0x0C,
                                          0x0D, 0x0E, 0x0F};
    buffer_init(&b);
    ck_assert_int_eq(buffer_append(&b, bytes, sizeof(bytes)), 0);
    ck_assert_uint_eq(buffer_peek_u32(&b), 0xEEDDCC0Au);
    buffer_retrieve(&b, 1);
    ck_assert_uint_eq(buffer_peek_u32(&b), 0xDDCC0A0Bu);
    buffer_retrieve(&b, 2);
    ck_assert_uint_eq(buffer_peek_u32(&b), 0x0A0B0C0Du);
    buffer_retrieve(&b, 1);
    ck_assert_uint_eq(buffer_peek_u32(&b), 0x0B0C0D0Eu);
    buffer_free(&b);
}
END_TEST

START_TEST(peek_u32_after_prepend)
{
    struct buffer b;
    static const unsigned char hdr[4] = {0x00, 0x00, 0x00, 0x07};
    buffer_init(&b);
    ck_assert_int_eq(buffer_append(&b, "payload", 7), 0);
    ck_assert_int_eq(buffer_prepend(&b, hdr, 4), 0);
    ck_assert_uint_eq(buffer_peek_u32(&b), 7);
    buffer_free(&b);
}
END_TEST

/* ---- buffer_read_fd ----------------------------------------------------- */

START_TEST(read_fd_small_into_fresh_buffer)
{
    int p[2];
    struct buffer b;
    size_t offered = 0;

    make_pipe(p, 0);
    write_all(p[1], "hello", 5);
    buffer_init(&b);
    ck_assert_ptr_null(b.data);           /* nothing allocated in advance */
    ck_assert_int_eq(buffer_read_fd(&b, p[0], &offered), 5);
    ck_assert_ptr_nonnull(b.data);
    ck_assert_uint_eq(buffer_readable(&b), 5);
    ck_assert_mem_eq(buffer_peek(&b), "hello", 5);
    /* The buffer had no writable space: all it offered was the stack. */
    ck_assert_uint_eq(offered, BUFFER_EXTRA_READ);
    ck_assert_uint_lt(5, offered);        /* fewer than offered: drained */
    expect_accounting(&b);
    buffer_free(&b);
    close_pair(p);
}
END_TEST

START_TEST(read_fd_fits_writable_space)
{
    int p[2];
    struct buffer b;
    size_t offered = 0;
    unsigned char bytes[500];

    make_pipe(p, 0);
    buffer_init(&b);
    ck_assert_int_eq(buffer_append(&b, "abc", 3), 0);
    ck_assert_int_eq(buffer_ensure_writable(&b, 1000), 0);
    size_t writable = buffer_writable(&b);
    size_t cap = b.cap;
    char *data = b.data;
    ck_assert_uint_lt(writable, BUFFER_EXTRA_READ);

    fill_pattern(bytes, sizeof(bytes), 0);
    write_all(p[1], bytes, sizeof(bytes));
    ck_assert_int_eq(buffer_read_fd(&b, p[0], &offered), 500);
    ck_assert_uint_eq(offered, writable + BUFFER_EXTRA_READ);
    ck_assert_uint_eq(b.cap, cap);        /* read in place: no growth */
    ck_assert_ptr_eq(b.data, data);
    ck_assert_uint_eq(buffer_readable(&b), 503);
    ck_assert_mem_eq(buffer_peek(&b), "abc", 3);
    ck_assert_mem_eq(buffer_peek(&b) + 3, bytes, 500);
    ck_assert_uint_eq(buffer_writable(&b), writable - 500);
    buffer_free(&b);
    close_pair(p);
}
END_TEST

START_TEST(read_fd_spills_into_extra)
{
    int p[2];
    struct buffer b;
    size_t offered = 0;
    size_t len = 60000;                   /* fits in a default pipe */
    unsigned char *bytes = pattern_alloc(len, 10);

    make_pipe(p, 0);
    buffer_init(&b);
    append_pattern(&b, 10, 0);
    size_t writable = buffer_writable(&b);
    ck_assert_uint_lt(writable, len);     /* the read must spill */

    write_all(p[1], bytes, len);
    ck_assert_int_eq(buffer_read_fd(&b, p[0], &offered), (ssize_t)len);
    ck_assert_uint_eq(offered, writable + BUFFER_EXTRA_READ);
    expect_pattern(&b, 0, 10 + len);      /* the spilled part was appended */
    expect_accounting(&b);
    buffer_free(&b);
    free(bytes);
    close_pair(p);
}
END_TEST

START_TEST(read_fd_more_than_offered)
{
    /* More waiting than one call takes: it reads exactly what it offered
     * (n == offered: not drained), then the rest in later calls. */
    int p[2];
    struct buffer b;
    size_t offered = 0;
    size_t len = 200000, got = 0;
    unsigned char *bytes = pattern_alloc(len, 0);

    pipe_holding(p, bytes, len);
    set_nonblocking(p[0]);

    buffer_init(&b);
    ssize_t n = buffer_read_fd(&b, p[0], &offered);
    ck_assert_uint_eq(offered, BUFFER_EXTRA_READ);
    ck_assert_int_eq(n, (ssize_t)offered);
    got = (size_t)n;
    int calls = 1;
    while (got < len) {
        size_t writable = buffer_writable(&b);
        n = buffer_read_fd(&b, p[0], &offered);
        ck_assert_int_gt(n, 0);
        ck_assert_uint_eq(offered, writable < BUFFER_EXTRA_READ
                                   ? writable + BUFFER_EXTRA_READ : writable);
        ck_assert_uint_le((size_t)n, offered);
        if ((size_t)n < offered)
            ck_assert_uint_eq(got + (size_t)n, len);    /* drained = all */
        got += (size_t)n;
        ck_assert_int_lt(++calls, 100);
    }
    expect_pattern(&b, 0, len);
    errno = 0;
    ck_assert_int_eq(buffer_read_fd(&b, p[0], &offered), -1);
    ck_assert_int_eq(errno, EAGAIN);
    expect_pattern(&b, 0, len);
    buffer_free(&b);
    free(bytes);
    close_pair(p);
}
END_TEST

START_TEST(read_fd_large_writable_space)
{
    /* With BUFFER_EXTRA_READ or more free, the stack adds nothing: the
     * offer is the writable space and the data lands in place. */
    int p[2];
    struct buffer b;
    size_t offered = 0;
    size_t len = 70000;
    unsigned char *bytes = pattern_alloc(len, 0);

    pipe_holding(p, bytes, len);

    buffer_init(&b);
    ck_assert_int_eq(buffer_ensure_writable(&b, 100000), 0);
    size_t writable = buffer_writable(&b);
    size_t cap = b.cap;
    ck_assert_int_eq(buffer_read_fd(&b, p[0], &offered), (ssize_t)len);
    ck_assert_uint_eq(offered, writable);
    ck_assert_uint_eq(b.cap, cap);
    expect_pattern(&b, 0, len);
    buffer_free(&b);
    free(bytes);
    close_pair(p);
}
END_TEST

START_TEST(read_fd_socketpair)
{
    int sv[2];
    struct buffer b;
    size_t offered;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    write_all(sv[1], "ping", 4);
    buffer_init(&b);
    ck_assert_int_eq(buffer_read_fd(&b, sv[0], &offered), 4);
    ck_assert_mem_eq(buffer_peek(&b), "ping", 4);
    write_all(sv[1], "pong", 4);
    ck_assert_int_eq(buffer_read_fd(&b, sv[0], &offered), 4);
    ck_assert_mem_eq(buffer_peek(&b), "pingpong", 8);
    shutdown(sv[1], SHUT_WR);
    ck_assert_int_eq(buffer_read_fd(&b, sv[0], &offered), 0);
    ck_assert_mem_eq(buffer_peek(&b), "pingpong", 8);
    buffer_free(&b);
    close_pair(sv);
}
END_TEST

START_TEST(read_fd_eof)
{
    int p[2];
    struct buffer b;
    size_t offered;

    make_pipe(p, 0);
    close(p[1]);
    buffer_init(&b);
    ck_assert_int_eq(buffer_read_fd(&b, p[0], &offered), 0);
    ck_assert_uint_eq(buffer_readable(&b), 0);

    ck_assert_int_eq(buffer_append(&b, "kept", 4), 0);
    ck_assert_int_eq(buffer_read_fd(&b, p[0], &offered), 0);
    ck_assert_uint_eq(buffer_readable(&b), 4);
    ck_assert_mem_eq(buffer_peek(&b), "kept", 4);
    buffer_free(&b);
    close(p[0]);
}
END_TEST

START_TEST(read_fd_eagain)
{
    int p[2];
    struct buffer b;
    size_t offered;

    make_pipe(p, 0);
    set_nonblocking(p[0]);
    buffer_init(&b);
    errno = 0;
    ck_assert_int_eq(buffer_read_fd(&b, p[0], &offered), -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_uint_eq(buffer_readable(&b), 0);

    ck_assert_int_eq(buffer_append(&b, "kept", 4), 0);
    errno = 0;
    ck_assert_int_eq(buffer_read_fd(&b, p[0], &offered), -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_mem_eq(buffer_peek(&b), "kept", 4);
    ck_assert_uint_eq(buffer_readable(&b), 4);
    buffer_free(&b);
    close_pair(p);
}
END_TEST

START_TEST(read_fd_bad_fd)
{
    struct buffer b;
    size_t offered;
    buffer_init(&b);
    ck_assert_int_eq(buffer_append(&b, "kept", 4), 0);
    errno = 0;
    ck_assert_int_eq(buffer_read_fd(&b, -1, &offered), -1);
    ck_assert_int_eq(errno, EBADF);
    ck_assert_mem_eq(buffer_peek(&b), "kept", 4);
    buffer_free(&b);
}
END_TEST

/* ---- buffer_write_fd ---------------------------------------------------- */

START_TEST(write_fd_all)
{
    int p[2];
    struct buffer b;
    char got[32];

    make_pipe(p, 0);
    buffer_init(&b);
    ck_assert_int_eq(buffer_append(&b, "hello world", 11), 0);
    buffer_retrieve(&b, 6);                          /* writes from rd */
    ck_assert_int_eq(buffer_write_fd(&b, p[1]), 5);
    ck_assert_uint_eq(buffer_readable(&b), 0);
    ck_assert_int_eq(read(p[0], got, sizeof(got)), 5);
    ck_assert_mem_eq(got, "world", 5);
    buffer_free(&b);
    close_pair(p);
}
END_TEST

START_TEST(write_fd_partial)
{
    int sv[2];
    struct buffer b;
    size_t len = 1u << 20, received = 0;
    unsigned char *bytes = pattern_alloc(len, 0), *got = malloc(len);
    ck_assert_ptr_nonnull(got);

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int small = 4096;
    ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small,
                                sizeof(small)), 0);
    set_nonblocking(sv[0]);
    set_nonblocking(sv[1]);

    buffer_init(&b);
    ck_assert_int_eq(buffer_append(&b, bytes, len), 0);

    /* The first write takes only part of 1 MiB; what it took is gone. */
    ssize_t n = buffer_write_fd(&b, sv[0]);
    ck_assert_int_gt(n, 0);
    ck_assert_int_lt(n, (ssize_t)len);
    size_t sent = (size_t)n;
    expect_pattern(&b, sent, len - sent);

    /* Full socket: -1/EAGAIN, nothing retrieved. */
    for (;;) {
        errno = 0;
        n = buffer_write_fd(&b, sv[0]);
        if (n < 0)
            break;
        sent += (size_t)n;
        ck_assert_uint_lt(sent, len);
    }
    ck_assert_int_eq(errno, EAGAIN);
    expect_pattern(&b, sent, len - sent);

    /* Drain and continue until all is out; the stream arrives intact. */
    int rounds = 0;
    while (received < len) {
        ssize_t r = read(sv[1], got + received, len - received);
        if (r > 0)
            received += (size_t)r;
        else
            ck_assert_msg(r < 0 && errno == EAGAIN, "read: %zd %s", r,
                          strerror(errno));
        if (buffer_readable(&b) > 0) {
            n = buffer_write_fd(&b, sv[0]);
            if (n > 0) {
                sent += (size_t)n;
                ck_assert_uint_eq(buffer_readable(&b), len - sent);
            } else {
                ck_assert_int_eq(errno, EAGAIN);
            }
        }
        ck_assert_int_lt(++rounds, 1000000);
    }
    ck_assert_uint_eq(sent, len);
    ck_assert_uint_eq(buffer_readable(&b), 0);
    ck_assert_mem_eq(got, bytes, len);
    buffer_free(&b);
    free(bytes);
    free(got);
    close_pair(sv);
}
END_TEST

START_TEST(write_fd_error_keeps_data)
{
    int sv[2];
    struct buffer b;
    signal(SIGPIPE, SIG_IGN);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);
    buffer_init(&b);
    ck_assert_int_eq(buffer_append(&b, "lost", 4), 0);
    errno = 0;
    ck_assert_int_eq(buffer_write_fd(&b, sv[0]), -1);
    ck_assert_int_eq(errno, EPIPE);
    ck_assert_uint_eq(buffer_readable(&b), 4);
    ck_assert_mem_eq(buffer_peek(&b), "lost", 4);
    buffer_free(&b);
    close(sv[0]);
}
END_TEST

/* ---- borrowed memory: views and loans ---------------------------------- */

/* True if p lies in the n bytes at mem. */
static int inside(const void *p, const void *mem, size_t n)
{
    uintptr_t a = (uintptr_t)p, m = (uintptr_t)mem;
    return a >= m && a < m + n;
}

/* A fresh b, lent the cap bytes at mem, holding pattern(0 .. fill). */
static void lend_filled(struct buffer *b, char *mem, size_t cap, size_t fill)
{
    buffer_init(b);
    buffer_lend(b, mem, cap);
    append_pattern(b, fill, 0);
    ck_assert(inside(buffer_peek(b), mem, cap));
}

START_TEST(view_reads_in_place)
{
    static const char bytes[] = "\0\0\0\3abcde";
    struct buffer v;
    buffer_view(&v, bytes, 9);
    ck_assert_ptr_eq(buffer_peek(&v), bytes);   /* no copy */
    ck_assert_uint_eq(buffer_readable(&v), 9);
    ck_assert_uint_eq(buffer_peek_u32(&v), 3);
    buffer_retrieve(&v, 4);
    ck_assert_mem_eq(buffer_peek(&v), "abcde", 5);
    buffer_retrieve(&v, 5);
    ck_assert_uint_eq(buffer_readable(&v), 0);
    buffer_free(&v);                 /* ASan: a free() of bytes would fail */
    ck_assert_ptr_null(v.data);
    ck_assert(!v.borrowed);
}
END_TEST

START_TEST(lend_writes_in_place)
{
    char mem[64];
    struct buffer b;
    buffer_init(&b);
    buffer_lend(&b, mem, sizeof(mem));
    ck_assert_uint_eq(buffer_readable(&b), 0);
    ck_assert_uint_eq(buffer_prependable(&b), BUFFER_PREPEND);
    ck_assert_uint_eq(buffer_writable(&b), sizeof(mem) - BUFFER_PREPEND);
    append_pattern(&b, 40, 0);
    ck_assert(inside(buffer_peek(&b), mem, sizeof(mem)));
    expect_pattern(&b, 0, 40);
    expect_accounting(&b);

    /* Room in front after a retrieve: compacted within the loan. */
    buffer_retrieve(&b, 30);
    append_pattern(&b, 30, 40);
    ck_assert(inside(buffer_peek(&b), mem, sizeof(mem)));
    expect_pattern(&b, 30, 40);

    /* Ending the loan copies what is left to the heap... */
    ck_assert_int_eq(buffer_end_loan(&b), 0);
    ck_assert(!b.borrowed);
    ck_assert(!inside(buffer_peek(&b), mem, sizeof(mem)));
    memset(mem, 0xEE, sizeof(mem));
    expect_pattern(&b, 30, 40);         /* ...so mem may go away */
    ck_assert_uint_eq(buffer_prependable(&b), BUFFER_PREPEND);

    /* Not borrowing any more: nothing to do. */
    const char *before = buffer_peek(&b);
    ck_assert_int_eq(buffer_end_loan(&b), 0);
    ck_assert_ptr_eq(buffer_peek(&b), before);
    buffer_free(&b);                    /* LSan: the heap copy is freed */
}
END_TEST

START_TEST(lend_grows_to_heap)
{
    char mem[32];
    struct buffer b;
    lend_filled(&b, mem, sizeof(mem), 20);
    append_pattern(&b, 100, 20);        /* more than the loan holds */
    ck_assert(!b.borrowed);
    ck_assert(!inside(buffer_peek(&b), mem, sizeof(mem)));
    memset(mem, 0xEE, sizeof(mem));
    expect_pattern(&b, 0, 120);
    expect_accounting(&b);
    ck_assert_int_eq(buffer_end_loan(&b), 0);   /* on the heap already */
    expect_pattern(&b, 0, 120);
    buffer_free(&b);                    /* ASan: no free() of mem */
}
END_TEST

START_TEST(lend_empty_end_keeps_nothing)
{
    char mem[64];
    struct buffer b;
    lend_filled(&b, mem, sizeof(mem), 10);
    buffer_retrieve_all(&b);
    ck_assert_int_eq(buffer_end_loan(&b), 0);
    ck_assert_ptr_null(b.data);         /* nothing left: no storage */
    ck_assert_uint_eq(b.cap, 0);
    ck_assert(!b.borrowed);

    buffer_lend(&b, mem, sizeof(mem));  /* release and free drop a loan */
    buffer_release(&b);
    ck_assert_ptr_null(b.data);
    buffer_lend(&b, mem, sizeof(mem));
    append_pattern(&b, 10, 0);
    buffer_free(&b);
    ck_assert_ptr_null(b.data);
    ck_assert(!b.borrowed);
}
END_TEST

START_TEST(lend_end_loan_enomem)
{
    char mem[64];
    struct buffer b;
    lend_filled(&b, mem, sizeof(mem), 40);
    fault_reset();
    fault_add(FAULT(malloc), 1, 1, 0);
    int rc = buffer_end_loan(&b);
    int err = errno;
    fault_clear();
    ck_assert_int_eq(fault_injected(), 1);
    ck_assert_int_eq(rc, -1);
    ck_assert_int_eq(err, ENOMEM);
    ck_assert_ptr_null(b.data);         /* empty, and borrowing nothing */
    ck_assert_uint_eq(buffer_readable(&b), 0);
    ck_assert(!b.borrowed);
    buffer_free(&b);
}
END_TEST

START_TEST(lend_grow_enomem_keeps_loan)
{
    char mem[32];
    struct buffer b;
    lend_filled(&b, mem, sizeof(mem), 20);
    unsigned char more[100];
    fill_pattern(more, sizeof(more), 20);
    fault_reset();
    fault_add(FAULT(malloc), 1, 1, 0);
    int rc = buffer_append(&b, more, sizeof(more));
    int err = errno;
    fault_clear();
    ck_assert_int_eq(rc, -1);
    ck_assert_int_eq(err, ENOMEM);
    ck_assert(b.borrowed);              /* unchanged: still the loan */
    expect_pattern(&b, 0, 20);
    ck_assert_int_eq(buffer_end_loan(&b), 0);
    expect_pattern(&b, 0, 20);
    buffer_free(&b);
}
END_TEST

/* ---- the suite ---------------------------------------------------------- */

Suite *unit_suite(void)
{
    Suite *s = suite_create("buffer");
    TCase *tc;

    tc = tcase_create("basic");
    tcase_add_test(tc, init_has_no_storage);
    tcase_add_test(tc, append_then_peek);
    tcase_add_test(tc, append_zero_bytes);
    tcase_add_test(tc, retrieve_part);
    tcase_add_test(tc, retrieve_all_starts_over);
    tcase_add_test(tc, retrieve_exactly_all);
    tcase_add_test(tc, accounting_through_operations);
    suite_add_tcase(s, tc);

    tc = tcase_create("growth");
    tcase_add_test(tc, growth_keeps_contents);
    tcase_add_test(tc, growth_byte_by_byte);
    tcase_add_test(tc, one_big_append);
    tcase_add_test(tc, append_too_much_is_enomem);
    suite_add_tcase(s, tc);

    tc = tcase_create("prepend");
    tcase_add_test(tc, prepend_header_in_front);
    tcase_add_test(tc, prepend_too_big_is_enospc);
    tcase_add_test(tc, prepend_after_retrieve);
    tcase_add_test(tc, prepend_into_fresh_buffer);
    tcase_add_test(tc, prepend_into_fresh_buffer_too_big);
    suite_add_tcase(s, tc);

    tc = tcase_create("compaction");
    tcase_add_test(tc, compaction_reuses_front_space);
    tcase_add_test(tc, compaction_repeated_never_grows);
    tcase_add_test(tc, grows_when_front_space_is_not_enough);
    tcase_add_test(tc, compaction_after_prepend);
    suite_add_tcase(s, tc);

    tc = tcase_create("direct");
    tcase_add_test(tc, ensure_writable_fresh);
    tcase_add_test(tc, ensure_writable_enough_is_noop);
    tcase_add_test(tc, ensure_writable_grows_and_keeps);
    tcase_add_test(tc, ensure_writable_compacts);
    suite_add_tcase(s, tc);

    tc = tcase_create("release");
    tcase_add_test(tc, release_keeps_unread_data);
    tcase_add_test(tc, release_frees_when_empty);
    tcase_add_test(tc, free_with_data);
    suite_add_tcase(s, tc);

    tc = tcase_create("borrowed");
    tcase_add_test(tc, view_reads_in_place);
    tcase_add_test(tc, lend_writes_in_place);
    tcase_add_test(tc, lend_grows_to_heap);
    tcase_add_test(tc, lend_empty_end_keeps_nothing);
    tcase_add_test(tc, lend_end_loan_enomem);
    tcase_add_test(tc, lend_grow_enomem_keeps_loan);
    suite_add_tcase(s, tc);

    tc = tcase_create("peek_u32");
    tcase_add_test(tc, peek_u32_big_endian);
    tcase_add_test(tc, peek_u32_at_read_position);
    tcase_add_test(tc, peek_u32_after_prepend);
    suite_add_tcase(s, tc);

    tc = tcase_create("fd");
    tcase_set_timeout(tc, 20);            /* slow under sanitizers */
    tcase_add_test(tc, read_fd_small_into_fresh_buffer);
    tcase_add_test(tc, read_fd_fits_writable_space);
    tcase_add_test(tc, read_fd_spills_into_extra);
    tcase_add_test(tc, read_fd_more_than_offered);
    tcase_add_test(tc, read_fd_large_writable_space);
    tcase_add_test(tc, read_fd_socketpair);
    tcase_add_test(tc, read_fd_eof);
    tcase_add_test(tc, read_fd_eagain);
    tcase_add_test(tc, read_fd_bad_fd);
    tcase_add_test(tc, write_fd_all);
    tcase_add_test(tc, write_fd_partial);
    tcase_add_test(tc, write_fd_error_keeps_data);
    suite_add_tcase(s, tc);

    return s;
}
