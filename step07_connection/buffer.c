/* buffer.c - see buffer.h. */
#include "buffer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

void buffer_init(struct buffer *b)
{
    b->data = NULL;
    b->cap = 0;
    b->rd = 0;
    b->wr = 0;
    b->borrowed = false;
}

void buffer_view(struct buffer *b, const char *data, size_t len)
{
    b->data = (char *)data;
    b->cap = len;
    b->rd = 0;
    b->wr = len;
    b->borrowed = true;
}

void buffer_lend(struct buffer *b, char *mem, size_t cap)
{
    b->data = mem;
    b->cap = cap;
    b->rd = b->wr = cap < BUFFER_PREPEND ? cap : BUFFER_PREPEND;
    b->borrowed = true;
}

int buffer_end_loan(struct buffer *b)
{
    if (!b->borrowed)
        return 0;
    struct buffer own;
    buffer_init(&own);
    int rc = buffer_append(&own, buffer_peek(b), buffer_readable(b));
    *b = own;                          /* on failure: empty */
    return rc;
}

void buffer_free(struct buffer *b)
{
    if (b->data && !b->borrowed)      /* no free(NULL) call on every read */
        free(b->data);
    buffer_init(b);
}

int buffer_make_room(struct buffer *b, size_t len)
{
    size_t readable = buffer_readable(b);
    size_t need = BUFFER_PREPEND + readable + len;
    if (need < readable || need < len) {             /* overflow */
        errno = ENOMEM;
        return -1;
    }
    if (need > b->cap) {
        /* At least double, so n appends cost O(n) copies in all; but no
         * more than asked when that is more than double (a reservation
         * for a known message size is not rounded up). */
        size_t cap = b->cap > SIZE_MAX / 2 ? need : b->cap * 2;
        if (cap < need)
            cap = need < 64 ? 64 : need;
        char *data = malloc(cap);
        if (!data)
            return -1;
        if (readable)
            memcpy(data + BUFFER_PREPEND, b->data + b->rd, readable);
        if (!b->borrowed)
            free(b->data);
        b->data = data;
        b->cap = cap;
        b->borrowed = false;
    } else {
        /* Enough room in all, but some of it is in front of rd: move the
         * readable bytes back instead of growing. */
        memmove(b->data + BUFFER_PREPEND, b->data + b->rd, readable);
    }
    b->rd = BUFFER_PREPEND;
    b->wr = BUFFER_PREPEND + readable;
    return 0;
}

int buffer_append(struct buffer *b, const void *data, size_t len)
{
    if (len == 0)
        return 0;
    if (buffer_ensure_writable(b, len) < 0)
        return -1;
    memcpy(b->data + b->wr, data, len);
    b->wr += len;
    return 0;
}

int buffer_prepend(struct buffer *b, const void *data, size_t len)
{
    if (!b->data && buffer_ensure_writable(b, 0) < 0)
        return -1;
    if (len > buffer_prependable(b)) {
        errno = ENOSPC;
        return -1;
    }
    b->rd -= len;
    memcpy(b->data + b->rd, data, len);
    return 0;
}

void buffer_release(struct buffer *b)
{
    if (buffer_readable(b) == 0)
        buffer_free(b);
}

ssize_t buffer_read_fd(struct buffer *b, int fd, size_t *offered)
{
    char extra[BUFFER_EXTRA_READ];
    size_t writable = buffer_writable(b);
    struct iovec iov[2] = {
        { .iov_base = b->data ? b->data + b->wr : NULL, .iov_len = writable },
        { .iov_base = extra, .iov_len = sizeof(extra) },
    };
    /* With 64 KiB free in the buffer already, the stack adds nothing. */
    int iovcnt = writable < sizeof(extra) ? 2 : 1;
    *offered = writable + (iovcnt == 2 ? sizeof(extra) : 0);

    ssize_t n;
    do {
        n = readv(fd, iov, iovcnt);
    } while (n < 0 && errno == EINTR);
    if (n <= 0)
        return n;
    if ((size_t)n <= writable) {
        b->wr += (size_t)n;
    } else {
        b->wr = b->cap;
        if (buffer_append(b, extra, (size_t)n - writable) < 0)
            return -1;
    }
    return n;
}

ssize_t buffer_write_fd(struct buffer *b, int fd)
{
    ssize_t n;
    do {
        n = write(fd, buffer_peek(b), buffer_readable(b));
    } while (n < 0 && errno == EINTR);
    if (n > 0)
        buffer_retrieve(b, (size_t)n);
    return n;
}
