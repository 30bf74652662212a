/* test_codec.c - unit tests of the length-prefix framing (codec.h).
 *
 * codec.h is header-only. Built by tests/Makefile (UNIT_MODULES
 * "codec:buffer.c") against every step that has buffer.c (and so codec.h),
 * with unit_main.c as main(), ASan and UBSan:
 *
 *   make -C tests unit            -> build/tests/unit/codec-NN
 *
 * By hand, against one step:
 *
 *   cc -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -g \
 *      -fsanitize=address,undefined -Istep07_connection \
 *      tests/unit/test_codec.c tests/unit/unit_main.c \
 *      step07_connection/buffer.c \
 *      $(pkg-config --cflags --libs check) -o /tmp/codec-07 && /tmp/codec-07
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "codec.h"

/* A value codec_decode must overwrite on MESSAGE and TOO_LARGE. */
#define SENTINEL ((size_t)0xDEADBEEF)

static void append_header(struct buffer *b, uint32_t len)
{
    unsigned char h[CODEC_HEADER_LEN];
    codec_encode_header(h, len);
    ck_assert_int_eq(buffer_append(b, h, sizeof(h)), 0);
}

static void append_message(struct buffer *b, const void *payload, uint32_t len)
{
    append_header(b, len);
    ck_assert_int_eq(buffer_append(b, payload, len), 0);
}

/* ---- codec_encode_header ------------------------------------------------ */

START_TEST(encode_header_big_endian)
{
    static const struct {
        uint32_t value;
        unsigned char bytes[4];
    } cases[] = {
        { 0x01020304u, {0x01, 0x02, 0x03, 0x04} },
        { 0, {0, 0, 0, 0} },
        { 1, {0, 0, 0, 1} },
        { 256, {0, 0, 1, 0} },
        { 0xFFFFFFFFu, {0xFF, 0xFF, 0xFF, 0xFF} },
        { 0x80000001u, {0x80, 0x00, 0x00, 0x01} },
        { 0x00FF7F80u, {0x00, 0xFF, 0x7F, 0x80} },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned char h[CODEC_HEADER_LEN] = {0xAA, 0xAA, 0xAA, 0xAA};
        codec_encode_header(h, cases[i].value);
        ck_assert_mem_eq(h, cases[i].bytes, 4);
    }
}
END_TEST

START_TEST(encode_decode_round_trip)
{
    /* encode -> buffer_peek_u32 -> decode, for many values, each header at
     * an odd offset too (no aligned loads). */
    uint32_t v = 1;
    for (int i = 0; i < 2000; i++) {
        v = v * 1664525u + 1013904223u;
        uint32_t value = i < 32 ? (uint32_t)1 << i : v;
        struct buffer b;
        buffer_init(&b);
        ck_assert_int_eq(buffer_append(&b, "x", 1), 0);
        append_header(&b, value);
        buffer_retrieve(&b, 1);
        ck_assert_uint_eq(buffer_peek_u32(&b), value);
        size_t len = SENTINEL;
        /* Over any smaller limit it is TOO_LARGE with the announced length. */
        if (value > 0) {
            ck_assert_int_eq(codec_decode(&b, value - 1, &len), CODEC_TOO_LARGE);
            ck_assert_uint_eq(len, value);
        }
        len = SENTINEL;
        enum codec_status st = codec_decode(&b, value, &len);
        ck_assert_int_eq(st, value == 0 ? CODEC_MESSAGE : CODEC_INCOMPLETE);
        if (st == CODEC_MESSAGE)
            ck_assert_uint_eq(len, 0);
        buffer_free(&b);
    }
}
END_TEST

/* ---- incomplete headers ------------------------------------------------- */

START_TEST(fewer_than_four_bytes)
{
    static const unsigned char zeros[3] = {0, 0, 0};
    static const unsigned char ffs[3] = {0xFF, 0xFF, 0xFF};
    size_t len;
    struct buffer b;

    buffer_init(&b);                       /* 0 bytes, no storage at all */
    ck_assert_int_eq(codec_decode(&b, 1024, &len), CODEC_INCOMPLETE);
    buffer_free(&b);

    for (size_t n = 0; n < 4; n++) {
        /* Zeros would be an empty message with a 4th byte: still not one.
         * FFs would be too large with a 4th byte: still not TOO_LARGE. */
        buffer_init(&b);
        ck_assert_int_eq(buffer_append(&b, zeros, n), 0);
        ck_assert_int_eq(codec_decode(&b, 1024, &len), CODEC_INCOMPLETE);
        ck_assert_int_eq(codec_decode(&b, 0, &len), CODEC_INCOMPLETE);
        ck_assert_uint_eq(buffer_readable(&b), n);          /* not consumed */
        buffer_free(&b);

        buffer_init(&b);
        ck_assert_int_eq(buffer_append(&b, ffs, n), 0);
        ck_assert_int_eq(codec_decode(&b, 0, &len), CODEC_INCOMPLETE);
        ck_assert_int_eq(codec_decode(&b, 1024, &len), CODEC_INCOMPLETE);
        buffer_free(&b);
    }
}
END_TEST

