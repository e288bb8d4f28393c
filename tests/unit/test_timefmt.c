/* Check suite for engine/timefmt.c: the input forms, offsets, the calendar (leap days, Feb 30),
 * trailing junk, and the one output form (UTC, microseconds, 'Z'). */
#include <check.h>
#include <stdlib.h>
#include <time.h>

#include "timefmt.h"
#include "suite.h"

#define US 1000000LL

/* Parses TEXT, which must be accepted, and returns the value. */
static lethe_time parsed(const char *text)
{
    lethe_time t = -42;
    ck_assert_msg(time_parse(text, &t), "refused \"%s\"", text);
    return t;
}

static const char *formatted(lethe_time t)
{
    static char buf[TIME_TEXT_LEN];
    time_format(t, buf);
    return buf;
}

START_TEST(parses_the_epoch_and_known_instants)
{
    ck_assert_int_eq(parsed("1970-01-01"), 0);
    ck_assert_int_eq(parsed("1970-01-01T00:00:00.000001Z"), 1);
    ck_assert_int_eq(parsed("2026-11-28"), 1795824000LL * US);
    ck_assert_int_eq(parsed("2000-03-01T00:00:00Z"), 951868800LL * US);
    ck_assert_int_eq(parsed("2026-11-28T13:25:39.123456Z"), 1795872339LL * US + 123456);
    ck_assert_int_eq(parsed("9999-12-31T23:59:59.999999Z"), 253402300799LL * US + 999999);
}
END_TEST

