/* buffer.h - the Buffer class: a growable byte array with a prepend area.
 *
 *   +-------------+------------------+------------------+
 *   | prependable |     readable     |     writable     |
 *   +-------------+------------------+------------------+
 *   0            rd                  wr                cap
 *
 * Bytes are appended at wr and consumed (retrieved) at rd. The first
 * BUFFER_PREPEND bytes of a fresh buffer stay free, so a header can be put
 * in front of a payload without moving it. Storage is allocated on the first
 * write, compacted before it grows, and released by buffer_release() when
 * the buffer is empty, so an idle connection pins no memory.
 *
 * A buffer can also borrow memory it does not own: a read-only view of
 * bytes that are already somewhere (buffer_view), or memory lent to write
 * into (buffer_lend), typically a caller's stack. Borrowed memory is never
 * freed; a lent buffer that needs more room moves to the heap.
 *
 * A buffer belongs to one thread at a time; it does no locking.
 */
#ifndef BUFFER_H
#define BUFFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BUFFER_PREPEND 8            /* free bytes kept in front */
#define BUFFER_EXTRA_READ 65536     /* stack space buffer_read_fd() adds */

struct buffer {
    char  *data;     /* NULL until the first write; owned unless borrowed */
    size_t cap;      /* bytes allocated at data */
    size_t rd;       /* first readable byte */
    size_t wr;       /* one past the last readable byte */
    bool borrowed;   /* data is someone else's (a view, or lent): not freed */
};

void buffer_init(struct buffer *b);          /* empty, no storage */

/* Makes b a read-only view of len bytes at data, which b does not own:
 * readable, peek, peek_u32 and retrieve work on it; nothing that writes
 * may be called. For decoding bytes where they already are. */
void buffer_view(struct buffer *b, const char *data, size_t len);

/* Lends b, which must have no storage, cap bytes at mem to write into:
 * appends use them while they last, and a buffer that needs more room
 * moves to the heap, copying what it holds. Before mem goes away the
 * caller ends the loan, with buffer_end_loan() or buffer_free(). */
void buffer_lend(struct buffer *b, char *mem, size_t cap);

/* Ends a loan: bytes still readable in lent memory are copied to storage
 * of b's own. Nothing to do for a buffer that is not borrowing. -1 with
 * errno ENOMEM, and b is then empty. */
int buffer_end_loan(struct buffer *b);

/* Frees the storage (unless borrowed); b is empty, with no storage. */
void buffer_free(struct buffer *b);

/* The accessors below are inline: they run for every message, and a call
 * would cost more than what they do. */

static inline size_t buffer_readable(const struct buffer *b)
{
    return b->wr - b->rd;
}

static inline size_t buffer_writable(const struct buffer *b)
{
    return b->cap - b->wr;
}

static inline size_t buffer_prependable(const struct buffer *b)
{
    return b->rd;
}

/* The heap bytes b owns: its capacity, or 0 for no storage and for
 * borrowed memory. What a memory budget counts. */
static inline size_t buffer_footprint(const struct buffer *b)
{
    return b->borrowed ? 0 : b->cap;
}

/* The first readable byte; valid until the next call that writes. */
static inline const char *buffer_peek(const struct buffer *b)
{
    return b->data ? b->data + b->rd : NULL;   /* NULL + 0 is undefined */
}

/* The first 4 readable bytes as a big-endian (network order) integer.
 * The caller checks buffer_readable(b) >= 4. */
static inline uint32_t buffer_peek_u32(const struct buffer *b)
{
    const unsigned char *p = (const unsigned char *)b->data + b->rd;
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Copies len bytes in at the end. -1 with errno ENOMEM. */
int buffer_append(struct buffer *b, const void *data, size_t len);

/* Copies len bytes in just before the readable bytes. -1 with errno
 * ENOSPC when fewer than len prependable bytes are free. */
int buffer_prepend(struct buffer *b, const void *data, size_t len);

/* The slow path of buffer_ensure_writable(): compacts, or grows. */
int buffer_make_room(struct buffer *b, size_t len);

/* Makes room for len more bytes. -1 with errno ENOMEM. */
static inline int buffer_ensure_writable(struct buffer *b, size_t len)
{
    /* A buffer without storage gets some even for len 0: its prepend
     * area is part of what it promises. */
    if (b->data && buffer_writable(b) >= len)
        return 0;
    return buffer_make_room(b, len);
}

/* Direct writing: write up to buffer_writable(b) bytes at
 * buffer_begin_write(b), then say how many with buffer_has_written(). */
static inline char *buffer_begin_write(struct buffer *b)
{
    return b->data ? b->data + b->wr : NULL;
}

static inline void buffer_has_written(struct buffer *b, size_t len)
{
    b->wr += len;
}

/* Consumes len readable bytes (len <= buffer_readable(b)). */
static inline void buffer_retrieve(struct buffer *b, size_t len)
{
    b->rd += len;
    if (b->rd == b->wr)               /* empty: start over at the front */
        b->rd = b->wr = b->cap < BUFFER_PREPEND ? b->cap : BUFFER_PREPEND;
}

static inline void buffer_retrieve_all(struct buffer *b)
{
    buffer_retrieve(b, buffer_readable(b));
}

/* Frees the storage if the buffer is empty. */
void buffer_release(struct buffer *b);

/* One readv() into the writable space plus BUFFER_EXTRA_READ bytes of
 * stack, so one call takes what the socket has without the buffer growing
 * in advance. Returns the bytes read (0 at EOF), or -1 with errno. *offered
 * is how many bytes the call could have taken: a read of fewer bytes
 * drained the socket. */
ssize_t buffer_read_fd(struct buffer *b, int fd, size_t *offered);

/* One write() of the readable bytes; retrieves what was written. Returns
 * the bytes written, or -1 with errno (EAGAIN: the socket is full). */
ssize_t buffer_write_fd(struct buffer *b, int fd);

#endif
