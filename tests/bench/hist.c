/* hist.c - log-linear latency histogram (see hist.h for the bucket layout).
 *
 * Bucket index of a value v:
 *   v < 256:  v itself;
 *   else:     e = index of the highest set bit (8..63), the top 8 bits of v
 *             (128..255) pick one of 128 buckets in octave e:
 *             256 + (e - 8) * 128 + ((v >> (e - 7)) - 128).
 */
#include "hist.h"

#include <string.h>

static int msb(uint64_t v)
{
    return 63 - __builtin_clzll(v);
}

static unsigned bucket_of(uint64_t v)
{
    if (v < (1u << HIST_LINEAR_BITS))
        return (unsigned)v;
    int e = msb(v);
    int shift = e - HIST_SUB_BITS;
    unsigned sub = (unsigned)(v >> shift) - (1u << HIST_SUB_BITS);
    return (1u << HIST_LINEAR_BITS) +
           (unsigned)(e - HIST_LINEAR_BITS) * (1u << HIST_SUB_BITS) + sub;
}

/* Lowest value of bucket i and its width. */
static void bucket_range(unsigned i, uint64_t *lo, uint64_t *width)
{
    if (i < (1u << HIST_LINEAR_BITS)) {
        *lo = i;
        *width = 1;
        return;
    }
    unsigned j = i - (1u << HIST_LINEAR_BITS);
    int e = HIST_LINEAR_BITS + (int)(j >> HIST_SUB_BITS);
    uint64_t sub = (1u << HIST_SUB_BITS) + (j & ((1u << HIST_SUB_BITS) - 1));
    int shift = e - HIST_SUB_BITS;
    *lo = sub << shift;
    *width = (uint64_t)1 << shift;
}

void hist_init(struct hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

void hist_record(struct hist *h, uint64_t value)
{
    h->buckets[bucket_of(value)]++;
    h->count++;
    h->sum += (double)value;
    if (value < h->min)
        h->min = value;
    if (value > h->max)
        h->max = value;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
    if (h->count == 0)
        return 0;
    /* The rank of the sample wanted, 1-based: at least 1, at most count. */
    uint64_t rank = (uint64_t)(p / 100.0 * (double)h->count + 0.5);
    if (rank < 1)
        rank = 1;
    if (rank > h->count)
        rank = h->count;

    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t lo, width;
            bucket_range(i, &lo, &width);
            uint64_t v = lo + width / 2;
            if (v < h->min)
                v = h->min;
            if (v > h->max)
                v = h->max;
            return v;
        }
    }
    return h->max;
}

double hist_mean(const struct hist *h)
{
    return h->count ? h->sum / (double)h->count : 0.0;
}
