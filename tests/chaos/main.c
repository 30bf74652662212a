/* main.c - the chaos client on its own: long runs, replays and the soak.
 *
 *   chaos --column 10-t2w2 --server build/step10_timer/tsan/server \
 *         --args -t,2,-w,2 --features framed,multi,threads,idle,shutdown \
 *         --build tsan [--seconds 600] [--seed N] [--random-options]
 *         [--extra -m,1000,-i,1] [--conns N] [--conc N] [--only-conn K]
 *         [--oversize 0|1] [--sigterm-ms N] [--soak FILE]
 *
 * tests/chaos/run.sh (make chaos, make soak) fills in the column from
 * tests/stages.txt. Without --random-options it is one round: one server
 * with the column's arguments and --extra, --conc connections at once,
 * started for --seconds (or --conns of them, numbered from 0; --only-conn
 * K runs connection K's plan alone). With it, rounds of 3-20 s follow one
 * another until --seconds are used up, each with its own seed, server
 * options drawn from it (-t, -w, -m, -i, as far as the column has them)
 * and, where the column shuts down cleanly, now and then a SIGTERM at a
 * random moment. --soak FILE: one round against one server, sampled once a
 * second into FILE, then the verdict on its memory, fds and threads
 * (soak.h).
 *
 * After each round the server is health-checked, stopped and its stderr
 * scanned for sanitizer reports, as in the harness. A failure prints the
 * round's seed, column, build and options and the one line that replays
 * it, and exits 1.
 */
#include "client.h"
#include "drive.h"
#include "harness.h"
#include "scenarios.h"
#include "soak.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUND_MIN_MS    3000
#define ROUND_MAX_MS   20000
#define CLIENT_MEMORY (128u << 20)   /* bound on what -m times --conc may hold */

struct options {
    uint64_t seed;
    int seconds;
    bool random_options;
    char *extra;               /* comma-separated, or NULL */
    uint64_t conns;            /* 0: by time */
    int conc;                  /* 0: by the column */
    int64_t only_conn;         /* -1: all */
    int oversize;              /* -1: the harness's default */
    int sigterm_ms;            /* -1: none (rounds draw their own) */
    const char *soak;          /* the samples file, or NULL */
};

/* One round: its seed and what it runs with. */
struct round {
    int index;
    uint64_t seed;
    const char *extra[12];     /* the server options added to the column's */
    char store[5][24];         /* their values */
    int nextra;
    struct chaos_config c;
    int ms;                    /* connections start for this long */
    int sigterm_ms;            /* -1: none */
};

static struct scenario round_scenario = { "chaos", NULL, 0, 0 };

static void usage(void)
{
    fprintf(stderr, "usage: chaos --column NAME --server PATH --args A,B|- --features F,G "
            "--build normal|asan|tsan [--seconds N] [--seed N] [--random-options] "
            "[--extra A,B|-] [--conns N] [--conc N] [--only-conn K] [--oversize 0|1] "
            "[--sigterm-ms N] [--soak FILE]\n");
    exit(2);
}

static void add_option(struct round *rd, const char *opt, unsigned long v)
{
    char *val = rd->store[rd->nextra / 2];
    snprintf(val, sizeof(rd->store[0]), "%lu", v);
    rd->extra[rd->nextra++] = opt;
    rd->extra[rd->nextra++] = val;
}

/* Server options drawn from the round's seed, among those the column has. */
static void draw_options(struct round *rd, uint64_t *rng)
{
    static const unsigned long limits[] = { 1, 100, 1000, 65536, 100000, 1 << 20, 0 };
    static const unsigned long threads[] = { 0, 1, 2, 3, ~0ul };
    static const unsigned long idles[] = { 1, 2, 0, ~0ul };
    unsigned long v;

    if (cfg.features & F_FRAMED) {
        v = limits[rand_below(rng, 7)];
        if (v != 0)                               /* 0: the default, 16 MiB */
            add_option(rd, "-m", v);
    }
    if (cfg.features & F_THREADS) {
        if ((v = threads[rand_below(rng, 5)]) != ~0ul)
            add_option(rd, "-t", v);
        add_option(rd, "-w", threads[rand_below(rng, 4)]);
    }
    if ((cfg.features & F_IDLE) && (v = idles[rand_below(rng, 4)]) != ~0ul)
        add_option(rd, "-i", v);
    if (cfg.features & F_BUDGET)              /* far above the load: see sc_chaos.c */
        add_option(rd, "-M", 1ul << 30);
}

