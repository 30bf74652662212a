/* test_main.c - step10_timer's main(): LOG_LEVEL, shutdown by signal, and
 * the exit status and message of each start-up failure (injected with
 * fault.h).
 *
 * main.c is compiled with -Dmain=server_main (UNIT_CPPFLAGS_main in
 * tests/Makefile) and called in this process: its stdout goes to a pipe
 * that a driver thread reads for "listening on IP:PORT"; the driver may
 * talk to the server, then sends the process SIGTERM or SIGINT, which the
 * server reads from its signalfd (both are blocked in every thread here,
 * as main() blocks them). Servers bind 127.0.0.1 port 0.
 *
 * Only steps with timestamp.c (step10_timer on).
 *
 * tests/Makefile hook:
 *   UNIT_MODULES += main:timestamp.c,...(SERVER_SRCS_10),main.c
 *   UNIT_WRAP_main := malloc calloc epoll_ctl epoll_wait eventfd signalfd
 *                     sigprocmask getsockname bind
 *   UNIT_CPPFLAGS_main := -Dmain=server_main
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"
#include "unit.h"

int server_main(int argc, char **argv);

FAULT_WRAP(void *, malloc, (size_t n), (n), NULL, ENOMEM)
FAULT_WRAP(void *, calloc, (size_t n, size_t size), (n, size), NULL, ENOMEM)
FAULT_WRAP(int, epoll_ctl, (int epfd, int op, int fd, struct epoll_event *ev),
           (epfd, op, fd, ev), -1, ENOMEM)
FAULT_WRAP(int, epoll_wait, (int epfd, struct epoll_event *evs, int max, int ms),
           (epfd, evs, max, ms), -1, EINVAL)
FAULT_WRAP(int, eventfd, (unsigned int initval, int flags), (initval, flags), -1, EMFILE)
FAULT_WRAP(int, signalfd, (int fd, const sigset_t *mask, int flags),
           (fd, mask, flags), -1, EMFILE)
FAULT_WRAP(int, sigprocmask, (int how, const sigset_t *set, sigset_t *old),
           (how, set, old), -1, EINVAL)
FAULT_WRAP(int, getsockname, (int fd, struct sockaddr *a, socklen_t *len),
           (fd, a, len), -1, ENOBUFS)
FAULT_WRAP(int, bind, (int fd, const struct sockaddr *a, socklen_t len),
           (fd, a, len), -1, EADDRINUSE)

/* ---- running the server in this process ----------------------------------- */

struct run {
    const char *args;            /* after "server 127.0.0.1 0", e.g. "-t 0" */
    int signo;                   /* sent once it listens (0: none) */
    bool talk;                   /* a round trip first */
    unsigned fault_mask;         /* fault_add(mask, n, 1, err) while it runs */
    long fault_n;
    int fault_err;
    int status;                  /* what server_main returned */
    char out[4096];              /* its stdout */
    size_t out_len;
    char *err;                   /* its stderr (malloc'ed) */
    uint16_t port;               /* from "listening on 127.0.0.1:PORT" */
    bool replied;                /* the round trip worked */
    int out_fd;                  /* read end of the stdout pipe */
};

/* One framed round trip: "hi" -> "reply:hi". */
static bool round_trip(uint16_t port)
{
    static const char req[] = "\0\0\0\2hi", want[] = "\0\0\0\10reply:hi";
    char got[sizeof(want)];
    size_t n = 0;
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
        send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != sizeof(req) - 1) {
        if (fd >= 0)
            close(fd);
        return false;
    }
    double deadline = now_s() + 5;
    while (n < sizeof(want) - 1 && now_s() < deadline) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 100) > 0) {
            ssize_t r = read(fd, got + n, sizeof(want) - 1 - n);
            if (r <= 0)
                break;
            n += (size_t)r;
        }
    }
    close(fd);
    return n == sizeof(want) - 1 && memcmp(got, want, n) == 0;
}

/* Reads the server's stdout until it listens (or ends), then talks to it
 * and signals it as told. */
