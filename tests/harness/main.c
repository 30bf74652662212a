/* main.c - the stage harness: runs every scenario against one column of
 * tests/stages.txt as a check test, and writes one result line per
 * scenario (scenario TAB PASS|FAIL|XFAIL|XPASS|- TAB message) to --results.
 *
 *   harness --column 02-et --server build/step02_epoll/normal/server \
 *           --args -e --features raw,multi --build normal \
 *           --results build/results/normal/02-et.tsv [--only NAME] [--seed N]
 *   harness --list          prints the scenario names, one a line
 *
 * A scenario whose needs the column lacks must fail (XFAIL); one that
 * passes anyway is an XPASS, and fails the test. Whatever the expectation,
 * a server that dies, stops serving, or reports a sanitizer error fails it.
 */
#include "harness.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct config cfg;

static const char *const feature_names[] = {
    "raw", "framed", "multi", "emfile", "threads", "idle", "shutdown", "budget",
    "client", NULL,
};

static void usage(void)
{
    fprintf(stderr, "usage: harness --column NAME --server PATH --args A,B|- "
            "--features F,G --build normal|asan|tsan|coverage --results FILE "
            "[--only SCENARIO] [--seed N]\n       harness --list\n");
    exit(2);
}

static unsigned parse_features(char *list)
{
    unsigned f = 0;
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        int i = 0;
        while (feature_names[i] && strcmp(feature_names[i], tok) != 0)
            i++;
        if (feature_names[i] == NULL) {
            fprintf(stderr, "harness: unknown feature '%s'\n", tok);
            exit(2);
        }
        f |= 1u << i;
    }
    return f;
}

static void parse_args(char *list)
{
    if (strcmp(list, "-") == 0)
        return;
    for (char *tok = strtok(list, ","); tok && cfg.nargs < 16; tok = strtok(NULL, ","))
        cfg.args[cfg.nargs++] = tok;
}

void mkdirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0755);
            *p = '/';
        }
    }
    mkdir(buf, 0755);
}

/* Appends one result line; tabs and newlines in msg become spaces. */
static void record(const char *name, const char *result, const char *msg)
{
    char line[2600];
    int n = snprintf(line, sizeof(line), "%s\t%s\t%s", name, result, msg);
    if (n < 0 || (size_t)n >= sizeof(line) - 1)
        n = (int)sizeof(line) - 2;
    int start = (int)(strlen(name) + strlen(result) + 2);
    for (int i = start; i < n; i++)
        if (line[i] == '\t' || line[i] == '\n')
            line[i] = ' ';
    line[n++] = '\n';
    int fd = open(cfg.results, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
        if (write(fd, line, (size_t)n) != n)
            perror("harness: write results");
        close(fd);
    }
}

/* The names of the features in `bits`, comma-separated. */
static const char *feature_list(unsigned bits, char *buf, size_t n)
{
    buf[0] = '\0';
    for (int i = 0; feature_names[i]; i++) {
        if (bits & (1u << i)) {
            size_t len = strlen(buf);
            snprintf(buf + len, n - len, "%s%s", len ? "," : "", feature_names[i]);
        }
    }
    return buf;
}

/* PASS/FAIL where the column has what the scenario needs, XFAIL/XPASS
 * where it lacks something; FAIL whenever an invariant broke. */
static const char *judge(const struct scenario *sc, int rc, const struct run *r,
                         const char *broken, char *msg, size_t n)
{
    unsigned missing = sc->needs & ~cfg.features;
    char lacks[128];

    if (broken[0]) {
        snprintf(msg, n, "%s (scenario %s%s%s)", broken, rc == 0 ? "passed" : "failed",
                 r->msg[0] ? ": " : "", r->msg);
        return "FAIL";
    }
    if (missing != 0 && rc == 0) {
        snprintf(msg, n, "passed although the column lacks %s%s%s",
                 feature_list(missing, lacks, sizeof(lacks)), r->msg[0] ? ": " : "", r->msg);
        return "XPASS";
    }
    snprintf(msg, n, "%s", r->msg);
    if (missing != 0)
        return "XFAIL";
    return rc == 0 ? "PASS" : "FAIL";
}

START_TEST(scenario_test)
{
    const struct scenario *sc = &scenarios[_i];
    if ((sc->flags & S_NORMAL_ONLY) && !cfg.normal) {
        record(sc->name, "-", "runs in the normal build only");
        return;
    }

    struct run r = { .sc = sc, .proto = (sc->flags & S_FRAMED) ? PROTO_FRAMED : cfg.proto };
    int rc = sc->fn(&r);
    char broken[1024], msg[2400];
    run_finish(&r, !(sc->flags & S_ENDS_SERVER), broken, sizeof(broken));
    const char *result = judge(sc, rc, &r, broken, msg, sizeof(msg));
    record(sc->name, result, msg);
    ck_assert_msg(strcmp(result, "PASS") == 0 || strcmp(result, "XFAIL") == 0,
                  "%s %s: %s", result, sc->name, msg);
}
END_TEST