START_TEST(short_after_retrieve)
{
    /* 3 readable bytes after consumed ones: only the readable count counts. */
    struct buffer b;
    size_t len;
    buffer_init(&b);
    ck_assert_int_eq(buffer_append(&b, "\0\0\0\0\0\0\0", 7), 0);
    buffer_retrieve(&b, 4);                   /* an empty message consumed */
    ck_assert_uint_eq(buffer_readable(&b), 3);
    ck_assert_int_eq(codec_decode(&b, 1024, &len), CODEC_INCOMPLETE);
    buffer_free(&b);
}
END_TEST

/* ---- header only -------------------------------------------------------- */

START_TEST(header_only)
{
    struct buffer b;
    size_t len;
    buffer_init(&b);
    append_header(&b, 5);
    ck_assert_int_eq(codec_decode(&b, 1024, &len), CODEC_INCOMPLETE);
    ck_assert_uint_eq(buffer_readable(&b), 4);
    buffer_free(&b);

    buffer_init(&b);
    append_header(&b, 1);
    ck_assert_int_eq(codec_decode(&b, 1, &len), CODEC_INCOMPLETE);
    buffer_free(&b);
}
END_TEST

START_TEST(empty_message)
{
    struct buffer b;
    size_t len = SENTINEL;
    buffer_init(&b);
    append_header(&b, 0);
    ck_assert_int_eq(codec_decode(&b, 1024, &len), CODEC_MESSAGE);
    ck_assert_uint_eq(len, 0);
    len = SENTINEL;
    ck_assert_int_eq(codec_decode(&b, 0, &len), CODEC_MESSAGE);   /* limit 0 */
    ck_assert_uint_eq(len, 0);
    ck_assert_uint_eq(buffer_readable(&b), 4);            /* decode only looks */
    buffer_free(&b);
}
END_TEST

/* ---- payloads ----------------------------------------------------------- */

START_TEST(partial_then_whole_payload)
{
    struct buffer b;
    size_t len;
    buffer_init(&b);
    append_header(&b, 10);
    for (int i = 0; i < 9; i++) {
        ck_assert_int_eq(buffer_append(&b, &"0123456789"[i], 1), 0);
        ck_assert_int_eq(codec_decode(&b, 1024, &len), CODEC_INCOMPLETE);
    }
    ck_assert_int_eq(buffer_append(&b, "9", 1), 0);
    len = SENTINEL;
    ck_assert_int_eq(codec_decode(&b, 1024, &len), CODEC_MESSAGE);
    ck_assert_uint_eq(len, 10);
    ck_assert_mem_eq(buffer_peek(&b) + CODEC_HEADER_LEN, "0123456789", 10);
    buffer_free(&b);
}
END_TEST

START_TEST(split_header)
{
    /* The header arriving one byte at a time. */
    unsigned char h[4];
    struct buffer b;
    size_t len;
    codec_encode_header(h, 3);
    buffer_init(&b);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(codec_decode(&b, 1024, &len), CODEC_INCOMPLETE);
        ck_assert_int_eq(buffer_append(&b, h + i, 1), 0);
    }
    ck_assert_int_eq(codec_decode(&b, 1024, &len), CODEC_INCOMPLETE);
    ck_assert_int_eq(buffer_append(&b, "abc", 3), 0);
    ck_assert_int_eq(codec_decode(&b, 1024, &len), CODEC_MESSAGE);
    ck_assert_uint_eq(len, 3);
    buffer_free(&b);
}
END_TEST

START_TEST(exact_with_trailing_bytes)
{
    /* A whole message followed by part of the next: the first one's length,
     * not the readable count. */
    struct buffer b;
    size_t len = SENTINEL;
    buffer_init(&b);
    append_message(&b, "hello", 5);
    append_header(&b, 100);
    ck_assert_int_eq(buffer_append(&b, "wor", 3), 0);
    ck_assert_int_eq(codec_decode(&b, 1024, &len), CODEC_MESSAGE);
    ck_assert_uint_eq(len, 5);
    ck_assert_mem_eq(buffer_peek(&b) + CODEC_HEADER_LEN, "hello", 5);
    buffer_retrieve(&b, CODEC_HEADER_LEN + len);
    ck_assert_int_eq(codec_decode(&b, 1024, &len), CODEC_INCOMPLETE);
    ck_assert_uint_eq(buffer_readable(&b), 7);
    buffer_free(&b);
}
END_TEST