/* Splits "a,b,c" (or "-") into rd->extra. */
static void given_options(struct round *rd, char *csv)
{
    if (csv == NULL || strcmp(csv, "-") == 0)
        return;
    for (char *tok = strtok(csv, ","); tok && rd->nextra < 10; tok = strtok(NULL, ","))
        rd->extra[rd->nextra++] = tok;
}

static void set_up_round(struct round *rd, const struct options *o, int index,
                         int left_ms)
{
    uint64_t rng;
    const char *all[32] = { NULL };
    int n = 0;

    memset(rd, 0, sizeof(*rd));
    rd->index = index;
    rd->seed = o->random_options ? plan_seed(o->seed, (uint64_t)index) : o->seed;
    rng = rd->seed;
    rd->sigterm_ms = o->sigterm_ms;
    rd->ms = left_ms;
    if (o->random_options) {
        draw_options(rd, &rng);
        rd->ms = ROUND_MIN_MS + (int)rand_below(&rng, ROUND_MAX_MS - ROUND_MIN_MS + 1);
        if (rd->ms > left_ms)
            rd->ms = left_ms;
        if ((cfg.features & F_SHUTDOWN) && rand_below(&rng, 100) < 30)
            rd->sigterm_ms = 200 + (int)rand_below(&rng, (uint32_t)rd->ms);
    } else {
        given_options(rd, o->extra);
    }
    for (int i = 0; i < cfg.nargs; i++)
        all[n++] = cfg.args[i];
    for (int i = 0; i < rd->nextra; i++)
        all[n++] = rd->extra[i];

    struct chaos_config *c = &rd->c;
    chaos_limits_from_args(&c->lim, all, cfg.features);
    c->lim.oversize = o->oversize >= 0 ? o->oversize : chaos_oversize_default();
    c->seed = rd->seed;
    c->scale = cfg.scale;
    c->concurrency = o->conc;
    if (c->concurrency == 0) {
        static const int choices[] = { 4, 16, 32, 64 };
        c->concurrency = o->random_options ? choices[rand_below(&rng, 4)] : 24;
    }
    uint64_t per_conn = 2ull * c->lim.max_payload + (4u << 20);
    if (c->lim.proto == PROTO_FRAMED && (uint64_t)c->concurrency * per_conn > CLIENT_MEMORY)
        c->concurrency = (int)(CLIENT_MEMORY / per_conn) > 2 ? (int)(CLIENT_MEMORY / per_conn) : 2;
    if (!(cfg.features & F_MULTI))
        c->concurrency = 1;
    if (o->only_conn >= 0) {
        c->first_conn = (uint64_t)o->only_conn;
        c->conns = 1;
    } else {
        c->conns = o->conns;
    }
    c->budget_ms = c->conns ? 0 : rd->ms;
}

static const char *options_csv(const struct round *rd, char *buf, size_t n)
{
    buf[0] = '\0';
    for (int i = 0; i < rd->nextra; i++)
        snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", i ? "," : "", rd->extra[i]);
    if (buf[0] == '\0')
        snprintf(buf, n, "-");
    return buf;
}

static void print_replay(const struct round *rd, const struct chaos *ch, const char *prefix)
{
    char csv[128], sig[32] = "";
    if (rd->sigterm_ms >= 0)
        snprintf(sig, sizeof(sig), " SIGTERM_MS=%d", rd->sigterm_ms);
    printf("%sreplay: make chaos COLUMN=%s BUILD=%s SEED=%llu CONNS=%llu CONC=%d EXTRA=%s "
           "OVERSIZE=%d%s\n", prefix, cfg.column, cfg.build, (unsigned long long)rd->seed,
           (unsigned long long)chaos_stats(ch)->conns, rd->c.concurrency,
           options_csv(rd, csv, sizeof(csv)), rd->c.lim.oversize, sig);
    printf("%salone:  make chaos COLUMN=%s BUILD=%s SEED=%llu EXTRA=%s OVERSIZE=%d ONLY=%llu\n",
           prefix, cfg.column, cfg.build, (unsigned long long)rd->seed, csv,
           rd->c.lim.oversize, (unsigned long long)chaos_failed_conn(ch));
}

/* Samples the server into f, once a second. */
struct sampler {
    FILE *f;
    struct soak_sample *v;
    int n, cap;
    int64_t t0, next;
};

