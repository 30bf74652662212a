/* plan.h - the seeded plan of one chaos connection: what it sends, where
 * the bytes are cut into separate writes, how long it pauses after a cut,
 * how it reads, and how it ends.
 *
 * A plan is a function of the run's seed, the connection's index and the
 * limits of the server (protocol, -m, -i) alone. It is drawn from three
 * PRNG streams, one for the items, one for the cuts and one for the read
 * phases, and each stream is consumed in an order that no timing can
 * change: items in order, the cuts of an item when it is generated, read
 * phases one after another. So the same seed gives the same bytes, cuts
 * and phases on every run, and connection K's plan does not depend on any
 * other connection's (`chaos --only-conn K` replays it alone). Only the
 * timing between client and server varies. Nothing here touches a socket.
 */
#ifndef PLAN_H
#define PLAN_H

#include "harness.h"
#include "util.h"

#include <stdbool.h>
#include <stdint.h>

/* Connections only go idle on purpose where -i is at most this. */
#define PLAN_MAX_IDLE_MS 5000

/* What a plan may use: the server's protocol and limits. */
struct plan_limits {
    enum proto proto;
    uint32_t max_payload;      /* -m in force (framed) */
    int idle_ms;               /* -i in force; 0: the server never reaps */
    bool oversize;             /* headers over -m and garbage in the mix */
};

enum item_kind {
    ITEM_MESSAGE,              /* framed: header + len bytes; raw: len bytes */
    ITEM_PARTIAL,              /* a header announcing len, then only tail bytes */
    ITEM_OVERSIZE,             /* a header announcing len > -m, then tail junk bytes */
    ITEM_GARBAGE,              /* len random bytes, decoded however they fall */
};

struct plan_item {
    enum item_kind kind;
    uint32_t len;
    uint32_t tail;             /* PARTIAL, OVERSIZE: bytes after the header */
    uint64_t seed;             /* of its random bytes */
};

enum plan_end {
    END_CLOSE,                 /* read every reply owed, then close() */
    END_HALF_CLOSE,            /* shutdown(SHUT_WR): the replies owed, then EOF */
    END_RESET,                 /* RST after reset_at bytes: nothing more is checked */
    END_IDLE,                  /* go quiet and read: the server must reap it */
};

enum read_mode {
    READ_EAGER,                /* whenever the socket is readable */
    READ_LAZY,                 /* at most lazy_bytes once per period_ms */
    READ_STOPPED,              /* not at all */
};

struct read_phase {
    enum read_mode mode;
    int ms;                    /* how long the phase lasts */
    int period_ms;             /* LAZY */
    int lazy_bytes;            /* LAZY */
};

/* A place in the byte stream where one write() ends, and the pause after. */
struct cut {
    uint64_t at;               /* stream offset */
    int pause_ms;
};

struct plan {
    struct plan_item *items;   /* owned */
    int nitems;
    uint64_t bytes;            /* of all the items */
    enum plan_end end;
    uint64_t reset_at;         /* END_RESET: RST once this many bytes are sent */
    bool nodelay;              /* TCP_NODELAY on its socket */
    int max_pause_ms;          /* after a cut; keeps a message's trickle short of -i */
    int max_stop_ms;           /* of a READ_STOPPED phase */
    uint64_t cut_rng;          /* the cut stream */
    uint64_t read_rng;         /* the read-phase stream */
};

/* An independent seed for the index-th thing (connection, round) of
 * something seeded `seed`. */
uint64_t plan_seed(uint64_t seed, uint64_t index);

/* Draws the plan of connection `conn`. Free it with plan_free(). */
void plan_init(struct plan *p, uint64_t seed, uint64_t conn, const struct plan_limits *lim);
void plan_free(struct plan *p);

/* Appends the bytes of an item to out. */
void plan_item_bytes(const struct plan_item *it, enum proto proto, struct bytes *out);

/* Draws the cuts of the next item, which starts at stream offset base and
 * is len bytes long, into cuts[] (at most PLAN_MAX_CUTS, in stream order).
 * Returns how many. */
#define PLAN_MAX_CUTS 9
int plan_cuts(struct plan *p, enum proto proto, uint64_t base, uint64_t len,
              struct cut *cuts);

/* The next read phase. */
struct read_phase plan_next_read(struct plan *p);

const char *plan_end_name(enum plan_end e);

#endif
