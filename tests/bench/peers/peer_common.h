/* peer_common.h - what the two reference peers share: the contract's
 * command line, the listening socket and its start-up line, and the framing
 * constants.
 *
 *   ./peer IP PORT [-h] [-m BYTES] [--raw]
 *
 * Framed reply by default; --raw for raw echo. Bad arguments print one line
 * to stderr and exit 2; "address already in use" exits 1.
 */
#ifndef BENCH_PEER_COMMON_H
#define BENCH_PEER_COMMON_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#define PEER_MAX_DEFAULT (16u << 20)  /* -m default: 16 MiB */
#define PEER_HIGH_WATER  (4u << 20)   /* stop reading above this much output */
#define PEER_LOW_WATER   (1u << 20)   /* and read again below this much */
#define REPLY_PREFIX     "reply:"
#define REPLY_PREFIX_LEN 6
#define REPLY_HEAD_LEN   (4 + REPLY_PREFIX_LEN)

struct peer_opts {
    const char        *prog;
    struct sockaddr_in addr;
    uint32_t           max_payload;   /* -m */
    int                raw;           /* --raw */
};

/* Parses the command line; exits 0 after -h, 2 on a bad argument. */
void peer_parse_args(struct peer_opts *o, int argc, char **argv);

/* Binds and listens (non-blocking, close-on-exec), ignores SIGPIPE, and
 * prints "listening on IP:PORT". Exits 1 or 2 on failure. */
int peer_listen(const struct peer_opts *o);

uint32_t peer_get_be32(const uint8_t *p);
/* Writes the 10-byte head of the reply to an n-byte request. */
void peer_reply_head(uint8_t *head, uint32_t n);

#endif