START_TEST(many_in_one_buffer)
{
    enum { N = 300 };
    struct buffer b;
    char payload[200];
    buffer_init(&b);
    for (int i = 0; i < N; i++) {
        uint32_t n = (uint32_t)(i * 37 % 200);
        memset(payload, 'a' + i % 26, n);
        append_message(&b, payload, n);
    }
    /* and a trailing partial one */
    append_header(&b, 50);
    ck_assert_int_eq(buffer_append(&b, "partial", 7), 0);

    int count = 0;
    for (;;) {
        size_t len = SENTINEL;
        enum codec_status st = codec_decode(&b, 1024, &len);
        if (st == CODEC_INCOMPLETE)
            break;
        ck_assert_int_eq(st, CODEC_MESSAGE);
        ck_assert_int_lt(count, N);
        size_t want = (size_t)(count * 37 % 200);
        ck_assert_uint_eq(len, want);
        memset(payload, 'a' + count % 26, want);
        ck_assert_mem_eq(buffer_peek(&b) + CODEC_HEADER_LEN, payload, want);
        buffer_retrieve(&b, CODEC_HEADER_LEN + len);
        count++;
    }
    ck_assert_int_eq(count, N);
    ck_assert_uint_eq(buffer_readable(&b), CODEC_HEADER_LEN + 7);
    ck_assert_uint_eq(buffer_peek_u32(&b), 50);
    buffer_free(&b);
}
END_TEST

START_TEST(empty_messages_in_a_row)
{
    struct buffer b;
    buffer_init(&b);
    for (int i = 0; i < 10; i++)
        append_header(&b, 0);
    int count = 0;
    size_t len;
    while (codec_decode(&b, 0, &len) == CODEC_MESSAGE) {
        ck_assert_uint_eq(len, 0);
        buffer_retrieve(&b, CODEC_HEADER_LEN);
        count++;
        ck_assert_int_le(count, 10);
    }
    ck_assert_int_eq(count, 10);
    ck_assert_uint_eq(buffer_readable(&b), 0);
    buffer_free(&b);
}
END_TEST

/* ---- the limit ---------------------------------------------------------- */

START_TEST(too_large_before_payload)
{
    struct buffer b;
    size_t len = SENTINEL;
    buffer_init(&b);
    append_header(&b, 1025);
    ck_assert_int_eq(codec_decode(&b, 1024, &len), CODEC_TOO_LARGE);
    ck_assert_uint_eq(len, 1025);                  /* the announced length */
    ck_assert_uint_eq(buffer_readable(&b), 4);
    buffer_free(&b);

    buffer_init(&b);
    append_header(&b, 0xFFFFFFFFu);
    len = SENTINEL;
    ck_assert_int_eq(codec_decode(&b, 1024, &len), CODEC_TOO_LARGE);
    ck_assert_uint_eq(len, 0xFFFFFFFFu);
    buffer_free(&b);

    buffer_init(&b);
    append_header(&b, 1);
    len = SENTINEL;
    ck_assert_int_eq(codec_decode(&b, 0, &len), CODEC_TOO_LARGE);
    ck_assert_uint_eq(len, 1);
    buffer_free(&b);
}
END_TEST

START_TEST(too_large_with_payload_present)
{
    /* Even with all its bytes there, an oversized message is not one. */
    struct buffer b;
    size_t len;
    char *payload = calloc(1, 2000);
    ck_assert_ptr_nonnull(payload);
    buffer_init(&b);
    append_message(&b, payload, 2000);
    ck_assert_int_eq(codec_decode(&b, 1999, &len), CODEC_TOO_LARGE);
    ck_assert_uint_eq(len, 2000);
    ck_assert_int_eq(codec_decode(&b, 2000, &len), CODEC_MESSAGE);
    ck_assert_uint_eq(len, 2000);
    buffer_free(&b);
    free(payload);
}
END_TEST

