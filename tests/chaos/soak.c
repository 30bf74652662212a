/* soak.c - see soak.h. */
#include "soak.h"

#include "server.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int soak_sample(pid_t pid, double t, struct soak_sample *s)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *dir = opendir(path);
    if (dir == NULL)
        return -1;
    int fds = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL)
        fds += de->d_name[0] != '.';
    closedir(dir);

    long rss = proc_status_kb(pid, "VmRSS");
    long threads = proc_status_kb(pid, "Threads");   /* "Threads:\tN", no unit */
    if (rss < 0 || threads < 0)
        return -1;
    *s = (struct soak_sample){ t, (double)rss, (double)fds, (double)threads };
    return 0;
}

static double value(const struct soak_sample *s, enum soak_what what)
{
    switch (what) {
    case SOAK_RSS:
        return s->rss_kb;
    case SOAK_FDS:
        return s->fds;
    case SOAK_THREADS:
    case SOAK_KINDS:
        break;
    }
    return s->threads;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of samples [from, to). */
static double median(const struct soak_sample *v, int from, int to, enum soak_what what)
{
    int n = to - from;
    double *x = malloc((size_t)n * sizeof(*x));
    if (x == NULL)
        abort();
    for (int i = 0; i < n; i++)
        x[i] = value(&v[from + i], what);
    qsort(x, (size_t)n, sizeof(*x), cmp_double);
    double m = n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
    free(x);
    return m;
}

void soak_trend(const struct soak_sample *v, int n, enum soak_what what,
                double tol_abs, double tol_rel, struct soak_trend *out)
{
    int half = n / 2;
    double st = 0, sy = 0, stt = 0, sty = 0;
    int k = n - half;
    for (int i = half; i < n; i++) {
        double t = v[i].t, y = value(&v[i], what);
        st += t;
        sy += y;
        stt += t * t;
        sty += t * y;
    }
    double den = k * stt - st * st;
    double slope = den > 0 ? (k * sty - st * sy) / den : 0;   /* per second */

    out->slope_per_hour = slope * 3600;
    out->rise = slope * (v[n - 1].t - v[half].t);
    out->q2 = median(v, n / 4, half, what);
    out->q4 = median(v, n - n / 4, n, what);
    out->tolerance = tol_abs > tol_rel * out->q2 ? tol_abs : tol_rel * out->q2;
    out->up = out->rise > out->tolerance && out->q4 - out->q2 > out->tolerance;
}
