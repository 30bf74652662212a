/* log.c - see log.h. A line: "2026-11-27 08:15:02.123 WARN  message". */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum log_level log_min_level = LOG_LEVEL_INFO;

static const char *const level_names[] = { "TRACE", "DEBUG", "INFO ", "WARN ", "ERROR" };

void log_set_level(enum log_level level)
{
    log_min_level = level;
}

int log_level_from_name(const char *name)
{
    static const char *const names[] = { "trace", "debug", "info", "warn", "error" };
    for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

void log_write(enum log_level level, const char *fmt, ...)
{
    if (level < log_min_level)
        return;

    char line[1024];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    size_t len = strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
    len += (size_t)snprintf(line + len, sizeof(line) - len, ".%03ld %s ",
                            (long)tv.tv_usec / 1000, level_names[level]);

    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    len += (size_t)n;
    if (len > sizeof(line) - 1)
        len = sizeof(line) - 1;          /* truncated: keep the newline */
    line[len++] = '\n';

    /* One write(): a line is never mixed with another thread's. A failed
     * write to stderr has nowhere to be reported. */
    if (write(STDERR_FILENO, line, len) < 0)
        return;
}