static void *driver(void *arg)
{
    struct run *r = arg;
    double deadline = now_s() + 10;
    const char *line = NULL;
    while (!line && now_s() < deadline && r->out_len < sizeof(r->out) - 1) {
        struct pollfd p = { .fd = r->out_fd, .events = POLLIN };
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = read(r->out_fd, r->out + r->out_len,
                         sizeof(r->out) - 1 - r->out_len);
        if (n <= 0)
            return NULL;                       /* it ended without listening */
        r->out_len += (size_t)n;
        r->out[r->out_len] = '\0';
        line = strstr(r->out, "listening on 127.0.0.1:");
        if (line && !strchr(line, '\n'))
            line = NULL;                       /* not the whole line yet */
    }
    if (!line)
        return NULL;
    r->port = (uint16_t)atoi(line + strlen("listening on 127.0.0.1:"));
    if (r->talk)
        r->replied = round_trip(r->port);
    if (r->signo)
        kill(getpid(), r->signo);
    return NULL;
}

/* server_main("server", "127.0.0.1", "0", args...) with stdout and stderr
 * captured. */
static void run_server(struct run *r)
{
    char buf[256], *argv[16];
    int argc = 0;
    argv[argc++] = "server";
    argv[argc++] = "127.0.0.1";
    argv[argc++] = "0";
    snprintf(buf, sizeof(buf), "%s", r->args ? r->args : "");
    for (char *tok = strtok(buf, " "); tok && argc < 15; tok = strtok(NULL, " "))
        argv[argc++] = tok;
    argv[argc] = NULL;

    /* The driver inherits the mask: a signal for the process can only go
     * to the server's signalfd. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    int p[2];
    make_pipe(p, 0);
    fflush(stdout);
    int saved_out = dup(1);
    dup2(p[1], 1);
    close(p[1]);
    r->out_fd = p[0];
    capture_start();

    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, driver, r), 0);
    /* No check() while a fault is armed: check allocates. */
    fault_reset();
    if (r->fault_mask)
        fault_add(r->fault_mask, r->fault_n, 1, r->fault_err);
    r->status = server_main(argc, argv);
    fault_clear();
    fflush(stdout);
    dup2(saved_out, 1);                        /* the pipe's last writer */
    close(saved_out);
    pthread_join(th, NULL);
    close(p[0]);
    r->err = capture_text();
    capture_stop();

    /* A signal sent after the server stopped reading stays pending. */
    struct timespec zero = { 0, 0 };
    while (sigtimedwait(&stop, NULL, &zero) > 0)
        ;
}

/* ---- LOG_LEVEL and signals -------------------------------------------------- */

START_TEST(serves_and_stops_on_sigterm)
{
    static struct run r = { .args = "-t 1 -w 1", .signo = SIGTERM, .talk = true };
    unsetenv("LOG_LEVEL");
    run_server(&r);
    ck_assert_int_eq(r.status, 0);
    ck_assert(r.replied);
    char want[64];
    snprintf(want, sizeof(want), "listening on 127.0.0.1:%u\n", r.port);
    ck_assert_str_eq(r.out, want);
    /* Info by default: the shutdown line, no connection lines. */
    ck_assert_msg(count_lines_with(r.err, " INFO  [main] Terminated: shutting down") == 1,
                  "stderr: %s", r.err);
    ck_assert_msg(strstr(r.err, "DEBUG") == NULL, "stderr: %s", r.err);
    ck_assert_int_eq(count_lines_with(r.err, ""), 1);
    free(r.err);
}
END_TEST

START_TEST(sigint_stops_it_too)
{
    static struct run r = { .args = "-t 0", .signo = SIGINT };
    unsetenv("LOG_LEVEL");
    run_server(&r);
    ck_assert_int_eq(r.status, 0);
    ck_assert_msg(count_lines_with(r.err, " INFO  [main] Interrupt: shutting down") == 1,
                  "stderr: %s", r.err);
    free(r.err);
}
END_TEST

