/* hist.h - a log-linear latency histogram, HdrHistogram style.
 *
 * Values (nanoseconds) below 256 get a bucket each; above that every power
 * of two is cut into 128 equal buckets, so a bucket is never wider than
 * 1/128 of its value (relative error under 0.8%) and the whole 64-bit range
 * fits in 7424 counters. Recording is one shift and one increment; two
 * histograms merge by adding counters; a percentile is a walk over the
 * counters. No sample is kept and nothing is sorted.
 */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#define HIST_LINEAR_BITS 8                          /* 256 exact buckets */
#define HIST_SUB_BITS    (HIST_LINEAR_BITS - 1)     /* 128 per octave */
#define HIST_BUCKETS     ((1 << HIST_LINEAR_BITS) + \
                          (64 - HIST_LINEAR_BITS) * (1 << HIST_SUB_BITS))

struct hist {
    uint64_t count;
    uint64_t min, max;
    double   sum;
    uint64_t buckets[HIST_BUCKETS];
};

void     hist_init(struct hist *h);
void     hist_record(struct hist *h, uint64_t value);
void     hist_merge(struct hist *dst, const struct hist *src);
/* The value at percentile p (0..100): the middle of the bucket holding it,
 * clamped to the exact min and max. 0 when the histogram is empty. */
uint64_t hist_percentile(const struct hist *h, double p);
double   hist_mean(const struct hist *h);

#endif
