/* util.h - small helpers of the stage harness: clocks, a seeded PRNG,
 * a growable byte buffer and whole-file reads.
 */
#ifndef UTIL_H
#define UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Milliseconds on the monotonic clock. */
int64_t now_ms(void);

/* Milliseconds left until an absolute deadline from now_ms(), at least 0. */
int ms_left(int64_t deadline);

/* xorshift64*: a small PRNG whose stream is fixed by its seed. */
uint64_t rand_next(uint64_t *state);
uint32_t rand_below(uint64_t *state, uint32_t n);     /* 0 .. n-1 */
void rand_fill(uint64_t *state, void *buf, size_t n);

/* A growable byte array. Zero-initialise before use. */
struct bytes {
    uint8_t *p;
    size_t len;
    size_t cap;
};

void bytes_add(struct bytes *b, const void *p, size_t n);
void bytes_add_u32(struct bytes *b, uint32_t v);     /* big-endian */

/* Grows b by n bytes and returns them, uninitialised, for the caller to
 * fill in place. */
void *bytes_extend(struct bytes *b, size_t n);

/* b used as a queue whose first `consumed` bytes are done with: drops them
 * (moving the rest to the front) once they are at least `min` bytes and
 * half of b, so that the copying stays linear. true if it did; the caller
 * then moves its offset of b's first byte on by `consumed`. */
bool bytes_compact(struct bytes *b, size_t consumed, size_t min);
void bytes_free(struct bytes *b);

/* Reads a whole file into a NUL-terminated malloc'd string (NULL if absent);
 * *len gets its length when len is not NULL. */
char *slurp(const char *path, size_t *len);

/* Number of '\n'-terminated lines in s (a last unterminated line counts). */
int count_lines(const char *s);

/* Copies the first line of s into out (at most n-1 bytes). */
void first_line(const char *s, char *out, size_t n);

/* Describes a wait() status: "exited with status 2", "killed by signal 11 (...)". */
const char *status_str(int status, char *buf, size_t n);

#endif
