/* payload.c - stamped payloads and their wire images (see payload.h).
 */
#include "payload.h"

#include <stdlib.h>
#include <string.h>

/* The fill of a message starts at one of FILL_PERIOD offsets of the
 * template (a prime, so consecutive messages rarely share an offset). */
#define FILL_PERIOD 4093

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t mix(uint32_t id, uint64_t seq)
{
    return splitmix64(seq ^ ((uint64_t)id << 40) ^ ((uint64_t)id * 0x9e3779b97f4a7c15ULL));
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

int msgfmt_init(struct msgfmt *f, enum proto proto, size_t size)
{
    f->proto = proto;
    f->size = size;
    f->request_len = size + (proto == PROTO_FRAMED ? 4 : 0);
    f->reply_len = size + (proto == PROTO_FRAMED ? 4 + 6 : 0);

    size_t len = (size > STAMP_LEN ? size - STAMP_LEN : 0) + FILL_PERIOD;
    f->fill = malloc(len);
    if (f->fill == NULL)
        return -1;
    uint64_t x = 0x5eed;
    for (size_t i = 0; i < len; i++) {
        if (i % 8 == 0)
            x = splitmix64(x);
        f->fill[i] = (uint8_t)(x >> (8 * (i % 8)));
    }
    return 0;
}

void msgfmt_free(struct msgfmt *f)
{
    free(f->fill);
    f->fill = NULL;
}

/* Appends the payload of (id, seq) to w, whose head holds the prefix. */
static void add_payload(const struct msgfmt *f, uint32_t id, uint64_t seq,
                        struct wire *w)
{
    uint8_t *stamp = w->head + w->head_len;
    uint64_t h = mix(id, seq);

    if (f->size >= STAMP_LEN) {
        put_be32(stamp, id);
        put_be64(stamp + 4, seq);
        put_be32(stamp + 12, (uint32_t)h);
        w->head_len += STAMP_LEN;
        w->body = f->fill + h % FILL_PERIOD;
        w->body_len = f->size - STAMP_LEN;
    } else {
        uint8_t both[16];
        put_be64(both, h);
        put_be64(both + 8, splitmix64(h));
        memcpy(stamp, both, f->size);
        w->head_len += f->size;
        w->body = NULL;
        w->body_len = 0;
    }
}

void wire_request(const struct msgfmt *f, uint32_t id, uint64_t seq,
                  struct wire *w)
{
    w->head_len = 0;
    if (f->proto == PROTO_FRAMED) {
        put_be32(w->head, (uint32_t)f->size);
        w->head_len = 4;
    }
    add_payload(f, id, seq, w);
}

void wire_reply(const struct msgfmt *f, uint32_t id, uint64_t seq,
                struct wire *w)
{
    w->head_len = 0;
    if (f->proto == PROTO_FRAMED) {
        put_be32(w->head, (uint32_t)(f->size + 6));
        memcpy(w->head + 4, "reply:", 6);
        w->head_len = 10;
    }
    add_payload(f, id, seq, w);
}

/* Offset of the first difference between a and b (n bytes), or -1. */
static long first_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
    if (memcmp(a, b, n) == 0)
        return -1;
    size_t i = 0;
    while (a[i] == b[i])
        i++;
    return (long)i;
}

long wire_compare(const struct wire *w, size_t off, const uint8_t *p,
                  size_t n)
{
    if (off < w->head_len) {
        size_t k = w->head_len - off;
        if (k > n)
            k = n;
        long d = first_diff(w->head + off, p, k);
        if (d >= 0)
            return (long)off + d;
        off += k;
        p += k;
        n -= k;
    }
    if (n == 0)
        return -1;
    size_t boff = off - w->head_len;
    long d = first_diff(w->body + boff, p, n);
    return d >= 0 ? (long)off + d : -1;
}

uint8_t wire_byte(const struct wire *w, size_t off)
{
    return off < w->head_len ? w->head[off] : w->body[off - w->head_len];
}
