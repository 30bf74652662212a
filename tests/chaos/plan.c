/* plan.c - see plan.h. The percentages below are the mix: how often each
 * size, cut, pause, read phase and ending comes up. They lean towards what
 * finds bugs: many small messages sent together, the -m limit itself,
 * headers cut in the middle, readers that stop while replies pile up, and
 * endings (half-close, a header over -m, a reset) that arrive while
 * replies are still queued.
 */
#include "plan.h"

#include <stdlib.h>
#include <string.h>

/* splitmix64's finaliser: spreads (seed, index) into independent seeds. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t plan_seed(uint64_t seed, uint64_t index)
{
    return mix(seed ^ mix(index));
}

/* Uniform in lo..hi. */
static uint32_t range(uint64_t *rng, uint32_t lo, uint32_t hi)
{
    return lo + (uint32_t)(rand_next(rng) % ((uint64_t)hi - lo + 1));
}

static int bit_width(uint32_t v)
{
    return v ? 32 - __builtin_clz(v) : 0;
}

/* lo..hi with every power of two as likely as the next: as many 10-byte
 * sizes as 10-kilobyte ones. */
static uint32_t log_uniform(uint64_t *rng, uint32_t lo, uint32_t hi)
{
    int b = (int)range(rng, (uint32_t)bit_width(lo), (uint32_t)bit_width(hi));
    uint32_t a = b == 0 ? 0 : 1u << (b - 1);
    uint32_t z = b == 32 ? UINT32_MAX : (1u << b) - 1;
    return range(rng, a < lo ? lo : a, z > hi ? hi : z);
}

static int percent(uint64_t *rng)
{
    return (int)rand_below(rng, 100);
}

static int item_count(uint64_t *rng)
{
    int r = percent(rng);
    if (r < 5)
        return 0;                             /* connect and end */
    if (r < 40)
        return (int)range(rng, 1, 4);
    if (r < 85)
        return (int)range(rng, 5, 30);
    return (int)range(rng, 31, 200);
}

/* A payload of 0..max bytes: the empty one, the limit itself, many small
 * ones, and the rest spread over every size up to the limit. */
static uint32_t payload_size(uint64_t *rng, uint32_t max)
{
    int r = percent(rng);
    if (r < 10 || max == 0)
        return 0;
    if (r < 15)
        return max;
    if (r < 60)
        return log_uniform(rng, 1, max < 64 ? max : 64);
    return log_uniform(rng, 1, max);
}

/* A raw echo chunk: 1 byte to 64 KiB, now and then up to 1 MiB. */
static uint32_t raw_size(uint64_t *rng)
{
    return log_uniform(rng, 1, percent(rng) < 95 ? 65536 : 1 << 20);
}

static void add_item(struct plan *p, int *cap, struct plan_item it)
{
    if (p->nitems == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        p->items = realloc(p->items, (size_t)*cap * sizeof(*p->items));
        if (p->items == NULL)
            abort();
    }
    p->items[p->nitems++] = it;
}

/* The bytes an item puts on the wire. */
static uint64_t item_size(enum proto proto, const struct plan_item *it)
{
    switch (it->kind) {
    case ITEM_MESSAGE:
        return (proto == PROTO_FRAMED ? 4u : 0u) + (uint64_t)it->len;
    case ITEM_PARTIAL:
        return it->tail;
    case ITEM_OVERSIZE:
        return 4u + (uint64_t)it->tail;
    case ITEM_GARBAGE:
        return it->len;
    }
    return 0;
}

/* The last item of a connection that breaks the protocol: a header over
 * -m (just over, the largest, or anything between), or garbage. */
static struct plan_item rejected_item(uint64_t *rng, uint32_t max)
{
    struct plan_item it = { .seed = rand_next(rng) };
    if (percent(rng) < 30) {
        it.kind = ITEM_GARBAGE;
        it.len = log_uniform(rng, 4, 65536);
        return it;
    }
    int r = percent(rng);
    it.kind = ITEM_OVERSIZE;
    it.len = r < 40 ? max + 1 : r < 60 ? UINT32_MAX : range(rng, max + 1, UINT32_MAX);
    it.tail = percent(rng) < 50 ? 0 : log_uniform(rng, 1, 65536);
    return it;
}

/* A message left incomplete: 1 byte of its header up to all but its last
 * byte. */
static struct plan_item partial_item(uint64_t *rng, uint32_t max)
{
    struct plan_item it = { .kind = ITEM_PARTIAL, .seed = rand_next(rng) };
    it.len = payload_size(rng, max);
    it.tail = range(rng, 1, 3 + it.len);
    return it;
}

