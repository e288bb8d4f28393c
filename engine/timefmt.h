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
/* Why time_parse() refuses TEXT when it is well formed (more than 6 fractional digits, an
 * instant out of range), in words for an error message; NULL otherwise. */
const char *time_parse_problem(const char *text);
void time_format(lethe_time t, char buf[TIME_TEXT_LEN]);
lethe_time time_now(void);
/* A span of SECONDS (decimal text, as PostgreSQL's extract(epoch ...) gives it) as
 * "3d 04:05:06" or "04:05:06", rounded up: an item late by a fraction of a second is late.
 * NULL or "" gives "-". */
void time_format_span(const char *seconds, char *buf, size_t cap);

#endif
