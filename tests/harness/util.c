/* util.c - clocks, PRNG, byte buffers and file reads for the harness. */
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ms_left(int64_t deadline)
{
    int64_t left = deadline - now_ms();
    return left < 0 ? 0 : (int)left;
}

uint64_t rand_next(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dull;
}

uint32_t rand_below(uint64_t *state, uint32_t n)
{
    return (uint32_t)((rand_next(state) >> 32) % n);
}

void rand_fill(uint64_t *state, void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n >= 8) {
        uint64_t v = rand_next(state);
        memcpy(p, &v, 8);
        p += 8;
        n -= 8;
    }
    if (n > 0) {
        uint64_t v = rand_next(state);
        memcpy(p, &v, n);
    }
}

static void bytes_reserve(struct bytes *b, size_t n)
{
    if (b->len + n <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
        cap *= 2;
    b->p = realloc(b->p, cap);
    if (b->p == NULL) {
        perror("harness: realloc");
        abort();
    }
    b->cap = cap;
}

void bytes_add(struct bytes *b, const void *p, size_t n)
{
    bytes_reserve(b, n);
    if (n > 0)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

void *bytes_extend(struct bytes *b, size_t n)
{
    bytes_reserve(b, n);
    b->len += n;
    return b->p + b->len - n;
}

bool bytes_compact(struct bytes *b, size_t consumed, size_t min)
{
    if (consumed < min || consumed < b->len / 2)
        return false;
    memmove(b->p, b->p + consumed, b->len - consumed);
    b->len -= consumed;
    return true;
}

void bytes_add_u32(struct bytes *b, uint32_t v)
{
    uint8_t h[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
                     (uint8_t)(v >> 8), (uint8_t)v };
    bytes_add(b, h, 4);
}

void bytes_free(struct bytes *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    struct bytes b = { 0 };
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        bytes_add(&b, chunk, n);
    fclose(f);
    bytes_add(&b, "", 1);
    if (len)
        *len = b.len - 1;
    return (char *)b.p;
}

int count_lines(const char *s)
{
    int n = 0;
    for (const char *p = s; *p; p++)
        if (*p == '\n')
            n++;
    size_t len = strlen(s);
    if (len > 0 && s[len - 1] != '\n')
        n++;
    return n;
}

void first_line(const char *s, char *out, size_t n)
{
    size_t i = 0;
    while (s && s[i] && s[i] != '\n' && i + 1 < n) {
        out[i] = s[i];
        i++;
    }
    out[i] = '\0';
}

const char *status_str(int status, char *buf, size_t n)
{
    if (WIFEXITED(status))
        snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, n, "wait status 0x%x", status);
    return buf;
}