void plan_init(struct plan *p, uint64_t seed, uint64_t conn, const struct plan_limits *lim)
{
    uint64_t cs = plan_seed(seed, conn);
    uint64_t rng = cs;
    bool framed = lim->proto == PROTO_FRAMED;
    int cap = 0;

    memset(p, 0, sizeof(*p));
    p->cut_rng = mix(cs ^ 1);
    p->read_rng = mix(cs ^ 2);
    p->max_pause_ms = lim->idle_ms ? (lim->idle_ms / 40 < 50 ? lim->idle_ms / 40 : 50) : 50;
    p->max_stop_ms = lim->idle_ms ? (lim->idle_ms / 3 < 400 ? lim->idle_ms / 3 : 400) : 400;
    p->nodelay = percent(&rng) < 50;

    int n = item_count(&rng);
    for (int i = 0; i < n; i++) {
        struct plan_item it = { .kind = ITEM_MESSAGE, .seed = rand_next(&rng) };
        it.len = framed ? payload_size(&rng, lim->max_payload) : raw_size(&rng);
        add_item(p, &cap, it);
    }

    int r = percent(&rng);
    p->end = r < 30 ? END_CLOSE : r < 55 ? END_HALF_CLOSE : r < 80 ? END_RESET : END_IDLE;
    if (p->end == END_IDLE && (lim->idle_ms == 0 || lim->idle_ms > PLAN_MAX_IDLE_MS))
        p->end = END_CLOSE;                   /* no reaping, or too slow to await */
    bool rejected = framed && lim->oversize && percent(&rng) < 25;
    if (rejected) {
        if (p->end == END_IDLE)
            p->end = END_CLOSE;
        add_item(p, &cap, rejected_item(&rng, lim->max_payload));
    } else if (framed && (p->end == END_HALF_CLOSE || p->end == END_IDLE) &&
               percent(&rng) < 40) {
        /* Half-closed mid-message: the trailing part gets no reply. Idle
         * mid-message: a trickling sender, reaped all the same. */
        add_item(p, &cap, partial_item(&rng, lim->max_payload));
    }

    for (int i = 0; i < p->nitems; i++)
        p->bytes += item_size(lim->proto, &p->items[i]);
    if (p->end == END_RESET)
        p->reset_at = rand_next(&rng) % (p->bytes + 1);
}

void plan_free(struct plan *p)
{
    free(p->items);
    p->items = NULL;
    p->nitems = 0;
}

void plan_item_bytes(const struct plan_item *it, enum proto proto, struct bytes *out)
{
    uint64_t rng = it->seed;
    switch (it->kind) {
    case ITEM_MESSAGE:
        if (proto == PROTO_FRAMED)
            bytes_add_u32(out, it->len);
        rand_fill(&rng, bytes_extend(out, it->len), it->len);
        break;
    case ITEM_PARTIAL: {
        uint8_t h[4] = { (uint8_t)(it->len >> 24), (uint8_t)(it->len >> 16),
                         (uint8_t)(it->len >> 8), (uint8_t)it->len };
        bytes_add(out, h, it->tail < 4 ? it->tail : 4);
        if (it->tail > 4)
            rand_fill(&rng, bytes_extend(out, it->tail - 4), it->tail - 4);
        break;
    }
    case ITEM_OVERSIZE:
        bytes_add_u32(out, it->len);
        rand_fill(&rng, bytes_extend(out, it->tail), it->tail);
        break;
    case ITEM_GARBAGE:
        rand_fill(&rng, bytes_extend(out, it->len), it->len);
        break;
    }
}

static int pause_ms(struct plan *p)
{
    int r = percent(&p->cut_rng);
    if (r < 70)
        return 0;
    return (int)range(&p->cut_rng, 0, (uint32_t)(r < 95 ? p->max_pause_ms / 5 : p->max_pause_ms));
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int plan_cuts(struct plan *p, enum proto proto, uint64_t base, uint64_t len,
              struct cut *cuts)
{
    uint64_t at[PLAN_MAX_CUTS];
    int n = 0, r = percent(&p->cut_rng);

    if (len > 1 && r < 30) {                  /* a few cuts anywhere */
        int k = (int)range(&p->cut_rng, 1, 8);
        for (int i = 0; i < k; i++)
            at[n++] = 1 + rand_next(&p->cut_rng) % (len - 1);
        qsort(at, (size_t)n, sizeof(at[0]), cmp_u64);
        int u = 0;
        for (int i = 0; i < n; i++)
            if (u == 0 || at[i] != at[u - 1])
                at[u++] = at[i];
        n = u;
    } else if (r < 40 && proto == PROTO_FRAMED && len > 4) {
        for (int i = 1; i <= 4; i++)          /* the header byte by byte */
            at[n++] = (uint64_t)i;
    }
    if (percent(&p->cut_rng) < 35)            /* else it shares a write with the next */
        at[n++] = len;
    for (int i = 0; i < n; i++)
        cuts[i] = (struct cut){ base + at[i], pause_ms(p) };
    return n;
}

struct read_phase plan_next_read(struct plan *p)
{
    uint64_t *rng = &p->read_rng;
    int r = percent(rng);
    if (r < 55)
        return (struct read_phase){ READ_EAGER, (int)range(rng, 10, 300), 0, 0 };
    if (r < 80)
        return (struct read_phase){ READ_LAZY, (int)range(rng, 50, 500),
                                    (int)range(rng, 5, 100),
                                    (int)log_uniform(rng, 64, 65536) };
    return (struct read_phase){ READ_STOPPED, (int)range(rng, 10, (uint32_t)p->max_stop_ms),
                                0, 0 };
}

const char *plan_end_name(enum plan_end e)
{
    static const char *const names[] = { "close", "half-close", "reset", "idle" };
    return names[e];
}