START_TEST(accepts_every_documented_form)
{
    /* All of these are 2026-11-28 03:00:00 UTC. */
    const char *same[] = {
        "2026-11-28T03:00",          "2026-11-28 03:00",           "2026-11-28T03:00:00",
        "2026-11-28 03:00:00",       "2026-11-28T03:00:00Z",       "2026-11-28T03:00Z",
        "2026-11-28T03:00:00z",      "2026-11-28T03:00:00.000000Z", "2026-11-28T03:00:00.0",
        "2026-11-28T04:00:00+01:00", "2026-11-28T04:00+0100",      "2026-11-28 04:00:00+01",
        "2026-11-27T22:30:00-04:30", "2026-11-28T03:00:00+00:00",  "2026-11-28T03:00:00-00",
        "2026-11-28T17:00:00+14:00", "2026-11-27T23:00:00-0400",
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        ck_assert_msg(parsed(same[i]) == 1795834800LL * US, "\"%s\" is not 03:00 UTC", same[i]);
}
END_TEST

START_TEST(offsets_apply_to_the_date_too)
{
    /* Without a time the date is midnight in the given offset. */
    ck_assert_int_eq(parsed("2026-11-28+01:00"), (1795824000LL - 3600) * US);
    ck_assert_int_eq(parsed("2026-11-28Z"), 1795824000LL * US);
    /* An offset can carry the instant back across a day, a year and the epoch. */
    ck_assert_str_eq(formatted(parsed("2027-01-01T00:30:00+01:00")), "2026-12-31T23:30:00.000000Z");
    /* the range is the instant's: 1970-01-01T00:00Z on */
    ck_assert_str_eq(formatted(parsed("1969-12-31T23:00:00-01:00")), "1970-01-01T00:00:00.000000Z");
    lethe_time t = 7;
    ck_assert(!time_parse("1970-01-01T00:00:00+01:00", &t)); /* 1969-12-31T23:00Z */
    ck_assert(!time_parse("1969-12-31T23:59:59.999999Z", &t));
    ck_assert_int_eq(t, 7);
    ck_assert_str_eq(time_parse_problem("1970-01-01T00:00:00+00:01"),
                     "lies outside 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z");
    ck_assert_str_eq(time_parse_problem("1969-12-31T23:59:59.999999Z"),
                     "lies outside 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z");
    ck_assert_ptr_null(time_parse_problem("1970-01-01T00:00:00Z"));
    /* a day or month the calendar does not have is named as such, not as a malformed time */
    ck_assert_str_eq(time_parse_problem("2026-02-30"), "names no such day: 2026-02 has 28 days");
    ck_assert_str_eq(time_parse_problem("2023-02-29"), "names no such day: 2023-02 has 28 days");
    ck_assert_str_eq(time_parse_problem("2026-04-31T00:00:00Z"),
                     "names no such day: 2026-04 has 30 days");
    ck_assert_str_eq(time_parse_problem("2026-13-01T00:00:00Z"), "names no such month");
    ck_assert_str_eq(time_parse_problem("2026-01-00"), "names no such day: 2026-01 has 31 days");
    ck_assert_ptr_null(time_parse_problem("2026-02-28T25:00:00Z")); /* malformed: no more */
    ck_assert_str_eq(time_parse_problem("1968-02-29"),
                     "lies outside 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z");
}
END_TEST

START_TEST(fractions_are_microseconds)
{
    ck_assert_int_eq(parsed("1970-01-01T00:00:00.5Z"), 500000);
    ck_assert_int_eq(parsed("1970-01-01T00:00:00.05Z"), 50000);
    ck_assert_int_eq(parsed("1970-01-01T00:00:00.000123Z"), 123);
    ck_assert_int_eq(parsed("1970-01-01T00:00:01.999999+00:00"), 1999999);
    /* finer than a microsecond is refused, neither cut (lethe did) nor rounded (PostgreSQL
     * does): ".9999999" on a month's last second lands on one side of the month or the other */
    lethe_time t;
    ck_assert(!time_parse("2026-01-31T23:59:59.9999999Z", &t));
    ck_assert_str_eq(time_parse_problem("2026-01-31T23:59:59.9999999Z"),
                     "has more than 6 fractional digits: lethe keeps times to the microsecond");
    /* ... only when that is all that is wrong */
    ck_assert_ptr_null(time_parse_problem("garbage.1234567"));
    ck_assert_ptr_null(time_parse_problem("2026-11-01T00:00:00.1234567+01:00x"));
}
END_TEST

START_TEST(reads_postgresql_output)
{
    /* What psql prints for a timestamptz in UTC. */
    ck_assert_int_eq(parsed("2026-11-28 13:25:39.123456+00"), 1795872339LL * US + 123456);
    ck_assert_int_eq(parsed("2026-11-28 13:25:39+00"), 1795872339LL * US);
}
END_TEST

START_TEST(leap_days)
{
    ck_assert_str_eq(formatted(parsed("2024-02-29T12:34:56Z")), "2024-02-29T12:34:56.000000Z");
    ck_assert_int_eq(parsed("2024-02-29T12:34:56Z"), 1709210096LL * US);
    ck_assert_str_eq(formatted(parsed("2000-02-29")), "2000-02-29T00:00:00.000000Z"); /* 400 years */
    lethe_time t;
    ck_assert(!time_parse("2023-02-29", &t));
    ck_assert(!time_parse("2100-02-29", &t)); /* a century that is not a leap year */
    ck_assert(!time_parse("2024-02-30", &t));
    ck_assert(parsed("2024-03-01") - parsed("2024-02-28") == 2 * 86400 * US);
    ck_assert(parsed("2023-03-01") - parsed("2023-02-28") == 86400 * US);
}
END_TEST

START_TEST(refuses_impossible_dates_and_times)
{
    const char *bad[] = {
        "2026-02-30", "2026-02-31", "2026-04-31", "2026-06-31", "2026-09-31", "2026-11-31",
        "2026-13-01", "2026-00-10", "2026-01-00", "2026-01-32", "1969-12-31", "0000-01-01", "1968-12-31",
        "2026-11-28T24:00", "2026-11-28T23:60", "2026-11-28T23:59:60", "2026-11-28T03:00+15:00",
        "2026-11-28T03:00+01:60",
    };
    lethe_time t = 7;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!time_parse(bad[i], &t), "accepted \"%s\"", bad[i]);
    ck_assert_int_eq(t, 7); /* a refusal leaves the output alone */
}
END_TEST

START_TEST(refuses_malformed_and_trailing_junk)
{
    const char *bad[] = {
        "", "2026", "2026-11", "2026-11-2", "26-11-28", "2026/11/28", "2026-1-28", "2026-11-28x",
        " 2026-11-28", "2026-11-28 ", "2026-11-28T", "2026-11-28T3:00", "2026-11-28T03",
        "2026-11-28T03:", "2026-11-28T03:0", "2026-11-28T03:00:", "2026-11-28T03:00:0",
        "2026-11-28T03:00:00.", "2026-11-28T03:00:00.5.5", "2026-11-28T03:00:00ZZ",
        "2026-11-28T03:00:00Z ", "2026-11-28T03:00:00 Z", "2026-11-28T03:00:00+1",
        "2026-11-28T03:00:00+01:", "2026-11-28T03:00:00+01:0", "2026-11-28T03:00:00+01:00:00",
        "2026-11-28T03:00:00+01:00x", "2026-11-28T03:00:00UTC", "2026-11-28t03:00",
        "2026-11-28T03:00:00,5", "now", "2026-11-28\n",
    };
    lethe_time t;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!time_parse(bad[i], &t), "accepted \"%s\"", bad[i]);
    ck_assert(!time_parse(NULL, &t));
}
END_TEST

