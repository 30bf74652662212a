/* harness.h - the stage harness: the column under test, scenarios and the
 * per-scenario run state with its EXPECT macros.
 *
 * A scenario is a function `int fn(struct run *r)` that starts the server(s)
 * it needs with run_start(), talks to them, and returns run_result(r): 0 if
 * everything it expected happened, -1 with a message in r->msg otherwise.
 * The code after its `out:` label releases what it holds; the servers are
 * health-checked and stopped by the caller (run_finish()).
 */
#ifndef HARNESS_H
#define HARNESS_H

#include "server.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Features of a column (tests/stages.txt), and the needs of a scenario. */
enum {
    F_RAW      = 1 << 0,
    F_FRAMED   = 1 << 1,
    F_MULTI    = 1 << 2,
    F_EMFILE   = 1 << 3,
    F_THREADS  = 1 << 4,
    F_IDLE     = 1 << 5,
    F_SHUTDOWN = 1 << 6,
    F_BUDGET   = 1 << 7,
    F_CLIENT   = 1 << 8,
};

enum proto { PROTO_RAW, PROTO_FRAMED };

/* The column under test, set once by main(). */
struct config {
    const char *column;
    const char *server;        /* path of the server binary */
    const char *build;         /* normal | asan | tsan | coverage */
    const char *results;       /* the .tsv file */
    char outdir[4096];         /* the servers' stderr files go here */
    const char *args[16];      /* the column's extra server arguments */
    int nargs;
    unsigned features;
    enum proto proto;          /* what the column speaks */
    int scale;                 /* deadline multiplier: 1, or 4 in slow builds */
    bool normal;               /* --build normal */
    uint64_t seed;             /* base seed of every PRNG stream */
};
extern struct config cfg;

/* The column from the command line, in main.c; the chaos client
 * (tests/chaos/main.c) links main.c with its main() renamed and takes its
 * column the same way. column_option() keeps the value of --column,
 * --server, --build (in cfg), --args, --features and --seed (in *args,
 * *features, *seed) and says whether opt was one of them; column_setup()
 * fills in the rest of cfg from them (exit 2 on an unknown feature) and
 * sets up the process: SIGPIPE ignored, RLIMIT_NOFILE raised, sanitizer
 * options for the servers. */
bool column_option(const char *opt, char *val, char **args, char **features,
                   const char **seed);
void column_setup(char *args, char *features, const char *seed);
void mkdirs(const char *path);        /* mkdir -p */

/* A deadline of base_ms milliseconds, scaled for slow builds. */
static inline int ms(int base_ms)
{
    return base_ms * cfg.scale;
}

/* Scenario flags. */
enum {
    S_FRAMED      = 1 << 0,    /* always speaks framed, whatever the column */
    S_ENDS_SERVER = 1 << 1,    /* ends its servers itself: no health check */
    S_NORMAL_ONLY = 1 << 2,    /* not applicable ("-") in other builds */
};

struct run;

struct scenario {
    const char *name;
    int (*fn)(struct run *r);
    unsigned needs;            /* F_* the column must have for it to pass */
    unsigned flags;            /* S_* */
};

extern const struct scenario scenarios[];
extern const int nscenarios;

#define MAX_SERVERS 12

struct run {
    const struct scenario *sc;
    enum proto proto;          /* encoding of this scenario's requests */
    struct server srv[MAX_SERVERS];
    int nsrv;
    bool failed;
    char msg[1024];            /* the failure, or a note on success */
};

/* Records a failure (the first one wins) and returns -1. */
int run_fail(struct run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends "; note" to r->msg: a measurement on success, context on failure. */
void run_note(struct run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* 0 if the scenario has not failed, else -1. */
int run_result(const struct run *r);

/* Jump to `out:` with a message unless cond holds. */
#define EXPECT(r, cond, ...)                                           \
    do {                                                               \
        if (!(cond)) {                                                 \
            run_fail((r), __VA_ARGS__);                                \
            goto out;                                                  \
        }                                                              \
    } while (0)

/* Jump to `out:` if a helper that records its own failure returned < 0
 * (or NULL). */
#define TRY(expr)                                                      \
    do {                                                               \
        if ((expr) < 0)                                                \
            goto out;                                                  \
    } while (0)
#define TRY_PTR(expr)                                                  \
    do {                                                               \
        if ((expr) == NULL)                                            \
            goto out;                                                  \
    } while (0)

/* Starts a server and reads its start-up line; NULL (failure recorded) if
 * it did not come up. sp may be NULL for the defaults. */
struct server *run_start(struct run *r, const struct spawn *sp);

/* Starts a server that is expected to exit by itself (no start-up line is
 * read, no health check). NULL (failure recorded) if fork failed. */
struct server *run_spawn(struct run *r, const struct spawn *sp);

/* Health check (unless skipped), stop, and sanitizer scan of every server
 * of the run. Violations are written to `broken` (empty if none). */
void run_finish(struct run *r, bool health, char *broken, size_t n);

/* The per-scenario seed: cfg.seed mixed with the scenario name. */
uint64_t run_seed(const struct run *r);

#endif
