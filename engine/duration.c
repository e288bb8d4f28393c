/* Duration parsing and formatting. Pure functions: no I/O, no allocation. */
#include "duration.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool duration_parse(const char *text, struct duration *out)
{
    if (!text || !isdigit((unsigned char)text[0]))
        return false;
    errno = 0;
    char *end;
    long long n = strtoll(text, &end, 10);
    if (errno || n < 0)
        return false;
    struct duration d = {0, 0};
    long long mult;
    if (strcmp(end, "mo") == 0) {
        if (n > 12000)
            return false;
        d.months = (int32_t)n;
        *out = d;
        return true;
    } else if (strcmp(end, "s") == 0) {
        mult = 1;
    } else if (strcmp(end, "m") == 0) {
        mult = 60;
    } else if (strcmp(end, "h") == 0) {
        mult = 3600;
    } else if (strcmp(end, "d") == 0) {
        mult = 86400;
    } else if (strcmp(end, "w") == 0) {
        mult = 7 * 86400;
    } else {
        return false;
    }
    /* Keep well inside what PostgreSQL intervals and timestamps can hold (about 1000 years). */
    if (n > 31557600000LL / mult)
        return false;
    d.seconds = n * mult;
    *out = d;
    return true;
}

void duration_to_interval(const struct duration *d, char *buf, size_t len)
{
    if (d->months)
        snprintf(buf, len, "%d months %lld seconds", (int)d->months, (long long)d->seconds);
    else
        snprintf(buf, len, "%lld seconds", (long long)d->seconds);
}

void duration_format(const struct duration *d, char *buf, size_t len)
{
    long long s = d->seconds;
    if (d->months && s == 0)
        snprintf(buf, len, "%dmo", (int)d->months);
    else if (d->months)
        snprintf(buf, len, "%dmo+%llds", (int)d->months, s);
    else if (s != 0 && s % (7 * 86400) == 0)
        snprintf(buf, len, "%lldw", s / (7 * 86400));
    else if (s % 86400 == 0)
        snprintf(buf, len, "%lldd", s / 86400);
    else if (s % 3600 == 0)
        snprintf(buf, len, "%lldh", s / 3600);
    else if (s % 60 == 0)
        snprintf(buf, len, "%lldm", s / 60);
    else
        snprintf(buf, len, "%llds", s);
}

bool duration_is_zero(const struct duration *d) { return d->seconds == 0 && d->months == 0; }
