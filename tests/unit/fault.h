/* fault.h - fault injection and leak checks for unit tests.
 *
 * Fault injection goes through the linker. tests/Makefile links a test
 * whose module has a UNIT_WRAP_MODULE list with -Wl,--wrap=SYM for each
 * SYM in it: every call to SYM in the test's objects (the step's sources,
 * the test itself, libcheck) then goes to __wrap_SYM, and __real_SYM is
 * the real function. The test defines the wrappers, one line each:
 *
 *   FAULT_WRAP(void *, malloc, (size_t n), (n), NULL, ENOMEM)
 *
 * (return type, name, parameters, arguments, the value a failed call
 * returns, the errno it sets). The list in tests/Makefile and the
 * FAULT_WRAPs must name the same functions, or the link fails (an
 * undefined __wrap_SYM or __real_SYM).
 *
 * A wrapper calls the real function unless a rule says this call fails:
 *
 *   fault_add(FAULT(malloc) | FAULT(calloc), 3, 1, 0);
 *
 * makes the 3rd call (counted from now) to malloc or calloc fail, once,
 * with the errno of the FAULT_WRAP line (a non-zero last argument
 * overrides it). Several rules may be active; each counts its own calls
 * (fault_calls()); the first rule that says so makes a call fail.
 * Calls from every thread count. fault_clear() removes all rules;
 * fault_injected() says how many calls were made to fail since the last
 * fault_reset() (which also clears), fault_last() which function the last
 * one was.
 *
 * check allocates in every ck_assert*() (libcheck is linked statically, so
 * its malloc calls are wrapped too): no check call while an allocation
 * rule is armed, or it uses up the failure meant for the code under test.
 *
 * The pattern of the "fails cleanly at every call" tests:
 *
 *   for (long n = 1; ; n++) {
 *       fault_reset();
 *       fault_add(mask, n, 1, 0);
 *       x = constructor();
 *       fault_clear();
 *       if (fault_injected() == 0) break;       // no n-th call: done
 *       ... x is NULL, errno is right, no fd, thread or memory leaked ...
 *   }
 *
 * Resources: fault_open_fds() and fault_threads() count the process's
 * fds and threads; fault_leak_check() runs LeakSanitizer now (in ASan
 * builds; else it finds nothing) and returns non-zero if memory leaked.
 *
 * stderr: capture_start() sends fd 2 to a temporary file (sanitizer
 * reports still go to the real stderr), capture_text() returns what was
 * written since (malloc'ed, NUL-terminated), capture_stop() restores fd 2;
 * capture_end() does both, returning the text.
 * With UNIT_NO_CAPTURE=1 in the environment stderr stays where it is (to
 * see what a test logs; its checks of the log then fail).
 */
#ifndef FAULT_H
#define FAULT_H

#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>
#endif

/* Every function a test may wrap; FAULT(sym) is its bit in a mask. */
enum fault_sym {
    F_malloc, F_calloc, F_realloc,
    F_epoll_create1, F_epoll_ctl, F_epoll_wait,
    F_eventfd, F_timerfd_create, F_timerfd_settime, F_signalfd,
    F_socket, F_setsockopt, F_bind, F_listen, F_accept4, F_getsockname,
    F_pthread_create, F_sigprocmask, F_connect, F_getsockopt,
    F_NSYMS
};
#define FAULT(sym) (1u << F_##sym)

static const char *const fault_names[F_NSYMS] = {
    "malloc", "calloc", "realloc",
    "epoll_create1", "epoll_ctl", "epoll_wait",
    "eventfd", "timerfd_create", "timerfd_settime", "signalfd",
    "socket", "setsockopt", "bind", "listen", "accept4", "getsockname",
    "pthread_create", "sigprocmask", "connect", "getsockopt",
};

#define FAULT_RULES 4

struct fault_rule {
    atomic_uint mask;              /* 0: unused; published last */
    long first;                    /* calls first .. first + count - 1 fail */
    long count;
    int err;                       /* 0: the function's usual errno */
    atomic_long calls;             /* matching calls since fault_add */
};

static struct {
    struct fault_rule rules[FAULT_RULES];
    atomic_long injected;
    atomic_int last;
} fault_state;

/* Makes calls first .. first + count - 1 (from 1, counted from now) to
 * the functions in mask fail with err (0: their usual errno). Count 0:
 * none fails, the rule only counts. Returns the rule, for fault_calls(). */
__attribute__((unused)) static int fault_add(unsigned mask, long first,
                                             long count, int err)
{
    for (int i = 0; i < FAULT_RULES; i++) {
        struct fault_rule *r = &fault_state.rules[i];
        if (atomic_load(&r->mask) != 0)
            continue;
        r->first = first;
        r->count = count;
        r->err = err;
        atomic_store(&r->calls, 0);
        atomic_store(&r->mask, mask);
        return i;
    }
    fprintf(stderr, "fault_add: more than %d rules\n", FAULT_RULES);
    abort();
}

/* The calls rule has seen since it was added (until fault_add reuses it). */
__attribute__((unused)) static long fault_calls(int rule)
{
    return atomic_load(&fault_state.rules[rule].calls);
}

__attribute__((unused)) static void fault_clear(void)
{
    for (int i = 0; i < FAULT_RULES; i++)
        atomic_store(&fault_state.rules[i].mask, 0);
}

/* Failures injected since the last fault_reset(). */
__attribute__((unused)) static long fault_injected(void)
{
    return atomic_load(&fault_state.injected);
}

