/* timestamp.h - the Timestamp class: time in milliseconds.
 *
 * Monotonic time measures intervals (idle time, timer deadlines); it never
 * jumps when the wall clock is set. Stateless; any thread.
 */
#ifndef TIMESTAMP_H
#define TIMESTAMP_H

#include <stdint.h>

/* Milliseconds on CLOCK_MONOTONIC (since some unspecified start). */
uint64_t timestamp_now_ms(void);

#endif
