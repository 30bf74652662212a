/* payload.h - what the load client sends and what it expects back.
 *
 * Every message is a pure function of (connection id, sequence number), so
 * nothing is stored per message: the sender rebuilds the bytes it still owes
 * and the receiver rebuilds the bytes it expects, and a stale, duplicated or
 * misrouted reply cannot pass.
 *
 * Payload of SIZE bytes for (id, seq):
 *   SIZE >= 16: a stamp  [id: 4 bytes BE][seq: 8 bytes BE][check: 4 bytes BE]
 *               (check = low 32 bits of mix(id, seq)), then SIZE - 16 fill
 *               bytes taken from a shared random template at an offset that
 *               depends on (id, seq).
 *   SIZE < 16:  the first SIZE bytes of two 64-bit hashes of (id, seq).
 *
 * On the wire a message is a short head (frame header, "reply:", stamp;
 * at most 26 bytes, built in place) and a body pointing into the template,
 * so requests go out with writev and replies are checked with memcmp, with
 * no copy of the payload.
 *
 *   raw     request = reply = payload
 *   framed  request = [SIZE: 4 bytes BE] payload
 *           reply   = [SIZE + 6: 4 bytes BE] "reply:" payload
 */
#ifndef BENCH_PAYLOAD_H
#define BENCH_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

enum proto { PROTO_RAW, PROTO_FRAMED };

#define STAMP_LEN     16
#define WIRE_HEAD_MAX (4 + 6 + STAMP_LEN)

struct msgfmt {
    enum proto     proto;
    size_t         size;          /* payload bytes */
    size_t         request_len;   /* bytes of one request on the wire */
    size_t         reply_len;     /* bytes of one reply on the wire */
    uint8_t       *fill;          /* template: size + FILL_PERIOD bytes */
};

struct wire {
    uint8_t        head[WIRE_HEAD_MAX];
    size_t         head_len;
    const uint8_t *body;
    size_t         body_len;
};

/* Sets up f for a protocol and payload size; -1 if out of memory. */
int  msgfmt_init(struct msgfmt *f, enum proto proto, size_t size);
void msgfmt_free(struct msgfmt *f);

void wire_request(const struct msgfmt *f, uint32_t id, uint64_t seq,
                  struct wire *w);
void wire_reply(const struct msgfmt *f, uint32_t id, uint64_t seq,
                struct wire *w);

/* Compares the n bytes p with bytes [off, off + n) of w. Returns -1 when
 * they match, else the offset in w of the first byte that differs. */
long wire_compare(const struct wire *w, size_t off, const uint8_t *p,
                  size_t n);
/* The byte at offset off of w. */
uint8_t wire_byte(const struct wire *w, size_t off);

#endif
