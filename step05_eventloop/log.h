/* log.h - diagnostics, one line per call, on standard error.
 *
 * Standard output belongs to the start-up line; everything else a server
 * says goes through here. Any thread may call log_write(): each line is
 * formatted into one buffer and written with a single write(), so lines
 * never interleave.
 */
#ifndef LOG_H
#define LOG_H

#include <stdbool.h>

enum log_level {
    LOG_LEVEL_TRACE,           /* every round of an event loop */
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARN,
    LOG_LEVEL_ERROR,
};

/* Lines below this level are dropped. Default: LOG_LEVEL_INFO. Set it
 * before any thread starts: it is read without a lock. */
void log_set_level(enum log_level level);

/* The level named "trace", "debug", "info", "warn" or "error"; -1 for any
 * other name. */
int log_level_from_name(const char *name);

/* The current level, for log_enabled(). */
extern enum log_level log_min_level;

/* Whether lines of this level are written: one load and a compare, so a
 * hot path (an event loop's round) can skip a log call, arguments and all,
 * at no cost when it is off. */
static inline bool log_enabled(enum log_level level)
{
    return level >= log_min_level;
}

void log_write(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_trace(...) log_write(LOG_LEVEL_TRACE, __VA_ARGS__)
#define log_debug(...) log_write(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...)  log_write(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