START_TEST(log_level_debug_logs_connections)
{
    static struct run r = { .args = "-t 1", .signo = SIGTERM, .talk = true };
    setenv("LOG_LEVEL", "debug", 1);
    run_server(&r);
    ck_assert_int_eq(r.status, 0);
    ck_assert(r.replied);
    ck_assert_msg(count_lines_with(r.err, " DEBUG [main] connection from 127.0.0.1:") == 1,
                  "stderr: %s", r.err);
    ck_assert_msg(count_lines_with(r.err, " DEBUG [io-1] connection on fd ") +
                  count_lines_with(r.err, " DEBUG [main] connection on fd ") == 1,
                  "stderr: %s", r.err);
    ck_assert_msg(count_lines_with(r.err, "Terminated: shutting down") == 1,
                  "stderr: %s", r.err);
    free(r.err);
}
END_TEST

START_TEST(log_level_warn_hides_info)
{
    static struct run r = { .args = "-t 0", .signo = SIGTERM, .talk = true };
    setenv("LOG_LEVEL", "warn", 1);
    run_server(&r);
    ck_assert_int_eq(r.status, 0);
    ck_assert(r.replied);
    ck_assert_msg(r.err[0] == '\0', "stderr: %s", r.err);
    free(r.err);
}
END_TEST

START_TEST(unknown_log_level_is_reported_and_ignored)
{
    static struct run r = { .args = "-t 0", .signo = SIGTERM, .talk = true };
    setenv("LOG_LEVEL", "verbose", 1);
    run_server(&r);
    ck_assert_int_eq(r.status, 0);
    ck_assert_msg(count_lines_with(r.err, " WARN  [main] LOG_LEVEL=verbose is none "
                                   "of trace, debug, info, warn, error; ignored") == 1,
                  "stderr: %s", r.err);
    /* Still info: the shutdown line, no debug. */
    ck_assert_msg(count_lines_with(r.err, "Terminated: shutting down") == 1,
                  "stderr: %s", r.err);
    ck_assert_msg(strstr(r.err, "DEBUG") == NULL, "stderr: %s", r.err);
    free(r.err);
}
END_TEST

/* ---- start-up failures -------------------------------------------------------- */

/* The message main() prints when fn fails: a log line or "server: ...". */
static const char *message_for(const char *fn)
{
    static const struct { const char *fn, *msg; } table[] = {
        { "sigprocmask", " ERROR [main] sigprocmask: Invalid argument" },
        { "eventfd", " ERROR [main] event loop: Too many open files" },
        { "signalfd", " ERROR [main] signalfd: Too many open files" },
        { "bind", "server: cannot listen on 127.0.0.1:0: Address already in use" },
        { "getsockname", " ERROR [main] listen: No buffer space available" },
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strcmp(fn, table[i].fn) == 0)
            return table[i].msg;
    return NULL;              /* allocations, epoll_ctl: depends on where */
}

