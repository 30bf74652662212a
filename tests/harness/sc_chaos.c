/* sc_chaos.c - the short chaos run: a few seconds of seeded random clients
 * (tests/chaos/) against the column's server, every byte received checked
 * against a model of the contract. The column's features choose the
 * model: raw or framed, one connection at a time or many, reaping or not.
 *
 * The server gets the column's arguments plus what the model needs: a
 * small -m (drawn from the seed), so that messages up to the limit are
 * cheap, and a short -i where the column reaps (see CHAOS_REAP). A
 * failure names the seed and the one-line command that replays it;
 * tests/README.md ("Model-based random testing") says how to replay and
 * shrink.
 */
#include "drive.h"
#include "scenarios.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHAOS_BUDGET_MS  2000   /* connections start for this long */
#define CHAOS_DRAIN_MS  30000   /* then the open ones must end within (scaled) */
#define CHAOS_CONNS        24   /* open at once (12 in slow builds) */

/* -M where the column has a memory budget: the model does not know
 * eviction, so the load stays far below the budget. Buffers count by
 * capacity, and 24 slow readers near the 4 MiB high-water mark could
 * come near the default 256 MiB. */
#define CHAOS_MEMORY "1073741824"

/* Headers over -m and garbage in the mix. It found two bugs: before
 * 3b305b5 the close dropped the replies owed before the bad header (every
 * framed column failed at once), and before df78d65 keep_tail() reserved
 * what an unchecked header announced, up to 4 GiB, when decoding stopped
 * at the high water mark right before it. HARNESS_CHAOS_OVERSIZE=0 (or 1)
 * overrides. */
#define CHAOS_OVERSIZE true

/* Where the column reaps, a short -i, idle connections in the plans, and
 * every reap judged (drive.h): none sooner than -i after the client's
 * last send, none that loses replies from a client reading eagerly, and
 * the idle ones reaped in time. HARNESS_CHAOS_REAP=0 leaves -i at its
 * default (60 s: nothing is reaped within the run). */
#define CHAOS_REAP true

static const uint32_t chaos_limits[] = { 1000, 65536, 100000, 300000 };

/* A switch of the mix: the environment's 0 or 1, else dflt. */
static bool chaos_switch(const char *name, bool dflt)
{
    const char *env = getenv(name);
    return env && *env ? strcmp(env, "0") != 0 : dflt;
}

bool chaos_oversize_default(void)
{
    return chaos_switch("HARNESS_CHAOS_OVERSIZE", CHAOS_OVERSIZE);
}

int sc_chaos(struct run *r)
{
    uint64_t seed = run_seed(r), rng = seed;
    const char *extra[7] = { NULL }, *all[16 + 7] = { NULL };
    char m[16], i[16], csv[96] = "", summary[400];
    int n = 0, nall = 0;
    struct chaos *ch = NULL;
    struct server *s;

    if (cfg.features & F_FRAMED) {
        snprintf(m, sizeof(m), "%u", chaos_limits[rand_below(&rng, 4)]);
        extra[n++] = "-m";
        extra[n++] = m;
    }
    if ((cfg.features & F_IDLE) && chaos_switch("HARNESS_CHAOS_REAP", CHAOS_REAP)) {
        snprintf(i, sizeof(i), "%d", cfg.normal ? 1 : 2);
        extra[n++] = "-i";
        extra[n++] = i;
    }
    if (cfg.features & F_BUDGET) {
        extra[n++] = "-M";
        extra[n++] = CHAOS_MEMORY;
    }
    for (int k = 0; k < cfg.nargs; k++)
        all[nall++] = cfg.args[k];
    for (int k = 0; k < n; k++) {
        all[nall++] = extra[k];
        snprintf(csv + strlen(csv), sizeof(csv) - strlen(csv), "%s%s", k ? "," : "", extra[k]);
    }

    struct chaos_config c = {
        .seed = seed,
        .concurrency = (cfg.features & F_MULTI) ? (cfg.normal ? CHAOS_CONNS : CHAOS_CONNS / 2) : 1,
        .budget_ms = CHAOS_BUDGET_MS,
        .scale = cfg.scale,
    };
    chaos_limits_from_args(&c.lim, all, cfg.features);
    c.lim.oversize = chaos_oversize_default();

    struct spawn sp = { .args = extra };
    TRY_PTR(s = run_start(r, &sp));
    ch = chaos_new(&c, s->port);
    EXPECT(r, ch != NULL, "out of memory");
    int64_t deadline = now_ms() + CHAOS_BUDGET_MS + ms(CHAOS_DRAIN_MS);
    int rc;
    while ((rc = chaos_step(ch, 100)) > 0) {
        EXPECT(r, now_ms() < deadline, "%d connections still open %d ms after the last "
               "one started, among them %s; seed %llu", chaos_stats(ch)->open,
               ms(CHAOS_DRAIN_MS), chaos_describe_open(ch, summary, sizeof(summary)),
               (unsigned long long)seed);
    }
    chaos_summary(ch, summary, sizeof(summary));
    if (rc < 0) {
        run_fail(r, "%s; seed %llu (%s); replay: make chaos COLUMN=%s BUILD=%s SEED=%llu "
                 "CONNS=%llu CONC=%d EXTRA=%s OVERSIZE=%d [ONLY=%llu]", chaos_error(ch),
                 (unsigned long long)seed, summary, cfg.column, cfg.build,
                 (unsigned long long)seed, (unsigned long long)chaos_stats(ch)->conns,
                 c.concurrency, n ? csv : "-", c.lim.oversize,
                 (unsigned long long)chaos_failed_conn(ch));
        goto out;
    }
    run_note(r, "seed %llu, %s%s: %s", (unsigned long long)seed, n ? csv : "no options",
             c.lim.oversize ? ", oversize mix" : "", summary);
out:
    chaos_free(ch);
    return run_result(r);
}
