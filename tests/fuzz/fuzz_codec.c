/* fuzz_codec.c - libFuzzer target for the framing decoder (codec.h) and the
 * buffer it reads from (buffer.h).
 *
 * The input is a byte stream as a connection would receive it, plus the
 * limit and the way it is cut into reads:
 *
 *   byte 0      max_payload, low 8 bits
 *   byte 1      bits 0-1: max_payload bits 8-9 (so max_payload is 0..1023)
 *               bit  2:   max_payload = SIZE_MAX instead (no limit)
 *               bits 3-4: how a chunk gets into the buffer:
 *                         0 buffer_append, 1 ensure_writable + begin_write +
 *                         has_written, 2 buffer_read_fd from a pipe, 3 mixed
 *               bits 5-7: unused
 *   byte 2      k = byte % 16: the number of chunk-size bytes that follow
 *   k bytes     chunk sizes (1 + byte, used in turn, cyclically); k = 0:
 *               the whole stream in one chunk
 *   the rest    the stream
 *
 * (a) The stream is fed into a struct buffer chunk by chunk; after each
 *     chunk, messages are decoded exactly as connection.c does: codec_decode
 *     until INCOMPLETE, retrieving header + payload after each MESSAGE,
 *     stopping for good at TOO_LARGE, and buffer_release() at the end of the
 *     read.
 * (b) A reference decoder walks the whole stream at once.
 * Both must give the same messages (lengths and bytes), the same TOO_LARGE
 * point and announced length, and the same number of bytes left over.
 *
 * Build and run (tests/Makefile's `fuzz` target does this against the
 * newest step that has codec.h, which is header-only):
 *
 *   clang -g -O1 -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE \
 *       -fsanitize=fuzzer,address,undefined -Istep07_connection \
 *       -o build/fuzz/fuzz_codec tests/fuzz/fuzz_codec.c \
 *       step07_connection/buffer.c
 *   mkdir -p build/fuzz/corpus
 *   build/fuzz/fuzz_codec -max_total_time=60 -print_final_stats=1 \
 *       -artifact_prefix=build/fuzz/ build/fuzz/corpus tests/fuzz/corpus
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buffer.h"
#include "codec.h"

#define MODE_APPEND 0
#define MODE_DIRECT 1
#define MODE_READ_FD 2
#define MODE_MIXED 3

struct ref_msg {
    size_t off;     /* payload offset in the stream */
    size_t len;
};

struct outcome {
    struct ref_msg *msgs;
    size_t count;
    int too_large;          /* stopped at a TOO_LARGE header */
    size_t announced;       /* its length */
    size_t left;            /* bytes left undecoded (no TOO_LARGE) */
};

#define FAIL(...) do {                                          \
        fprintf(stderr, "fuzz_codec: " __VA_ARGS__);            \
        fputc('\n', stderr);                                    \
        abort();                                                \
    } while (0)

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* (b): the whole stream at once, by the definition in codec.h. */
static void reference(const uint8_t *s, size_t n, size_t max, struct outcome *o)
{
    size_t pos = 0;
    while (n - pos >= CODEC_HEADER_LEN) {
        uint32_t len = be32(s + pos);
        if (len > max) {
            o->too_large = 1;
            o->announced = len;
            return;
        }
        if (n - pos - CODEC_HEADER_LEN < len)
            break;
        o->msgs[o->count].off = pos + CODEC_HEADER_LEN;
        o->msgs[o->count].len = len;
        o->count++;
        pos += CODEC_HEADER_LEN + len;
    }
    o->left = n - pos;
}

/* A pipe for MODE_READ_FD, made once; it is always drained. */
static int pipe_fds[2] = {-1, -1};

