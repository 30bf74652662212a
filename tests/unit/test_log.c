/* test_log.c - unit tests of the log (log.h): line format, level
 * filtering, truncation, thread names, one write() per line.
 *
 * Every step from step03_classes on has log.c; thread names
 * (log_set_thread_name) come with step08_threadpool (UNIT_STEP >= 8).
 * Each test captures stderr in a temporary file (fault.h: capture_*).
 *
 * tests/Makefile hook: UNIT_MODULES += log:log.c
 *
 * By hand:
 *
 *   cc -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -g -pthread \
 *      -fsanitize=address,undefined -DUNIT_STEP=10 -Istep10_timer \
 *      tests/unit/test_log.c tests/unit/unit_main.c step10_timer/log.c \
 *      $(pkg-config --cflags --libs check) -o /tmp/log-10 && /tmp/log-10
 */
#include <check.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault.h"
#include "log.h"
#include "unit.h"

#ifndef UNIT_STEP
#define UNIT_STEP 0
#endif

#define LINE_MAX_BYTES 1024     /* log.c: a line, newline included */

#if UNIT_STEP >= 8
#define TAG(name) "\\[" name "\\] "   /* "[thread] " in a regex */
#define SCAN_TAG "[%*[^]]] "                 /* and for sscanf */
#else
#define TAG(name) ""
#define SCAN_TAG ""
#endif

