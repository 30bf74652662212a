/* drive.h - the chaos client: seeded connections against one server, with
 * every byte received checked against each connection's model.
 *
 * chaos_new() takes the server's port and a configuration; each
 * chaos_step() is one poll() round over the open connections. It starts
 * connections (up to `concurrency` at once, numbered from first_conn),
 * writes and reads them by their plans (plan.h), feeds both directions to
 * their models (model.h), and judges every close the server makes:
 *
 *   - after a header over -m, or after the client's half-close: allowed
 *     once every reply owed has arrived, a failure before;
 *   - otherwise (and with replies still owed after either), where the
 *     server reaps (-i): allowed once the client has sent nothing for -i
 *     (less a slack for the server's cached clock), a failure sooner; and a
 *     failure if replies were still owed although the client kept reading
 *     for the whole -i;
 *   - anywhere else: a failure.
 *
 * It also fails a connection that waits too long for a reply owed, for a
 * close owed, or (planned idle) for its reaping. The first failure ends
 * the run: chaos_step() returns -1 and chaos_error() names the connection,
 * what it expected and what came. One thread; the caller may do other
 * work between steps (sample /proc, send SIGTERM).
 */
#ifndef DRIVE_H
#define DRIVE_H

#include "plan.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct chaos_config {
    struct plan_limits lim;    /* protocol, -m, -i, oversize mix */
    uint64_t seed;             /* of every plan */
    int concurrency;           /* connections open at once */
    uint64_t first_conn;       /* the first connection's index */
    uint64_t conns;            /* how many to run; 0: until the budget */
    int budget_ms;             /* none starts after this; 0: no budget */
    int scale;                 /* deadline multiplier: 1, or 4 in slow builds */
};

/* How a connection ended. */
enum chaos_end {
    END_OK_CLOSE,              /* every reply, then the client closed */
    END_OK_HALF_CLOSE,         /* every reply, then the server's close */
    END_OK_RESET,              /* the client reset it */
    END_OK_REJECTED,           /* header over -m: every reply before it, then the close */
    END_OK_IDLE,               /* went quiet on purpose, and was reaped */
    END_OK_REAPED,             /* reaped, quiet long enough, though not on purpose */
    END_OK_SERVER_ENDED,       /* the server was told to exit */
    END_KINDS
};

struct chaos_stats {
    uint64_t conns;            /* started */
    uint64_t requests;         /* complete requests sent */
    uint64_t replies;          /* replies received in full (framed) */
    uint64_t bytes_out, bytes_in;
    uint64_t ends[END_KINDS];
    int open;                  /* connections open now */
};

struct chaos;

/* NULL with errno if out of memory. */
struct chaos *chaos_new(const struct chaos_config *c, uint16_t port);
void chaos_free(struct chaos *ch);

/* One round: I/O for at most max_wait_ms, then timers and new
 * connections. 1 while connections are open or due, 0 once all are done,
 * -1 after a failure. */
int chaos_step(struct chaos *ch, int max_wait_ms);

/* The server was told to exit: from now on any close is allowed (what
 * arrives is still checked), no connection starts, and every open one
 * reads eagerly until the server is gone. */
void chaos_server_ending(struct chaos *ch);

/* No new connection from now on; the open ones run to their end. */
void chaos_stop_starting(struct chaos *ch);

const struct chaos_stats *chaos_stats(const struct chaos *ch);

/* After chaos_step() returned -1: what failed, and on which connection. */
const char *chaos_error(const struct chaos *ch);
uint64_t chaos_failed_conn(const struct chaos *ch);

/* Where the first open connection stands: for a run that does not end. */
const char *chaos_describe_open(const struct chaos *ch, char *buf, size_t n);

/* "40 conns, 812 requests, ...; ends: 12 close, ..." */
const char *chaos_summary(const struct chaos *ch, char *buf, size_t n);

/* The -m and -i in force in a server's arguments (NULL-terminated),
 * the defaults where they are absent; the features (F_*) say which
 * options the stage has. */
void chaos_limits_from_args(struct plan_limits *lim, const char *const *args,
                            unsigned features);

#endif
