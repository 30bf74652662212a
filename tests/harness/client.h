/* client.h - client steps of a scenario that record their own failure in
 * the run (use them with TRY()): connect, connect many, round trips.
 */
#ifndef CLIENT_H
#define CLIENT_H

#include "harness.h"

#include <stddef.h>
#include <stdint.h>

/* Deadlines (ms, before scaling) shared by the scenarios. */
#define T_START     5000      /* start-up line */
#define T_CONNECT   5000      /* one connect, or a batch of them */
#define T_TRIP      5000      /* one round trip */
#define T_EXIT      5000      /* a server told to exit, exiting */
#define T_BULK     60000      /* a large transfer, end to end */
#define T_STALL     5000      /* a large transfer making no progress */

/* Connects to port. Returns the fd or -1. */
int rt_connect(struct run *r, uint16_t port);

/* Opens n connections at once (non-blocking connects, then poll) and waits
 * until all are established. fds[] gets them (-1 where none). 0 or -1. */
int rt_connect_many(struct run *r, uint16_t port, int *fds, int n);

/* Sends one request of n bytes on fd and verifies its reply. 0 or -1. */
int rt_trip(struct run *r, int fd, enum proto p, const void *payload, size_t n);

/* rt_trip() with its own deadline, limit_ms (already scaled): for a
 * scenario whose verdict is a bound on the round trip, so that a stage
 * that cannot meet it fails at once rather than after T_TRIP. */
int rt_trip_within(struct run *r, int fd, enum proto p, const void *payload, size_t n,
                   int limit_ms);

/* A fresh connection, one round trip of payload, close. 0 or -1. */
int rt_once(struct run *r, uint16_t port, enum proto p, const void *payload, size_t n);

/* A fresh connection, one round trip of a short text, close. 0 or -1.
 * `what` names the step in the failure message. */
int rt_fresh_trip(struct run *r, uint16_t port, enum proto p, const char *what);

struct stream;

/* Connects, pumps s to completion (large-transfer deadlines), closes the
 * connection and frees s. 0 or -1. */
int rt_stream(struct run *r, uint16_t port, struct stream *s);

/* Starts a server with the defaults and runs rt_stream() on it. 0 or -1. */
int rt_serve_stream(struct run *r, struct stream *s);

/* Opens n connections and pumps one stream per connection, built by
 * fill(stream, index, ctx); all must complete within total_ms, never
 * stalling longer than idle_ms. Closes and frees everything. 0 or -1. */
int rt_streams(struct run *r, uint16_t port, int n,
               void (*fill)(struct stream *s, int i, void *ctx), void *ctx,
               int total_ms, int idle_ms);

/* n connections at once, one short request each (rt_streams). 0 or -1. */
int rt_many_trips(struct run *r, uint16_t port, int n, int total_ms, int idle_ms);

#endif