START_TEST(too_large_after_messages)
{
    struct buffer b;
    size_t len;
    buffer_init(&b);
    append_message(&b, "ok", 2);
    append_header(&b, 11);
    ck_assert_int_eq(buffer_append(&b, "hello world", 11), 0);
    ck_assert_int_eq(codec_decode(&b, 10, &len), CODEC_MESSAGE);
    ck_assert_uint_eq(len, 2);
    buffer_retrieve(&b, CODEC_HEADER_LEN + len);
    ck_assert_int_eq(codec_decode(&b, 10, &len), CODEC_TOO_LARGE);
    ck_assert_uint_eq(len, 11);
    buffer_free(&b);
}
END_TEST

START_TEST(length_equal_to_max)
{
    struct buffer b;
    size_t len;
    char *payload = malloc(1024);
    ck_assert_ptr_nonnull(payload);
    memset(payload, 'm', 1024);

    buffer_init(&b);
    append_header(&b, 1024);
    ck_assert_int_eq(codec_decode(&b, 1024, &len), CODEC_INCOMPLETE);
    ck_assert_int_eq(buffer_append(&b, payload, 1023), 0);
    ck_assert_int_eq(codec_decode(&b, 1024, &len), CODEC_INCOMPLETE);
    ck_assert_int_eq(buffer_append(&b, payload, 1), 0);
    len = SENTINEL;
    ck_assert_int_eq(codec_decode(&b, 1024, &len), CODEC_MESSAGE);
    ck_assert_uint_eq(len, 1024);
    ck_assert_mem_eq(buffer_peek(&b) + CODEC_HEADER_LEN, payload, 1024);
    buffer_free(&b);
    free(payload);
}
END_TEST

START_TEST(huge_limit_no_overflow)
{
    /* A limit above 2^32: a 0xFFFFFFFF header is within it and simply
     * incomplete (no wrap-around in the length check). */
    struct buffer b;
    size_t len;
    buffer_init(&b);
    append_header(&b, 0xFFFFFFFFu);
    ck_assert_int_eq(buffer_append(&b, "abc", 3), 0);
    ck_assert_int_eq(codec_decode(&b, SIZE_MAX, &len), CODEC_INCOMPLETE);
    ck_assert_int_eq(codec_decode(&b, 0xFFFFFFFFu, &len), CODEC_INCOMPLETE);
    len = SENTINEL;
    ck_assert_int_eq(codec_decode(&b, 0xFFFFFFFEu, &len), CODEC_TOO_LARGE);
    ck_assert_uint_eq(len, 0xFFFFFFFFu);
    buffer_free(&b);
}
END_TEST

/* ---- with the buffer's prepend area ------------------------------------- */

START_TEST(prepended_header_decodes)
{
    /* How a reply can be framed: payload first, header prepended. */
    struct buffer b;
    unsigned char h[CODEC_HEADER_LEN];
    size_t len;
    buffer_init(&b);
    ck_assert_int_eq(buffer_append(&b, "reply:abc", 9), 0);
    codec_encode_header(h, 9);
    ck_assert_int_eq(buffer_prepend(&b, h, sizeof(h)), 0);
    ck_assert_int_eq(codec_decode(&b, 64, &len), CODEC_MESSAGE);
    ck_assert_uint_eq(len, 9);
    ck_assert_mem_eq(buffer_peek(&b) + CODEC_HEADER_LEN, "reply:abc", 9);
    buffer_free(&b);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("codec");
    TCase *tc;

    tc = tcase_create("encode");
    tcase_add_test(tc, encode_header_big_endian);
    tcase_add_test(tc, encode_decode_round_trip);
    suite_add_tcase(s, tc);

    tc = tcase_create("incomplete");
    tcase_add_test(tc, fewer_than_four_bytes);
    tcase_add_test(tc, short_after_retrieve);
    tcase_add_test(tc, header_only);
    tcase_add_test(tc, partial_then_whole_payload);
    tcase_add_test(tc, split_header);
    suite_add_tcase(s, tc);

    tc = tcase_create("message");
    tcase_add_test(tc, empty_message);
    tcase_add_test(tc, exact_with_trailing_bytes);
    tcase_add_test(tc, many_in_one_buffer);
    tcase_add_test(tc, empty_messages_in_a_row);
    tcase_add_test(tc, prepended_header_decodes);
    suite_add_tcase(s, tc);

    tc = tcase_create("limit");
    tcase_add_test(tc, too_large_before_payload);
    tcase_add_test(tc, too_large_with_payload_present);
    tcase_add_test(tc, too_large_after_messages);
    tcase_add_test(tc, length_equal_to_max);
    tcase_add_test(tc, huge_limit_no_overflow);
    suite_add_tcase(s, tc);

    return s;
}
