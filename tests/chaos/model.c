/* model.c - see model.h. A reply's bytes go into want as its request's
 * bytes are sent: the reply header and "reply:" when the request's header
 * is complete, each payload byte as it is sent. They only become owed when
 * the request is complete, so a half-close in mid-message owes nothing
 * for it, and no byte is copied twice.
 */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMPACT_AT (1u << 20)         /* received bytes dropped from want */

void model_init(struct model *m, enum proto proto, uint32_t max_payload)
{
    memset(m, 0, sizeof(*m));
    m->proto = proto;
    m->max_payload = max_payload;
}

void model_free(struct model *m)
{
    bytes_free(&m->want);
    free(m->ends);
    m->ends = NULL;
}

static void push_end(struct model *m, uint64_t end)
{
    if (m->ends_head > 0 && m->ends_head + m->nends == m->ends_cap) {
        memmove(m->ends, m->ends + m->ends_head, m->nends * sizeof(*m->ends));
        m->ends_head = 0;
    }
    if (m->nends == m->ends_cap) {
        m->ends_cap = m->ends_cap ? m->ends_cap * 2 : 64;
        m->ends = realloc(m->ends, m->ends_cap * sizeof(*m->ends));
        if (m->ends == NULL)
            abort();
    }
    m->ends[m->ends_head + m->nends++] = end;
}

/* The current request is complete: its reply is owed. */
static void complete(struct model *m)
{
    m->owed = m->base + m->want.len;
    m->requests++;
    push_end(m, m->owed);
    m->have = 0;
}

/* The request's header is complete: reject it, or start its reply. */
static void header_done(struct model *m)
{
    m->len = (uint32_t)m->header[0] << 24 | (uint32_t)m->header[1] << 16 |
             (uint32_t)m->header[2] << 8 | m->header[3];
    if (m->len > m->max_payload) {
        m->rejected = true;
        m->rejected_len = m->len;
        return;
    }
    bytes_add_u32(&m->want, m->len + 6);
    bytes_add(&m->want, "reply:", 6);
    m->filled = 0;
    if (m->len == 0)
        complete(m);
}

void model_sent(struct model *m, const uint8_t *p, size_t n)
{
    if (m->proto == PROTO_RAW) {
        bytes_add(&m->want, p, n);
        m->owed += n;
        return;
    }
    while (n > 0 && !m->rejected) {
        if (m->have < 4) {
            m->header[m->have++] = *p++;
            n--;
            if (m->have == 4)
                header_done(m);
            continue;
        }
        size_t take = m->len - m->filled < n ? m->len - m->filled : n;
        bytes_add(&m->want, p, take);
        m->filled += (uint32_t)take;
        p += take;
        n -= take;
        if (m->filled == m->len)
            complete(m);
    }
}

/* Counts the replies that end at or before offset `upto` as received. */
static void count_replies(struct model *m, uint64_t upto)
{
    while (m->nends > 0 && m->ends[m->ends_head] <= upto) {
        m->reply_start = m->ends[m->ends_head++];
        m->nends--;
        m->replies++;
    }
}

const char *model_progress(const struct model *m, char *buf, size_t n)
{
    if (m->proto == PROTO_RAW)
        snprintf(buf, n, "%llu of %llu bytes", (unsigned long long)m->got,
                 (unsigned long long)m->owed);
    else
        snprintf(buf, n, "%llu of %llu replies (%llu of %llu bytes)",
                 (unsigned long long)m->replies, (unsigned long long)m->requests,
                 (unsigned long long)m->got, (unsigned long long)m->owed);
    return buf;
}

int model_received(struct model *m, const uint8_t *p, size_t n, char *err, size_t errlen)
{
    uint64_t avail = m->owed - m->got;
    size_t cmp = n < avail ? n : (size_t)avail;
    const uint8_t *w = m->want.p + (m->got - m->base);
    char where[120];

    if (memcmp(w, p, cmp) != 0) {
        size_t i = 0;
        while (w[i] == p[i])
            i++;
        uint64_t at = m->got + i;
        count_replies(m, at);
        if (m->proto == PROTO_RAW)
            snprintf(where, sizeof(where), "byte %llu of %llu", (unsigned long long)at,
                     (unsigned long long)m->owed);
        else
            snprintf(where, sizeof(where), "reply %llu of %llu, its byte %llu",
                     (unsigned long long)m->replies + 1, (unsigned long long)m->requests,
                     (unsigned long long)(at - m->reply_start));
        snprintf(err, errlen, "%s differs: got 0x%02x, want 0x%02x", where, p[i], w[i]);
        return -1;
    }
    m->got += cmp;
    count_replies(m, m->got);
    if (n > cmp) {
        snprintf(err, errlen, "%zu bytes more than owed, after %s", n - cmp,
                 model_progress(m, where, sizeof(where)));
        return -1;
    }
    if (bytes_compact(&m->want, (size_t)(m->got - m->base), COMPACT_AT))
        m->base = m->got;
    return 0;
}