START_TEST(startup_fails_cleanly_at_every_call)
{
    /* With -t 0 -w 0 (no threads), the n-th call of the start-up fails:
     * main() returns 1 with one line on stderr naming the problem, prints
     * no "listening" line, and leaves no fd or memory behind. */
    const unsigned mask = FAULT(malloc) | FAULT(calloc) | FAULT(epoll_ctl) |
                          FAULT(eventfd) | FAULT(signalfd) |
                          FAULT(sigprocmask) | FAULT(getsockname) | FAULT(bind);
    unsetenv("LOG_LEVEL");
    int fds = fault_open_fds();
    char seen[256] = "";
    long n;
    for (n = 1; n < 100; n++) {
        static struct run r;
        r = (struct run){ .args = "-t 0 -w 0", .signo = SIGTERM,
                          .fault_mask = mask, .fault_n = n };
        run_server(&r);
        if (fault_injected() == 0) {
            ck_assert_int_eq(r.status, 0);
            free(r.err);
            break;
        }
        const char *fn = fault_last();
        if (strstr(r.out, "listening on ")) {
            /* The call came after the start-up: epoll_ctl taking a
             * channel out at shutdown. The fd is closed all the same. */
            ck_assert_msg(strcmp(fn, "epoll_ctl") == 0 && r.status == 0,
                          "call %ld (%s) failed after start-up: status %d, "
                          "stderr: %s", n, fn, r.status, r.err);
        } else {
            const char *msg = message_for(fn);
            ck_assert_msg(r.status == 1, "call %ld (%s) failed: status %d", n,
                          fn, r.status);
            ck_assert_msg(count_lines_with(r.err, "") == 1, "call %ld (%s) "
                          "failed: stderr: %s", n, fn, r.err);
            ck_assert_msg(strstr(r.err, " ERROR [main] ") ||
                          strstr(r.err, "server: "), "call %ld (%s) failed: "
                          "stderr: %s", n, fn, r.err);
            ck_assert_msg(!msg || strstr(r.err, msg), "call %ld (%s) failed: "
                          "stderr: %s, want %s", n, fn, r.err, msg);
            if (!strstr(seen, fn) && strlen(seen) + strlen(fn) + 2 < sizeof(seen)) {
                strcat(seen, " ");
                strcat(seen, fn);
            }
        }
        free(r.err);
        ck_assert_msg(fault_open_fds() == fds, "call %ld (%s) failed: %d fds "
                      "open, %d before", n, fn, fault_open_fds(), fds);
        ck_assert_msg(fault_leak_check() == 0, "call %ld (%s) failed: memory "
                      "leaked (see the LeakSanitizer report)", n, fn);
    }
    ck_assert_int_lt(n, 100);
    const char *want[] = { "sigprocmask", "calloc", "malloc", "eventfd",
                           "signalfd", "epoll_ctl", "bind", "getsockname" };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        ck_assert_msg(strstr(seen, want[i]) != NULL, "no %s failed in "
                      "the start-up (failed:%s)", want[i], seen);
}
END_TEST

START_TEST(address_not_allowed_is_status_2)
{
    /* EACCES (a port below 1024 for a normal user): a bad argument. */
    static struct run r = { .args = "-t 0", .fault_mask = FAULT(bind),
                            .fault_n = 1, .fault_err = EACCES };
    run_server(&r);
    ck_assert_int_eq(r.status, 2);
    ck_assert_msg(count_lines_with(r.err, "server: cannot listen on 127.0.0.1:0: "
                                   "Permission denied") == 1, "stderr: %s", r.err);
    free(r.err);
}
END_TEST

START_TEST(failed_wait_is_status_1)
{
    /* The main loop's epoll_wait() fails after start-up: status 1, logged,
     * everything freed. */
    static struct run r = { .args = "-t 0", .fault_mask = FAULT(epoll_wait),
                            .fault_n = 1 };
    int fds = fault_open_fds();
    run_server(&r);
    ck_assert_int_eq(r.status, 1);
    ck_assert_msg(strstr(r.out, "listening on 127.0.0.1:") != NULL, "stdout: %s", r.out);
    ck_assert_msg(count_lines_with(r.err, " ERROR [main] epoll_wait: Invalid argument") == 1,
                  "stderr: %s", r.err);
    free(r.err);
    ck_assert_int_eq(fault_open_fds(), fds);
    ck_assert_int_eq(fault_leak_check(), 0);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("main");
    TCase *tc = tcase_create("run");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, serves_and_stops_on_sigterm);
    tcase_add_test(tc, sigint_stops_it_too);
    tcase_add_test(tc, log_level_debug_logs_connections);
    tcase_add_test(tc, log_level_warn_hides_info);
    tcase_add_test(tc, unknown_log_level_is_reported_and_ignored);
    suite_add_tcase(s, tc);

    tc = tcase_create("startup");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, startup_fails_cleanly_at_every_call);
    tcase_add_test(tc, address_not_allowed_is_status_2);
    tcase_add_test(tc, failed_wait_is_status_1);
    suite_add_tcase(s, tc);
    return s;
}