/* A test child that crashed or timed out wrote no line: write FAIL. */
static void fill_missing(SRunner *sr)
{
    char *text = NULL;
    FILE *f = fopen(cfg.results, "r");
    if (f) {
        size_t cap = 0;
        ssize_t n = getdelim(&text, &cap, '\0', f);
        if (n < 0) {
            free(text);
            text = NULL;
        }
        fclose(f);
    }
    TestResult **tr = srunner_results(sr);
    int n = srunner_ntests_run(sr);
    for (int i = 0; i < n; i++) {
        const char *name = tr_tcname(tr[i]);
        char key[128];
        snprintf(key, sizeof(key), "\n%s\t", name);
        bool found = text && (strncmp(text, key + 1, strlen(key + 1)) == 0 ||
                              strstr(text, key) != NULL);
        if (!found)
            record(name, "FAIL", tr_msg(tr[i]));
    }
    free(tr);
    free(text);
}

static void setup_process(void)
{
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rlim_t want = rl.rlim_max < 65536 ? rl.rlim_max : 65536;
        if (rl.rlim_cur < want) {
            rl.rlim_cur = want;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
    }
    setenv("ASAN_OPTIONS", "halt_on_error=1:detect_leaks=1:quarantine_size_mb=16", 1);
    setenv("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1", 1);
    setenv("TSAN_OPTIONS", "halt_on_error=1:second_deadlock_stack=1", 1);
}

bool column_option(const char *opt, char *val, char **args, char **features,
                   const char **seed)
{
    if (strcmp(opt, "--column") == 0) cfg.column = val;
    else if (strcmp(opt, "--server") == 0) cfg.server = val;
    else if (strcmp(opt, "--args") == 0) *args = val;
    else if (strcmp(opt, "--features") == 0) *features = val;
    else if (strcmp(opt, "--build") == 0) cfg.build = val;
    else if (strcmp(opt, "--seed") == 0) *seed = val;
    else return false;
    return true;
}

void column_setup(char *args, char *features, const char *seed)
{
    parse_args(args ? args : (char *)"-");
    cfg.features = parse_features(features);
    cfg.proto = (cfg.features & F_FRAMED) ? PROTO_FRAMED : PROTO_RAW;
    cfg.normal = strcmp(cfg.build, "normal") == 0;
    cfg.scale = cfg.normal ? 1 : 4;
    cfg.seed = seed ? strtoull(seed, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
    setup_process();
}

int main(int argc, char **argv)
{
    const char *only = NULL, *seed = getenv("HARNESS_SEED");
    char *args = NULL, *features = NULL;

    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--list") == 0) {
            for (int k = 0; k < nscenarios; k++)
                printf("%s\n", scenarios[k].name);
            return 0;
        }
        if (i + 1 == argc)
            usage();
        char *val = argv[++i];
        if (column_option(opt, val, &args, &features, &seed))
            continue;
        if (strcmp(opt, "--results") == 0) cfg.results = val;
        else if (strcmp(opt, "--only") == 0) only = val;
        else usage();
    }
    if (!cfg.column || !cfg.server || !features || !cfg.build || !cfg.results)
        usage();
    column_setup(args, features, seed);

    /* Results: FILE.tsv, stderr files under FILE/. */
    snprintf(cfg.outdir, sizeof(cfg.outdir), "%s", cfg.results);
    char *dot = strrchr(cfg.outdir, '.');
    if (dot && strcmp(dot, ".tsv") == 0)
        *dot = '\0';
    else
        strcat(cfg.outdir, ".d");
    mkdirs(cfg.outdir);
    close(open(cfg.results, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));

    Suite *suite = suite_create(cfg.column);
    int selected = 0;
    for (int i = 0; i < nscenarios; i++) {
        if (only && strcmp(only, scenarios[i].name) != 0)
            continue;
        TCase *tc = tcase_create(scenarios[i].name);
        tcase_set_timeout(tc, cfg.normal ? 120 : 300);
        tcase_add_loop_test(tc, scenario_test, i, i + 1);
        suite_add_tcase(suite, tc);
        selected++;
    }
    if (selected == 0) {
        fprintf(stderr, "harness: no scenario named '%s'\n", only);
        return 2;
    }

    if (access(cfg.server, X_OK) != 0) {
        char msg[4200];
        snprintf(msg, sizeof(msg), "no server binary %s (build failed?)", cfg.server);
        for (int i = 0; i < nscenarios; i++)
            if (!only || strcmp(only, scenarios[i].name) == 0)
                record(scenarios[i].name, "FAIL", msg);
        printf("0%%: Checks: %d, Failures: %d, Errors: 0\n", selected, selected);
        return 1;
    }

    printf("harness: column %s, build %s, --seed %llu\n", cfg.column, cfg.build,
           (unsigned long long)cfg.seed);
    fflush(stdout);                     /* before check forks */
    SRunner *sr = srunner_create(suite);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    fill_missing(sr);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