/* Whether the whole of text matches the extended regex re. */
static bool matches(const char *text, const char *re)
{
    regex_t rx;
    ck_assert_int_eq(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
    bool ok = regexec(&rx, text, 0, NULL, 0) == 0;
    regfree(&rx);
    return ok;
}

/* Asserts that the captured text out matches re, and frees it. */
static void expect_log(char *out, const char *re)
{
    ck_assert_msg(matches(out, re), "got: '%s'", out);
    free(out);
}

static int count_char(const char *s, char c)
{
    int n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

#define STAMP "[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3} "

/* ---- format and levels ---------------------------------------------------- */

START_TEST(line_format)
{
    capture_start();
    log_warn("hello %d %s", 42, "world");
    char *out = capture_end();
    expect_log(out, "^" STAMP "WARN  " TAG("main") "hello 42 world\n$");
}
END_TEST

START_TEST(default_level_is_info)
{
    capture_start();
    log_debug("dropped %d", 1);
    log_info("kept %d", 2);
    log_warn("kept %d", 3);
    log_error("kept %d", 4);
    char *out = capture_end();
    ck_assert_int_eq(count_char(out, '\n'), 3);
    ck_assert_msg(strstr(out, "dropped") == NULL, "debug line at info level: %s", out);
    expect_log(out, "^" STAMP "INFO  " TAG("main") "kept 2\n"
                    STAMP "WARN  " TAG("main") "kept 3\n"
                    STAMP "ERROR " TAG("main") "kept 4\n$");
}
END_TEST

START_TEST(debug_level_keeps_debug)
{
    log_set_level(LOG_LEVEL_DEBUG);
    capture_start();
    log_debug("details %s", "here");
    log_info("info");
    char *out = capture_end();
    expect_log(out, "^" STAMP "DEBUG " TAG("main") "details here\n"
                    STAMP "INFO  " TAG("main") "info\n$");
}
END_TEST

#if UNIT_STEP >= 5
/* LOG_LEVEL=trace (from step05, the first event loop): the names, the
 * level below debug, and log_enabled(), the loop's test. */
START_TEST(trace_level_and_names)
{
    ck_assert_int_eq(log_level_from_name("trace"), LOG_LEVEL_TRACE);
    ck_assert_int_eq(log_level_from_name("debug"), LOG_LEVEL_DEBUG);
    ck_assert_int_eq(log_level_from_name("error"), LOG_LEVEL_ERROR);
    ck_assert_int_eq(log_level_from_name("verbose"), -1);
    ck_assert_int_eq(log_level_from_name(""), -1);

    log_set_level(LOG_LEVEL_INFO);
    ck_assert(!log_enabled(LOG_LEVEL_TRACE));
    ck_assert(log_enabled(LOG_LEVEL_INFO));
    capture_start();
    log_trace("not this");
    log_set_level(LOG_LEVEL_TRACE);
    ck_assert(log_enabled(LOG_LEVEL_TRACE));
    log_trace("round %d", 1);
    log_debug("d");
    char *out = capture_end();
    log_set_level(LOG_LEVEL_INFO);
    expect_log(out, "^" STAMP "TRACE " TAG("main") "round 1\n"
                    STAMP "DEBUG " TAG("main") "d\n$");
}
END_TEST
#endif

START_TEST(error_level_drops_the_rest)
{
    log_set_level(LOG_LEVEL_ERROR);
    capture_start();
    log_debug("d");
    log_info("i");
    log_warn("w");
    log_error("only this");
    log_set_level(LOG_LEVEL_WARN);
    log_info("i2");
    log_warn("and this");
    char *out = capture_end();
    expect_log(out, "^" STAMP "ERROR " TAG("main") "only this\n"
                    STAMP "WARN  " TAG("main") "and this\n$");
}
END_TEST

/* ---- length limits ------------------------------------------------------ */

/* The bytes a line takes before its message. */
static size_t prefix_len(void)
{
    capture_start();
    log_error("x");
    char *out = capture_end();
    size_t n = strlen(out);
    free(out);
    ck_assert_uint_gt(n, 2);
    return n - 2;                        /* "x\n" */
}

static char *logged_message_of(size_t len)
{
    char *msg = malloc(len + 1);
    ck_assert_ptr_nonnull(msg);
    for (size_t i = 0; i < len; i++)
        msg[i] = (char)('a' + i % 26);
    msg[len] = '\0';
    capture_start();
    log_error("%s", msg);
    log_error("next");
    char *out = capture_end();
    free(msg);
    return out;
}

START_TEST(long_message_truncated_to_one_line)
{
    char *out = logged_message_of(5000);
    /* One line of exactly LINE_MAX_BYTES, newline last, then the next. */
    char *nl = strchr(out, '\n');
    ck_assert_ptr_nonnull(nl);
    ck_assert_int_eq((int)(nl - out) + 1, LINE_MAX_BYTES);
    ck_assert_int_eq(count_char(out, '\n'), 2);
    ck_assert_msg(matches(nl + 1, "^" STAMP "ERROR " TAG("main") "next\n$"),
                  "line after the long one: '%s'", nl + 1);
    /* The message is cut, not garbled: its start is intact. */
    ck_assert_msg(strstr(out, "abcdefghijklmnopqrstuvwxyzabc") != NULL, "%s", out);
    free(out);
}
END_TEST

START_TEST(message_that_just_fits_is_whole)
{
    size_t room = LINE_MAX_BYTES - 1 - prefix_len();   /* bytes of message */
    char *out = logged_message_of(room);
    char *nl = strchr(out, '\n');
    ck_assert_ptr_nonnull(nl);
    ck_assert_int_eq((int)(nl - out) + 1, LINE_MAX_BYTES);
    /* The last character of the message is there: 'a' + (room-1) % 26. */
    ck_assert_int_eq(nl[-1], 'a' + (int)((room - 1) % 26));
    free(out);

    out = logged_message_of(room + 1);                 /* one too many */
    nl = strchr(out, '\n');
    ck_assert_ptr_nonnull(nl);
    ck_assert_int_eq((int)(nl - out) + 1, LINE_MAX_BYTES);
    ck_assert_int_eq(nl[-1], 'a' + (int)((room - 1) % 26));  /* dropped one */
    ck_assert_int_eq(count_char(out, '\n'), 2);
    free(out);
}
END_TEST

START_TEST(unformattable_message_writes_nothing)
{
    /* In the C locale U+0100 has no multibyte form: vsnprintf fails. */
    capture_start();
    log_error("before %ls after", L"\x100");
    log_error("fine");
    char *out = capture_end();
    expect_log(out, "^" STAMP "ERROR " TAG("main") "fine\n$");
}
END_TEST

START_TEST(failed_write_is_survived)
{
    /* stderr a pipe nobody reads: write() fails with EPIPE (SIGPIPE is
     * ignored, as the server does). log_write returns; later lines go
     * out whole once stderr works again. */
    int p[2];
    signal(SIGPIPE, SIG_IGN);
    make_pipe(p, 0);
    close(p[0]);
    int saved = dup(2);
    dup2(p[1], 2);
    log_error("into the void %d", 1);
    log_error("into the void %d", 2);
    dup2(saved, 2);
    close(saved);
    close(p[1]);

    capture_start();
    log_error("back");
    char *out = capture_end();
    expect_log(out, "^" STAMP "ERROR " TAG("main") "back\n$");
}
END_TEST

/* ---- threads -------------------------------------------------------------- */

#define WRITERS 4
#define LINES_EACH 500

static void *write_lines(void *arg)
{
    int id = (int)(intptr_t)arg;
    char pad[301];
    memset(pad, 'a' + id, sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
#if UNIT_STEP >= 8
    char name[16];
    snprintf(name, sizeof(name), "writer-%d", id);
    log_set_thread_name(name);
#endif
    for (int i = 0; i < LINES_EACH; i++)
        log_warn("%d %d %s end", id, i, pad);
    return NULL;
}

START_TEST(lines_from_threads_never_interleave)
{
    pthread_t th[WRITERS];
    capture_start();
    for (int i = 0; i < WRITERS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, write_lines,
                                        (void *)(intptr_t)i), 0);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(th[i], NULL);
    char *out = capture_end();

    /* Checked without check() per line (each call costs a message to
     * check's parent): the first bad line is reported. */
    int next[WRITERS] = {0};
    int lines = 0;
    const char *bad = NULL;
    for (char *line = out, *nl; !bad && (nl = strchr(line, '\n')) != NULL;
         line = nl + 1) {
        *nl = '\0';
        int id = -1, seq = -1, n = -1;
        if (sscanf(line, "%*s %*s WARN  " SCAN_TAG "%d %d %*s end%n",
                   &id, &seq, &n) != 2 || n != (int)strlen(line) ||
            id < 0 || id >= WRITERS || seq != next[id]) {
            bad = line;                        /* mangled, or out of order */
            break;
        }
        next[id]++;
        /* Every padding byte belongs to the writer of the line. */
        const char *pad = strstr(line, " end") - 300;
        for (int k = 0; k < 300; k++)
            if (pad[k] != 'a' + id)
                bad = line;
#if UNIT_STEP >= 8
        char want[32];
        snprintf(want, sizeof(want), " [writer-%d] ", id);
        if (!strstr(line, want))
            bad = line;
#endif
        lines++;
    }
    ck_assert_msg(bad == NULL, "line %d: '%.100s...'", lines, bad);
    ck_assert_int_eq(lines, WRITERS * LINES_EACH);
    free(out);
}
END_TEST

#if UNIT_STEP >= 8

static void *log_unnamed_then_named(void *arg)
{
    (void)arg;
    log_warn("unnamed");
    log_set_thread_name("beta");
    log_warn("named");
    return NULL;
}

START_TEST(thread_names_are_per_thread)
{
    pthread_t th;
    capture_start();
    log_set_thread_name("alpha");
    log_warn("one");
    ck_assert_int_eq(pthread_create(&th, NULL, log_unnamed_then_named, NULL), 0);
    pthread_join(th, NULL);
    log_warn("two");
    char *out = capture_end();
    expect_log(out, "^" STAMP "WARN  \\[alpha\\] one\n"
                    STAMP "WARN  \\[main\\] unnamed\n"
                    STAMP "WARN  \\[beta\\] named\n"
                    STAMP "WARN  \\[alpha\\] two\n$");
}
END_TEST

START_TEST(long_thread_name_keeps_15_chars)
{
    capture_start();
    log_set_thread_name("abcdefghijklmnopqrstuvwxyz");
    log_warn("x");
    log_set_thread_name("");
    log_warn("y");
    char *out = capture_end();
    expect_log(out, "^" STAMP "WARN  \\[abcdefghijklmno\\] x\n"
                    STAMP "WARN  \\[\\] y\n$");
}
END_TEST

#endif

Suite *unit_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, line_format);
    tcase_add_test(tc, default_level_is_info);
    tcase_add_test(tc, debug_level_keeps_debug);
#if UNIT_STEP >= 5
    tcase_add_test(tc, trace_level_and_names);
#endif
    tcase_add_test(tc, error_level_drops_the_rest);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_test(tc, long_message_truncated_to_one_line);
    tcase_add_test(tc, message_that_just_fits_is_whole);
    tcase_add_test(tc, unformattable_message_writes_nothing);
    tcase_add_test(tc, failed_write_is_survived);
    suite_add_tcase(s, tc);

    tc = tcase_create("threads");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, lines_from_threads_never_interleave);
#if UNIT_STEP >= 8
    tcase_add_test(tc, thread_names_are_per_thread);
    tcase_add_test(tc, long_thread_name_keeps_15_chars);
#endif
    suite_add_tcase(s, tc);
    return s;
}
