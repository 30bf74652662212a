/* codec.h - the framing: a 4-byte big-endian length, then that many bytes.
 *
 * The header is in network byte order (a server and a client on machines of
 * different endianness agree), its value is checked against a limit before
 * anything is allocated for it, and a buffer holding fewer than 4 bytes is
 * an incomplete header, never a message. Stateless; any thread.
 */
#ifndef CODEC_H
#define CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "buffer.h"

#define CODEC_HEADER_LEN 4

enum codec_status {
    CODEC_INCOMPLETE,   /* need more bytes */
    CODEC_MESSAGE,      /* a whole message is at the front of the buffer */
    CODEC_TOO_LARGE,    /* the header announces more than the limit */
};

/* Both functions are inline: they run for every message, and a call would
 * cost more than they do. */

/* Looks at the front of in. On CODEC_MESSAGE, *payload_len is the payload's
 * length; the payload starts CODEC_HEADER_LEN bytes after buffer_peek(in),
 * and the message takes CODEC_HEADER_LEN + *payload_len bytes. On
 * CODEC_TOO_LARGE, *payload_len is the announced length. */
static inline enum codec_status codec_decode(const struct buffer *in,
                                             size_t max_payload,
                                             size_t *payload_len)
{
    size_t readable = buffer_readable(in);
    if (readable < CODEC_HEADER_LEN)
        return CODEC_INCOMPLETE;
    uint32_t len = buffer_peek_u32(in);
    *payload_len = len;
    if (len > max_payload)
        return CODEC_TOO_LARGE;
    if (readable - CODEC_HEADER_LEN < len)
        return CODEC_INCOMPLETE;
    return CODEC_MESSAGE;
}

/* Writes the header for a payload of len bytes. */
static inline void codec_encode_header(unsigned char header[CODEC_HEADER_LEN],
                                       uint32_t len)
{
    header[0] = (unsigned char)(len >> 24);
    header[1] = (unsigned char)(len >> 16);
    header[2] = (unsigned char)(len >> 8);
    header[3] = (unsigned char)len;
}

#endif
