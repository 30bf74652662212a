/* soak.h - what a long-running server holds: its resident memory, open
 * file descriptors and threads, sampled from /proc, and whether any of
 * them trends upward once the server has warmed up.
 *
 * The verdict looks at the second half of the run only (the first half is
 * warm-up: allocator arenas, buffers and rings reaching the sizes the load
 * needs). A quantity trends upward when both the least-squares line over
 * that half rises by more than the tolerance across it and the median of
 * the last quarter exceeds the median of the second quarter by more than
 * the tolerance: a slope alone is fooled by one late burst, medians alone
 * by a slow drift within the noise.
 */
#ifndef SOAK_H
#define SOAK_H

#include <stdbool.h>
#include <sys/types.h>

struct soak_sample {
    double t;                  /* seconds since the start */
    double rss_kb;             /* VmRSS */
    double fds;                /* entries of /proc/PID/fd */
    double threads;            /* Threads: of /proc/PID/status */
};

/* Reads one sample of process pid. 0, or -1 if /proc had no answer (it
 * has exited). */
int soak_sample(pid_t pid, double t, struct soak_sample *s);

/* Which quantity of a sample. */
enum soak_what { SOAK_RSS, SOAK_FDS, SOAK_THREADS, SOAK_KINDS };

struct soak_trend {
    double slope_per_hour;     /* least squares over the second half */
    double rise;               /* of that line across the second half */
    double q2, q4;             /* medians of the second and last quarter */
    double tolerance;
    bool up;
};

/* The trend of one quantity over n samples (n >= 8). tol_abs and tol_rel
 * (a fraction of q2) give the tolerance: the larger of the two. */
void soak_trend(const struct soak_sample *v, int n, enum soak_what what,
                double tol_abs, double tol_rel, struct soak_trend *out);

#endif
