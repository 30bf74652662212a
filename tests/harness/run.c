/* run.c - the state of one scenario run: failure messages, the servers it
 * started, and the checks that hold after every scenario (the server is
 * still alive and serving, its stderr holds no sanitizer report).
 */
#include "harness.h"

#include "client.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STDERR_KEEP (1 << 20)

static const char *const sanitizer_marks[] = {
    "ERROR: AddressSanitizer", "runtime error:", "WARNING: ThreadSanitizer",
    "ERROR: LeakSanitizer", NULL,
};

int run_fail(struct run *r, const char *fmt, ...)
{
    if (!r->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
        va_end(ap);
        r->failed = true;
    }
    return -1;
}

void run_note(struct run *r, const char *fmt, ...)
{
    size_t len = strlen(r->msg);
    if (len > 0 && len + 2 < sizeof(r->msg)) {
        strcpy(r->msg + len, "; ");
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg + len, sizeof(r->msg) - len, fmt, ap);
    va_end(ap);
}

int run_result(const struct run *r)
{
    return r->failed ? -1 : 0;
}

uint64_t run_seed(const struct run *r)
{
    uint64_t h = cfg.seed;
    for (const char *p = r->sc->name; *p; p++)
        h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    return h;
}

struct server *run_spawn(struct run *r, const struct spawn *sp)
{
    static const struct spawn defaults;
    if (r->nsrv == MAX_SERVERS) {
        run_fail(r, "harness bug: more than %d servers in one scenario", MAX_SERVERS);
        return NULL;
    }
    struct server *s = &r->srv[r->nsrv];
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s.%d.stderr", cfg.outdir, r->sc->name, r->nsrv);
    if (server_spawn(s, sp ? sp : &defaults, path) < 0) {
        run_fail(r, "cannot start %s: %s", cfg.server, strerror(errno));
        return NULL;
    }
    r->nsrv++;
    return s;
}

struct server *run_start(struct run *r, const struct spawn *sp)
{
    struct server *s = run_spawn(r, sp);
    if (s == NULL)
        return NULL;
    char err[512];
    int timeout = sp && sp->valgrind ? 30000 : ms(T_START);
    if (server_read_line(s, timeout, err, sizeof(err)) < 0) {
        run_fail(r, "server did not start: %s", err);
        return NULL;
    }
    return s;
}

/* Appends "; text" to broken. */
static void add_broken(char *broken, size_t n, const char *fmt, ...)
{
    size_t len = strlen(broken);
    if (len > 0 && len + 2 < n) {
        strcpy(broken + len, "; ");
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(broken + len, n - len, fmt, ap);
    va_end(ap);
}

static void health_check(struct run *r, struct server *s, char *broken, size_t n)
{
    char st[96];
    if (!server_alive(s)) {
        add_broken(broken, n, "server died during the scenario (%s)",
                   status_str(s->status, st, sizeof(st)));
        return;
    }
    struct run sub = { .sc = r->sc, .proto = cfg.proto };
    if (rt_fresh_trip(&sub, s->port, cfg.proto, "health check") < 0)
        add_broken(broken, n, "%s", sub.msg);
}

/* SIGTERM (then SIGKILL) where the server can exit cleanly: so that
 * LeakSanitizer runs, and coverage builds write their .gcda files. */
static void stop(struct server *s, char *broken, size_t n)
{
    bool clean = (cfg.features & F_SHUTDOWN) || strcmp(cfg.build, "coverage") == 0;
    if (clean && server_alive(s)) {
        server_signal(s, SIGTERM);
        if (!server_wait(s, ms(T_EXIT)) && (cfg.features & F_SHUTDOWN))
            add_broken(broken, n, "server did not exit within %d ms of SIGTERM",
                       ms(T_EXIT));
    }
    server_reap(s);
}

/* A server that logs every failed accept() can write megabytes: keep the
 * first MiB of its stderr once it has been scanned. */
static void trim_stderr(const char *path, size_t len)
{
    if (len <= STDERR_KEEP || truncate(path, STDERR_KEEP) < 0)
        return;
    FILE *f = fopen(path, "a");
    if (f) {
        fprintf(f, "\n[harness: %zu more bytes cut]\n", len - STDERR_KEEP);
        fclose(f);
    }
}

static void scan_stderr(const struct server *s, char *broken, size_t n)
{
    size_t len;
    char *text = slurp(s->err_path, &len);
    if (text == NULL)
        return;
    for (int i = 0; sanitizer_marks[i]; i++) {
        char *hit = strstr(text, sanitizer_marks[i]);
        if (hit == NULL)
            continue;
        while (hit > text && hit[-1] != '\n')
            hit--;
        char line[200];
        first_line(hit, line, sizeof(line));
        add_broken(broken, n, "sanitizer report in %s: %s", s->err_path, line);
        break;
    }
    free(text);
    trim_stderr(s->err_path, len);
}

void run_finish(struct run *r, bool health, char *broken, size_t n)
{
    broken[0] = '\0';
    for (int i = 0; i < r->nsrv; i++) {
        struct server *s = &r->srv[i];
        if (health && s->started && !s->ended)
            health_check(r, s, broken, n);
        stop(s, broken, n);
        scan_stderr(s, broken, n);
    }
}
