/* Clocks and timestamp formatting. Monotonic time for intervals and
 * deadlines; wall time (UTC) for what users see (API timestamps). */
#ifndef EP_BASE_TIME_H
#define EP_BASE_TIME_H

#include <stddef.h>
#include <stdint.h>

uint64_t ep_mono_ns(void);    /* CLOCK_MONOTONIC, nanoseconds */
uint64_t ep_mono_ms(void);    /* CLOCK_MONOTONIC, milliseconds */
int64_t ep_wall_ms(void);     /* CLOCK_REALTIME, ms since the Unix epoch */

/* Formats ms since epoch as "2026-11-25T12:41:53.263Z" into out (>= 25 bytes). */
void ep_time_iso(int64_t wall_ms, char *out, size_t outsz);
/* Parses "YYYY-MM-DDTHH:MM:SS[.fff]Z"; returns EP_OK and sets *wall_ms. */
int ep_time_parse_iso(const char *s, int64_t *wall_ms);

#endif
