/* Check suite for engine/duration.c: parsing, interval text and formatting. */
#include <check.h>
#include <stdlib.h>

#include "duration.h"
#include "suite.h"

START_TEST(parses_each_unit)
{
    struct duration d;
    ck_assert(duration_parse("30s", &d) && d.seconds == 30 && d.months == 0);
    ck_assert(duration_parse("15m", &d) && d.seconds == 900);
    ck_assert(duration_parse("2h", &d) && d.seconds == 7200);
    ck_assert(duration_parse("180d", &d) && d.seconds == 180LL * 86400);
    ck_assert(duration_parse("1w", &d) && d.seconds == 7 * 86400);
    ck_assert(duration_parse("1mo", &d) && d.seconds == 0 && d.months == 1);
    ck_assert(duration_parse("0d", &d) && duration_is_zero(&d));
}
END_TEST

START_TEST(refuses_malformed)
{
    struct duration d;
    const char *bad[] = {"", "180", "d", "-1d", "+1d", "1.5d", "1 d", "1dd", "1y", "1M",
                         " 1d", "99999999999999999999d", "1mo1d", NULL};
    for (int i = 0; bad[i]; i++)
        ck_assert_msg(!duration_parse(bad[i], &d), "accepted \"%s\"", bad[i]);
}
END_TEST

START_TEST(interval_text)
{
    struct duration d;
    char buf[64];
    duration_parse("30d", &d);
    duration_to_interval(&d, buf, sizeof buf);
    ck_assert_str_eq(buf, "2592000 seconds");
    duration_parse("1mo", &d);
    duration_to_interval(&d, buf, sizeof buf);
    ck_assert_str_eq(buf, "1 months 0 seconds");
}
END_TEST

START_TEST(formats_largest_unit)
{
    struct duration d;
    char buf[64];
    const char *in[] = {"30d", "2w", "14d", "90m", "3600s", "7s", "1mo", "0s"};
    const char *out[] = {"30d", "2w", "2w", "90m", "1h", "7s", "1mo", "0d"};
    for (int i = 0; i < 8; i++) {
        ck_assert(duration_parse(in[i], &d));
        duration_format(&d, buf, sizeof buf);
        ck_assert_str_eq(buf, out[i]);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("duration");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, parses_each_unit);
    tcase_add_test(tc, refuses_malformed);
    tcase_add_test(tc, interval_text);
    tcase_add_test(tc, formats_largest_unit);
    return run_suite(s, tc);
}
