/* stream.h - a client connection as two byte streams: what it sends and
 * what the server owes it. pump() moves many of them at once with poll(),
 * writing and reading concurrently, and verifies every reply byte as it
 * arrives.
 */
#ifndef STREAM_H
#define STREAM_H

#include "harness.h"
#include "util.h"

#include <stdbool.h>
#include <stddef.h>

struct stream {
    int fd;                   /* not owned: the caller closes it */
    struct bytes out;         /* every byte to send */
    size_t sent;
    struct bytes want;        /* every byte the server owes */
    size_t got;
    bool shut_wr;             /* shutdown(SHUT_WR) once everything is sent */
    bool want_eof;            /* the server must close after the last reply */
    bool shut_done;
    bool eof;
    bool failed;
    char err[200];
};

/* Appends one request to req and the reply it deserves to rep.
 * Raw: both are the payload. Framed: req = len32 + payload,
 * rep = len32(n + 6) + "reply:" + payload. */
void encode(enum proto p, struct bytes *req, struct bytes *rep,
            const void *payload, size_t n);

void stream_init(struct stream *s, int fd);
void stream_add(struct stream *s, enum proto p, const void *payload, size_t n);

/* Appends one request of n random bytes drawn from *seed. */
void stream_add_random(struct stream *s, enum proto p, uint64_t *seed, size_t n);
void stream_free(struct stream *s);
bool stream_done(const struct stream *s);

/* Writes until the socket would block. 1 if it wrote, 0 if not, -1 on
 * failure (s->err). */
int stream_send(struct stream *s);

/* Writes without reading until the socket stays unwritable for quiet_ms.
 * 1 if it stalled so, 0 if everything was written, -1 on a send failure
 * (s->err). */
int stream_send_until_stall(struct stream *s, int quiet_ms);

/* Reads and verifies until the socket would block. Same returns. */
int stream_recv(struct stream *s);

/* One poll() round over the unfinished streams, waiting at most
 * timeout_ms. 1 if bytes moved, 0 if not, -1 if a stream failed. */
int pump_step(struct stream *v, size_t n, int timeout_ms);

/* Pumps until every stream is done. Fails (recorded in r) on a stream
 * failure, after total_ms, or after idle_ms without any progress. */
int pump(struct run *r, struct stream *v, size_t n, int total_ms, int idle_ms);

#endif