/* Forgets the failures injected so far (and the rules). */
__attribute__((unused)) static void fault_reset(void)
{
    fault_clear();
    atomic_store(&fault_state.injected, 0);
    atomic_store(&fault_state.last, -1);
}

/* The function whose call failed last, or "none". */
__attribute__((unused)) static const char *fault_last(void)
{
    int s = atomic_load(&fault_state.last);
    return s >= 0 && s < F_NSYMS ? fault_names[s] : "none";
}

/* Called by each wrapper: the errno its call must fail with, or 0. */
__attribute__((unused)) static int fault_hit(enum fault_sym sym, int usual_err)
{
    int err = 0;
    for (int i = 0; i < FAULT_RULES; i++) {
        struct fault_rule *r = &fault_state.rules[i];
        if (!(atomic_load(&r->mask) & (1u << sym)))
            continue;
        long k = atomic_fetch_add(&r->calls, 1) + 1;
        if (err == 0 && k >= r->first && k - r->first < r->count)
            err = r->err ? r->err : usual_err;
    }
    if (err) {
        atomic_fetch_add(&fault_state.injected, 1);
        atomic_store(&fault_state.last, (int)sym);
    }
    return err;
}

#define FAULT_WRAP(ret, sym, params, args, fail_value, usual_err)          \
    ret __real_##sym params;                                               \
    ret __wrap_##sym params;                                               \
    ret __wrap_##sym params                                                \
    {                                                                      \
        int fault_err_ = fault_hit(F_##sym, usual_err);                    \
        if (fault_err_) {                                                  \
            errno = fault_err_;                                            \
            return fail_value;                                             \
        }                                                                  \
        return __real_##sym args;                                          \
    }

/* pthread_create reports its error as the return value, not in errno. */
#define FAULT_WRAP_PTHREAD_CREATE(usual_err)                               \
    int __real_pthread_create(pthread_t *, const pthread_attr_t *,         \
                              void *(*)(void *), void *);                  \
    int __wrap_pthread_create(pthread_t *, const pthread_attr_t *,         \
                              void *(*)(void *), void *);                  \
    int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a,       \
                              void *(*fn)(void *), void *arg)              \
    {                                                                      \
        int fault_err_ = fault_hit(F_pthread_create, usual_err);           \
        if (fault_err_)                                                    \
            return fault_err_;                                             \
        return __real_pthread_create(t, a, fn, arg);                       \
    }

/* ---- resources ---------------------------------------------------------- */

__attribute__((unused)) static int fault_count_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* Open fds, not counting the one opendir() uses to count them. */
__attribute__((unused)) static int fault_open_fds(void)
{
    return fault_count_dir("/proc/self/fd") - 1;
}

__attribute__((unused)) static int fault_threads(void)
{
    return fault_count_dir("/proc/self/task");
}

/* Non-zero if LeakSanitizer finds memory that nothing points to. */
__attribute__((unused)) static int fault_leak_check(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return __lsan_do_recoverable_leak_check();
#else
    return 0;
#endif
}

/* ---- stderr capture ------------------------------------------------------ */

static int capture_fd = -1;        /* the temporary file */
static int capture_saved = -1;     /* the real stderr */

__attribute__((unused)) static void capture_start(void)
{
    char path[] = "/tmp/unit-stderr-XXXXXX";
    capture_fd = mkstemp(path);
    if (capture_fd < 0) {
        perror("capture_start");
        abort();
    }
    unlink(path);
    if (getenv("UNIT_NO_CAPTURE")) {   /* debugging: see it all, fail checks */
        capture_saved = dup(2);
        return;
    }
    fflush(stderr);
    capture_saved = dup(2);
#if defined(__SANITIZE_ADDRESS__)
    /* A sanitizer report must not vanish into the file. */
    __sanitizer_set_report_fd((void *)(intptr_t)capture_saved);
#endif
    dup2(capture_fd, 2);
}

/* Everything written to stderr since capture_start() or capture_clear(). */
__attribute__((unused)) static char *capture_text(void)
{
    off_t size = lseek(capture_fd, 0, SEEK_END);
    char *text = calloc(1, (size_t)(size > 0 ? size : 0) + 1);
    if (text && size > 0 && pread(capture_fd, text, (size_t)size, 0) < 0)
        text[0] = '\0';
    return text;
}

__attribute__((unused)) static void capture_clear(void)
{
    if (ftruncate(capture_fd, 0) < 0)
        perror("capture_clear");
    lseek(capture_fd, 0, SEEK_SET);
}

__attribute__((unused)) static void capture_stop(void)
{
    fflush(stderr);
    dup2(capture_saved, 2);
    close(capture_saved);
    close(capture_fd);
    capture_saved = capture_fd = -1;
#if defined(__SANITIZE_ADDRESS__)
    __sanitizer_set_report_fd((void *)(intptr_t)2);
#endif
}

/* capture_text(), then capture_stop(): what was written, stderr restored. */
__attribute__((unused)) static char *capture_end(void)
{
    char *text = capture_text();
    capture_stop();
    return text;
}

/* Lines of text that contain needle. */
__attribute__((unused)) static int count_lines_with(const char *text,
                                                    const char *needle)
{
    int n = 0;
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        const char *hit = strstr(line, needle);
        if (hit && hit < line + len)
            n++;
        line = end ? end + 1 : NULL;
    }
    return n;
}

#endif
