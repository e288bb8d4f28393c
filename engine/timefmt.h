/* Times on the command line and in output. Input without an offset is UTC; output is always
 * UTC ISO 8601 with microseconds and 'Z' (SPEC §3). */
#ifndef LETHE_TIMEFMT_H
#define LETHE_TIMEFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TIME_TEXT_LEN 80 /* "2026-11-28T13:25:39.123456Z" and room for any int */

/* Microseconds since the Unix epoch. */
typedef int64_t lethe_time;

/* Accepts "2026-11-28", "2026-11-28T03:00", "2026-11-28 03:00:00.5", with an optional
 * "Z" or "+01:00". Rejects impossible dates (Feb 30) and anything trailing. */
bool time_parse(const char *text, lethe_time *out);
void time_format(lethe_time t, char buf[TIME_TEXT_LEN]);
lethe_time time_now(void);

#endif