static void put_chunk(struct buffer *b, const uint8_t *p, size_t len, int mode)
{
    switch (mode) {
    case MODE_APPEND:
        if (buffer_append(b, p, len) < 0)
            FAIL("buffer_append(%zu): %s", len, strerror(errno));
        break;
    case MODE_DIRECT:
        if (buffer_ensure_writable(b, len) < 0)
            FAIL("buffer_ensure_writable(%zu): %s", len, strerror(errno));
        if (buffer_writable(b) < len)
            FAIL("ensure_writable(%zu) left %zu writable", len,
                 buffer_writable(b));
        memcpy(buffer_begin_write(b), p, len);
        buffer_has_written(b, len);
        break;
    case MODE_READ_FD:
        if (pipe_fds[0] < 0) {
            if (pipe(pipe_fds) < 0)
                FAIL("pipe: %s", strerror(errno));
            fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK);
        }
        while (len > 0) {              /* pieces that fit in the pipe */
            size_t piece = len < 4096 ? len : 4096;
            if (write(pipe_fds[1], p, piece) != (ssize_t)piece)
                FAIL("write to pipe: %s", strerror(errno));
            size_t before = buffer_readable(b), writable = buffer_writable(b);
            size_t offered = 0;
            ssize_t n = buffer_read_fd(b, pipe_fds[0], &offered);
            if (n != (ssize_t)piece)
                FAIL("buffer_read_fd read %zd of %zu: %s", n, piece,
                     n < 0 ? strerror(errno) : "short");
            if (offered < writable || offered <= piece)
                FAIL("buffer_read_fd offered %zu (writable %zu, read %zu)",
                     offered, writable, piece);
            if (buffer_readable(b) != before + piece)
                FAIL("buffer_read_fd: readable %zu, expected %zu",
                     buffer_readable(b), before + piece);
            if (memcmp(buffer_peek(b) + before, p, piece) != 0)
                FAIL("buffer_read_fd: bytes differ");
            p += piece;
            len -= piece;
        }
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t max = data[0] | (size_t)(data[1] & 0x03) << 8;
    if (data[1] & 0x04)
        max = SIZE_MAX;
    int mode = (data[1] >> 3) & 0x03;
    size_t k = data[2] % 16;
    if (size < 3 + k)
        return 0;
    const uint8_t *sizes = data + 3;
    const uint8_t *s = data + 3 + k;
    size_t n = size - 3 - k;

    struct outcome ref = {0}, got = {0};
    ref.msgs = malloc((n / CODEC_HEADER_LEN + 1) * sizeof(*ref.msgs));
    if (!ref.msgs)
        return 0;
    reference(s, n, max, &ref);

    /* (a): chunk by chunk, decoding after each like connection.c. */
    struct buffer b;
    buffer_init(&b);
    size_t pos = 0, chunk_no = 0;
    while (pos < n && !got.too_large) {
        size_t len = k ? (size_t)sizes[chunk_no % k] + 1 : n;
        if (len > n - pos)
            len = n - pos;
        int m = mode == MODE_MIXED ? (int)(chunk_no % 3) : mode;
        put_chunk(&b, s + pos, len, m);
        pos += len;
        chunk_no++;

        for (;;) {
            size_t plen = (size_t)-1;
            enum codec_status st = codec_decode(&b, max, &plen);
            if (st == CODEC_INCOMPLETE)
                break;
            if (st == CODEC_TOO_LARGE) {
                if (plen <= max)
                    FAIL("TOO_LARGE with length %zu <= max %zu", plen, max);
                got.too_large = 1;
                got.announced = plen;
                break;
            }
            if (st != CODEC_MESSAGE)
                FAIL("codec_decode returned %d", (int)st);
            if (plen > max)
                FAIL("MESSAGE of %zu bytes over max %zu", plen, max);
            if (buffer_readable(&b) < CODEC_HEADER_LEN + plen)
                FAIL("MESSAGE of %zu bytes with %zu readable", plen,
                     buffer_readable(&b));
            if (got.count >= ref.count)
                FAIL("message %zu: the reference has only %zu", got.count,
                     ref.count);
            const struct ref_msg *r = &ref.msgs[got.count];
            if (plen != r->len)
                FAIL("message %zu: length %zu, reference %zu", got.count,
                     plen, r->len);
            if (plen && memcmp(buffer_peek(&b) + CODEC_HEADER_LEN,
                               s + r->off, plen) != 0)
                FAIL("message %zu: payload differs", got.count);
            got.count++;
            buffer_retrieve(&b, CODEC_HEADER_LEN + plen);
        }
        buffer_release(&b);            /* as at the end of handle_read */
    }
    got.left = buffer_readable(&b);

    if (got.count != ref.count)
        FAIL("%zu messages, reference %zu", got.count, ref.count);
    if (got.too_large != ref.too_large)
        FAIL("TOO_LARGE %d, reference %d", got.too_large, ref.too_large);
    if (got.too_large && got.announced != ref.announced)
        FAIL("TOO_LARGE length %zu, reference %zu", got.announced,
             ref.announced);
    if (!got.too_large && got.left != ref.left)
        FAIL("%zu bytes left, reference %zu", got.left, ref.left);
    if (!got.too_large && pos != n)
        FAIL("stopped at %zu of %zu without TOO_LARGE", pos, n);
    if (got.left == 0 && b.data != NULL)
        FAIL("empty buffer kept its storage after buffer_release");

    buffer_free(&b);
    free(ref.msgs);
    return 0;
}