START_TEST(formats_utc_with_microseconds_and_z)
{
    ck_assert_str_eq(formatted(0), "1970-01-01T00:00:00.000000Z");
    ck_assert_str_eq(formatted(1), "1970-01-01T00:00:00.000001Z");
    ck_assert_str_eq(formatted(999999), "1970-01-01T00:00:00.999999Z");
    ck_assert_str_eq(formatted(-1), "1969-12-31T23:59:59.999999Z");
    ck_assert_str_eq(formatted(-US), "1969-12-31T23:59:59.000000Z");
    ck_assert_str_eq(formatted(1795872339LL * US + 123456), "2026-11-28T13:25:39.123456Z");
    ck_assert_str_eq(formatted(253402300799LL * US + 999999), "9999-12-31T23:59:59.999999Z");
}
END_TEST

START_TEST(round_trips)
{
    /* Input starts at 1970, so the values do too. */
    const lethe_time values[] = {
        0, 1, 999999, 1000000, 951868800LL * US, 1709210096LL * US + 7,
        1795872339LL * US + 123456, 253402300799LL * US + 999999,
    };
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        lethe_time back;
        ck_assert(time_parse(formatted(values[i]), &back));
        ck_assert_msg(back == values[i], "%lld came back as %lld", (long long)values[i],
                      (long long)back);
    }
    /* Text in any accepted form comes back in the one output form. */
    ck_assert_str_eq(formatted(parsed("2026-11-28 04:00:00.25+01")), "2026-11-28T03:00:00.250000Z");
    ck_assert_str_eq(formatted(parsed("2026-11-28T03:00:00.250000Z")), "2026-11-28T03:00:00.250000Z");
}
END_TEST

/* The clock time_now() reads (gettimeofday), to the microsecond. time(NULL) is no bound: glibc
 * reads the coarse clock, a tick behind, and the check failed once in a fresh clone. */
static lethe_time realtime_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (lethe_time)ts.tv_sec * US + ts.tv_nsec / 1000;
}

START_TEST(now_is_the_clock)
{
    lethe_time before = realtime_us();
    lethe_time now = time_now();
    lethe_time after = realtime_us();
    ck_assert_int_ge(now, before);
    ck_assert_int_le(now, after);
    lethe_time back;
    ck_assert(time_parse(formatted(now), &back));
    ck_assert_int_eq(back, now);
}
END_TEST

START_TEST(formats_spans_rounded_up)
{
    char buf[48];
    time_format_span("0", buf, sizeof buf);
    ck_assert_str_eq(buf, "00:00:00");
    time_format_span("0.000001", buf, sizeof buf);
    ck_assert_str_eq(buf, "00:00:01");
    time_format_span("3723", buf, sizeof buf);
    ck_assert_str_eq(buf, "01:02:03");
    time_format_span("187200.5", buf, sizeof buf);
    ck_assert_str_eq(buf, "2d 04:00:01");
    time_format_span("-5", buf, sizeof buf);
    ck_assert_str_eq(buf, "00:00:00");
    time_format_span(NULL, buf, sizeof buf);
    ck_assert_str_eq(buf, "-");
    time_format_span("", buf, sizeof buf);
    ck_assert_str_eq(buf, "-");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("timefmt");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, parses_the_epoch_and_known_instants);
    tcase_add_test(tc, accepts_every_documented_form);
    tcase_add_test(tc, offsets_apply_to_the_date_too);
    tcase_add_test(tc, fractions_are_microseconds);
    tcase_add_test(tc, reads_postgresql_output);
    tcase_add_test(tc, leap_days);
    tcase_add_test(tc, refuses_impossible_dates_and_times);
    tcase_add_test(tc, refuses_malformed_and_trailing_junk);
    tcase_add_test(tc, formats_utc_with_microseconds_and_z);
    tcase_add_test(tc, round_trips);
    tcase_add_test(tc, now_is_the_clock);
    tcase_add_test(tc, formats_spans_rounded_up);
    return run_suite(s, tc);
}
