/* Durations as the config and command line write them: an integer and a unit (s m h d w mo).
 * Months are kept apart from seconds so that PostgreSQL does the calendar arithmetic. */
#ifndef LETHE_DURATION_H
#define LETHE_DURATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct duration {
    int64_t seconds; /* s, m, h, d (86,400 s) and w */
    int32_t months;  /* mo: a calendar month with end-of-month clamping */
};

/* Parses "30d", "1mo", "15m". Returns false on anything else (no unit, sign, junk, overflow). */
bool duration_parse(const char *text, struct duration *out);
/* As a PostgreSQL interval literal: "2592000 seconds" or "1 months". */
void duration_to_interval(const struct duration *d, char *buf, size_t len);
/* Back to the config form, with the largest exact unit: 2592000 s -> "30d". */
void duration_format(const struct duration *d, char *buf, size_t len);
bool duration_is_zero(const struct duration *d);

#endif