static void sample(struct sampler *sm, const struct server *s, const struct chaos *ch)
{
    int64_t now = now_ms();
    if (sm->f == NULL || now < sm->next)
        return;
    sm->next += 1000;
    struct soak_sample x;
    if (soak_sample(s->pid, (double)(now - sm->t0) / 1000.0, &x) < 0)
        return;
    if (sm->n == sm->cap) {
        sm->cap = sm->cap ? sm->cap * 2 : 1024;
        sm->v = realloc(sm->v, (size_t)sm->cap * sizeof(*sm->v));
        if (sm->v == NULL)
            abort();
    }
    sm->v[sm->n++] = x;
    const struct chaos_stats *st = chaos_stats(ch);
    fprintf(sm->f, "%.1f\t%.0f\t%.0f\t%.0f\t%llu\t%d\t%.1f\n", x.t, x.rss_kb, x.fds, x.threads,
            (unsigned long long)st->conns, st->open, (double)st->bytes_out / 1048576.0);
    fflush(sm->f);
}

/* The verdict of a soak: 0 if nothing trends upward. */
static int soak_verdict(const struct sampler *sm)
{
    static const char *const names[] = { "rss", "fds", "threads" };
    static const double tol_abs[] = { 8192, 16, 0.5 }, tol_rel[] = { 0.10, 0.10, 0 };
    static const double unit[] = { 1024, 1, 1 };
    static const char *const units[] = { " MiB", "", "" };
    char verdict[300] = "";
    int up = 0;

    if (sm->n < 8) {
        printf("soak: only %d samples, no verdict\n", sm->n);
        return 1;
    }
    for (int w = 0; w < SOAK_KINDS; w++) {
        struct soak_trend t;
        soak_trend(sm->v, sm->n, (enum soak_what)w, tol_abs[w], tol_rel[w], &t);
        printf("soak %-7s median %.1f%s (2nd quarter) -> %.1f%s (last quarter); second "
               "half %+.2f%s/h, %+.1f%s across it (tolerance %.1f%s): %s\n", names[w],
               t.q2 / unit[w], units[w], t.q4 / unit[w], units[w], t.slope_per_hour / unit[w],
               units[w], t.rise / unit[w], units[w], t.tolerance / unit[w], units[w],
               t.up ? "TRENDS UP" : "flat");
        snprintf(verdict + strlen(verdict), sizeof(verdict) - strlen(verdict),
                 "%s%s %.1f -> %.1f%s %s", w ? ", " : "", names[w], t.q2 / unit[w],
                 t.q4 / unit[w], units[w], t.up ? "TRENDS UP" : "flat");
        up |= t.up;
    }
    printf("soak verdict: %s\n", verdict);           /* the plot's title */
    return up ? 1 : 0;
}

/* Runs one round. 0, or -1 after a failure (printed). */
static int run_round(struct round *rd, struct sampler *sm)
{
    char name[32], csv[128], summary[400], broken[1024], st[96];
    struct run r = { .sc = &round_scenario, .proto = cfg.proto };
    struct spawn sp = { .args = rd->extra };
    struct chaos *ch = NULL;
    struct server *s;
    int rc = -1;

    snprintf(name, sizeof(name), "round-%d", rd->index);
    round_scenario.name = name;
    options_csv(rd, csv, sizeof(csv));
    if ((s = run_start(&r, &sp)) == NULL)
        goto out;
    if ((ch = chaos_new(&rd->c, s->port)) == NULL) {
        run_fail(&r, "out of memory");
        goto out;
    }
    if (sm) {
        sm->t0 = sm->next = now_ms();
        sample(sm, s, ch);
    }
    int64_t t0 = now_ms(), stop_by = t0 + rd->ms + ms(60000);
    bool signalled = false;
    while ((rc = chaos_step(ch, 100)) > 0) {
        int64_t now = now_ms();
        if (sm && now - t0 < rd->ms)          /* under load, not while it drains */
            sample(sm, s, ch);
        if (!signalled && rd->sigterm_ms >= 0 && now - t0 >= rd->sigterm_ms) {
            signalled = true;
            chaos_server_ending(ch);
            server_signal(s, SIGTERM);
            s->ended = true;
            if (!server_wait(s, ms(T_EXIT))) {
                run_fail(&r, "still running %d ms after SIGTERM", ms(T_EXIT));
                break;
            }
            if (!WIFEXITED(s->status) || WEXITSTATUS(s->status) != 0) {
                run_fail(&r, "SIGTERM: %s, want exit status 0",
                         status_str(s->status, st, sizeof(st)));
                break;
            }
        }
        if (now > stop_by) {
            run_fail(&r, "connections still open 60 s after the last one started, "
                     "among them %s", chaos_describe_open(ch, summary, sizeof(summary)));
            break;
        }
    }
    if (rc < 0)
        run_fail(&r, "%s", chaos_error(ch));
    /* The harness's health check sends more than -m 1 allows: one that
     * fits instead. */
    if (!r.failed && !s->ended) {
        size_t n = rd->c.lim.max_payload < 12 ? rd->c.lim.max_payload : 12;
        if (!server_alive(s))
            run_fail(&r, "server died during the round (%s)",
                     status_str(s->status, st, sizeof(st)));
        else
            rt_once(&r, s->port, cfg.proto, "health check", n);
    }
out:
    run_finish(&r, false, broken, sizeof(broken));
    if (broken[0])
        run_fail(&r, "%s", broken);
    if (ch)
        chaos_summary(ch, summary, sizeof(summary));
    else
        snprintf(summary, sizeof(summary), "no connection");
    printf("round %d, seed %llu, options %s, %d at once%s: %s%s\n", rd->index,
           (unsigned long long)rd->seed, csv, rd->c.concurrency,
           rd->sigterm_ms >= 0 ? ", SIGTERM" : "", r.failed ? "FAIL: " : "",
           r.failed ? r.msg : summary);
    if (r.failed) {
        printf("chaos: FAIL column %s, build %s, round %d, seed %llu (%s)\n", cfg.column,
               cfg.build, rd->index, (unsigned long long)rd->seed, summary);
        if (ch)
            print_replay(rd, ch, "  ");
    }
    fflush(stdout);
    chaos_free(ch);
    return r.failed ? -1 : 0;
}

