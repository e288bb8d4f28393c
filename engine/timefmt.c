/* Parsing and formatting of UTC times. Pure C, no locale, no TZ environment. */
#define _DEFAULT_SOURCE
#include "timefmt.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* The instants time_parse() accepts: from the epoch (the catalog holds nothing older) to the
 * end of year 9999, judged on the instant, not on the year as written with its offset. */
#define TIME_FIRST ((lethe_time)0)
#define TIME_END ((lethe_time)253402300800LL * 1000000) /* 10000-01-01T00:00:00Z */

bool time_parse(const char *s, lethe_time *out)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int Y, M, D, h = 0, m = 0, sec = 0;
    long frac = 0;
    if (!s || strlen(s) < 10 || !digits(s, 4, &Y) || s[4] != '-' || !digits(s + 5, 2, &M) ||
        s[7] != '-' || !digits(s + 8, 2, &D))
        return false;
    if (Y < 1969 || Y > 9999 || M < 1 || M > 12 || D < 1 ||
        D > mdays[M - 1] + (M == 2 && leap(Y)))
        return false;
    const char *p = s + 10;
    if (*p == 'T' || *p == ' ') {
        p++;
        if (!digits(p, 2, &h) || p[2] != ':' || !digits(p + 3, 2, &m))
            return false;
        p += 5;
        if (*p == ':') {
            if (!digits(p + 1, 2, &sec))
                return false;
            p += 3;
            if (*p == '.') {
                p++;
                int n = 0;
                while (isdigit((unsigned char)*p)) {
                    if (n == 6)
                        return false; /* finer than a microsecond: neither cut nor rounded */
                    frac = frac * 10 + (*p - '0');
                    n++;
                    p++;
                }
                if (n == 0)
                    return false;
                while (n++ < 6)
                    frac *= 10;
            }
        }
        if (h > 23 || m > 59 || sec > 59)
            return false;
    }
    long offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om = 0;
        int sign = *p == '-' ? -1 : 1;
        if (!digits(p + 1, 2, &oh))
            return false;
        p += 3;
        /* "+01", "+0100" or "+01:00"; a colon must be followed by the minutes. */
        if (*p == ':' || isdigit((unsigned char)*p)) {
            if (*p == ':')
                p++;
            if (!digits(p, 2, &om))
                return false;
            p += 2;
        }
        if (oh > 14 || om > 59)
            return false;
        offset = sign * (oh * 3600L + om * 60L);
    }
    if (*p)
        return false;
    struct tm tm = {0};
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    lethe_time at = ((lethe_time)t - offset) * 1000000 + frac;
    if (at < TIME_FIRST || at >= TIME_END)
        return false;
    *out = at;
    return true;
}

const char *time_parse_problem(const char *s)
{
    lethe_time t;
    if (!s || time_parse(s, &t) || strlen(s) >= TIME_TEXT_LEN)
        return NULL;
    char probe[TIME_TEXT_LEN];
    snprintf(probe, sizeof probe, "%s", s);
    /* Finer than a microsecond: the same text cut to 6 digits parses. */
    char *dot = strchr(probe, '.');
    size_t n = dot ? strspn(dot + 1, "0123456789") : 0;
    if (n > 6) {
        memmove(dot + 7, dot + 1 + n, strlen(dot + 1 + n) + 1);
        return time_parse(probe, &t)
                   ? "has more than 6 fractional digits: lethe keeps times to the microsecond"
                   : NULL;
    }
    /* A day the calendar does not have (2026-02-29, 2026-13-01) read as "malformed", as if the
     * form were wrong (an outside tryout). */
    int Y, M, D;
    if (!digits(probe, 4, &Y))
        return NULL;
    if (probe[4] == '-' && digits(probe + 5, 2, &M) && probe[7] == '-' &&
        digits(probe + 8, 2, &D)) {
        static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        static char why[64];
        if (M < 1 || M > 12)
            return "names no such month";
        int days = mdays[M - 1] + (M == 2 && leap(Y));
        if (D < 1 || D > days) {
            snprintf(why, sizeof why, "names no such day: %04d-%02d has %d days", Y, M, days);
            return why;
        }
    }
    /* Out of range: the same text in a year in range parses (one that is a leap year when
     * the written one is, so that an impossible February 29 stays impossible). */
    memcpy(probe, leap(Y) ? "2000" : "2001", 4);
    return time_parse(probe, &t)
               ? "lies outside 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z"
               : NULL;
}

void time_format(lethe_time t, char buf[TIME_TEXT_LEN])
{
    time_t secs = (time_t)(t / 1000000);
    long us = (long)(t % 1000000);
    if (us < 0) {
        us += 1000000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(buf, TIME_TEXT_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us);
}

lethe_time time_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (lethe_time)tv.tv_sec * 1000000 + tv.tv_usec;
}

void time_format_span(const char *seconds, char *buf, size_t cap)
{
    if (!seconds || !*seconds) {
        snprintf(buf, cap, "-");
        return;
    }
    double v = strtod(seconds, NULL);
    long long s = (long long)v;
    if ((double)s < v)
        s++;
    if (s < 0)
        s = 0;
    long long d = s / 86400;
    s %= 86400;
    if (d)
        snprintf(buf, cap, "%lldd %02lld:%02lld:%02lld", d, s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, cap, "%02lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
}
