/* model.h - what the server owes one connection, derived from the bytes
 * the client has sent: a reference decoder of the contract's protocol.
 *
 * Raw echo owes every byte sent, in order. Framed owes one reply per
 * complete request ("reply:" + payload, framed), in request order, and
 * nothing for an incomplete one; a header over -m owes nothing from there
 * on and obliges the server to close once the replies before it are out.
 * Garbage needs no rule of its own: the decoder reads it as the server
 * must, usually as a header over -m.
 *
 * The driver feeds the model every byte it sends (model_sent) and every
 * byte it receives (model_received), which must be exactly the next bytes
 * owed. The model knows nothing of time or sockets; the driver decides
 * when a close is allowed.
 */
#ifndef MODEL_H
#define MODEL_H

#include "harness.h"
#include "util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct model {
    enum proto proto;
    uint32_t max_payload;      /* -m (framed) */
    /* The decoder, over the bytes sent. */
    uint8_t header[4];
    int have;                  /* header bytes of the current message so far */
    uint32_t len;              /* its payload length, once have == 4 */
    uint32_t filled;           /* its payload bytes so far */
    bool rejected;             /* a header over max_payload was sent */
    uint32_t rejected_len;
    /* What the server owes. want holds the stream of reply bytes from
     * absolute offset base on: [got, owed) is owed and not received yet,
     * [owed, base + want.len) the reply of the message still incomplete. */
    struct bytes want;
    uint64_t base;
    uint64_t owed;             /* bytes owed since the start */
    uint64_t got;              /* bytes received and verified */
    uint64_t *ends;            /* end offset of each reply owed, not yet in full */
    size_t nends, ends_head, ends_cap;
    uint64_t reply_start;      /* offset of the first reply not yet in full */
    uint64_t requests;         /* complete requests sent */
    uint64_t replies;          /* replies received in full */
};

void model_init(struct model *m, enum proto proto, uint32_t max_payload);
void model_free(struct model *m);

/* The client sent these bytes, next in the stream. */
void model_sent(struct model *m, const uint8_t *p, size_t n);

/* The client received these bytes. 0 if they are the next bytes owed, -1
 * with the first difference described in err otherwise. */
int model_received(struct model *m, const uint8_t *p, size_t n, char *err, size_t errlen);

/* Bytes owed and not received yet. */
static inline uint64_t model_owed(const struct model *m)
{
    return m->owed - m->got;
}

/* Inside a message: some of it sent, not all. */
static inline bool model_in_message(const struct model *m)
{
    return m->proto == PROTO_FRAMED && !m->rejected && m->have > 0;
}

/* "17 of 40 replies (2310 of 5120 bytes)", or "2310 of 5120 bytes" (raw). */
const char *model_progress(const struct model *m, char *buf, size_t n);

#endif
