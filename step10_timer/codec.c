/* codec.c - see codec.h. */
#include "codec.h"

enum codec_status codec_decode(const struct buffer *in, size_t max_payload,
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

void codec_encode_header(unsigned char header[CODEC_HEADER_LEN], uint32_t len)
{
    header[0] = (unsigned char)(len >> 24);
    header[1] = (unsigned char)(len >> 16);
    header[2] = (unsigned char)(len >> 8);
    header[3] = (unsigned char)len;
}