int main(int argc, char **argv)
{
    struct options o = { .seconds = 10, .only_conn = -1, .oversize = -1, .sigterm_ms = -1 };
    char *args = NULL, *features = NULL;
    const char *seed = NULL;

    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--random-options") == 0) {
            o.random_options = true;
            continue;
        }
        if (i + 1 == argc)
            usage();
        char *val = argv[++i];
        if (column_option(opt, val, &args, &features, &seed))
            continue;
        if (strcmp(opt, "--seconds") == 0) o.seconds = atoi(val);
        else if (strcmp(opt, "--extra") == 0) o.extra = val;
        else if (strcmp(opt, "--conns") == 0) o.conns = strtoull(val, NULL, 0);
        else if (strcmp(opt, "--conc") == 0) o.conc = atoi(val);
        else if (strcmp(opt, "--only-conn") == 0) o.only_conn = strtoll(val, NULL, 0);
        else if (strcmp(opt, "--oversize") == 0) o.oversize = atoi(val) != 0;
        else if (strcmp(opt, "--sigterm-ms") == 0) o.sigterm_ms = atoi(val);
        else if (strcmp(opt, "--soak") == 0) o.soak = val;
        else usage();
    }
    if (!cfg.column || !cfg.server || !features || !cfg.build || o.seconds <= 0)
        usage();
    if (access(cfg.server, X_OK) != 0) {
        fprintf(stderr, "chaos: no server binary %s\n", cfg.server);
        return 2;
    }
    column_setup(args, features, seed);
    o.seed = cfg.seed;
    snprintf(cfg.outdir, sizeof(cfg.outdir), "build/chaos/%s-%s", cfg.column, cfg.build);
    mkdirs(cfg.outdir);
    printf("chaos: column %s, build %s, seed %llu, %d s%s; servers' stderr in %s/\n",
           cfg.column, cfg.build, (unsigned long long)o.seed, o.seconds,
           o.random_options ? ", random server options" : "", cfg.outdir);
    fflush(stdout);

    struct sampler sm = { 0 };
    if (o.soak && (sm.f = fopen(o.soak, "w")) == NULL) {
        fprintf(stderr, "chaos: %s: %s\n", o.soak, strerror(errno));
        return 2;
    }
    if (sm.f)
        fprintf(sm.f, "# t_s\trss_kb\tfds\tthreads\tconns\topen\tmib_out\n");

    int64_t end = now_ms() + (int64_t)o.seconds * 1000;
    int failed = 0, rounds = 0;
    do {
        struct round rd;
        set_up_round(&rd, &o, rounds++, (int)(end - now_ms()));
        failed = run_round(&rd, sm.f ? &sm : NULL) < 0;
    } while (!failed && o.random_options && ms_left(end) >= ROUND_MIN_MS);

    if (sm.f) {
        fclose(sm.f);
        if (!failed)
            failed = soak_verdict(&sm);
        free(sm.v);
    }
    printf("chaos: %s, %d round%s\n", failed ? "FAIL" : "ok", rounds, rounds == 1 ? "" : "s");
    return failed ? 1 : 0;
}
